"""Fixtures for the Azure Function's tests: a Table store on Azurite (the real Table storage
emulator, started once per session by tests/support/azurite.py), an ARM stand-in over HTTPS, a
tenant's JWKS, a Teams-like webhook, and the function as the Functions host would call it.
Network traffic goes to 127.0.0.1 only."""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func
import jwt
import pytest
from azure.core.pipeline.transport import RequestsTransport
from cryptography.hazmat.primitives.asymmetric import rsa

from functions.azure.enrich import ArmClient, AzureBackupEnricher
from functions.azure.state import TableStore
from tests.azure.servers import ArmServer, FakeCredential, WebhookServer, server_tls
from tests.support.azurite import Azurite
from tests.support.http_server import FakeHttpServer, Reply

REPO = Path(__file__).resolve().parents[2]
TENANT = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
AUDIENCE_URI = "api://backup-responder"
AUDIENCE_CLIENT_ID = "9f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b"
ACTION_GROUPS_APP_ID = "461e8683-5575-4561-ac7f-899cc907d62a"


@pytest.fixture
def table_store(azurite: Azurite) -> TableStore:
    """A TableStore on a fresh table of its own."""
    return TableStore(azurite.table())


# ------------------------------------------------------------------------------------- ARM
@pytest.fixture
def arm(tls_files: tuple[Path, Path]) -> Iterator[ArmServer]:
    server = ArmServer(server_tls(*tls_files))
    yield server
    server.close()


@pytest.fixture
def arm_client(arm: ArmServer, tls_files: tuple[Path, Path]) -> ArmClient:
    """An ArmClient on the ARM stand-in, through azure-core's own requests transport (TLS verified
    against the test's certificate)."""
    return ArmClient(FakeCredential("test-arm-token"), endpoint=arm.url,
                     transport=RequestsTransport(connection_verify=str(tls_files[0])))


@pytest.fixture
def enricher(arm_client: ArmClient) -> AzureBackupEnricher:
    return AzureBackupEnricher(arm_client)


# ------------------------------------------------------------------------------------- webhook
@pytest.fixture
def teams() -> Iterator[WebhookServer]:
    server = WebhookServer()
    yield server
    server.close()


# ------------------------------------------------------------------------------------- tokens
@dataclass
class Tenant:
    """A tenant's signing key, its JWKS URL on 127.0.0.1, and a way to mint tokens."""

    key: rsa.RSAPrivateKey
    kid: str
    jwks_url: str

    def token(self, version: int = 1, key: rsa.RSAPrivateKey | None = None, kid: str | None = None,
              headers: dict[str, Any] | None = None, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": AUDIENCE_URI if version == 1 else AUDIENCE_CLIENT_ID,
            "iss": (f"https://sts.windows.net/{TENANT}/" if version == 1
                    else f"https://login.microsoftonline.com/{TENANT}/v2.0"),
            "iat": now, "nbf": now, "exp": now + 3600,
            "tid": TENANT,
            "roles": ["ActionGroupsSecureWebhook"],
            "oid": "c0ffee00-1111-2222-3333-444455556666",
            ("appid" if version == 1 else "azp"): ACTION_GROUPS_APP_ID,
            "ver": "1.0" if version == 1 else "2.0",
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, key or self.key, algorithm="RS256",
                          headers={"kid": kid or self.kid, **(headers or {})})


@pytest.fixture(scope="session")
def tenant() -> Iterator[Tenant]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="test-key-1", use="sig", alg="RS256")
    body = json.dumps({"keys": [jwk]}).encode()
    with FakeHttpServer(lambda _: Reply(200, {"Content-Type": "application/json"}, body)) as server:
        yield Tenant(key, "test-key-1", server.url + f"/{TENANT}/discovery/v2.0/keys")


# ------------------------------------------------------------------------------------- the function
@functools.cache
def app_functions() -> tuple[Any, ...]:
    """``function_app.app.get_functions()``, indexed once as the host does (indexing twice fails)."""
    import function_app

    return tuple(function_app.app.get_functions())


def backup_alert_function() -> Callable[[func.HttpRequest], func.HttpResponse]:
    """The HTTP function as the Functions host finds it: from ``function_app.app``."""
    for function in app_functions():
        if function.get_function_name() == "backup_alert":
            user: Callable[[func.HttpRequest], func.HttpResponse] = function.get_user_function()
            return user
    raise AssertionError("function_app.app has no backup_alert function")


def http_request(body: Any, headers: dict[str, str] | None = None) -> func.HttpRequest:
    """A POST as the host hands it to the function (the function key is checked by the host)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return func.HttpRequest("POST", "https://responder.azurewebsites.net/api/backup-alert",
                            headers={"Content-Type": "application/json", **(headers or {})},
                            params={}, route_params={}, body=data)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("RESPONDER_", "AZURE_")) or name == "AzureWebJobsStorage":
            monkeypatch.delenv(name, raising=False)
