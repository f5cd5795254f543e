"""Notices in words, as the responder composes them for a sink (``shared.notify.compose``)."""

from __future__ import annotations

from shared.catalog import default_catalog
from shared.models import Outcome
from shared.notify.compose import compose
from shared.notify.message import Message
from shared.notify.notice import Notice
from shared.sinks.local.render import render_text
from shared.vocab import NoticeKind


def say(notice: Notice, language: str = "en") -> Message:
    """The message every sink renders for ``notice``."""
    return compose(notice, default_catalog(), language)


def text_of(outcome: Outcome) -> str:
    """What the console prints for a new failure."""
    return render_text(say(Notice(NoticeKind.FAILURE, outcome)))
