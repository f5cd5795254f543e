"""Destinations from the configuration: secrets resolved, URLs checked, one ``Sender`` each."""

from __future__ import annotations

import ipaddress
import logging
import random
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from shared.approval import TeamsApprovalLink
from shared.delivery.base import Destination, DestinationKind, Notice, Receipt
from shared.delivery.github import GitHub
from shared.delivery.http import SYSTEM_CLOCK, Clock, Pacer, RetryPolicy, Sender, Transport, urllib_transport
from shared.delivery.jira import Jira
from shared.delivery.pagerduty import PagerDuty
from shared.delivery.servicenow import ServiceNow
from shared.delivery.slack import SlackApi, SlackWebhook
from shared.delivery.teams import TeamsWorkflow
from shared.routing import (
    ConfigError,
    GitHubSink,
    JiraSink,
    OutboxSinkConfig,
    PagerDutySink,
    ResponderConfig,
    RetryConfig,
    SecretResolver,
    ServiceNowSink,
    SlackSink,
    TeamsSink,
    is_reference,
    resolve_secret,
)
from shared.settings import Settings
from shared.sinks import DeliveryError

log = logging.getLogger("backup_responder.delivery")

#: One pacer per process for the real clock, so responders built per invocation share it.
DEFAULT_PACER = Pacer(SYSTEM_CLOCK)


def check_url(url: str, what: str) -> str:
    """https, or http to this machine only (local tests and emulators); a URL that does not parse
    (a bad port, white space or control characters) is refused without being quoted."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        raise ConfigError(f"{what} is not a valid URL") from None
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ConfigError(f"{what} is not a valid URL (it contains white space or control characters)")
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http":
        try:
            local = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            local = False
        if local:
            return url
    raise ConfigError(f"{what} must be an https URL")


def _urls(sink: object) -> list[tuple[str, str]]:
    """(field, URL) of a sink's configuration that ``build_destination`` checks with ``check_url``;
    secret references (``ssm:``, ``env:``...) are checked when they resolve, at delivery."""
    fields = ("webhook_url", "api_url", "url", "instance_url", "events_url")
    found = [(name, getattr(sink, name)) for name in fields if isinstance(getattr(sink, name, None), str)]
    return [(name, value) for name, value in found if not is_reference(value)]


def url_problems(config: ResponderConfig) -> list[str]:
    """The sinks ``respond`` would refuse for their URL (``check_url``, the same check), so that
    ``config check`` refuses them too. Reasons never quote the URL: a webhook URL is a secret."""
    problems = []
    for name, sink in config.sinks.items():
        for field, value in _urls(sink):
            try:
                check_url(value, field)
            except ConfigError as exc:
                problems.append(f"sink {name}: {exc}")
    return problems


#: What each kind of destination counts as delivered, for ``config check``.
TICKET_SUCCESS = "a 2xx that carries the ticket's id (issue key, sys_id, number, dedup_key)"
#: What any other answer means, on every entry point.
REFUSAL = ("any other answer, a 2xx included (Slack's channel_not_found, invalid_payload, a Teams body that "
           "reports an error), is a refusal: nothing is marked delivered and the event is kept (respond: "
           "FAILED on its line, exit status 1, the outbox copy; Lambda: retried, then the dead-letter "
           "queue; Azure: 503 with Retry-After, so the action group retries)")


def success_answer(sink: object) -> str | None:
    """The answer that counts as delivered for this sink's configuration (None for the outbox)."""
    if isinstance(sink, SlackSink):
        return SlackWebhook.SUCCESS if sink.webhook_url else SlackApi.SUCCESS
    if isinstance(sink, TeamsSink):
        return TeamsWorkflow.SUCCESS
    if isinstance(sink, OutboxSinkConfig):
        return None
    return TICKET_SUCCESS


def describe_answers(config: ResponderConfig) -> list[str]:
    """``config check``'s lines on what each sink's answers mean."""
    lines = [f"  {name}: delivered on {answer}" for name, sink in config.sinks.items()
             if (answer := success_answer(sink)) is not None]
    if not lines:
        return []
    return ["what counts as delivered:", *lines, f"  {REFUSAL}"]


class BrokenDestination:
    """A sink whose set-up failed (a secret that does not resolve, a bad URL): each delivery to it
    fails (retryably: the secret may appear) while the other sinks still deliver."""

    group_updates = False

    def __init__(self, name: str, kind: DestinationKind, reason: str) -> None:
        self.name = name
        self.kind = kind
        self.reason = reason

    def send(self, notice: Notice, previous: Receipt | None) -> Receipt:
        raise DeliveryError(f"{self.name} is not usable: {self.reason}", retryable=True)

    def preview(self, notice: Notice, previous: Receipt | None) -> dict[str, Any]:
        return {"error": f"not usable: {self.reason}"}


