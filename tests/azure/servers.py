"""Local stand-ins for the services the Azure Function talks to, all on 127.0.0.1 and on the one
fake HTTP server of tests/support (``FakeHttpServer``, which records every ``Request``):

- ``make_certificate`` / ``server_tls`` for HTTPS, and ``FakeCredential`` for the bearer token;
- ``ArmServer``: answers like Azure Resource Manager (HTTPS, with a certificate made for the test)
  from recorded responses under ``tests/azure/arm/``, and hands the paths of a stateful API (the
  role assignments of ``tests/remediation/arm.py``) to that API;
- ``ResourceGraph``: an ``ArmServer`` API answering Resource Graph queries with the recorded pages of
  ``tests/events/report/resource-graph-page-*.json``;
- ``WebhookServer``: a Teams-like Workflows webhook that records what it receives.

The tenant's signing keys (JWKS) for the tokens the tests mint are served by a ``FakeHttpServer`` too.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import time
from pathlib import Path
from typing import Any, Protocol

from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.support.clock import FakeClock
from tests.support.http_server import FakeHttpServer, Reply, Request

ARM_RECORDINGS = Path(__file__).parent / "arm"


# ---------------------------------------------------------------------------------------- TLS
def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert.pem doubles as the CA bundle to trust)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


# ---------------------------------------------------------------------------------------- ARM
class FakeCredential:
    """A ``TokenCredential`` that hands out a fixed token (the servers check that one is sent)."""

    def __init__(self, token: str = "test-token") -> None:
        self.token = token
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        return AccessToken(self.token, int(time.time()) + 3600)


class ArmApi(Protocol):
    """A stateful part of Resource Manager that ``ArmServer`` hands its own paths to."""

    def serves(self, path: str) -> bool: ...

    def respond(self, request: Request) -> Reply: ...


class ArmServer:
    """Routes: lower-cased ARM path (plus ``?$filter=...`` for resource lists) -> (status, body);
    the paths an entry of ``apis`` serves go to that API instead. ``close()`` when done."""

    def __init__(self, tls: ssl.SSLContext) -> None:
        self.routes: dict[str, tuple[int, Any]] = {}
        self.apis: list[ArmApi] = []
        self._slow: tuple[FakeClock, float] | None = None
        self.server = FakeHttpServer(self.handle, tls=tls)
        self.url = self.server.url
        self.seen: list[Request] = self.server.requests

    def close(self) -> None:
        self.server.close()

    def add(self, path: str, body: Any, status: int = 200) -> None:
        self.routes[path.lower()] = (status, body)

    def load(self, *names: str) -> None:
        """Add recorded responses from ``tests/azure/arm/<name>.json``."""
        for name in names:
            recording = json.loads((ARM_RECORDINGS / f"{name}.json").read_text(encoding="utf-8"))
            key = recording["request"]["path"]
            if recording["request"].get("filter"):
                key += "?$filter=" + recording["request"]["filter"]
            self.add(key, recording["response"]["body"], recording["response"].get("status", 200))

    def slow_down(self, clock: FakeClock, seconds: float) -> None:
        """Every answer takes ``seconds`` on ``clock`` (a slow Resource Manager, without sleeping)."""
        self._slow = (clock, seconds)

    def gets(self) -> list[str]:
        return [s.path.lower() for s in self.seen if s.method == "GET"]

    def handle(self, request: Request) -> Reply:
        if self._slow is not None:
            clock, seconds = self._slow
            clock.advance(seconds)
        for api in self.apis:
            if api.serves(request.path):
                return api.respond(request)
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "x-ms-request-id": "00000000-0000-0000-0000-000000000000"}
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return Reply(401, headers, json.dumps({"error": {"code": "AuthenticationFailed"}}).encode())
        if not request.query.get("api-version"):
            return Reply(400, headers, json.dumps({"error": {"code": "MissingApiVersionParameter"}}).encode())
        key = request.path.lower()
        if "$filter" in request.query:
            key += "?$filter=" + request.query["$filter"][0].lower()
        status, body = self.routes.get(key, (404, {"error": {"code": "ResourceNotFound",
                                                             "message": f"{request.path} was not found."}}))
        return Reply(status, headers, json.dumps(body).encode())


# ---------------------------------------------------------------------------------------- Resource Graph
class ResourceGraph:
    """``POST /providers/Microsoft.ResourceGraph/resources``: the recorded pages in turn, the next
    one only for the skip token the previous one gave, to a caller with ``token``; ``status``
    answers every query with that error instead while it is set."""

    path = "/providers/microsoft.resourcegraph/resources"

    def __init__(self, token: str) -> None:
        from tests.conftest import load_event

        self.token = token
        self.pages = [load_event(f"report/resource-graph-page-{n}.json") for n in (1, 2)]
        self.queries: list[dict[str, Any]] = []
        self.status: int | None = None

    def serves(self, path: str) -> bool:
        return path.lower() == self.path

    def respond(self, request: Request) -> Reply:
        assert request.method == "POST" and request.query["api-version"] == ["2022-10-01"]
        assert request.headers["authorization"] == f"Bearer {self.token}"
        body = request.json()
        self.queries.append(body)
        if self.status is not None:
            return Reply.json(self.status, {"error": {"code": "RateLimiting", "message": "too many requests"}})
        token = body["options"].get("$skipToken")
        assert token in (None, self.pages[0]["$skipToken"])
        return Reply.json(200, self.pages[0] if token is None else self.pages[1])


# ---------------------------------------------------------------------------------------- webhook
class WebhookServer:
    """A Teams-like webhook: 202 for each POST (as Workflows answers), or the statuses queued."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.accepted: list[Any] = []
        self.server = FakeHttpServer(self.handle)
        self.url = self.server.url + "/workflows/teams-webhook"
        self.seen: list[Request] = self.server.requests

    def close(self) -> None:
        self.server.close()

    def handle(self, request: Request) -> Reply:
        status = self.statuses.pop(0) if self.statuses else 202
        if status < 400:
            self.accepted.append(request.json())
        return Reply(status, {"Content-Type": "text/plain"}, b"" if status < 400 else b"unavailable")
