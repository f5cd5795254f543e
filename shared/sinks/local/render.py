"""The console's text and the outbox's JSON document of a ``Message``.

Nothing is wrapped: a paragraph is one line (the terminal folds it where it must), and code
(commands, policies, the provider's message) is printed as it is, so that a word, an ARN or a
command is never broken and what is pasted runs."""

from __future__ import annotations

from typing import Any

import msgspec

from shared.models import Outcome
from shared.notify.message import Message, Section
from shared.sinks.base import clean

INDENT = "  "


def _wrap(text: str, first: str = INDENT, rest: str = INDENT) -> list[str]:
    """A paragraph as one line; its own line breaks are kept, each indented."""
    lines = clean(text).splitlines() or [""]
    return [first + lines[0], *(rest + line for line in lines[1:])]


def _code(text: str, indent: str = INDENT * 2) -> list[str]:
    return [indent + line for line in clean(text).splitlines()]


def _section(section: Section) -> list[str]:
    lines = ["", f"{section.heading}:"] if section.heading else [""]
    if section.text:
        lines += _wrap(section.text)
    for number, step in enumerate(section.steps, 1):
        lines += _wrap(step.text, f"{INDENT}{number}. ", INDENT + " " * (len(str(number)) + 2))
        if step.command:
            lines += _code(step.command, INDENT * 3)
    for item in section.items:
        lines += _wrap(item, f"{INDENT}- ", INDENT * 2)
    for label, command in section.pairs:
        lines += [f"{INDENT}{label}:", *_code(command)]
    if section.code:
        lines += _code(section.code)
    return lines


def render_text(message: Message, compact: bool = False) -> str:
    """A readable message for a terminal: what failed, why, how to fix it."""
    lines = [f"[{message.severity.upper()}] {clean(message.title)}"]
    if message.context:
        lines.append(INDENT + " · ".join(message.context))
    width = max((len(label) for label, _ in message.facts), default=0) + 2
    lines += [f"{INDENT}{label:<{width}}{clean(value)}" for label, value in message.facts]
    if (decision := message.decision_shown(compact)) is not None:
        lines += ["", *_wrap(decision.headline), *(line for text in decision.lines for line in _wrap(text))]
    for section in message.body(compact):
        lines += _section(section)
    if message.links:
        lines += ["", *(f"{INDENT}{link.label}: {link.url}" for link in message.links)]
    return "\n".join(lines)


def message_document(message: Message, outcome: Outcome | None) -> dict[str, Any]:
    """The neutral JSON document the outbox keeps: the classification, the failure, the plan, what
    auto-remediation decided, the composed message and its text."""
    document: dict[str, Any] = {"message": msgspec.to_builtins(message), "text": render_text(message)}
    if outcome is not None:
        document = {
            "classification": outcome.summary(),
            "failure": outcome.failure.model_dump(mode="json", exclude={"encoded_message"}),
            "plan": outcome.plan.model_dump(mode="json") if outcome.plan else None,
            "remediation": outcome.remediation.model_dump(mode="json") if outcome.remediation else None,
            **document,
        }
    return document
