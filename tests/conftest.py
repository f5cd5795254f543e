"""Shared test helpers: real event payloads live under tests/events/, each with a .source.md note."""

from __future__ import annotations

import json
import os
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



#: The developer's cloud credentials: ``respond`` uses this machine's, and no test may.
_CREDENTIALS = ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


@pytest.fixture(scope="session")
def _no_cloud_login(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("no-cloud-login")


@pytest.fixture(autouse=True)
def _no_cloud_credentials(monkeypatch: pytest.MonkeyPatch, _no_cloud_login: Path) -> None:
    """No test acts with the developer's AWS or Azure login (tests that need credentials set
    their own): no profile, no keys, no files, no instance metadata, no ``az login``."""
    for name in _CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("AZURE_")]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(_no_cloud_login / "azure"))  # az
    monkeypatch.setenv("AZD_CONFIG_DIR", str(_no_cloud_login / "azd"))


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made once: the HTTPS fakes' identity."""
    from tests.azure.servers import make_certificate

    return make_certificate(tmp_path_factory.mktemp("tls"))
