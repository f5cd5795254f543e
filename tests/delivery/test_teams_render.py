"""The Teams card rendered by the official Adaptive Cards renderer (npm ``adaptivecards``) in
headless Chromium: it renders its title and numbered steps without warnings, and the screenshot
is a real image. CI needs ``npm ci`` (playwright-core, adaptivecards) and Debian's ``chromium``.
``UPDATE_SCREENSHOT=1`` refreshes docs/teams-card.png."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from shared.notify.notice import Notice
from shared.sinks.teams.render import build_payload
from tests.conftest import load_event
from tests.delivery.conftest import outcome_of
from tests.support.messages import say

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("render_card.cjs")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (ROOT / "node_modules" / "adaptivecards").is_dir() or not (ROOT / "node_modules" / "playwright-core").is_dir():
        return "node_modules is missing: run `npm ci`"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing: apt-get install chromium"
    return None


@pytest.fixture(scope="module")
def renderer() -> None:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test must run in CI: {reason}")
        pytest.skip(reason)


def render(card: dict[str, object], out: Path) -> dict[str, object]:
    card_path = out.with_suffix(".json")
    card_path.write_text(json.dumps(card), encoding="utf-8")
    done = subprocess.run(["node", str(SCRIPT), str(card_path), str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])  # type: ignore[return-value]


def test_card_renders_title_and_steps_in_chromium(renderer: None, tmp_path: Path) -> None:
    outcome = outcome_of(load_event("aws/seed003-copy-source-kms-key-access.json"))
    assert outcome.plan is not None
    card = build_payload(say(Notice("failure", outcome)))["attachments"][0]["content"]
    png = tmp_path / "teams-card.png"
    result = render(card, png)
    text = str(result["text"])
    assert outcome.finding.title in text
    for number, step in enumerate(outcome.plan.steps[:3], 1):
        assert f"{number}. " in text and step[:40] in text
    assert "Why" in text and "Fix" in text
    assert result["warnings"] == []
    width, height = png_size(png)
    assert width >= 600 and height >= 400  # a real card, not an empty box
    if os.environ.get("UPDATE_SCREENSHOT"):
        shutil.copyfile(png, ROOT / "docs" / "teams-card.png")


def test_hostile_text_renders_as_text(renderer: None, tmp_path: Path) -> None:
    outcome = outcome_of(load_event("aws/seed003-copy-source-kms-key-access.json"))
    failure = outcome.failure.model_copy(update={"message": "[click](https://evil.example) **x** <b>y</b>"})
    card = build_payload(say(Notice("failure", outcome.model_copy(update={"failure": failure}))))["attachments"][0]["content"]
    result = render(card, tmp_path / "hostile.png")
    assert "[click](https://evil.example) **x** <b>y</b>" in str(result["text"])


def test_card_with_a_remediation_decision_renders_it(renderer: None, tmp_path: Path) -> None:
    """The decision (headline, warning, diff) renders as text, and "Apply fix" as an action."""
    from shared.approval import TeamsApprovalLink
    from shared.models import RemediationSummary

    outcome = outcome_of(load_event("aws/seed003-copy-source-kms-key-access.json"))
    summary = RemediationSummary(
        mode="dry-run", action="planned", reason="dry run", change="add the use and grant statements for account "
        "444455556666 to the key policy of arn:aws:kms:us-west-2:111122223333:key/k-1",
        diff='--- key (before)\n+++ key (after)\n@@ -1,2 +1,3 @@\n+    "Sid": "Allow use of the key", **x**',
        approval_id="appr-1", audit_id="audit-1", notes=["checked in AWS Organizations"])
    card = build_payload(say(Notice("failure", outcome.model_copy(update={"remediation": summary}))),
                         TeamsApprovalLink("https://func.example/api", "s"))["attachments"][0]["content"]
    result = render(card, tmp_path / "remediation.png")
    text = str(result["text"])
    assert "Dry run: would add the use and grant statements for account 444455556666" in text
    assert '"Sid": "Allow use of the key", **x**' in text  # the diff as text, never Markdown
    assert "Apply fix" in text and "Audit record: audit-1" in text
    assert result["warnings"] == []
