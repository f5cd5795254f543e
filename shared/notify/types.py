"""The value types of the configuration file: durations (``90s``, ``10m``, ``30d``), one-or-many
lists, secrets, the retry settings, and ``ConfigError``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")


_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


SINK_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class ConfigError(ValueError):
    """A configuration file that cannot be used, with the reason in plain words."""


def _duration(value: Any) -> Any:
    """Seconds from ``90``, ``"90s"``, ``"10m"``, ``"1h"``, ``"30d"``."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration (e.g. 90s, 10m, 1h, 30d)")
        return int(float(match.group(1)) * _UNITS[match.group(2)])
    return value


def seconds(value: str) -> int:
    """A duration as the configuration writes it (``90s``, ``10m``, ``1h``, ``30d``) in seconds;
    ``ValueError`` for anything else."""
    result = _duration(value)
    if not isinstance(result, int):
        raise ValueError(f"{value!r} is not a duration (e.g. 90s, 10m, 1h, 30d)")
    return result


def duration_text(value: int) -> str:
    """Seconds as the configuration writes them, in the largest whole unit (``7d``, ``36h``, ``90s``)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value and value % size == 0:
            return f"{value // size}{unit}"
    return f"{value}s"


def _listed(value: Any) -> Any:
    """A single value or a list of them."""
    if value is None:
        return []
    return [value] if isinstance(value, str | int) else value


Duration = Annotated[int, BeforeValidator(_duration), Field(ge=0)]


Listed = Annotated[list[str], BeforeValidator(_listed)]


Secret = Annotated[str, Field(min_length=1)]


class RetryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    max_attempts: int = Field(6, ge=1, le=20)
    budget: Duration = 60
    timeout: Duration = 10
