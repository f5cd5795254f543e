"""Enrichment of Azure Backup failures from Azure Resource Manager (``shared.pipeline.Enricher``).

The alert names the vault, the job and the protected resource, but rarely everything the fix
must name. With the Function App's managed identity (``DefaultAzureCredential``) this reads:

- the job's error details: the Data Protection API for Backup vaults
  (``Microsoft.DataProtection/backupVaults/backupJobs``: code, message, recommended action) and
  the Recovery Services API for Recovery Services vaults (``.../vaults/backupJobs``);
- the backup instance (Backup vaults): the protected resource and server, the key vault holding the
  database credentials (its name only: secrets are never read), the identity the instance uses;
- the vault's managed identity: the principal (object) id the fix assigns roles to
  (``facts["vault_principal_id"]``);
- for encrypted VMs, the key vault the disks' encryption keys live in;
- for restores, the target (a storage container's ARM scope, or the target server).

Every call is optional and never fatal: what fails becomes a note in the message. Calls go through
azure-core's pipeline (retry, ARM challenge authentication) with short timeouts and a total
budget, so a slow ARM cannot hold the action group's request for long.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlparse

from azure.core import PipelineClient
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, ClientAuthenticationError
from azure.core.pipeline.policies import (
    HeadersPolicy,
    RequestIdPolicy,
    RetryPolicy,
    UserAgentPolicy,
)
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest
from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy
from msgspec import Struct, field

from shared.models import Failure
from shared.parse.azure import workload_of

log = logging.getLogger("backup_responder.azure.enrich")

ARM_ENDPOINT = "https://management.azure.com"
#: API versions: stable versions published in Azure/azure-rest-api-specs.
API_DATA_PROTECTION = "2024-04-01"       # Microsoft.DataProtection (vaults, jobs, backup instances)
API_RECOVERY_SERVICES = "2024-04-01"     # Microsoft.RecoveryServices vaults and backupJobs
API_VIRTUAL_MACHINES = "2024-07-01"      # Microsoft.Compute/virtualMachines
API_DISKS = "2024-03-02"                 # Microsoft.Compute/disks
API_RESOURCES = "2021-04-01"             # Microsoft.Resources (resource list by type and name)
#: Per-call timeouts (seconds). The action group waits only briefly for an answer and retries a
#: slow one, so enrichment must stay short; what is not read in time is noted and skipped.
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 5
#: The whole enrichment of one failure stops starting calls after this many seconds.
ENRICH_BUDGET_SECONDS = 8.0
#: One retry of a failed GET (429/5xx/connection), with a short backoff.
RETRY_TOTAL = 1

_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9]{3,}$")
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_ARM_RESOURCE = re.compile(r"^(/subscriptions/[^/]+/resourcegroups/[^/]+/providers/[^/]+/[^/]+/[^/]+)", re.I)
_CONTAINER = re.compile(r"^(/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.storage/"
                        r"storageaccounts/[^/]+)(?:/blobservices/default/containers/([^/]+))?", re.I)


class ArmError(Exception):
    """ARM answered with an error status (the message names the status and ARM's error code)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class OutOfTime(Exception):
    """The enrichment budget is spent."""


def managed_identity() -> TokenCredential:
    """The app's managed identity (azure-identity's default chain, never a browser sign-in)."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


class ArmClient:
    """GETs against Azure Resource Manager through azure-core's pipeline."""

    def __init__(self, credential: TokenCredential, endpoint: str = ARM_ENDPOINT,
                 transport: HttpTransport[Any, Any] | None = None) -> None:
        scope = endpoint.rstrip("/") + "/.default"
        policies = [
            RequestIdPolicy(),
            HeadersPolicy({"Accept": "application/json"}),
            UserAgentPolicy("backup-responder"),
            RetryPolicy(retry_total=RETRY_TOTAL, retry_backoff_factor=0.3, retry_backoff_max=2),
            ARMChallengeAuthenticationPolicy(credential, scope),
        ]
        self._client: PipelineClient[Any, Any] = PipelineClient(base_url=endpoint, policies=policies,
                                                                transport=transport)

    def post(self, path: str, api_version: str, body: Any) -> dict[str, Any]:
        """The JSON answer of ``POST path`` with a JSON ``body`` (Resource Graph queries)."""
        url = self._client.format_url(quote(path, safe="/;,=@:"))
        request = HttpRequest("POST", url, params={"api-version": api_version}, json=body)
        response = self._client.send_request(request, connection_timeout=CONNECT_TIMEOUT_SECONDS,
                                             read_timeout=READ_TIMEOUT_SECONDS)
        if response.status_code >= 400:
            code = ""
            with contextlib.suppress(ValueError, AttributeError):
                code = str((response.json().get("error") or {}).get("code") or "")
            raise ArmError(f"POST {path}: HTTP {response.status_code}{' ' + code if code else ''}",
                           response.status_code)
        answer = response.json()
        if not isinstance(answer, dict):
            raise ArmError(f"POST {path}: expected a JSON object", response.status_code)
        return answer

    def get(self, path: str, api_version: str, params: Mapping[str, str] | None = None,
            timeout: float | None = None) -> dict[str, Any] | None:
        """The JSON body of ``GET path``, or None when ARM answers 404."""
        url = self._client.format_url(quote(path, safe="/;,=@:"))
        request = HttpRequest("GET", url, params={"api-version": api_version, **(params or {})})
        kwargs: dict[str, Any] = {"connection_timeout": CONNECT_TIMEOUT_SECONDS,
                                  "read_timeout": READ_TIMEOUT_SECONDS}
        if timeout is not None:
            kwargs["timeout"] = max(0.5, timeout)  # RetryPolicy: total time for the call and its retries
        response = self._client.send_request(request, **kwargs)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            code = ""
            with contextlib.suppress(ValueError, AttributeError):
                code = str((response.json().get("error") or {}).get("code") or "")
            raise ArmError(f"GET {path.split('?')[0]}: HTTP {response.status_code}{' ' + code if code else ''}",
                           response.status_code)
        body = response.json()
        if not isinstance(body, dict):
            raise ArmError(f"GET {path}: expected a JSON object", response.status_code)
        return body


def _arm_resource(resource_id: str | None) -> str | None:
    if not resource_id:
        return None
    match = _ARM_RESOURCE.match(resource_id)
    return match.group(1) if match else resource_id


def _segment(resource_id: str, kind: str) -> str | None:
    match = re.search(rf"/{kind}/([^/]+)", resource_id, re.I)
    return match.group(1) if match else None


def _code(*candidates: Any) -> str | None:
    """The first value that looks like a provider error code (``UserErrorFoo``, not ``400001``)."""
    for value in candidates:
        if isinstance(value, str) and _CODE.match(value.strip()):
            return value.strip()
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        joined = " ".join(str(v).strip() for v in value if v)
        return joined or None
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _dig(obj: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(name)
    return obj


class _Work(Struct):
    """What one enrichment learned so far."""

    failure: Failure
    deadline: float
    facts: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    updates: dict[str, Any] = field(default_factory=dict)
    backup_instance_id: str | None = None
    restore_destination: str | None = None
    user_identity: str | None = None

    def __post_init__(self) -> None:
        self.facts = dict(self.failure.facts)

    def value(self, name: str) -> Any:
        return self.updates.get(name, getattr(self.failure, name))

    def fact(self, name: str, value: str | None, overwrite: bool = True) -> None:
        if value and (overwrite or not self.facts.get(name)):
            self.facts[name] = value

    @property
    def vault_kind(self) -> str | None:
        vault = (self.failure.vault_id or "").lower()
        if "/microsoft.dataprotection/" in vault:
            return "dataprotection"
        if "/microsoft.recoveryservices/" in vault:
            return "recoveryservices"
        return None

    @property
    def subscription(self) -> str | None:
        for candidate in (self.value("resource_id"), self.failure.vault_id):
            found = _segment(candidate or "", "subscriptions")
            if found:
                return found
        return self.failure.account_id


class AzureBackupEnricher:
    """Reads the job, the backup instance, the vault's identity and the resources the fix names."""

    name = "read the Azure Backup job, vault and protected resource from Azure Resource Manager"

    def __init__(self, arm: ArmClient, budget_seconds: float = ENRICH_BUDGET_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.arm = arm
        self.budget_seconds = budget_seconds
        self._clock = clock

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None,
                 credential: TokenCredential | None = None) -> AzureBackupEnricher | None:
        """The enricher with the app's managed identity (or ``credential``); None when
        ``RESPONDER_AZURE_ENRICH=off``. ``RESPONDER_ARM_ENDPOINT`` points it at another cloud's
        Resource Manager."""
        env = os.environ if env is None else env
        if (env.get("RESPONDER_AZURE_ENRICH") or "on").strip().lower() in ("off", "false", "0", "no"):
            return None
        endpoint = env.get("RESPONDER_ARM_ENDPOINT") or ARM_ENDPOINT
        return cls(ArmClient(credential or managed_identity(), endpoint))

    # ------------------------------------------------------------------ the Enricher protocol
    def enrich(self, failure: Failure) -> Failure:
        if failure.cloud != "azure" or not failure.failed or not failure.vault_id:
            return failure  # resolved alerts need no fix; without a vault there is nothing to read
        work = _Work(failure, deadline=self._clock() + self.budget_seconds)
        steps: list[tuple[str, Callable[[_Work], None]]] = [
            ("read the job's error details", self._job),
            ("read the backup instance", self._backup_instance),
            ("read the vault's managed identity", self._vault_identity),
            ("read the restore target", self._restore_target),
            ("read the VM's disk encryption settings", self._vm_encryption),
            ("find the key vault's resource id", self._key_vault),
        ]
        for what, step in steps:
            try:
                step(work)
            except OutOfTime:
                work.notes.append(f"Enrichment stopped after {self.budget_seconds:g} s, before it could "
                                  f"{what}.")
                break
            except ClientAuthenticationError as exc:
                log.warning("Azure enrichment has no usable credential: %s", type(exc).__name__)
                work.notes.append("Azure details were not read: no usable Azure credential "
                                  f"({type(exc).__name__}).")
                break
            except (ArmError, AzureError, ValueError, KeyError, TypeError, AttributeError) as exc:
                log.warning("Azure enrichment could not %s: %s", what, exc)
                work.notes.append(f"Could not {what}: {exc}")
        updates = dict(work.updates)
        updates["facts"] = {k: v for k, v in work.facts.items() if v}
        updates["notes"] = [*failure.notes, *work.notes]
        return failure.model_copy(update=updates)

    # ------------------------------------------------------------------ calls
    def _get(self, work: _Work, path: str, api_version: str,
             params: Mapping[str, str] | None = None) -> dict[str, Any] | None:
        left = work.deadline - self._clock()
        if left <= 0:
            raise OutOfTime
        return self.arm.get(path, api_version, params, timeout=left)

    def _find(self, work: _Work, resource_type: str, name: str) -> str | None:
        """The ARM id of the resource of that type and name in the failure's subscription."""
        subscription = work.subscription
        if not subscription or not re.match(r"^[A-Za-z0-9._-]+$", name):
            return None
        body = self._get(work, f"/subscriptions/{subscription}/resources", API_RESOURCES,
                         {"$filter": f"resourceType eq '{resource_type}' and name eq '{name}'"})
        values = (body or {}).get("value") or []
        return str(values[0]["id"]) if values and values[0].get("id") else None

    # ------------------------------------------------------------------ steps
    def _job(self, work: _Work) -> None:
        failure = work.failure
        if not failure.job_id or not work.vault_kind:
            return
        api = API_DATA_PROTECTION if work.vault_kind == "dataprotection" else API_RECOVERY_SERVICES
        body = self._get(work, f"{failure.vault_id}/backupJobs/{failure.job_id}", api)
        if body is None:
            work.notes.append(f"The job {failure.job_id} is no longer listed in the vault.")
            return
        props = body.get("properties") or {}
        errors = props.get("errorDetails") or []
        first = errors[0] if errors and isinstance(errors[0], Mapping) else {}
        if work.vault_kind == "dataprotection":
            code = _code(first.get("code"))
            message = _text(first.get("message"))
            inner = _code(_dig(first, "innerError", "code"))
            if inner and message and inner.lower() not in message.lower():
                message = f"{message} (inner error code: {inner})"
            recommended = _text(first.get("recommendedAction"))
            operation = props.get("operationCategory") or props.get("operation")
            datasource_type = props.get("dataSourceType")
            work.backup_instance_id = props.get("backupInstanceId") or None
            work.restore_destination = _text(_dig(props, "extendedInfo", "recoveryDestination"))
            work.fact("datasource_id", props.get("dataSourceId"))
        else:
            code = _code(first.get("errorCode"), first.get("errorTitle"))
            message = _text(first.get("errorString")) or _text(first.get("errorMessage"))
            recommended = _text(first.get("recommendations"))
            operation = props.get("operation")
            datasource_type = props.get("workloadType") or props.get("jobType")
        if code:
            work.updates["code"] = code  # the API spells the code as documented
        if message:
            work.updates["message"] = message
        work.fact("recommended_action", recommended)
        work.fact("job_operation", _text(operation))
        if not failure.job_type and isinstance(operation, str):
            lowered = operation.lower()
            if "restore" in lowered:
                work.updates["job_type"] = "restore"
            elif "backup" in lowered:
                work.updates["job_type"] = "backup"
        if not failure.resource_type:
            workload = workload_of(failure.resource_id, datasource_type if isinstance(datasource_type, str) else None)
            if workload:
                work.updates["resource_type"] = workload

    def _backup_instance(self, work: _Work) -> None:
        if work.vault_kind != "dataprotection":
            return
        instance = work.backup_instance_id or work.failure.facts.get("protected_item_id")
        if not instance or "/backupinstances/" not in instance.lower():
            return
        body = self._get(work, instance, API_DATA_PROTECTION)
        if body is None:
            work.notes.append("The backup instance no longer exists (protection may have been stopped).")
            return
        props = body.get("properties") or {}
        datasource = _dig(props, "dataSourceInfo", "resourceID")
        datasource_set = _dig(props, "dataSourceSetInfo", "resourceID")
        kind = _dig(props, "dataSourceInfo", "datasourceType") or _dig(props, "dataSourceInfo", "resourceType")
        protected = _arm_resource(datasource_set or datasource)
        workload = workload_of(protected, kind if isinstance(kind, str) else None) or work.value("resource_type")
        if protected and not work.value("resource_id"):
            work.updates["resource_id"] = protected
            work.updates["resource_name"] = protected.rstrip("/").split("/")[-1]
        if not work.value("resource_type") and workload:
            work.updates["resource_type"] = workload
        if protected and workload in ("postgresql", "postgresql-flex", "mysql-flex"):
            work.fact("server_id", protected, overwrite=False)
            work.fact("server_name", protected.rstrip("/").split("/")[-1], overwrite=False)
        elif protected and workload == "disk":
            work.fact("disk_id", _arm_resource(datasource) or protected, overwrite=False)
        elif protected and "/microsoft.storage/storageaccounts/" in protected.lower():
            work.fact("storage_account_id", protected, overwrite=False)
        for store in _dig(props, "policyInfo", "policyParameters", "dataStoreParametersList") or []:
            if isinstance(store, Mapping) and store.get("resourceGroupId"):
                work.fact("snapshot_resource_group_id", str(store["resourceGroupId"]))
        secret_uri = _dig(props, "datasourceAuthCredentials", "secretStoreResource", "uri")
        if isinstance(secret_uri, str) and secret_uri:
            host = urlparse(secret_uri).hostname or ""
            if host:
                work.fact("key_vault_name", host.split(".")[0])
                work.fact("key_vault_uri", f"https://{host}/")
        identity = props.get("identityDetails") or {}
        if identity.get("useSystemAssignedIdentity") is False and identity.get("userAssignedIdentityArmUrl"):
            work.user_identity = str(identity["userAssignedIdentityArmUrl"])

    def _vault_identity(self, work: _Work) -> None:
        if not work.vault_kind:
            return
        api = API_DATA_PROTECTION if work.vault_kind == "dataprotection" else API_RECOVERY_SERVICES
        body = self._get(work, str(work.failure.vault_id), api)
        if body is None:
            work.notes.append("The vault no longer exists.")
            return
        identity = body.get("identity") or {}
        principal: str | None = None
        if work.user_identity:
            for arm_id, details in (identity.get("userAssignedIdentities") or {}).items():
                if arm_id.lower() == work.user_identity.lower() and isinstance(details, Mapping):
                    principal = details.get("principalId")
            work.fact("vault_identity", work.user_identity)
            work.fact("vault_identity_type", "UserAssigned")
        else:
            principal = identity.get("principalId")
            work.fact("vault_identity_type", identity.get("type"))
        if principal and _GUID.match(principal):
            work.fact("vault_principal_id", principal)
        elif not identity or str(identity.get("type", "")).lower() == "none":
            work.notes.append("The vault has no managed identity: Azure Backup needs its system-assigned "
                              "identity to reach the protected resource. Enable it on the vault first.")

    def _restore_target(self, work: _Work) -> None:
        destination = work.restore_destination
        if not destination or work.value("job_type") != "restore":
            return
        if destination.lower().startswith("/subscriptions/"):
            container = _CONTAINER.match(destination)
            if container:
                account_id, name = container.group(1), container.group(2)
                work.fact("storage_account_id", account_id)
                if name:
                    work.fact("container_scope", f"{account_id}/blobServices/default/containers/{name}")
                return
            target = _arm_resource(destination)
            if target and workload_of(target) in ("postgresql", "postgresql-flex", "mysql-flex"):
                # The restore writes to the target server: that is where the vault needs its role.
                work.fact("source_server_id", work.facts.get("server_id"))
                work.fact("server_id", target)
                work.fact("server_name", target.rstrip("/").split("/")[-1])
            return
        url = urlparse(destination)
        host = url.hostname or ""
        if ".blob." not in host:
            return
        account = host.split(".")[0]
        container_name = url.path.strip("/").split("/")[0] if url.path.strip("/") else None
        account_id = self._find(work, "Microsoft.Storage/storageAccounts", account)
        if not account_id:
            work.notes.append(f"The restore target storage account {account} was not found in the subscription.")
            return
        work.fact("storage_account_id", account_id)
        if container_name:
            work.fact("container_scope", f"{account_id}/blobServices/default/containers/{container_name}")

    def _vm_encryption(self, work: _Work) -> None:
        vm_id = work.value("resource_id")
        if work.value("resource_type") != "vm" or not vm_id or "/virtualmachines/" not in vm_id.lower():
            return
        about = " ".join(str(v) for v in (work.value("code"), work.value("message")) if v).lower()
        if not any(word in about for word in ("keyvault", "key vault", "encrypt", "bek", "kek")):
            return  # only encryption problems need the key vault: spare the calls otherwise
        vm = self._get(work, vm_id, API_VIRTUAL_MACHINES)
        if vm is None:
            return
        os_disk = _dig(vm, "properties", "storageProfile", "osDisk") or {}
        vault = _dig(os_disk, "encryptionSettings", "diskEncryptionKey", "sourceVault", "id")
        kek_vault = _dig(os_disk, "encryptionSettings", "keyEncryptionKey", "sourceVault", "id")
        disk_id = _dig(os_disk, "managedDisk", "id")
        if not vault and disk_id:
            disk = self._get(work, str(disk_id), API_DISKS)
            settings = _dig(disk, "properties", "encryptionSettingsCollection") or {}
            first = (settings.get("encryptionSettings") or [{}])[0] if settings.get("enabled") else {}
            vault = _dig(first, "diskEncryptionKey", "sourceVault", "id")
            kek_vault = _dig(first, "keyEncryptionKey", "sourceVault", "id")
        if vault:
            work.fact("key_vault_id", str(vault))
            work.fact("key_vault_name", str(vault).rstrip("/").split("/")[-1])
            work.fact("vm_encryption", "ADE with KEK" if kek_vault else "ADE (BEK only)")
        else:
            work.notes.append("The VM's disks show no Azure Disk Encryption settings.")

    def _key_vault(self, work: _Work) -> None:
        name = work.facts.get("key_vault_name")
        if name and not work.facts.get("key_vault_id"):
            found = self._find(work, "Microsoft.KeyVault/vaults", name)
            if found:
                work.fact("key_vault_id", found)
            else:
                work.notes.append(f"The key vault {name} was not found in subscription {work.subscription}.")