def approval_link(settings: Settings, resolvers: Sequence[SecretResolver] = ()) -> TeamsApprovalLink | None:
    """The Teams "Apply fix" link settings (``RESPONDER_APPROVAL_BASE_URL``, ``RESPONDER_APPROVAL_SECRET``),
    or None when they are not both set or not usable (then cards carry no "Apply fix"; the reason is
    logged, never the secret)."""
    if not settings.approval_base_url or settings.approval_secret is None:
        return None
    try:
        url = check_url(settings.approval_base_url, "RESPONDER_APPROVAL_BASE_URL")
        secret = resolve_secret(settings.approval_secret.get_secret_value(), resolvers)
    except ConfigError as exc:
        log.warning('Teams cards get no "Apply fix": %s', exc)
        return None
    return TeamsApprovalLink(url, secret) if secret else None


def _policy(config: ResponderConfig, own: RetryConfig | None) -> RetryPolicy:
    retry = own or config.retry
    return RetryPolicy(max_attempts=retry.max_attempts, budget_seconds=float(retry.budget),
                       timeout=float(retry.timeout))


def build_destination(name: str, config: ResponderConfig, resolvers: Sequence[SecretResolver] = (),
                      clock: Clock = SYSTEM_CLOCK, transport: Transport = urllib_transport,
                      pacer: Pacer | None = None, rng: random.Random | None = None,
                      approval: TeamsApprovalLink | None = None) -> Destination | None:
    """The destination for sink ``name``; None for the outbox (the responder writes it itself).
    ``approval``: Teams cards offer "Apply fix" for planned fixes through this link."""
    sink = config.sinks[name]
    if isinstance(sink, OutboxSinkConfig):
        return None
    kind: DestinationKind = "chat" if sink.type in ("slack", "teams") else "ticket"
    pacer = pacer or (DEFAULT_PACER if clock is SYSTEM_CLOCK else Pacer(clock))
    sender = Sender(f"{sink.type} {name}", policy=_policy(config, sink.retry), clock=clock, pacer=pacer,
                    transport=transport, rng=rng)

    def secret(value: str | None, what: str) -> str:
        if not value:
            raise ConfigError(f"{what} is not set")
        return resolve_secret(value, resolvers)

    try:
        if isinstance(sink, SlackSink):
            if sink.webhook_url:
                return SlackWebhook(name, check_url(secret(sink.webhook_url, "webhook_url"), "webhook_url"), sender)
            return SlackApi(name, secret(sink.token, "token"), sink.channel or "", sender, sink.storm_mode,
                            check_url(sink.api_url, "api_url") if sink.api_url else None)
        if isinstance(sink, TeamsSink):
            return TeamsWorkflow(name, check_url(secret(sink.webhook_url, "webhook_url"), "webhook_url"), sender,
                                 approval)
        if isinstance(sink, JiraSink):
            return Jira(name, check_url(sink.url, "url"), sink.project, sender, email=sink.email,
                        api_token=secret(sink.api_token, "api_token"), issue_type=sink.issue_type,
                        labels=sink.labels, resolve_transition=sink.resolve_transition,
                        set_priority=sink.set_priority, extra_fields=sink.fields)
        if isinstance(sink, ServiceNowSink):
            return ServiceNow(name, check_url(sink.instance_url, "instance_url"), sender, username=sink.username,
                              password=secret(sink.password, "password") if sink.password else None,
                              token=secret(sink.token, "token") if sink.token else None,
                              assignment_group=sink.assignment_group, caller_id=sink.caller_id,
                              category=sink.category, resolve_fields=sink.resolve_fields,
                              extra_fields=sink.fields)
        if isinstance(sink, PagerDutySink):
            return PagerDuty(name, secret(sink.routing_key, "routing_key"), sender,
                             check_url(sink.events_url, "events_url") if sink.events_url else None)
        if isinstance(sink, GitHubSink):
            return GitHub(name, sink.repo, secret(sink.token, "token"), sender, sink.labels, sink.assignees,
                          check_url(sink.api_url, "api_url") if sink.api_url else None)
    except ConfigError as exc:
        return BrokenDestination(name, kind, str(exc))
    raise ConfigError(f"sink {name}: unknown type {sink.type}")  # pragma: no cover (validated)


def build_destinations(config: ResponderConfig, resolvers: Sequence[SecretResolver] = (),
                       clock: Clock = SYSTEM_CLOCK, transport: Transport = urllib_transport,
                       pacer: Pacer | None = None, rng: random.Random | None = None,
                       approval: TeamsApprovalLink | None = None) -> dict[str, Destination]:
    pacer = pacer or (DEFAULT_PACER if clock is SYSTEM_CLOCK else Pacer(clock))
    built: dict[str, Destination] = {}
    for name in config.sinks:
        destination = build_destination(name, config, resolvers, clock, transport, pacer, rng, approval)
        if destination is not None:
            built[name] = destination
    return built
