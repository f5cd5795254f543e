"""Azure enrichment through azure-core's pipeline against an ARM stand-in on 127.0.0.1 (HTTPS)."""

from __future__ import annotations

import pytest

from functions.azure.enrich import AzureBackupEnricher
from shared.models import Failure
from shared.pipeline import Enricher, Pipeline
from tests.azure.servers import ArmServer
from tests.conftest import load_event
from tests.support.clock import FakeClock

SUB = "11112222-bbbb-3333-cccc-4444dddd5555"
BV = f"/subscriptions/{SUB}/resourceGroups/rg-backup-prod/providers/Microsoft.DataProtection/backupVaults/bv-pg-prod-01"
SERVER = f"/subscriptions/{SUB}/resourceGroups/rg-data-prod/providers/Microsoft.DBforPostgreSQL/servers/pg-orders-prod"
KEY_VAULT = f"/subscriptions/{SUB}/resourceGroups/rg-sec-prod/providers/Microsoft.KeyVault/vaults/kv-pg-prod-01"
ADE_KEY_VAULT = f"/subscriptions/{SUB}/resourceGroups/rg-sec-prod/providers/Microsoft.KeyVault/vaults/kv-ade-prod-01"
STORAGE = (f"/subscriptions/{SUB}/resourceGroups/rg-restore-prod/providers/Microsoft.Storage/"
           "storageAccounts/stpgrestoreprod01")
BV_PRINCIPAL = "7c1f6a2e-3b9d-4e5f-8a21-0d9c6b4e2f13"
RSV_PRINCIPAL = "2d6e8f10-5a4b-4c3d-9e8f-7a6b5c4d3e21"
MSI = "seed000-pgsql-backup-usererrormsimissingpermissions"
CONTAINER = "seed000-pgsql-restore-usererrorcontainernotaccessible"
ADE = "seed002-vm-backup-usererrorkeyvaultpermissionsnotconfigured"
NO_NETWORK = "seed002-vm-backup-extensionsnapshotfailednonetwork"


def parsed(name: str) -> Failure:
    return Pipeline().parse(load_event(f"azure/{name}.json"))


def test_is_an_enricher(enricher: AzureBackupEnricher) -> None:
    typed: Enricher = enricher
    assert typed.name


def test_backup_vault_job_instance_identity_and_key_vault(arm: ArmServer, enricher: AzureBackupEnricher) -> None:
    arm.load("dp-vault-bv-pg-prod-01", f"dp-job-{MSI}",
             "dp-backup-instance-pg-orders-prod-orders-bbed2cf3-dfc8-df07-413d-f4f73ef8c9fc",
             "resources-keyvault-kv-pg-prod-01")
    failure = parsed(MSI)
    assert "vault_principal_id" not in failure.facts

    enriched = enricher.enrich(failure)

    assert enriched.facts["vault_principal_id"] == BV_PRINCIPAL
    assert enriched.facts["vault_identity_type"] == "SystemAssigned"
    assert enriched.facts["server_id"].lower() == SERVER.lower()
    assert enriched.facts["key_vault_name"] == "kv-pg-prod-01"
    assert enriched.facts["key_vault_id"] == KEY_VAULT
    assert enriched.code == "UserErrorMSIMissingPermissions"
    assert "Read access on the PG server" in (enriched.facts.get("recommended_action") or "")
    assert enriched.notes == []
    # Secrets are never read: only the vault's control-plane resources were asked for.
    assert not any("/secrets/" in path for path in arm.gets())
    assert all(s.headers["authorization"] == "Bearer test-arm-token" for s in arm.seen)


def test_api_code_fills_a_missing_code_and_the_real_message(arm: ArmServer, enricher: AzureBackupEnricher) -> None:
    arm.load("dp-vault-bv-pg-prod-01", f"dp-job-{MSI}")
    failure = parsed(MSI).model_copy(update={"code": None, "message": "Backup Failure"})
    enriched = enricher.enrich(failure)
    assert enriched.code == "UserErrorMSIMissingPermissions"
    assert enriched.message == "Give Backup Vault MSI Read access on the PG server you want to back up or restore."


