"""The parsers on the providers' documented payloads, quirks included."""

from __future__ import annotations

import copy

import pytest

from shared.catalog import default_catalog
from shared.parse import CodeBook, EventError, parse_event
from tests.conftest import event_paths, load_event


@pytest.mark.parametrize("path", event_paths("aws") + event_paths("azure"), ids=lambda p: p.name)
def test_every_fixture_parses(path) -> None:
    failure = parse_event(load_event(f"{path.parent.name}/{path.name}"))
    assert failure.cloud == path.parent.name


@pytest.mark.parametrize(("name", "job_type", "state", "failed", "recovered"), [
    ("backup-job-failed", "backup", "FAILED", True, False),
    ("backup-job-aborted", "backup", "ABORTED", True, False),
    ("backup-job-expired", "backup", "EXPIRED", True, False),
    ("backup-job-completed", "backup", "COMPLETED", False, True),
    ("backup-job-completed-with-issues", "backup", "COMPLETED", True, False),
    ("backup-job-running", "backup", "RUNNING", False, False),
    ("copy-job-failed", "copy", "FAILED", True, False),
    ("copy-job-completed", "copy", "COMPLETED", False, True),
    ("restore-job-failed", "restore", "FAILED", True, False),  # uses "status"
    ("restore-job-created", "restore", "CREATED", False, False),  # uses "state"
    ("restore-job-completed", "restore", "COMPLETED", False, True),
    ("recovery-point-completed", None, "COMPLETED", False, True),
])
def test_aws_job_type_and_state(name: str, job_type: str | None, state: str, failed: bool, recovered: bool) -> None:
    failure = parse_event(load_event(f"aws/{name}.json"))
    assert (failure.job_type, failure.state, failure.failed, failure.recovered) == (job_type, state, failed, recovered)


def test_aws_copy_event_quirks_are_tolerated() -> None:
    event = load_event("aws/copy-job-failed.json")
    assert event["detail"]["destinationRecoveryPointArn"] == {}
    assert isinstance(event["detail"]["backupSizeInBytes"], int)
    failure = parse_event(event)
    assert failure.account_id == "1112233445566"  # the documentation's 13-digit sample account
    assert failure.message == "Access denied exception while trying to list tags"
    assert failure.facts["role_name"] == "RoleForEc2BackupWithNoDescribeTagsPermissions"
    assert "recovery_point_arn" not in failure.facts or failure.facts["recovery_point_arn"] != "{}"
    assert failure.links["job"].endswith("#/jobs/copy/details/47C8EF56-74D8-059D-1301-C5BE1D5C926E")


def test_aws_numbers_as_strings_and_quoted_messages() -> None:
    event = load_event("aws/restore-job-failed.json")
    event["detail"]["percentDone"] = "0.0"
    event["detail"]["statusMessage"] = '"' + event["detail"]["statusMessage"] + '"'
    failure = parse_event(event)
    assert failure.message is not None and failure.message.startswith("AWS Backup does not permit")
    assert not failure.message.endswith('"')


def test_aws_cross_account_copy_names_both_accounts() -> None:
    failure = parse_event(load_event("aws/seed003-copy-org-membership.json"))
    assert failure.facts["source_account_id"] == "111122223333"
    assert failure.facts["destination_account_id"] == "444455556666"
    assert failure.facts["cross_account"] == "True"


def test_aws_encoded_authorization_message_is_found() -> None:
    failure = parse_event(load_event("aws/seed004-restore-ec2-not-authorized-encoded.json"))
    assert failure.encoded_message and len(failure.encoded_message) > 20
    assert failure.message and failure.message.endswith(failure.encoded_message)
    assert failure.facts["role_arn"].startswith("arn:aws:iam::")


def test_aws_status_message_quoting_the_sdk_error_code() -> None:
    failure = parse_event(load_event("aws/seed003-copy-aws-managed-cmk-snapshot.json"))
    assert failure.code == "InvalidParameter"


def test_aws_missing_detail_is_a_clear_error() -> None:
    event = load_event("aws/backup-job-failed.json")
    del event["detail"]
    with pytest.raises(EventError, match="detail"):
        parse_event(event)


def test_azure_real_backup_alert() -> None:
    failure = parse_event(load_event("azure/azure-backup-backup-failure-sql-usererrorparentfullbackupmissing.json"),
                          default_catalog().codes)
    assert failure.code == "UserErrorParentFullBackupMissing"  # lower-cased on the wire
    assert failure.job_type == "backup"
    assert failure.resource_type == "sql"  # the source type, not the VM that hosts it
    assert failure.region == "westeurope"
    assert failure.account_id == "fca54459-0e45-471d-918a-7059ac54e7ee"
    assert failure.vault_name == "rsv-infra-prod-01"
    assert failure.job_id == "88df0be3-7c77-46c9-bfc2-fb92e3b1918a"
    assert failure.message == "First full backup is missing for this datasource."


def test_azure_code_from_each_place_it_can_be() -> None:
    codes = CodeBook(["UserErrorMSIMissingPermissions", "ErrorMSIMissingPermissions"])
    base = load_event("azure/seed000-pgsql-backup-usererrormsimissingpermissions.json")

    only_origin = copy.deepcopy(base)
    only_origin["data"]["alertContext"]["extendedInfo"].pop("recommendedActions", None)
    only_origin["data"]["essentials"]["originAlertId"] = "123_0_456azureworkloadusererrormsimissingpermissionslog"
    assert parse_event(only_origin, codes).code == "UserErrorMSIMissingPermissions"

    only_link = copy.deepcopy(base)
    only_link["data"]["essentials"]["originAlertId"] = "123"
    only_link["data"]["alertContext"]["extendedInfo"]["recommendedActions"] = "See https://aka.ms/AB-usererrormsimissingpermissions"
    assert parse_event(only_link, codes).code == "UserErrorMSIMissingPermissions"

    explicit = copy.deepcopy(only_link)
    explicit["data"]["alertContext"]["errorCode"] = "usererrormsimissingpermissions"
    assert parse_event(explicit, codes).code == "UserErrorMSIMissingPermissions"


def test_azure_postgres_server_and_vault_facts() -> None:
    failure = parse_event(load_event("azure/seed000-pgsql-backup-usererrormsimissingpermissions.json"))
    assert failure.resource_type == "postgresql"
    assert failure.facts["server_id"].lower().endswith(failure.facts["server_name"].lower())
    assert "/providers/microsoft.dbforpostgresql/servers/" in failure.facts["server_id"].lower()
    assert failure.vault_id and "microsoft.dataprotection/backupvaults" in failure.vault_id.lower()


def test_azure_resolved_alert_is_a_recovery() -> None:
    failure = parse_event(load_event("azure/common-schema-metric-resolved.json"))
    assert failure.recovered and not failure.failed


def test_azure_other_schema_is_refused_with_the_fix() -> None:
    with pytest.raises(EventError, match="common alert schema"):
        parse_event(load_event("bad/azure-activity-log-schema-resourcehealth.json"))


def test_unknown_event_kinds_are_refused() -> None:
    with pytest.raises(EventError, match=r"aws\.ec2"):
        parse_event(load_event("bad/aws-ec2-instance-state-change.json"))
    with pytest.raises(EventError, match=r"nor an Azure"):
        parse_event({"hello": "world"})
    with pytest.raises(EventError, match="JSON object"):
        parse_event(["not", "an", "event"])
