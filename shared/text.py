"""Small text helpers shared by the parsers, the classifier and the planner."""

from __future__ import annotations

import re
import unicodedata
from string import Formatter

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})
_DROP = re.compile(r'["\\`]+')
_SPACE = re.compile(r"\s+")


def normalise_message(message: str | None) -> str:
    """The form message patterns are matched against: NFKC, straight quotes, no double quotes or
    backslashes (providers wrap and escape messages), collapsed white space, lower case."""
    if not message:
        return ""
    text = message if message.isascii() else unicodedata.normalize("NFKC", message).translate(_QUOTES)
    text = _DROP.sub("", text)
    return _SPACE.sub(" ", text).strip().lower()


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


def missing_placeholders(template: str, values: dict[str, str]) -> set[str]:
    return {name for _, name, _, _ in _FORMATTER.parse(template) if name and name not in values}
