"""Slack: Block Kit within the limits, escaped untrusted text, a fallback text, and both transports
(incoming webhook, Web API with threads and in-place updates) against the fake Slack."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from shared.notify.notice import GroupInfo, Notice
from shared.sinks.base import DeliveryError
from shared.sinks.http import Sender
from shared.sinks.slack.render import SlackLimits, build_message, escape
from shared.sinks.slack.transport import SlackApi, SlackWebhook
from tests.delivery.conftest import HOSTILE, FakeServices, failure_event, hostile_outcome, outcome_of
from tests.support.clock import FakeClock
from tests.support.messages import say


def _texts(message: dict[str, Any]) -> list[str]:
    """Every mrkdwn/plain text in a message, the fallback included."""
    texts = [message["text"]]
    for block in message["blocks"]:
        for key in ("text",):
            if isinstance(block.get(key), dict):
                texts.append(block[key]["text"])
        for item in block.get("fields", []) + block.get("elements", []):
            texts.append(item["text"] if isinstance(item.get("text"), str) else item.get("text", {}).get("text", ""))
    return texts


def test_escape() -> None:
    assert escape("a & b <!channel> <https://x|y>") == "a &amp; b &lt;!channel&gt; &lt;https://x|y&gt;"


def test_message_has_header_facts_why_steps_code_and_buttons() -> None:
    outcome = outcome_of(failure_event(3))
    message = build_message(say(Notice("failure", outcome)))
    types = [b["type"] for b in message["blocks"]]
    assert types[0] == "header" and "actions" in types and "context" in types
    text = json.dumps(message)
    assert "aws.kms.key-access" in text  # the cause
    assert "*Fix*" in text and "1. " in text  # numbered steps
    assert "```" in text  # the policy / command in a code block
    assert "orders-0003" in text and "111122223333" in text and "us-west-2" in text  # what failed
    buttons = next(b for b in message["blocks"] if b["type"] == "actions")["elements"]
    urls = [b["url"] for b in buttons]
    assert any("console.aws.amazon.com/backup" in u and "jobs/copy" in u for u in urls)  # the job
    assert any("resources/" in u for u in urls)  # the resource
    assert any(u.startswith("https://docs.aws.amazon.com") or "repost.aws" in u for u in urls)  # the docs
    assert message["text"].startswith("[HIGH]")


def test_hostile_text_cannot_mention_or_disguise_links() -> None:
    message = build_message(say(Notice("failure", hostile_outcome())))
    for text in _texts(message):
        assert "<!channel>" not in text and "<!here>" not in text
        assert "<https://evil" not in text
        assert "|Click to fix>" not in text
    raw = json.dumps(message)
    assert "&lt;!channel&gt;" in raw  # shown, harmless
    assert "&lt;https://evil.example/login|Click to fix&gt;" in raw


def test_a_fence_in_the_message_cannot_close_the_code_block() -> None:
    message = build_message(say(Notice("failure", hostile_outcome())))
    code = next(t for t in _texts(message) if t.startswith("*Error message*"))
    assert code.count("```") == 2


@pytest.mark.parametrize("steps,size", [(0, 20_000), (120, 0), (60, 9_000)])
def test_limits_are_kept_by_truncating_never_failing(steps: int, size: int) -> None:
    notice = Notice("failure", hostile_outcome(steps=steps, message_size=size))
    message = build_message(say(notice))
    blocks = message["blocks"]
    assert len(blocks) <= SlackLimits.MAX_BLOCKS
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= SlackLimits.MAX_HEADER_TEXT
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= SlackLimits.MAX_SECTION_TEXT
            for field in block.get("fields", []):
                assert len(field["text"]) <= SlackLimits.MAX_FIELD_TEXT
        Block.parse(block).validate_json()  # slack_sdk's own validation of each block
    assert 0 < len(message["text"]) <= SlackLimits.MAX_TEXT
    if steps >= 120:
        assert "more sections not shown" in json.dumps(blocks)


def test_group_and_digest_messages_say_how_many_failed() -> None:
    outcome = outcome_of(failure_event(1))
    group = GroupInfo(id="g1", cloud="aws", cause="aws.kms.key-access", title=outcome.finding.title,
                      job_type="copy", events=37, resources=37, sample=["orders-0001", "orders-0002"],
                      opened=1_700_000_000, closes=1_700_000_600)
    message = build_message(say(Notice("group", outcome, group)))
    assert message["blocks"][0]["text"]["text"].startswith(":large_orange_circle: 37 copy jobs failed")
    assert "and 35 more" in json.dumps(message)
    digest = build_message(say(Notice("digest", outcome, group)))
    assert "Storm summary" in json.dumps(digest)


def _webhook(services: FakeServices, clock: FakeClock, path: str = "/slack/T0/B0/secret") -> SlackWebhook:
    return SlackWebhook("slack", services.url + path, Sender("slack", clock=clock, rng=random.Random(1)))


def test_webhook_posts_block_kit_and_honours_429(services: FakeServices, clock: FakeClock) -> None:
    services.fail("/slack", (429, {"Retry-After": "2"}, b"rate_limited"), (500, {}, b"oops"))
    receipt = _webhook(services, clock).send(say(Notice("failure", outcome_of(failure_event(2)))), None)
    assert receipt == {"status": "200"}
    posted = services.to("/slack")
    assert len(posted) == 3 and clock.slept[0] == 2.0
    body = posted[-1].json()
    assert body["blocks"] and body["text"] and body["unfurl_links"] is False


def test_webhook_errors_are_checked(services: FakeServices, clock: FakeClock) -> None:
    """slack_sdk's webhook client returns 404 channel_not_found without raising: we raise."""
    with pytest.raises(DeliveryError) as caught:
        _webhook(services, clock, "/slack/gone").send(say(Notice("failure", outcome_of(failure_event(2)))), None)
    assert "channel_not_found" in str(caught.value) and not caught.value.retryable
    assert "secret" not in str(caught.value)


