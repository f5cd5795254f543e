"""``config check`` refuses what ``respond`` refuses (an ``http://`` webhook, a URL that does not
parse) without quoting the secret URL, and says what each sink's answers mean."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from functions.cli import EXIT_BAD_INPUT, EXIT_OK, main
from shared.notify.config import parse_config
from shared.sinks import REFUSAL, build_destinations
from shared.sinks.base import BrokenDestination

SECRET = "T0000/B0000/XXXXsecretXXXX"


def _check(tmp_path: Path, sinks: dict[str, Any]) -> tuple[int, str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"sinks": sinks}, indent=2))
    out = io.StringIO()
    return main(["config", "check", str(path), "--events", str(tmp_path / "none.json")], out), out.getvalue()


@pytest.fixture(autouse=True)
def _no_events(tmp_path: Path) -> None:
    (tmp_path / "none.json").write_text("[]")


@pytest.mark.parametrize(("url", "reason"), [
    (f"http://hooks.slack.com/services/{SECRET}", "webhook_url must be an https URL"),
    (f"https://hooks.slack.com:44x3/services/{SECRET}", "webhook_url is not a valid URL"),
    (f"https://hooks.slack.com/services/{SECRET} trailing", "webhook_url is not a valid URL"),
])
def test_config_check_refuses_the_webhooks_respond_refuses(url: str, reason: str, tmp_path: Path) -> None:
    sinks = {"slack": {"type": "slack", "webhook_url": url}}
    status, out = _check(tmp_path, sinks)
    assert status == EXIT_BAD_INPUT
    # the file and the line of the offending key (line 5 of the indented JSON), never the URL
    assert f"invalid: {tmp_path / 'config.json'}:5: sink slack: {reason}" in out
    assert SECRET not in out
    [destination] = build_destinations(parse_config({"sinks": sinks})).values()  # what respond builds
    assert isinstance(destination, BrokenDestination) and destination.reason.startswith(reason)


def test_config_check_accepts_https_and_this_machine(tmp_path: Path) -> None:
    status, out = _check(tmp_path, {"slack": {"type": "slack", "webhook_url": f"https://hooks.slack.com/services/{SECRET}"},
                                    "local": {"type": "teams", "webhook_url": "http://127.0.0.1:7071/hook"},
                                    "ref": {"type": "teams", "webhook_url": "env:TEAMS_URL"}})
    assert status == EXIT_OK, out


def test_config_check_says_what_each_sinks_answers_mean(tmp_path: Path) -> None:
    status, out = _check(tmp_path, {
        "hook": {"type": "slack", "webhook_url": f"https://hooks.slack.com/services/{SECRET}"},
        "bot": {"type": "slack", "token": "env:SLACK_TOKEN", "channel": "C0TEST"},
        "teams": {"type": "teams", "webhook_url": "https://example.invalid/workflows/x"},
        "jira": {"type": "jira", "url": "https://example.atlassian.net", "project": "OPS",
                 "email": "ops@example.com", "api_token": "env:JIRA_TOKEN"},
    })
    assert status == EXIT_OK, out
    assert "what counts as delivered:" in out
    assert "  hook: delivered on HTTP 200 with the body ok" in out
    assert '  bot: delivered on HTTP 200 with {"ok": true}' in out
    assert "  teams: delivered on HTTP 202 Accepted (or 200) whose body reports no error" in out
    assert "  jira: delivered on a 2xx that carries the ticket's id" in out
    assert REFUSAL in out and "channel_not_found" in REFUSAL and "503 with Retry-After" in REFUSAL


# ---------------------------------------------------------------------------- cause patterns, lines, --strict
SINKS = "version: 1\nsinks:\n  ops:\n    type: slack\n    webhook_url: env:SLACK_WEBHOOK_URL\n"
SILENCE = "  - reason: planned migration\n    expires: 2099-01-01T00:00:00Z\n    match:\n      cause: {cause}\n"


def _check_yaml(tmp_path: Path, text: str, *options: str) -> tuple[int, str, Path]:
    path = tmp_path / "responder.yaml"
    path.write_text(text)
    out = io.StringIO()
    status = main(["config", "check", str(path), "--events", str(tmp_path / "none.json"), *options], out)
    return status, out.getvalue(), path


def _routes(cause: str) -> str:
    return SINKS + f"routes:\n  - name: kms\n    match:\n      cause: {cause}\n    sinks: ops\ndefault: ops\n"


def test_a_route_whose_cause_pattern_matches_no_cause_is_refused_with_the_nearest(tmp_path: Path) -> None:
    status, out, path = _check_yaml(tmp_path, _routes("aws.kms.key-acess"))
    assert status == EXIT_BAD_INPUT
    assert f"invalid: {path}:9: route 'kms': match.cause 'aws.kms.key-acess' matches no cause" in out
    assert "did you mean 'aws.kms.key-access'" in out


def test_a_silence_whose_cause_pattern_matches_nothing_is_refused(tmp_path: Path) -> None:
    status, out, path = _check_yaml(tmp_path, SINKS + "default: ops\nsilences:\n" + SILENCE.format(cause="aws.kmss.*"))
    assert status == EXIT_BAD_INPUT
    assert f"invalid: {path}:11: silence 'planned migration': match.cause 'aws.kmss.*' matches no cause" in out
    assert "did you mean 'aws.kms." in out


@pytest.mark.parametrize("cause", ["aws.kms.*", "AWS.KMS.KEY-ACCESS", "aws.kms.key-acces?", "unclassified",
                                   "[aws.iam.pass-role, 'azure.*']"])
def test_cause_patterns_that_match_a_cause_are_accepted(cause: str, tmp_path: Path) -> None:
    status, out, _ = _check_yaml(tmp_path, _routes(cause))
    assert status == EXIT_OK, out


def test_a_list_names_the_pattern_that_matches_nothing(tmp_path: Path) -> None:
    status, out, _ = _check_yaml(tmp_path, _routes("[aws.kms.*, azure.nothing.here]"))
    assert status == EXIT_BAD_INPUT
    assert "'azure.nothing.here' matches no cause" in out and "'aws.kms.*'" not in out


def test_a_schema_error_names_the_file_and_the_line_of_the_key(tmp_path: Path) -> None:
    text = SINKS + "routes:\n  - name: kms\n    match:\n      cuase: aws.kms.*\n    sinks: ops\ndefault: ops\n"
    status, out, path = _check_yaml(tmp_path, text)
    assert status == EXIT_BAD_INPUT
    assert f"invalid: {path}:9: routes.0.match.cuase: Extra inputs are not permitted" in out


def test_a_webhook_error_in_yaml_names_the_line_without_the_url(tmp_path: Path) -> None:
    text = SINKS.replace("env:SLACK_WEBHOOK_URL", f"http://hooks.slack.com/services/{SECRET}") + "default: ops\n"
    status, out, path = _check_yaml(tmp_path, text)
    assert status == EXIT_BAD_INPUT
    assert out == f"invalid: {path}:5: sink ops: webhook_url must be an https URL\n"


def test_strict_refuses_a_key_given_twice_that_yaml_would_silently_drop(tmp_path: Path) -> None:
    text = SINKS + "default: ops\ndedup:\n  window: 1h\n  window: 0\n"
    status, out, _ = _check_yaml(tmp_path, text)
    assert status == EXIT_OK, out  # plain YAML: the last one wins
    status, out, path = _check_yaml(tmp_path, text, "--strict")
    assert status == EXIT_BAD_INPUT
    assert f"invalid: {path}:9: key 'window' is given twice in the same mapping" in out


def test_strict_keeps_free_form_ticket_fields_free(tmp_path: Path) -> None:
    text = ("version: 1\nsinks:\n  tickets:\n    type: jira\n    url: https://example.atlassian.net\n"
            "    project: OPS\n    email: ops@example.com\n    api_token: env:JIRA_TOKEN\n"
            "    fields:\n      customfield_10010: {id: '42'}\n      labels: [backup]\ndefault: tickets\n")
    status, out, _ = _check_yaml(tmp_path, text, "--strict")
    assert status == EXIT_OK, out


def test_every_example_passes_strict(tmp_path: Path) -> None:
    examples = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
    assert examples
    for example in examples:
        out = io.StringIO()
        assert main(["config", "check", "--strict", str(example), "--events", str(tmp_path / "none.json")], out) \
            == EXIT_OK, out.getvalue()


def test_every_configuration_model_refuses_unknown_keys() -> None:
    """``--strict`` and plain checks agree only while no model of the file ignores or keeps extra
    keys; a model that does is found by ``unknown_keys`` (next test) and must be listed here."""
    import typing

    from pydantic import BaseModel

    from shared.notify.config import ResponderConfig
    from shared.sinks import SINK_TYPES

    seen: dict[str, object] = {}

    def walk(annotation: object) -> None:
        for argument in typing.get_args(annotation):
            walk(argument)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation.__name__ not in seen:
            seen[annotation.__name__] = annotation.model_config.get("extra")
            for info in annotation.model_fields.values():
                walk(info.annotation)

    walk(ResponderConfig)
    for sink_type in SINK_TYPES.values():  # each sink's model, which its ``type`` selects
        walk(sink_type.config())
    assert {"ResponderConfig", "SlackSink", "JiraSink", "Route", "Match", "RemediationConfig"} <= set(seen)
    assert {name for name, extra in seen.items() if extra != "forbid"} == set()


def test_unknown_keys_finds_what_a_lenient_model_drops_at_any_depth() -> None:
    from pydantic import BaseModel, ConfigDict

    from shared.config_checks import unknown_keys

    class Inner(BaseModel):
        model_config = ConfigDict(extra="ignore")
        name: str
        fields: dict[str, Any] = {}

    class Outer(BaseModel):
        model_config = ConfigDict(extra="allow")
        items: list[Inner] = []
        by_name: dict[str, Inner] = {}

    raw = {"items": [{"name": "a", "typo": 1, "fields": {"free": 1}}], "by_name": {"x": {"name": "b", "nmae": 2}},
           "stray": True}
    found = {(p.loc, p.message) for p in unknown_keys(Outer.model_validate(raw), raw)}
    assert found == {(("stray",), "unknown key 'stray'"), (("items", 0, "typo"), "unknown key 'typo'"),
                     (("by_name", "x", "nmae"), "unknown key 'nmae'")}


def test_config_check_json_says_valid_or_lists_the_problems(tmp_path: Path) -> None:
    status, out, _ = _check_yaml(tmp_path, SINKS + "default: ops\n", "--format", "json")
    assert status == EXIT_OK
    report = json.loads(out)
    assert report["valid"] is True and report["problems"] == [] and report["summary"]
    status, out, path = _check_yaml(tmp_path, _routes("aws.nope"), "--format", "json")
    assert status == EXIT_BAD_INPUT
    report = json.loads(out)
    assert report["valid"] is False and report["file"] == str(path)
    assert report["problems"] == [f"{path}:9: route 'kms': match.cause 'aws.nope' matches no cause in the catalog"
                                  + report["problems"][0].split("in the catalog", 1)[1]]
