"""The settings of a ``jira`` sink in the configuration file."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.notify.types import Secret
from shared.sinks.base import SinkSettings


class JiraSink(SinkSettings):
    type: Literal["jira"]
    url: str = Field(description="https://your-site.atlassian.net")
    project: str
    email: str | None = None
    api_token: Secret
    issue_type: str = "Task"
    labels: list[str] = ["backup-failure"]
    resolve_transition: str | None = "Done"
    set_priority: bool = False
    fields: dict[str, Any] = {}

    def secrets(self) -> dict[str, str | None]:
        return {"api_token": self.api_token}
