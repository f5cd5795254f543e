"""Slack: a ``Message`` as Block Kit (built with slack_sdk's models, which validate each block).

Untrusted text (error messages, resource names, tags) is escaped for mrkdwn (``&``, ``<``, ``>``)
so that no one can mention ``<!channel>`` or disguise a link, and every limit below is enforced by
truncating gracefully: a message is always sent, with a meaningful fallback ``text``. A command is
never split across code blocks: one that does not fit is replaced by its short form."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from shared.approval import slack_apply_button
from shared.notify.message import Decision, Message, Part, Section
from shared.sinks.base import Limits, clean, truncate
from shared.vocab import NoticeKind

# slack_sdk logs request URLs (a webhook URL is a secret) at debug level and errors with their text:
# its loggers here say nothing; the Sender reports failures without URLs.
_SDK_LOG = logging.getLogger("backup_responder.slack_sdk")
_SDK_LOG.setLevel(logging.CRITICAL + 1)
_SDK_LOG.propagate = False

SEVERITY_EMOJI = {"critical": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:",
                  "low": ":white_circle:"}
KIND_EMOJI = {NoticeKind.RECOVERED: ":white_check_mark:", NoticeKind.QUIET_DIGEST: ":zzz:",
              NoticeKind.REPORT: ":bar_chart:"}
REMEDIATION_EMOJI = {"applied": ":white_check_mark:", "planned": ":memo:", "refused": ":no_entry_sign:",
                     "failed": ":x:", "suppressed": ":no_entry_sign:", "notified": ":information_source:"}
#: The block ids of the remediation part of a message (the "Apply fix" button's block among them).
REMEDIATION_BLOCK_ID = "remediation"
REMEDIATION_ACTIONS_BLOCK_ID = "remediation_actions"
#: Chat shows fewer links than tickets: the console pages and the first documents.
MAX_BUTTONS = 6


class SlackLimits(Limits):
    """Block Kit and messaging limits, each from Slack's documentation."""

    #: "You can include up to 50 blocks in each message" (docs.slack.dev/reference/block-kit/blocks).
    MAX_BLOCKS = 50
    #: Section block ``text``: "Maximum length for the text in this field is 3000 characters."
    MAX_SECTION_TEXT = 3000
    #: Section block ``fields``: "Maximum number of items is 10. Maximum length for the text in each item is 2000".
    MAX_FIELDS = 10
    MAX_FIELD_TEXT = 2000
    #: Header block ``text``: "Maximum length for the text in this field is 150 characters."
    MAX_HEADER_TEXT = 150
    #: Button element ``text``: max 75 characters; ``url``: max 3000 characters.
    MAX_BUTTON_TEXT = 75
    MAX_BUTTON_URL = 3000
    #: Actions block: "There is a maximum of 25 elements in each action block."
    MAX_ACTION_ELEMENTS = 25
    #: Context block: "Maximum number of items is 10." (each a text object: at most 3000 characters).
    MAX_CONTEXT_ELEMENTS = 10
    MAX_CONTEXT_TEXT = 3000
    #: chat.postMessage ``text``: "we recommend ... no more than 4,000 characters" (Slack truncates at 40,000).
    MAX_TEXT = 4000
    #: chat.postMessage rate limit: "generally allows posting one message per second per channel",
    #: the same for incoming webhooks (docs.slack.dev/apis/web-api/rate-limits).
    SECONDS_PER_MESSAGE = 1.0


def escape(text: str | None) -> str:
    """Untrusted text for mrkdwn: ``&``, ``<`` and ``>`` escaped as Slack documents
    ("Escaping text", docs.slack.dev/messaging/formatting-message-text), control characters dropped."""
    return clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str, limit: int) -> str:
    """Text for a ``plain_text`` object: no markup is parsed there; cut to the limit; never empty."""
    return truncate(" ".join(clean(text).split()) or "-", limit)


