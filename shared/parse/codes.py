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
from collections.abc import Callable

from shared.text import MAX_MATCHED_CHARS

_CODE = r"[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*"

#: Forms that name a code explicitly, most telling first: each is certain whatever the token.
_EXPLICIT: tuple[re.Pattern[str], ...] = (
    re.compile(rf"an error occurred \(({_CODE})\) when calling", re.I),
    re.compile(rf"(?:error|오류|エラー)\s*(?:code|코드|コード)\s*[:=]\s*[\"']?({_CODE})", re.I),
    re.compile(rf"\\?[\"'](?:code|errorcode|error_code)\\?[\"']\s*:\s*\\?[\"']({_CODE})\\?[\"']", re.I),
    re.compile(rf"<(?:code|errorcode)>\s*({_CODE})\s*</", re.I),
    re.compile(rf"\b(?:code|errorcode)\s*[=:]\s*[\"']?({_CODE})\b", re.I),
    re.compile(rf"(?:^|[\s(\[:;,])(?:client|server)\.({_CODE})", re.I),
    # ``Code: text``: a CamelCase word of two humps or more that opens the message or a clause.
    re.compile(r"(?:^|[.:;]\s+|\()([A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+(?:\.[A-Z][A-Za-z0-9]*)*):\s"),
)
#: Tokens that are codes by their shape alone.
_SHAPED = re.compile(r"(?<!\w)([A-Z][A-Za-z0-9]*(?:Exception|Fault)|UserError[A-Z][A-Za-z0-9]+)\b")
#: Bare tokens (``InvalidSnapshot.NotFound``, ``ResourceGroupNotFound``), taken only when known.
_CANDIDATE = re.compile(r"(?<![\w.])(?!(?:Client|Server)\.)"
                        r"([A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+(?:\.[A-Z][A-Za-z0-9]+)*|[A-Z][A-Za-z0-9]+(?:\.[A-Z][A-Za-z0-9]+)+)\b")
#: Words an explicit form may catch that are not codes (``Error code: none``).
_NOT_CODES = frozenset({"none", "null", "n/a", "na", "unknown", "the", "is", "was", "see"})
#: Longest accepted token: providers' codes are short; a run of letters this long is not one.
MAX_CODE_LENGTH = 80


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

    for pattern in _EXPLICIT:
        for match in pattern.finditer(text):
            add(match.group(1))
    for match in _SHAPED.finditer(text):
        add(match.group(1))
    for match in _CANDIDATE.finditer(text):
        if known(match.group(1)):
            add(match.group(1))
    return found
