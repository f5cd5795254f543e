"""Where rendered outcomes go. Every sink has a name and a ``deliver``; a failure raises
``DeliveryError`` so the caller can keep the event (retry, dead-letter queue)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Protocol, TextIO

from shared.models import Outcome
from shared.render import message_document, render_text


class DeliveryError(Exception):
    """A sink could not deliver; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Sink(Protocol):
    name: str

    def deliver(self, outcome: Outcome) -> str:
        """Deliver the outcome; return a short receipt (a path, a message id)."""
        ...


def outcome_key(outcome: Outcome) -> str:
    """A stable name for one event's outcome: the same event always gets the same file."""
    f = outcome.failure
    basis = "|".join(str(p) for p in (f.cloud, f.event_id, f.job_id, f.state, outcome.finding.cause))
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


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


class ConsoleSink:
    """Prints the readable text of each outcome."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def deliver(self, outcome: Outcome) -> str:
        stream = self.stream or sys.stdout
        stream.write(render_text(outcome) + "\n" + "-" * 100 + "\n")
        return "printed"
