"""Writes the ARM recordings in this folder from the Azure alert fixtures they belong to.

Run from the repository root (``python tests/azure/arm/make_recordings.py``) after a fixture under
``tests/events/azure/`` changes. See README.md here for where each response shape comes from.
"""

import json
import pathlib
import re
from typing import Any

EV = pathlib.Path("tests/events/azure")
OUT = pathlib.Path("tests/azure/arm")
SUB = "11112222-bbbb-3333-cccc-4444dddd5555"
TENANT = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
BV = f"/subscriptions/{SUB}/resourceGroups/rg-backup-prod/providers/Microsoft.DataProtection/backupVaults/bv-pg-prod-01"
RSV = f"/subscriptions/{SUB}/resourceGroups/rg-backup-prod/providers/Microsoft.RecoveryServices/vaults/rsv-vm-prod-01"
BV_PRINCIPAL = "7c1f6a2e-3b9d-4e5f-8a21-0d9c6b4e2f13"
RSV_PRINCIPAL = "2d6e8f10-5a4b-4c3d-9e8f-7a6b5c4d3e21"
SERVER = f"/subscriptions/{SUB}/resourceGroups/rg-data-prod/providers/Microsoft.DBforPostgreSQL/servers/pg-orders-prod"
KV = f"/subscriptions/{SUB}/resourceGroups/rg-sec-prod/providers/Microsoft.KeyVault/vaults/kv-pg-prod-01"
ADE_KV = f"/subscriptions/{SUB}/resourceGroups/rg-sec-prod/providers/Microsoft.KeyVault/vaults/kv-ade-prod-01"
STORAGE = (
    f"/subscriptions/{SUB}/resourceGroups/rg-restore-prod/providers/Microsoft.Storage/storageAccounts/stpgrestoreprod01"
)
VM = f"/subscriptions/{SUB}/resourceGroups/rg-app-prod/providers/Microsoft.Compute/virtualMachines/vm-ade-prod-01"
OSDISK = (
    f"/subscriptions/{SUB}/resourceGroups/rg-app-prod/providers/Microsoft.Compute/disks/vm-ade-prod-01_OsDisk_1_3f2a"
)


def write(name: str, path: str, body: Any, status: int = 200, filt: str | None = None, note: str = "") -> None:
    request: dict[str, str] = {"method": "GET", "path": path}
    if filt:
        request["filter"] = filt
    rec = {"source": note, "request": request, "response": {"status": status, "body": body}}
    (OUT / f"{name}.json").write_text(json.dumps(rec, indent=2, ensure_ascii=False) + "\n")


def alert(name: str) -> Any:
    return json.loads((EV / f"{name}.json").read_text())["data"]


write(
    "dp-vault-bv-pg-prod-01",
    BV,
    {
        "name": "bv-pg-prod-01",
        "type": "Microsoft.DataProtection/Backupvaults",
        "id": BV,
        "location": "eastus",
        "identity": {"type": "SystemAssigned", "principalId": BV_PRINCIPAL, "tenantId": TENANT},
        "properties": {
            "provisioningState": "Succeeded",
            "monitoringSettings": {"azureMonitorAlertSettings": {"alertsForAllJobFailures": "Enabled"}},
            "storageSettings": [{"type": "LocallyRedundant", "datastoreType": "VaultStore"}],
        },
    },
    note="BackupVaults_Get (examples GetBackupVaultWithMSI.json), ids renamed to the fixtures'",
)

write(
    "rs-vault-rsv-vm-prod-01",
    RSV,
    {
        "name": "rsv-vm-prod-01",
        "type": "Microsoft.RecoveryServices/vaults",
        "id": RSV,
        "location": "eastus",
        "identity": {"type": "SystemAssigned", "principalId": RSV_PRINCIPAL, "tenantId": TENANT},
        "sku": {"name": "Standard"},
        "properties": {"provisioningState": "Succeeded"},
    },
    note="Vaults_Get (Microsoft.RecoveryServices vaults.json, 2024-04-01), ids renamed",
)

