"""Property: no input makes ``backup-responder classify`` or ``respond --dry-run`` print a
traceback. Real fixtures, mutated (``tests.support.fuzz``), go in on standard input or in a file,
followed by one good event; every item prints a summary or a bounded ``{"error": ...}``, the exit
status is 0 or 2, the output is UTF-8 whatever the input held, and the good event after the bad
one is still handled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import load_event
from tests.support.cli import run_cli
from tests.support.fuzz import FUZZ_SETTINGS, Mutant, mutants, output_problems, verdict

GOOD = "aws/copy-job-failed.json"
CLASSIFY_KEYS = frozenset({"cloud", "job_type", "cause", "code", "rule", "confidence", "title"})
RESPOND_KEYS = frozenset({"cloud", "job_type", "cause", "code", "rule", "delivered"})


def check_cli(entry_point: str, argv: list[str], keys: frozenset[str], mutant: Mutant, via_stdin: bool,
              folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = json.dumps(load_event(GOOD)).encode()
    with verdict(entry_point, mutant) as problems:
        status, output, errors = run_cli(argv, mutant.document() + b"\n" + good + b"\n", monkeypatch,
                                         None if via_stdin else folder / "events.json")
        found, lines = output_problems(output, keys)
        problems += found
        if status not in (0, 2):
            problems.append(f"exit status {status}")
        if errors:
            problems.append(f"standard error: {errors[:100]!r}")
        if not lines or "error" in lines[-1]:
            problems.append("the good event after the bad item was not handled")


@FUZZ_SETTINGS
@given(mutant=mutants(documents=True), via_stdin=st.booleans())
def test_classify_never_crashes(mutant: Mutant, via_stdin: bool, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    check_cli("cli classify", ["classify"], CLASSIFY_KEYS, mutant, via_stdin, tmp_path, monkeypatch)


@FUZZ_SETTINGS
@given(mutant=mutants(documents=True), via_stdin=st.booleans())
def test_respond_dry_run_never_crashes(mutant: Mutant, via_stdin: bool, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    check_cli("cli respond --dry-run", ["respond", "--dry-run", "--offline"], RESPOND_KEYS, mutant, via_stdin, tmp_path,
              monkeypatch)
