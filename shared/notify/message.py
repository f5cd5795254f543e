"""The neutral message: what a person reads about one notice, composed once (``shared.notify.compose``)
and rendered by every sink into its own markup. Nothing here is markup: every text is plain, as
the provider or the catalog wrote it, and each renderer escapes it its own way."""

from __future__ import annotations

from enum import StrEnum

from msgspec import Struct, field

from shared.vocab import NoticeKind, Severity


class Part(StrEnum):
    """What a section of the body holds, so a renderer can style and budget it."""

    MESSAGE = "message"  # the provider's error message (verbatim)
    DECODED = "decoded"  # the decoded authorization failure
    WHY = "why"  # the explanation
    STEPS = "steps"  # the numbered fix steps
    CODE = "code"  # a policy, command or SQL snippet
    ROLES = "roles"  # role assignments to grant
    LOOKUPS = "lookups"  # how to find the values the event did not carry
    CHANGE = "change"  # what auto-remediation changed (a diff)
    STORM = "storm"  # a storm's counts and newest resources
    SUMMARY = "summary"  # what quiet hours held back; a failure report's top causes
    NOTE = "note"  # a short remark


class Step(Struct, frozen=True):
    """One fix step; ``command`` is a command it names, shown whole in its own code block (or, where
    it cannot fit, ``short`` in its place)."""

    text: str
    command: str = ""
    short: str = ""


class Section(Struct, frozen=True):
    """One part of the body: a heading and a paragraph, numbered steps, list items, or code.

    ``code`` is verbatim and never wrapped; when ``whole`` it must never be split either (a command
    that is pasted): a sink that cannot fit it shows ``short`` in its place."""

    part: Part
    heading: str = ""
    text: str = ""
    steps: tuple[Step, ...] = ()
    items: tuple[str, ...] = ()
    #: (label, command) pairs: the value a placeholder needs and the command that finds it.
    pairs: tuple[tuple[str, str], ...] = ()
    code: str = ""
    language: str = ""
    whole: bool = False
    short: str = ""


class Link(Struct, frozen=True):
    label: str
    url: str


class Decision(Struct, frozen=True):
    """What auto-remediation decided, in words (``headline``), with the facts a sink acts on."""

    headline: str
    action: str
    mode: str
    needs_person: bool = False
    #: Set when an approver can apply the planned fix from chat ("Apply fix").
    approval_id: str | None = None
    audit_id: str | None = None
    notes: tuple[str, ...] = ()
    #: The change as diff lines (policy documents, role assignments), cut; empty when nothing changes.
    diff: str = ""
    #: Sentences in the message's language: the warning, the approval hint, the audit line.
    lines: tuple[str, ...] = ()


class Message(Struct, frozen=True):
    """One notice, in one language, ready for any sink."""

    kind: NoticeKind
    language: str
    severity: Severity
    #: The header: the catalog's title, or the storm's headline, or "Recovered: ...".
    title: str
    #: One line for notifications, screen readers and chat fallbacks.
    fallback: str
    #: A ticket's title: the title and where it happened.
    subject: str
    #: Short "name value" items shown under the title (cause, rule, confidence, severity).
    context: tuple[str, ...] = ()
    #: (label, value) rows: which job, resource, vault, account, Region, time, code.
    facts: tuple[tuple[str, str], ...] = ()
    decision: Decision | None = None
    #: The whole body, for a new message or ticket.
    sections: tuple[Section, ...] = ()
    #: The short body, for what refers to an earlier message: a storm's running count, a comment
    #: on an open ticket, a thread reply, a recovery.
    brief: tuple[Section, ...] = ()
    links: tuple[Link, ...] = ()
    #: The closing line of a new ticket.
    footer: str = ""
    cause: str = ""
    rule: str | None = None
    fingerprint: str | None = None
    storm_id: str | None = None
    #: For tickets and incidents: the account or subscription, the resource, the time (ISO).
    account: str = ""
    resource: str = ""
    time: str = ""
    times_seen: int = 1
    labels: dict[str, str] = field(default_factory=dict)

    def body(self, compact: bool) -> tuple[Section, ...]:
        return self.brief if compact else self.sections

    @property
    def compact(self) -> bool:
        """Whether a new post of this message is the short form: all but failures and repeats
        (storm counts, digests, recoveries, summaries refer to what was posted before)."""
        return self.kind not in (NoticeKind.FAILURE, NoticeKind.REPEAT)

    def decision_shown(self, compact: bool) -> Decision | None:
        """What auto-remediation decided, where the form shows it: the whole message, and a repeat's
        short form (a comment on the open ticket says what was done this time)."""
        return self.decision if not compact or self.kind == NoticeKind.REPEAT else None
