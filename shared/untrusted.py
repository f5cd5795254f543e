"""Untrusted JSON in, a value the core can walk safely out, or an ``EventError`` saying why not.

Every entry point reads events from outside (a file or standard input, an HTTP body, the Lambda
runtime's already-decoded event), and every error message quotes some of it. This module is the
one place that bounds both:

- ``decode_at`` reads one JSON document from text, however malformed, deep or badly encoded, and
  raises ``EventError`` with the line and column of the problem; ``read_plain`` reads the common
  case (one plain document on one line, as JSON lines hold them) many times faster, with every
  check ``check_value`` makes, or says to read it the careful way;
- ``check_value`` walks a decoded value without recursion and refuses what the core must never
  see: nesting deeper than ``MAX_DEPTH``, lone surrogates (text that is not Unicode and cannot be
  written as UTF-8), NaN and infinities, numbers no double can hold, duplicate keys, keys that are
  not strings, values that are not JSON;
- ``excerpt`` quotes a bounded, printable piece of an input, and ``EventError`` bounds its whole
  message, so an error line never carries a megabyte of the input or a character that breaks
  printing it.
"""

from __future__ import annotations

import gc
import json
import math
import re
import threading
from typing import Any, Final

import orjson

#: The deepest nesting accepted. Real AWS Backup events and Azure common-alert-schema alerts
#: nest at most 8 levels (tests/events/); 64 leaves room for fields the providers add, and is far
#: below the depth where Python's recursion (the json module, pydantic, the core) gives up.
MAX_DEPTH = 64
#: Characters of an input quoted in an error message.
EXCERPT_CHARS = 60
#: The longest error message (an ``EventError``'s text), whatever the input held.
MAX_ERROR_CHARS = 400
#: Integers beyond a double's range (RFC 7493, I-JSON: numbers are IEEE 754 doubles) are refused;
#: Python also refuses to print integers of more than 4300 digits.
MAX_INT_BITS = 1024

_SURROGATE = re.compile("[\ud800-\udfff]")
#: What ``bytes.decode("utf-8", "surrogateescape")`` makes of a byte that is not UTF-8.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


class EventError(ValueError):
    """An input that is not an event this responder handles, with the reason in plain words:
    at most ``MAX_ERROR_CHARS`` characters, and printable whatever the input held."""

    def __init__(self, reason: str) -> None:
        super().__init__(bounded(reason))


class NotJson(EventError):
    """Text that is not a JSON document: not UTF-8, a syntax error, nesting no parser should follow."""


def printable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udXXX`` escapes: they cannot be encoded as UTF-8
    (printing them raises), and inside a JSON string the escape reads back as the same value."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def bounded(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text``, printable, cut to ``limit`` characters."""
    text = printable(text[: limit * 2])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """A short quoted excerpt of an untrusted value, for an error message: a string's first
    ``limit`` characters (JSON-quoted: control characters and surrogates escaped) and its length
    when it is longer; a number, true, false or null as JSON; an object or array by its kind."""
    if isinstance(value, str):
        quoted = printable(json.dumps(value[:limit], ensure_ascii=False))
        return quoted if len(value) <= limit else f"{quoted[:-1]}…\" ({len(value)} characters)"
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value) if value.bit_length() <= 64 else f"a {value.bit_length()}-bit number"
    if isinstance(value, float):
        return json.dumps(value)  # NaN and Infinity as JavaScript spells them
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return f"a value of type {type(value).__name__}"


class _Duplicates(dict[str, Any]):
    """A decoded object in which a key appeared more than once (``duplicate`` is that key):
    which value counts differs between parsers, so the object is ambiguous and refused."""

    duplicate: str = ""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    seen: set[str] = set()
    ambiguous = _Duplicates(value)
    ambiguous.duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
    return ambiguous


_DECODER = json.JSONDecoder(object_pairs_hook=_object)


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    return f"line {line} column {pos - text.rfind(chr(10), 0, pos)}"


def _not_utf8(text: str, pos: int) -> NotJson:
    char = text[pos]
    if _ESCAPED_BYTE.fullmatch(char):
        return NotJson(f"the input is not UTF-8: byte 0x{ord(char) - 0xDC00:02x} at {_where(text, pos)}")
    return NotJson(f"lone surrogate U+{ord(char):04X} at {_where(text, pos)}: not Unicode text")