def test_restore_target_container_scope(arm: ArmServer, enricher: AzureBackupEnricher) -> None:
    arm.load("dp-vault-bv-pg-prod-01", f"dp-job-{CONTAINER}",
             "dp-backup-instance-pg-orders-prod-orders-5b58efd9-e5af-e383-6702-ead50b5b6386",
             "resources-keyvault-kv-pg-prod-01", "resources-storage-stpgrestoreprod01")
    enriched = enricher.enrich(parsed(CONTAINER))
    assert enriched.job_type == "restore"
    assert enriched.facts["storage_account_id"] == STORAGE
    assert enriched.facts["container_scope"] == f"{STORAGE}/blobServices/default/containers/pg-restores"
    assert enriched.facts["vault_principal_id"] == BV_PRINCIPAL


def test_restore_to_another_server_names_the_target_server(arm: ArmServer, enricher: AzureBackupEnricher) -> None:
    target = SERVER.replace("pg-orders-prod", "pg-orders-restore")
    arm.load("dp-vault-bv-pg-prod-01")
    job_path = f"{BV}/backupJobs/8487a438-9ecc-0ada-3f6d-ba1c50884adf"
    arm.add(job_path, {"properties": {"operationCategory": "Restore", "status": "Failed",
                                      "extendedInfo": {"recoveryDestination": target + "/databases/orders"},
                                      "errorDetails": [{"code": "UserErrorMSIMissingPermissions",
                                                        "message": "Give Backup Vault MSI Read access."}]}})
    failure = parsed(CONTAINER)
    enriched = enricher.enrich(failure)
    assert enriched.facts["server_id"] == target
    assert enriched.facts["source_server_id"].lower() == SERVER.lower()


def test_user_assigned_identity_of_the_backup_instance(arm: ArmServer, enricher: AzureBackupEnricher) -> None:
    uami = f"/subscriptions/{SUB}/resourcegroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami-backup"
    uami_principal = "5b5b5b5b-1111-4222-8333-944444444444"
    arm.load(f"dp-job-{MSI}")
    arm.add(BV, {"identity": {"type": "SystemAssigned, UserAssigned", "principalId": BV_PRINCIPAL,
                              "userAssignedIdentities": {uami.replace("resourcegroups", "resourceGroups"): {
                                  "principalId": uami_principal, "clientId": "00000000-0000-0000-0000-000000000001"}}}})
    instance = parsed(MSI).facts["protected_item_id"]
    arm.add(instance, {"properties": {"dataSourceSetInfo": {"resourceID": SERVER},
                                      "identityDetails": {"useSystemAssignedIdentity": False,
                                                          "userAssignedIdentityArmUrl": uami}}})
    enriched = enricher.enrich(parsed(MSI))
    assert enriched.facts["vault_principal_id"] == uami_principal
    assert enriched.facts["vault_identity_type"] == "UserAssigned"


def test_vault_without_identity_is_said(arm: ArmServer, enricher: AzureBackupEnricher) -> None:
    arm.add(BV, {"identity": {"type": "None"}, "properties": {}})
    enriched = enricher.enrich(parsed(MSI))
    assert "vault_principal_id" not in enriched.facts
    assert any("no managed identity" in note for note in enriched.notes)


def test_recovery_services_job_and_ade_key_vault(arm: ArmServer, enricher: AzureBackupEnricher) -> None:
    arm.load("rs-vault-rsv-vm-prod-01", f"rs-job-{ADE}", "vm-ade-prod-01", "disk-vm-ade-prod-01-osdisk")
    failure = parsed(ADE)
    enriched = enricher.enrich(failure)
    assert enriched.facts["vault_principal_id"] == RSV_PRINCIPAL
    assert enriched.facts["key_vault_id"] == ADE_KEY_VAULT
    assert enriched.facts["key_vault_name"] == "kv-ade-prod-01"
    assert enriched.facts["vm_encryption"] == "ADE with KEK"
    # The IaaS VM job's errorCode is a number: the alert's documented code is kept.
    assert enriched.code == failure.code
    assert any("/backupjobs/" in p for p in arm.gets())


def test_vm_failures_unrelated_to_encryption_spare_the_vm_calls(arm: ArmServer, enricher: AzureBackupEnricher) -> None:
    arm.load("rs-vault-rsv-vm-prod-01", f"rs-job-{NO_NETWORK}", "vm-ade-prod-01", "disk-vm-ade-prod-01-osdisk")
    enriched = enricher.enrich(parsed(NO_NETWORK))
    assert enriched.facts["vault_principal_id"] == RSV_PRINCIPAL
    assert not any("/virtualmachines/" in p and "/backupjobs/" not in p for p in arm.gets())
    assert "key_vault_id" not in enriched.facts


