"""The Sender: Retry-After on 429, 5xx/timeouts retried with backoff within a budget, the caller's
deadline never passed, pacing per key, and no URL (a secret) in any error."""

from __future__ import annotations

import random
import socket
import time

import pytest

from shared.sinks.base import DeliveryError
from shared.sinks.http import (
    Deadline,
    Pacer,
    Request,
    RetryPolicy,
    Sender,
    deadline_scope,
    parse_retry_after,
)
from tests.delivery.conftest import FakeServices
from tests.support.clock import FakeClock

SECRET_PATH = "/slack/T000/B000/very-secret-token"


def _sender(clock: FakeClock, **policy: float) -> Sender:
    return Sender("slack test", policy=RetryPolicy(**policy), clock=clock, rng=random.Random(7))  # type: ignore[arg-type]


def _post(services: FakeServices, path: str = SECRET_PATH) -> Request:
    return Request("POST", services.url + path, "POST webhook", {"text": "hello"})


def test_429_waits_for_retry_after_then_delivers(services: FakeServices, clock: FakeClock) -> None:
    services.fail("/slack", (429, {"Retry-After": "7"}, b"rate_limited"))
    sender = _sender(clock)
    response = sender.send(_post(services))
    assert response.status == 200
    assert clock.slept == [7.0]  # exactly what the service asked, no sleeping in the test
    assert len(services.to("/slack")) == 2
    assert sender.stats.rate_limited == 1


def test_retry_after_as_http_date(services: FakeServices, clock: FakeClock) -> None:
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(clock.time() + 12))
    services.fail("/slack", (503, {"Retry-After": when}, b"busy"))
    _sender(clock).send(_post(services))
    assert clock.slept == [pytest.approx(12, abs=1)]


def test_5xx_retried_with_growing_jittered_backoff(services: FakeServices, clock: FakeClock) -> None:
    services.fail("/slack", *[(500, {}, b"oops")] * 3)
    _sender(clock, base_delay=1.0, max_delay=30.0).send(_post(services))
    assert len(clock.slept) == 3
    for attempt, slept in enumerate(clock.slept):
        assert 0 <= slept <= 2 ** attempt  # full jitter under the exponential cap


def test_attempts_are_bounded_and_the_error_is_retryable(services: FakeServices, clock: FakeClock) -> None:
    services.fail("/slack", *[(502, {}, b"bad gateway")] * 10)
    with pytest.raises(DeliveryError) as caught:
        _sender(clock, max_attempts=4).send(_post(services))
    assert caught.value.retryable
    assert "gave up after 4 attempts" in str(caught.value)
    assert len(services.to("/slack")) == 4


def test_budget_spent_fails_instead_of_sleeping(services: FakeServices, clock: FakeClock) -> None:
    services.fail("/slack", (429, {"Retry-After": "40"}, b""), (429, {"Retry-After": "40"}, b""))
    with pytest.raises(DeliveryError) as caught:
        _sender(clock, budget_seconds=60).send(_post(services))
    assert caught.value.retryable
    assert sum(clock.slept) <= 60


def test_never_sleeps_past_the_deadline(services: FakeServices, clock: FakeClock) -> None:
    """A 429 asking for 30 s with 5 s left: fail now (the platform retries), do not sleep."""
    services.fail("/slack", (429, {"Retry-After": "30"}, b"rate_limited"))
    with deadline_scope(Deadline.within(5, clock, margin=1)), pytest.raises(DeliveryError) as caught:
        _sender(clock).send(_post(services))
    assert caught.value.retryable
    assert clock.slept == []
    assert "deadline" in str(caught.value)


def test_out_of_time_before_the_first_attempt(services: FakeServices, clock: FakeClock) -> None:
    with deadline_scope(Deadline.within(1.0, clock, margin=1.0)), pytest.raises(DeliveryError):
        _sender(clock).send(_post(services))
    assert services.to("/slack") == []


def test_huge_retry_after_is_not_waited_for(services: FakeServices, clock: FakeClock) -> None:
    services.fail("/slack", (429, {"Retry-After": "3600"}, b""))
    with pytest.raises(DeliveryError) as caught:
        _sender(clock, budget_seconds=10_000, max_retry_after=300).send(_post(services))
    assert caught.value.retryable and clock.slept == []


def test_4xx_is_not_retried(services: FakeServices, clock: FakeClock) -> None:
    with pytest.raises(DeliveryError) as caught:
        _sender(clock).send(_post(services, "/slack/gone"))
    assert not caught.value.retryable
    assert "channel_not_found" in str(caught.value)
    assert len(services.to("/slack")) == 1


def test_connection_refused_is_retried_and_reported_without_the_url(clock: FakeClock) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    request = Request("POST", f"http://127.0.0.1:{port}{SECRET_PATH}", "POST webhook", {"text": "x"})
    with pytest.raises(DeliveryError) as caught:
        _sender(clock, max_attempts=3).send(request)
    assert caught.value.retryable
    assert "very-secret-token" not in str(caught.value)
    assert len(clock.slept) == 2


def test_timeouts_are_retried(services: FakeServices, clock: FakeClock) -> None:
    services.hold("/slack/slow")  # never answers while the sender waits
    with pytest.raises(DeliveryError) as caught:
        _sender(clock, max_attempts=2, timeout=0.2).send(_post(services, "/slack/slow"))
    assert caught.value.retryable
    assert len(services.to("/slack/slow")) == 2


def test_errors_never_contain_the_url(services: FakeServices, clock: FakeClock) -> None:
    services.fail("/slack", (400, {}, b"invalid_payload"))
    with pytest.raises(DeliveryError) as caught:
        _sender(clock).send(_post(services))
    assert "very-secret-token" not in str(caught.value)
    assert "POST webhook" in str(caught.value)


def test_pacer_spaces_sends_per_key(clock: FakeClock) -> None:
    pacer = Pacer(clock)
    waits = [pacer.reserve("C1", 1.0) for _ in range(3)]
    assert waits == [0.0, 1.0, 2.0]
    assert pacer.reserve("C2", 1.0) == 0.0  # another channel is not held back
    with pytest.raises(DeliveryError):
        pacer.reserve("C1", 1.0, limit=1.0)  # would wait 3 s: refused, nothing reserved
    assert pacer.reserve("C1", 1.0) == 3.0


def test_sender_paces_messages_to_one_channel(services: FakeServices, clock: FakeClock) -> None:
    sender = _sender(clock)
    sender.interval = 1.0
    start = clock.monotonic()
    for _ in range(5):
        sender.send(_post(services), pace_key="C1")
    assert clock.monotonic() - start == pytest.approx(4.0)


def test_a_429_holds_back_the_next_message_too(clock: FakeClock) -> None:
    pacer = Pacer(clock)
    pacer.block("C1", 10)
    assert pacer.reserve("C1", 1.0) == pytest.approx(10)


@pytest.mark.parametrize(("value", "expected"), [("5", 5.0), ("0", 0.0), ("1.5", 1.5), (None, None), ("soon", None)])
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, 0.0) == expected
