"""shared.sinks.pagerduty.transport"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from shared.notify.facts import links, what_failed
from shared.notify.notice import Notice, resource_label
from shared.sinks.base import DeliveryError, DestinationKind, Receipt, clean, truncate
from shared.sinks.http import Request, Response, Sender, Verdict, default_verdict
from shared.sinks.pagerduty.render import SEVERITIES, PagerDutyLimits, remediation_details


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

    def dedup_key(self, notice: Notice, previous: Receipt | None) -> str:
        key = (previous or {}).get("dedup_key") or notice.fingerprint
        if not key and notice.group is not None:
            key = "storm-" + notice.group.id
        if not key and notice.outcome is not None:
            f = notice.outcome.failure
            key = "-".join(p for p in (f.cloud, f.job_id or f.event_id) if p)
        return truncate(key or "backup-responder", PagerDutyLimits.MAX_DEDUP_KEY, marker="")

    def event(self, notice: Notice, previous: Receipt | None, routing_key: str) -> dict[str, Any] | None:
        key = self.dedup_key(notice, previous)
        if notice.kind == "recovered":
            if not previous:
                return None
            return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": key}
        if notice.kind == "quiet-digest":
            return None
        outcome = notice.outcome
        details: dict[str, Any] = {}
        payload: dict[str, Any] = {
            "summary": truncate(clean(" ".join(notice.title().split())), PagerDutyLimits.MAX_SUMMARY),
            "source": truncate(resource_label(outcome) or "backup-responder", 255),
            "severity": SEVERITIES.get(outcome.finding.severity if outcome else "medium", "warning"),
            "component": "backup",
            "custom_details": details,
        }
        if outcome is not None:
            f, finding = outcome.failure, outcome.finding
            payload["group"] = truncate(f.account_id or f.cloud, 255)
            payload["class"] = finding.cause
            if f.time:
                payload["timestamp"] = f.time.isoformat()
            details.update({label: value for label, value in what_failed(outcome)})
            details.update(cause=finding.cause, rule=finding.rule, confidence=finding.confidence)
            if notice.kind in ("failure", "repeat", "group") and \
                    (remediation := remediation_details(outcome.remediation)) is not None:
                details["auto_remediation"] = remediation  # before the long fields: kept when the event is cut
            if f.message:
                details["message"] = truncate(clean(f.message), 4000)
            if outcome.plan is not None:
                details["fix"] = [truncate(clean(s), 2000) for s in outcome.plan.steps]
        if notice.group is not None:
            g = notice.group
            details["storm"] = {"failures": g.events, "resources": g.resources, "sample": g.sample,
                                "window": g.window()}
        if notice.kind == "repeat":
            details["times_seen"] = notice.count
        event: dict[str, Any] = {"routing_key": routing_key, "event_action": "trigger", "dedup_key": key,
                                 "payload": payload, "client": "backup-responder"}
        if outcome is not None and (found := links(outcome)[: PagerDutyLimits.MAX_LINKS]):
            event["links"] = [{"href": url, "text": text} for text, url in found]
        while len(json.dumps(event).encode()) > PagerDutyLimits.MAX_EVENT_BYTES and details:
            details.pop(next(reversed(details)))
        return event

    def preview(self, notice: Notice, previous: Receipt | None) -> dict[str, Any]:
        event = self.event(notice, previous, "<routing key>")
        return {"method": "POST", "url": self.events_url, "json": event} if event else {}

    def send(self, notice: Notice, previous: Receipt | None) -> Receipt:
        event = self.event(notice, previous, self._routing_key)
        if event is None:
            return dict(previous or {})
        request = Request("POST", self.events_url, "POST /v2/enqueue", event)
        data = self.sender.send(request, self.pace_key, self.verdict).json() or {}
        if data.get("status") not in (None, "success"):
            raise DeliveryError(f"pagerduty: {data.get('status')}: {data.get('message')}", retryable=False)
        receipt: Receipt = {"dedup_key": str(data.get("dedup_key") or event["dedup_key"])}
        if event["event_action"] == "resolve":
            receipt["resolved"] = "true"
        return receipt
