"""Role assignments for the Backup vault's identity with azure-mgmt-authorization, against a local
server that answers like ARM (HTTPS on 127.0.0.1): the built-in role on the narrowest scope as a
ServicePrincipal, 409 RoleAssignmentExists as success, and nothing else created."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.azure.remediate import AzureRemediator, assignment_name
from shared.models import Failure, Outcome
from shared.pipeline import Pipeline
from shared.remediation.changes import AlreadyInPlace, RemediationRefused
from shared.remediation.guardrails import check_change
from tests.conftest import load_event
from tests.remediation.arm import API_VERSION, FakeCredential, RoleAssignmentsApi, arm_server
from tests.remediation.conftest import (
    SEED000_CONTAINER,
    SEED000_READER,
    SUBSCRIPTION,
    VAULT_PRINCIPAL,
    config,
    engine,
    outcome_of,
    pipeline,
)

SERVER = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-data-prod/providers/Microsoft.DBforPostgreSQL/"
          "servers/pg-orders-prod")
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
CONTAINER = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-restore/providers/Microsoft.Storage/"
             "storageAccounts/stpgrestoreprod01/blobServices/default/containers/pg-restores")


VAULT = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-backup-prod/providers/Microsoft.DataProtection/backupVaults/bv-pg-prod-01"
OTHER_SUBSCRIPTION = "99998888-aaaa-7777-bbbb-666655554444"


@pytest.fixture
def arm(tls_files: tuple[Path, Path]) -> Iterator[tuple[RoleAssignmentsApi, AzureRemediator]]:
    """The ARM stand-in, which knows the seed 000 vault (with its identity) and the server."""
    api = RoleAssignmentsApi()
    api.vault(VAULT, VAULT_PRINCIPAL)
    api.resource(SERVER, type="Microsoft.DBforPostgreSQL/servers")
    with arm_server(api, tls_files) as (url, cert):
        yield api, AzureRemediator(FakeCredential(), endpoint=url, connection_verify=str(cert))


def reader_outcome() -> Outcome:
    return outcome_of(SEED000_READER, facts={"vault_principal_id": VAULT_PRINCIPAL})


def test_reader_is_assigned_on_the_server_to_the_vaults_identity(arm: tuple[RoleAssignmentsApi, AzureRemediator]) -> None:
    api, remediator = arm
    api.existing(f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-other/providers/Microsoft.Storage/"
                 "storageAccounts/unrelated", BLOB_CONTRIBUTOR, VAULT_PRINCIPAL, "11111111-1111-1111-1111-111111111111")
    before = copy.deepcopy(api.assignments)
    outcome = outcome_of(SEED000_READER, facts={"vault_principal_id": VAULT_PRINCIPAL})
    change = remediator.plan_change(outcome)
    check_change(change, outcome.failure)
    assert api.puts() == []  # planning only reads
    assert change.summary == f"assign Reader on {SERVER} to the Backup vault bv-pg-prod-01's identity ({VAULT_PRINCIPAL})"

    applied = remediator.apply(change)
    assert applied.changed and remediator.verify(change)

    name = assignment_name(SERVER, READER, VAULT_PRINCIPAL)
    assert api.puts() == [f"{SERVER}/providers/Microsoft.Authorization/roleAssignments/{name}"]
    created = api.assignments.pop(name)
    assert api.assignments == before  # nothing else created or changed
    assert created["properties"] == {
        "roleDefinitionId": f"/providers/Microsoft.Authorization/roleDefinitions/{READER}",
        "principalId": VAULT_PRINCIPAL, "principalType": "ServicePrincipal", "scope": SERVER}


def test_the_request_is_what_arm_documents(arm: tuple[RoleAssignmentsApi, AzureRemediator], tmp_path: Path) -> None:
    api, remediator = arm
    seen: list[dict[str, object]] = []
    original = api.handle

    def spy(method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes):  # type: ignore[no-untyped-def]
        if method == "PUT":
            seen.append({"query": query, "body": json.loads(body), "auth": headers.get("authorization")})
        return original(method, path, query, headers, body)

    api.handle = spy  # type: ignore[method-assign]
    remediator.apply(remediator.plan_change(reader_outcome()))
    assert seen[0]["query"] == {"api-version": [API_VERSION]}
    assert seen[0]["auth"] == "Bearer test-token"
    assert seen[0]["body"]["properties"] == {  # type: ignore[index]
        "roleDefinitionId": f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{READER}",
        "principalId": VAULT_PRINCIPAL, "principalType": "ServicePrincipal",
        "description": "backup-responder: access the Backup vault's identity needs"}


def test_role_assignment_exists_409_counts_as_success(arm: tuple[RoleAssignmentsApi, AzureRemediator]) -> None:
    api, remediator = arm
    change = remediator.plan_change(reader_outcome())
    # Someone assigns the same role in the meantime, under another name: ARM answers 409.
    api.existing(SERVER, READER, VAULT_PRINCIPAL, "22222222-2222-2222-2222-222222222222")
    applied = remediator.apply(change)
    assert applied.changed is False and "1 already existed" in applied.detail
    assert remediator.verify(change)
    assert list(api.assignments) == ["22222222-2222-2222-2222-222222222222"]


def test_applying_twice_is_idempotent(arm: tuple[RoleAssignmentsApi, AzureRemediator]) -> None:
    api, remediator = arm
    change = remediator.plan_change(reader_outcome())
    remediator.apply(change)
    remediator.apply(change)  # the same name and properties: ARM answers 200
    assert len(api.assignments) == 1


def test_an_inherited_assignment_is_already_in_place(arm: tuple[RoleAssignmentsApi, AzureRemediator]) -> None:
    api, remediator = arm
    api.existing(f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-data-prod", READER, VAULT_PRINCIPAL,
                 "33333333-3333-3333-3333-333333333333")
    with pytest.raises(AlreadyInPlace):
        remediator.plan_change(reader_outcome())
    assert api.puts() == []


def test_an_identity_arm_cannot_see_yet_is_not_a_change(arm: tuple[RoleAssignmentsApi, AzureRemediator]) -> None:
    api, remediator = arm
    api.unknown_principals.add(VAULT_PRINCIPAL)
    change = remediator.plan_change(reader_outcome())
    with pytest.raises(RemediationRefused, match="PrincipalNotFound") as refused:
        remediator.apply(change)
    assert refused.value.needs_person is False and api.assignments == {}


def test_without_the_vaults_identity_nothing_is_planned(arm: tuple[RoleAssignmentsApi, AzureRemediator]) -> None:
    api, remediator = arm
    with pytest.raises(RemediationRefused, match="vault_principal_id"):
        remediator.plan_change(outcome_of(SEED000_READER))
    assert api.requests == []


def test_restore_as_files_gets_blob_data_contributor_on_the_container(
        arm: tuple[RoleAssignmentsApi, AzureRemediator]) -> None:
    api, remediator = arm
    api.resource(CONTAINER, type="Microsoft.Storage/storageAccounts/blobServices/containers")
    outcome = outcome_of(SEED000_CONTAINER, facts={"vault_principal_id": VAULT_PRINCIPAL,
                                                   "container_scope": CONTAINER})
    change = remediator.plan_change(outcome)
    check_change(change, outcome.failure)
    remediator.apply(change)
    (created,) = api.assignments.values()
    assert created["properties"]["scope"] == CONTAINER  # the container, not the storage account
    assert created["properties"]["roleDefinitionId"].endswith(BLOB_CONTRIBUTOR)


RG = f"/subscriptions/{SUBSCRIPTION}/resourceGroups"
KEY_VAULT = f"{RG}/rg-data-prod/providers/Microsoft.KeyVault/vaults/kv-pg-prod-01"
STORAGE = f"{RG}/rg-docs/providers/Microsoft.Storage/storageAccounts/stdocsprod01"
DISK = f"{RG}/rg-vm/providers/Microsoft.Compute/disks/disk-data-prod-01"
SNAPSHOTS = f"{RG}/rg-snapshots"


@pytest.mark.parametrize(("code", "resource_type", "job_type", "facts", "expected"), [
    ("UserErrorMissingPermissionsOnSecretStore", "postgresql", "backup", {"key_vault_id": KEY_VAULT},
     {(KEY_VAULT, "4633458b-17de-408a-b874-0445c86b69e6")}),
    ("UserErrorMissingRequiredPermissions", "blob", "backup", {"storage_account_id": STORAGE},
     {(STORAGE, "e5e2a7ff-d759-4cd2-bb51-3152d37e2eb1")}),
    ("UserErrorMissingRequiredPermissions", "disk", "backup",
     {"disk_id": DISK, "snapshot_resource_group_id": SNAPSHOTS},
     {(DISK, "3e5e47e6-65f7-47ef-90b5-e5dd4d455f24"), (SNAPSHOTS, "7efff54f-a5b4-42b5-a1c5-5411624893ce")}),
], ids=["azure.keyvault.secret-access", "azure.blob.vault-msi-permissions", "azure.disk.vault-msi-permissions"])
def test_the_other_vault_identity_causes_get_their_roles(
        arm: tuple[RoleAssignmentsApi, AzureRemediator], code: str, resource_type: str, job_type: str,
        facts: dict[str, str], expected: set[tuple[str, str]]) -> None:
    api, remediator = arm
    for scope, _ in expected:
        api.resource(scope)
    failure = Failure(cloud="azure", job_type=job_type, code=code, resource_type=resource_type,  # type: ignore[arg-type]
                      account_id=SUBSCRIPTION, vault_name="bv-pg-prod-01", vault_id=VAULT,
                      message="Appropriate permissions to "
                      "perform the operation are missing.",
                      facts={"subscription_id": SUBSCRIPTION, "vault_principal_id": VAULT_PRINCIPAL, **facts})
    outcome = Pipeline().assess(failure)
    change = remediator.plan_change(outcome)
    check_change(change, failure)
    remediator.apply(change)
    assert remediator.verify(change)
    assert {(a["properties"]["scope"], a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1])
            for a in api.assignments.values()} == expected


# ---------------------------------------------------------------------------- crafted ids
def crafted(linked: str | None = None, vault: str | None = None) -> Outcome:
    """Seed 000 with its linkedResourceId (and optionally the vault's id) replaced."""
    event = load_event(SEED000_READER)
    if linked is not None:
        event["data"]["alertContext"]["linkedResourceId"] = linked
    if vault is not None:
        event["data"]["essentials"]["alertTargetIDs"] = [vault]
        event["data"]["alertContext"]["protectedItemId"] = f"{vault}/backupInstances/pg-orders-prod-orders"
    return pipeline(facts={"vault_principal_id": VAULT_PRINCIPAL}).process(event)


def decide(remediator: AzureRemediator, outcome: Outcome, **entry: Any) -> Any:
    cfg = config(allow=[{"cause": "azure.postgres.vault-msi-reader", **entry}])
    summary = engine(cfg, "on", [remediator]).run(outcome).remediation
    assert summary is not None
    return summary


RG_DATA = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-data-prod"
CRAFTED_SCOPES = {
    # The HTTP layer normalises dot segments: the assignment would land on the subscription.
    "dot segments": (f"{RG_DATA}/providers/../../..", "a '.' or '..' segment"),
    "percent-encoded dots": (f"{RG_DATA}/providers/%2e%2e/%2e%2e/%2E%2E", "percent-encoded"),
    "percent-encoded separators": (f"{RG_DATA}/providers/Microsoft.DBforPostgreSQL/servers/pg%2F..%2F..",
                                   "percent-encoded"),
    "an empty segment": (f"{RG_DATA}/providers/Microsoft.DBforPostgreSQL//servers/pg-orders-prod",
                         "an empty segment"),
}


@pytest.mark.parametrize(("linked", "why"), CRAFTED_SCOPES.values(), ids=list(CRAFTED_SCOPES))
def test_a_crafted_scope_is_refused_before_anything_is_written(
        arm: tuple[RoleAssignmentsApi, AzureRemediator], linked: str, why: str) -> None:
    api, remediator = arm
    summary = decide(remediator, crafted(linked))
    assert summary.action == "refused" and why in (summary.reason or "")
    assert api.puts() == [] and api.assignments == {}


def test_a_resource_in_another_subscription_than_the_vaults_is_refused(
        arm: tuple[RoleAssignmentsApi, AzureRemediator]) -> None:
    """The failure's subscription is read from the same id: it proves nothing. The vault's
    subscription (confirmed in ARM), or one the allow-list names, is where assignments go."""
    api, remediator = arm
    elsewhere = SERVER.replace(SUBSCRIPTION, OTHER_SUBSCRIPTION)
    api.resource(elsewhere, type="Microsoft.DBforPostgreSQL/servers")
    summary = decide(remediator, crafted(elsewhere))
    assert summary.action == "refused" and f"subscription {OTHER_SUBSCRIPTION}" in (summary.reason or "")
    assert api.puts() == []
    # Named in the allow-list entry, the same subscription is allowed.
    allowed = decide(remediator, crafted(elsewhere), subscriptions=[OTHER_SUBSCRIPTION])
    assert allowed.action == "applied", allowed.reason
    [created] = api.assignments.values()
    assert created["properties"]["scope"] == elsewhere


def test_a_resource_arm_does_not_know_is_refused(arm: tuple[RoleAssignmentsApi, AzureRemediator]) -> None:
    api, remediator = arm
    summary = decide(remediator, crafted(SERVER.replace("pg-orders-prod", "pg-invented")))
    assert summary.action == "refused" and "not found in Azure Resource Manager" in (summary.reason or "")
    assert api.puts() == []


def test_a_resource_arm_knows_under_another_id_is_refused(arm: tuple[RoleAssignmentsApi, AzureRemediator]) -> None:
    api, remediator = arm
    decoy = SERVER.replace("pg-orders-prod", "pg-decoy")
    api.resources[decoy.lower()] = {"id": f"/subscriptions/{SUBSCRIPTION}", "name": "pg-decoy"}
    summary = decide(remediator, crafted(decoy))
    assert summary.action == "refused" and "answered for another id" in (summary.reason or "")
    assert api.puts() == []


def test_a_vault_that_is_not_the_identitys_is_refused(arm: tuple[RoleAssignmentsApi, AzureRemediator]) -> None:
    """The vault's id comes from the alert too: ARM must confirm the vault and that the identity
    given the role is that vault's."""
    api, remediator = arm
    other_vault = VAULT.replace("bv-pg-prod-01", "bv-other")
    api.vault(other_vault, "00000000-1111-2222-3333-444444444444")
    summary = decide(remediator, crafted(vault=other_vault))
    assert summary.action == "refused" and "is not the identity of the vault" in (summary.reason or "")
    missing = decide(remediator, crafted(vault=VAULT.replace("bv-pg-prod-01", "bv-gone")))
    assert missing.action == "refused" and "not found in Azure Resource Manager" in (missing.reason or "")
    assert api.puts() == []


def test_the_genuine_alert_is_confirmed_in_arm_before_the_write(arm: tuple[RoleAssignmentsApi, AzureRemediator]) -> None:
    api, remediator = arm
    summary = decide(remediator, reader_outcome())
    assert summary.action == "applied", summary.reason
    first_put = next(i for i, (method, _) in enumerate(api.requests) if method == "PUT")
    read_before = [path.lower() for method, path in api.requests[:first_put] if method == "GET"]
    assert VAULT.lower() in read_before and SERVER.lower() in read_before
