"""Parsers: provider events in, ``Failure`` out. Pure functions, no SDK calls."""

from __future__ import annotations

from functools import cache
from types import ModuleType
from typing import Any

import msgspec

from shared.models import Failure
from shared.parse.aws import parse_backup_event
from shared.parse.codes import CodeBook
from shared.untrusted import EventError, bounded, check_event, excerpt

__all__ = ["CodeBook", "EventError", "parse_event"]


def _first_problem(exc: msgspec.ValidationError) -> str:
    """Where the event is wrong and how: ``detail.status: Expected `str | null`, got `array```
    (msgspec says "Expected `str | null`, got `array` - at `$.detail.status`")."""
    problem, _, at = str(exc).partition(" - at `")
    where = at.rstrip("`").removeprefix("$").lstrip(".")
    return f"{bounded(where, 120) or 'event'}: {bounded(problem, 120)}"


@cache
def _azure() -> ModuleType:
    """The Azure parser, imported on first need (the Lambda parses AWS events only), and then
    at the cost of a call, not of an import statement's lookups on every alert."""
    from shared.parse import azure

    return azure


def parse_event(raw: Any, codes: CodeBook | None = None, aws_codes: CodeBook | None = None, *,
                checked: bool = False) -> Failure:
    """An AWS Backup EventBridge event or an Azure Monitor common-alert-schema alert as a
    ``Failure``; anything else raises ``EventError`` saying what it is and why it was refused.
    ``codes`` and ``aws_codes`` are the documented codes of each cloud, to spell and find them.
    Every entry point comes through here, so this is where a value that the parsers and the core
    must not walk is refused (``shared.untrusted.check_value``), unless the reader has ``checked``
    it already."""
    if not checked:
        check_event(raw)
    elif not isinstance(raw, dict):
        raise EventError(f"expected a JSON object, got {excerpt(raw)}")
    if "detail-type" in raw or "source" in raw:
        source = raw.get("source")
        if source != "aws.backup":
            raise EventError(f"EventBridge event from source {excerpt(source)} is not an AWS Backup event "
                             "(expected source 'aws.backup')")
        try:
            return parse_backup_event(raw, aws_codes)
        except msgspec.ValidationError as exc:
            raise EventError(f"malformed AWS Backup event: {_first_problem(exc)}") from exc
    azure = _azure()
    if "schemaId" in raw or "data" in raw:
        schema = raw.get("schemaId")
        if schema != azure.SCHEMA_ID:
            raise EventError(f"alert schema {excerpt(schema)} is not supported: enable the common alert "
                             f"schema ({azure.SCHEMA_ID}) on the action group")
        try:
            failure: Failure = azure.parse_common_alert(raw, codes)
        except msgspec.ValidationError as exc:
            raise EventError(f"malformed common alert schema alert: {_first_problem(exc)}") from exc
        return failure
    raise EventError("not an AWS Backup EventBridge event (source aws.backup) nor an Azure Monitor "
                     f"alert in the common alert schema ({azure.SCHEMA_ID})")
