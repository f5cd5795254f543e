"""The settings of a ``slack`` sink in the configuration file."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from shared.notify.types import Secret
from shared.sinks.base import SinkSettings


class SlackSink(SinkSettings):
    """An incoming webhook (``webhook_url``), or the Web API with a bot token and a channel id,
    which also threads and updates the storm's message in place."""

    type: Literal["slack"]
    webhook_url: Secret | None = None
    token: Secret | None = None
    channel: str | None = None
    storm_mode: Literal["update", "thread"] = "update"
    api_url: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> SlackSink:
        if bool(self.webhook_url) == bool(self.token):
            raise ValueError("give either webhook_url, or token and channel")
        if self.token and not self.channel:
            raise ValueError("a bot token needs a channel (its id, e.g. C0123456789)")
        return self

    def secrets(self) -> dict[str, str | None]:
        return {"webhook_url": self.webhook_url} if self.webhook_url else {"token": self.token}

    def delivered_on(self) -> str:
        return "HTTP 200 with the body ok" if self.webhook_url else 'HTTP 200 with {"ok": true}'
