"""What ``backup-responder config check`` prints about a configuration: sinks (their secrets'
references, never values), routes, silences, quiet hours, dedup, the scheduled report and the
remediation allow-list."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from shared.notify.config import Match, ResponderConfig
from shared.notify.secrets import describe_secret
from shared.notify.types import duration_text
from shared.remediation.config import RemediationConfig


def describe_config(config: ResponderConfig, now: datetime | None = None) -> list[str]:
    """What a person checks in a configuration: no secret values, only their references."""
    now = now or datetime.now(UTC)
    lines = ["sinks:" if config.sinks else "sinks: none (messages go to the outbox and the console only)"]
    for name, sink in config.sinks.items():
        secrets = ", ".join(f"{k} {describe_secret(v)}" + (_ref_state(v) if v else "")
                            for k, v in sink.secrets().items())
        lines.append(f"  {name}: {sink.type}" + (f" ({secrets})" if secrets else ""))
    if config.routes:
        lines.append("routes (first match wins):")
        for route in config.routes:
            what = "everything else" if route.match is None else _describe_match(route.match)
            lines.append(f"  {route.name}: {what} -> {', '.join(route.sinks)}")
    if config.default:
        lines.append(f"  default: -> {', '.join(config.default)}")
    for silence in config.silences:
        state = "active" if silence.active(now) else "EXPIRED"
        lines.append(f"silence {silence.label!r}: {_describe_match(silence.match)} until "
                     f"{silence.expires.isoformat()} ({state}): {silence.reason}")
    for quiet in config.quiet_hours:
        lines.append(f"quiet hours {quiet.start.strftime('%H:%M')}-{quiet.end.strftime('%H:%M')} {quiet.timezone} "
                     f"on {','.join(quiet.days)}: holds {', '.join(quiet.sinks) or 'chat sinks'} except "
                     f"{', '.join(quiet.except_severity) or 'nothing'}")
    d = config.dedup
    lines.append(f"dedup: same failure counted for {d.window}s; storms grouped for {d.storm_window}s, "
                 f"updated every {d.update_every}s")
    lines.append(describe_report(config))
    lines += describe_remediation(config.remediation)
    return lines


def describe_report(config: ResponderConfig) -> str:
    """The scheduled failure report (the weekly digest), or that it is off."""
    report = config.report
    if report is None:
        return "report: off (no `report` section: no scheduled failure report)"
    span = duration_text(report.since)
    where = "every account of the organization" if report.organization else "this account or subscription"
    language = f", in {report.language}" if report.language else ""
    return (f"report: the failures of the last {span} ({where}) -> {', '.join(report.sinks)}, once per "
            f"{span} period{language} (on the WeeklyReport schedule / RESPONDER_REPORT_SCHEDULE)")


def describe_remediation(remediation: RemediationConfig) -> list[str]:
    """The remediation allow-list as a person checks it (``RESPONDER_AUTO_REMEDIATE`` is the switch)."""
    cap = f"; this file caps the switch at {remediation.mode}" if remediation.mode else ""
    if not remediation.allow:
        return [f"remediation: allows nothing (no `remediation.allow`): nothing is ever changed{cap}"]
    lines = [f"remediation allow-list (RESPONDER_AUTO_REMEDIATE is the switch{cap}):"]
    for entry in remediation.allow:
        where = [f"accounts {', '.join(entry.accounts)}"] if entry.accounts else []
        where += [f"subscriptions {', '.join(entry.subscriptions)}"] if entry.subscriptions else []
        where += ["tags " + ", ".join(f"{k}={v}" for k, v in entry.tags.items())] if entry.tags else []
        what = [f"organization {entry.organization_id}"] if entry.organization_id else []
        what += ["restarts the job"] if entry.restart_job else []
        what += ["waits for approval"] if entry.require_approval else []
        lines.append(f"  {entry.cause}: {'; '.join(where) or 'any account or subscription'}"
                     + (f" ({', '.join(what)})" if what else ""))
    limits, approval = remediation.limits, remediation.approval
    lines.append(f"  limits: {limits.max_changes_per_hour} change(s) per hour, {limits.max_changes_per_resource} per "
                 f"resource per {limits.resource_window_hours} h, circuit breaker {limits.circuit_breaker_hours} h")
    approvers = len(approval.slack_users) + len(approval.teams_users)
    lines.append(f"  approvers: {len(approval.slack_users)} Slack user(s), {len(approval.teams_users)} Teams user(s)"
                 if approvers else "  approvers: none (planned fixes cannot be applied from chat)")
    return lines


def _ref_state(value: str) -> str:
    if value.startswith("env:"):
        return " (set)" if os.environ.get(value[4:]) else " (NOT SET here)"
    return ""


def _describe_match(match: Match) -> str:
    parts = [f"{name}={','.join(values) if isinstance(values, list) else values}"
             for name, values in match.model_dump(exclude_defaults=True).items()]
    return " ".join(parts) or "everything"
