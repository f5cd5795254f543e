"""The storm scenario shared by the storm test and ``bench/storm.py``: many failures of one cause
across many resources within a few (simulated) minutes, delivered to fake Slack (webhook and Web
API, which rate-limit at one message per second per channel), Teams, Jira and PagerDuty, with some
429s and 5xx thrown in. The platform's retry is simulated: an event whose delivery failed is
handed in again, as Lambda or Azure Functions would."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

from shared.responder import DeliveryFailed
from tests.conftest import load_event
from tests.delivery.conftest import BASE_FAILURE, FakeServices, make_responder
from tests.support.clock import FakeClock

SINKS = ["slack", "slack-api", "teams", "jira", "pagerduty"]
PREFIXES = {"slack": "/slack/", "slack-api": "/slackapi/", "teams": "/teams", "jira": "/jira", "pagerduty": "/pd"}
#: How often the platform hands a failed event in again before it would go to the dead-letter queue.
PLATFORM_ATTEMPTS = 3


@dataclass
class StormResult:
    events: int
    resources: int
    simulated_seconds: float
    wall_seconds: float = 0.0
    #: Messages the services accepted, per destination (Slack chat.update edits included).
    messages: dict[str, int] = field(default_factory=dict)
    #: Requests made, per destination (the retries after 429/5xx included).
    requests: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    platform_retries: int = 0
    dead_lettered: int = 0
    grouped_events: int = 0
    grouped_resources: int = 0
    digests: int = 0
    roles: dict[str, int] = field(default_factory=dict)
    digest_text: str = ""

    @property
    def total_messages(self) -> int:
        return sum(self.messages.values())


def run_storm(events: int = 10_000, resources: int = 500, seconds: float = 180.0) -> StormResult:
    clock = FakeClock()
    services = FakeServices(clock)
    services.slack_rate_limit = True
    # Trouble on top of the rate limits: 429s with Retry-After, and 5xx.
    services.fail("/slack/", (429, {"Retry-After": "2"}, b"rate_limited"), (503, {}, b"unavailable"))
    services.fail("/teams", (429, {"Retry-After": "3"}, b""), (502, {}, b"bad gateway"))
    services.fail("/jira", (503, {"Retry-After": "1"}, b""))
    services.fail("/pd", (429, {}, b'{"status": "throttle event"}'))
    result = StormResult(events, resources, seconds)
    try:
        responder = make_responder(services, clock, sinks=SINKS)
        template = load_event(BASE_FAILURE)
        step = seconds / events
        started = time.perf_counter()
        for n in range(events):
            event: dict[str, Any] = copy.deepcopy(template)
            event["id"] = f"storm-{n}"
            event["detail"]["copyJobId"] = f"COPY-{n:06d}"
            event["detail"]["resourceArn"] = f"arn:aws:rds:us-west-2:111122223333:db:orders-{n % resources:04d}"
            for attempt in range(PLATFORM_ATTEMPTS):
                try:
                    report = responder.handle(event)
                except DeliveryFailed:
                    result.platform_retries += 1
                    if attempt == PLATFORM_ATTEMPTS - 1:
                        result.dead_lettered += 1
                    continue
                result.roles[report.role or "-"] = result.roles.get(report.role or "-", 0) + 1
                break
            clock.advance(step)
        clock.advance(responder.config.dedup.storm_window + 1)
        digests = responder.flush()
        result.digests = len([d for d in digests if d.ok])
        result.wall_seconds = time.perf_counter() - started
        group = responder.grouper.closed_groups()  # all digested: none left
        assert group == [], "every closed storm has had its digest"
        counters = [v for k, v in responder.state._items.items() if k.startswith("group:") and ":m:" not in k]
        result.grouped_events = sum(int(item.get("events", 0)) for item, _ in counters)
        result.grouped_resources = sum(int(item.get("resources", 0)) for item, _ in counters)
        result.messages = {sink: len(services.delivered(prefix)) for sink, prefix in PREFIXES.items()}
        result.requests = {sink: len(services.to(prefix)) for sink, prefix in PREFIXES.items()}
        result.rate_limited = services.rate_limited
        last_slack = services.to("/slack/")[-1].json()
        result.digest_text = last_slack["text"] + " " + str(last_slack["blocks"])
    finally:
        services.close()
    return result
