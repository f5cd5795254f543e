"""Microsoft Teams: an Adaptive Card (version 1.5) posted to a Workflows webhook ("Post to a channel
when a webhook request is received"), as ``{"type": "message", "attachments": [...]}``.

Untrusted text goes into ``TextRun``s of ``RichTextBlock``s, which Adaptive Cards never read as
Markdown: an error message cannot make a link or a mention. The request stays under Teams' 28 KB
limit: long parts are shortened, then dropped, in a fixed order, never failing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.approval import TeamsApprovalLink
from shared.models import Outcome, RemediationSummary
from shared.notify.facts import links, what_failed
from shared.notify.notice import Notice
from shared.remediation.render import diff_lines, headline
from shared.sinks.base import clean, truncate

CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"


SEVERITY_STYLE = {"critical": "attention", "high": "attention", "medium": "warning", "low": "default"}


#: The container style of the auto-remediation part, by decision.
REMEDIATION_STYLE = {"applied": "good", "planned": "accent", "refused": "warning", "failed": "attention",
                     "suppressed": "default", "notified": "default"}


class TeamsLimits:
    """Limits, each from Microsoft's documentation."""

    #: "The message size limit is 28 KB. When the size exceeds 28 KB, you receive an error."
    #: (learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook;
    #: the Teams connector for Workflows: "the message size limit is approximately 28 KB").
    MAX_PAYLOAD_BYTES = 28 * 1024
    #: Kept free below the limit for what Teams adds around the card.
    SAFETY_BYTES = 1024
    #: Teams renders Adaptive Cards up to version 1.5 (learn.microsoft.com/.../cards/cards-reference).
    CARD_VERSION = "1.5"
    #: Teams' host config allows at most 6 actions on a card ("maxActions": 6).
    MAX_ACTIONS = 6
    #: "If more than four requests are made in a second, the client connection is throttled."
    SECONDS_PER_MESSAGE = 0.25


@dataclass(frozen=True)
class _Budget:
    """How much detail a card carries; smaller budgets make smaller cards."""

    message: int = 2000
    step: int = 1500
    snippet: int = 6000
    snippets: int = 10
    steps: int = 30
    explanation: int = 2000
    sample: int = 10
    #: The auto-remediation diff (characters) and notes.
    diff: int = 6000
    notes: int = 10


BUDGETS = (
    _Budget(),
    _Budget(message=800, step=800, snippet=3000, diff=4000),
    _Budget(message=400, step=500, snippet=1500, snippets=2, explanation=800, diff=2500, notes=5),
    _Budget(message=300, step=300, snippet=800, snippets=1, steps=12, explanation=500, sample=5, diff=1500, notes=3),
    _Budget(message=200, step=200, snippet=0, snippets=0, steps=8, explanation=300, sample=3, diff=800, notes=2),
    _Budget(message=0, step=0, snippet=0, snippets=0, steps=0, explanation=0, sample=0, diff=0, notes=0),
)


def run(text: str | None, **style: Any) -> dict[str, Any]:
    """A TextRun: its text is never parsed as Markdown (Adaptive Cards schema, TextRun)."""
    return {"type": "TextRun", "text": clean(text) or " ", **style}


