"""The command line as the contract describes it, driven as a user would."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared.cli import InputError, main, read_items
from tests.conftest import EVENTS, event_paths

CONTRACT_KEYS = {"cloud", "job_type", "cause", "code", "rule", "confidence", "title"}


def run(argv: list[str], stdin: str | None = None, monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, list[dict]]:
    if stdin is not None and monkeypatch is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out = io.StringIO()
    status = main(argv, out)
    return status, [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def all_events() -> list[Path]:
    return event_paths("aws") + event_paths("azure")


def test_classify_prints_one_line_per_event_in_input_order(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = all_events()
    assert len(paths) >= 10
    events = [json.loads(p.read_text()) for p in paths]
    status, lines = run(["classify", "-"], json.dumps(events), monkeypatch)
    assert status == 0
    assert len(lines) == len(events)
    for path, event, line in zip(paths, events, lines, strict=True):
        assert line.keys() >= CONTRACT_KEYS, path.name
        assert line["cloud"] == ("aws" if "source" in event else "azure"), path.name
        assert line["job_type"] in ("backup", "copy", "restore", None)
        assert 0 <= line["confidence"] <= 1
        assert "\n" not in line["title"] and line["title"]


def test_classify_reads_json_lines_and_a_single_event(tmp_path: Path) -> None:
    paths = all_events()[:3]
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text("\n".join(json.dumps(json.loads(p.read_text())) for p in paths) + "\n")
    status, lines = run(["classify", str(jsonl)])
    assert status == 0 and len(lines) == 3
    status, single = run(["classify", str(paths[0])])
    assert status == 0 and single == lines[:1]


def test_bad_items_get_a_reason_and_exit_2_while_the_rest_are_classified(monkeypatch: pytest.MonkeyPatch) -> None:
    good = json.dumps(json.loads(all_events()[0].read_text()))
    text = "\n".join([
        good,
        '{"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}',
        '{"schemaId": "Microsoft.Insights/activityLogs", "data": {}}',
        '{"detail-type": "Copy Job State Change", "source": "aws.backup", "detail": ',  # truncated
        "42",
        good,
    ])
    status, lines = run(["classify", "-"], text, monkeypatch)
    assert status == 2
    assert [("error" in line) for line in lines] == [False, True, True, True, True, False]
    assert "aws.ec2" in lines[1]["error"] and "aws.backup" in lines[1]["error"]
    assert "common alert schema" in lines[2]["error"]
    assert "invalid JSON" in lines[3]["error"]
    assert "JSON object" in lines[4]["error"]
    assert lines[0] == lines[5]


def test_a_truncated_pretty_printed_event_is_one_error_not_many() -> None:
    text = json.dumps(json.loads(all_events()[0].read_text()), indent=2)
    items = list(read_items(text[: len(text) // 2]))
    assert len(items) == 1 and isinstance(items[0], InputError)


def test_the_bad_fixtures_all_get_an_error() -> None:
    bad = sorted(p for p in (EVENTS / "bad").iterdir() if p.suffix in (".json", ".jsonl"))
    assert len(bad) >= 5
    for path in bad:
        status, lines = run(["classify", str(path)])
        assert status == 2, path.name
        if path.stem.startswith("mixed"):  # good, bad, good: the good ones are still classified
            assert [("error" in line) for line in lines] == [False, True, False], path.name
        else:
            assert lines and all("error" in line for line in lines), path.name


def test_unclassified_is_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    event = json.loads(all_events()[0].read_text())
    if "detail" in event:
        event["detail"]["statusMessage"] = "A brand-new failure nobody has documented yet"
        event["detail"]["state" if "state" in event["detail"] else "status"] = "FAILED"
    status, lines = run(["classify", "-"], json.dumps(event), monkeypatch)
    assert status == 0
    assert lines[0]["cause"] == "unclassified" and lines[0]["rule"] is None


def test_demo_prints_messages_and_fills_the_outbox(tmp_path: Path) -> None:
    out = io.StringIO()
    assert main(["demo", "--outbox", str(tmp_path / "outbox")], out) == 0
    written = sorted((tmp_path / "outbox").glob("*.json"))
    assert len(written) >= 10
    text = out.getvalue()
    assert "iam:PassRole" in text and "UserErrorMSIMissingPermissions" in text
    documents = [json.loads(p.read_text()) for p in written]
    assert all(doc["classification"]["cause"] != "unclassified" for doc in documents)


def test_respond_dry_run_prints_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPONDER_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    assert main(["respond", "--dry-run", str(all_events()[0])], out) == 0
    assert "cause:" in out.getvalue()
    assert not (tmp_path / "outbox").exists()


def test_the_console_script_is_installed() -> None:
    script = shutil.which("backup-responder", path=str(Path(sys.executable).parent))
    assert script, "the package must install the backup-responder console script"
    done = subprocess.run([script, "classify", str(all_events()[0])], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[0]).keys() >= CONTRACT_KEYS
