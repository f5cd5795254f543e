"""Local stand-ins for the services the Azure Function talks to, all on 127.0.0.1:

- ``serve``: an HTTP(S) server on a free port that records every request (``Seen``), with
  ``make_certificate`` / ``server_tls`` for HTTPS and ``FakeCredential`` for the bearer token;
- ``ArmServer``: answers like Azure Resource Manager (HTTPS, with a certificate made for the test)
  from recorded responses under ``tests/azure/arm/``, and hands the paths of a stateful API (the
  role assignments of ``tests/remediation/arm.py``) to that API;
- ``WebhookServer``: a Teams-like Workflows webhook that records what it receives.

The tenant's signing keys (JWKS) for the tokens the tests mint are served with ``serve`` too.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlparse

from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ARM_RECORDINGS = Path(__file__).parent / "arm"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def serve(handle: Callable[[BaseHTTPRequestHandler, Seen], tuple[int, dict[str, str], bytes]],
          tls: ssl.SSLContext | None = None) -> Iterator[tuple[str, list[Seen]]]:
    """Run an HTTP(S) server on a free 127.0.0.1 port; yields its base URL and the requests seen."""
    seen: list[Seen] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = urlparse(self.path)
            request = Seen(self.command, unquote(url.path), parse_qs(url.query),
                           {k.lower(): v for k, v in self.headers.items()}, body)
            seen.append(request)
            status, headers, payload = handle(self, request)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


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

    def respond(self, request: Seen) -> tuple[int, dict[str, str], bytes]: ...


@dataclass
class ArmServer:
    """Routes: lower-cased ARM path (plus ``?$filter=...`` for resource lists) -> (status, body);
    the paths an entry of ``apis`` serves go to that API instead."""

    url: str
    seen: list[Seen]
    routes: dict[str, tuple[int, Any]] = field(default_factory=dict)
    delay_seconds: float = 0.0
    apis: list[ArmApi] = field(default_factory=list)

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

    def gets(self) -> list[str]:
        return [s.path.lower() for s in self.seen if s.method == "GET"]

    def handle(self, _: BaseHTTPRequestHandler, request: Seen) -> tuple[int, dict[str, str], bytes]:
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        for api in self.apis:
            if api.serves(request.path):
                return api.respond(request)
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "x-ms-request-id": "00000000-0000-0000-0000-000000000000"}
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return 401, headers, json.dumps({"error": {"code": "AuthenticationFailed"}}).encode()
        if not request.query.get("api-version"):
            return 400, headers, json.dumps({"error": {"code": "MissingApiVersionParameter"}}).encode()
        key = request.path.lower()
        if "$filter" in request.query:
            key += "?$filter=" + request.query["$filter"][0].lower()
        status, body = self.routes.get(key, (404, {"error": {"code": "ResourceNotFound",
                                                             "message": f"{request.path} was not found."}}))
        return status, headers, json.dumps(body).encode()


# ---------------------------------------------------------------------------------------- webhook
@dataclass
class WebhookServer:
    """A Teams-like webhook: 202 for each POST (as Workflows answers), or the statuses queued."""

    url: str
    seen: list[Seen]
    statuses: list[int] = field(default_factory=list)
    accepted: list[Any] = field(default_factory=list)

    def handle(self, _: BaseHTTPRequestHandler, request: Seen) -> tuple[int, dict[str, str], bytes]:
        status = self.statuses.pop(0) if self.statuses else 202
        if status < 400:
            self.accepted.append(request.json())
        return status, {"Content-Type": "text/plain"}, b"" if status < 400 else b"unavailable"
