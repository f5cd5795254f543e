"""The settings of a ``outbox`` sink in the configuration file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from shared.sinks.base import SinkSettings


class OutboxSinkConfig(SinkSettings):
    """Writes every message (and the payloads the other sinks got) as JSON into a folder."""

    type: Literal["outbox"]
    path: Path

    def delivered_on(self) -> None:
        return None