pg_jobs = {
    "seed000-pgsql-backup-usererrormsimissingpermissions": ("UserErrorMSIMissingPermissions", "Backup", None),
    "seed000-pgsql-backup-usererrorbackupuserauthfailed": ("UserErrorBackupUserAuthFailed", "Backup", None),
    "seed000-pgsql-backup-usererrormissingnetworksecuritypermissions": (
        "UserErrorMissingNetworkSecurityPermissions",
        "Backup",
        None,
    ),
    "seed001-pgsql-backup-usererrormissingdbpermissions": ("UserErrorMissingDBPermissions", "Backup", None),
    "seed000-pgsql-restore-usererrorcontainernotaccessible": (
        "UserErrorContainerNotAccessible",
        "Restore",
        "https://stpgrestoreprod01.blob.core.windows.net/pg-restores",
    ),
    "seed001-pgsql-backup-usererrormissingpermissionsonsecretstore": (
        "UserErrorMissingPermissionsOnSecretStore",
        "Backup",
        None,
    ),
    "seed001-pgsql-restore-usererrormissingdbpermissions": (
        "UserErrorMissingDBPermissions",
        "Restore",
        SERVER + "/databases/orders_restored",
    ),
}
instance_ids = {}
for fixture, (code, op, dest) in pg_jobs.items():
    data = alert(fixture)
    ctx = data["alertContext"]
    ess = data["essentials"]
    job = ctx["extendedInfo"]["jobId"]
    instance = ctx["protectedItemId"]
    instance_ids[instance] = ctx["sourceId"]
    db = ctx["sourceId"].rstrip("/").rsplit("/", 1)[-1]
    rec = ctx["extendedInfo"]["recommendedActions"]
    rec = re.sub(r"\s*For troubleshooting instructions, see https://aka.ms/\S+$", "", rec)
    props = {
        "activityID": "c4344fb4-7c11-43a4-8307-7ae7c7fb09b9",
        "backupInstanceFriendlyName": "pg-orders-prod\\" + db,
        "backupInstanceId": instance,
        "dataSourceId": ctx["sourceId"],
        "dataSourceLocation": "eastus",
        "dataSourceName": db,
        "dataSourceSetName": "pg-orders-prod",
        "dataSourceType": "Microsoft.DBforPostgreSQL/servers/databases",
        "duration": "00:02:11",
        "errorDetails": [
            {
                "code": code,
                "message": ess["description"],
                "recommendedAction": [rec],
                "isRetryable": False,
                "isUserError": True,
            }
        ],
        "extendedInfo": {
            "additionalDetails": {"PolicyRuleName": "BackupDaily", "RetentionTag": "Default"},
            "subTasks": [
                {
                    "taskId": 1,
                    "taskName": "Trigger Backup" if op == "Backup" else "Trigger Restore",
                    "taskStatus": "Failed",
                }
            ],
        },
        "isUserTriggered": op == "Restore",
        "operation": op if op == "Backup" else "Restore",
        "operationCategory": op,
        "policyId": f"{BV}/backupPolicies/pg-daily",
        "policyName": "pg-daily",
        "progressEnabled": False,
        "sourceResourceGroup": "rg-data-prod",
        "sourceSubscriptionID": SUB,
        "startTime": "2026-11-21T01:00:03.7604146Z",
        "endTime": "2026-11-21T01:02:14.1504146Z",
        "status": "Failed",
        "subscriptionId": SUB,
        "supportedActions": [""],
        "vaultName": "bv-pg-prod-01",
    }
    if dest:
        props["extendedInfo"]["recoveryDestination"] = dest
    write(
        f"dp-job-{fixture}",
        f"{BV}/backupJobs/{job}",
        {
            "name": job,
            "type": "Microsoft.DataProtection/Backupvaults/backupJobs",
            "id": f"{BV}/backupJobs/{job}",
            "properties": props,
        },
        note="Jobs_Get (examples JobCRUD/GetJob.json) with status Failed and errorDetails (UserFacingError: code, "
        "message, recommendedAction) holding the documented code and text of this fixture's alert",
    )

