"""Workload detection on Azure Backup alerts, one row per fixture.

Each fixture's note (``tests/events/azure/<name>.source.md``) says where it came from. Only the SQL alert
is a captured built-in alert; the metric alerts are Microsoft's documented metric-alert sample carrying the
documented ``BackupHealthEvent`` dimension values, which name the workload only in
``condition.allOf[].dimensions`` as ``{"name": ..., "value": ...}`` pairs.
"""

from __future__ import annotations

import pytest

from shared.catalog import default_catalog
from shared.models import Failure
from shared.parse import parse_event
from shared.parse.azure import workload_of
from tests.conftest import load_event

#: fixture -> (workload, job type, code in documented spelling, vault name)
ALERTS: dict[str, tuple[str, str, str | None, str]] = {
    "azure-backup-backup-failure-sql-usererrorparentfullbackupmissing.json":
        ("sql", "backup", "UserErrorParentFullBackupMissing", "rsv-infra-prod-01"),
    "backup-health-event-metric-afs.json": ("afs", "backup", None, "testVault"),
    "backup-health-event-metric-saphana.json": ("saphana", "backup", None, "testVault"),
}


def parsed(name: str) -> Failure:
    return parse_event(load_event(f"azure/{name}"), default_catalog().codes)


@pytest.mark.parametrize(("name", "workload"), [(n, row[0]) for n, row in ALERTS.items()], ids=list(ALERTS))
def test_workload_is_detected(name: str, workload: str) -> None:
    assert parsed(name).resource_type == workload


@pytest.mark.parametrize(("name", "job_type"), [(n, row[1]) for n, row in ALERTS.items()], ids=list(ALERTS))
def test_job_type_is_detected(name: str, job_type: str) -> None:
    assert parsed(name).job_type == job_type


@pytest.mark.parametrize(("name", "code"), [(n, row[2]) for n, row in ALERTS.items()], ids=list(ALERTS))
def test_code_is_in_documented_spelling(name: str, code: str | None) -> None:
    assert parsed(name).code == code


@pytest.mark.parametrize(("name", "vault"), [(n, row[3]) for n, row in ALERTS.items()], ids=list(ALERTS))
def test_a_fired_alert_is_a_failure_in_its_vault(name: str, vault: str) -> None:
    failure = parsed(name)
    assert failure.failed and not failure.recovered
    assert failure.vault_name == vault


# The values Azure Backup writes into workloadType / backupManagementType / datasourceType, as the
# Recovery Services and Data Protection REST API specifications define them (azure-rest-api-specs:
# recoveryservicesbackup WorkloadType and BackupManagementType enums; dataprotection datasourceType).
@pytest.mark.parametrize(("hint", "workload"), [
    ("Microsoft.DBforMySQL/flexibleServers", "mysql-flex"),
    ("Azure Database for MySQL flexible servers", "mysql-flex"),
    ("Microsoft.DBforPostgreSQL/flexibleServers", "postgresql-flex"),
    ("Microsoft.DBforPostgreSQL/servers/databases", "postgresql"),
    ("SAPHanaDatabase", "saphana"),
    ("SAPHanaDBInstance", "saphana-snapshot"),
    ("SQLDataBase", "sql"),
    ("AzureFileShare", "afs"),
    ("Microsoft.Storage/storageAccounts/fileServices/shares", "afs"),
    ("Microsoft.Storage/storageAccounts/blobServices", "blob"),
    ("Microsoft.Compute/disks", "disk"),
    ("Microsoft.ContainerService/managedClusters", "aks"),
    ("MAB", "mars"),
    ("FileFolder", "mars"),
    ("DPM", "dpm"),
    ("AzureBackupServer", "dpm"),
    ("AzureIaasVM", "vm"),
])
def test_every_documented_workload_value_names_its_workload(hint: str, workload: str) -> None:
    assert workload_of(hint) == workload


@pytest.mark.parametrize("segment", ["protectedItems", "PROTECTEDITEMS", "protectedItemſ", "protectedıtems"])
def test_the_protected_item_in_an_arm_id_names_its_workload(segment: str) -> None:
    """The item's name says what the vault protects, however the segment's letters fold (a long s, a
    dotless i: the pattern matches in any case)."""
    resource_id = ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/backupFabrics/"
                   f"Azure/protectionContainers/c/{segment}/SAPHanaDatabase;h1;db1")
    assert workload_of(resource_id) == "saphana"
