"""shared.sinks.local.transport"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from shared.models import Outcome
from shared.notify.keys import outcome_key
from shared.notify.notice import Notice
from shared.sinks.base import DeliveryError
from shared.sinks.local.render import message_document, render_text


class OutboxSink:
    """Writes each outcome as a JSON document into a folder (the local default sink)."""

    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def deliver(self, outcome: Outcome) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        f = outcome.failure
        stamp = f.time.strftime("%Y%m%dT%H%M%SZ") if f.time else "undated"
        path = self.folder / f"{stamp}-{f.cloud}-{outcome.finding.cause}-{outcome_key(outcome)}.json"
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(message_document(outcome), indent=2, ensure_ascii=False) + "\n",
                           encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            raise DeliveryError(f"outbox {self.folder}: {exc.strerror or exc}") from exc
        return str(path)

    def write(self, notice: Notice, payloads: dict[str, Any] | None = None) -> str:
        """Write a notice (a failure, a storm update or digest, a recovery) with the payloads the
        other sinks were sent (or would be, in a dry run): never a URL, token or key."""
        self.folder.mkdir(parents=True, exist_ok=True)
        outcome = notice.outcome
        document: dict[str, Any] = message_document(outcome) if outcome is not None else {}
        document = {"notice": {"kind": notice.kind, "title": notice.title(), "fingerprint": notice.fingerprint,
                               "count": notice.count,
                               "group": None if notice.group is None else {
                                   "id": notice.group.id, "cause": notice.group.cause, "events": notice.group.events,
                                   "resources": notice.group.resources, "sample": notice.group.sample,
                                   "window": notice.group.window()},
                               "summary": [list(p) for p in notice.summary] or None, "period": notice.period},
                    **document}
        if payloads:
            document["payloads"] = payloads
        if outcome is not None:
            f = outcome.failure
            stamp = f.time.strftime("%Y%m%dT%H%M%SZ") if f.time else "undated"
            base = f"{stamp}-{f.cloud}-{outcome.finding.cause}-{outcome_key(outcome)}"
        else:
            base = f"quiet-{hashlib.sha256((notice.period or '').encode()).hexdigest()[:12]}"
        suffix = "" if notice.kind == "failure" else f"-{notice.kind}"
        if notice.group is not None and notice.kind in ("group", "digest"):
            suffix += f"-{notice.group.id}-{notice.group.events}"
        path = self.folder / f"{base}{suffix}.json"
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            raise DeliveryError(f"outbox {self.folder}: {exc.strerror or exc}") from exc
        return str(path)


class ConsoleSink:
    """Prints the readable text of each outcome."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def deliver(self, outcome: Outcome) -> str:
        stream = self.stream or sys.stdout
        stream.write(render_text(outcome) + "\n" + "-" * 100 + "\n")
        return "printed"