def rich(*runs: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": list(runs), **props}


def label(text: str, **props: Any) -> dict[str, Any]:
    """A trusted heading (our own words, no user text)."""
    return {"type": "TextBlock", "text": text, "weight": "Bolder", "wrap": True, "spacing": "Medium", **props}


def _fact_rows(outcome: Outcome) -> list[dict[str, Any]]:
    return [{"type": "ColumnSet", "spacing": "None", "columns": [
        {"type": "Column", "width": "110px", "items": [rich(run(name, weight="Bolder"))]},
        {"type": "Column", "width": "stretch", "items": [rich(run(value))]},
    ]} for name, value in what_failed(outcome)]


def _details(outcome: Outcome, budget: _Budget) -> list[dict[str, Any]]:
    failure, plan = outcome.failure, outcome.plan
    items: list[dict[str, Any]] = []
    if failure.message and budget.message:
        items += [label("Error message"),
                  rich(run(truncate(failure.message, budget.message), fontType="Monospace"))]
    if failure.decoded is not None:
        d = failure.decoded
        items += [label("Decoded authorization failure"),
                  rich(run(f"{d.action} on {d.resource} denied for {d.principal_arn}"
                           + (" (explicit deny)" if d.explicit_deny else "")))]
    if plan is None:
        if failure.failed:
            items.append(rich(run("No catalog rule matches this failure yet; the raw message is above.",
                                  italic=True)))
        return items
    if budget.explanation:
        items += [label("Why"), rich(run(truncate(plan.explanation, budget.explanation)))]
    if plan.steps:
        items.append(label("Fix"))
        shown = plan.steps[: budget.steps] if budget.step else []
        for number, step in enumerate(shown, 1):
            items.append(rich(run(f"{number}. ", weight="Bolder"), run(truncate(step, budget.step)), spacing="Small"))
        if len(plan.steps) > len(shown):
            items.append(rich(run(f"{len(plan.steps) - len(shown)} more steps: see the ticket.", italic=True)))
    for snippet in plan.snippets[: budget.snippets] if budget.snippet else []:
        items += [rich(run(f"{snippet.title} ({snippet.kind})", weight="Bolder"), spacing="Medium"),
                  {"type": "Container", "style": "emphasis", "items": [
                      rich(run(_keep_indent(truncate(snippet.body, budget.snippet)), fontType="Monospace",
                               size="Small"))]}]
    if len(plan.snippets) > (budget.snippets if budget.snippet else 0):
        items.append(rich(run("The policy, command or SQL is in the ticket and the outbox copy.", italic=True)))
    for ra in plan.role_assignments:
        items.append(rich(run("Role: ", weight="Bolder"),
                          run(f"{ra.role} ({ra.role_definition_id}) for {ra.principal_id} on {ra.scope}")))
    if plan.missing:
        items.append(rich(run("Not known from the event, fill in: " + ", ".join("{" + m + "}" for m in plan.missing),
                              isSubtle=True)))
    if plan.auto_fix == "none" and plan.manual_reason:
        items.append(rich(run("Needs a person: ", weight="Bolder"), run(plan.manual_reason)))
    return items


def remediation_items(summary: RemediationSummary | None, budget: _Budget | None = None) -> list[dict[str, Any]]:
    """What auto-remediation decided, as one container: the headline and the diff (monospace) in
    ``TextRun``s (never Markdown: reasons and diffs carry resource names), a warning when a person must
    look, the notes and the audit id. Empty when remediation did not run or has nothing to say."""
    if summary is None or (head := headline(summary)) is None:
        return []
    budget = budget or BUDGETS[0]
    items: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": "Auto-remediation", "weight": "Bolder", "wrap": True},
        rich(run(head, weight="Bolder"), spacing="Small"),
    ]
    if summary.needs_person:
        items.append({"type": "TextBlock", "text": "⚠ A person must look at this: automation stopped here.",
                      "color": "Attention", "weight": "Bolder", "wrap": True, "spacing": "Small"})
    diff = "\n".join(diff_lines(summary))
    if diff and budget.diff:
        items.append({"type": "Container", "style": "emphasis", "spacing": "Small", "items": [
            rich(run(_keep_indent(truncate(diff, budget.diff)), fontType="Monospace", size="Small"))]})
    notes = summary.notes[: budget.notes]
    items += [rich(run("Note: ", weight="Bolder", isSubtle=True), run(note, isSubtle=True), spacing="Small")
              for note in notes]
    if summary.audit_id:
        items.append(rich(run(f"Audit record {summary.audit_id} · mode {summary.mode}", isSubtle=True,
                              size="Small"), spacing="Small"))
    return [{"type": "Container", "style": REMEDIATION_STYLE.get(summary.action, "default"), "spacing": "Medium",
             "items": items}]


def _keep_indent(text: str) -> str:
    """Leading spaces as no-break spaces: renderers collapse ordinary white space."""
    return "\n".join("\u00a0" * (len(line) - len(line.lstrip(" "))) + line.lstrip(" ") for line in text.split("\n"))


def _shows_remediation(notice: Notice) -> bool:
    """The cards that carry the failure's details also say what auto-remediation decided."""
    return notice.kind in ("failure", "repeat", "group")