def decode_text(data: bytes) -> str:
    """Bytes as text for ``decode_at``: UTF-8, with each byte that is not UTF-8 kept as an escaped
    character, so that only the document holding it is refused, at its line and column."""
    return data.decode("utf-8", "surrogateescape")


class _CollectorPause:
    """The garbage collector held off while the standard library's decoder reads (``decode_at``).
    That decoder recurses, and a collection that starts deep in its descent runs finalizers (a
    temporary directory's cleanup) with no stack left: they fail, and their errors are lost. The
    collector is the process's, so decoders on several threads hold it off together; it runs again
    when the last one is done, if it ran before."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._resume = False

    def __enter__(self) -> None:
        with self._lock:
            if self._holders == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._holders += 1

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0 and self._resume:
                gc.enable()


_NO_COLLECTION = _CollectorPause()


def decode_at(text: str, pos: int = 0) -> tuple[Any, int]:
    """The JSON value that starts at ``pos`` in ``text`` and the index after it. ``NotJson``, with
    the line and column, when it is not JSON, not UTF-8 (see ``decode_text``), or nested too deep
    to read. Call ``check_value`` on the value before anything walks it."""
    try:
        with _NO_COLLECTION:
            value, end = _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        if exc.pos < len(text) and _SURROGATE.match(text, exc.pos):
            raise _not_utf8(text, exc.pos) from None
        raise NotJson(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise NotJson(f"JSON nested deeper than {MAX_DEPTH} levels at {_where(text, pos)}") from None
    except ValueError:  # the only other: Python's limit on the digits of an integer
        raise NotJson(f"a number with too many digits in the document at {_where(text, pos)}") from None
    raw = _SURROGATE.search(text, pos, end)
    if raw is not None:
        raise _not_utf8(text, raw.start())
    return value, end


def read_json(data: bytes | str) -> Any:
    """One JSON document (an HTTP body), checked by ``check_value``: ``NotJson`` when it cannot be
    read, ``EventError`` when it holds what ``check_value`` refuses."""
    text = decode_text(data) if isinstance(data, bytes) else data
    value, end = decode_at(text, len(text) - len(text.lstrip()))
    if text[end:].strip():
        raise NotJson(f"invalid JSON at {_where(text, end + len(text[end:]) - len(text[end:].lstrip()))}: "
                      "extra data after the document")
    check_value(value)
    return value


#: What ``read_plain`` answers for a line it leaves to ``decode_at`` and ``check_value``.
NOT_PLAIN: Final = object()
def read_plain(line: str) -> Any:
    """The JSON document that is the whole of ``line``, already held to everything ``check_value``
    refuses, or ``NOT_PLAIN``: then ``decode_at`` and ``check_value`` read it and say what is wrong.

    orjson refuses lone surrogates, NaN and infinities, and has no keys but strings; what it does not
    check is settled without walking the value: the nesting is below ``MAX_DEPTH`` when the line
    has fewer brackets; no key is repeated when orjson's output holds as many colons as the line. A
    line without escapes writes each string as orjson writes it back, colons and all, and every
    other colon follows a key: a repeated key's first pair is dropped, with its colon. An integer
    orjson cannot hold in 64 bits (below -2**63, above 2**64 - 1) is read as a float and written back
    with an exponent, as every float from 1e16 is: a line whose output holds ``e+`` is left to the
    careful way, like lines with escapes or many brackets. (Each scan is for one character: the
    fastest a text is searched.)"""
    if "\\" in line or line.count("{") + line.count("[") >= MAX_DEPTH:
        return NOT_PLAIN
    try:
        value = orjson.loads(line)
        written = orjson.dumps(value)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return NOT_PLAIN
    if (b"+" in written and b"e+" in written) or written.count(b":") != line.count(":"):
        return NOT_PLAIN
    return value


class _Node:
    """A node of the walk, with its parent, so that the path is built only for an error."""

    __slots__ = ("depth", "key", "parent", "value")

    def __init__(self, value: Any, parent: _Node | None = None, key: Any = None) -> None:
        self.value, self.parent, self.key = value, parent, key
        self.depth: int = 0 if parent is None else parent.depth + 1

    def path(self) -> str:
        parts: list[str] = []
        node: _Node | None = self
        while node is not None and node.parent is not None:
            key = node.key
            if isinstance(key, int) and isinstance(node.parent.value, list):
                parts.append(f"[{key}]")
            elif isinstance(key, str) and key.isidentifier():
                parts.append(f".{bounded(key, 20)}")
            else:
                parts.append(f"[{excerpt(key, 20)}]")
            node = node.parent
        parts.reverse()
        shown = parts if len(parts) <= 8 else [*parts[:4], "…", *parts[-3:]]
        return "".join(shown).lstrip(".") or "the top level"


def _plainly_fine(value: Any) -> bool:
    """The common case, cheaply: plain JSON within the limits (no paths kept). False means "look
    closer", and ``check_value`` walks again to say where and why. Only objects and arrays wait on
    the stack: each one's scalars (most of a document) are checked as it is opened."""
    if type(value) is not dict and type(value) is not list:
        return _plain_scalar(value)
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth >= MAX_DEPTH:
            return False
        if type(item) is dict:
            for key in item:
                if type(key) is not str or (not key.isascii() and _SURROGATE.search(key)):
                    return False
            children: Any = item.values()
        else:
            children = item
        for child in children:
            kind = type(child)
            if kind is str:  # ``_plain_scalar``'s text check, inline: most values are text
                if not child.isascii() and _SURROGATE.search(child):
                    return False
            elif kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif not _plain_scalar(child):
                return False
    return True


