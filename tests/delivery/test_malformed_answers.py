"""Answers that are not HTTP (a garbage status line, a body cut short, a reset connection) are
delivery failures like any other: retried within the deadline, then kept; the command line reports
them on one line each and goes on with the other sinks and events."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.cli import EXIT_DELIVERY_FAILED, respond
from shared.sinks.base import DeliveryError
from shared.sinks.http import Request, RetryPolicy, Sender
from tests.delivery.conftest import FakeServices, failure_event, make_responder
from tests.support.clock import FakeClock
from tests.support.malformed import ALL_MALFORMED, Answer, MalformedServer, malformed_server

SECRET_PATH = "/services/T000/B000/very-secret-token"


@pytest.fixture
def broken() -> Iterator[MalformedServer]:
    with malformed_server() as server:
        yield server


@pytest.mark.parametrize("kind", ALL_MALFORMED)
def test_a_malformed_answer_is_retried_then_a_retryable_failure(kind: Answer, broken: MalformedServer,
                                                                clock: FakeClock) -> None:
    broken.default = kind
    sender = Sender("slack", policy=RetryPolicy(max_attempts=3), clock=clock)
    with pytest.raises(DeliveryError) as caught:
        sender.send(Request("POST", broken.url + SECRET_PATH, "POST webhook", {"text": "x"}))
    assert caught.value.retryable
    assert len(broken.requests) == 3
    assert "gave up after 3 attempts" in str(caught.value)
    assert "very-secret-token" not in str(caught.value)


@pytest.mark.parametrize("kind", ALL_MALFORMED)
def test_a_malformed_answer_then_a_good_one_is_delivered(kind: Answer, broken: MalformedServer,
                                                         clock: FakeClock) -> None:
    broken.queue.append(kind)
    broken.default = "ok"
    response = Sender("slack", clock=clock).send(Request("POST", broken.url + SECRET_PATH, "POST webhook", {}))
    assert response.status == 200 and len(broken.requests) == 2


def test_respond_reports_each_broken_sink_and_goes_on_with_the_others_and_the_events(
        services: FakeServices, clock: FakeClock, broken: MalformedServer, tmp_path: Path) -> None:
    broken.queue.extend(["garbage", "truncated", "reset", "garbage"])
    responder = make_responder(services, clock, sinks=["slack", "teams"], outbox=tmp_path / "outbox",
                               retry={"max_attempts": 2, "budget": "60s", "timeout": "2s"},
                               dedup={"storm_window": 0})  # two messages, not one storm
    # the Slack sink answers from the broken server, Teams from the well-behaved one
    responder.destinations["slack"]._url = broken.url + SECRET_PATH  # type: ignore[attr-defined]
    out = io.StringIO()
    status = respond([failure_event(1), failure_event(2)], responder, out)
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith('{"cloud"')]
    assert status == EXIT_DELIVERY_FAILED
    assert len(lines) == 2
    for line in lines:
        assert line["delivered"]["teams"] == "status 202"
        assert line["delivered"]["slack"].startswith("FAILED: slack slack POST webhook: gave up after 2 attempts")
        assert "very-secret-token" not in line["delivered"]["slack"]
        assert line["delivered"]["outbox"].endswith(".json")  # kept
    assert len(list((tmp_path / "outbox").glob("*.json"))) == 2