def _chunks(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, split at line ends where possible."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces or [""]


def _code_sections(title: str, body: str) -> list[SectionBlock]:
    """A code snippet as sections of at most 3000 characters, each a complete code block."""
    fence = "```"
    body = escape(body).replace(fence, "`\u200b``")  # a fence in the text cannot close the block
    head = f"*{escape(title)}*\n"
    room = SlackLimits.MAX_SECTION_TEXT - len(head) - 2 * len(fence) - 2
    parts = _chunks(body, room)
    return [SectionBlock(text=MarkdownTextObject(text=(head if i == 0 else "") + f"{fence}\n{part}\n{fence}"))
            for i, part in enumerate(parts)]


_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,4}$")


def _code_section(title: str, body: str, limit: int = SlackLimits.MAX_SECTION_TEXT) -> SectionBlock:
    """A code snippet as one section within ``limit`` characters: cut at a line end, with a note."""
    fence = "```"
    text = escape(body).replace(fence, "`\u200b``")  # a fence in the text cannot close the block
    head = f"*{escape(title)}*\n"
    room = limit - len(head) - 2 * len(fence) - 2
    if len(text) > room:
        marker = "\n… (cut here: the audit record has all of it)"
        kept = text[: max(room - len(marker), 0)]
        if "\n" in kept:
            kept = kept[: kept.rfind("\n")]
        text = _PARTIAL_ENTITY.sub("", kept) + marker  # never half an escaped "&lt;"
    return SectionBlock(text=MarkdownTextObject(text=f"{head}{fence}\n{text}\n{fence}"))


def _text_sections(title: str, body: str) -> list[SectionBlock]:
    head = f"*{escape(title)}*\n" if title else ""
    parts = _chunks(body, SlackLimits.MAX_SECTION_TEXT - len(head))
    return [SectionBlock(text=MarkdownTextObject(text=(head if i == 0 else "") + part))
            for i, part in enumerate(parts)]


def _whole_code(title: str, code: str, short: str) -> list[SectionBlock]:
    """A command in one code block; if it cannot fit, its short form (never split)."""
    fence = "```"
    body = escape(code).replace(fence, "`\u200b``")
    head = f"*{escape(title)}*\n" if title else ""
    if len(head) + len(body) + 2 * len(fence) + 2 <= SlackLimits.MAX_SECTION_TEXT or not short:
        return [_code_section(title, code)]
    return _code_sections(title, short)


def _steps(section: Section) -> list[Block]:
    """Numbered steps; a step's command follows it in a code block of its own."""
    blocks: list[Block] = []
    lines: list[str] = []
    title = section.heading
    for number, step in enumerate(section.steps, 1):
        lines.append(f"{number}. {escape(step.text)}")
        if step.command:
            blocks += _text_sections(title, "\n".join(lines))
            blocks += _whole_code("", step.command, step.short)
            lines, title = [], ""
    if lines:
        blocks += _text_sections(title, "\n".join(lines))
    return blocks


def _section(section: Section) -> list[Block]:
    """One section of the body as blocks, within Slack's limits."""
    blocks: list[Block] = []
    if section.part == Part.STEPS:
        return _steps(section)
    if section.part == Part.CHANGE:  # the diff in one block, cut (the audit record has all of it), then its notes
        notes = [MarkdownTextObject(text=truncate(escape(item), SlackLimits.MAX_CONTEXT_TEXT))
                 for item in section.items[: SlackLimits.MAX_CONTEXT_ELEMENTS]]
        return [*([_code_section(section.heading, section.code)] if section.code else []),
                *([ContextBlock(elements=notes)] if notes else [])]
    text = "\n".join(p for p in (escape(section.text), *(f"• {escape(i)}" for i in section.items)) if p)
    if text or (section.heading and not section.code):
        blocks += _text_sections(section.heading, text or " ")
    for label, command in section.pairs:
        blocks += _whole_code(label, command, "")
    if section.code:
        title = "" if blocks else section.heading
        if section.whole:
            blocks += _whole_code(title, section.code, section.short)
        else:
            blocks += _code_sections(title, section.code)
    return blocks