for instance, source in sorted(instance_ids.items()):
    db = source.rstrip("/").rsplit("/", 1)[-1]
    write(
        "dp-backup-instance-" + instance.rsplit("/", 1)[-1],
        instance,
        {
            "name": instance.rsplit("/", 1)[-1],
            "type": "Microsoft.DataProtection/backupVaults/backupInstances",
            "id": instance,
            "properties": {
                "dataSourceInfo": {
                    "datasourceType": "Microsoft.DBforPostgreSQL/servers/databases",
                    "objectType": "Datasource",
                    "resourceID": SERVER + "/databases/" + db,
                    "resourceLocation": "eastus",
                    "resourceName": db,
                    "resourceType": "Microsoft.DBforPostgreSQL/servers/databases",
                    "resourceUri": "",
                },
                "dataSourceSetInfo": {
                    "datasourceType": "Microsoft.DBforPostgreSQL/servers/databases",
                    "objectType": "DatasourceSet",
                    "resourceID": SERVER,
                    "resourceLocation": "eastus",
                    "resourceName": "pg-orders-prod",
                    "resourceType": "Microsoft.DBforPostgreSQL/servers",
                    "resourceUri": "",
                },
                "datasourceAuthCredentials": {
                    "objectType": "SecretStoreBasedAuthCredentials",
                    "secretStoreResource": {
                        "secretStoreType": "AzureKeyVault",
                        "uri": "https://kv-pg-prod-01.vault.azure.net/secrets/pg-orders-backup",
                    },
                },
                "friendlyName": "pg-orders-prod\\" + db,
                "objectType": "BackupInstance",
                "policyInfo": {"policyId": f"{BV}/backupPolicies/pg-daily", "policyVersion": "3.2"},
                "protectionStatus": {"status": "ProtectionConfigured"},
                "provisioningState": "Succeeded",
            },
        },
        note="BackupInstances_Get (examples PutBackupInstance.json request body: datasourceAuthCredentials with a "
        "Key Vault secret URI), ids renamed to the fixtures'",
    )

write(
    "pg-server-pg-orders-prod",
    SERVER,
    {
        "id": SERVER,
        "name": "pg-orders-prod",
        "type": "Microsoft.DBforPostgreSQL/servers",
        "location": "eastus",
        "sku": {"name": "GP_Gen5_2", "tier": "GeneralPurpose", "family": "Gen5", "capacity": 2},
        "properties": {
            "administratorLogin": "pgadmin",
            "version": "11",
            "sslEnforcement": "Enabled",
            "userVisibleState": "Ready",
            "fullyQualifiedDomainName": "pg-orders-prod.postgres.database.azure.com",
            "storageProfile": {"backupRetentionDays": 7, "geoRedundantBackup": "Disabled", "storageMB": 128000},
        },
    },
    note="Servers_Get, Microsoft.DBforPostgreSQL 2017-12-01 (examples ServerGet.json), ids renamed to the "
    "fixtures'; read before a role assignment on the server is written",
)
write(
    "resources-keyvault-kv-pg-prod-01",
    f"/subscriptions/{SUB}/resources",
    {"value": [{"id": KV, "name": "kv-pg-prod-01", "type": "Microsoft.KeyVault/vaults", "location": "eastus"}]},
    filt="resourceType eq 'Microsoft.KeyVault/vaults' and name eq 'kv-pg-prod-01'",
    note="Resources_List with $filter on resourceType and name",
)
write(
    "resources-storage-stpgrestoreprod01",
    f"/subscriptions/{SUB}/resources",
    {
        "value": [
            {
                "id": STORAGE,
                "name": "stpgrestoreprod01",
                "type": "Microsoft.Storage/storageAccounts",
                "kind": "StorageV2",
                "location": "eastus",
            }
        ]
    },
    filt="resourceType eq 'Microsoft.Storage/storageAccounts' and name eq 'stpgrestoreprod01'",
    note="Resources_List with $filter on resourceType and name",
)

