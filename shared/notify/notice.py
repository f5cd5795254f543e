"""shared.notify.notice"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from shared.models import Outcome

NoticeKind = Literal["failure", "repeat", "group", "digest", "recovered", "quiet-digest"]


@dataclass(frozen=True)
class GroupInfo:
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
    #: Labels of some of the grouped resources (the first ones).
    sample: list[str]
    opened: float
    closes: float
    #: Fingerprints not yet recovered (for group recovery notices).
    still_failing: int = 0

    def headline(self) -> str:
        """'37 copy jobs failed: <title>' in plain words."""
        what = f"{self.job_type} jobs" if self.job_type else "backup jobs"
        if self.events == 1:
            what = what[:-1]
        on = f" on {self.resources} resources" if self.resources not in (self.events, 1) else ""
        return f"{self.events:,} {what} failed{on}: {self.title}"

    def window(self) -> str:
        start = datetime.fromtimestamp(self.opened, UTC).strftime("%Y-%m-%d %H:%M")
        end = datetime.fromtimestamp(self.closes, UTC).strftime("%H:%M UTC")
        return f"{start}–{end}"


@dataclass(frozen=True)
class Notice:
    """One thing to tell a destination.

    - ``failure``: a new failure (the full message; a new ticket);
    - ``repeat``: the same failure again after the dedup window (comment on the open ticket);
    - ``group``: a storm's running count (update the first message, or post the count);
    - ``digest``: a storm's summary when its window closes;
    - ``recovered``: a later successful job for the same resource (resolve or comment);
    - ``quiet-digest``: what quiet hours held back.
    """

    kind: NoticeKind
    outcome: Outcome | None
    group: GroupInfo | None = None
    fingerprint: str | None = None
    #: How often this failure has been seen (``repeat``).
    count: int = 1
    #: For ``quiet-digest``: (cause, count) pairs, and the period.
    summary: list[tuple[str, int]] = field(default_factory=list)
    period: str | None = None

    def title(self) -> str:
        if self.kind in ("group", "digest") and self.group is not None:
            return self.group.headline()
        if self.kind == "quiet-digest":
            total = sum(n for _, n in self.summary)
            return f"{total:,} backup failures during quiet hours ({self.period})"
        if self.outcome is None:
            return "Backup failure"
        if self.kind == "recovered":
            return recovered_title(self)
        return self.outcome.finding.title


def recovered_title(notice: Notice) -> str:
    f = notice.outcome.failure if notice.outcome else None
    what = (f.resource_name or f.resource_id or "the resource") if f else "the resource"
    if notice.group is not None and notice.group.resources > 1:
        return f"Recovered: all {notice.group.resources:,} resources of '{notice.group.title}' succeeded again"
    job = f.job_type if f is not None and f.job_type else "backup"
    return f"Recovered: a later {job} job for {what} succeeded"


def resource_label(outcome: Outcome | None) -> str:
    if outcome is None:
        return ""
    f = outcome.failure
    return f.resource_name or f.resource_id or f.job_id or f.event_id or ""


def severity_of(notice: Notice) -> str:
    return notice.outcome.finding.severity if notice.outcome else "medium"


def display_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""
