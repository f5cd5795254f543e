"""Microsoft Teams: a ``Message`` as an Adaptive Card (version 1.5), posted to a Workflows webhook
("Post to a channel when a webhook request is received") as ``{"type": "message", "attachments": [...]}``.

Untrusted text goes into ``TextRun``s of ``RichTextBlock``s, which Adaptive Cards never read as
Markdown: an error message cannot make a link or a mention. The request stays under Teams' 28 KB
limit: long parts are shortened, then dropped, in a fixed order, never failing."""

from __future__ import annotations

import json
from typing import Any

from msgspec import Struct

from shared.approval import TeamsApprovalLink
from shared.notify.message import Decision, Message, Part, Section
from shared.sinks.base import Limits, clean, truncate
from shared.vocab import NoticeKind

CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
SEVERITY_STYLE = {"critical": "attention", "high": "attention", "medium": "warning", "low": "default"}
#: The container style of the auto-remediation part, by decision.
REMEDIATION_STYLE = {"applied": "good", "planned": "accent", "refused": "warning", "failed": "attention",
                     "suppressed": "default", "notified": "default"}


class TeamsLimits(Limits):
    """Limits, each from Microsoft's documentation."""

    #: "The message size limit is 28 KB. When the size exceeds 28 KB, you receive an error."
    #: (learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook;
    #: the Teams connector for Workflows: "the message size limit is approximately 28 KB").
    MAX_PAYLOAD_BYTES = 28 * 1024
    #: Kept free below the limit for what Teams adds around the card.
    SAFETY_BYTES = 1024
    #: Teams renders Adaptive Cards up to version 1.5 (learn.microsoft.com/.../cards/cards-reference).
    CARD_VERSION = "1.5"
    #: Actions on a card: Teams' host config allows 6 ("maxActions": 6), the Adaptive Cards renderers'
    #: default host config 5; the card keeps to both.
    MAX_ACTIONS = 5
    #: "If more than four requests are made in a second, the client connection is throttled."
    SECONDS_PER_MESSAGE = 0.25


class _Budget(Struct, frozen=True):
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


def _fact_rows(message: Message) -> list[dict[str, Any]]:
    return [{"type": "ColumnSet", "spacing": "None", "columns": [
        {"type": "Column", "width": "110px", "items": [rich(run(name, weight="Bolder"))]},
        {"type": "Column", "width": "stretch", "items": [rich(run(value))]},
    ]} for name, value in message.facts]


def _code_block(text: str) -> dict[str, Any]:
    return {"type": "Container", "style": "emphasis", "items": [
        rich(run(_keep_indent(text), fontType="Monospace", size="Small"))]}


#: How much of each part a budget allows: (characters per text, characters per code block).
def _limits(section: Section, budget: _Budget) -> tuple[int, int]:
    return {Part.MESSAGE: (budget.message, budget.message), Part.WHY: (budget.explanation, 0),
            Part.CODE: (budget.step, budget.snippet), Part.CHANGE: (budget.step, budget.diff)}.get(
        section.part, (budget.step, budget.snippet))


def _section(section: Section, budget: _Budget) -> list[dict[str, Any]]:
    text_limit, code_limit = _limits(section, budget)
    items: list[dict[str, Any]] = []
    if section.heading:
        items.append(label(section.heading))
    if section.text and (text_limit or section.part not in (Part.WHY,)):
        items.append(rich(run(truncate(section.text, text_limit or 300), isSubtle=section.part == Part.LOOKUPS)))
    shown = section.steps[: budget.steps] if budget.step else ()
    for number, step in enumerate(shown, 1):
        items.append(rich(run(f"{number}. ", weight="Bolder"), run(truncate(step.text, budget.step)), spacing="Small"))
        if step.command:
            items.append(_code_block(step.command))  # a command is shown whole or not at all
    if len(section.steps) > len(shown):
        items.append(rich(run(f"+{len(section.steps) - len(shown)}: see the ticket.", italic=True)))
    for entry in section.items[: budget.notes if section.part == Part.CHANGE else None]:
        items.append(rich(run(entry), spacing="Small"))
    for name, command in section.pairs:
        items += [rich(run(name, weight="Bolder"), spacing="Small"), _code_block(command)]
    if section.code:
        if section.whole:
            items.append(_code_block(section.code if len(section.code) <= max(code_limit, 1) or not section.short
                                     else section.short))
        elif code_limit:
            items.append(_code_block(truncate(section.code, code_limit)))
        elif section.part == Part.CODE:
            items.append(rich(run("…", isSubtle=True)))
    return items if len(items) > (1 if section.heading else 0) else []


