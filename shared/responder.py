"""What every entry point calls: one event in, delivered messages out, or an exception that tells
the platform to keep the event (retry, dead-letter queue).

``Responder.handle`` routes the outcome (silences, quiet hours), admits it through the grouper
(dedup, storms), and delivers a notice to each chosen sink. Every post claims its key first and
leaves a receipt in the state store (``shared.notify.idempotency``), so neither a retry of the same event
nor a run at the same time posts again where it already succeeded. When any sink fails,
``DeliveryFailed`` is raised after the others were tried.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
from msgspec import Struct, field

from shared.models import Outcome
from shared.notify import keys
from shared.notify.compose import compose
from shared.notify.config import ReportConfig, ResponderConfig
from shared.notify.grouping import EVENT_TTL, Admission, ClosedGroup, Grouper
from shared.notify.idempotency import Claim, Once
from shared.notify.keys import outcome_key
from shared.notify.message import Message
from shared.notify.notice import GroupInfo, Notice
from shared.notify.router import RouteDecision, Router, period_key
from shared.pipeline import Delivery, Pipeline
from shared.redact import error_text, redact
from shared.sinks import CHAT_TYPES
from shared.sinks.base import DeliveryError, Destination, Receipt
from shared.sinks.http import SYSTEM_CLOCK, Clock, Deadline, deadline_scope
from shared.sinks.local.transport import LocalSink
from shared.state import MemoryStore, StateStore
from shared.vocab import Cloud, NoticeKind

if TYPE_CHECKING:  # the engine is imported only by a responder that remediates (shared.wiring)
    from shared.remediation.engine import RemediationEngine

log = logging.getLogger("backup_responder")
#: A storm's digest is tried at this many flushes at most (its failures were delivered already).
MAX_DIGEST_ATTEMPTS = 20
#: What a run reports for a sink that another run is posting the same notice to right now: a
#: retryable failure, so the event comes back and finds the receipt (or the expired claim).
BUSY = "another run is delivering this notice right now; not posted twice (retry to confirm)"
#: The longest failure detail kept from an unexpected error.
ERROR_DETAIL_CHARS = 300


class DeliveryFailed(Exception):
    """Some sinks could not deliver; raising it makes the platform retry and finally keep the event."""

    def __init__(self, report: Report) -> None:
        failed = ", ".join(f"{d.sink}: {d.detail}" for d in report.deliveries if not d.ok)
        super().__init__(f"delivery failed ({failed})")
        self.report = report


def failures(report: Report) -> list[dict[str, Any]]:
    """The sinks that did not take the message, as every entry point reports them (the Azure 503's
    body, the Lambda's ERROR log): ``refused`` for a permanent refusal, which fixing the sink's
    configuration cures, else a failure that a retry may cure."""
    return [{"sink": d.sink, "refused": not d.retryable, "error": redact(d.detail)} for d in report.failed]


class Report(Struct):
    outcome: Outcome
    deliveries: list[Delivery] = field(default_factory=list)
    skipped: str | None = None
    route: str | None = None
    #: leader, member, duplicate, unfingerprinted, recovered
    role: str | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Delivery]:
        return [d for d in self.deliveries if not d.ok]


class Responder(Struct, dict=True):  # dict: what __post_init__ builds from the fields
    pipeline: Pipeline
    #: Local sinks that get every message (the outbox, the console).
    sinks: Sequence[LocalSink]
    state: StateStore = field(default_factory=MemoryStore)
    config: ResponderConfig = field(default_factory=ResponderConfig)
    #: The configured sinks by name (``shared.sinks.build_destinations``).
    destinations: Mapping[str, Destination] = field(default_factory=dict)
    #: Wall-clock time (storm windows, TTL decisions) and the deadline's clock: the senders' clock.
    clock: Clock = SYSTEM_CLOCK
    #: Render and record, but post nothing: every destination's payload goes to the local sinks.
    dry_run: bool = False
    #: Send closed storms' digests and quiet hours' summaries at the start of each event.
    flush_on_handle: bool = True
    #: Auto-remediation (``shared.remediation``): runs after classification, before delivery, so the
    #: message says what was done. None: not wired here (nothing is ever changed).
    remediation: RemediationEngine | None = None

    def __post_init__(self) -> None:
        self.grouper = Grouper(self.state, self.config.dedup, self.clock.time)
        self.router = Router(self.config, lambda: datetime.fromtimestamp(self.clock.time(), UTC))
        #: Claim, post, record: every post to a sink goes through it (``shared.notify.idempotency``).
        self.once = Once(self.state, self.clock.time)

    # --- entry -------------------------------------------------------------------------------------

    def handle(self, raw: Any, deadline: Deadline | float | None = None) -> Report:
        """Process one event (``EventError`` for bad input) and deliver it where it is routed.

        ``deadline``: the seconds the caller has left (e.g. Lambda's remaining time) or a
        ``Deadline``; no retry waits past it. The seconds count from this call, so the time that
        enrichment and remediation take comes out of them. Raises ``DeliveryFailed`` if a sink failed."""
        limit = self._deadline(deadline)
        outcome = self.pipeline.process(raw)
        failure = outcome.failure
        if not failure.failed and not failure.recovered:
            return Report(outcome, skipped=f"state {failure.state or 'unknown'} is not a failure")
        if self.remediation is not None and failure.failed:
            outcome = self.remediation.run(outcome)  # never raises; the decision is on the outcome
        with deadline_scope(limit):
            if self.flush_on_handle:
                try:
                    self.flush()
                except Exception as exc:  # a digest that fails now is retried by the next flush
                    log.warning("flush failed: %s", exc)
            report = self._recovered(outcome) if failure.recovered else self._failed(outcome)
        if report.failed:
            raise DeliveryFailed(report)
        return report

    def _deadline(self, deadline: Deadline | float | None) -> Deadline | None:
        if deadline is None or isinstance(deadline, Deadline):
            return deadline
        return Deadline.within(float(deadline), self.clock)

    # --- failures ----------------------------------------------------------------------------------

    def _failed(self, outcome: Outcome) -> Report:
        event_key = outcome_key(outcome)
        decision = self.router.route(outcome)
        report = Report(outcome, route=decision.route)
        if decision.silenced is not None:
            silence = decision.silenced
            self.state.increment(keys.silenced(silence.label), "count", 1, self.config.dedup.ticket_ttl)
            report.skipped = f"silenced until {silence.expires.isoformat()}: {silence.reason}"
            report.role = "silenced"
            return report
        admission = self.grouper.admit(outcome, event_key, decision.route, decision.sinks)
        report.role = admission.role
        self._hold(outcome, event_key, decision, admission)
        if admission.role == "duplicate":
            report.skipped = f"the same failure again within the dedup window (seen {admission.count} times)"
            if admission.group:  # it still moves its storm's running count
                plans = self._plan(admission, decision, event_key, outcome)
                self._deliver(report, event_key, plans, plans[0][1] if plans else None)
            return report
        plans = self._plan(admission, decision, event_key, outcome)
        if not plans and admission.role == "member":
            report.skipped = "grouped into the storm's message"
        local = plans[0][1] if plans else None
        if local is None and admission.role in ("leader", "unfingerprinted"):
            local = Notice(NoticeKind.REPEAT if admission.earlier_groups else NoticeKind.FAILURE, outcome,
                           fingerprint=admission.fingerprint, count=admission.count)
        self._deliver(report, event_key, plans, local)
        return report

    def _hold(self, outcome: Outcome, event_key: str, decision: RouteDecision, admission: Admission) -> None:
        """Count what quiet hours hold back (once per event), for the digest when they end."""
        if admission.role == "duplicate":
            return
        for sink, period in decision.held.items():
            if self.state.add(keys.held(event_key, sink), {"at": self.clock.time()}, EVENT_TTL):
                self.state.increment(keys.quiet(sink, period), "c:" + outcome.finding.cause, 1,
                                     self.config.dedup.ticket_ttl)

    def _plan(self, admission: Admission, decision: RouteDecision, event_key: str,
              outcome: Outcome) -> list[tuple[str, Notice, str | None]]:
        """(sink, notice, group whose message or ticket it refers to) for each sink to deliver to."""
        plans: list[tuple[str, Notice, str | None]] = []
        fp, group = admission.fingerprint, admission.group
        for sink in decision.deliver_to:
            destination = self.destinations.get(sink)
            if destination is None:
                continue
            if admission.role in ("leader", "unfingerprinted"):
                kind: NoticeKind = NoticeKind.REPEAT if admission.earlier_groups else NoticeKind.FAILURE
                notice = Notice(kind, outcome, fingerprint=fp, count=admission.count)
                earlier = admission.earlier_groups[-1] if admission.earlier_groups else None
                plans.append((sink, notice, earlier if destination.kind == "ticket" else None))
            elif admission.role in ("member", "duplicate") and group:
                if destination.kind == "ticket" and admission.earlier_groups and admission.role == "member":
                    notice = Notice(NoticeKind.REPEAT, outcome, fingerprint=fp, count=admission.count)
                    plans.append((sink, notice, admission.earlier_groups[-1]))
                elif destination.group_updates and self.grouper.grouped(group) and \
                        self.grouper.claim_update(group, sink, event_key):
                    info = self.grouper.group_info(group)
                    leader = self.grouper.group_outcome(group) or outcome
                    plans.append((sink, Notice(NoticeKind.GROUP, leader, info, fingerprint=fp), group))
        return plans

    # --- recoveries --------------------------------------------------------------------------------

    def _recovered(self, outcome: Outcome) -> Report:
        event_key = outcome_key(outcome)
        recoveries = self.grouper.recover(outcome, event_key)
        report = Report(outcome, role="recovered")
        if not recoveries:
            report.skipped = "a successful job with nothing to resolve"
            return report
        plans: list[tuple[str, Notice, str | None]] = []
        for recovery in recoveries:
            group = recovery.groups[-1]
            meta = self.state.get(keys.group_meta(group)) or {}
            report.route = str(meta.get("route") or "")
            info = self.grouper.group_info(group)
            whole = info is not None and info.resources > 1
            if whole and recovery.still_failing > 0:
                continue  # a storm resolves when its last resource recovers
            notice = Notice(NoticeKind.RECOVERED, outcome, info if whole else None, fingerprint=recovery.fingerprint)
            for sink in meta.get("sinks", []):
                if sink in self.destinations:
                    plans.append((sink, notice, self._newest_group_with_receipt(sink, recovery.groups)))
        if not plans and not any(r.still_failing == 0 for r in recoveries):
            report.skipped = "recovered; the storm it belongs to still has failing resources"
            return report
        local = plans[0][1] if plans else Notice(NoticeKind.RECOVERED, outcome, fingerprint=recoveries[0].fingerprint)
        self._deliver(report, event_key, plans, local)
        return report

    def _newest_group_with_receipt(self, sink: str, groups: list[str]) -> str | None:
        for group in reversed(groups):
            if self.state.get(keys.reference(sink, group)):
                return group
        return groups[-1] if groups else None

    # --- delivery ----------------------------------------------------------------------------------

    def _message(self, notice: Notice, sink: str | None, previous: Receipt | None = None,
                 language: str | None = None) -> Message:
        """The notice in words, in ``language`` or the sink's (else the configuration's, else English)."""
        language = language or getattr(self.config.sinks.get(sink or ""), "language", None) or self.pipeline.language
        if previous and (link := previous.get("url")) and notice.first_link is None:
            notice = msgspec.structs.replace(notice, first_link=link)
        return compose(notice, self.pipeline.classifier.catalog, language)

    def _post(self, sink: str, key: str, send: Callable[[], Receipt], ttl: int | None) -> Claim | Delivery:
        """Claim ``key``, send, record the receipt (``shared.notify.idempotency``). A failure is a
        ``Delivery`` that keeps the event: what the sink refused, or any error on the way (a
        malformed answer, a bug in a sink), never an exception that skips the other sinks."""
        try:
            return self.once.run(key, send, ttl)
        except DeliveryError as exc:
            log.error("delivery to %s failed: %s", sink, redact(str(exc)))
            return Delivery(sink, False, redact(str(exc)), exc.retryable)
        except Exception as exc:
            detail = f"unexpected error while delivering: {error_text(exc)}"[:ERROR_DETAIL_CHARS]
            log.error("delivery to %s failed: %s", sink, detail)
            return Delivery(sink, False, detail, retryable=True)

    def _deliver(self, report: Report, event_key: str, plans: list[tuple[str, Notice, str | None]],
                 local: Notice | None) -> None:
        payloads: dict[str, Any] = {}
        seen_refs: set[tuple[str, str]] = set()
        for sink, notice, group in plans:
            destination = self.destinations[sink]
            previous = self.state.get(keys.reference(sink, group)) if group else None
            if notice.kind == "recovered":
                if destination.kind == "ticket" and not previous:
                    continue
                identity = (sink, repr(sorted((previous or {}).items())))
                if previous and identity in seen_refs:
                    continue  # one ticket reached through two groups: resolve it once
                seen_refs.add(identity)
            report.notices.append(f"{sink}:{notice.kind}")
            receipt_key = keys.receipt(event_key, sink, notice.fingerprint, notice.kind)
            message = self._message(notice, sink, previous)
            try:
                payloads[sink] = destination.preview(message, previous)
            except Exception as exc:  # a preview is a copy for people: never fatal
                payloads[sink] = {"error": f"{type(exc).__name__}"}
            if self.once.receipt(receipt_key) is not None:
                report.deliveries.append(Delivery(sink, True, "already delivered"))
                continue
            if self.dry_run:
                report.deliveries.append(Delivery(sink, True, "dry run: not sent"))
                continue
            posted = self._post(sink, receipt_key, functools.partial(destination.send, message, previous), EVENT_TTL)
            if isinstance(posted, Delivery):
                report.deliveries.append(posted)
                continue
            if posted.state != "claimed":
                report.deliveries.append(Delivery(sink, True, "already delivered") if posted.state == "done"
                                         else Delivery(sink, False, BUSY, retryable=True))
                continue
            receipt = posted.receipt or {}
            if notice.kind in ("failure", "repeat") and receipt:
                admitted = self.state.get(keys.event(event_key)) or {}
                current = admitted.get("group")
                if current and not self.state.get(keys.reference(sink, current)):
                    self.state.put(keys.reference(sink, current), receipt, self.config.dedup.ticket_ttl)
            report.deliveries.append(Delivery(sink, True, _describe(receipt)))
        if local is not None:
            self._write_local(report, event_key, local, payloads)

    def _write_local(self, report: Report, event_key: str, notice: Notice, payloads: dict[str, Any]) -> None:
        report.deliveries += self._local_copies(event_key, notice, payloads)

    def _local_copies(self, event_key: str, notice: Notice, payloads: dict[str, Any],
                      language: str | None = None) -> list[Delivery]:
        """Local copies (the outbox, the console): written by every run that handles the event (a
        file of the same name is replaced), recorded so a retry does not write them again."""
        message = self._message(notice, None, language=language)
        deliveries: list[Delivery] = []
        for sink in self.sinks:
            receipt_key = keys.local_receipt(event_key, sink.name, notice.kind)
            if self.once.receipt(receipt_key) is not None:
                deliveries.append(Delivery(sink.name, True, "already delivered"))
                continue
            try:
                detail = sink.write(notice, message, payloads)
            except DeliveryError as exc:
                deliveries.append(Delivery(sink.name, False, str(exc), exc.retryable))
                continue
            self.state.put(receipt_key, {"detail": detail}, EVENT_TTL)
            deliveries.append(Delivery(sink.name, True, detail))
        return deliveries

    # --- digests -----------------------------------------------------------------------------------

    def flush(self, deadline: Deadline | float | None = None) -> list[Delivery]:
        """Send the digests of storms whose window has closed, and the summaries of quiet hours that
        have ended. Call it on a schedule (and it runs at the start of every event). A digest that
        another flush is posting right now is left to it (a crashed one's claim expires, and the
        next scheduled flush posts it)."""
        with deadline_scope(self._deadline(deadline)) if deadline is not None else contextlib.nullcontext():
            deliveries: list[Delivery] = []
            for closed in self.grouper.closed_groups():
                deliveries += self._digest(closed)
            deliveries += self._quiet_digests()
            return deliveries

    def _digest(self, closed: ClosedGroup) -> list[Delivery]:
        info = closed.info
        if info.events <= 1:
            self.grouper.mark_digested(closed)
            return []
        if not self.state.add(keys.digest_lock(info.id), {"at": self.clock.time()}, 120):
            return []
        deliveries: list[Delivery] = []
        notice = Notice(NoticeKind.DIGEST, closed.outcome, info)
        now = datetime.fromtimestamp(self.clock.time(), UTC)
        payloads: dict[str, Any] = {}
        busy = False
        try:
            for sink in closed.sinks:
                destination = self.destinations.get(sink)
                if destination is None:
                    continue
                if destination.kind == "chat" and closed.outcome is not None and self._quiet_now(
                        sink, closed.outcome.finding.severity, now):
                    continue  # the quiet hours' summary counts these
                receipt_key = keys.digest_receipt(info.id, sink)
                previous = self.state.get(keys.reference(sink, info.id))
                message = self._message(notice, sink, previous)
                payloads[sink] = destination.preview(message, previous)
                if self.dry_run or self.once.receipt(receipt_key) is not None:
                    continue
                posted = self._post(sink, receipt_key, functools.partial(destination.send, message, previous),
                                    self.config.dedup.ticket_ttl)
                if isinstance(posted, Delivery):
                    deliveries.append(posted)
                elif posted.state == "claimed":
                    deliveries.append(Delivery(sink, True, "digest " + _describe(posted.receipt)))
                else:
                    busy = busy or posted.state == "busy"
            local = Report(closed.outcome or _placeholder_outcome(info))
            self._write_local(local, keys.digest_local(info.id), notice, payloads)
            deliveries += local.deliveries
            if busy:
                return deliveries  # another flush is posting part of it: it marks the group
            attempts = self.state.increment(keys.digest_attempts(info.id), "n", 1, self.config.dedup.ticket_ttl)
            if all(d.ok for d in deliveries):
                self.grouper.mark_digested(closed)
            elif attempts >= MAX_DIGEST_ATTEMPTS:
                log.error("storm %s: digest not delivered after %d attempts; giving up on it", info.id, attempts)
                self.grouper.mark_digested(closed)
        finally:
            self.state.delete(keys.digest_lock(info.id))
        return deliveries

    def _quiet_now(self, sink: str, severity: str, now: datetime) -> bool:
        sink_type = self.config.sink_type(sink) if sink in self.config.sinks else ""
        return any(q.period(now) is not None and q.holds(sink, sink_type, severity) for q in self.config.quiet_hours)

    def _quiet_digests(self) -> list[Delivery]:
        """One summary per sink and ended quiet period, claimed before it is posted (as storm
        digests are), so flushes running at the same time post it once."""
        deliveries: list[Delivery] = []
        now = datetime.fromtimestamp(self.clock.time(), UTC)
        for quiet in self.config.quiet_hours:
            ended = quiet.last_ended(now)
            if ended is None:
                continue
            period = period_key(*ended)
            sinks = quiet.sinks or [n for n, s in self.config.sinks.items() if s.type in CHAT_TYPES]
            for sink in sinks:
                held = self.state.get(keys.quiet(sink, period))
                destination = self.destinations.get(sink)
                done_key = keys.quiet_done(sink, period)
                if not held or destination is None or self.dry_run or self.once.receipt(done_key) is not None:
                    continue
                summary = sorted(((k[2:], int(v)) for k, v in held.items() if k.startswith("c:")),
                                 key=lambda item: (-item[1], item[0]))
                notice = Notice(NoticeKind.QUIET_DIGEST, None, summary=summary, period=period)
                send = functools.partial(destination.send, self._message(notice, sink), None)
                posted = self._post(sink, done_key, send, self.config.dedup.ticket_ttl)
                if isinstance(posted, Delivery):
                    deliveries.append(posted)
                elif posted.state == "claimed":
                    deliveries.append(Delivery(sink, True, "quiet hours summary"))
        return deliveries

    # --- the scheduled failure report ----------------------------------------------------------

    def send_report(self, summary: Mapping[str, Any], period: str,
                    deadline: Deadline | float | None = None) -> list[Delivery]:
        """Post the failure report ``summary`` (``Aggregate.summary``) of ``period`` to the sinks of
        the configuration's ``report`` section, once per period and sink: each post claims
        ``keys.report(period, sink)`` first, so a second schedule or a retry posts nowhere twice
        (another run posting it right now is a retryable failure). Nothing without the section."""
        if self.config.report is None:
            return []
        with deadline_scope(self._deadline(deadline)) if deadline is not None else contextlib.nullcontext():
            return self._send_report(summary, period, self.config.report)

    def _send_report(self, summary: Mapping[str, Any], period: str, settings: ReportConfig) -> list[Delivery]:
        notice = Notice(NoticeKind.REPORT, None, period=period, report=summary)
        # A receipt outlives its period, so no run in the same period can post it again.
        ttl = max(self.config.dedup.ticket_ttl, 2 * settings.since)
        deliveries: list[Delivery] = []
        payloads: dict[str, Any] = {}
        for sink in settings.sinks:
            destination = self.destinations.get(sink)
            if destination is None:
                continue
            message = self._message(notice, sink, language=settings.language)
            payloads[sink] = destination.preview(message, None)
            if self.dry_run:
                deliveries.append(Delivery(sink, True, "dry run: not sent"))
                continue
            posted = self._post(sink, keys.report(period, sink), functools.partial(destination.send, message, None),
                                ttl)
            if isinstance(posted, Delivery):
                deliveries.append(posted)
            elif posted.state == "claimed":
                deliveries.append(Delivery(sink, True, "report " + _describe(posted.receipt)))
            else:
                deliveries.append(Delivery(sink, True, "already delivered") if posted.state == "done"
                                  else Delivery(sink, False, BUSY, retryable=True))
        return deliveries + self._local_copies(keys.report_local(period), notice, payloads, settings.language)


def _placeholder_outcome(info: GroupInfo) -> Outcome:
    from shared.models import Failure, Finding

    return Outcome(failure=Failure(cloud=Cloud.AWS if info.cloud == "aws" else Cloud.AZURE),
                   finding=Finding(cause=info.cause, rule=None, code=None, confidence=0, title=info.title))


def _describe(receipt: Mapping[str, str] | None) -> str:
    if not receipt:
        return "sent"
    for name in ("key", "number", "ts", "dedup_key", "sys_id", "status"):
        if receipt.get(name):
            return f"{name} {receipt[name]}"
    return "sent"
