"""Azure fixes (``shared.remediation.changes.Remediator``): the missing role assignment for the
Backup vault's managed identity, with azure-mgmt-authorization.

The plan's ``role_assignments`` (from the catalog rule's ``roles``, filled with the failure's
names) say which built-in role, on which scope, for which principal: Reader on the PostgreSQL
server, Key Vault Secrets User on the key vault, Storage Blob Data Contributor on the container,
the disk roles on the disk and the snapshot resource group, Storage Account Backup Contributor on
the storage account. Each is created with the built-in role definition id, ``principal_type``
``ServicePrincipal`` and the narrowest scope the catalog names; an assignment that already
exists (409 ``RoleAssignmentExists``) counts as success. The name of a new assignment is a UUID
derived from (scope, role, principal), so retrying the same fix is idempotent.

Nothing is written on the alert's word alone: every scope is parsed and rebuilt canonically
(``shared.remediation.scope``: no ``.``/``..`` or empty segments, no percent-encoding), must be in
the Backup vault's subscription or one the allow-list entry names, and is read from Resource
Manager (GET on its id, which must answer for that id); the vault is read too, and the principal
given the role must be its identity.

Fixes that need a person (network settings, SQL grants, the Entra admin) have ``auto_fix: none``
in the catalog and are also refused by ``shared.remediation.guardrails``: this adapter never sees them.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Mapping
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters

from shared.models import Failure, Outcome, RoleAssignment
from shared.remediation.changes import AlreadyInPlace, Applied, Change, RemediationRefused
from shared.remediation.config import SUBSCRIPTIONS_FACT, listed
from shared.remediation.engine import RemediationEngine, engine_from_settings
from shared.remediation.scope import ArmScope, ScopeError, parse_scope
from shared.settings import Settings
from shared.state import StateStore

log = logging.getLogger("backup_responder.remediation.azure")

#: The Microsoft.Authorization API version of role assignments (stable, azure-mgmt-authorization 4.x default).
API_ROLE_ASSIGNMENTS = "2022-04-01"
#: ARM's error code for a role assignment that exists already (same principal, role and scope).
ROLE_ASSIGNMENT_EXISTS = "RoleAssignmentExists"
#: A new managed identity can take a few minutes to be visible to ARM.
PRINCIPAL_NOT_FOUND = "PrincipalNotFound"
#: Names of role assignments created here derive from this namespace (idempotent retries).
ASSIGNMENT_NAMESPACE = uuid.UUID("0c7f4b7e-6a53-4f0e-9d3c-7b1a2f9e8d41")
_SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)", re.I)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

#: The api-version of each resource type a catalog role is assigned on: the scope is read from
#: Resource Manager (GET on its id) before any role assignment is written. A type not listed here
#: is not one the responder assigns roles on.
RESOURCE_API_VERSIONS = {
    "resourcegroups": "2021-04-01",                                           # Microsoft.Resources
    "microsoft.dbforpostgresql/servers": "2017-12-01",
    "microsoft.dbforpostgresql/flexibleservers": "2022-12-01",
    "microsoft.dbformysql/flexibleservers": "2023-12-30",
    "microsoft.keyvault/vaults": "2023-07-01",
    "microsoft.storage/storageaccounts": "2023-05-01",
    "microsoft.storage/storageaccounts/blobservices/containers": "2023-05-01",
    "microsoft.compute/disks": "2024-03-02",
    "microsoft.containerservice/managedclusters": "2024-05-01",
}
#: The vault kinds whose identity is given roles, and their api-version (as the enrichment reads them).
VAULT_API_VERSIONS = {
    "microsoft.dataprotection/backupvaults": "2024-04-01",
    "microsoft.recoveryservices/vaults": "2024-04-01",
}

ARM_ENDPOINT = "https://management.azure.com"
#: The app setting that points the responder at another cloud's Resource Manager (as the enrichment).
ENV_ARM_ENDPOINT = "RESPONDER_ARM_ENDPOINT"


def _guid(role_definition_id: str) -> str:
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


def _covers(existing_scope: str, scope: str) -> bool:
    """True when an assignment at ``existing_scope`` applies at ``scope`` (the same or a parent)."""
    a, b = existing_scope.rstrip("/").lower(), scope.rstrip("/").lower()
    return b == a or b.startswith(a + "/")


def _scope(text: str, what: str = "scope") -> ArmScope:
    try:
        return parse_scope(text)
    except ScopeError as exc:
        raise RemediationRefused(f"the {what} {text[:300]!r} is refused: {exc}") from exc


def error_code(exc: HttpResponseError) -> str:
    """ARM's error code of an SDK error (``RoleAssignmentExists``), or the HTTP status."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    if code:
        return str(code)
    try:
        body: Any = exc.response.json() if exc.response is not None else {}  # type: ignore[attr-defined]
        code = (body.get("error") or {}).get("code")
    except (ValueError, AttributeError):
        code = None
    return str(code or f"HTTP {exc.status_code}")


