"""What every entry point calls: one event in, delivered messages out, or an exception that tells
the platform to keep the event (retry, dead-letter queue)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.decode import Decoder
from shared.models import Outcome
from shared.pipeline import Delivery, Enricher, Pipeline
from shared.settings import Settings
from shared.sinks import OutboxSink, Sink
from shared.state import MemoryStore, StateStore


class DeliveryFailed(Exception):
    """Some sinks could not deliver; raising it makes the platform retry and finally keep the event."""

    def __init__(self, report: Report) -> None:
        failed = ", ".join(f"{d.sink}: {d.detail}" for d in report.deliveries if not d.ok)
        super().__init__(f"delivery failed ({failed})")
        self.report = report


@dataclass
class Report:
    outcome: Outcome
    deliveries: list[Delivery] = field(default_factory=list)
    skipped: str | None = None


@dataclass
class Responder:
    pipeline: Pipeline
    sinks: Sequence[Sink]
    state: StateStore = field(default_factory=MemoryStore)

    def handle(self, raw: Any) -> Report:
        """Process one event (``EventError`` for bad input) and deliver it to every sink."""
        outcome = self.pipeline.process(raw)
        failure = outcome.failure
        if not failure.failed and not failure.recovered:
            return Report(outcome, skipped=f"state {failure.state or 'unknown'} is not a failure")
        if failure.recovered and outcome.finding.rule is None:
            return Report(outcome, skipped="a successful job with nothing to resolve")
        report = Report(outcome, self.pipeline.deliver(outcome, self.sinks))
        if any(not d.ok and d.retryable for d in report.deliveries):
            raise DeliveryFailed(report)
        return report


def responder_from_env(settings: Settings | None = None, enrichers: Sequence[Enricher] = (),
                       decoder: Decoder | None = None, state: StateStore | None = None) -> Responder:
    """The responder the settings describe."""
    settings = settings or Settings.from_env()
    sinks: list[Sink] = []
    if settings.outbox:
        sinks.append(OutboxSink(settings.outbox))
    pipeline = Pipeline(enrichers=enrichers, decoder=decoder, language=settings.language)
    return Responder(pipeline, sinks, state or MemoryStore())
