"""Settings from the environment (see the README's table); the configuration file adds to them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from shared.models import Record

RemediationMode = Literal["off", "dry-run", "on"]
REMEDIATION_MODES: tuple[RemediationMode, ...] = ("off", "dry-run", "on")


class SettingsError(ValueError):
    """A setting with a value the responder does not understand."""


class Settings(Record, kw_only=True):
    """What the environment says (``from_env``), checked there; a record, not a pydantic model: it is
    made on every event, from values that are already text."""

    slack_webhook_url: str | None = None
    teams_webhook_url: str | None = None
    config_path: Path | None = None
    outbox: Path | None = None
    auto_remediate: RemediationMode = "off"
    language: str = "en"
    #: RESPONDER_STATE: the CLI's SQLite state file (dedup, storms, tickets across runs).
    state_path: Path | None = None
    #: RESPONDER_APPROVAL_BASE_URL: where a Teams card's "Apply fix" leads, the approval endpoint's base
    #: (``https://<function app>.azurewebsites.net/api``); with the secret below, planned fixes get the action.
    approval_base_url: str | None = None
    #: RESPONDER_APPROVAL_SECRET: signs those links (a value, or a reference such as ``env:NAME``). A
    #: ``SecretStr``: its repr and ``str()`` are masked, and the records' encoder refuses it, so it is
    #: never logged or printed.
    approval_secret: SecretStr | None = None

    def __post_init__(self) -> None:
        # A secret given as text (tests, tools) is kept masked, as from_env keeps it.
        secret: object = self.approval_secret
        if isinstance(secret, str):
            self.approval_secret = SecretStr(secret)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        mode = (env.get("RESPONDER_AUTO_REMEDIATE") or "off").strip().lower()
        if mode not in REMEDIATION_MODES:
            raise SettingsError(f"RESPONDER_AUTO_REMEDIATE={mode!r}: expected one of "
                                + ", ".join(REMEDIATION_MODES))
        return cls(
            slack_webhook_url=env.get("SLACK_WEBHOOK_URL") or None,
            teams_webhook_url=env.get("TEAMS_WEBHOOK_URL") or None,
            config_path=Path(env["RESPONDER_CONFIG"]) if env.get("RESPONDER_CONFIG") else None,
            outbox=Path(env["RESPONDER_OUTBOX"]) if env.get("RESPONDER_OUTBOX") else None,
            auto_remediate=mode,
            language=(env.get("RESPONDER_LANGUAGE") or "en").strip().lower(),
            state_path=Path(env["RESPONDER_STATE"]) if env.get("RESPONDER_STATE") else None,
            approval_base_url=(env.get("RESPONDER_APPROVAL_BASE_URL") or "").strip() or None,
            approval_secret=SecretStr(env["RESPONDER_APPROVAL_SECRET"]) if env.get("RESPONDER_APPROVAL_SECRET")
            else None,
        )


def default_state_path(env: Mapping[str, str] | None = None) -> Path:
    """Where the CLI keeps its state without RESPONDER_STATE: $XDG_STATE_HOME or ~/.local/state."""
    env = os.environ if env is None else env
    base = Path(env["XDG_STATE_HOME"]) if env.get("XDG_STATE_HOME") else Path.home() / ".local" / "state"
    return base / "backup-responder" / "state.sqlite"
