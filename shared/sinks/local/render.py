"""shared.sinks.local.render"""

from __future__ import annotations

import textwrap
from typing import Any

from shared.models import Outcome
from shared.notify.facts import what_failed
from shared.remediation.render import remediation_lines


def render_text(outcome: Outcome, width: int = 100) -> str:
    """A readable message for a terminal: what failed, why, how to fix it."""
    finding, plan, failure = outcome.finding, outcome.plan, outcome.failure
    lines = [f"[{finding.severity.upper()}] {finding.title}",
             f"cause: {finding.cause}   rule: {finding.rule or '-'}   confidence: {finding.confidence:.2f}"]
    lines += [f"  {label:<12} {value}" for label, value in what_failed(outcome)]
    if failure.message:
        lines.append("  Message      " + textwrap.shorten(failure.message, 600, placeholder=" ..."))
    if failure.decoded is not None:
        d = failure.decoded
        lines.append(f"  Decoded      {d.action} on {d.resource} denied for {d.principal_arn}"
                     + (" (explicit deny)" if d.explicit_deny else ""))
    lines += remediation_lines(outcome)  # "Applied: …", "Dry run: would …", "Not applied: … because …"
    if plan is not None:
        lines += ["", "Why:", *textwrap.wrap(plan.explanation, width, initial_indent="  ",
                                            subsequent_indent="  ")]
        lines += ["", "Fix:"]
        for number, step in enumerate(plan.steps, 1):
            lines += textwrap.wrap(step, width, initial_indent=f"  {number}. ", subsequent_indent="     ")
        for snippet in plan.snippets:
            lines += ["", f"  {snippet.title} ({snippet.kind}):",
                      *("    " + line for line in snippet.body.splitlines())]
        for ra in plan.role_assignments:
            lines.append(f"  Role: {ra.role} ({ra.role_definition_id}) for {ra.principal_id} on {ra.scope}")
        if plan.missing:
            lines += ["", "Not known from the event, fill in: " + ", ".join("{" + m + "}" for m in plan.missing)]
            lines += [f"  {{{name}}}: {how}" for name, how in plan.lookups.items()]
        if plan.auto_fix == "none" and plan.manual_reason:
            lines.append("  Needs a person: " + plan.manual_reason)
        if plan.docs:
            lines += ["", "Docs:", *(f"  {url}" for url in plan.docs)]
    elif failure.failed:
        lines += ["", "No catalog rule matches this failure yet; the raw message is kept above."]
    return "\n".join(lines)


def message_document(outcome: Outcome) -> dict[str, Any]:
    """The neutral JSON document of an outcome (what the outbox writes)."""
    return {
        "classification": outcome.summary(),
        "failure": outcome.failure.model_dump(mode="json", exclude={"encoded_message"}),
        "plan": outcome.plan.model_dump(mode="json") if outcome.plan else None,
        "remediation": outcome.remediation.model_dump(mode="json") if outcome.remediation else None,
        "text": render_text(outcome),
    }
