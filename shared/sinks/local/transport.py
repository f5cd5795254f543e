"""The local sinks: the outbox (a JSON document per notice in a folder) and the console (text)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Protocol, TextIO

from shared.notify.keys import outcome_key
from shared.notify.message import Message
from shared.notify.notice import Notice
from shared.sinks.base import DeliveryError
from shared.sinks.local.render import message_document, render_text
from shared.vocab import NoticeKind


class LocalSink(Protocol):
    """Gets every notice, with the payloads the configured sinks were sent (or would be)."""

    name: str

    def write(self, notice: Notice, message: Message, payloads: dict[str, Any] | None = None) -> str: ...


class OutboxSink:
    """Writes each notice as a JSON document into a folder (the local default sink)."""

    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, notice: Notice, message: Message, payloads: dict[str, Any] | None = None) -> str:
        """Write a notice with the payloads the other sinks were sent (or would be, in a dry run):
        never a URL, token or key. The same notice always gets the same file."""
        outcome = notice.outcome
        document = {"notice": {"kind": notice.kind, "title": message.title, "fingerprint": notice.fingerprint,
                               "count": notice.count,
                               "group": None if notice.group is None else {
                                   "id": notice.group.id, "cause": notice.group.cause, "events": notice.group.events,
                                   "resources": notice.group.resources, "sample": notice.group.sample,
                                   "window": notice.group.window()},
                               "summary": [list(p) for p in notice.summary] or None, "period": notice.period},
                    **message_document(message, outcome)}
        if payloads:
            document["payloads"] = payloads
        if outcome is not None:
            f = outcome.failure
            stamp = f.time.strftime("%Y%m%dT%H%M%SZ") if f.time else "undated"
            base = f"{stamp}-{f.cloud}-{outcome.finding.cause}-{outcome_key(outcome)}"
        elif notice.kind == NoticeKind.REPORT:  # named for its period: 2026-11-30-7d-report.json
            base = (notice.period or "undated").replace("/", "-")
        else:
            base = f"quiet-{hashlib.sha256((notice.period or '').encode()).hexdigest()[:12]}"
        suffix = "" if notice.kind == NoticeKind.FAILURE else f"-{notice.kind}"
        if notice.group is not None and notice.kind in (NoticeKind.GROUP, NoticeKind.DIGEST):
            suffix += f"-{notice.group.id}-{notice.group.events}"
        path = self.folder / f"{base}{suffix}.json"
        tmp = path.with_suffix(".tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            raise DeliveryError(f"outbox {self.folder}: {exc.strerror or exc}") from exc
        return str(path)


class ConsoleSink:
    """Prints the readable text of each notice."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def write(self, notice: Notice, message: Message, payloads: dict[str, Any] | None = None) -> str:
        stream = self.stream or sys.stdout
        stream.write(render_text(message, compact=message.compact) + "\n" + "-" * 100 + "\n")
        return "printed"
