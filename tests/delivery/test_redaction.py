"""One redaction for every error path: URLs keep only their scheme and host, tokens are replaced;
``respond`` with a webhook URL that does not parse never prints its secret path."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from functions.cli import EXIT_DELIVERY_FAILED, main
from shared.redact import error_text, redact
from tests.delivery.conftest import failure_event

CASES = {
    "slack webhook": ("POST https://hooks.slack.com/services/T0AAA/B0BBB/sEcReTtOkEn failed",
                      "POST https://hooks.slack.com/<redacted> failed", "sEcReTtOkEn"),
    "teams signature": ("https://prod-1.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke"
                        "?api-version=2016-06-01&sig=SiGnAtUrE123",
                        "https://prod-1.westeurope.logic.azure.com:443/<redacted>", "SiGnAtUrE123"),
    "user info": ("https://svc:pa55word@example.service-now.com/api", "https://example.service-now.com/<redacted>",
                  "pa55word"),
    "slack token": ("auth with xoxb-1234-5678-AbCdEf", "auth with <slack token>", "AbCdEf"),
    "github token": ("token ghp_abcdefghijklmnopqrstuvwxyz0123", "token <github token>", "ghp_abc"),
    "bearer": ("Authorization: Bearer abc.def.ghi-secret", "Authorization: Bearer <redacted>", "ghi-secret"),
    "password": ("password=hunter2hunter2 and more", "password=<redacted> and more", "hunter2"),
    "jwt": ("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl", "token <jwt>",
            "c2lnbmF0dXJl"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_redact_keeps_the_host_and_drops_the_secret(case: str) -> None:
    text, expected, secret = CASES[case]
    assert redact(text) == expected
    assert secret not in redact(text)


def test_error_text_is_one_line_with_the_type() -> None:
    exc = ValueError("bad URL https://hooks.slack.com/services/T/B/SECRET\nsecond line \x00")
    assert error_text(exc) == "ValueError: bad URL https://hooks.slack.com/<redacted> second line ?"


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "arn:aws:iam::111122223333:role/AWSBackupDefaultServiceRole denied kms:Decrypt (HTTP 403)"
    assert redact(text) == text


def test_respond_with_a_webhook_url_that_does_not_parse_keeps_the_secret_out_of_every_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0AAA/B0BBB/sEcReT tOkEn")
    monkeypatch.setenv("RESPONDER_STATE", str(tmp_path / "state.sqlite"))
    events = tmp_path / "event.json"
    events.write_text(json.dumps(failure_event(1)))
    out = io.StringIO()
    assert main(["respond", str(events)], out) == EXIT_DELIVERY_FAILED
    captured = capsys.readouterr()
    assert "FAILED: slack is not usable: webhook_url is not a valid URL" in out.getvalue()
    for text in (out.getvalue(), captured.out, captured.err):
        assert "sEcReT" not in text and "tOkEn" not in text
