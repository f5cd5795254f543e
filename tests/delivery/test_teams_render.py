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
from typing import Any

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


def render(cards: dict[str, dict[str, object]], folder: Path) -> dict[str, tuple[dict[str, object], Path]]:
    """Every card rendered in one Chromium (starting it is most of the cost): name -> (what the
    renderer reports, the screenshot)."""
    args: list[str] = []
    for name, card in cards.items():
        card_path = folder / f"{name}.json"
        card_path.write_text(json.dumps(card), encoding="utf-8")
        args += [str(card_path), str(folder / f"{name}.png")]
    done = subprocess.run(["node", str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(cards)
    return {name: (result, folder / f"{name}.png") for name, result in zip(cards, results, strict=True)}


def kms_outcome() -> Any:
    return outcome_of(load_event("aws/seed003-copy-source-kms-key-access.json"))


def card_of(outcome: Any, approval: Any = None) -> dict[str, object]:
    return build_payload(say(Notice("failure", outcome)), approval)["attachments"][0]["content"]  # type: ignore[no-any-return]


HOSTILE_MESSAGE = "[click](https://evil.example) **x** <b>y</b>"


def hostile_card() -> dict[str, object]:
    outcome = kms_outcome()
    failure = outcome.failure.model_copy(update={"message": HOSTILE_MESSAGE})
    return card_of(outcome.model_copy(update={"failure": failure}))


def remediation_card() -> dict[str, object]:
    """A card with a remediation decision (headline, warning, diff) and "Apply fix"."""
    from shared.approval import TeamsApprovalLink
    from shared.models import RemediationSummary

    summary = RemediationSummary(
        mode="dry-run", action="planned", reason="dry run", change="add the use and grant statements for account "
        "444455556666 to the key policy of arn:aws:kms:us-west-2:111122223333:key/k-1",
        diff='--- key (before)\n+++ key (after)\n@@ -1,2 +1,3 @@\n+    "Sid": "Allow use of the key", **x**',
        approval_id="appr-1", audit_id="audit-1", notes=["checked in AWS Organizations"])
    return card_of(kms_outcome().model_copy(update={"remediation": summary}),
                   TeamsApprovalLink("https://func.example/api", "s"))


@pytest.fixture(scope="module")
def rendered(renderer: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, object], Path]]:
    return render({"teams-card": card_of(kms_outcome()), "hostile": hostile_card(), "remediation": remediation_card()},
                  tmp_path_factory.mktemp("cards"))


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])  # type: ignore[return-value]


def test_card_renders_title_and_steps_in_chromium(rendered: dict[str, tuple[dict[str, object], Path]]) -> None:
    outcome = kms_outcome()
    assert outcome.plan is not None
    result, png = rendered["teams-card"]
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


def test_hostile_text_renders_as_text(rendered: dict[str, tuple[dict[str, object], Path]]) -> None:
    result, _ = rendered["hostile"]
    assert HOSTILE_MESSAGE in str(result["text"])


def test_card_with_a_remediation_decision_renders_it(rendered: dict[str, tuple[dict[str, object], Path]]) -> None:
    """The decision (headline, warning, diff) renders as text, and "Apply fix" as an action."""
    result, _ = rendered["remediation"]
    text = str(result["text"])
    assert "Dry run: would add the use and grant statements for account 444455556666" in text
    assert '"Sid": "Allow use of the key", **x**' in text  # the diff as text, never Markdown
    assert "Apply fix" in text and "Audit record: audit-1" in text
    assert result["warnings"] == []
