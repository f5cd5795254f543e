"""The settings of a ``servicenow`` sink in the configuration file."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import model_validator

from shared.notify.types import Secret
from shared.sinks.base import SinkSettings


class ServiceNowSink(SinkSettings):
    type: Literal["servicenow"]
    instance_url: str
    username: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    assignment_group: str | None = None
    caller_id: str | None = None
    category: str | None = None
    resolve_fields: dict[str, str] = {"state": "6", "close_code": "Solution provided"}
    fields: dict[str, Any] = {}

    @model_validator(mode="after")
    def _auth(self) -> ServiceNowSink:
        if not self.token and not (self.username and self.password):
            raise ValueError("give username and password, or an OAuth token")
        return self

    def secrets(self) -> dict[str, str | None]:
        return {"token": self.token} if self.token else {"password": self.password}
