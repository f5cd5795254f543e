"""The settings of a ``teams`` sink in the configuration file."""

from __future__ import annotations

from typing import Literal

from shared.notify.types import Secret
from shared.sinks.base import SinkSettings


class TeamsSink(SinkSettings):
    type: Literal["teams"]
    webhook_url: Secret

    def secrets(self) -> dict[str, str | None]:
        return {"webhook_url": self.webhook_url}

    def delivered_on(self) -> str:
        return "HTTP 202 Accepted (or 200) whose body reports no error"