vm_jobs = {
    "seed002-vm-backup-usererrorkeyvaultpermissionsnotconfigured": "Backup",
    "seed002-vm-backup-extensionsnapshotfailednonetwork": "Backup",
    "seed002-vm-restore-usererrorcrosssubscriptionrestorenotsuppportedforencryptedazurevm": "Restore",
}
for fixture, op in vm_jobs.items():
    data = alert(fixture)
    ctx = data["alertContext"]
    ess = data["essentials"]
    job = ctx["extendedInfo"]["jobId"]
    rec = re.sub(
        r"\s*For troubleshooting instructions, see https://aka.ms/\S+$", "", ctx["extendedInfo"]["recommendedActions"]
    )
    write(
        f"rs-job-{fixture}",
        f"{RSV}/backupJobs/{job}",
        {
            "id": f"{RSV}/backupJobs/{job}",
            "name": job,
            "type": "Microsoft.RecoveryServices/vaults/backupJobs",
            "properties": {
                "jobType": "AzureIaaSVMJob",
                "duration": "PT4M12.8782791S",
                "virtualMachineVersion": "Compute",
                "errorDetails": [
                    {"errorCode": 400001, "errorString": ess["description"], "errorTitle": "", "recommendations": [rec]}
                ],
                "extendedInfo": {
                    "tasksList": [
                        {"taskId": "Take Snapshot", "duration": "PT4M", "status": "Failed"},
                        {"taskId": "Transfer data to vault", "duration": "PT0S", "status": "Cancelled"},
                    ],
                    "propertyBag": {"VM Name": "vm-ade-prod-01"},
                },
                "entityFriendlyName": "vm-ade-prod-01",
                "backupManagementType": "AzureIaasVM",
                "operation": op,
                "status": "Failed",
                "startTime": "2026-11-20T06:30:07.014604Z",
                "endTime": "2026-11-20T06:34:19.893Z",
                "activityId": "3b2c1d0e-9f8a-4b7c-a6d5-e4f3a2b1c0d9",
            },
        },
        note="JobDetails_Get (examples Common/GetJobDetails.json, AzureIaaSVMJob) with status Failed and errorDetails "
        "(AzureIaaSVMErrorInfo: errorCode is an int32 in the API, so the numeric value here is illustrative; "
        "errorString/recommendations carry the documented text of this fixture's alert)",
    )

write(
    "vm-ade-prod-01",
    VM,
    {
        "name": "vm-ade-prod-01",
        "id": VM,
        "type": "Microsoft.Compute/virtualMachines",
        "location": "eastus",
        "properties": {
            "vmId": "0f47b100-583c-48e3-a4c0-aefc2c9bbcc1",
            "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
            "storageProfile": {
                "osDisk": {
                    "osType": "Windows",
                    "name": "vm-ade-prod-01_OsDisk_1_3f2a",
                    "createOption": "FromImage",
                    "caching": "ReadWrite",
                    "managedDisk": {"storageAccountType": "Premium_LRS", "id": OSDISK},
                    "diskSizeGB": 127,
                },
                "dataDisks": [],
            },
            "provisioningState": "Succeeded",
        },
    },
    note="VirtualMachines_Get (Microsoft.Compute 2024-07-01), trimmed; ADE single-pass keeps the settings on the disk",
)
write(
    "disk-vm-ade-prod-01-osdisk",
    OSDISK,
    {
        "name": "vm-ade-prod-01_OsDisk_1_3f2a",
        "id": OSDISK,
        "type": "Microsoft.Compute/disks",
        "location": "eastus",
        "properties": {
            "osType": "Windows",
            "creationData": {"createOption": "FromImage"},
            "diskSizeGB": 127,
            "encryptionSettingsCollection": {
                "enabled": True,
                "encryptionSettingsVersion": "1.1",
                "encryptionSettings": [
                    {
                        "diskEncryptionKey": {
                            "sourceVault": {"id": ADE_KV},
                            "secretUrl": "https://kv-ade-prod-01.vault.azure.net/secrets/0f47b100-ade-bek/5e1a7c",
                        },
                        "keyEncryptionKey": {
                            "sourceVault": {"id": ADE_KV},
                            "keyUrl": "https://kv-ade-prod-01.vault.azure.net/keys/ade-kek/9d2b4f",
                        },
                    }
                ],
            },
            "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
            "provisioningState": "Succeeded",
            "diskState": "Attached",
        },
    },
    note="Disks_Get (Microsoft.Compute disk.json 2024-03-02) with encryptionSettingsCollection as Azure Disk Encryption sets it",
)


