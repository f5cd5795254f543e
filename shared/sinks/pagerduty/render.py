"""PagerDuty: Events API v2. A failure triggers an alert whose ``dedup_key`` is the failure's
fingerprint (or its storm's), so PagerDuty folds repeats into the open alert; a recovery sends
``resolve`` with the same key."""

from __future__ import annotations

from typing import Any

from shared.models import RemediationSummary
from shared.remediation.render import diff_lines, headline
from shared.sinks.base import clean, truncate


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
