"""Destinations from the configuration: secrets resolved, URLs checked, one ``Sender`` each."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

from shared.approval import TeamsApprovalLink
from shared.notify.config import ResponderConfig
from shared.notify.secrets import SecretResolver, is_reference, resolve_secret
from shared.notify.types import ConfigError, RetryConfig
from shared.sinks.base import BrokenDestination, Destination, DestinationKind, check_url
from shared.sinks.github.config import GitHubSink
from shared.sinks.github.transport import GitHub
from shared.sinks.http import SYSTEM_CLOCK, Clock, Pacer, RetryPolicy, Sender, Transport, urllib_transport
from shared.sinks.jira.config import JiraSink
from shared.sinks.jira.transport import Jira
from shared.sinks.local.config import OutboxSinkConfig
from shared.sinks.pagerduty.config import PagerDutySink
from shared.sinks.pagerduty.transport import PagerDuty
from shared.sinks.servicenow.config import ServiceNowSink
from shared.sinks.servicenow.transport import ServiceNow
from shared.sinks.slack.config import SlackSink
from shared.sinks.slack.transport import SlackApi, SlackWebhook
from shared.sinks.teams.config import TeamsSink
from shared.sinks.teams.transport import TeamsWorkflow

log = logging.getLogger("backup_responder.delivery")


#: One pacer per process for the real clock, so responders built per invocation share it.
DEFAULT_PACER = Pacer(SYSTEM_CLOCK)


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
