"""The composition root: the one place that builds a ``Responder``, for the Lambda, the Azure
Function and the CLI alike. Each entry point reads its configuration once per process
(``config_from_settings``) and passes it in with its cloud's adapters; building a responder per
invocation then only resolves secrets (so a rotated secret is picked up) and creates the senders."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from shared.catalog import CLOUDS, default_catalog
from shared.classify import Classifier
from shared.decode import Decoder
from shared.notify.config import ResponderConfig, config_from_settings
from shared.notify.secrets import SecretResolver, resolve_secret
from shared.notify.types import ConfigError
from shared.pipeline import Enricher, Pipeline
from shared.responder import Responder
from shared.settings import Settings
from shared.sinks import BuildContext, build_destinations
from shared.sinks.base import check_url
from shared.sinks.http import SYSTEM_CLOCK, Clock, Observe, Transport, unobserved, urllib_transport
from shared.sinks.local.config import OutboxSinkConfig
from shared.sinks.local.transport import LocalSink, OutboxSink
from shared.state import MemoryStore, StateStore

if TYPE_CHECKING:  # imported where used: only a configuration that asks for them pays for them
    from shared.approval import TeamsApprovalLink
    from shared.remediation.changes import Remediator

log = logging.getLogger("backup_responder")

#: The cloud adapters that apply fixes, created only when auto-remediation is not off.
Remediators = Callable[[], Sequence["Remediator"]]


def approval_link(settings: Settings, resolvers: Sequence[SecretResolver] = ()) -> TeamsApprovalLink | None:
    """The Teams "Apply fix" link settings (``RESPONDER_APPROVAL_BASE_URL``, ``RESPONDER_APPROVAL_SECRET``),
    or None when they are not both set or not usable (then cards carry no "Apply fix"; the reason is
    logged, never the secret)."""
    if not settings.approval_base_url or settings.approval_secret is None:
        return None
    from shared.approval import TeamsApprovalLink
    try:
        url = check_url(settings.approval_base_url, "RESPONDER_APPROVAL_BASE_URL")
        secret = resolve_secret(settings.approval_secret.get_secret_value(), resolvers)
    except ConfigError as exc:
        log.warning('Teams cards get no "Apply fix": %s', exc)
        return None
    return TeamsApprovalLink(url, secret) if secret else None


def build_responder(settings: Settings | None = None, *, config: ResponderConfig | None = None,
                    enrichers: Sequence[Enricher] = (), decoder: Decoder | None = None,
                    state: StateStore | None = None, resolvers: Sequence[SecretResolver] = (),
                    clock: Clock = SYSTEM_CLOCK, transport: Transport = urllib_transport,
                    observe: Observe = unobserved, dry_run: bool = False,
                    remediators: Remediators | Sequence[Remediator] | None = None,
                    local: Sequence[LocalSink] = (), clouds: tuple[str, ...] = CLOUDS) -> Responder:
    """The responder the settings and the configuration describe.

    - sinks: ``RESPONDER_CONFIG``'s routes and sinks (``config``, read once by the caller), or else
      ``SLACK_WEBHOOK_URL`` / ``TEAMS_WEBHOOK_URL``; ``RESPONDER_OUTBOX`` and ``local`` (the console)
      get a copy of everything; ``resolvers`` add secret reference schemes (``ssm:``...); ``observe``
      watches each delivery attempt (the Lambda's X-Ray subsegments);
    - auto-remediation: when ``RESPONDER_AUTO_REMEDIATE`` and the configuration's ``remediation``
      section leave it on or in dry-run, with the adapters ``remediators`` makes (only then);
    - Teams cards offer "Apply fix" when ``RESPONDER_APPROVAL_BASE_URL`` and ``RESPONDER_APPROVAL_SECRET`` are set;
    - the catalog of ``clouds``: a function that handles one cloud's failures loads that cloud's rules only.

    ``ConfigError`` for a configuration that cannot be used."""
    settings = settings or Settings.from_env()
    config = config or config_from_settings(settings)
    sinks: list[LocalSink] = list(local)
    if settings.outbox:
        sinks.append(OutboxSink(settings.outbox))
    sinks += [OutboxSink(s.path) for s in config.sinks.values() if isinstance(s, OutboxSinkConfig)]
    context = BuildContext(resolvers=resolvers, clock=clock, transport=transport, observe=observe,
                           approval=approval_link(settings, resolvers))
    pipeline = Pipeline(Classifier(default_catalog(clouds)), enrichers=enrichers, decoder=decoder,
                        language=config.language or settings.language)
    state = state or MemoryStore()
    engine = None
    if remediators is not None and config.remediation.effective_mode(settings.auto_remediate) != "off":
        from shared.remediation.engine import engine_from_settings

        adapters = remediators() if callable(remediators) else remediators
        engine = engine_from_settings(settings, state, adapters, config=config.remediation)
    return Responder(pipeline, sinks, state, config=config, destinations=build_destinations(config, context),
                     clock=clock, dry_run=dry_run, remediation=engine)
