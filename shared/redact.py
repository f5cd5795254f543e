"""Secrets out of error text: one redaction for every error path (Lambda logs, CLI stderr, Azure
logs, delivery failures), and SDK loggers kept quiet.

A webhook URL is a secret as a whole (Slack's and Teams' URLs carry the token in the path, Teams'
signature in the query), so a URL keeps only its scheme and host. Tokens that travel alone
(Slack ``xox*-``, GitHub ``ghp_``/``github_pat_``, JWTs, ``Bearer``/``Basic`` credentials, AWS secret
access keys after their name) are replaced by what they are.

SDKs log request and response bodies at DEBUG (botocore prints a decrypted SSM parameter, urllib3
and azure-core print URLs), so their loggers stay at WARNING even when the root logger is at DEBUG,
unless ``RESPONDER_SDK_LOG_LEVEL`` asks for more.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
#: A URL: scheme, host (with any user info), then the rest up to white space or a quote.
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{1,15})://(?:[^\s/@'\"<>]*@)?(?P<host>[^\s/?#'\"<>]*)"
                  r"(?P<rest>[^\s'\"<>]*)")
#: Secrets by their form, and what stands for them.
_TOKENS = (
    (r"\bxox[abposre]-[A-Za-z0-9-]+", "<slack token>"),
    (r"\bxapp-[A-Za-z0-9-]+", "<slack token>"),
    (r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})", "<github token>"),
    (r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*", "<jwt>"),
    (r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}", r"\1 " + REDACTED),
    (r"(?i)(secret[_-]?access[_-]?key|password|api[_-]?token|routing[_-]?key|sig)"
     r"(['\"]?\s*[:=]\s*['\"]?)[^\s'\",&]+", r"\1\2" + REDACTED),
)


@functools.cache
def _token_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """``_TOKENS`` compiled, on first need: only errors are redacted, and a cold start has none."""
    return tuple((re.compile(pattern), replacement) for pattern, replacement in _TOKENS)
#: The loggers of the SDKs the project uses; the level they keep unless asked otherwise.
SDK_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "azure", "msal", "slack_sdk", "aws_lambda_powertools")
SDK_LOG_LEVEL = logging.WARNING
ENV_SDK_LOG_LEVEL = "RESPONDER_SDK_LOG_LEVEL"


def masked_repr(record: Any, *secret: str) -> str:
    """``record``'s repr (a msgspec Struct's), its ``secret`` fields hidden: a Struct shows every field."""
    shown = (f"{name}={'<hidden>' if name in secret else repr(getattr(record, name))}"
             for name in record.__struct_fields__)
    return f"{type(record).__name__}({', '.join(shown)})"


def redact_url(match: re.Match[str]) -> str:
    host = match.group("host")
    rest = match.group("rest")
    return f"{match.group('scheme')}://{host}" + (f"/{REDACTED}" if rest.strip("/") else "")


def redact(text: str) -> str:
    """``text`` with every URL cut to its scheme and host and every token replaced."""
    text = _URL.sub(redact_url, text)
    for pattern, replacement in _token_patterns():
        text = pattern.sub(replacement, text)
    return text


def error_text(exc: BaseException) -> str:
    """An exception as one line for a log or stderr: its type and its redacted message."""
    message = redact(" ".join(_CONTROL.sub("?", str(exc)).split()))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def quiet_sdk_loggers(env: Mapping[str, str] | None = None) -> None:
    """Keep the SDKs' loggers at WARNING (they log secrets at DEBUG), or at the level
    ``RESPONDER_SDK_LOG_LEVEL`` names (``DEBUG`` to debug an SDK on purpose)."""
    env = os.environ if env is None else env
    wanted = (env.get(ENV_SDK_LOG_LEVEL) or "").strip().upper()
    level = logging.getLevelName(wanted) if wanted else SDK_LOG_LEVEL
    if not isinstance(level, int):
        level = SDK_LOG_LEVEL
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(level)
