"""A local server that answers like Azure Resource Manager's role assignments API
(Microsoft.Authorization 2022-04-01), over HTTPS on 127.0.0.1 with a certificate made for the test.

The response bodies follow the API's documented examples (azure-rest-api-specs,
``Microsoft.Authorization/stable/2022-04-01/examples/RoleAssignments_CreateForResource.json`` and
``RoleAssignments_ListForScope.json``) and ARM's documented errors: 409 ``RoleAssignmentExists``
for the same principal, role and scope under another name, 400 ``PrincipalNotFound`` for an
identity ARM cannot see yet, 401 without a bearer token, 400 without ``api-version``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

API_VERSION = "2022-04-01"
_ASSIGNMENT = re.compile(r"^(?P<scope>/.+?)/providers/Microsoft\.Authorization/roleAssignments(?:/(?P<name>[^/]+))?$",
                         re.I)
_FILTER = re.compile(r"principalId eq '([^']+)'", re.I)


class FakeCredential:
    """A ``TokenCredential`` that hands out a fixed token (the server only checks that one is sent)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("test-token", int(time.time()) + 3600)


def make_certificate(folder: Path) -> tuple[Path, Path]:
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


def _covers(outer: str, inner: str) -> bool:
    a, b = outer.rstrip("/").lower(), inner.rstrip("/").lower()
    return b == a or b.startswith(a + "/")


@dataclass
class RoleAssignmentsApi:
    """The state and behaviour of the fake API."""

    assignments: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Principals ARM does not know yet (answers 400 PrincipalNotFound).
    unknown_principals: set[str] = field(default_factory=set)
    requests: list[tuple[str, str]] = field(default_factory=list)

    def existing(self, scope: str, role_definition_id: str, principal_id: str, name: str,
                 principal_type: str = "ServicePrincipal") -> None:
        """An assignment made earlier (by a person, Bicep...)."""
        self.assignments[name] = self._body(scope, name, role_definition_id, principal_id, principal_type)

    @staticmethod
    def _body(scope: str, name: str, role_definition_id: str, principal_id: str, principal_type: str) -> dict[str, Any]:
        guid = role_definition_id.rstrip("/").rsplit("/", 1)[-1]
        return {"properties": {"roleDefinitionId": f"/providers/Microsoft.Authorization/roleDefinitions/{guid}",
                               "principalId": principal_id, "principalType": principal_type, "scope": scope},
                "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
                "type": "Microsoft.Authorization/roleAssignments", "name": name}

    def puts(self) -> list[str]:
        return [path for method, path in self.requests if method == "PUT"]

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: bytes) -> tuple[int, Any]:
        self.requests.append((method, path))
        if not headers.get("authorization", "").startswith("Bearer "):
            return 401, {"error": {"code": "AuthenticationFailed", "message": "Authentication failed."}}
        if query.get("api-version") != [API_VERSION]:
            return 400, {"error": {"code": "MissingApiVersionParameter", "message": "api-version is required."}}
        match = _ASSIGNMENT.match(path)
        if not match:
            return 404, {"error": {"code": "ResourceNotFound", "message": f"{path} was not found."}}
        scope, name = match.group("scope"), match.group("name")
        if method == "GET" and name is None:
            wanted = _FILTER.search(query.get("$filter", [""])[0])
            principal = wanted.group(1).lower() if wanted else None
            value = [a for a in self.assignments.values()
                     if (principal is None or a["properties"]["principalId"].lower() == principal)
                     and (_covers(a["properties"]["scope"], scope) or _covers(scope, a["properties"]["scope"]))]
            return 200, {"value": value}
        if method == "PUT" and name:
            properties = json.loads(body)["properties"]
            principal, role = properties["principalId"], properties["roleDefinitionId"]
            if principal.lower() in self.unknown_principals:
                return 400, {"error": {"code": "PrincipalNotFound",
                                       "message": f"Principal {principal} does not exist in the directory."}}
            guid = role.rstrip("/").rsplit("/", 1)[-1].lower()
            for other_name, other in self.assignments.items():
                p = other["properties"]
                if (p["scope"].lower() == scope.lower() and p["principalId"].lower() == principal.lower()
                        and p["roleDefinitionId"].rsplit("/", 1)[-1].lower() == guid):
                    if other_name == name:
                        return 200, other
                    return 409, {"error": {"code": "RoleAssignmentExists",
                                           "message": "The role assignment already exists."}}
            self.assignments[name] = self._body(scope, name, role, principal, properties.get("principalType", ""))
            return 201, self.assignments[name]
        return 405, {"error": {"code": "MethodNotAllowed", "message": method}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def arm_server(api: RoleAssignmentsApi, folder: Path) -> Iterator[tuple[str, Path]]:
    """Serve ``api`` over HTTPS on a free 127.0.0.1 port; yields the base URL and the CA bundle."""
    cert, key = make_certificate(folder)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = urlparse(self.path)
            status, payload = api.handle(self.command, unquote(url.path), parse_qs(url.query),
                                         {k.lower(): v for k, v in self.headers.items()}, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("x-ms-request-id", "00000000-0000-0000-0000-000000000000")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
