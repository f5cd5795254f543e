"""Shared test helpers: real event payloads live under tests/events/, each with a .source.md note."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.azurite import azurite  # noqa: F401 (the session's Azurite, for every test folder)

EVENTS = Path(__file__).parent / "events"


def load_event(name: str) -> Any:
    """A fixture by its path under tests/events/, e.g. ``aws/copy-job-failed.json``."""
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def event_paths(cloud: str) -> list[Path]:
    return sorted((EVENTS / cloud).glob("*.json"))


@pytest.fixture(autouse=True)
def _no_responder_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from the default settings, whatever the developer's shell exports."""
    for name in ("SLACK_WEBHOOK_URL", "TEAMS_WEBHOOK_URL", "RESPONDER_CONFIG", "RESPONDER_OUTBOX",
                 "RESPONDER_AUTO_REMEDIATE", "RESPONDER_LANGUAGE", "RESPONDER_APPROVAL_BASE_URL",
                 "RESPONDER_APPROVAL_SECRET", "RESPONDER_SDK_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made once: the HTTPS fakes' identity."""
    from tests.azure.servers import make_certificate

    return make_certificate(tmp_path_factory.mktemp("tls"))
