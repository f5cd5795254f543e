"""shared.wiring"""

from __future__ import annotations

from collections.abc import Sequence

from shared.approval import TeamsApprovalLink
from shared.notify.secrets import SecretResolver, resolve_secret
from shared.notify.types import ConfigError
from shared.settings import Settings
from shared.sinks.base import check_url
from shared.sinks.registry import log


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
