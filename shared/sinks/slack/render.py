"""Slack: Block Kit messages built with slack_sdk, sent to an incoming webhook or with a bot token
through the Web API (which can also thread and update a message in place).

Untrusted text (error messages, resource names, tags) is escaped for mrkdwn (``&``, ``<``, ``>``)
so that no one can mention ``<!channel>`` or disguise a link, and every limit below is enforced by
truncating gracefully: a message is always sent, with a meaningful fallback ``text``."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
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
from shared.models import Outcome, RemediationSummary
from shared.notify.facts import CLOUD_NAMES, links, what_failed
from shared.notify.notice import GroupInfo, Notice
from shared.remediation.render import diff_lines, headline
from shared.sinks.base import clean, truncate

# slack_sdk logs request URLs (a webhook URL is a secret) at debug level and errors with their text:
# its loggers here say nothing; the Sender reports failures without URLs.
_SDK_LOG = logging.getLogger("backup_responder.slack_sdk")


_SDK_LOG.setLevel(logging.CRITICAL + 1)


_SDK_LOG.propagate = False


SEVERITY_EMOJI = {"critical": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:",
                  "low": ":white_circle:"}


REMEDIATION_EMOJI = {"applied": ":white_check_mark:", "planned": ":memo:", "refused": ":no_entry_sign:",
                     "failed": ":x:", "suppressed": ":no_entry_sign:", "notified": ":information_source:"}


#: The block ids of the remediation part of a message (the "Apply fix" button's block among them).
REMEDIATION_BLOCK_ID = "remediation"


REMEDIATION_ACTIONS_BLOCK_ID = "remediation_actions"


NEEDS_PERSON = ":warning: *A person must look at this: automation stopped here.*"


class SlackLimits:
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
    head = f"*{title}*\n" if title else ""
    parts = _chunks(body, SlackLimits.MAX_SECTION_TEXT - len(head))
    return [SectionBlock(text=MarkdownTextObject(text=(head if i == 0 else "") + part))
            for i, part in enumerate(parts)]


def _facts_block(outcome: Outcome) -> SectionBlock | None:
    rows = what_failed(outcome)[: SlackLimits.MAX_FIELDS]
    if not rows:
        return None
    fields = [MarkdownTextObject(text=truncate(f"*{label}*\n{escape(value)}", SlackLimits.MAX_FIELD_TEXT))
              for label, value in rows]
    return SectionBlock(fields=fields)


def _buttons(outcome: Outcome | None) -> ActionsBlock | None:
    if outcome is None:
        return None
    elements = [ButtonElement(text=PlainTextObject(text=_plain(label, SlackLimits.MAX_BUTTON_TEXT)), url=url,
                              action_id=f"link-{i}")
                for i, (label, url) in enumerate(links(outcome)[: SlackLimits.MAX_ACTION_ELEMENTS])
                if len(url) <= SlackLimits.MAX_BUTTON_URL]
    return ActionsBlock(elements=elements) if elements else None


def _context(outcome: Outcome | None, extra: Sequence[str] = ()) -> ContextBlock:
    parts: list[str] = []
    if outcome is not None:
        finding = outcome.finding
        parts.append(f"cause `{escape(finding.cause)}`")
        if finding.rule:
            parts.append(f"rule `{escape(finding.rule)}`")
        parts.append(f"confidence {finding.confidence:.2f}")
    parts += list(extra)
    parts.append("backup-responder")
    return ContextBlock(elements=[MarkdownTextObject(text=truncate(" · ".join(parts), SlackLimits.MAX_SECTION_TEXT))])


def _detail_blocks(outcome: Outcome) -> list[Block]:
    """Why, the numbered fix steps and the snippets: the part that may be long."""
    failure, plan = outcome.failure, outcome.plan
    blocks: list[Block] = []
    if failure.message:
        blocks += _code_sections("Error message", failure.message)
    if failure.decoded is not None:
        d = failure.decoded
        line = (f"`{escape(d.action)}` on `{escape(d.resource)}` denied for `{escape(d.principal_arn)}`"
                + (" (explicit deny)" if d.explicit_deny else ""))
        blocks += _text_sections("Decoded authorization failure", line)
    if plan is None:
        if failure.failed:
            blocks += _text_sections("", "_No catalog rule matches this failure yet; the raw message is above._")
        return blocks
    blocks += _text_sections("Why", escape(plan.explanation))
    steps = "\n".join(f"{i}. {escape(step)}" for i, step in enumerate(plan.steps, 1))
    if steps:
        blocks += _text_sections("Fix", steps)
    for snippet in plan.snippets:
        blocks += _code_sections(f"{snippet.title} ({snippet.kind})", snippet.body)
    roles = [f"• *{escape(ra.role)}* (`{escape(ra.role_definition_id)}`) for `{escape(ra.principal_id)}` "
             f"on `{escape(ra.scope)}`" for ra in plan.role_assignments]
    if roles:
        blocks += _text_sections("Role assignments", "\n".join(roles))
    notes = []
    if plan.missing:
        notes.append("Not known from the event, fill in: " + ", ".join(f"`{{{escape(m)}}}`" for m in plan.missing))
    if plan.auto_fix == "none" and plan.manual_reason:
        notes.append("Needs a person: " + escape(plan.manual_reason))
    if notes:
        blocks += _text_sections("", "\n".join(notes))
    return blocks


def remediation_blocks(summary: RemediationSummary | None) -> list[Block]:
    """What auto-remediation decided: the headline (and a warning when a person must look), the diff
    in a code block, the notes and the audit id, and "Apply fix" for a fix waiting for approval.
    Empty when remediation did not run or has nothing to say."""
    if summary is None or (head := headline(summary)) is None:
        return []
    lines = [f"{REMEDIATION_EMOJI.get(summary.action, ':gear:')} *Auto-remediation:* {escape(head)}"]
    if summary.needs_person:
        lines.append(NEEDS_PERSON)
    approvable = summary.action == "planned" and bool(summary.approval_id)
    if approvable:
        lines.append("An approver can make this change with *Apply fix* below.")
    text = "\n".join(lines)
    if len(text) > SlackLimits.MAX_SECTION_TEXT:  # a long reason: cut it, keep the warning and the hint
        tail = "\n".join(lines[1:])
        room = SlackLimits.MAX_SECTION_TEXT - len(tail) - 1
        text = _PARTIAL_ENTITY.sub("", truncate(lines[0], room)) + ("\n" + tail if tail else "")
    blocks: list[Block] = [SectionBlock(block_id=REMEDIATION_BLOCK_ID, text=MarkdownTextObject(text=text))]
    if diff := diff_lines(summary):
        blocks.append(_code_section("Change", "\n".join(diff)))
    notes = [f"Note: {escape(note)}" for note in summary.notes]
    room = SlackLimits.MAX_CONTEXT_ELEMENTS - 2
    if len(notes) > room:
        notes = [*notes[: room - 1], f"…{len(notes) - room + 1} more notes in the audit record"]
    audit = f"mode {escape(summary.mode)}"
    if summary.audit_id:
        audit += f" · audit record `{escape(summary.audit_id)}`"
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=truncate(t, SlackLimits.MAX_CONTEXT_TEXT))
                                         for t in [*notes, audit]]))
    if approvable and summary.approval_id:
        blocks.append(ActionsBlock(block_id=REMEDIATION_ACTIONS_BLOCK_ID,
                                   elements=[slack_apply_button(summary.approval_id)]))
    return blocks


def _fit(head: list[Block], body: list[Block], tail: list[Block]) -> list[Block]:
    """At most 50 blocks: the head and tail are kept, the body is cut with a note."""
    room = SlackLimits.MAX_BLOCKS - len(head) - len(tail)
    if len(body) > room:
        dropped = len(body) - (room - 1)
        body = [*body[: room - 1], SectionBlock(text=MarkdownTextObject(
            text=f"_…{dropped} more sections not shown here: see the ticket or the outbox copy._"))]
    return [*head, *body, *tail]


def _sample_text(group: GroupInfo) -> str:
    shown = ", ".join(f"`{escape(truncate(r, 120))}`" for r in group.sample)
    more = group.resources - len(group.sample)
    return shown + (f" and {more:,} more" if more > 0 else "")


def fallback_text(notice: Notice) -> str:
    """The top-level ``text``: what notifications and screen readers show, always meaningful."""
    outcome = notice.outcome
    title = escape(notice.title())
    if outcome is None:
        return truncate(title, SlackLimits.MAX_TEXT)
    f = outcome.failure
    where = " ".join(p for p in (CLOUD_NAMES[f.cloud], f.job_type or "backup", "job",
                                 f"on {f.resource_name or f.resource_id}" if (f.resource_name or f.resource_id) else "",
                                 f"in {f.account_id}" if f.account_id else "", f.region or "") if p)
    severity = outcome.finding.severity.upper()
    prefix = {"recovered": "Recovered", "digest": "Storm summary", "group": "Storm"}.get(notice.kind, severity)
    text = f"[{prefix}] {title} ({escape(where)}; cause {escape(outcome.finding.cause)})"
    decision = headline(outcome.remediation) if outcome.remediation and _shows_remediation(notice) else None
    if decision:
        text += f" Auto-remediation: {escape(decision)}"
        if outcome.remediation is not None and outcome.remediation.needs_person:
            text += " A person must look at this."
    return truncate(text, SlackLimits.MAX_TEXT)


def _shows_remediation(notice: Notice) -> bool:
    """The messages that carry the failure's details also say what auto-remediation decided."""
    return notice.kind in ("failure", "repeat", "group")


