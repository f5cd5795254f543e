"""The neutral content of a ticket and of its comments, which each ticket system renders in its own
format (Atlassian Document Format, plain text, Markdown, PagerDuty custom details)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shared.models import RemediationSummary
from shared.notify.facts import links, what_failed
from shared.notify.notice import Notice, display_time, resource_label
from shared.remediation.render import diff_lines, headline
from shared.sinks.base import clean

PartKind = Literal["heading", "text", "steps", "code", "facts", "links"]


#: How a snippet kind is named for code highlighting.
LANGUAGES = {"json": "json", "shell": "bash", "bash": "bash", "cli": "bash", "sql": "sql", "powershell": "powershell",
             "bicep": "bicep", "yaml": "yaml", "python": "python", "hcl": "hcl", "terraform": "hcl"}


@dataclass
class Part:
    kind: PartKind
    text: str = ""
    items: list[str] = field(default_factory=list)
    pairs: list[tuple[str, str]] = field(default_factory=list)
    language: str = ""


def summary_line(notice: Notice) -> str:
    """The ticket's one-line summary: the title and where."""
    title = notice.title()
    if notice.outcome is not None and notice.kind in ("failure", "repeat"):
        f = notice.outcome.failure
        where = resource_label(notice.outcome)
        if where and where not in title:
            title += f" ({where})"
        if f.account_id and f.account_id not in title:
            title += f" [{f.account_id}]"
    return " ".join(clean(title).split())


NEEDS_PERSON = "A person must look at this: automation stopped here."


def remediation_decision(summary: RemediationSummary | None) -> list[Part]:
    """The short part about auto-remediation: its headline, a warning when a person must look, and
    the audit id (first in a ticket, so a length limit never cuts it)."""
    if summary is None or (head := headline(summary)) is None:
        return []
    parts = [Part("heading", text="Auto-remediation"), Part("text", text=clean(head))]
    if summary.needs_person:
        parts.append(Part("text", text=NEEDS_PERSON))
    if summary.action == "planned" and summary.approval_id:
        parts.append(Part("text", text='An approver can make this change with "Apply fix" in chat.'))
    if summary.audit_id:
        parts.append(Part("text", text=f"Audit record: {summary.audit_id} (mode {summary.mode})"))
    return parts


def remediation_change(summary: RemediationSummary | None) -> list[Part]:
    """The long part: the change as a diff, and the notes (after the fix steps)."""
    if summary is None or headline(summary) is None:
        return []
    parts: list[Part] = []
    if diff := diff_lines(summary):
        parts += [Part("heading", text="The change (auto-remediation)"),
                  Part("code", text=clean("\n".join(diff)), language="diff")]
    parts += [Part("text", text="Note: " + clean(note)) for note in summary.notes]
    return parts


