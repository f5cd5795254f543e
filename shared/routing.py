"""The configuration file (``RESPONDER_CONFIG``) and routing: which sinks hear about a failure.

Routes are tried in order; the first whose ``match`` fits wins (a route without ``match`` is the
catch-all). Silences (each with a reason and an expiry) keep matching failures out of every sink;
they are still counted. Quiet hours hold chat sinks back (except for the severities listed) and
summarise what they held in a digest when they end. Secrets are given as a value or a reference
(``env:NAME``; the cloud entry points add ``ssm:``, ``secretsmanager:`` ...) resolved when a sink is
built, never printed.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.models import Outcome
from shared.remediation.config import RemediationConfig
from shared.settings import Settings

Severity = Literal["critical", "high", "medium", "low"]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
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


def _listed(value: Any) -> Any:
    """A single value or a list of them."""
    if value is None:
        return []
    return [value] if isinstance(value, str | int) else value


Duration = Annotated[int, BeforeValidator(_duration), Field(ge=0)]
Listed = Annotated[list[str], BeforeValidator(_listed)]


# --- secrets -------------------------------------------------------------------------------------

class SecretResolver(Protocol):
    """Resolves references of one scheme, e.g. ``ssm`` for ``ssm:/path``."""

    scheme: str

    def resolve(self, name: str) -> str: ...


class EnvResolver:
    """``env:NAME``: the value of an environment variable (an Azure app setting backed by a Key Vault
    reference arrives this way)."""

    scheme = "env"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = env

    def resolve(self, name: str) -> str:
        env = os.environ if self.env is None else self.env
        value = env.get(name)
        if not value:
            raise ConfigError(f"environment variable {name} is not set")
        return value


#: Schemes that are references, never plain values, even where no resolver is installed.
REFERENCE_SCHEMES = ("env", "ssm", "secretsmanager", "keyvault")


def is_reference(value: str) -> bool:
    scheme, sep, _ = value.partition(":")
    return bool(sep) and scheme in REFERENCE_SCHEMES


def resolve_secret(value: str, resolvers: Sequence[SecretResolver] = ()) -> str:
    """A secret's value: ``value`` itself, or what its reference resolves to."""
    scheme, sep, name = value.partition(":")
    if not sep:
        return value
    for resolver in [*resolvers, EnvResolver()]:
        if resolver.scheme == scheme:
            return resolver.resolve(name)
    if scheme in REFERENCE_SCHEMES:
        raise ConfigError(f"no resolver for '{scheme}:' references here (the AWS entry point resolves ssm: and "
                          "secretsmanager:; elsewhere use env:NAME or the value)")
    return value


def describe_secret(value: str | None) -> str:
    """What may be printed about a secret: the reference, or that a value is set."""
    if not value:
        return "(not set)"
    return value if is_reference(value) else "(a value)"


Secret = Annotated[str, Field(min_length=1)]


# --- sinks ---------------------------------------------------------------------------------------

class RetryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(6, ge=1, le=20)
    budget: Duration = 60
    timeout: Duration = 10


class _SinkBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Message language where the catalog has it (en, ko, ja).
    language: str | None = None
    retry: RetryConfig | None = None

    def secrets(self) -> dict[str, str | None]:
        return {}

    def __repr_args__(self) -> Any:
        hidden = set(self.secrets())
        for name, value in super().__repr_args__():
            yield name, ("***" if name in hidden and value else value)


class SlackSink(_SinkBase):
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


class TeamsSink(_SinkBase):
    type: Literal["teams"]
    webhook_url: Secret

    def secrets(self) -> dict[str, str | None]:
        return {"webhook_url": self.webhook_url}


class JiraSink(_SinkBase):
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


class ServiceNowSink(_SinkBase):
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


class PagerDutySink(_SinkBase):
    type: Literal["pagerduty"]
    routing_key: Secret
    events_url: str | None = None

    def secrets(self) -> dict[str, str | None]:
        return {"routing_key": self.routing_key}


class GitHubSink(_SinkBase):
    type: Literal["github"]
    repo: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")
    token: Secret
    labels: list[str] = ["backup-failure"]
    assignees: list[str] = []
    api_url: str | None = None

    def secrets(self) -> dict[str, str | None]:
        return {"token": self.token}