def test_webhook_spaces_messages_one_per_second(services: FakeServices, clock: FakeClock) -> None:
    services.slack_rate_limit = True
    webhook = _webhook(services, clock)
    for n in range(5):
        webhook.send(say(Notice("failure", outcome_of(failure_event(n)))), None)
    assert services.rate_limited == 0
    assert len(services.to("/slack")) == 5


def _api(services: FakeServices, clock: FakeClock, mode: str = "update") -> SlackApi:
    return SlackApi("slack-api", "xoxb-test-token", "C0TEST", Sender("slack", clock=clock, rng=random.Random(1)),
                    storm_mode=mode, base_url=services.url + "/slackapi/")  # type: ignore[arg-type]


def test_web_api_posts_then_updates_in_place_and_threads(services: FakeServices, clock: FakeClock) -> None:
    api = _api(services, clock)
    outcome = outcome_of(failure_event(1))
    receipt = api.send(say(Notice("failure", outcome)), None)
    assert receipt["channel"] == "C0TEST" and receipt["ts"]
    group = GroupInfo("g", "aws", "aws.kms.key-access", "t", "copy", 5, 5, ["a"], 0, 600)
    assert api.send(say(Notice("group", outcome, group)), receipt) == receipt
    update = services.to("/slackapi/chat.update")[-1].json()
    assert update["ts"] == receipt["ts"] and "5 copy jobs failed" in update["blocks"][0]["text"]["text"]
    api.send(say(Notice("recovered", outcome)), receipt)
    reply = services.to("/slackapi/chat.postMessage")[-1].json()
    assert reply["thread_ts"] == receipt["ts"]
    assert services.to("/slackapi")[0].headers["Authorization"] == "Bearer xoxb-test-token"


def test_web_api_thread_mode_replies_instead_of_editing(services: FakeServices, clock: FakeClock) -> None:
    api = _api(services, clock, "thread")
    outcome = outcome_of(failure_event(1))
    receipt = api.send(say(Notice("failure", outcome)), None)
    group = GroupInfo("g", "aws", "aws.kms.key-access", "t", "copy", 9, 9, ["a"], 0, 600)
    api.send(say(Notice("group", outcome, group)), receipt)
    assert services.to("/slackapi/chat.update") == []
    assert services.to("/slackapi/chat.postMessage")[-1].json()["thread_ts"] == receipt["ts"]


def test_web_api_ratelimited_is_retried(services: FakeServices, clock: FakeClock) -> None:
    services.fail("/slackapi", (429, {"Retry-After": "3", "Content-Type": "application/json"},
                                b'{"ok": false, "error": "ratelimited"}'))
    receipt = _api(services, clock).send(say(Notice("failure", outcome_of(failure_event(1)))), None)
    assert receipt["ts"] and clock.slept == [3.0]


def test_web_api_errors_are_not_retried(services: FakeServices, clock: FakeClock) -> None:
    api = SlackApi("s", "xoxb-wrong", "C0TEST", Sender("slack", clock=clock), base_url=services.url + "/slackapi/")
    with pytest.raises(DeliveryError) as caught:
        api.send(say(Notice("failure", outcome_of(failure_event(1)))), None)
    assert not caught.value.retryable and "xoxb-wrong" not in str(caught.value)


def test_web_api_5xx_with_an_html_body_is_retried(services: FakeServices, clock: FakeClock) -> None:
    services.fail("/slackapi", (502, {"Content-Type": "text/html"}, b"<html>Bad Gateway</html>"))
    assert _api(services, clock).send(say(Notice("failure", outcome_of(failure_event(1)))), None)["ts"]


def test_hostile_inputs_reach_slack_escaped(services: FakeServices, clock: FakeClock) -> None:
    _webhook(services, clock).send(say(Notice("failure", hostile_outcome())), None)
    raw = services.to("/slack")[-1].body.decode()
    assert "<!channel>" not in raw and "<https://evil" not in raw and HOSTILE not in raw
