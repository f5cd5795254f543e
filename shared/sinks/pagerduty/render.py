"""PagerDuty: a ``Message`` as an Events API v2 event. Its ``custom_details`` are plain JSON values
(never markup), the long ones last, so that an event cut to the size limit keeps what matters."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from shared.notify.message import Decision, Message
from shared.sinks.base import Limits, clean, truncate
from shared.sinks.document import pieces, plain
from shared.vocab import NoticeKind


class PagerDutyLimits(Limits):
    #: ``payload.summary``: "A brief text summary of the event ... Maximum of 1024 characters."
    MAX_SUMMARY = MAX_SUBJECT = 1024
    #: ``dedup_key``: "Maximum of 255 characters."
    MAX_DEDUP_KEY = 255
    #: An event may be at most 512 KB (Events API v2 overview).
    MAX_EVENT_BYTES = 512 * 1024
    #: Events API v2: 120 events per minute per routing key; a 429 says to slow down.
    SECONDS_PER_EVENT = 0.5
    #: ``links``: we send the console pages and docs; PagerDuty shows the first few.
    MAX_LINKS = 5


SEVERITIES = {"critical": "critical", "high": "error", "medium": "warning", "low": "info"}


def remediation_details(decision: Decision | None) -> dict[str, Any] | None:
    """What auto-remediation decided, for ``custom_details``."""
    if decision is None:
        return None
    details: dict[str, Any] = {"decision": truncate(clean(decision.headline), 2000), "action": decision.action,
                               "mode": decision.mode, "audit_id": decision.audit_id}
    # The decision's sentences, as compose worded them: the warning, the approval hint, the audit line.
    if decision.needs_person:
        details["needs_person"] = decision.lines[0]
    if decision.approval_id:
        details["approval"] = decision.lines[int(decision.needs_person)]
    if decision.notes:
        details["notes"] = [truncate(clean(note), 1000) for note in decision.notes[:10]]
    if decision.diff:
        details["diff"] = truncate(clean(decision.diff), 4000)
    return details


def dedup_key(message: Message, previous: dict[str, str] | None) -> str:
    key = (previous or {}).get("dedup_key") or message.fingerprint
    if not key and message.storm_id:
        key = "storm-" + message.storm_id
    return truncate(key or message.resource or "backup-responder", PagerDutyLimits.MAX_DEDUP_KEY, marker="")


def event(message: Message, previous: dict[str, str] | None, routing_key: str) -> dict[str, Any] | None:
    """The event for a message: ``trigger`` (a failure, a repeat, a storm's digest), ``resolve``
    (a recovery of an alert this sink opened), or None (nothing to say to PagerDuty)."""
    key = dedup_key(message, previous)
    if message.kind == NoticeKind.RECOVERED:
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": key} if previous else None
    if message.kind == NoticeKind.QUIET_DIGEST:
        return None
    details: dict[str, Any] = dict(message.facts)
    if message.cause:
        details["context"] = list(message.context)
    if (remediation := remediation_details(message.decision)) is not None:
        details["auto_remediation"] = remediation  # before the long fields: kept when the event is cut
    if message.kind == NoticeKind.REPEAT:
        details["times_seen"] = message.times_seen
    # The whole message as text, in the order a person reads it: the error, the steps with their
    # commands, the lookups, the roles (the long part: cut first).
    details["details"] = truncate(clean(plain(pieces(message, links=False, footer=False))), 60_000)
    payload: dict[str, Any] = {
        "summary": PagerDutyLimits.fit(msgspec.structs.replace(message, subject=message.title)).subject,
        "source": truncate(message.resource or "backup-responder", 255),
        "severity": SEVERITIES.get(message.severity, "warning"),
        "component": "backup",
        "custom_details": details,
    }
    if message.cause:
        payload["group"] = truncate(message.account, 255)
        payload["class"] = message.cause
    if message.time:
        payload["timestamp"] = message.time
    result: dict[str, Any] = {"routing_key": routing_key, "event_action": "trigger", "dedup_key": key,
                              "payload": payload, "client": "backup-responder"}
    if message.links:
        shown = message.links[: PagerDutyLimits.MAX_LINKS]
        result["links"] = [{"href": link.url, "text": link.label} for link in shown]
    while len(json.dumps(result).encode()) > PagerDutyLimits.MAX_EVENT_BYTES and details:
        details.pop(next(reversed(details)))
    return result
