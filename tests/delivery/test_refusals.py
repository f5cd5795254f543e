"""A 2xx that is not the sink's success answer is a permanent refusal: not marked delivered, kept
(``DeliveryFailed``: the CLI's exit status, Lambda's retry and dead-letter queue, Azure's 503), and a
retry once the sink is fixed posts it once. Teams counts only 200 and 202 without an error body."""

from __future__ import annotations

import json

import pytest

from shared.responder import DeliveryFailed
from tests.delivery.conftest import FakeServices, failure_event, make_responder
from tests.support.clock import FakeClock

PREFIX = {"slack": "/slack/", "slack-api": "/slackapi/", "teams": "/teams"}
TEAMS_413 = (b"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413 "
             b"with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef.0..")
TEAMS_429 = TEAMS_413.replace(b"413", b"429")


def _json(data: object, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()


REFUSALS = {
    "slack webhook 200 channel_not_found": ("slack", (200, {}, b"channel_not_found")),
    "slack webhook 200 invalid_payload": ("slack", (200, {}, b"invalid_payload")),
    "slack webhook 200 empty": ("slack", (200, {}, b"")),
    "slack webhook 201 ok": ("slack", (201, {}, b"ok")),
    "slack webhook 204": ("slack", (204, {}, b"")),
    "slack api 200 ok false": ("slack-api", _json({"ok": False, "error": "channel_not_found"})),
    "slack api 200 not json": ("slack-api", (200, {"Content-Type": "text/html"}, b"<html>proxy</html>")),
    "slack api 201 ok true": ("slack-api", _json({"ok": True, "ts": "1.2", "channel": "C0TEST"}, 201)),
    "teams 200 error text": ("teams", (200, {}, TEAMS_413)),
    "teams 202 error json": ("teams", _json({"error": {"code": "InvalidRequestContent", "message": "bad"}}, 202)),
    "teams 201": ("teams", (201, {}, b"")),
    "teams 204": ("teams", (204, {}, b"")),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_2xx_that_is_not_the_success_answer_is_a_kept_refusal(case: str, services: FakeServices,
                                                                  clock: FakeClock) -> None:
    sink, answer = REFUSALS[case]
    responder = make_responder(services, clock, sinks=[sink])
    services.fail(PREFIX[sink], answer)
    event = failure_event(1)
    with pytest.raises(DeliveryFailed) as caught:
        responder.handle(event)
    [delivery] = caught.value.report.deliveries
    assert not delivery.ok and not delivery.retryable  # permanent: not retried in vain
    assert len(services.to(PREFIX[sink])) == 1
    report = responder.handle(event)  # the platform's retry once the sink is fixed: nothing was marked done
    assert [d.ok for d in report.deliveries] == [True]
    assert len(services.to(PREFIX[sink])) == 2
    assert responder.handle(event).deliveries[0].detail == "already delivered"
    assert len(services.to(PREFIX[sink])) == 2


def test_the_refusal_says_what_the_sink_answered(services: FakeServices, clock: FakeClock) -> None:
    responder = make_responder(services, clock, sinks=["slack"])
    services.fail("/slack/", (200, {}, b"channel_not_found"))
    with pytest.raises(DeliveryFailed) as caught:
        responder.handle(failure_event(1))
    detail = caught.value.report.deliveries[0].detail
    assert "HTTP 200 is not its success answer, a refusal: channel_not_found" in detail
    assert "secret-hook" not in detail


@pytest.mark.parametrize("answer", [(202, {}, b""), (200, {}, b"1"), (200, {}, b"")])
def test_teams_success_answers_are_delivered(answer: tuple[int, dict[str, str], bytes], services: FakeServices,
                                             clock: FakeClock) -> None:
    responder = make_responder(services, clock, sinks=["teams"])
    services.fail("/teams", answer)
    report = responder.handle(failure_event(1))
    assert [d.ok for d in report.deliveries] == [True]


def test_a_teams_200_that_reports_a_429_is_retried(services: FakeServices, clock: FakeClock) -> None:
    responder = make_responder(services, clock, sinks=["teams"])
    services.fail("/teams", (200, {}, TEAMS_429))
    report = responder.handle(failure_event(1))
    assert [d.ok for d in report.deliveries] == [True]
    assert len(services.to("/teams")) == 2