def build_message(notice: Notice) -> dict[str, Any]:
    """The Block Kit message (``text`` and ``blocks``) for a notice, within Slack's limits."""
    outcome = notice.outcome
    severity = outcome.finding.severity if outcome else "medium"
    emoji = SEVERITY_EMOJI.get(severity, ":large_yellow_circle:")
    head: list[Block] = []
    body: list[Block] = []
    tail: list[Block] = []
    extra: list[str] = []

    if notice.kind == "quiet-digest":
        head.append(HeaderBlock(text=PlainTextObject(text=_plain(notice.title(), SlackLimits.MAX_HEADER_TEXT))))
        lines = "\n".join(f"• `{escape(cause)}`: {count:,}" for cause, count in notice.summary)
        body += _text_sections("Held back during quiet hours", lines or "_nothing_")
        blocks = _fit(head, body, [_context(None)])
        return {"text": fallback_text(notice), "blocks": [b.to_dict() for b in blocks]}

    if notice.kind == "recovered":
        head.append(HeaderBlock(text=PlainTextObject(text=_plain("✅ " + notice.title(), SlackLimits.MAX_HEADER_TEXT))))
        if outcome is not None and (facts := _facts_block(outcome)):
            body.append(facts)
        blocks = _fit(head, body, [_context(outcome, ["recovered"])])
        return {"text": fallback_text(notice), "blocks": [b.to_dict() for b in blocks]}

    title = notice.title()
    if notice.kind == "repeat":
        title = f"Again ({notice.count:,}×): {title}"
        extra.append(f"seen {notice.count:,} times")
    head.append(HeaderBlock(text=PlainTextObject(text=_plain(f"{emoji} {title}", SlackLimits.MAX_HEADER_TEXT),
                                                 emoji=True)))
    group = notice.group
    if notice.kind in ("group", "digest") and group is not None:
        summary = (f"{emoji} *{group.events:,}* failures, *{group.resources:,}* resources, "
                   f"cause `{escape(group.cause)}`, {escape(group.window())}\n" + _sample_text(group))
        if notice.kind == "digest":
            summary = "*Storm summary* (the window has closed)\n" + summary
        head += _text_sections("", summary)
        extra.append(f"storm {escape(group.id)}")
    if outcome is not None:
        if notice.kind != "digest":
            if (facts := _facts_block(outcome)) is not None:
                head.append(facts)
            head += remediation_blocks(outcome.remediation)  # in the head: never cut by _fit
            body += _detail_blocks(outcome)
        if (buttons := _buttons(outcome)) is not None:
            tail.append(buttons)
    tail.append(_context(outcome, extra))
    if body:
        head.append(DividerBlock())
    blocks = _fit(head, body, tail)
    return {"text": fallback_text(notice), "blocks": [b.to_dict() for b in blocks]}


def _digest_reply(notice: Notice) -> dict[str, Any]:
    """A short thread reply for storm updates and digests."""
    group = notice.group
    text = fallback_text(notice)
    if group is None:
        return {"text": text}
    line = (f"{'*Storm summary*: ' if notice.kind == 'digest' else ''}*{group.events:,}* failures on "
            f"*{group.resources:,}* resources so far ({escape(group.window())}): {_sample_text(group)}")
    return {"text": text, "blocks": [b.to_dict() for b in _text_sections("", line)]}
