"""The scheduled failure report (the weekly digest): the jobs of the last ``report.since`` read live,
grouped by cause as ``backup-responder report`` groups them, and posted to the ``report`` section's
chat sinks once per period.

A period is ``report.since`` long, counted from a Monday (so 7-day periods are ISO weeks, Monday
00:00 UTC on), and named ``FIRST-DAY/LENGTH`` (``2026-11-30/7d``). However many schedules or
retries run in one period, each sink gets its report once (``Responder.send_report``).

Pure: the entry points hand in the pages their cloud SDK read (``functions.aws.jobs``,
``functions.azure.jobs``); an error reading them is theirs to raise, so nothing half-read is posted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from msgspec import Struct, field

from shared.notify import keys
from shared.notify.types import duration_text
from shared.pipeline import Delivery, Pipeline
from shared.report.aggregate import Aggregate
from shared.report.sources import read_value
from shared.responder import Responder
from shared.sinks.http import Deadline

log = logging.getLogger("backup_responder.report")

#: A Monday: periods are counted from it, so that 7-day periods are ISO weeks.
PERIOD_ORIGIN = datetime(1970, 1, 5, tzinfo=UTC)

#: ``(where, page)``: one page of a job list as the AWS CLI or ``az graph query`` prints it.
Page = tuple[str, Mapping[str, Any]]


def period_of(now: datetime, length: int) -> str:
    """The name of the period of ``length`` seconds that ``now`` falls in (``2026-11-30/7d``)."""
    start = PERIOD_ORIGIN + timedelta(seconds=int((now - PERIOD_ORIGIN).total_seconds()) // length * length)
    first = f"{start:%Y-%m-%d}" if length % 86400 == 0 else f"{start:%Y-%m-%dT%H%MZ}"
    return f"{first}/{duration_text(length)}"


def summarise(pages: Iterable[Page], pipeline: Pipeline, since: datetime | None,
              language: str = "en") -> dict[str, Any]:
    """The report's summary (``Aggregate.summary``) of every job on ``pages``, classified as
    ``classify`` does, the causes' titles in ``language`` where the catalog has them; a record
    that cannot be read is counted in ``errors`` (and logged)."""
    report = Aggregate(pipeline.classifier.catalog, since=since, language=language)
    for where, page in pages:
        for read in read_value(page, where, pipeline.parse):
            if read.failure is None:
                report.errors += 1
                log.warning("%s: %s", read.where, read.error or "unreadable")
                continue
            report.add(read.failure, pipeline.classifier.classify(read.failure))
    return report.summary()


class ReportRun(Struct, frozen=True):
    """What one scheduled run did: the period, the summary it posted (None when every sink had
    this period's report already, and nothing was read), and each sink's delivery."""

    period: str
    summary: dict[str, Any] | None = None
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def failed(self) -> list[Delivery]:
        return [d for d in self.deliveries if not d.ok]


def send_scheduled_report(responder: Responder, pages: Callable[[datetime], Iterable[Page]],
                          now: datetime | None = None, deadline: Deadline | float | None = None) -> ReportRun | None:
    """Read ``pages(since)``, summarise and post this period's report; None when the configuration
    has no ``report`` section (off). When every sink has this period's report already, nothing is
    read or posted. ``deadline``: as ``Responder.handle``'s, for the posts."""
    settings = responder.config.report
    if settings is None:
        return None
    now = now or datetime.fromtimestamp(responder.clock.time(), UTC)
    period = period_of(now, settings.since)
    sinks = [s for s in settings.sinks if s in responder.destinations]
    if all(responder.once.receipt(keys.report(period, sink)) is not None for sink in sinks):
        return ReportRun(period, None, [Delivery(sink, True, "already delivered") for sink in sinks])
    since = now - timedelta(seconds=settings.since)
    language = settings.language or responder.pipeline.language or "en"
    summary = summarise(pages(since), responder.pipeline, since, language)
    return ReportRun(period, summary, responder.send_report(summary, period, deadline))
