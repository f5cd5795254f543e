"""``backup-responder test-sink NAME``: one sample failure through one configured sink, and its answer."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from functions.cli import main
from tests.delivery.conftest import FakeServices


def _config(tmp_path: Path, services: FakeServices) -> Path:
    path = tmp_path / "responder.yaml"
    path.write_text(f"""
sinks:
  ops-slack: {{type: slack, webhook_url: "{services.url}/slack/T000/hook"}}
  old-slack: {{type: slack, webhook_url: "{services.url}/slack/T000/gone"}}
  ops-teams: {{type: teams, webhook_url: "{services.url}/teams/hook"}}
  copies: {{type: outbox, path: "{tmp_path / 'copies'}"}}
""", encoding="utf-8")
    return path


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


def test_a_sample_reaches_the_sink_and_its_answer_is_shown(tmp_path: Path, services: FakeServices) -> None:
    status, out = run("test-sink", "ops-slack", "--config", str(_config(tmp_path, services)), "--format", "json")
    assert status == 0
    line = json.loads(out)
    assert line["delivered"] is True and line["type"] == "slack" and line["receipt"] == {"status": "200"}
    [posted] = services.delivered("/slack")
    body = posted.json()
    assert body["text"].startswith("[test] ")  # nobody on call acts on it
    assert len(body["blocks"]) > 3  # the whole message, as a failure would post it


def test_teams_gets_the_card(tmp_path: Path, services: FakeServices) -> None:
    status, out = run("test-sink", "ops-teams", "--config", str(_config(tmp_path, services)))
    assert status == 0 and out.startswith("ops-teams (teams): delivered the sample")
    [posted] = services.delivered("/teams")
    card = posted.json()["attachments"][0]["content"]
    assert card["body"][0]["items"][0]["inlines"][0]["text"].startswith("[test] ")


def test_a_refusal_is_reported_with_exit_status_1(tmp_path: Path, services: FakeServices) -> None:
    status, out = run("test-sink", "old-slack", "--config", str(_config(tmp_path, services)))
    assert status == 1
    assert out.startswith("old-slack (slack): FAILED") and "404" in out
    assert "/slack/T000/gone" not in out  # a webhook URL is a secret


def test_an_unknown_sink_or_the_outbox_is_a_usage_error(tmp_path: Path, services: FakeServices,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    config = str(_config(tmp_path, services))
    assert run("test-sink", "nope", "--config", config)[0] == 2
    err = capsys.readouterr().err
    assert "no sink 'nope'" in err and "ops-slack" in err  # the sinks it knows
    assert run("test-sink", "copies", "--config", config)[0] == 2
    assert not services.to("/")  # nothing was posted
