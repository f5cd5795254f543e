"""Fixtures for the Azure Function's tests: Azurite (the real Table storage emulator, started
here), an ARM stand-in over HTTPS, a tenant's JWKS, a Teams-like webhook, and the function as the
Functions host would call it. Network traffic goes to 127.0.0.1 only."""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func
import jwt
import pytest
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableClient
from cryptography.hazmat.primitives.asymmetric import rsa

from functions.azure.enrich import ArmClient, AzureBackupEnricher
from functions.azure.state import TableStore
from tests.azure.servers import ArmServer, FakeCredential, WebhookServer, server_tls
from tests.support.http_server import FakeHttpServer, Reply

REPO = Path(__file__).resolve().parents[2]
AZURITE_TABLE = REPO / "node_modules" / ".bin" / "azurite-table"
#: Azurite's documented development account and key (public, the same for every Azurite install).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE_START_SECONDS = 30

TENANT = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
AUDIENCE_URI = "api://backup-responder"
AUDIENCE_CLIENT_ID = "9f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b"
ACTION_GROUPS_APP_ID = "461e8683-5575-4561-ac7f-899cc907d62a"


# ------------------------------------------------------------------------------------- Azurite
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _azurite_binary() -> Path:
    """node_modules/.bin/azurite-table, installed from package-lock.json when missing."""
    if AZURITE_TABLE.exists():
        return AZURITE_TABLE
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("Azurite needs Node.js and npm (npm ci installs it from package-lock.json)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=REPO, check=True, timeout=600,
                   stdout=subprocess.DEVNULL)
    return AZURITE_TABLE


@dataclass
class Azurite:
    port: int

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
                f"TableEndpoint=http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT};")

    def table(self, name: str | None = None) -> TableClient:
        return TableClient.from_connection_string(self.connection_string, name or f"t{uuid.uuid4().hex[:16]}")


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    binary = _azurite_binary()
    workspace = tmp_path_factory.mktemp("azurite")
    port = _free_port()
    log = (workspace / "azurite.log").open("wb")
    process = subprocess.Popen(
        [str(binary), "--tableHost", "127.0.0.1", "--tablePort", str(port), "--location", str(workspace),
         "--disableTelemetry", "--skipApiVersionCheck", "--loose", "--silent"],
        cwd=workspace, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + AZURITE_START_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"Azurite exited with {process.returncode}: "
                                   + (workspace / "azurite.log").read_text(errors="replace")[-2000:])
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("Azurite did not start listening in time") from None
                time.sleep(0.1)
        yield Azurite(port)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


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
