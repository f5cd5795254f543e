"""The remediation engine: mode × allow-list × guardrails → a decision, then (only in mode ``on``,
or when a person approved it in chat) the change, its verification and, optionally, the job again.

The order of the checks, each one stopping the rest:

1. mode ``off`` (the default): nothing is read, nothing is changed → ``notified``;
2. no automatic fix for the cause, or one that always needs a person → ``notified`` (with why);
3. the cause (account, subscription, tags) is not in the allow-list → ``suppressed``;
4. the decoded message shows an explicit Deny or a foreign principal/resource → ``refused``;
5. the circuit breaker is open for the resource, or trips now → ``refused`` (a person must look);
6. the remediator plans the change from the current state (read only); it refuses what it must
   not do (missing facts, validation, already in place) → ``refused``;
7. the change would remove or narrow something, or reach outside the failure's account → ``refused``;
8. the change carries a ``risk`` (passing a role with administrator-level permissions...) →
   ``planned`` with the risk, for a person to approve in chat (``refused`` when no one may);
   mode ``dry-run``, or an entry that requires approval → ``planned`` (with an approval id when
   people may approve it from chat);
9. the rate limits → ``refused``; then apply, verify → ``applied`` or ``failed``; restart the job
   when the entry asks for it.

Every decision is written to the audit trail and summarised on the outcome for the message.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from msgspec import Struct, field

from shared.models import Outcome, RemediationAction, RemediationSummary
from shared.remediation import guardrails
from shared.remediation.audit import AuditRecord, AuditTrail, new_audit_id
from shared.remediation.changes import (
    AlreadyInPlace,
    Applied,
    Change,
    JobRestarter,
    RemediationRefused,
    Remediator,
    TagReader,
)
from shared.remediation.config import OPTION_FACTS, AllowEntry, RemediationConfig, load_remediation_config
from shared.settings import RemediationMode, Settings
from shared.state import MemoryStore, StateStore

log = logging.getLogger("backup_responder.remediation")

PENDING_PREFIX = "remediation:pending:"
APPROVED_PREFIX = "remediation:approved:"
DECIDED_PREFIX = "remediation:decided:"
#: A redelivered event gets the decision of its first delivery for this long (at-least-once delivery).
DECIDED_TTL_SECONDS = 3 * 24 * 3600
RESTARTABLE_JOB_TYPES = ("copy", "restore")
#: The diff kept with a pending approval (the page that confirms it shows it); the state stores
#: keep items small (Azure Table storage: 32,000 characters).
MAX_PENDING_DIFF_CHARS = 8_000


class Decision(Struct):
    """One remediation decision (the audit record holds the same, plus the documents)."""

    mode: str
    action: RemediationAction
    cause: str
    reason: str | None = None
    kind: str | None = None
    change: Change | None = None
    applied: Applied | None = None
    restarted_job_id: str | None = None
    restart_error: str | None = None
    needs_person: bool = False
    approval_id: str | None = None
    audit_id: str = field(default_factory=new_audit_id)
    actor: str = "auto"
    notes: list[str] = field(default_factory=list)
    #: The summary of an earlier delivery of the same event (its decision is not made twice).
    replayed: RemediationSummary | None = None

    def summary(self) -> RemediationSummary:
        if self.replayed is not None:
            return self.replayed
        change = self.change
        return RemediationSummary(
            mode=self.mode, action=self.action, reason=self.reason, kind=self.kind,
            target=change.target if change else None,
            change=change.summary if change else None,
            done=change.done if change else None,
            diff=(change.diff() or None) if change and self.action in ("planned", "applied") else None,
            restarted_job_id=self.restarted_job_id, restart_error=self.restart_error,
            needs_person=self.needs_person, approval_id=self.approval_id, audit_id=self.audit_id,
            actor=self.actor, notes=[*(change.notes if change else []), *self.notes],
        )


def _failure_ok(outcome: Outcome) -> bool:
    return outcome.failure.failed and not outcome.failure.recovered


class RemediationEngine(Struct, dict=True):  # dict: the guards __post_init__ builds
    """Decides and applies fixes for classified outcomes (see the module docstring)."""

    config: RemediationConfig = field(default_factory=RemediationConfig)
    #: ``RESPONDER_AUTO_REMEDIATE``; the configuration's ``mode`` can only make it stricter.
    switch: RemediationMode = "off"
    state: StateStore = field(default_factory=MemoryStore)
    remediators: Sequence[Remediator] = ()
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        self.audit = AuditTrail(self.state, self.clock)
        self.limiter = guardrails.RateLimiter(self.state, self.config.limits, self.clock)
        self.breaker = guardrails.CircuitBreaker(self.state, self.config.limits, self.clock)

    @property
    def mode(self) -> RemediationMode:
        return self.config.effective_mode(self.switch)

    # ------------------------------------------------------------------ entry points
    def run(self, outcome: Outcome) -> Outcome:
        """The outcome with its remediation summary; never raises (an error is a ``failed`` decision)."""
        if not _failure_ok(outcome):
            return outcome
        try:
            decision = self.decide(outcome)
        except Exception as exc:  # the message must still go out
            log.exception("remediation of %s failed unexpectedly", outcome.finding.cause)
            decision = Decision(mode=self.mode, action="failed", cause=outcome.finding.cause,
                                reason=f"the remediation engine failed ({type(exc).__name__})", needs_person=True)
            self._record(outcome, decision)
        return outcome.model_copy(update={"remediation": decision.summary()})

    def decide(self, outcome: Outcome, actor: str = "auto", approved: bool = False,
               approval_id: str | None = None) -> Decision:
        """Decide (and, when allowed, apply) the fix for one outcome, and audit the decision.
        ``approved``: a person approved it in chat (``approval_id``), so it is applied in mode
        ``dry-run`` too; every other check still applies."""
        decided_key = DECIDED_PREFIX + guardrails.event_key(outcome.failure) + "|" + outcome.finding.cause
        if not approved:
            previous = self.state.get(decided_key)
            if previous:
                summary = RemediationSummary.model_validate(previous)
                log.info("remediation already decided for this event: %s", summary.action)
                return self._from_summary(summary, outcome)
        decision = self._decide(outcome, actor, approved)
        if approval_id:
            decision.approval_id = approval_id
        self._record(outcome, decision)
        if not approved:
            kept = decision.summary().model_dump(mode="json")
            if kept.get("diff") and len(kept["diff"]) > MAX_PENDING_DIFF_CHARS:  # state stores keep items small
                kept["diff"] = kept["diff"][:MAX_PENDING_DIFF_CHARS] + "\n… (truncated; see the audit record)"
            try:
                self.state.put(decided_key, kept, ttl_seconds=DECIDED_TTL_SECONDS)
            except Exception as exc:  # the decision stands; only a redelivery would decide again
                log.warning("the remediation decision could not be remembered: %s", type(exc).__name__)
        return decision

    def approve(self, approval_id: str, actor: str) -> Decision | None:
        """Apply a planned fix that ``actor`` approved in chat, through the same guardrails.
        None when the approval id is unknown or expired."""
        pending = self.state.get(PENDING_PREFIX + approval_id)
        if not pending:
            return None
        outcome = Outcome.model_validate(pending["outcome"])
        if self.mode == "off":
            decision = Decision(mode="approved", action="refused", cause=outcome.finding.cause, actor=actor,
                                reason="auto-remediation is off (RESPONDER_AUTO_REMEDIATE), so nothing is changed, "
                                       "even when approved", approval_id=approval_id)
            self._record(outcome, decision)
            return decision
        if not self.state.add(APPROVED_PREFIX + approval_id, {"actor": actor}, ttl_seconds=3600):
            decision = Decision(mode="approved", action="refused", cause=outcome.finding.cause, actor=actor,
                                reason="this fix is already being applied or was applied", approval_id=approval_id,
                                needs_person=False)
            self._record(outcome, decision)
            return decision
        decision = self.decide(outcome, actor=actor, approved=True, approval_id=approval_id)
        if decision.action == "applied":
            self.state.delete(PENDING_PREFIX + approval_id)
        else:  # nothing changed: a later approval may try again
            self.state.delete(APPROVED_PREFIX + approval_id)
        return decision

    def pending(self, approval_id: str) -> dict[str, Any] | None:
        """The planned fix waiting for approval: the outcome, the change and its diff."""
        return self.state.get(PENDING_PREFIX + approval_id) if approval_id else None

    def pending_outcome(self, approval_id: str) -> Outcome | None:
        pending = self.pending(approval_id)
        return Outcome.model_validate(pending["outcome"]) if pending else None

    # ------------------------------------------------------------------ the decision
    def _remediator(self, kind: str) -> Remediator | None:
        return next((r for r in self.remediators if kind in r.kinds), None)

    def _decide(self, outcome: Outcome, actor: str, approved: bool) -> Decision:
        failure, finding, plan = outcome.failure, outcome.finding, outcome.plan
        mode = "approved" if approved else self.mode
        cause = finding.cause

        def decision(action: RemediationAction, reason: str | None = None, **extra: Any) -> Decision:
            return Decision(mode=mode, action=action, cause=cause, reason=reason, actor=actor, **extra)

        if self.mode == "off":
            return decision("notified", "auto-remediation is off")
        kind = plan.auto_fix if plan is not None else "none"
        never = guardrails.manual_reason(cause)
        if never:
            return decision("notified", f"never automated: {never}", kind=kind)
        if plan is None or kind == "none":
            why = ((plan.manual_reason if plan is not None else None)
                   or "the catalog has no automatic fix for this failure")
            return decision("notified", f"needs a person: {why}")

        entry, why_not = self.config.entry_for(failure, cause, kind)
        if entry is None:
            return decision("suppressed", why_not, kind=kind)
        try:
            guardrails.check_decoded(failure, finding)
            self.breaker.check(failure, cause)
        except RemediationRefused as exc:
            return decision("refused", exc.reason, kind=kind, needs_person=exc.needs_person)

        remediator = self._remediator(kind)
        if remediator is None:
            return decision("refused", f"no {failure.cloud} adapter that applies {kind} is configured here", kind=kind)
        if entry.tags:
            tag_problem = self._tags_problem(remediator, entry, outcome)
            if tag_problem:
                return decision("suppressed", tag_problem, kind=kind)

        try:
            placed = _with_entry_options(outcome, entry)
            change = remediator.plan_change(placed)
            guardrails.check_change(change, placed.failure)
        except AlreadyInPlace as exc:
            return decision("refused", f"already in place: {exc.reason}; so this failure has another cause",
                            kind=kind, needs_person=True)
        except RemediationRefused as exc:
            return decision("refused", exc.reason, kind=kind, needs_person=exc.needs_person)
        except Exception as exc:
            log.warning("planning %s failed: %s", kind, type(exc).__name__)
            return decision("failed", f"could not read the current state to plan the fix ({error_text(exc)})",
                            kind=kind, needs_person=True)

        if change.risk and not approved:
            # Only the one permission, but a privilege grant all the same: a person decides.
            approval_id = self._offer_approval(outcome, change)
            if approval_id is None:
                return decision("refused", f"{change.risk}; no one may approve fixes in chat "
                                "(remediation.approval), so a person must make this change by hand",
                                kind=kind, change=change, needs_person=True)
            return decision("planned", f"not applied automatically: {change.risk}; a person may approve it in chat",
                            kind=kind, change=change, approval_id=approval_id, needs_person=True)
        if not approved and (self.mode == "dry-run" or entry.require_approval):
            approval_id = self._offer_approval(outcome, change)
            why = "dry run" if self.mode == "dry-run" else "waiting for approval in chat"
            return decision("planned", why, kind=kind, change=change, approval_id=approval_id)

        return self._apply(decision, outcome, entry, remediator, change, kind)

    def _apply(self, decision: Callable[..., Decision], outcome: Outcome, entry: AllowEntry,
               remediator: Remediator, change: Change, kind: str) -> Decision:
        try:
            reservation = self.limiter.reserve(change.target)
        except RemediationRefused as exc:
            return decision("refused", exc.reason, kind=kind, change=change, needs_person=True)
        try:
            applied = remediator.apply(change)
        except RemediationRefused as exc:
            reservation.release()
            return decision("refused", exc.reason, kind=kind, change=change, needs_person=exc.needs_person)
        except Exception as exc:
            reservation.release()
            log.warning("applying %s failed: %s", kind, type(exc).__name__)
            return decision("failed", f"the provider rejected the change ({error_text(exc)})", kind=kind,
                            change=change, needs_person=True)
        try:
            verified = remediator.verify(change)
        except Exception as exc:
            log.warning("verifying %s failed: %s", kind, type(exc).__name__)
            verified = False
        if not verified:
            return decision("failed", "the change was made but could not be verified; a person must check "
                            f"{change.target}", kind=kind, change=change, applied=applied, needs_person=True)
        self.breaker.record_applied(outcome.failure, outcome.finding.cause, change)
        result = decision("applied", applied.detail or None, kind=kind, change=change, applied=applied)
        if entry.restart_job:
            self._restart(result, outcome, remediator, change)
        return result

    def _restart(self, result: Decision, outcome: Outcome, remediator: Remediator, change: Change) -> None:
        if outcome.failure.job_type not in RESTARTABLE_JOB_TYPES or not isinstance(remediator, JobRestarter):
            result.restart_error = f"a {outcome.failure.job_type or 'this'} job is not started again automatically"
            return
        if self.config.limits.restart_delay_seconds:
            self.sleep(self.config.limits.restart_delay_seconds)
        try:
            result.restarted_job_id = remediator.restart(outcome, change)
        except RemediationRefused as exc:
            result.restart_error = exc.reason
        except Exception as exc:
            log.warning("restarting the job failed: %s", type(exc).__name__)
            result.restart_error = f"starting the job again failed ({error_text(exc)})"

    def _tags_problem(self, remediator: Remediator, entry: AllowEntry, outcome: Outcome) -> str | None:
        if not isinstance(remediator, TagReader):
            return "the allow-list asks for tags, and this adapter cannot read them"
        try:
            tags = remediator.resource_tags(outcome.failure)
        except Exception as exc:
            return f"the resource's tags could not be read ({error_text(exc)})"
        if tags is None:
            return "the resource's tags could not be read"
        wrong = sorted(k for k, v in entry.tags.items() if tags.get(k) != v)
        if wrong:
            return "the resource does not carry the tags the allow-list asks for: " + ", ".join(wrong)
        return None

    def _offer_approval(self, outcome: Outcome, change: Change) -> str | None:
        """Keep the outcome so a person may approve the fix from chat; the id, or None when no one may."""
        approval = self.config.approval
        if not (approval.slack_users or approval.teams_users):
            return None
        approval_id = secrets.token_urlsafe(18)
        document = outcome.model_dump(mode="json", exclude={"remediation": True, "failure": {"encoded_message"}})
        self.state.put(PENDING_PREFIX + approval_id,
                       {"outcome": document, "created": self.clock(), "change": change.summary,
                        "diff": change.diff()[:MAX_PENDING_DIFF_CHARS], "risk": change.risk},
                       ttl_seconds=approval.ttl_hours * 3600)
        return approval_id

    # ------------------------------------------------------------------ audit
    def _record(self, outcome: Outcome, decision: Decision) -> None:
        failure, change = outcome.failure, decision.change
        self.audit.write(AuditRecord(
            audit_id=decision.audit_id, time=self.audit.now(), actor=decision.actor, mode=decision.mode,
            action=decision.action, reason=decision.reason, cloud=failure.cloud, account_id=failure.account_id,
            region=failure.region, event_id=failure.event_id, job_id=failure.job_id,
            resource_id=failure.resource_id, cause=decision.cause, rule=outcome.finding.rule, kind=decision.kind,
            target=change.target if change else None, change=change.summary if change else None,
            before=change.before if change else None, after=change.after if change else None,
            diff=change.diff() if change else None, restarted_job_id=decision.restarted_job_id,
            restart_error=decision.restart_error, needs_person=decision.needs_person,
            approval_id=decision.approval_id,
            notes=[*(change.notes if change else []), *decision.notes],
        ))

    def _from_summary(self, summary: RemediationSummary, outcome: Outcome) -> Decision:
        return Decision(mode=summary.mode, action=summary.action, cause=outcome.finding.cause,
                        reason=summary.reason, kind=summary.kind, restarted_job_id=summary.restarted_job_id,
                        restart_error=summary.restart_error, needs_person=summary.needs_person,
                        approval_id=summary.approval_id, audit_id=summary.audit_id or new_audit_id(),
                        actor=summary.actor, notes=list(summary.notes), replayed=summary)


def _with_entry_options(outcome: Outcome, entry: AllowEntry) -> Outcome:
    """The outcome with the entry's options for the remediator and the guardrails (as facts they
    read); facts of those names that came with the event are dropped first."""
    facts = {k: v for k, v in outcome.failure.facts.items() if k not in OPTION_FACTS}
    failure = outcome.failure.model_copy(update={"facts": {**facts, **entry.option_facts()}})
    return outcome.model_copy(update={"failure": failure})


def error_text(exc: BaseException) -> str:
    """A short, secret-free description of an SDK error (its code, never its full text)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        if code:
            return str(code)
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    if code:
        return str(code)
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__}{f' HTTP {status}' if status else ''}"


def engine_from_settings(settings: Settings, state: StateStore, remediators: Sequence[Remediator] = (),
                         config: RemediationConfig | None = None,
                         config_path: Path | None = None) -> RemediationEngine:
    """The engine the settings describe: the switch from ``RESPONDER_AUTO_REMEDIATE``, the allow-list
    from the ``remediation`` section of ``RESPONDER_CONFIG`` (unless ``config`` is given)."""
    if config is None:
        config = load_remediation_config(config_path or settings.config_path)
    return RemediationEngine(config=config, switch=settings.auto_remediate, state=state, remediators=remediators)