def document(notice: Notice) -> list[Part]:
    """The full description of a new ticket."""
    parts: list[Part] = []
    outcome = notice.outcome
    group = notice.group
    if group is not None and notice.kind in ("group", "digest"):
        parts.append(Part("text", text=(f"{group.events:,} failures on {group.resources:,} resources "
                                        f"({group.window()}). Resources: " + ", ".join(group.sample)
                                        + (f" and {group.resources - len(group.sample):,} more"
                                           if group.resources > len(group.sample) else ""))))
    if outcome is None:
        return parts
    finding, failure, plan = outcome.finding, outcome.failure, outcome.plan
    summary = outcome.remediation if notice.kind in ("failure", "repeat", "group") else None
    parts.append(Part("text", text=f"Cause: {finding.cause} (rule {finding.rule or '-'}, "
                                   f"confidence {finding.confidence:.2f}, severity {finding.severity})"))
    parts += remediation_decision(summary)
    parts.append(Part("heading", text="What failed"))
    parts.append(Part("facts", pairs=what_failed(outcome)))
    if failure.message:
        parts += [Part("heading", text="Error message"), Part("code", text=clean(failure.message))]
    if failure.decoded is not None:
        d = failure.decoded
        parts.append(Part("text", text=f"Decoded: {d.action} on {d.resource} denied for {d.principal_arn}"
                                       + (" (explicit deny)" if d.explicit_deny else "")))
    if plan is not None:
        parts += [Part("heading", text="Why"), Part("text", text=plan.explanation)]
        if plan.steps:
            parts += [Part("heading", text="Fix"), Part("steps", items=[clean(s) for s in plan.steps])]
        for snippet in plan.snippets:
            parts += [Part("text", text=f"{snippet.title} ({snippet.kind}):"),
                      Part("code", text=snippet.body, language=LANGUAGES.get(snippet.kind.lower(), ""))]
        for ra in plan.role_assignments:
            parts.append(Part("text", text=f"Role: {ra.role} ({ra.role_definition_id}) for {ra.principal_id} "
                                           f"on {ra.scope}"))
        if plan.missing:
            parts.append(Part("text", text="Not known from the event, fill in: "
                                           + ", ".join("{" + m + "}" for m in plan.missing)))
        if plan.auto_fix == "none" and plan.manual_reason:
            parts.append(Part("text", text="Needs a person: " + plan.manual_reason))
    elif failure.failed:
        parts.append(Part("text", text="No catalog rule matches this failure yet; the raw message is above."))
    parts += remediation_change(summary)
    if (found := links(outcome, docs=5)):
        parts += [Part("heading", text="Links"), Part("links", pairs=found)]
    parts.append(Part("text", text="Opened by backup-responder. A later successful job for the same resource "
                                   "comments here and resolves it."))
    return parts


def comment(notice: Notice) -> list[Part]:
    """What is added to an open ticket: the failure again, a storm digest, or the recovery."""
    outcome = notice.outcome
    f = outcome.failure if outcome else None
    when = display_time(f.time) if f else ""
    if notice.kind == "recovered":
        text = notice.title() + (f" at {when}" if when else "") + "."
        if f and f.job_id:
            text += f" Job {f.job_id}."
        return [Part("text", text=text)]
    if notice.kind in ("group", "digest") and notice.group is not None:
        g = notice.group
        head = "Storm summary" if notice.kind == "digest" else "Storm update"
        more = g.resources - len(g.sample)
        return [Part("text", text=f"{head}: {g.events:,} failures on {g.resources:,} resources with the same "
                                  f"cause ({g.cause}), {g.window()}."),
                Part("text", text="Resources: " + ", ".join(g.sample) + (f" and {more:,} more" if more > 0 else ""))]
    if notice.kind == "quiet-digest":
        return [Part("text", text=notice.title()),
                Part("steps", items=[f"{cause}: {count:,}" for cause, count in notice.summary])]
    parts = [Part("text", text=f"Failed again ({notice.count:,} times so far)" + (f" at {when}" if when else "")
                               + (f": job {f.job_id}" if f and f.job_id else "") + ".")]
    summary = outcome.remediation if outcome is not None else None
    decision = remediation_decision(summary)[1:]  # without the heading: a comment is short
    if decision:
        decision[0] = Part("text", text="Auto-remediation: " + decision[0].text)
    parts += decision
    if f and f.message:
        parts.append(Part("code", text=clean(f.message)))
    parts += remediation_change(summary)
    return parts


def plain(parts: list[Part]) -> str:
    """Parts as plain text (ServiceNow work notes and descriptions)."""
    lines: list[str] = []
    for part in parts:
        if part.kind == "heading":
            lines += ["", part.text.upper()]
        elif part.kind in ("text", "code"):
            lines.append(part.text)
        elif part.kind == "steps":
            lines += [f"{i}. {item}" for i, item in enumerate(part.items, 1)]
        elif part.kind in ("facts", "links"):
            lines += [f"{name}: {value}" for name, value in part.pairs]
    return "\n".join(lines).strip()
