"""Error codes inside failure messages, in every form the providers and their SDKs write them.

AWS Backup relays what the service that did the work answered (EC2, RDS, KMS, ...), and Azure
Backup relays ARM and resource-provider errors, in the SDKs' own forms:

- ``An error occurred (InvalidSnapshot.NotFound) when calling the CopySnapshot operation: ...``
- ``... (Service: AmazonEC2; Status Code: 400; Error Code: InvalidParameter; Request ID: ...)``
  (also localised: ``오류 코드: X``, ``エラー コード: X``)
- ``Client.InvalidVolume.NotFound: ...`` / ``Server.InternalError: ...`` (EC2's SOAP-era prefix)
- ``KMSInvalidStateException: ...`` and Java class names (``com.amazonaws....model.XException``)
- JSON and XML error bodies: ``{"code": "AuthorizationFailed", ...}``, ``<Code>AccessDenied</Code>``
- ``Error code: UserErrorX``, ``Inner error code: ResourceGroupNotFound``, ``Code=X``

A token that only looks like a code is taken when the provider knowledge knows it or its shape is
unmistakable (``...Exception``, ``...Fault``, ``UserError...``); plain words followed by a colon
(``Error:``, ``Note:``) are not codes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache

from shared.text import MAX_MATCHED_CHARS

_CODE = r"[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*"

#: Forms that name a code explicitly (certain whatever the token), each with the text it cannot
#: match without, so that a message is searched only for the forms it can contain. The words are
#: matched in any case, the code as written (``(?i:...)`` around the words alone: compiled with
#: ``re.I`` throughout, the code's letter classes cost a cold start 3 ms to fold).
_EXPLICIT: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = tuple((keys, re.compile(p)) for keys, p in (
    (("error occurred",), rf"(?i:an error occurred) \(({_CODE})\) (?i:when calling)"),
    (("code", "코드", "コード"), rf"(?i:error|오류|エラー)\s*(?i:code|코드|コード)\s*[:=]\s*[\"']?({_CODE})"),
    (("code",), rf"\\?[\"'](?i:code|errorcode|error_code)\\?[\"']\s*:\s*\\?[\"']({_CODE})\\?[\"']"),
    (("<code", "<errorcode"), rf"<(?i:code|errorcode)>\s*({_CODE})\s*</"),
    (("code",), rf"\b(?i:code|errorcode)\s*[=:]\s*[\"']?({_CODE})\b"),
    (("client.", "server."), rf"(?:^|[\s(\[:;,])(?i:client|server)\.({_CODE})"),
))
_EXPLICIT_KEYS = frozenset(key for keys, _ in _EXPLICIT for key in keys)
#: Tokens that are codes by their shape alone (``KMSInvalidStateException``, ``UserErrorFoo``), and
#: bare tokens taken only when the provider knowledge knows them (``InvalidSnapshot.NotFound``).
_TOKEN = re.compile(r"\b[A-Z][A-Za-z0-9.]*[A-Z][A-Za-z0-9.]*")  # two capitals or a capital and a dot: not "The"
_SHAPED = re.compile(r"(?:Exception|Fault)$|^UserError[A-Z]")
#: A bare token must look like a code: two capitalised humps or a dot (not "The", "Access").
_CODE_LIKE = re.compile(r"^[A-Z][a-z0-9]+[A-Z]|\.")
#: ``Code: text``: a token of two humps or more, followed by a colon, opening the message or a clause.
_HUMPS = re.compile(r"^[A-Z][a-z0-9]+[A-Z]")
#: Words an explicit form may catch that are not codes (``Error code: none``).
_NOT_CODES = frozenset({"none", "null", "n/a", "na", "unknown", "the", "is", "was", "see"})
#: Longest accepted token: providers' codes are short; a run of letters this long is not one.
MAX_CODE_LENGTH = 80


def _opens_a_clause(text: str, match: re.Match[str]) -> bool:
    """``AccessDenied: Access Denied``: the token has two humps, a colon after it, and opens the
    message or follows one of ``.:;(``."""
    end = match.end()
    if not (text[end:end + 1] == ":" and text[end + 1:end + 2].isspace() and _HUMPS.search(match.group())):
        return False
    before = match.start() - 1
    while before >= 0 and text[before].isspace():
        before -= 1
    return before < 0 or text[before] in ".:;("


def codes_in(text: str | None, known: Callable[[str], bool] = lambda code: False) -> list[str]:
    """The error codes ``text`` names, the most telling first, each once (as written)."""
    if not text:
        return []
    text = text[:MAX_MATCHED_CHARS]
    found: list[str] = []
    seen: set[str] = set()

    def add(code: str) -> None:
        code = code.strip(".")
        key = code.lower()
        if key not in seen and key not in _NOT_CODES and 2 < len(code) <= MAX_CODE_LENGTH:
            seen.add(key)
            found.append(code)

    lowered = text.lower()
    present = {key for key in _EXPLICIT_KEYS if key in lowered}
    for keys, pattern in _EXPLICIT if present else ():
        if present.intersection(keys):
            for match in pattern.finditer(text):
                add(match.group(1))
    for match in _TOKEN.finditer(text):
        token = match.group().rstrip(".")
        if token.startswith(("Client.", "Server.")):  # EC2's prefix; the explicit form took the code
            continue
        if _SHAPED.search(token) or _opens_a_clause(text, match) or (_CODE_LIKE.search(token) and known(token)):
            add(token)
    return found


class CodeBook:
    """Documented spellings of provider error codes, looked up in any case."""

    #: Codes are found inside a text by their first characters, then compared whole.
    _PREFIX = 4

    def __init__(self, codes: Iterable[str] = ()) -> None:
        self._by_lower = {code.lower(): code for code in codes}
        #: Each prefix of ``_PREFIX`` characters the codes open with, and their lengths, longest first:
        #: a text is searched for a few dozen prefixes, not for the hundreds of codes that begin "user".
        lengths: dict[str, set[int]] = {}
        for code in self._by_lower:
            lengths.setdefault(code[:self._PREFIX], set()).add(len(code))
        self._prefixes = tuple((prefix, tuple(sorted(found, reverse=True))) for prefix, found in lengths.items()
                               if len(prefix) == self._PREFIX)

    def spell(self, code: str | None) -> str | None:
        if not code:
            return None
        return self._by_lower.get(code.lower(), code)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code.lower() in self._by_lower

    def __iter__(self) -> Iterator[str]:
        """The documented spellings."""
        return iter(self._by_lower.values())

    def found_in(self, text: str) -> str | None:
        """The longest known code inside ``text`` (built-in alerts embed it lower-cased in
        ``originAlertId``, after a run of digits, at the end or followed by a word such as ``log``),
        the first of the longest. Each prefix the codes open with is searched for (``str.find``, a
        few dozen searches in C), not looked up at every place of the text."""
        lowered = text.lower()
        best, at = "", -1
        for prefix, lengths in self._prefixes:
            start = lowered.find(prefix)
            while start >= 0:
                for length in lengths:  # the longest first: UserErrorX over ErrorX
                    if length < len(best) or (length == len(best) and start > at):
                        break
                    word = lowered[start:start + length]
                    if len(word) == length and word in self._by_lower:
                        best, at = word, start
                        break
                start = lowered.find(prefix, start + 1)
        return self._by_lower[best] if best else None


#: Messages whose codes are remembered: a storm repeats a handful of messages across many jobs,
#: and searching one for every code form costs more than the rest of its event.
MESSAGES_REMEMBERED = 4096


@lru_cache(maxsize=MESSAGES_REMEMBERED)
def spelled_codes_in(text: str | None, book: CodeBook | None) -> tuple[str, ...]:
    """``codes_in`` with the book's documented spelling (pure, so remembered per text and book)."""
    if book is None:
        return tuple(codes_in(text))
    return tuple(book.spell(code) or code for code in codes_in(text, book.__contains__))