def _plain_scalar(item: Any) -> bool:
    """A JSON scalar within the limits: text without lone surrogates, a number a double can hold
    (finite, not too many bits), true, false or null; not a subclass (``_Duplicates``) or another type."""
    kind = type(item)
    if kind is str:
        return item.isascii() or _SURROGATE.search(item) is None
    if kind is int:
        bits: int = item.bit_length()
        return bits <= MAX_INT_BITS
    if kind is float:
        return math.isfinite(item)
    return item is None or kind is bool


def check_value(value: Any) -> None:
    """Refuse (``EventError``, naming where) a decoded value the core must not walk: nesting deeper
    than ``MAX_DEPTH``, lone surrogates in text or keys, NaN and infinities, integers beyond
    ``MAX_INT_BITS``, duplicate or non-string keys, values that are not JSON. Without recursion."""
    if _plainly_fine(value):
        return
    stack = [_Node(value)]
    while stack:
        node = stack.pop()
        item = node.value
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise EventError(f"lone surrogate in the text at {node.path()}: not Unicode text")
        elif isinstance(item, dict):
            if node.depth >= MAX_DEPTH:
                raise EventError(f"nested deeper than {MAX_DEPTH} levels at {node.path()}")
            if isinstance(item, _Duplicates):
                raise EventError(f"duplicate key {excerpt(item.duplicate, 20)} in the object at {node.path()}: "
                                 "which of its values counts would be ambiguous")
            for key, child in item.items():
                if not isinstance(key, str):
                    raise EventError(f"a key that is not a string ({excerpt(key)}) at {node.path()}")
                if _SURROGATE.search(key):
                    raise EventError(f"lone surrogate in a key at {_Node(child, node, key).path()}: "
                                     "not Unicode text")
                stack.append(_Node(child, node, key))
        elif isinstance(item, list):
            if node.depth >= MAX_DEPTH:
                raise EventError(f"nested deeper than {MAX_DEPTH} levels at {node.path()}")
            stack.extend(_Node(child, node, index) for index, child in enumerate(item))
        elif item is None or isinstance(item, bool):
            pass
        elif isinstance(item, int):
            if item.bit_length() > MAX_INT_BITS:
                raise EventError(f"a number out of range at {node.path()}")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise EventError(f"{excerpt(item)} at {node.path()} is not a JSON number")
        else:
            raise EventError(f"{excerpt(item)} at {node.path()} is not a JSON value")


def check_event(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object that passes ``check_value``; ``EventError`` otherwise."""
    if not isinstance(value, dict):
        raise EventError(f"expected a JSON object, got {excerpt(value)}")
    check_value(value)
    return value