def _facts_block(message: Message) -> SectionBlock | None:
    rows = message.facts[: SlackLimits.MAX_FIELDS]
    if not rows:
        return None
    fields = [MarkdownTextObject(text=truncate(f"*{escape(label)}*\n{escape(value)}", SlackLimits.MAX_FIELD_TEXT))
              for label, value in rows]
    return SectionBlock(fields=fields)


def _buttons(message: Message) -> ActionsBlock | None:
    elements = [ButtonElement(text=PlainTextObject(text=_plain(link.label, SlackLimits.MAX_BUTTON_TEXT)),
                              url=link.url, action_id=f"link-{i}")
                for i, link in enumerate(message.links[:MAX_BUTTONS]) if len(link.url) <= SlackLimits.MAX_BUTTON_URL]
    return ActionsBlock(elements=elements) if elements else None


def _context(message: Message) -> ContextBlock:
    parts = [escape(item) for item in message.context] + ["backup-responder"]
    return ContextBlock(elements=[MarkdownTextObject(text=truncate(" · ".join(parts), SlackLimits.MAX_CONTEXT_TEXT))])


def remediation_blocks(decision: Decision | None) -> list[Block]:
    """What auto-remediation decided: the headline (and a warning when a person must look), the
    notes and the audit id, and "Apply fix" for a fix waiting for approval."""
    if decision is None:
        return []
    head = f"{REMEDIATION_EMOJI.get(decision.action, ':gear:')} *{escape(decision.headline)}*"
    tail = "\n".join(f"*{escape(line)}*" if decision.needs_person and i == 0 else escape(line)
                     for i, line in enumerate(decision.lines))
    room = SlackLimits.MAX_SECTION_TEXT - len(tail) - 1
    text = _PARTIAL_ENTITY.sub("", truncate(head, room)) + ("\n" + tail if tail else "")
    blocks: list[Block] = [SectionBlock(block_id=REMEDIATION_BLOCK_ID, text=MarkdownTextObject(text=text))]
    if decision.approval_id:
        blocks.append(ActionsBlock(block_id=REMEDIATION_ACTIONS_BLOCK_ID,
                                   elements=[slack_apply_button(decision.approval_id)]))
    return blocks


def _fit(head: list[Block], body: list[Block], tail: list[Block]) -> list[Block]:
    """At most 50 blocks: the head and tail are kept, the body is cut with a note."""
    room = SlackLimits.MAX_BLOCKS - len(head) - len(tail)
    if len(body) > room:
        dropped = len(body) - (room - 1)
        body = [*body[: room - 1], SectionBlock(text=MarkdownTextObject(
            text=f"_…{dropped} more sections not shown here: see the ticket or the outbox copy._"))]
    return [*head, *body, *tail]


def build_message(message: Message, compact: bool = False) -> dict[str, Any]:
    """The Block Kit message (``text`` and ``blocks``), within Slack's limits. ``compact``: the short
    form, for what refers to an earlier message (a storm's count, a thread reply, a recovery)."""
    emoji = KIND_EMOJI.get(message.kind, SEVERITY_EMOJI.get(message.severity, ":large_yellow_circle:"))
    head: list[Block] = [HeaderBlock(text=PlainTextObject(text=_plain(f"{emoji} {message.title}",
                                                                      SlackLimits.MAX_HEADER_TEXT), emoji=True))]
    body: list[Block] = []
    sections = message.body(compact)
    if not compact and (facts := _facts_block(message)) is not None:
        head.append(facts)
    head += remediation_blocks(message.decision_shown(compact))  # in the head: never cut by _fit
    for section in sections:
        blocks = _section(section)
        # The storm's count and what auto-remediation changed stay in the head: never cut by _fit.
        (head if section.part in (Part.STORM, Part.CHANGE) else body).extend(blocks)
    tail: list[Block] = []
    if (buttons := _buttons(message)) is not None:
        tail.append(buttons)
    tail.append(_context(message))
    if body and not compact:
        head.append(DividerBlock())
    blocks = _fit(head, body, tail)
    return {"text": truncate(escape(message.fallback), SlackLimits.MAX_TEXT), "blocks": [b.to_dict() for b in blocks]}
