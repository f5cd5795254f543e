"""The configuration file: validation, first-match routing, silences, quiet hours, secrets by
reference, the simple settings, ``config check`` and every example under examples/."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from functions.cli import main
from shared.notify.config import config_from_settings, load_config, parse_config
from shared.notify.router import Router
from shared.notify.secrets import EnvResolver, resolve_secret
from shared.notify.types import ConfigError
from shared.settings import Settings
from shared.sinks import build_destinations
from shared.sinks.base import BrokenDestination
from shared.sinks.slack.transport import SlackWebhook
from tests.conftest import load_event
from tests.delivery.conftest import failure_event, outcome_of

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

SINKS: dict[str, Any] = {
    "oncall": {"type": "slack", "webhook_url": "env:ONCALL_HOOK"},
    "platform": {"type": "teams", "webhook_url": "https://example.invalid/hook"},
    "pd": {"type": "pagerduty", "routing_key": "env:PD_KEY"},
    "jira": {"type": "jira", "url": "https://acme.atlassian.net", "project": "OPS", "email": "a@b.c",
             "api_token": "env:JIRA_TOKEN"},
}


def config(**extra: Any) -> Any:
    return parse_config({"sinks": SINKS, **extra})


def kms_failure(**kw: Any) -> Any:
    return outcome_of(failure_event(1, **kw))


def azure_failure() -> Any:
    return outcome_of(load_event("azure/seed000-pgsql-backup-usererrormsimissingpermissions.json"))


ROUTES = [
    {"name": "prod-kms", "match": {"cloud": "aws", "account": "1111*", "cause": "aws.kms.*", "severity": ["high", "critical"],
                                   "job_type": "copy", "region": "us-*"}, "sinks": ["oncall", "pd"]},
    {"name": "azure", "match": {"cloud": "azure"}, "sinks": ["platform", "jira"]},
    {"name": "rest", "sinks": "platform"},
]


def test_first_match_wins_and_catch_all() -> None:
    router = Router(config(routes=ROUTES))
    assert router.route(kms_failure()).sinks == ["oncall", "pd"]
    assert router.route(kms_failure()).route == "prod-kms"
    assert router.route(azure_failure()).route == "azure"
    assert router.route(kms_failure(account="999988887777")).route == "rest"


def test_tags_match_enriched_facts() -> None:
    routes = [{"name": "prod", "match": {"tags": {"env": "prod*"}}, "sinks": ["pd"]}, {"name": "rest", "sinks": ["jira"]}]
    router = Router(config(routes=routes))
    outcome = kms_failure()
    assert router.route(outcome).route == "rest"
    tagged = outcome.model_copy(update={"failure": outcome.failure.model_copy(update={"facts": {
        **outcome.failure.facts, "tag:env": "production"}})})
    assert router.route(tagged).route == "prod"


def test_without_routes_everything_goes_everywhere() -> None:
    assert Router(config()).route(kms_failure()).sinks == list(SINKS)


@pytest.mark.parametrize(("change", "message"), [
    ({"routes": [{"name": "a", "match": {"cloud": "aws"}, "sinks": ["nope"]}]}, "unknown sink 'nope'"),
    ({"routes": [{"name": "a", "match": {"cloud": "aws"}, "sinks": ["pd"]}]}, "catch-all"),
    ({"routes": [{"name": "a", "sinks": ["pd"]}, {"name": "b", "sinks": ["pd"]}]}, "could never match"),
    ({"routes": [{"name": "a", "match": {"severity": "urgent"}, "sinks": ["pd"]}], "default": ["pd"]}, "severity"),
    ({"routes": [{"name": "a", "match": {"cloud": "gcp"}, "sinks": ["pd"]}], "default": ["pd"]},
     r"unknown cloud 'gcp' \(aws, azure\)"),
    ({"routes": [{"name": "a", "match": {"colud": "aws"}, "sinks": ["pd"]}], "default": ["pd"]}, "colud"),
    ({"silences": [{"match": {"cloud": "aws"}, "reason": "x", "expires": "2030-01-01"}]}, "reason"),
    ({"silences": [{"match": {"cloud": "aws"}, "reason": "maintenance"}]}, "expires"),
    ({"quiet_hours": {"timezone": "Mars/Olympus", "start": "22:00", "end": "07:00"}}, "time zone"),
    ({"dedup": {"window": "soon"}}, "duration"),
])
def test_invalid_configurations_say_why(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(**change)


def test_sink_validation() -> None:
    with pytest.raises(ConfigError, match="either webhook_url, or token and channel"):
        parse_config({"sinks": {"s": {"type": "slack"}}})
    with pytest.raises(ConfigError, match="needs a channel"):
        parse_config({"sinks": {"s": {"type": "slack", "token": "xoxb"}}})
    with pytest.raises(ConfigError, match="username and password"):
        parse_config({"sinks": {"s": {"type": "servicenow", "instance_url": "https://x"}}})


def test_silence_with_expiry() -> None:
    silences = [{"name": "kms-migration", "match": {"cause": "aws.kms.*"}, "reason": "key rotation this week",
                 "expires": "2030-01-01T00:00:00Z"}]
    router = Router(config(silences=silences))
    decision = router.route(kms_failure(), datetime(2029, 12, 31, tzinfo=UTC))
    assert decision.silenced is not None and decision.deliver_to == []
    assert router.route(kms_failure(), datetime(2030, 1, 2, tzinfo=UTC)).silenced is None  # expired
    assert router.route(azure_failure(), datetime(2029, 12, 31, tzinfo=UTC)).silenced is None


def test_quiet_hours_cross_midnight_in_their_time_zone() -> None:
    quiet = {"timezone": "Europe/Berlin", "start": "22:00", "end": "07:00", "except_severity": ["critical"]}
    router = Router(config(quiet_hours=quiet))
    night = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)  # 00:30 in Berlin
    day = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    held = router.route(kms_failure(), night).held
    assert set(held) == {"oncall", "platform"}  # chat sinks only; tickets and pages go on
    assert router.route(kms_failure(), day).held == {}
    critical = kms_failure()
    critical = critical.model_copy(update={"finding": critical.finding.model_copy(update={"severity": "critical"})})
    assert router.route(critical, night).held == {}


def test_secrets_by_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCALL_HOOK", "https://hooks.slack.com/services/T/B/x")
    assert resolve_secret("env:ONCALL_HOOK") == "https://hooks.slack.com/services/T/B/x"
    assert resolve_secret("plain-value") == "plain-value"
    assert resolve_secret("https://hooks.slack.com/x") == "https://hooks.slack.com/x"
    with pytest.raises(ConfigError, match="no resolver for 'ssm:'"):
        resolve_secret("ssm:/backup/slack")

    class Ssm:
        scheme = "ssm"

        def resolve(self, name: str) -> str:
            return "from-ssm" + name

    assert resolve_secret("ssm:/backup/slack", [Ssm()]) == "from-ssm/backup/slack"
    assert EnvResolver({"A": "b"}).resolve("A") == "b"


def test_a_sink_whose_secret_is_missing_is_broken_but_the_others_are_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PD_KEY", "k")
    monkeypatch.delenv("ONCALL_HOOK", raising=False)
    built = build_destinations(config())
    assert isinstance(built["oncall"], BrokenDestination)
    assert "ONCALL_HOOK is not set" in built["oncall"].reason
    assert not isinstance(built["pd"], BrokenDestination)


def test_http_urls_are_refused_except_to_this_machine() -> None:
    built = build_destinations(parse_config({"sinks": {"s": {"type": "slack", "webhook_url": "http://hooks.example/x"}}}))
    assert isinstance(built["s"], BrokenDestination)
    built = build_destinations(parse_config({"sinks": {"s": {"type": "slack", "webhook_url": "http://127.0.0.1:9/x"}}}))
    assert isinstance(built["s"], SlackWebhook)


def test_simple_settings_still_work() -> None:
    settings = Settings.from_env({"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x",
                                  "TEAMS_WEBHOOK_URL": "https://prod.example.invalid/workflows/x"})
    cfg = config_from_settings(settings)
    assert {n: s.type for n, s in cfg.sinks.items()} == {"slack": "slack", "teams": "teams"}
    assert Router(cfg).route(kms_failure()).sinks == ["slack", "teams"]


def test_secrets_never_in_repr() -> None:
    cfg = parse_config({"sinks": {"s": {"type": "slack", "webhook_url": "https://hooks.slack.com/services/SECRET"}}})
    assert "SECRET" not in repr(cfg)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_are_valid(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.sinks
    text = path.read_text()
    for line in text.splitlines():  # secrets only by reference in the examples
        for key in ("webhook_url:", "token:", "api_token:", "routing_key:", "password:"):
            if line.strip().startswith(key):
                assert line.split(":", 1)[1].strip().startswith(("env:", "ssm:", "secretsmanager:")), line
    out = io.StringIO()
    assert main(["config", "check", str(path)], out) == 0, out.getvalue()


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 4


def test_config_check_prints_where_events_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCALL_HOOK", "https://hooks.slack.com/services/T/B/SECRETVALUE")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"sinks": SINKS, "routes": ROUTES}))
    out = io.StringIO()
    assert main(["config", "check", str(path)], out) == 0
    text = out.getvalue()
    assert "valid" in text and "prod-kms" in text and "-> oncall, pd" in text
    assert "env:ONCALL_HOOK (set)" in text and "env:PD_KEY (NOT SET here)" in text
    assert "SECRETVALUE" not in text
    assert "where the sample events would go" in text and "aws.kms.key-access" in text


def test_config_check_reports_an_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("sinks:\n  a: {type: slack}\n")
    out = io.StringIO()
    assert main(["config", "check", str(path)], out) == 2
    assert "invalid" in out.getvalue() and "webhook_url" in out.getvalue()


def test_config_check_uses_responder_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"sinks": {"t": SINKS["platform"]}}))
    monkeypatch.setenv("RESPONDER_CONFIG", str(path))
    out = io.StringIO()
    assert main(["config", "check"], out) == 0
    assert str(path) in out.getvalue()
    assert os.environ["RESPONDER_CONFIG"] == str(path)
