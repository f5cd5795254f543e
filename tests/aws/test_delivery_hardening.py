"""The Lambda keeps what it could not deliver and never leaks a secret on the way: a malformed
answer or a 2xx refusal from Slack fails the invocation (Lambda retries, then the dead-letter queue)
without marking it delivered; a decode that fails unexpectedly still posts the alert with a note;
a webhook URL that does not parse stays out of the ERROR log; botocore's DEBUG output (the
decrypted SSM parameter) stays off even with the root logger at DEBUG."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from shared.decode import DecodeError
from shared.models import Failure
from shared.parse import parse_event
from shared.pipeline import Pipeline
from shared.redact import ENV_SDK_LOG_LEVEL, quiet_sdk_loggers
from shared.responder import DeliveryFailed
from tests.aws.conftest import REGION, SEED004_EVENT, World
from tests.conftest import load_event
from tests.support.malformed import ALL_MALFORMED, Answer, MalformedServer, malformed_server

PARAMETER = "/backup-responder/slack-webhook"
SECRET = "T0SECRET/B0SECRET/zzSecretTokenzz"


def _set_webhook(value: str) -> None:
    boto3.client("ssm", region_name=REGION).put_parameter(Name=PARAMETER, Value=value, Type="SecureString",
                                                          Overwrite=True)


@pytest.fixture
def one_attempt(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The webhook from SSM, tried once per invocation (no backoff on the real clock)."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"sinks": {"slack": {"type": "slack", "webhook_url": "ssm:" + PARAMETER}},
                                  "retry": {"max_attempts": 1}}))
    monkeypatch.setenv("RESPONDER_CONFIG", str(config))


@pytest.fixture
def slack() -> Iterator[MalformedServer]:
    with malformed_server("ok") as server:
        yield server


@pytest.mark.parametrize("answer", [*ALL_MALFORMED, MalformedServer.answer("200 OK", b"channel_not_found")],
                         ids=[*ALL_MALFORMED, "200-channel_not_found"])
def test_a_malformed_or_refusing_answer_fails_the_invocation_and_the_retry_posts_once(
        answer: Answer | bytes, world: World, one_attempt: None, slack: MalformedServer,
        caplog: pytest.LogCaptureFixture) -> None:
    _set_webhook(slack.url + "/services/" + SECRET)
    slack.queue.append(answer)
    with pytest.raises(DeliveryFailed) as caught:
        world.invoke(load_event(SEED004_EVENT))
    refused = isinstance(answer, bytes)
    assert caught.value.report.failed[0].retryable is not refused
    [record] = [r for r in caplog.records if r.getMessage().startswith("event not handled")]
    assert [(f["sink"], f["refused"]) for f in record.failed] == [("slack", refused)]  # type: ignore[attr-defined]
    result = world.invoke(load_event(SEED004_EVENT))  # Lambda's retry: nothing was marked delivered
    assert result["delivered"]["slack"] is True
    world.invoke(load_event(SEED004_EVENT))  # a duplicate of the handled event
    assert slack.answered("ok") == 1


def test_a_webhook_url_that_does_not_parse_stays_out_of_the_error_log(
        world: World, one_attempt: None, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    _set_webhook(f"https://hooks.slack.com/services/{SECRET} (pasted with a note)")
    with pytest.raises(DeliveryFailed) as caught:
        world.invoke(load_event(SEED004_EVENT))
    logged = capfd.readouterr()
    assert "webhook_url is not a valid URL" in str(caught.value)
    assert "event not handled" in caplog.text
    for text in (logged.out, logged.err, caplog.text, str(caught.value)):
        assert "SECRET" not in text


def test_debug_logging_does_not_print_the_decrypted_parameter(world: World,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger, as LOG_LEVEL=DEBUG would set it
    world.invoke(load_event(SEED004_EVENT))
    assert len(world.hook.posts) == 1
    assert world.hook_url not in caplog.text
    assert "/services/T000/B000/XXXX" not in caplog.text


def test_sdk_debug_logs_only_when_asked() -> None:
    quiet_sdk_loggers({})
    assert logging.getLogger("botocore").level == logging.WARNING
    quiet_sdk_loggers({ENV_SDK_LOG_LEVEL: "debug"})
    assert logging.getLogger("botocore").level == logging.DEBUG
    quiet_sdk_loggers({})


@pytest.mark.parametrize(("page", "says"), [
    ("<html><body>Forbidden by the proxy<br></body></html>", "STS's answer could not be read (ResponseParserError)"),
    ("<html><body>Forbidden by the proxy</body></html>", "unexpected KeyError"),  # XML, but not STS's
])
def test_a_proxy_page_instead_of_sts_still_posts_the_alert_and_says_why(page: str, says: str, world: World) -> None:
    world.sts.proxy_page = page
    result = world.invoke(load_event(SEED004_EVENT))
    assert result["decoded"] is False and result["cause"] == "aws.iam.pass-role"
    assert len(world.hook.posts) == 1
    [message] = world.messages()
    notes = " ".join(message["failure"]["notes"])
    assert f"could not be decoded ({says}" in notes
    assert "aws sts decode-authorization-message --encoded-message" in notes


class _Broken:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def decode(self, failure: Failure) -> str:
        raise self.exc


@pytest.mark.parametrize("exc", [RuntimeError("the decoder has a bug"), KeyError("DecodedMessage"),
                                 DecodeError("STS refused")])
def test_any_decoder_error_leaves_the_alert_with_a_note(exc: Exception) -> None:
    failure = parse_event(load_event(SEED004_EVENT))
    outcome = Pipeline(decoder=_Broken(exc)).assess(Pipeline(decoder=_Broken(exc)).enrich(failure))
    assert outcome.failure.decoded is None and outcome.finding.cause == "aws.iam.pass-role"
    [note] = [n for n in outcome.failure.notes if "could not be decoded" in n]
    assert type(exc).__name__ in note or "STS refused" in note
