"""Routing: which sinks hear about a failure. Routes are tried in order, the first whose ``match``
fits wins; silences keep failures out of every sink (still counted); quiet hours hold chat sinks back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from msgspec import Struct, field

from shared.models import Outcome
from shared.notify.config import ResponderConfig, Silence


class RouteDecision(Struct):
    route: str
    sinks: list[str]
    silenced: Silence | None = None
    #: Sinks held back by quiet hours, with the period key (for the digest).
    held: dict[str, str] = field(default_factory=dict)

    @property
    def deliver_to(self) -> list[str]:
        return [] if self.silenced else [s for s in self.sinks if s not in self.held]


def period_key(start: datetime, end: datetime) -> str:
    return f"{start.strftime('%Y-%m-%dT%H:%M')}..{end.strftime('%Y-%m-%dT%H:%M%z')}"


class Router:
    def __init__(self, config: ResponderConfig, clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.clock = clock or (lambda: datetime.now(UTC))

    def route(self, outcome: Outcome, now: datetime | None = None) -> RouteDecision:
        now = now or self.clock()
        cfg = self.config
        decision: RouteDecision | None = None
        for route in cfg.routes:
            if route.match is None or route.match.matches(outcome):
                decision = RouteDecision(route.name, list(route.sinks))
                break
        if decision is None:
            if cfg.default:
                decision = RouteDecision("default", list(cfg.default))
            elif not cfg.routes:
                decision = RouteDecision("all", list(cfg.sinks))
            else:  # unreachable: validation requires a catch-all
                decision = RouteDecision("none", [])
        for silence in cfg.silences:
            if silence.active(now) and silence.match.matches(outcome):
                decision.silenced = silence
                break
        severity = outcome.finding.severity
        for quiet in cfg.quiet_hours:
            period = quiet.period(now)
            if period is None:
                continue
            for sink in decision.sinks:
                if sink not in decision.held and quiet.holds(sink, cfg.sink_type(sink), severity):
                    decision.held[sink] = period_key(*period)
        return decision


def describe_route(outcome: Outcome, decision: RouteDecision) -> str:
    finding = outcome.finding
    head = f"{finding.cause} ({finding.severity}) -> route {decision.route!r}"
    if decision.silenced is not None:
        return f"{head}: SILENCED ({decision.silenced.reason})"
    sinks = [s + (" (held: quiet hours)" if s in decision.held else "") for s in decision.sinks]
    return f"{head} -> {', '.join(sinks) or 'no sink'}"
