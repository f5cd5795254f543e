"""The settings of a ``github`` sink in the configuration file."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.notify.types import Secret
from shared.sinks.base import SinkSettings


class GitHubSink(SinkSettings):
    type: Literal["github"]
    repo: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")
    token: Secret
    labels: list[str] = ["backup-failure"]
    assignees: list[str] = []
    api_url: str | None = None

    def secrets(self) -> dict[str, str | None]:
        return {"token": self.token}
