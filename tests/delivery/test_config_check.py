"""``config check`` refuses what ``respond`` refuses (an ``http://`` webhook, a URL that does not
parse) without quoting the secret URL, and says what each sink's answers mean."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from functions.cli import EXIT_BAD_INPUT, EXIT_OK, main
from shared.delivery.factory import REFUSAL, BrokenDestination, build_destinations
from shared.routing import parse_config

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
