"""shared/catalog/azure_codes.yaml: every documented Azure Backup error code, and the script that writes it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.support.tools import load_tool

ROOT = Path(__file__).resolve().parent.parent
DATA_FILE = ROOT / "shared" / "catalog" / "azure_codes.yaml"
SCRIPT = ROOT / "tools" / "extract_azure_codes.py"
EXCERPTS = ROOT / "tests" / "events" / "azure-docs"
LEARN = "https://learn.microsoft.com/en-us/azure/backup/"
WORKLOADS = ("vm", "sql", "saphana", "saphana-snapshot", "afs", "blob", "disk", "postgresql", "postgresql-flex",
             "mysql-flex", "aks", "mars", "dpm", "vault")
FAMILIES = {"quota", "not-found", "invalid-state", "throttled", "conflict", "already-exists", "access-denied",
            "kms", "transient", "invalid-parameter", "unsupported"}
# Markdown or HTML left in a text (``<sid>`` is the docs' placeholder, not a tag).
MARKDOWN = re.compile(r"\*\*|\]\(|`|</?(br|li|ul|ol|p|a|b|i|em|strong|span|div|sup|table|td|tr)\b|&[a-z]+;|:::|^#"
                      r"|^\s*[-*] ", re.I)
# Codes the catalog's specific rules list that the docs read (see azure_codes.md) do not document: generic
# Azure Resource Manager codes, spellings the docs do not use (the docs write "NotSuppported"), and codes of
# newer articles than the ones read.
KNOWN_UNDOCUMENTED = {
    "DatamoverGenericError", "ExtensionOperationFailed", "ForbiddenByFirewall", "MissingSubscriptionRegistration",
    "RequestDisallowedByPolicy", "ScopeLocked", "UserErrorStorageAccountKeyAccessDisallowed",
    "KeyBasedAuthenticationNotPermitted",  # Azure Storage's own code, relayed inside Backup errors
    "UserErrorCrossSubscriptionRestoreNotSupportedForCRR",
    "UserErrorCrossSubscriptionRestoreNotSupportedForEncryptedAzureVM",
    "UserErrorCrossSubscriptionRestoreNotSupportedForOLR",
    "UserErrorCrossSubscriptionRestoreNotSupportedForTrustedLaunchAzureVM",
    "UserErrorCrossSubscriptionRestoreNotSupportedForUnManagedAzureVM",
    "UserErrorCrossSubscriptionRestoreNotSupportedFromSnapshot",
}


@pytest.fixture(scope="module")
def book() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_tool("extract_azure_codes")


def catalog_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for path in sorted((ROOT / "shared" / "catalog").glob("azure*.yaml")):
        if path != DATA_FILE:
            rules += (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("rules", [])
    return rules


def parse(script: ModuleType, name: str) -> list[Any]:
    found: list[Any] = script.parse_article(name, (EXCERPTS / name).read_text(encoding="utf-8"))
    return found


def by_code(found: list[Any]) -> dict[str | None, Any]:
    return {f.code: f for f in found}


# ------------------------------------------------------------------------------------------------- the data

def test_the_book_follows_its_schema(book: dict[str, Any]) -> None:
    assert book["workloads"] == list(WORKLOADS)
    assert set(book["families"]) == FAMILIES
    keys = {"code", "message", "description", "action", "workloads", "family", "cause", "cause_from", "inner_codes",
            "source", "sources"}
    for entry in book["entries"]:
        assert set(entry) == keys, entry
        assert entry["code"] is None or re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ]*", entry["code"]), entry["code"]
        assert entry["code"] or entry["message"], f"an entry without a code has a message: {entry}"
        assert entry["workloads"] and set(entry["workloads"]) <= set(WORKLOADS), entry
        assert entry["workloads"] == sorted(entry["workloads"], key=WORKLOADS.index), entry
        assert entry["source"] in entry["sources"], entry
        for source in entry["sources"]:
            assert source.startswith(LEARN) and " " not in source, source
        for item in (entry, *entry["inner_codes"]):
            assert item["family"] is None or item["family"] in FAMILIES, entry
            for name in ("description", "action", *(("message",) if item is entry else ())):
                text = item[name]
                assert text is None or (text.strip() == text and text and not MARKDOWN.search(text)), (name, entry)
            assert item["action"] is None or len(item["action"]) <= 301, entry
        for variant in entry["inner_codes"]:
            assert set(variant) == {"inner_code", "description", "action", "family", "cause", "cause_from", "source"}
            assert variant["inner_code"] != entry["code"] and variant["source"] in entry["sources"], entry


def test_every_cause_is_one_the_catalog_names(book: dict[str, Any], script: ModuleType) -> None:
    known = {rule["cause"] for rule in catalog_rules()} | set(script.FAMILY_CAUSES.values()) | {
        script.RESTORE_TARGET_EXISTS, script.KEY_UNAVAILABLE}
    for entry in book["entries"]:
        for item in (entry, *entry["inner_codes"]):
            assert (item["cause"] is None) == (item["cause_from"] is None), entry
            assert item["cause"] is None or item["cause"] in known, entry
            assert item["cause_from"] in (None, "catalog", "family"), entry


def test_the_book_covers_every_workload_and_reads_many_articles(book: dict[str, Any]) -> None:
    covered = {w for entry in book["entries"] for w in entry["workloads"]}
    assert covered == set(WORKLOADS)
    assert len(book["source"]["articles"]) >= 15
    assert len({e["code"] for e in book["entries"] if e["code"]}) >= 250


def test_one_entry_per_code_and_workload(book: dict[str, Any]) -> None:
    """A code documented twice for a workload is one entry (its sources list both places); an error documented
    by its message only is one entry per workload and message."""
    seen: set[tuple[Any, ...]] = set()
    for entry in book["entries"]:
        for workload in entry["workloads"]:
            key = (entry["code"], workload) if entry["code"] else (None, workload, entry["message"])
            assert key not in seen, key
            seen.add(key)


def test_the_committed_file_is_the_scripts_rendering(book: dict[str, Any], script: ModuleType) -> None:
    """Nobody edited the YAML by hand: rendering what it holds gives back the same text, byte for byte."""
    assert script.render(book) == DATA_FILE.read_text(encoding="utf-8")


def test_every_catalog_code_the_docs_document_is_in_the_book(book: dict[str, Any]) -> None:
    documented = {e["code"].lower() for e in book["entries"] if e["code"]}
    documented |= {v["inner_code"].lower() for e in book["entries"] for v in e["inner_codes"]}
    listed = {code for rule in catalog_rules() if not rule.get("family")
              for code in (rule.get("match") or {}).get("codes") or []}
    missing = {code for code in listed if code.lower() not in documented}
    assert missing <= KNOWN_UNDOCUMENTED, f"documented codes missing from the book: {sorted(missing - KNOWN_UNDOCUMENTED)}"
    assert not {code for code in KNOWN_UNDOCUMENTED if code.lower() in documented}, "update KNOWN_UNDOCUMENTED"


@pytest.mark.parametrize(("code", "workload", "cause"), [
    ("UserErrorMSIMissingPermissions", "postgresql", "azure.postgres.vault-msi-reader"),
    ("UserErrorGuestAgentStatusUnavailable", "vm", "azure.vm.agent-unreachable"),
    ("UserErrorSameNameDiskAlreadyExists", "disk", "azure.restore.target-exists"),
    ("CloudDosAbsoluteLimitReached", "saphana", "azure.operation.concurrent-limit"),
])
def test_a_code_the_catalog_lists_takes_that_rules_cause(book: dict[str, Any], code: str, workload: str,
                                                         cause: str) -> None:
    entries = [e for e in book["entries"] if e["code"] == code and workload in e["workloads"]]
    assert entries and {e["cause"] for e in entries} == {cause}
    assert {e["cause_from"] for e in entries} == {"catalog"}


def test_an_umbrella_code_keeps_each_documented_meaning_as_a_variant(book: dict[str, Any]) -> None:
    (flex,) = [e for e in book["entries"] if e["code"] == "PostgreSQLFlexOperationFailedUserError"]
    assert {v["inner_code"]: v["cause"] for v in flex["inner_codes"]} == {
        "ServerNotReadyForLongTermBackup": "azure.postgres-flex.server-not-ready",
        "ResourceGroupNotFound": "azure.resource.not-found",
        "ResourceNotFound": "azure.resource.not-found",
        "AuthorizationFailed": "azure.postgres-flex.vault-msi-permissions"}
    assert {v["family"] for v in flex["inner_codes"]} == {"invalid-state", "not-found", "access-denied"}
    # the code alone says less than any of its variants
    assert (flex["family"], flex["cause"], flex["action"]) == (None, None, None)
    assert len(flex["sources"]) == 4  # the article documents it under four headings of the same name


def test_message_only_errors_are_entries_without_a_code(book: dict[str, Any]) -> None:
    messages = {e["message"] for e in book["entries"] if e["code"] is None}
    assert "Replica is inconsistent" in messages  # DPM / Azure Backup Server
    assert any(m.startswith("Invalid vault credentials provided.") for m in messages)  # MARS agent


# ----------------------------------------------------------------------------------------------- the parser

def test_the_heading_and_block_forms(script: ModuleType) -> None:
    found = by_code(parse(script, "backup-azure-vms-troubleshoot.md"))
    assert {code for code in found if code} == {
        "CopyingVHDsFromBackUpVaultTakingLongTime", "UserErrorVmNotInDesirableState", "UserErrorFsFreezeFailed",
        "ExtensionSnapshotFailedCOM", "ExtensionInstallationFailedCOM", "ExtensionInstallationFailedMDTC",
        "UserErrorMarketPlaceVMNotSupported", "ResourceNotFound", "BCMV2VMNotFound", "UserErrorUnableToOpenMount"}
    assert found["BCMV2VMNotFound"].message == "The virtual machine doesn't exist"
    assert found["ResourceNotFound"].message == "Could not perform the operation as VM no longer exists."
    assert found["ExtensionInstallationFailedCOM"].message == "Extension installation/operation failed due to a COM+ error"
    # three codes in one section share the steps under the last one
    assert found["ExtensionSnapshotFailedCOM"].action == found["ExtensionInstallationFailedMDTC"].action
    assert found["ExtensionSnapshotFailedCOM"].action.startswith("The Backup operation failed due to an issue")
    assert found["ExtensionSnapshotFailedCOM"].anchor == (
        "extensionsnapshotfailedcom--extensioninstallationfailedcom--extensioninstallationfailedmdtc"
        "---extension-installationoperation-failed-due-to-a-com-error")
    assert found["ResourceNotFound"].anchor.startswith("320001-resourcenotfound---could-not-perform-the-operation")
    assert found["UserErrorMarketPlaceVMNotSupported"].message == (
        "VM creation failed due to Market Place purchase request being not present.")
    unable = found["UserErrorUnableToOpenMount"]
    assert unable.message is None  # documented with a cause, not a message
    assert unable.description.startswith("Backups failed because the backup extensions on the VM were unable")
    assert unable.action.startswith("The backup extension on the VM must be able to access all mount points")
    assert found["UserErrorFsFreezeFailed"].action.startswith("Step 1: Unmount the devices")


def test_a_message_only_table(script: ModuleType) -> None:
    jobs = [f for f in parse(script, "backup-azure-vms-troubleshoot.md") if f.code is None]
    assert jobs[0].message == "Cancellation isn't supported for this job type: Wait until the job finishes."
    assert len(jobs) == 4 and all(f.anchor == "jobs" for f in jobs)
    assert jobs[0].action is None  # "None" in the Workaround column
    assert jobs[2].action == "This error happens because of a transitory state. Wait a minute and retry the cancel operation."


def test_the_table_form_and_codes_in_running_text(script: ModuleType) -> None:
    found = by_code(parse(script, "backup-sql-server-azure-troubleshoot.md"))
    assert set(found) == {"UserErrorSQLNoSysadminMembership", "UserErrorSQLPODoesNotExist",
                          "CloudDosAbsoluteLimitReached", "WorkloadExtensionNotReachable",
                          "UserErrorWorkloadExtensionNotInstalled", "WorkloadExtensionNotPresent",
                          "WorkloadExtensionDidntDequeueMsg"}
    assert found["UserErrorSQLPODoesNotExist"].message == "SQL database does not exist."
    assert found["UserErrorSQLPODoesNotExist"].description == "The database was either deleted or renamed."
    # a row the docs wrote without its leading "|"
    assert found["CloudDosAbsoluteLimitReached"].message == (
        "Operation is blocked as you have reached the limit on number of operations permitted in 24 hours.")
    assert found["CloudDosAbsoluteLimitReached"].action.startswith("Typically, retrying the operation after 24 hours")
    mention = found["UserErrorWorkloadExtensionNotInstalled"]
    assert mention.message is None and mention.anchor == "re-registration-failures"
    assert "following error codes" in mention.description


def test_the_two_column_tables_and_split_headings(script: ModuleType) -> None:
    found = by_code(parse(script, "backup-azure-sap-hana-database-troubleshoot.md"))
    assert set(found) == {"UserErrorHANAPODoesNotExist", "OperationCancelledBecauseConflictingAutohealOperationRunningUserError",
                          "UserErrorHanaPreScriptNotRun", "UserErrorPreregistrationScriptNotRun",
                          "CloudDosAbsoluteLimitReached"}
    assert found["UserErrorHANAPODoesNotExist"].message == "Database configured for backup does not exist."
    assert found["UserErrorHANAPODoesNotExist"].action.startswith("Verify if the database is deleted.")
    # two headings without a body share the table under the second, at the first heading's anchor
    assert found["UserErrorHanaPreScriptNotRun"].message == found["UserErrorPreregistrationScriptNotRun"].message \
        == "Pre-registration script not run."
    assert found["UserErrorPreregistrationScriptNotRun"].anchor == "usererrorhanaprescriptnotrun"


def test_build_merges_a_code_two_workloads_document_alike(script: ModuleType, tmp_path: Path) -> None:
    for path in EXCERPTS.glob("*.md"):
        if not path.name.endswith(".source.md"):
            shutil.copy(path, tmp_path / path.name)
    built = script.build(tmp_path, script.load_catalog(), commit="0" * 40)
    dos = [e for e in built["entries"] if e["code"] == "CloudDosAbsoluteLimitReached"]
    assert len(dos) == 1 and dos[0]["workloads"] == ["sql", "saphana"]
    assert dos[0]["sources"] == [
        f"{LEARN}backup-azure-sap-hana-database-troubleshoot#clouddosabsolutelimitreached",
        f"{LEARN}backup-sql-server-azure-troubleshoot#clouddosabsolutelimitreached"]
    assert dos[0]["family"] == "throttled" and dos[0]["cause"] == "azure.operation.concurrent-limit"
    assert {a["version"] for a in built["source"]["articles"]} == {"0" * 40}
    assert script.render(built) == script.render(built)  # deterministic


def test_the_command_refuses_a_folder_that_is_not_there(script: ModuleType, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        script.main([str(tmp_path / "missing"), "--output", str(tmp_path / "out.yaml")])
    assert exit_info.value.code == 2
    assert "is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "out.yaml").exists()


# ---------------------------------------------------------------------------------------------- families

@pytest.mark.parametrize(("code", "message", "family"), [
    ("UserErrorMaxConcurrentOperationLimitReached", None, "throttled"),  # a limit, but of concurrent operations
    ("CloudDosAbsoluteLimitReached", None, "throttled"),
    ("UserErrorSubscriptionDiskQuotaLimitReached", None, "quota"),
    ("UserErrorRpCollectionLimitReached", None, "quota"),
    ("UserErrorSameNameDiskAlreadyExists", None, "already-exists"),
    ("UserErrorTargetPOExistsOverwriteNotSpecified", None, "already-exists"),  # "NotSpecified" says nothing
    ("UserErrorDESKeyVaultKeyNotAvailable", None, "kms"),  # not "NotAvailable" as unsupported
    ("UserErrorMSIPermissionsNotPresentOnDES", None, "kms"),
    ("UserErrorDiskBackupDiskOrMSIPermissionsNotPresent", None, "access-denied"),  # not "NotPresent" as gone
    ("UserErrorHANAInternalRoleNotPresent", None, "access-denied"),
    ("UserErrorBcmDatasourceNotPresent", None, "invalid-state"),  # paused protection, not a missing VM
    ("WorkloadExtensionNotPresent", None, "not-found"),
    ("UserErrorRestoreAFSInDeleteState", None, "not-found"),  # deleted for good
    ("UserErrorBackupAFSInSoftDeleteState", None, "invalid-state"),  # can still be undeleted
    ("UserErrorSecretValueInUnsupportedFormat", None, "invalid-parameter"),  # not "Unsupported" as a limitation
    ("UserErrorCrossSubscriptionRestoreNotSuppportedForOLR", None, "unsupported"),  # the docs' triple p
    ("UserErrorSQLPODoesNotSupportBackupType", None, "unsupported"),
    ("UserErrorBackupOperationInProgress", None, "conflict"),
    ("UserErrorConflictingFileSystemPresentOnTargetMachine", None, "already-exists"),  # not a conflict
    ("LongRunningBackupTrackingFailure", None, "transient"),
    ("PostgreSQLFlexOperationFailedUserError", None, None),  # an umbrella code says nothing by itself
    (None, "Replica is inconsistent", "invalid-state"),
    (None, "The Azure Backup Agent was unable to connect to the Azure Backup service.", None),
    (None, "Security PIN entered is incorrect. Provide the correct Security PIN to complete this operation.",
     "invalid-parameter"),
])
def test_families_of_tricky_codes(script: ModuleType, code: str | None, message: str | None,
                                  family: str | None) -> None:
    assert script.family_of(code, message) == family


def test_the_inner_code_decides_an_umbrella_codes_family(script: ModuleType) -> None:
    umbrella = "PostgreSQLFlexOperationFailedUserError"
    assert script.family_of(umbrella, None, "ServerNotReadyForLongTermBackup") == "invalid-state"
    assert script.family_of(umbrella, None, "AuthorizationFailed") == "access-denied"
    assert script.family_of(umbrella, None, "ResourceGroupNotFound") == "not-found"
