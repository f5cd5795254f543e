"""PagerDuty: Events API v2. A failure triggers an alert whose ``dedup_key`` is the failure's
fingerprint (or its storm's), so PagerDuty folds repeats into the open alert; a recovery sends
``resolve`` with the same key."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from shared.delivery.base import DestinationKind, Notice, Receipt, clean, resource_label, truncate
from shared.delivery.http import Request, Response, Sender, Verdict, default_verdict
from shared.models import RemediationSummary
from shared.remediation.render import diff_lines, headline
from shared.render import links, what_failed
from shared.sinks import DeliveryError


class PagerDutyLimits:
    #: ``payload.summary``: "A brief text summary of the event ... Maximum of 1024 characters."
    MAX_SUMMARY = 1024
    #: ``dedup_key``: "Maximum of 255 characters."
    MAX_DEDUP_KEY = 255
    #: An event may be at most 512 KB (Events API v2 overview).
    MAX_EVENT_BYTES = 512 * 1024
    #: Events API v2: 120 events per minute per routing key; a 429 says to slow down.
    SECONDS_PER_EVENT = 0.5
    #: ``links``: we send the console pages and docs; PagerDuty shows the first few.
    MAX_LINKS = 5


SEVERITIES = {"critical": "critical", "high": "error", "medium": "warning", "low": "info"}


def remediation_details(summary: RemediationSummary | None) -> dict[str, Any] | None:
    """What auto-remediation decided, for ``custom_details`` (plain JSON values, never markup)."""
    if summary is None or (head := headline(summary)) is None:
        return None
    details: dict[str, Any] = {"decision": truncate(clean(head), 2000), "action": summary.action,
                               "mode": summary.mode, "audit_id": summary.audit_id}
    if summary.needs_person:
        details["needs_person"] = "A person must look at this: automation stopped here."
    if summary.action == "planned" and summary.approval_id:
        details["approval"] = 'An approver can make this change with "Apply fix" in chat.'
    if summary.notes:
        details["notes"] = [truncate(clean(note), 1000) for note in summary.notes[:10]]
    if diff := diff_lines(summary):
        details["diff"] = truncate(clean("\n".join(diff)), 4000)
    return details


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
