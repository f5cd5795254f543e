"""``backup-responder`` as a command-line tool: ``--version``, ``--format``, error lines that name
the file and the line, and a reader that goes away (``| head -1``) ending it quietly."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from functions.cli import EXIT_BAD_INPUT, EXIT_BROKEN_PIPE, EXIT_OK, STDIN, main
from tests.conftest import EVENTS, load_event

ROOT = Path(__file__).resolve().parents[1]
GOOD = "aws/copy-job-failed.json"
NOT_BACKUP = {"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}


def script() -> str:
    found = shutil.which("backup-responder", path=str(Path(sys.executable).parent))
    assert found, "the package must install the backup-responder console script"
    return found


def cli(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    return main(argv, out), out.getvalue()


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_version_prints_the_package_version() -> None:
    done = subprocess.run([script(), "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"backup-responder {metadata.version('backup-responder')}"


# ---------------------------------------------------------------------------- error lines
def test_a_bad_json_line_names_the_file_and_the_line(tmp_path: Path) -> None:
    good = json.dumps(load_event(GOOD))
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([good, good, json.dumps(NOT_BACKUP), "{not json", good]) + "\n")
    status, out = cli(["classify", str(path)])
    assert status == EXIT_BAD_INPUT
    lines = json_lines(out)
    assert [("error" in line) for line in lines] == [False, False, True, True, False]
    assert lines[2]["error"].startswith(f"{path}:3: ") and "aws.ec2" in lines[2]["error"]
    assert lines[3]["error"].startswith(f"{path}:4: invalid JSON")
    assert lines[2]["index"] == 2  # the contract's fields stay


def test_a_bad_element_of_a_json_array_names_its_index(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text("\n" + json.dumps([load_event(GOOD), NOT_BACKUP, load_event(GOOD)], indent=2))
    status, out = cli(["classify", str(path)])
    assert status == EXIT_BAD_INPUT
    lines = json_lines(out)
    assert [("error" in line) for line in lines] == [False, True, False]
    assert lines[1]["error"].startswith(f"{path}:2: item 1: ")  # the array starts on line 2


def test_standard_input_is_named_and_respond_locates_its_errors_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(load_event(GOOD)) + "\n42\n"))
    status, out = cli(["respond", "--dry-run", "--offline", "-"])
    assert status == EXIT_BAD_INPUT
    (error,) = [line for line in json_lines(out) if "error" in line]
    assert error["error"].startswith(f"{STDIN}:2: ") and "JSON object" in error["error"]


# ---------------------------------------------------------------------------- --format
def test_classify_text_is_one_line_per_event_and_errors_go_to_stderr(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(load_event(GOOD)) + "\n" + json.dumps(NOT_BACKUP) + "\n")
    status, out = cli(["classify", "--format", "text", str(path)])
    assert status == EXIT_BAD_INPUT
    _, json_out = cli(["classify", str(path)])
    cause = json_lines(json_out)[0]["cause"]
    (line,) = out.splitlines()
    assert line.startswith(f"{path}:1: aws copy: {cause} ") and "confidence 0." in line
    assert capsys.readouterr().err.startswith(f"backup-responder: {path}:2: ")


def test_respond_text_prints_a_status_line_per_event(tmp_path: Path) -> None:
    status, out = cli(["respond", "--dry-run", "--offline", "--format", "text", str(EVENTS / GOOD)])
    assert status == EXIT_OK
    assert not json_lines(out)
    (line,) = [x for x in out.splitlines() if x.startswith(f"{EVENTS / GOOD}:1: ")]
    assert "-> route " in line and "console printed" in line


def test_demo_json_prints_only_a_status_line_per_sample(tmp_path: Path) -> None:
    status, out = cli(["demo", "--format", "json", "--outbox", str(tmp_path / "outbox")])
    assert status == EXIT_OK
    lines = out.splitlines()
    assert lines and all(json.loads(line)["cause"] for line in lines)
    assert len(lines) == len(list((tmp_path / "outbox").glob("*.json")))


# ---------------------------------------------------------------------------- a reader that goes away
@pytest.fixture
def big_input(tmp_path: Path) -> Path:
    """Far more than a pipe holds (64 KiB), so that the command is still writing when the reader goes."""
    path = tmp_path / "big.jsonl"
    path.write_text((json.dumps(load_event(GOOD)) + "\n") * 400)
    return path


def _quiet_env(tmp_path: Path, buffered: bool = False) -> dict[str, str]:
    """No cloud settings; standard output unbuffered (each write meets the closed pipe) or, with
    ``buffered``, as Python buffers a pipe (the error comes at a flush)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AZURE_", "RESPONDER_"))}
    env.pop("PYTHONUNBUFFERED", None)
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    return {**env, "HOME": str(tmp_path), "AWS_EC2_METADATA_DISABLED": "true",
            "RESPONDER_STATE": str(tmp_path / "state.sqlite")}


COMMANDS = {
    "classify": ["classify", "{big}"],
    "classify-text": ["classify", "--format", "text", "{big}"],
    "respond": ["respond", "--dry-run", "--offline", "{big}"],
    "demo": ["demo", "--outbox", "{tmp}/outbox"],
    "config-check": ["config", "check", str(ROOT / "examples" / "slack-webhook.yaml")],
    "catalog-list": ["catalog", "list"],
    "version": ["--version"],
    "help": ["--help"],
}


@pytest.mark.parametrize("buffered", [False, True], ids=["unbuffered", "buffered"])
@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_stops_quietly_when_its_reader_is_gone(name: str, buffered: bool, big_input: Path,
                                                             tmp_path: Path) -> None:
    argv = [a.format(big=big_input, tmp=tmp_path) for a in COMMANDS[name]]
    process = subprocess.Popen([script(), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=_quiet_env(tmp_path, buffered), cwd=tmp_path)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the first line is written
    errors = process.stderr.read().decode()
    assert process.wait(timeout=120) == EXIT_BROKEN_PIPE
    assert errors == ""  # no traceback, no "Exception ignored", no "Broken pipe" message


def test_head_gets_its_line_and_the_shell_sees_141(big_input: Path, tmp_path: Path) -> None:
    done = subprocess.run(["bash", "-c", '"$0" classify "$1" | head -1; echo "status=${PIPESTATUS[0]}" >&2',
                           script(), str(big_input)],
                          capture_output=True, text=True, env=_quiet_env(tmp_path, buffered=True), check=False)
    assert json.loads(done.stdout)["cause"]
    assert done.stderr == f"status={EXIT_BROKEN_PIPE}\n"
