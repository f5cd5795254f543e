"""Small text helpers shared by the parsers, the classifier and the planner."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from string import Formatter
from typing import Annotated

from msgspec import Meta

#: Text, not empty: the envelope fields the parsers convert as they are have this type, so that an
#: event holding anything else in one (a number, ``{}``, ``""``) is read again, loosened first.
NonEmptyText = Annotated[str, Meta(min_length=1)]

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})
_DROP = re.compile(r'["\\`]+')


#: Only this much of a message is matched against the catalog: error messages are short, and the
#: cap bounds the work a hostile or runaway message can cause (matching is linear in any case).
MAX_MATCHED_CHARS = 16_384


def normalise_message(message: str | None) -> str:
    """The form message patterns are matched against: NFKC, straight quotes, no double quotes or
    backslashes (providers wrap and escape messages), collapsed white space, lower case; at most
    ``MAX_MATCHED_CHARS`` characters."""
    if not message:
        return ""
    message = message[:2 * MAX_MATCHED_CHARS]  # before the cap, room for what normalising removes
    text = message if message.isascii() else unicodedata.normalize("NFKC", message).translate(_QUOTES)
    if '"' in text or "\\" in text or "`" in text:
        text = _DROP.sub("", text)
    # split() and join(): the white space of ``\s+``, collapsed and stripped, several times faster
    return " ".join(text.split()).lower()[:MAX_MATCHED_CHARS]


def strip_wrapping_quotes(value: str) -> str:
    """AWS sometimes sends ``statusMessage`` wrapped in literal quotes: ``"\\"Access Denied\\""``."""
    text = value.strip()
    while len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


class _KeepMissing(dict[str, str]):
    """A mapping for ``str.format_map`` that leaves unknown fields visible as ``{name}``."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


_FORMATTER = Formatter()


def fill(template: str, values: dict[str, str]) -> str:
    """Fill ``{placeholders}`` from ``values``; the ones it cannot fill stay as ``{name}``."""
    return template.format_map(_KeepMissing(values))


@lru_cache(maxsize=1024)  # the catalog's titles and steps, parsed once each
def names_in(template: str) -> tuple[str, ...]:
    """The placeholders ``template`` names (its ``{name}`` fields; ``{{`` and ``}}`` are literal
    braces), each once, in order."""
    return tuple(dict.fromkeys(name for _, name, _, _ in _FORMATTER.parse(template) if name))


def missing_placeholders(template: str, values: dict[str, str]) -> set[str]:
    return {name for name in names_in(template) if name not in values}