def build_card(notice: Notice, budget: _Budget | None = None,
               approval: TeamsApprovalLink | None = None) -> dict[str, Any]:
    """The Adaptive Card for a notice; with ``approval``, a fix waiting for approval gets "Apply fix"."""
    budget = budget or BUDGETS[0]
    outcome = notice.outcome
    severity = outcome.finding.severity if outcome else "medium"
    style = "good" if notice.kind == "recovered" else SEVERITY_STYLE.get(severity, "warning")
    title = notice.title()
    if notice.kind == "repeat":
        title = f"Again ({notice.count:,} times): {title}"
    header_items: list[dict[str, Any]] = [rich(run(title, size="Large", weight="Bolder"))]
    if outcome is not None:
        finding = outcome.finding
        subtitle = f"{severity.upper()} · cause {finding.cause}"
        if finding.rule:
            subtitle += f" · rule {finding.rule} · confidence {finding.confidence:.2f}"
        header_items.append(rich(run(subtitle, isSubtle=True, size="Small"), spacing="Small"))
    body: list[dict[str, Any]] = [{"type": "Container", "style": style, "bleed": True, "items": header_items}]

    group = notice.group
    if notice.kind in ("group", "digest") and group is not None:
        sample = group.sample[: budget.sample]
        more = group.resources - len(sample)
        lines = [run(f"{group.events:,} failures on {group.resources:,} resources, {group.window()}. ",
                     weight="Bolder")]
        if sample:
            lines.append(run("Resources: " + ", ".join(sample) + (f" and {more:,} more" if more > 0 else "")))
        if notice.kind == "digest":
            lines.insert(0, run("Storm summary (the window has closed): ", weight="Bolder"))
        body.append(rich(*lines))

    if notice.kind == "quiet-digest":
        body.append(label("Held back during quiet hours"))
        body += [rich(run(f"{cause}: ", weight="Bolder"), run(f"{count:,}"), spacing="None")
                 for cause, count in notice.summary]
    elif outcome is not None:
        body += _fact_rows(outcome)
        if _shows_remediation(notice):
            body += remediation_items(outcome.remediation, budget)
        if notice.kind not in ("digest", "recovered"):
            body += _details(outcome, budget)

    card: dict[str, Any] = {
        "$schema": SCHEMA,
        "type": "AdaptiveCard",
        "version": TeamsLimits.CARD_VERSION,
        "fallbackText": truncate(title, 500),  # may be read as Markdown: the catalog's title only
        "body": body,
    }
    summary = outcome.remediation if outcome is not None and _shows_remediation(notice) else None
    actions = [{"type": "Action.OpenUrl", "title": name, "url": url}
               for name, url in (links(outcome, docs=1) if outcome else [])]
    if approval is not None and summary is not None and summary.action == "planned" and summary.approval_id:
        actions.insert(0, approval.action(summary.approval_id))  # first: never cut by the action limit
    actions = actions[: TeamsLimits.MAX_ACTIONS]
    if actions:
        card["actions"] = actions
    return card


def message(card: dict[str, Any]) -> dict[str, Any]:
    """The Workflows webhook body around a card."""
    return {"type": "message", "attachments": [{"contentType": CONTENT_TYPE, "contentUrl": None, "content": card}]}


def payload_size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False).encode())


def build_payload(notice: Notice, approval: TeamsApprovalLink | None = None) -> dict[str, Any]:
    """The webhook body, under the size limit: less detail until it fits, never an error."""
    limit = TeamsLimits.MAX_PAYLOAD_BYTES - TeamsLimits.SAFETY_BYTES
    payload: dict[str, Any] = {}
    for budget in BUDGETS:
        payload = message(build_card(notice, budget, approval))
        if payload_size(payload) <= limit:
            return payload
    # Still too big (thousands of facts?): keep the title, the first facts and the buttons.
    card = build_card(notice, BUDGETS[-1], approval)
    while payload_size(message(card)) > limit and len(card["body"]) > 1:
        card["body"].pop()
    card["body"][0]["items"] = card["body"][0]["items"][:1]
    inlines = card["body"][0]["items"][0]["inlines"]
    inlines[0]["text"] = truncate(inlines[0]["text"], 300)
    return message(card)