def assignment_name(scope: str, role_guid: str, principal_id: str) -> str:
    return str(uuid.uuid5(ASSIGNMENT_NAMESPACE, f"{scope.lower()}|{role_guid}|{principal_id.lower()}"))


class AzureRemediator:
    """Role assignments for the Backup vault's managed identity."""

    kinds = frozenset({"azure-role-assignment"})

    def __init__(self, credential: TokenCredential, endpoint: str = ARM_ENDPOINT, arm: Any = None,
                 **client_options: Any) -> None:
        """``endpoint``: ARM (another cloud's, or a local stand-in in tests); ``client_options`` go
        to ``AuthorizationManagementClient`` (e.g. ``connection_verify``); ``arm``: a reader with
        ``get(path, api_version)`` for resource tags (the enrichment's ``ArmClient`` by default)."""
        self.credential = credential
        self.endpoint = endpoint
        self._options = client_options
        self._clients: dict[str, AuthorizationManagementClient] = {}
        self._arm = arm

    def client(self, subscription: str) -> AuthorizationManagementClient:
        if subscription not in self._clients:
            self._clients[subscription] = AuthorizationManagementClient(
                self.credential, subscription, api_version=API_ROLE_ASSIGNMENTS, base_url=self.endpoint,
                **self._options)
        return self._clients[subscription]

    # ------------------------------------------------------------------ Remediator
    def plan_change(self, outcome: Outcome) -> Change:
        f, plan = outcome.failure, outcome.plan
        if plan is None or not plan.role_assignments:
            raise RemediationRefused("the catalog names no role to assign for this failure")
        unknown = sorted({name for ra in plan.role_assignments for text in (ra.scope, ra.principal_id)
                          for name in _PLACEHOLDER.findall(text)})
        if unknown or any("<" in ra.scope for ra in plan.role_assignments):
            what = ", ".join(unknown) or "the scope"
            raise RemediationRefused(f"not known from the alert or enrichment: {what}; the role assignment needs "
                                     "exact names")
        subscription = (f.account_id or "").lower()
        scopes = {ra.scope: _scope(ra.scope) for ra in plan.role_assignments}
        vault = self._confirmed_vault(f, {ra.principal_id.lower() for ra in plan.role_assignments})
        allowed = {vault.subscription, *(s.lower() for s in listed(f, SUBSCRIPTIONS_FACT))}
        for scope in scopes.values():
            if scope.subscription not in allowed:
                raise RemediationRefused(f"the scope {scope.id} is in subscription {scope.subscription}, which is "
                                         f"neither the Backup vault's ({vault.subscription}) nor one the allow-list "
                                         "entry names (subscriptions)")
            self._confirm(scope)
        before: list[dict[str, Any]] = []
        wanted: list[dict[str, Any]] = []
        for ra in plan.role_assignments:
            canonical = scopes[ra.scope].id
            existing = self._assignments(canonical, ra.principal_id)
            before += [item for item in existing if item not in before]
            role = _guid(ra.role_definition_id)
            if any(item["role_definition_id"] == role and _covers(item["scope"], canonical) for item in existing):
                continue
            wanted.append(self._wanted(ra.model_copy(update={"scope": canonical})))
        if not wanted:
            names = ", ".join(f"{ra.role} on {ra.scope}" for ra in plan.role_assignments)
            raise AlreadyInPlace(f"the vault's identity already has {names}")
        roles = "; ".join(f"{w['role']} on {w['scope']}" for w in wanted)
        who = f"the Backup vault {f.vault_name}'s identity ({wanted[0]['principal_id']})" if f.vault_name \
            else f"the identity {wanted[0]['principal_id']}"
        return Change(
            kind="azure-role-assignment", cloud="azure", account=subscription, region=f.region,
            target=wanted[0]["scope"], summary=f"assign {roles} to {who}", done=f"assigned {roles} to {who}",
            before=before, after=[*before, *wanted], params={"assignments": wanted},
            notes=[f"built-in role {w['role']} ({w['role_definition_id']}), principal type ServicePrincipal"
                   for w in wanted],
        )

    def apply(self, change: Change) -> Applied:
        created, existed = 0, 0
        for item in change.params["assignments"]:
            subscription = _SUBSCRIPTION.match(item["scope"])
            client = self.client(subscription.group(1) if subscription else str(change.account))
            parameters = RoleAssignmentCreateParameters(
                role_definition_id=(f"/subscriptions/{subscription.group(1) if subscription else change.account}"
                                    f"/providers/Microsoft.Authorization/roleDefinitions/{item['role_definition_id']}"),
                principal_id=item["principal_id"], principal_type="ServicePrincipal",
                description="backup-responder: access the Backup vault's identity needs")
            try:
                client.role_assignments.create(item["scope"], item["name"], parameters)
                created += 1
            except HttpResponseError as exc:
                code = error_code(exc)
                if code == ROLE_ASSIGNMENT_EXISTS:
                    existed += 1
                    continue
                if code == PRINCIPAL_NOT_FOUND:
                    raise RemediationRefused("the vault's identity is not visible to Azure yet (PrincipalNotFound); "
                                             "it is retried with the next failure", needs_person=False) from exc
                raise
        detail = f"{created} role assignment(s) created" + (f", {existed} already existed" if existed else "")
        return Applied(changed=created > 0, detail=detail)

    def verify(self, change: Change) -> bool:
        for item in change.params["assignments"]:
            existing = self._assignments(item["scope"], item["principal_id"])
            if not any(e["role_definition_id"] == item["role_definition_id"] and _covers(e["scope"], item["scope"])
                       for e in existing):
                return False
        return True

    # ------------------------------------------------------------------ confirmation in ARM
    def reader(self) -> Any:
        """The ARM reader (the enrichment's ``ArmClient``, with the same TLS settings as the client)."""
        if self._arm is None:
            from functions.azure.enrich import ArmClient  # the enrichment's ARM reader

            transport = None
            if "connection_verify" in self._options:
                from azure.core.pipeline.transport import RequestsTransport

                transport = RequestsTransport(connection_verify=self._options["connection_verify"])
            self._arm = ArmClient(self.credential, self.endpoint, transport=transport)
        return self._arm

    def _read(self, scope: ArmScope, api_version: str, what: str) -> dict[str, Any]:
        """The resource's body from ARM, which must answer for the very id asked."""
        body: dict[str, Any] | None = self.reader().get(scope.id, api_version)
        if body is None:
            raise RemediationRefused(f"the {what} {scope.id} was not found in Azure Resource Manager; no role is "
                                     "assigned on a resource that cannot be confirmed")
        if not scope.same(body.get("id")):
            raise RemediationRefused(f"Azure Resource Manager answered for another id than the {what} {scope.id} "
                                     f"({str(body.get('id'))[:200]!r})")
        return body

    def _confirm(self, scope: ArmScope) -> None:
        api_version = RESOURCE_API_VERSIONS.get(scope.resource_type)
        if api_version is None:
            raise RemediationRefused(f"{scope.id} is a {scope.resource_type}, not a resource type the catalog assigns "
                                     "roles on")
        self._read(scope, api_version, "scope")

    def _confirmed_vault(self, f: Failure, principals: set[str]) -> ArmScope:
        """The Backup vault the alert names, read from ARM: it exists, and its identity is the
        principal the roles go to (the vault's id and the identity both come from the alert)."""
        if not f.vault_id:
            raise RemediationRefused("the alert names no Backup vault, so the identity to give the role to cannot be "
                                     "confirmed")
        vault = _scope(f.vault_id, "vault")
        api_version = VAULT_API_VERSIONS.get(vault.resource_type)
        if api_version is None:
            raise RemediationRefused(f"{vault.id} is not a Backup vault or Recovery Services vault")
        body = self._read(vault, api_version, "vault")
        identity = str((body.get("identity") or {}).get("principalId") or "").lower()
        strangers = sorted(p for p in principals if p != identity)
        if strangers:
            raise RemediationRefused(f"{', '.join(strangers)} is not the identity of the vault {vault.id} (Azure "
                                     f"Resource Manager says {identity or 'it has none'})")
        return vault

    # ------------------------------------------------------------------ TagReader
    def resource_tags(self, failure: Failure) -> dict[str, str] | None:
        if not failure.resource_id:
            return None
        try:
            body = self.reader().get(f"{failure.resource_id}/providers/Microsoft.Resources/tags/default", "2021-04-01")
        except Exception as exc:
            log.info("tags of %s could not be read: %s", failure.resource_id, type(exc).__name__)
            return None
        tags = ((body or {}).get("properties") or {}).get("tags") or {}
        return {str(k): str(v) for k, v in tags.items()}

    # ------------------------------------------------------------------ helpers
    def _assignments(self, scope: str, principal_id: str) -> list[dict[str, Any]]:
        """Assignments of the principal that apply at ``scope`` (ARM lists those at, above and below it)."""
        subscription = _SUBSCRIPTION.match(scope)
        client = self.client(subscription.group(1) if subscription else "")
        items = []
        for ra in client.role_assignments.list_for_scope(scope, filter=f"principalId eq '{principal_id}'"):
            if (ra.principal_id or "").lower() != principal_id.lower() or not ra.scope:
                continue
            if not _covers(ra.scope, scope):
                continue  # below the scope: does not apply here
            items.append({"scope": ra.scope, "role_definition_id": _guid(ra.role_definition_id or ""),
                          "principal_id": principal_id, "principal_type": ra.principal_type, "name": ra.name})
        return items

    @staticmethod
    def _wanted(ra: RoleAssignment) -> dict[str, Any]:
        role = _guid(ra.role_definition_id)
        return {"role": ra.role, "role_definition_id": role, "scope": ra.scope, "principal_id": ra.principal_id,
                "principal_type": "ServicePrincipal", "name": assignment_name(ra.scope, role, ra.principal_id)}


def azure_remediators(credential: TokenCredential | None = None,
                      env: Mapping[str, str] | None = None) -> list[AzureRemediator]:
    """The Azure remediator for the Function App, with its managed identity (``DefaultAzureCredential``)
    unless a credential is given, on ``RESPONDER_ARM_ENDPOINT`` (another cloud's Resource Manager;
    default the public cloud's). Made only when auto-remediation is not off: with the switch off,
    nothing here exists and nothing can call Resource Manager."""
    env = os.environ if env is None else env
    if credential is None:
        from azure.identity import DefaultAzureCredential
        credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
    endpoint = (env.get(ENV_ARM_ENDPOINT) or "").strip() or ARM_ENDPOINT
    return [AzureRemediator(credential, endpoint)]


def remediation_engine(settings: Settings, state: StateStore, credential: TokenCredential | None = None,
                       env: Mapping[str, str] | None = None) -> RemediationEngine:
    """The engine that applies an approved fix ("Apply fix"): the settings' switch and configuration,
    the Azure remediator; with the switch ``off``, none (nothing can call Resource Manager)."""
    if settings.auto_remediate == "off":
        return engine_from_settings(settings, state, [])
    return engine_from_settings(settings, state, azure_remediators(credential, env))