def remediation_items(decision: Decision | None) -> list[dict[str, Any]]:
    """What auto-remediation decided, as one container: the headline in ``TextRun``s (never
    Markdown: reasons carry resource names), a warning when a person must look, the audit id."""
    if decision is None:
        return []
    items: list[dict[str, Any]] = [rich(run(decision.headline, weight="Bolder"), spacing="Small")]
    for i, line in enumerate(decision.lines):
        if decision.needs_person and i == 0:
            items.append({"type": "TextBlock", "text": "⚠ " + line, "color": "Attention", "weight": "Bolder",
                          "wrap": True, "spacing": "Small"})
        else:
            items.append(rich(run(line, isSubtle=True, size="Small"), spacing="Small"))
    return [{"type": "Container", "style": REMEDIATION_STYLE.get(decision.action, "default"), "spacing": "Medium",
             "items": items}]


def _keep_indent(text: str) -> str:
    """Leading spaces as no-break spaces: renderers collapse ordinary white space."""
    return "\n".join("\u00a0" * (len(line) - len(line.lstrip(" "))) + line.lstrip(" ") for line in text.split("\n"))


def build_card(message: Message, budget: _Budget | None = None, approval: TeamsApprovalLink | None = None,
               compact: bool = False) -> dict[str, Any]:
    """The Adaptive Card for a message, using the full width of the channel; with ``approval``, a
    fix waiting for approval gets "Apply fix"."""
    budget = budget or BUDGETS[0]
    style = "good" if message.kind == NoticeKind.RECOVERED else SEVERITY_STYLE.get(message.severity, "warning")
    header_items: list[dict[str, Any]] = [rich(run(message.title, size="Large", weight="Bolder"))]
    if message.context:
        header_items.append(rich(run(" · ".join(message.context), isSubtle=True, size="Small"), spacing="Small"))
    body: list[dict[str, Any]] = [{"type": "Container", "style": style, "bleed": True, "items": header_items}]
    if not compact:
        body += _fact_rows(message)
    body += remediation_items(message.decision_shown(compact))
    for section in message.body(compact):
        body += _section(section, budget)
    card: dict[str, Any] = {
        "$schema": SCHEMA,
        "type": "AdaptiveCard",
        "version": TeamsLimits.CARD_VERSION,
        "fallbackText": truncate(message.title, 500),  # may be read as Markdown: the title only
        "msteams": {"width": "Full"},
        "body": body,
    }
    actions = [{"type": "Action.OpenUrl", "title": link.label, "url": link.url} for link in message.links]
    decision = message.decision
    if approval is not None and decision is not None and decision.approval_id:
        actions.insert(0, approval.action(decision.approval_id))  # first: never cut by the action limit
    actions = actions[: TeamsLimits.MAX_ACTIONS]
    if actions:
        card["actions"] = actions
    return card


def envelope(card: dict[str, Any]) -> dict[str, Any]:
    """The Workflows webhook body around a card."""
    return {"type": "message", "attachments": [{"contentType": CONTENT_TYPE, "contentUrl": None, "content": card}]}


def payload_size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False).encode())


def build_payload(message: Message, approval: TeamsApprovalLink | None = None, compact: bool = False) -> dict[str, Any]:
    """The webhook body, under the size limit: less detail until it fits, never an error."""
    limit = TeamsLimits.MAX_PAYLOAD_BYTES - TeamsLimits.SAFETY_BYTES
    payload: dict[str, Any] = {}
    for budget in BUDGETS:
        payload = envelope(build_card(message, budget, approval, compact))
        if payload_size(payload) <= limit:
            return payload
    # Still too big (thousands of facts?): keep the title, the first facts and the buttons.
    card = build_card(message, BUDGETS[-1], approval, compact)
    while payload_size(envelope(card)) > limit and len(card["body"]) > 1:
        card["body"].pop()
    card["body"][0]["items"] = card["body"][0]["items"][:1]
    inlines = card["body"][0]["items"][0]["inlines"]
    inlines[0]["text"] = truncate(inlines[0]["text"], 300)
    return envelope(card)
