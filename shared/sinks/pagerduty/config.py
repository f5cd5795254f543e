"""The settings of a ``pagerduty`` sink in the configuration file."""

from __future__ import annotations

from typing import Literal

from shared.notify.types import Secret
from shared.sinks.base import SinkSettings


class PagerDutySink(SinkSettings):
    type: Literal["pagerduty"]
    routing_key: Secret
    events_url: str | None = None

    def secrets(self) -> dict[str, str | None]:
        return {"routing_key": self.routing_key}
