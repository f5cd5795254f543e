"""The sinks: one folder per service (``config.py``: its settings; ``render.py``: a ``Message`` in
its markup; ``transport.py``: how it is sent, and ``build``), and this registry. Adding a sink is
one folder and one line in ``SINK_TYPES``.

A sink's settings model and its transport (and its SDK) are imported only when a sink of that type
is configured."""

from __future__ import annotations

import importlib
import logging
import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from msgspec import Struct, field
from pydantic import BeforeValidator, SerializeAsAny
from pydantic_core import PydanticCustomError

from shared.notify.secrets import SecretResolver, is_reference, resolve_secret
from shared.notify.types import ConfigError, RetryConfig
from shared.sinks.base import BrokenDestination, Destination, DestinationKind, SinkSettings, check_url
from shared.sinks.http import (
    SYSTEM_CLOCK,
    Clock,
    Observe,
    Pacer,
    RetryPolicy,
    Sender,
    Transport,
    unobserved,
    urllib_transport,
)

if TYPE_CHECKING:
    from shared.approval import TeamsApprovalLink
    from shared.notify.config import ResponderConfig

log = logging.getLogger("backup_responder.delivery")


class SinkType(Struct, frozen=True):
    #: ``module:class`` of its settings model (a ``SinkSettings``).
    settings: str
    kind: DestinationKind
    #: ``module:function`` building the destination: ``(name, settings, BuildContext) -> Destination``.
    builder: str | None

    def config(self) -> type[SinkSettings]:
        """The settings model, imported now: a cold start imports the models of the types configured only."""
        return _load(self.settings)  # type: ignore[no-any-return]


SINK_TYPES: dict[str, SinkType] = {
    "slack": SinkType("shared.sinks.slack.config:SlackSink", "chat", "shared.sinks.slack.transport:build"),
    "teams": SinkType("shared.sinks.teams.config:TeamsSink", "chat", "shared.sinks.teams.transport:build"),
    "jira": SinkType("shared.sinks.jira.config:JiraSink", "ticket", "shared.sinks.jira.transport:build"),
    "servicenow": SinkType("shared.sinks.servicenow.config:ServiceNowSink", "ticket",
                           "shared.sinks.servicenow.transport:build"),
    "pagerduty": SinkType("shared.sinks.pagerduty.config:PagerDutySink", "ticket",
                          "shared.sinks.pagerduty.transport:build"),
    "github": SinkType("shared.sinks.github.config:GitHubSink", "ticket", "shared.sinks.github.transport:build"),
    # The responder writes the outbox itself.
    "outbox": SinkType("shared.sinks.local.config:OutboxSinkConfig", "local", None),
}


def _by_type(value: Any) -> Any:
    """A sink's settings validated by the model its ``type`` names (its errors keep their place)."""
    if isinstance(value, SinkSettings):
        return value
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in SINK_TYPES:
        raise PydanticCustomError("sink_type", "{problem} (one of: {known})", {
            "problem": f"unknown sink type {kind!r}" if kind is not None else "a sink needs a type",
            "known": ", ".join(SINK_TYPES)})
    return SINK_TYPES[kind].config().model_validate(value)


#: One sink's settings in the configuration: the model of its ``type``.
SinkConfig = Annotated[SerializeAsAny[SinkSettings], BeforeValidator(_by_type)]
#: The types quiet hours hold back by default.
CHAT_TYPES = tuple(name for name, t in SINK_TYPES.items() if t.kind == "chat")
#: One pacer per process for the real clock, so responders built per invocation share it.
DEFAULT_PACER = Pacer(SYSTEM_CLOCK)

#: What any answer other than a sink's success means, on every entry point.
REFUSAL = ("any other answer, a 2xx included (Slack's channel_not_found, invalid_payload, a Teams body that "
           "reports an error), is a refusal: nothing is marked delivered and the event is kept (respond: "
           "FAILED on its line, exit status 1, the outbox copy; Lambda: retried, then the dead-letter "
           "queue; Azure: 503 with Retry-After, so the action group retries)")


class BuildContext(Struct):
    """What building a destination needs besides its settings."""

    resolvers: Sequence[SecretResolver] = ()
    clock: Clock = SYSTEM_CLOCK
    transport: Transport = urllib_transport
    observe: Observe = unobserved
    pacer: Pacer | None = None
    rng: random.Random | None = None
    approval: TeamsApprovalLink | None = None
    retry: RetryConfig = field(default_factory=RetryConfig)

    def secret(self, value: str | None, what: str) -> str:
        if not value:
            raise ConfigError(f"{what} is not set")
        return resolve_secret(value, self.resolvers)

    def url(self, value: str, what: str) -> str:
        return check_url(value, what)

    def sender(self, label: str, own: RetryConfig | None) -> Sender:
        retry = own or self.retry
        policy = RetryPolicy(max_attempts=retry.max_attempts, budget_seconds=float(retry.budget),
                             timeout=float(retry.timeout))
        pacer = self.pacer or (DEFAULT_PACER if self.clock is SYSTEM_CLOCK else Pacer(self.clock))
        self.pacer = pacer
        return Sender(label, policy=policy, clock=self.clock, pacer=pacer, transport=self.transport, rng=self.rng,
                      observe=self.observe)


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _builder(path: str) -> Callable[[str, Any, BuildContext], Destination]:
    return _load(path)  # type: ignore[no-any-return]


def build_destination(name: str, settings: SinkSettings, context: BuildContext) -> Destination | None:
    """The destination for sink ``name``; None for the outbox. A sink whose set-up fails (a secret
    that does not resolve, a bad URL) is a ``BrokenDestination``: its deliveries fail, the others go on."""
    sink_type = SINK_TYPES[settings.type]
    if sink_type.builder is None:
        return None
    try:
        return _builder(sink_type.builder)(name, settings, context)
    except ConfigError as exc:
        return BrokenDestination(name, sink_type.kind, str(exc))


def build_destinations(config: ResponderConfig, context: BuildContext | None = None) -> dict[str, Destination]:
    context = context or BuildContext()
    context.retry = config.retry
    built = {name: build_destination(name, settings, context) for name, settings in config.sinks.items()}
    return {name: destination for name, destination in built.items() if destination is not None}


# --- what ``config check`` says about sinks ------------------------------------------------------

def _urls(sink: SinkSettings) -> list[tuple[str, str]]:
    """(field, URL) of a sink's settings that its builder checks with ``check_url``; secret
    references (``ssm:``, ``env:``...) are checked when they resolve, at delivery."""
    fields = ("webhook_url", "api_url", "url", "instance_url", "events_url")
    found = [(name, getattr(sink, name)) for name in fields if isinstance(getattr(sink, name, None), str)]
    return [(name, value) for name, value in found if not is_reference(value)]


def url_problems(config: ResponderConfig) -> list[str]:
    """The sinks ``respond`` would refuse for their URL (the same check), so that ``config check``
    refuses them too. Reasons never quote the URL: a webhook URL is a secret."""
    problems = []
    for name, sink in config.sinks.items():
        for what, value in _urls(sink):
            try:
                check_url(value, what)
            except ConfigError as exc:
                problems.append(f"sink {name}: {exc}")
    return problems


def describe_answers(config: ResponderConfig) -> list[str]:
    """``config check``'s lines on what each sink's answers mean."""
    lines = [f"  {name}: delivered on {answer}" for name, sink in config.sinks.items()
             if (answer := sink.delivered_on()) is not None]
    if not lines:
        return []
    return ["what counts as delivered:", *lines, f"  {REFUSAL}"]