def test_resolved_alerts_are_not_enriched(arm: ArmServer, enricher: AzureBackupEnricher) -> None:
    raw = load_event(f"azure/{MSI}.json")
    raw["data"]["essentials"]["monitorCondition"] = "Resolved"
    failure = Pipeline().parse(raw)
    assert failure.recovered
    assert enricher.enrich(failure) == failure
    assert arm.seen == []


def test_failed_calls_are_notes_not_errors(arm: ArmServer, enricher: AzureBackupEnricher) -> None:
    arm.add(f"{BV}/backupJobs/3a37dfe7-0239-3e0f-a6c8-bbc2a299e490",
            {"error": {"code": "AuthorizationFailed", "message": "The client 'x' with object id 'y' does not have ..."}},
            status=403)
    arm.load("dp-vault-bv-pg-prod-01")
    enriched = enricher.enrich(parsed(MSI))
    assert enriched.facts["vault_principal_id"] == BV_PRINCIPAL  # later calls still ran
    assert any("HTTP 403 AuthorizationFailed" in note for note in enriched.notes)
    assert not any("object id" in note for note in enriched.notes)  # ARM's message is not copied


def test_a_vanished_job_is_noted(arm: ArmServer, enricher: AzureBackupEnricher) -> None:
    arm.load("dp-vault-bv-pg-prod-01")
    enriched = enricher.enrich(parsed(MSI))
    assert any("no longer listed" in note for note in enriched.notes)
    assert enriched.facts["vault_principal_id"] == BV_PRINCIPAL


def test_budget_stops_a_slow_resource_manager(arm: ArmServer, enricher: AzureBackupEnricher) -> None:
    arm.load("dp-vault-bv-pg-prod-01", f"dp-job-{MSI}")
    clock = FakeClock()
    arm.slow_down(clock, 0.4)  # each answer takes 0.4 s on the enricher's clock
    slow = AzureBackupEnricher(enricher.arm, budget_seconds=0.5, clock=clock.monotonic)
    enriched = slow.enrich(parsed(MSI))
    assert any("Enrichment stopped after 0.5 s" in note for note in enriched.notes)
    assert len(arm.seen) <= 3


def test_no_credential_stops_enrichment_with_one_note(arm: ArmServer) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    from functions.azure.enrich import ArmClient

    class NoCredential:
        def get_token(self, *scopes: str, **kwargs: object) -> None:
            raise ClientAuthenticationError("no credential in this environment")

    enricher = AzureBackupEnricher(ArmClient(NoCredential(), endpoint=arm.url))  # type: ignore[arg-type]
    enriched = enricher.enrich(parsed(MSI))
    assert len(enriched.notes) == 1 and "no usable Azure credential" in enriched.notes[0]
    assert arm.seen == []


def test_through_the_pipeline_the_plan_names_principal_role_and_scope(
        arm: ArmServer, enricher: AzureBackupEnricher) -> None:
    arm.load("dp-vault-bv-pg-prod-01", f"dp-job-{MSI}",
             "dp-backup-instance-pg-orders-prod-orders-bbed2cf3-dfc8-df07-413d-f4f73ef8c9fc",
             "resources-keyvault-kv-pg-prod-01")
    outcome = Pipeline(enrichers=[enricher]).process(load_event(f"azure/{MSI}.json"))
    assert outcome.finding.cause == "azure.postgres.vault-msi-reader"
    assert outcome.plan is not None
    [assignment] = outcome.plan.role_assignments
    assert assignment.role == "Reader"
    assert assignment.role_definition_id == "acdd72a7-3385-48ef-bd42-f606fba81ae7"
    assert assignment.principal_id == BV_PRINCIPAL
    assert assignment.scope.lower() == SERVER.lower()
    assert "vault_principal_id" not in outcome.plan.missing


@pytest.mark.parametrize("vault_id", [None, "/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/z"])
def test_nothing_to_read_without_a_backup_vault(arm: ArmServer, enricher: AzureBackupEnricher,
                                               vault_id: str | None) -> None:
    failure = parsed(MSI).model_copy(update={"vault_id": vault_id})
    enriched = enricher.enrich(failure)
    assert arm.seen == []
    assert "vault_principal_id" not in enriched.facts
