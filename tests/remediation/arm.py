"""A local server that answers like Azure Resource Manager's role assignments API
(Microsoft.Authorization 2022-04-01), over HTTPS on 127.0.0.1 with a certificate made for the test.

The response bodies follow the API's documented examples (azure-rest-api-specs,
``Microsoft.Authorization/stable/2022-04-01/examples/RoleAssignments_CreateForResource.json`` and
``RoleAssignments_ListForScope.json``) and ARM's documented errors: 409 ``RoleAssignmentExists``
for the same principal, role and scope under another name, 400 ``PrincipalNotFound`` for an
identity ARM cannot see yet, 401 without a bearer token, 400 without ``api-version``.

The HTTPS server is the one fake HTTP server of tests/support; the certificate and the credential
are those of ``tests/azure/servers.py``;
``RoleAssignmentsApi`` also plugs into its ``ArmServer`` (``arm.apis.append(api)``), next to the
recorded responses the enrichment reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.azure.servers import FakeCredential, server_tls
from tests.support.http_server import FakeHttpServer, Reply, Request

__all__ = ["API_VERSION", "FakeCredential", "RoleAssignmentsApi", "arm_server"]

API_VERSION = "2022-04-01"
_ASSIGNMENT = re.compile(r"^(?P<scope>/.+?)/providers/Microsoft\.Authorization/roleAssignments(?:/(?P<name>[^/]+))?$",
                         re.I)
_FILTER = re.compile(r"principalId eq '([^']+)'", re.I)


def _covers(outer: str, inner: str) -> bool:
    a, b = outer.rstrip("/").lower(), inner.rstrip("/").lower()
    return b == a or b.startswith(a + "/")


@dataclass
class RoleAssignmentsApi:
    """The state and behaviour of the fake API."""

    assignments: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Resources ARM knows (lower-cased id -> body), answered to a GET on their id with any api-version.
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
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

    def resource(self, resource_id: str, **body: Any) -> None:
        """A resource ARM answers for (``id`` and ``name`` as ARM spells them, plus ``body``)."""
        self.resources[resource_id.lower()] = {"id": resource_id, "name": resource_id.rsplit("/", 1)[-1], **body}

    def vault(self, vault_id: str, principal_id: str) -> None:
        """A Backup vault with its system-assigned identity (BackupVaults_Get, GetBackupVaultWithMSI.json)."""
        self.resource(vault_id, type="Microsoft.DataProtection/backupVaults",
                      identity={"type": "SystemAssigned", "principalId": principal_id})

    def gets(self) -> list[str]:
        return [path for method, path in self.requests if method == "GET"]

    def puts(self) -> list[str]:
        return [path for method, path in self.requests if method == "PUT"]

    def deletes(self) -> list[str]:
        return [path for method, path in self.requests if method == "DELETE"]

    # ------------------------------------------------------------------ HTTP
    @staticmethod
    def serves(path: str) -> bool:
        """True for the role assignment paths (``{scope}/providers/Microsoft.Authorization/roleAssignments``)."""
        return _ASSIGNMENT.match(path) is not None

    def serves_resource(self, path: str) -> bool:
        return path.lower() in self.resources

    def respond(self, request: Request) -> Reply:
        status, payload = self.handle(request.method, request.path, request.query, request.headers, request.body)
        return Reply(status, {"Content-Type": "application/json; charset=utf-8",
                        "x-ms-request-id": "00000000-0000-0000-0000-000000000000"}, json.dumps(payload).encode())

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: bytes) -> tuple[int, Any]:
        self.requests.append((method, path))
        if not headers.get("authorization", "").startswith("Bearer "):
            return 401, {"error": {"code": "AuthenticationFailed", "message": "Authentication failed."}}
        if method == "GET" and not _ASSIGNMENT.match(path):
            if not query.get("api-version"):
                return 400, {"error": {"code": "MissingApiVersionParameter", "message": "api-version is required."}}
            if path.lower() in self.resources:
                return 200, self.resources[path.lower()]
            return 404, {"error": {"code": "ResourceNotFound", "message": f"{path} was not found."}}
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


@contextmanager
def arm_server(api: RoleAssignmentsApi, tls_files: tuple[Path, Path]) -> Iterator[tuple[str, Path]]:
    """Serve ``api`` over HTTPS on a free 127.0.0.1 port with the session's certificate
    (``tls_files``); yields the base URL and the CA bundle."""
    with FakeHttpServer(api.respond, tls=server_tls(*tls_files)) as server:
        yield server.url, tls_files[0]