class OutboxSinkConfig(_SinkBase):
    """Writes every message (and the payloads the other sinks got) as JSON into a folder."""

    type: Literal["outbox"]
    path: Path


SinkConfig = Annotated[SlackSink | TeamsSink | JiraSink | ServiceNowSink | PagerDutySink | GitHubSink
                       | OutboxSinkConfig, Field(discriminator="type")]
CHAT_TYPES = ("slack", "teams")


# --- matching, routes, silences, quiet hours -----------------------------------------------------

def _glob(patterns: Sequence[str], value: str | None) -> bool:
    if not patterns:
        return True
    if not value:
        return False
    return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)


class Match(BaseModel):
    """All given fields must match (globs: ``aws.kms.*``, ``eu-*``); a list means any of its values."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

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
        bad = [v for v in value if v not in ("critical", "high", "medium", "low")]
        if bad:
            raise ValueError(f"unknown severity {bad[0]!r} (critical, high, medium, low)")
        return value

    @field_validator("cloud")
    @classmethod
    def _clouds(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if v not in ("aws", "azure")]
        if bad:
            raise ValueError(f"unknown cloud {bad[0]!r} (aws, azure)")
        return value

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
    model_config = ConfigDict(extra="forbid")

    name: str
    #: Omitted: the catch-all.
    match: Match | None = None
    sinks: Annotated[list[str], BeforeValidator(_listed), Field(min_length=1)]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Silence(BaseModel):
    model_config = ConfigDict(extra="forbid")

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

    model_config = ConfigDict(extra="forbid")

    timezone: str = "UTC"
    start: dtime
    end: dtime
    #: The days on which a quiet period starts (default every day).
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = list(WEEKDAYS)  # type: ignore[arg-type]
    #: The sinks held back (default: every Slack and Teams sink).
    sinks: list[str] = []
    except_severity: Annotated[list[Severity], BeforeValidator(_listed)] = ["critical"]

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
    model_config = ConfigDict(extra="forbid")

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


class ResponderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

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


# --- loading -------------------------------------------------------------------------------------

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


# --- routing -------------------------------------------------------------------------------------

@dataclass
class RouteDecision:
    route: str
    sinks: list[str]
    silenced: Silence | None = None
    #: Sinks held back by quiet hours, with the period key (for the digest).
    held: dict[str, str] = field(default_factory=dict)

    @property
    def deliver_to(self) -> list[str]:
        return [] if self.silenced else [s for s in self.sinks if s not in self.held]


def period_key(start: datetime, end: datetime) -> str:
    return f"{start.strftime('%Y-%m-%dT%H:%M')}..{end.strftime('%Y-%m-%dT%H:%M%z')}"


class Router:
    def __init__(self, config: ResponderConfig, clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.clock = clock or (lambda: datetime.now(UTC))

    def route(self, outcome: Outcome, now: datetime | None = None) -> RouteDecision:
        now = now or self.clock()
        cfg = self.config
        decision: RouteDecision | None = None
        for route in cfg.routes:
            if route.match is None or route.match.matches(outcome):
                decision = RouteDecision(route.name, list(route.sinks))
                break
        if decision is None:
            if cfg.default:
                decision = RouteDecision("default", list(cfg.default))
            elif not cfg.routes:
                decision = RouteDecision("all", list(cfg.sinks))
            else:  # unreachable: validation requires a catch-all
                decision = RouteDecision("none", [])
        for silence in cfg.silences:
            if silence.active(now) and silence.match.matches(outcome):
                decision.silenced = silence
                break
        severity = outcome.finding.severity
        for quiet in cfg.quiet_hours:
            period = quiet.period(now)
            if period is None:
                continue
            for sink in decision.sinks:
                if sink not in decision.held and quiet.holds(sink, cfg.sink_type(sink), severity):
                    decision.held[sink] = period_key(*period)
        return decision


# --- describing (``backup-responder config check``) ----------------------------------------------

def describe_config(config: ResponderConfig, now: datetime | None = None) -> list[str]:
    """What a person checks in a configuration: no secret values, only their references."""
    now = now or datetime.now(UTC)
    lines = ["sinks:" if config.sinks else "sinks: none (messages go to the outbox and the console only)"]
    for name, sink in config.sinks.items():
        secrets = ", ".join(f"{k} {describe_secret(v)}" + (_ref_state(v) if v else "")
                            for k, v in sink.secrets().items())
        lines.append(f"  {name}: {sink.type}" + (f" ({secrets})" if secrets else ""))
    if config.routes:
        lines.append("routes (first match wins):")
        for route in config.routes:
            what = "everything else" if route.match is None else _describe_match(route.match)
            lines.append(f"  {route.name}: {what} -> {', '.join(route.sinks)}")
    if config.default:
        lines.append(f"  default: -> {', '.join(config.default)}")
    for silence in config.silences:
        state = "active" if silence.active(now) else "EXPIRED"
        lines.append(f"silence {silence.label!r}: {_describe_match(silence.match)} until "
                     f"{silence.expires.isoformat()} ({state}): {silence.reason}")
    for quiet in config.quiet_hours:
        lines.append(f"quiet hours {quiet.start.strftime('%H:%M')}-{quiet.end.strftime('%H:%M')} {quiet.timezone} "
                     f"on {','.join(quiet.days)}: holds {', '.join(quiet.sinks) or 'chat sinks'} except "
                     f"{', '.join(quiet.except_severity) or 'nothing'}")
    d = config.dedup
    lines.append(f"dedup: same failure counted for {d.window}s; storms grouped for {d.storm_window}s, "
                 f"updated every {d.update_every}s")
    lines += describe_remediation(config.remediation)
    return lines


def describe_remediation(remediation: RemediationConfig) -> list[str]:
    """The remediation allow-list as a person checks it (``RESPONDER_AUTO_REMEDIATE`` is the switch)."""
    cap = f"; this file caps the switch at {remediation.mode}" if remediation.mode else ""
    if not remediation.allow:
        return [f"remediation: allows nothing (no `remediation.allow`): nothing is ever changed{cap}"]
    lines = [f"remediation allow-list (RESPONDER_AUTO_REMEDIATE is the switch{cap}):"]
    for entry in remediation.allow:
        where = [f"accounts {', '.join(entry.accounts)}"] if entry.accounts else []
        where += [f"subscriptions {', '.join(entry.subscriptions)}"] if entry.subscriptions else []
        where += ["tags " + ", ".join(f"{k}={v}" for k, v in entry.tags.items())] if entry.tags else []
        what = [f"organization {entry.organization_id}"] if entry.organization_id else []
        what += ["restarts the job"] if entry.restart_job else []
        what += ["waits for approval"] if entry.require_approval else []
        lines.append(f"  {entry.cause}: {'; '.join(where) or 'any account or subscription'}"
                     + (f" ({', '.join(what)})" if what else ""))
    limits, approval = remediation.limits, remediation.approval
    lines.append(f"  limits: {limits.max_changes_per_hour} change(s) per hour, {limits.max_changes_per_resource} per "
                 f"resource per {limits.resource_window_hours} h, circuit breaker {limits.circuit_breaker_hours} h")
    approvers = len(approval.slack_users) + len(approval.teams_users)
    lines.append(f"  approvers: {len(approval.slack_users)} Slack user(s), {len(approval.teams_users)} Teams user(s)"
                 if approvers else "  approvers: none (planned fixes cannot be applied from chat)")
    return lines


def _ref_state(value: str) -> str:
    if value.startswith("env:"):
        return " (set)" if os.environ.get(value[4:]) else " (NOT SET here)"
    return ""


def _describe_match(match: Match) -> str:
    parts = [f"{name}={','.join(values) if isinstance(values, list) else values}"
             for name, values in match.model_dump(exclude_defaults=True).items()]
    return " ".join(parts) or "everything"


def describe_route(outcome: Outcome, decision: RouteDecision) -> str:
    finding = outcome.finding
    head = f"{finding.cause} ({finding.severity}) -> route {decision.route!r}"
    if decision.silenced is not None:
        return f"{head}: SILENCED ({decision.silenced.reason})"
    sinks = [s + (" (held: quiet hours)" if s in decision.held else "") for s in decision.sinks]
    return f"{head} -> {', '.join(sinks) or 'no sink'}"