# ------------------------------------------------------------------ disk and blob (Backup vault)
BV_DISK = BV.replace("bv-pg-prod-01", "bv-disk-prod-01")
BV_DISK_PRINCIPAL = "4e6a8c0f-2b4d-4f68-8a0c-1e3f5a7c9b02"
SNAPSHOT_RG = f"/subscriptions/{SUB}/resourceGroups/rg-snapshots-prod"
write(
    "dp-vault-bv-disk-prod-01",
    BV_DISK,
    {
        "name": "bv-disk-prod-01",
        "type": "Microsoft.DataProtection/Backupvaults",
        "id": BV_DISK,
        "location": "eastus",
        "identity": {"type": "SystemAssigned", "principalId": BV_DISK_PRINCIPAL, "tenantId": TENANT},
        "properties": {
            "provisioningState": "Succeeded",
            "storageSettings": [{"type": "LocallyRedundant", "datastoreType": "VaultStore"}],
        },
    },
    note="BackupVaults_Get (examples GetBackupVaultWithMSI.json), ids renamed to the fixtures'",
)
for fixture, vault, kind, store_rg in (
    ("disk-backup-usererrormissingrequiredpermissions", BV_DISK, "Microsoft.Compute/disks", SNAPSHOT_RG),
    ("blob-backup-usererrormissingrequiredpermissions", BV, "Microsoft.Storage/storageAccounts/blobServices", None),
):
    data = alert(fixture)
    ctx = data["alertContext"]
    ess = data["essentials"]
    job = ctx["extendedInfo"]["jobId"]
    instance = ctx["protectedItemId"]
    source = ctx["sourceId"]
    rec = re.sub(
        r"\s*For troubleshooting instructions, see https://aka.ms/\S+$", "", ctx["extendedInfo"]["recommendedActions"]
    )
    name = source.rstrip("/").rsplit("/", 1)[-1]
    write(
        f"dp-job-{fixture}",
        f"{vault}/backupJobs/{job}",
        {
            "name": job,
            "type": "Microsoft.DataProtection/Backupvaults/backupJobs",
            "id": f"{vault}/backupJobs/{job}",
            "properties": {
                "backupInstanceId": instance,
                "backupInstanceFriendlyName": name,
                "dataSourceId": source,
                "dataSourceName": name,
                "dataSourceType": kind,
                "dataSourceLocation": "eastus",
                "errorDetails": [
                    {
                        "code": "UserErrorMissingRequiredPermissions",
                        "message": ess["description"],
                        "recommendedAction": [rec],
                        "isRetryable": False,
                        "isUserError": True,
                    }
                ],
                "operation": "Backup",
                "operationCategory": "Backup",
                "status": "Failed",
                "startTime": "2026-11-21T02:00:03.7604146Z",
                "subscriptionId": SUB,
                "vaultName": vault.rsplit("/", 1)[-1],
                "isUserTriggered": False,
            },
        },
        note="Jobs_Get (examples JobCRUD/GetJob.json) with status Failed and errorDetails (UserFacingError)",
    )
    props = {
        "dataSourceInfo": {
            "datasourceType": kind,
            "objectType": "Datasource",
            "resourceID": source,
            "resourceLocation": "eastus",
            "resourceName": name,
            "resourceType": kind.rsplit("/", 1)[0],
        },
        "dataSourceSetInfo": {
            "datasourceType": kind,
            "objectType": "DatasourceSet",
            "resourceID": source,
            "resourceLocation": "eastus",
            "resourceName": name,
            "resourceType": kind.rsplit("/", 1)[0],
        },
        "friendlyName": name,
        "objectType": "BackupInstance",
        "policyInfo": {"policyId": f"{vault}/backupPolicies/daily", "policyVersion": "3.2"},
        "protectionStatus": {"status": "ProtectionConfigured"},
        "provisioningState": "Succeeded",
    }
    if store_rg:
        props["policyInfo"]["policyParameters"] = {
            "dataStoreParametersList": [
                {
                    "dataStoreType": "OperationalStore",
                    "objectType": "AzureOperationalStoreParameters",
                    "resourceGroupId": store_rg,
                }
            ]
        }
    write(
        "dp-backup-instance-" + instance.rsplit("/", 1)[-1],
        instance,
        {
            "name": instance.rsplit("/", 1)[-1],
            "type": "Microsoft.DataProtection/backupVaults/backupInstances",
            "id": instance,
            "properties": props,
        },
        note="BackupInstances_Get (examples PutBackupInstance.json: policyParameters.dataStoreParametersList with the "
        "operational store's resourceGroupId, the snapshot resource group of disk backups), ids renamed",
    )
