"""The action group's Secure Webhook: a Microsoft Entra access token on every POST.

When the action group uses a Secure Webhook it asks Microsoft Entra ID for a token for our API's
app registration and sends it as ``Authorization: Bearer <token>``. A token is accepted only when
all of these hold (anything else is a 401 and is never processed):

- signed (RS256) by a key of the tenant's published key set (JWKS);
- issued for our tenant: ``iss`` is ``https://sts.windows.net/<tenant>/`` (v1 tokens) or
  ``https://login.microsoftonline.com/<tenant>/v2.0`` (v2 tokens), and ``tid`` is the tenant;
- for our API: ``aud`` is one of the configured audiences (the Application ID URI and/or the
  client id: v1 tokens carry the first, v2 tokens the second);
- requested by the action groups' own application (``appid`` in v1, ``azp`` in v2 tokens;
  ``461e8683-5575-4561-ac7f-899cc907d62a``, the id Microsoft documents for Azure Monitor action
  groups);
- carrying the app role ``ActionGroupsSecureWebhook`` that the documented set-up assigns to that
  application;
- not expired and already valid (``exp``, ``nbf``, with a small clock skew allowance).

Keys come from the tenant's JWKS endpoint, cached; tests inject their own key source.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import msgspec
from msgspec import Struct

log = logging.getLogger("backup_responder.azure.auth")

#: The Microsoft Entra application that action groups use to request Secure Webhook tokens
#: (Azure Monitor documentation, "Secure webhook": ``$actionGroupsAppId``).
ACTION_GROUPS_APP_ID = "461e8683-5575-4561-ac7f-899cc907d62a"
#: The app role the documented Secure Webhook set-up creates and assigns to that application.
SECURE_WEBHOOK_ROLE = "ActionGroupsSecureWebhook"
#: Clock skew allowed on ``exp`` / ``nbf``, in seconds.
LEEWAY_SECONDS = 60
#: How long fetched signing keys are reused before the JWKS is read again.
JWKS_CACHE_SECONDS = 3600
#: Timeout of one JWKS request; a slow identity endpoint must not hold the alert for long.
JWKS_TIMEOUT_SECONDS = 5
_ALGORITHMS = ["RS256"]


class AuthError(Exception):
    """The request is not from our action group: answer 401, log the reason, process nothing."""


class KeysUnavailable(Exception):
    """The signing keys could not be fetched: a transient failure (answer 503 so the action group
    retries), never a reason to accept the token."""


class KeySource(Protocol):
    def signing_key(self, token: str) -> Any:
        """The public key that should have signed ``token`` (by its ``kid``)."""
        ...


class JwksKeySource:
    """Keys from a JWKS URL (the tenant's ``discovery/v2.0/keys``), cached by PyJWT."""

    def __init__(self, url: str) -> None:
        from jwt import PyJWKClient

        self._client = PyJWKClient(url, cache_keys=True, lifespan=JWKS_CACHE_SECONDS,
                                   timeout=JWKS_TIMEOUT_SECONDS)

    def signing_key(self, token: str) -> Any:
        from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError

        try:
            return self._client.get_signing_key_from_jwt(token).key
        except PyJWKClientConnectionError as exc:
            raise KeysUnavailable(str(exc)) from exc
        except PyJWKClientError as exc:  # no key with that kid, a malformed key set
            raise AuthError(f"signing key not found: {exc}") from exc


class SecureWebhookConfig(Struct, frozen=True):
    tenant_id: str
    audiences: tuple[str, ...]
    app_ids: tuple[str, ...] = (ACTION_GROUPS_APP_ID,)
    role: str = SECURE_WEBHOOK_ROLE
    jwks_url: str | None = None
    issuers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.tenant_id or not self.audiences:
            raise ValueError("Secure Webhook needs the tenant id and at least one audience")
        if not self.issuers:
            msgspec.structs.force_setattr(self, "issuers", (
                f"https://sts.windows.net/{self.tenant_id}/",
                f"https://login.microsoftonline.com/{self.tenant_id}/v2.0",
            ))

    @property
    def keys_url(self) -> str:
        return self.jwks_url or f"https://login.microsoftonline.com/{self.tenant_id}/discovery/v2.0/keys"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SecureWebhookConfig | None:
        """The configuration, or None when the Secure Webhook is not configured (function key only).

        ``RESPONDER_WEBHOOK_TENANT_ID`` and ``RESPONDER_WEBHOOK_AUDIENCE`` (comma-separated: the
        Application ID URI and/or the client id of the API's app registration) turn it on;
        ``RESPONDER_WEBHOOK_APP_IDS`` and ``RESPONDER_WEBHOOK_JWKS_URL`` override the defaults.
        Setting only one of the two required values is an error, never a silent "off".
        """
        env = os.environ if env is None else env
        tenant = (env.get("RESPONDER_WEBHOOK_TENANT_ID") or "").strip()
        audiences = _split(env.get("RESPONDER_WEBHOOK_AUDIENCE"))
        if not tenant and not audiences:
            return None
        if not tenant or not audiences:
            raise ValueError("set both RESPONDER_WEBHOOK_TENANT_ID and RESPONDER_WEBHOOK_AUDIENCE "
                             "to require the action group's Secure Webhook token")
        return cls(tenant_id=tenant, audiences=tuple(audiences),
                   app_ids=tuple(_split(env.get("RESPONDER_WEBHOOK_APP_IDS"))) or (ACTION_GROUPS_APP_ID,),
                   jwks_url=(env.get("RESPONDER_WEBHOOK_JWKS_URL") or "").strip() or None)


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _bearer(header: str | None) -> str:
    if not header:
        raise AuthError("no Authorization header")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization header is not a Bearer token")
    return token.strip()


class SecureWebhookValidator:
    """Checks the Secure Webhook token of one request (see the module docstring)."""

    def __init__(self, config: SecureWebhookConfig, keys: KeySource | None = None) -> None:
        self.config = config
        self._keys = keys or JwksKeySource(config.keys_url)

    def validate(self, authorization: str | None) -> dict[str, Any]:
        """The token's claims; ``AuthError`` when it must be rejected, ``KeysUnavailable`` when
        the keys could not be fetched."""
        import jwt  # with its crypto: only an app that checks Secure Webhook tokens loads it

        token = _bearer(authorization)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"malformed token: {exc}") from exc
        if header.get("alg") not in _ALGORITHMS:
            raise AuthError(f"token algorithm {header.get('alg')!r} is not allowed")
        key = self._keys.signing_key(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=_ALGORITHMS, audience=list(self.config.audiences),
                issuer=list(self.config.issuers), leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"invalid token: {type(exc).__name__}: {exc}") from exc
        if claims.get("tid") not in (None, self.config.tenant_id):
            raise AuthError("token is for another tenant")
        caller = claims.get("appid") or claims.get("azp")
        if caller not in self.config.app_ids:
            raise AuthError(f"token was requested by application {caller!r}, not the action groups' application")
        roles = claims.get("roles") or []
        if not isinstance(roles, Sequence) or isinstance(roles, str) or self.config.role not in roles:
            raise AuthError(f"token lacks the app role {self.config.role}")
        return claims
