"""The HTML report opened in headless Chromium: it loads nothing but itself (every other request is
recorded and refused), runs no script a message smuggled in, draws its two charts and one section
per cause, and prints (to PDF). CI needs ``npm ci`` (playwright-core) and Debian's ``chromium``.
``UPDATE_SCREENSHOT=1`` refreshes docs/report.png."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from functions.cli import EXIT_OK, main
from tests.conftest import EVENTS, event_paths

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("render_page.cjs")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
HOSTILE = ("<script>alert('script')</script><img src=x onerror=\"alert('img')\">"
           "<link rel=stylesheet href=https://evil.example/x.css>")


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (ROOT / "node_modules" / "playwright-core").is_dir():
        return "node_modules is missing: run `npm ci`"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing: apt-get install chromium"
    return None


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, object], Path]:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test must run in CI: {reason}")
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("report")
    jobs = json.loads((EVENTS / "report" / "aws-list-backup-jobs.json").read_text())
    jobs["BackupJobs"][4]["StatusMessage"] = HOSTILE
    (folder / "hostile.json").write_text(json.dumps(jobs))
    inputs = [folder / "hostile.json", *sorted((EVENTS / "report").glob("aws-list-[cr]*.json")),
              EVENTS / "report" / "azure-graph-backup-jobs.json", *event_paths("aws"), *event_paths("azure")]
    page = folder / "report.html"
    assert main(["report", "--format", "html", "--output", str(page), *map(str, inputs)], io.StringIO()) == EXIT_OK
    done = subprocess.run(["node", str(SCRIPT), str(page), str(folder / "report.png")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout), folder / "report.png"


def test_the_page_loads_nothing_but_itself_and_runs_no_smuggled_script(
        rendered: tuple[dict[str, object], Path]) -> None:
    seen, _ = rendered
    assert seen["requests"] == [] and seen["alerts"] == []


def test_the_page_draws_its_charts_and_a_section_per_cause(rendered: tuple[dict[str, object], Path]) -> None:
    seen, screenshot = rendered
    assert seen["title"] == "Failed backup jobs by cause" and seen["svgs"] == 2
    sections = seen["sections"]
    assert isinstance(sections, list) and len(sections) > 10
    assert any(s.startswith("aws.kms.key-access: ") for s in sections)
    assert sections[-1] == "Unclassified failures"
    assert isinstance(seen["bars"], int) and seen["bars"] > 10
    assert isinstance(seen["pdf_bytes"], int) and seen["pdf_bytes"] > 10_000  # it prints
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1180, 1350)
    if os.environ.get("UPDATE_SCREENSHOT"):
        shutil.copyfile(screenshot, ROOT / "docs" / "report.png")
