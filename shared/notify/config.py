"""The configuration file (``RESPONDER_CONFIG``) and routing: which sinks hear about a failure.

Routes are tried in order; the first whose ``match`` fits wins (a route without ``match`` is the
catch-all). Silences (each with a reason and an expiry) keep matching failures out of every sink;
they are still counted. Quiet hours hold chat sinks back (except for the severities listed) and
summarise what they held in a digest when they end. The optional ``report`` section sends the
failure report of the last ``since`` (a week by default) to chat sinks on a schedule. Secrets are
given as a value or a reference (``env:NAME``; the cloud entry points add ``ssm:``,
``secretsmanager:`` ...) resolved when a sink is built, never printed.

The configuration's models are built on first use (``defer_build``), as one schema from
``ResponderConfig`` down: made class by class at import, each part would build a validator of its
own that nothing uses (about 2 ms of a cold start, ``bench/aws_cold_start.py``)."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.models import Outcome
from shared.notify.types import SINK_NAME, ConfigError, Duration, Listed, RetryConfig, _listed
from shared.remediation.config import RemediationConfig
from shared.settings import Settings
from shared.sinks import CHAT_TYPES, SinkConfig
from shared.vocab import Cloud, Severity

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _glob(patterns: Sequence[str], value: str | None) -> bool:
    if not patterns:
        return True
    if not value:
        return False
    return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)


def _known(what: str, values: list[str], vocabulary: type[StrEnum]) -> list[str]:
    """``values`` if each is a word of ``vocabulary``, else a ValueError naming the first that is not."""
    words = [v.value for v in vocabulary]
    bad = [v for v in values if v not in words]
    if bad:
        raise ValueError(f"unknown {what} {bad[0]!r} ({', '.join(words)})")
    return values


class Match(BaseModel):
    """All given fields must match (globs: ``aws.kms.*``, ``eu-*``); a list means any of its values."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    cloud: Listed = []
    account: Listed = Field([], validation_alias="account", description="account or subscription ids")
    subscription: Listed = []
    region: Listed = []
    cause: Listed = []
    severity: Listed = []
    job_type: Listed = []
    resource: Listed = []
    #: Resource tags (from enrichment, ``tag:NAME`` facts): every one must match.
    tags: dict[str, str] = {}

    @field_validator("severity")
    @classmethod
    def _severities(cls, value: list[str]) -> list[str]:
        return _known("severity", value, Severity)

    @field_validator("cloud")
    @classmethod
    def _clouds(cls, value: list[str]) -> list[str]:
        return _known("cloud", value, Cloud)

    def matches(self, outcome: Outcome) -> bool:
        f, finding = outcome.failure, outcome.finding
        accounts = [*self.account, *self.subscription]
        tags = {k[4:]: v for k, v in f.facts.items() if k.startswith("tag:")}
        return (_glob(self.cloud, f.cloud) and _glob(accounts, f.account_id) and _glob(self.region, f.region)
                and _glob(self.cause, finding.cause) and _glob(self.severity, finding.severity)
                and _glob(self.job_type, f.job_type)
                and (not self.resource or _glob(self.resource, f.resource_id) or _glob(self.resource, f.resource_name))
                and all(_glob([pattern], tags.get(name)) for name, pattern in self.tags.items()))


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str
    #: Omitted: the catch-all.
    match: Match | None = None
    sinks: Annotated[list[str], BeforeValidator(_listed), Field(min_length=1)]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Silence(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str | None = None
    match: Match
    reason: str = Field(min_length=3)
    expires: datetime
    created_by: str | None = None

    @field_validator("expires")
    @classmethod
    def _tz(cls, value: datetime) -> datetime:
        return _aware(value)

    def active(self, now: datetime) -> bool:
        return _aware(now) < self.expires

    @property
    def label(self) -> str:
        return self.name or self.reason


class QuietHours(BaseModel):
    """Chat sinks hold back from ``start`` to ``end`` (local time; may cross midnight), except for
    the listed severities; what they held is summarised when the period ends."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    timezone: str = "UTC"
    start: dtime
    end: dtime
    #: The days on which a quiet period starts (default every day).
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = list(WEEKDAYS)  # type: ignore[arg-type]
    #: The sinks held back (default: every Slack and Teams sink).
    sinks: list[str] = []
    except_severity: Annotated[list[Severity], BeforeValidator(_listed)] = [Severity.CRITICAL]

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def period(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The quiet period containing ``now`` (start, end), or None."""
        zone = ZoneInfo(self.timezone)
        local = _aware(now).astimezone(zone)
        for days_back in (0, 1):
            day: date = local.date() - timedelta(days=days_back)
            if WEEKDAYS[day.weekday()] not in self.days:
                continue
            start = datetime.combine(day, self.start, zone)
            end = datetime.combine(day if self.end > self.start else day + timedelta(days=1), self.end, zone)
            if start <= local < end:
                return start, end
        return None

    def last_ended(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The latest period that ended before ``now`` (within the last 8 days)."""
        zone = ZoneInfo(self.timezone)
        local = _aware(now).astimezone(zone)
        for days_back in range(0, 9):
            day = local.date() - timedelta(days=days_back)
            if WEEKDAYS[day.weekday()] not in self.days:
                continue
            start = datetime.combine(day, self.start, zone)
            end = datetime.combine(day if self.end > self.start else day + timedelta(days=1), self.end, zone)
            if end <= local:
                return start, end
        return None

    def holds(self, sink: str, sink_type: str, severity: str) -> bool:
        applies = sink in self.sinks if self.sinks else sink_type in CHAT_TYPES
        return applies and severity not in self.except_severity


class DedupConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    #: The same failure (fingerprint) again within this window is counted, not posted again.
    window: Duration = 3600
    #: Failures of one cause within this window (from the first) are grouped into one message.
    storm_window: Duration = 600
    #: A storm's message is updated (or, for webhooks, its count posted) at most this often.
    update_every: Duration = 60
    #: How many grouped resources a storm message names.
    sample: int = Field(10, ge=0, le=50)
    #: How long an open ticket is remembered for comments and recovery.
    ticket_ttl: Duration = 30 * 86400


class ReportConfig(BaseModel):
    """The scheduled failure report (the weekly digest): what failed in the last ``since``, by cause,
    posted to ``sinks`` once per period. Absent: no report is sent."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    sinks: Annotated[list[str], BeforeValidator(_listed), Field(min_length=1)]
    #: The period the report covers, counted back from each run (and the period a report is sent
    #: once in): ``7d`` for the weekly schedule.
    since: Annotated[Duration, Field(ge=3600)] = 7 * 86400
    #: The report's language (else each sink's, else the configuration's).
    language: Literal["en", "ko", "ja"] | None = None
    #: AWS: every account of the organization (``ByAccountId=*``: the management account or a
    #: delegated administrator for AWS Backup only); else the function's own account.
    organization: bool = False
    #: AWS: the Regions whose jobs are read (default: the function's own).
    regions: Annotated[list[Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]], BeforeValidator(_listed)] = []


class ResponderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    version: Literal[1] = 1
    sinks: dict[Annotated[str, Field(pattern=SINK_NAME)], SinkConfig] = {}
    routes: list[Route] = []
    #: Where failures go that no route matched (same as a last route without ``match``).
    default: Annotated[list[str], BeforeValidator(_listed)] = []
    silences: list[Silence] = []
    quiet_hours: Annotated[list[QuietHours], BeforeValidator(lambda v: [v] if isinstance(v, dict) else v)] = []
    dedup: DedupConfig = DedupConfig()
    retry: RetryConfig = RetryConfig()
    language: str | None = None
    #: Auto-remediation: what ``RESPONDER_AUTO_REMEDIATE`` may touch, validated here once and handed to
    #: the engine (``engine_from_settings(config=...)``). Omitted or ``null``: allows nothing.
    remediation: Annotated[RemediationConfig, BeforeValidator(lambda v: {} if v is None else v)] = RemediationConfig()
    #: The scheduled failure report; omitted or ``null``: off.
    report: ReportConfig | None = None

    @model_validator(mode="after")
    def _references(self) -> ResponderConfig:
        known = set(self.sinks)
        for route in self.routes:
            for name in route.sinks:
                if name not in known:
                    raise ValueError(f"route {route.name!r} sends to unknown sink {name!r} "
                                     f"(known: {', '.join(sorted(known)) or 'none'})")
        for name in [*self.default, *(s for q in self.quiet_hours for s in q.sinks)]:
            if name not in known:
                raise ValueError(f"unknown sink {name!r} (known: {', '.join(sorted(known)) or 'none'})")
        for name in self.report.sinks if self.report else []:
            if name not in known:
                raise ValueError(f"report sends to unknown sink {name!r} (known: {', '.join(sorted(known)) or 'none'})")
            if self.sinks[name].type not in CHAT_TYPES:
                raise ValueError(f"report sends to {name!r}, a {self.sinks[name].type} sink: the report goes to chat "
                                 f"sinks only ({', '.join(CHAT_TYPES)})")
        names = [r.name for r in self.routes]
        if len(set(names)) != len(names):
            raise ValueError("route names must be unique")
        for i, route in enumerate(self.routes[:-1]):
            if route.match is None:
                raise ValueError(f"route {route.name!r} has no match (a catch-all) but is not the last route: "
                                 f"{self.routes[i + 1].name!r} and after it could never match")
        if self.routes and self.routes[-1].match is not None and not self.default:
            raise ValueError("routes must end with a catch-all: a last route without match, or `default: [sinks]`")
        return self

    def sink_type(self, name: str) -> str:
        return self.sinks[name].type


def _problem(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-")) or "config"
        lines.append(f"{where}: {error['msg']}")
    return "; ".join(lines)


def parse_config(data: Any, source: str = "config") -> ResponderConfig:
    try:
        return ResponderConfig.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_problem(exc)}") from None


def load_config(path: Path) -> ResponderConfig:
    """A YAML or JSON configuration file, validated."""
    import yaml  # here: the simple settings need no configuration file

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from exc
    return parse_config(data, str(path))


def config_from_settings(settings: Settings) -> ResponderConfig:
    """The file ``RESPONDER_CONFIG`` names; without one, the sinks the simple settings describe:
    ``SLACK_WEBHOOK_URL`` and ``TEAMS_WEBHOOK_URL`` each receive everything."""
    if settings.config_path is not None:
        return load_config(settings.config_path)
    sinks: dict[str, Any] = {}
    if settings.slack_webhook_url:
        sinks["slack"] = {"type": "slack", "webhook_url": settings.slack_webhook_url}
    if settings.teams_webhook_url:
        sinks["teams"] = {"type": "teams", "webhook_url": settings.teams_webhook_url}
    return parse_config({"sinks": sinks}, "settings")
