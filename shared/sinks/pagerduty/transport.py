"""PagerDuty: Events API v2. A failure triggers an alert whose ``dedup_key`` is the failure's
fingerprint (or its storm's), so PagerDuty folds repeats into the open alert; a recovery sends
``resolve`` with the same key."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from shared.notify.message import Message
from shared.sinks.base import DeliveryError, DestinationKind, Receipt
from shared.sinks.http import Request, Response, Sender, Verdict, default_verdict
from shared.sinks.pagerduty.config import PagerDutySink
from shared.sinks.pagerduty.render import PagerDutyLimits, event

if TYPE_CHECKING:
    from shared.sinks import BuildContext


class PagerDuty:
    kind: DestinationKind = "ticket"
    group_updates = False
    limits = PagerDutyLimits
    EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"

    def __init__(self, name: str, routing_key: str, sender: Sender, events_url: str | None = None) -> None:
        self.name = name
        self._routing_key = routing_key
        self.sender = sender
        self.sender.interval = max(self.sender.interval, PagerDutyLimits.SECONDS_PER_EVENT)
        self.events_url = events_url or self.EVENTS_URL
        self.pace_key = "pagerduty:" + hashlib.sha256(routing_key.encode()).hexdigest()[:12]

    @staticmethod
    def verdict(response: Response, now: float) -> Verdict:
        """202 Accepted; 400 is a bad event (not retried); 429 and 5xx are retried."""
        return default_verdict(response, now)

    def preview(self, message: Message, previous: Receipt | None) -> dict[str, Any]:
        body = event(message, previous, "<routing key>")
        return {"method": "POST", "url": self.events_url, "json": body} if body else {}

    def send(self, message: Message, previous: Receipt | None) -> Receipt:
        body = event(message, previous, self._routing_key)
        if body is None:
            return dict(previous or {})
        request = Request("POST", self.events_url, "POST /v2/enqueue", body)
        data = self.sender.send(request, self.pace_key, self.verdict).json() or {}
        if data.get("status") not in (None, "success"):
            raise DeliveryError(f"pagerduty: {data.get('status')}: {data.get('message')}", retryable=False)
        receipt: Receipt = {"dedup_key": str(data.get("dedup_key") or body["dedup_key"])}
        if body["event_action"] == "resolve":
            receipt["resolved"] = "true"
        return receipt


def build(name: str, settings: PagerDutySink, context: BuildContext) -> PagerDuty:
    return PagerDuty(name, context.secret(settings.routing_key, "routing_key"),
                     context.sender(f"pagerduty {name}", settings.retry),
                     context.url(settings.events_url, "events_url") if settings.events_url else None)
