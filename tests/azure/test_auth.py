"""Secure Webhook token validation with an RSA key made here and a JWKS served from 127.0.0.1."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from functions.azure.auth import (
    ACTION_GROUPS_APP_ID,
    AuthError,
    JwksKeySource,
    KeysUnavailable,
    SecureWebhookConfig,
    SecureWebhookValidator,
)
from tests.azure.conftest import AUDIENCE_CLIENT_ID, AUDIENCE_URI, TENANT, Tenant
from tests.support.http_server import FakeHttpServer, Reply


@pytest.fixture
def validator(tenant: Tenant) -> SecureWebhookValidator:
    config = SecureWebhookConfig(TENANT, (AUDIENCE_URI, AUDIENCE_CLIENT_ID), jwks_url=tenant.jwks_url)
    return SecureWebhookValidator(config)


@pytest.mark.parametrize("version", [1, 2])
def test_accepts_the_action_groups_token(validator: SecureWebhookValidator, tenant: Tenant, version: int) -> None:
    claims = validator.validate(f"Bearer {tenant.token(version)}")
    assert ACTION_GROUPS_APP_ID in (claims.get("appid"), claims.get("azp"))
    assert "ActionGroupsSecureWebhook" in claims["roles"]


def test_scheme_is_case_insensitive(validator: SecureWebhookValidator, tenant: Tenant) -> None:
    validator.validate(f"bearer {tenant.token()}")


OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(("why", "make"), [
    ("no header", lambda t: None),
    ("empty", lambda t: ""),
    ("basic auth", lambda t: "Basic dXNlcjpwYXNz"),
    ("bearer without token", lambda t: "Bearer "),
    ("not a JWT", lambda t: "Bearer not-a-token"),
    ("another tenant's issuer", lambda t: "Bearer " + t.token(iss="https://sts.windows.net/0000-other/")),
    ("v2 issuer of another tenant",
     lambda t: "Bearer " + t.token(2, iss="https://login.microsoftonline.com/0000-other/v2.0")),
    ("tid of another tenant", lambda t: "Bearer " + t.token(tid="0000-other")),
    ("another audience", lambda t: "Bearer " + t.token(aud="https://management.azure.com/")),
    ("another caller application", lambda t: "Bearer " + t.token(appid="11111111-2222-3333-4444-555555555555")),
    ("v2 token from another application", lambda t: "Bearer " + t.token(2, azp="11111111-2222-3333-4444-555555555555")),
    ("no caller application", lambda t: "Bearer " + t.token(appid=None)),
    ("without the role", lambda t: "Bearer " + t.token(roles=["SomethingElse"])),
    ("no roles", lambda t: "Bearer " + t.token(roles=None)),
    ("role as a string", lambda t: "Bearer " + t.token(roles="ActionGroupsSecureWebhook")),
    ("expired", lambda t: "Bearer " + t.token(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200,
                                              nbf=int(time.time()) - 7200)),
    ("not yet valid", lambda t: "Bearer " + t.token(nbf=int(time.time()) + 3600)),
    ("no expiry", lambda t: "Bearer " + t.token(exp=None)),
    ("signed by another key with our kid", lambda t: "Bearer " + t.token(key=OTHER_KEY)),
    ("unknown kid", lambda t: "Bearer " + t.token(key=OTHER_KEY, kid="someone-elses-key")),
    ("alg none", lambda t: "Bearer " + jwt.encode({"aud": AUDIENCE_URI}, None, algorithm="none")),  # type: ignore[arg-type]
    ("HS256 with a guessable secret", lambda t: "Bearer " + jwt.encode(
        {"aud": AUDIENCE_URI, "iss": f"https://sts.windows.net/{TENANT}/", "exp": int(time.time()) + 60,
         "appid": ACTION_GROUPS_APP_ID, "roles": ["ActionGroupsSecureWebhook"]},
        "x" * 32, algorithm="HS256", headers={"kid": "test-key-1"})),
])
def test_rejects(validator: SecureWebhookValidator, tenant: Tenant, why: str, make: object) -> None:
    header = make(tenant)  # type: ignore[operator]
    with pytest.raises(AuthError):
        validator.validate(header)


def test_keys_that_cannot_be_fetched_are_transient_not_a_pass() -> None:
    config = SecureWebhookConfig(TENANT, (AUDIENCE_URI,), jwks_url="http://127.0.0.1:9/keys")
    validator = SecureWebhookValidator(config)
    token = jwt.encode({"aud": AUDIENCE_URI}, rsa.generate_private_key(public_exponent=65537, key_size=2048),
                       algorithm="RS256", headers={"kid": "k"})
    with pytest.raises(KeysUnavailable):
        validator.validate(f"Bearer {token}")


def test_keys_are_fetched_once_and_reused(tenant: Tenant) -> None:
    body = JwksKeySource(tenant.jwks_url)._client.fetch_data()  # the real key set, served again below

    with FakeHttpServer(lambda _: Reply.json(200, body)) as server:
        validator = SecureWebhookValidator(SecureWebhookConfig(TENANT, (AUDIENCE_URI,), jwks_url=server.url + "/keys"))
        for _ in range(3):
            validator.validate(f"Bearer {tenant.token()}")
    assert [r.path for r in server.requests] == ["/keys"]


def test_config_from_env() -> None:
    assert SecureWebhookConfig.from_env({}) is None
    config = SecureWebhookConfig.from_env({"RESPONDER_WEBHOOK_TENANT_ID": TENANT,
                                           "RESPONDER_WEBHOOK_AUDIENCE": f"{AUDIENCE_URI}, {AUDIENCE_CLIENT_ID}"})
    assert config is not None
    assert config.audiences == (AUDIENCE_URI, AUDIENCE_CLIENT_ID)
    assert config.app_ids == (ACTION_GROUPS_APP_ID,)
    assert config.keys_url == f"https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys"
    assert f"https://sts.windows.net/{TENANT}/" in config.issuers
    assert f"https://login.microsoftonline.com/{TENANT}/v2.0" in config.issuers


@pytest.mark.parametrize("env", [{"RESPONDER_WEBHOOK_TENANT_ID": TENANT},
                                 {"RESPONDER_WEBHOOK_AUDIENCE": AUDIENCE_URI}])
def test_half_a_config_is_an_error_not_off(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="both"):
        SecureWebhookConfig.from_env(env)
