"""What the responder tells a sink: a ``Notice`` (a failure, a storm update, a digest, a recovery,
a quiet hours' summary, a period's failure report). It holds facts, not words:
``shared.notify.compose`` words it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from msgspec import Struct, field

from shared.models import Outcome
from shared.vocab import NoticeKind


class GroupInfo(Struct, frozen=True):
    """A storm: failures of one cause grouped into one message."""

    id: str
    cloud: str
    cause: str
    title: str
    job_type: str | None
    #: Failure events in the group (duplicates included).
    events: int
    #: Distinct failures (fingerprints) in the group.
    resources: int
    #: Labels of the newest grouped resources, newest first.
    sample: list[str]
    opened: float
    closes: float
    #: Fingerprints not yet recovered (for group recovery notices).
    still_failing: int = 0

    def window(self) -> str:
        start = datetime.fromtimestamp(self.opened, UTC).strftime("%Y-%m-%d %H:%M")
        end = datetime.fromtimestamp(self.closes, UTC).strftime("%H:%M UTC")
        return f"{start}–{end}"


class Notice(Struct, frozen=True):
    """One thing to tell a destination (see ``NoticeKind``)."""

    kind: NoticeKind
    outcome: Outcome | None
    group: GroupInfo | None = None
    fingerprint: str | None = None
    #: How often this failure has been seen (``repeat``).
    count: int = 1
    #: For ``quiet-digest``: (cause, count) pairs, and the period (also a ``report``'s).
    summary: list[tuple[str, int]] = field(default_factory=list)
    period: str | None = None
    #: For ``report``: the failure report's summary (``shared.report.aggregate.Aggregate.summary``).
    report: Mapping[str, Any] | None = None
    #: The storm's first message or the open ticket, where the sink gave a link to it.
    first_link: str | None = None


def resource_label(outcome: Outcome | None) -> str:
    """How a failure's resource is named in a storm's list and a ticket's title."""
    if outcome is None:
        return ""
    f = outcome.failure
    return f.resource_name or f.resource_id or f.job_id or f.event_id or ""
