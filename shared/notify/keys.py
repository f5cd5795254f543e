"""Every state key the responder, the grouper and the idempotency layer use, named once.

Keys are plain strings in one ``StateStore`` (DynamoDB, Table storage, SQLite or memory), so two
features can only collide if this module lets them. The spellings are those earlier releases
wrote, so a store written by them is still read correctly. (Auto-remediation keeps its own prefixes,
``remediation:`` ..., in ``shared.remediation``; the Azure endpoint claims ``azure-alert:`` keys.)"""

from __future__ import annotations

import hashlib

from shared.models import Outcome


def outcome_key(outcome: Outcome) -> str:
    """A stable name for one event's outcome: the same event always gets the same file."""
    f = outcome.failure
    basis = "|".join(str(p) for p in (f.cloud, f.event_id, f.job_id, f.state, outcome.finding.cause))
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


def event(event_key: str) -> str:
    """The grouper's decision for one event (kept, so a retry decides the same)."""
    return f"event:{event_key}"


def receipt(event_key: str, sink: str, fingerprint: str | None, kind: str) -> str:
    """One notice of one event posted to one sink: the claim, then the receipt."""
    return f"rcpt:{event_key}:{sink}:{fingerprint or '-'}:{kind}"


def local_receipt(event_key: str, sink: str, kind: str) -> str:
    """One notice written to a local sink (the outbox, the console)."""
    return f"rcpt:{event_key}:{sink}:{kind}"


def held(event_key: str, sink: str) -> str:
    """That quiet hours held this event back from ``sink`` (counted once)."""
    return f"held:{event_key}:{sink}"


def silenced(label: str) -> str:
    return f"silenced:{label}"


def fingerprint(fp: str) -> str:
    """The dedup window of one fingerprint."""
    return f"fp:{fp}"


def seen(fp: str) -> str:
    return f"seen:{fp}"


def open_groups(fp: str) -> str:
    """The storm groups a fingerprint is still failing in (its tickets)."""
    return f"open:{fp}"


def resource(res: str) -> str:
    """The fingerprints still failing on one resource (for recoveries)."""
    return f"res:{res}"


def storm(cloud: str, cause: str, route: str) -> str:
    """The open storm group of one cause on one route."""
    return f"storm:{cloud}:{cause}:{route}"


def group(group_id: str) -> str:
    """A group's counters (events, resources, open)."""
    return f"group:{group_id}"


def group_member(group_id: str, number: int) -> str:
    return f"group:{group_id}:m:{number}"


def group_meta(group_id: str) -> str:
    return f"groupmeta:{group_id}"


#: The number of groups ever opened (the counter behind ``groups_entry``).
GROUPS = "groups"


#: The first group whose digest may still be due.
GROUPS_CURSOR = "groups:cursor"


def groups_entry(number: int) -> str:
    return f"groups:{number}"


def group_update(group_id: str, sink: str, slot: int) -> str:
    """Which event posts a storm's running count to ``sink`` in one update interval."""
    return f"upd:{group_id}:{sink}:{slot}"


def reference(sink: str, group_id: str) -> str:
    """The receipt of a group's first message or ticket on ``sink`` (what later notices refer to)."""
    return f"ref:{sink}:{group_id}"


def digested(group_id: str) -> str:
    return f"digested:{group_id}"


def digest_lock(group_id: str) -> str:
    return f"digestlock:{group_id}"


def digest_attempts(group_id: str) -> str:
    return f"digestattempts:{group_id}"


def digest_receipt(group_id: str, sink: str) -> str:
    """A storm's digest posted to one sink: the claim, then the receipt."""
    return f"rcpt:digest:{group_id}:{sink}"


def digest_local(group_id: str) -> str:
    """The event key under which a digest's local copies are recorded."""
    return f"digest-{group_id}"


def quiet(sink: str, period: str) -> str:
    """What quiet hours held back from ``sink`` in one period, counted per cause."""
    return f"quiet:{sink}:{period}"


def quiet_done(sink: str, period: str) -> str:
    """A quiet period's summary posted to one sink: the claim, then the receipt."""
    return f"quietdone:{sink}:{period}"


def report(period: str, sink: str) -> str:
    """A period's failure report posted to one sink: the claim, then the receipt."""
    return f"report:{period}:{sink}"


def report_local(period: str) -> str:
    """The event key under which a report's local copies are recorded."""
    return f"report-{period}"
