"""Running ``backup-responder`` in-process with real byte streams, as in a terminal."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from functions.cli import main


def run_cli(argv: list[str], data: bytes, monkeypatch: pytest.MonkeyPatch,
            path: Path | None = None) -> tuple[int, bytes, str]:
    """``main(argv + [input])``: the input on standard input, or in the file ``path`` when given.
    Standard input and output are UTF-8 with strict errors (so printing what cannot be encoded
    raises, as in a terminal); standard error is captured. Returns the exit status, the bytes
    printed and standard error."""
    stdout = io.BytesIO()
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(stdout, encoding="utf-8", write_through=True))
    monkeypatch.setattr(sys, "stderr", stderr)
    if path is not None:
        path.write_bytes(data)
    status = main([*argv, str(path) if path is not None else "-"])
    sys.stdout.flush()
    return status, stdout.getvalue(), stderr.getvalue()
