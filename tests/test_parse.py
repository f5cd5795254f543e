"""The parsers on the providers' documented payloads, quirks included."""

from __future__ import annotations

import copy
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.catalog import default_catalog
from shared.parse import CodeBook, EventError, parse_event
from shared.parse.aws import arn_parts
from tests.conftest import event_paths, load_event


@pytest.mark.parametrize("path", event_paths("aws") + event_paths("azure"), ids=lambda p: p.name)
def test_every_fixture_parses(path) -> None:
    failure = parse_event(load_event(f"{path.parent.name}/{path.name}"))
    assert failure.cloud == path.parent.name


#: Where each envelope has a field that the parser reads, an empty value of which means missing.
_OPTIONAL = {"aws": lambda event: event, "azure": lambda event: event["data"]["essentials"]}
_FIELD = {"aws": "id", "azure": "region"}


@pytest.mark.parametrize("path", event_paths("aws") + event_paths("azure"), ids=lambda p: p.name)
def test_an_empty_field_reads_as_a_missing_one(path) -> None:
    """Most events convert as they are; one with an empty field is read again, loosened (the
    exact reading refuses it): both ways must give the same failure."""
    cloud = path.parent.name
    empty, missing = load_event(f"{cloud}/{path.name}"), load_event(f"{cloud}/{path.name}")
    _OPTIONAL[cloud](empty)[_FIELD[cloud]] = ""
    _OPTIONAL[cloud](missing).pop(_FIELD[cloud], None)
    assert parse_event(empty) == parse_event(missing)


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


@pytest.mark.parametrize(("name", "recovery_point"), [
    ("copy-job-failed", "arn:aws:ec2:us-west-2::image/ami-00179b33a7a88cac5"),
    ("seed003-copy-default-backup-key-vault", "arn:aws:ec2:us-west-2::snapshot/snap-0b7e9c1d3f5a24680"),
    ("seed003-copy-source-kms-key-access",
     "arn:aws:rds:us-west-2:111122223333:snapshot:awsbackup:job-5e0c3d2a-7b1f-4c8e-9a6d-2f4b8c1e7a90"),
    ("seed003-copy-vault-access-denied",
     "arn:aws:backup:us-west-2:111122223333:recovery-point:3b9d2f61-8c4e-4a17-b5d0-6e2f9a1c7d48"),
    ("restore-job-failed", "arn:aws:ec2:us-west-2::image/ami-12b3456dfb7f8cf90"),
])
def test_aws_recovery_point_named_only_in_resources(name: str, recovery_point: str) -> None:
    assert parse_event(load_event(f"aws/{name}.json")).facts["recovery_point_arn"] == recovery_point


def test_aws_recovery_point_of_the_detail_comes_before_resources() -> None:
    event = load_event("aws/copy-job-failed.json")
    event["detail"]["sourceRecoveryPointArn"] = "arn:aws:ec2:us-west-2::image/ami-0aaaaaaaaaaaaaaaa"
    assert parse_event(event).facts["recovery_point_arn"] == "arn:aws:ec2:us-west-2::image/ami-0aaaaaaaaaaaaaaaa"


@pytest.mark.parametrize("rule_key", ["backupPlanRuleId", "backupRuleId"])
def test_aws_the_plan_that_started_the_job(rule_key: str) -> None:
    event = load_event("aws/backup-job-expired-window.json")
    created_by = event["detail"]["createdBy"]
    created_by[rule_key] = created_by.pop("backupPlanRuleId")
    facts = parse_event(event).facts
    assert facts["backup_plan_id"] == "7c2e4a6b-8d0f-4b1c-9e3a-5f7d9b1c3e5a"
    assert facts["backup_plan_arn"] == ("arn:aws:backup:us-west-2:111122223333:backup-plan:"
                                        "7c2e4a6b-8d0f-4b1c-9e3a-5f7d9b1c3e5a")
    assert facts["backup_plan_version"] == "ZmE0YjJjMWQtOGU3Zi00YTNiLWJjMmQtOWUxZjBhN2I2YzVk"
    assert facts["backup_rule_id"] == "3b5d7f9a-1c2e-4a6b-8d0f-2e4a6c8e0b1d"


def test_aws_an_on_demand_job_has_no_plan() -> None:
    event = load_event("aws/backup-job-expired-window.json")
    event["detail"]["createdBy"] = {}
    assert not {"backup_plan_id", "backup_rule_id"} & parse_event(event).facts.keys()


@pytest.mark.parametrize(("resource_arn", "name", "value"), [
    ("arn:aws:ec2:us-west-2:111122223333:instance/i-0c2e4a6b8d0f13579", "instance_id", "i-0c2e4a6b8d0f13579"),
    ("arn:aws:ec2:us-west-2:111122223333:volume/vol-0a1b2c3d4e5f60718", "volume_id", "vol-0a1b2c3d4e5f60718"),
    ("arn:aws:rds:us-west-2:111122223333:db:orders-prod", "db_identifier", "orders-prod"),
    ("arn:aws:rds:us-west-2:111122223333:cluster:orders-aurora", "db_identifier", "orders-aurora"),
    ("arn:aws:elasticfilesystem:us-west-2:111122223333:file-system/fs-0123456789abcdef0", "file_system_id",
     "fs-0123456789abcdef0"),
    ("arn:aws:fsx:us-west-2:111122223333:file-system/fs-0fedcba9876543210", "file_system_id", "fs-0fedcba9876543210"),
    ("arn:aws:dynamodb:us-west-2:111122223333:table/orders", "table_name", "orders"),
    ("arn:aws:s3:::example-app-data-111122223333", "bucket_name", "example-app-data-111122223333"),
])
def test_aws_ids_the_resource_arn_names(resource_arn: str, name: str, value: str) -> None:
    event = load_event("aws/backup-job-failed.json")
    event["detail"]["resourceArn"] = resource_arn
    facts = parse_event(event).facts
    assert facts[name] == value
    others = {"instance_id", "volume_id", "db_identifier", "file_system_id", "table_name", "bucket_name"} - {name}
    assert not others & facts.keys()


@pytest.mark.parametrize("resource_arn", [
    "arn:aws:s3:us-west-2:111122223333:accesspoint/reports",  # not a bucket: an access point
    "arn:aws:ec2:us-west-2:111122223333:network-interface/eni-0a1b2c3d",
    "arn:aws:service:us-west-2:1112233445566:resource-type/resource-id",  # the documentation's placeholder
])
def test_aws_an_arn_that_names_no_known_id_names_none(resource_arn: str) -> None:
    event = load_event("aws/backup-job-failed.json")
    event["detail"]["resourceArn"] = resource_arn
    facts = parse_event(event).facts
    assert not {"instance_id", "volume_id", "ami_id", "snapshot_id", "db_identifier", "file_system_id",
                "table_name", "bucket_name"} & facts.keys()


#: The ARN grammar (``arn:partition:service:region:account:resource``), as a pattern: the oracle.
_ARN_GRAMMAR = re.compile(r"^arn:(?P<partition>[\w-]+):(?P<service>[\w-]+):(?P<region>[\w-]*):"
                          r"(?P<account>\d*):(?P<resource>.+)$")


#: ARNs and near misses, field by field, in several scripts: mostly word characters, ASCII or not
#: (letters and digits of other scripts, a long s, a Kelvin sign), sometimes others (a combining
#: accent, a space that is not ASCII, a slash, a colon, a line break).
_ARN_WORD = st.text(alphabet="aws-_0Aé٣²ſ\u212a", min_size=1, max_size=3)
_ARN_FIELD = _ARN_WORD | st.text(alphabet="aws-_0é٣\u0301\u00a0 /:\n", max_size=3)
_ARN_LIKE = st.builds(lambda *fields: ":".join(fields), st.sampled_from(["arn", "arn", "ARN"]), _ARN_FIELD,
                      _ARN_FIELD, _ARN_FIELD, st.text(alphabet="0123٣²", max_size=3) | _ARN_FIELD,
                      st.sampled_from(["", "\n", "x\n"]) | _ARN_FIELD)


@settings(max_examples=1000)  # a cheap function, and valid ARNs are a fifth of the texts
@given(_ARN_LIKE)
def test_an_arn_is_read_by_its_grammar_in_any_script(text: str) -> None:
    grammar = _ARN_GRAMMAR.match(text)
    assert dict(arn_parts(text)) == (grammar.groupdict() if grammar else {})


def test_aws_an_ec2_copy_names_its_instance_and_its_ami() -> None:
    facts = parse_event(load_event("aws/seed003-copy-aws-managed-cmk-snapshot.json")).facts
    assert (facts["instance_id"], facts["ami_id"]) == ("i-0c2e4a6b8d0f13579", "ami-0d4f6b8a0c2e46813")


def test_aws_what_a_plain_message_names() -> None:
    assert parse_event(load_event("aws/restore-job-failed-pass-role-plain.json")).facts["pass_role_arn"] == (
        "arn:aws:iam::111122223333:role/AmazonSSMRoleForInstancesQuickSetup")
    assert parse_event(load_event("aws/restore-job-failed-kms-key-pending-deletion.json")).facts["kms_key_arn"] == (
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    event = load_event("aws/restore-job-failed-pass-role-plain.json")
    event["detail"]["statusMessage"] = event["detail"]["statusMessage"].replace("iam:PassRole", "iam:GetRole")
    assert "pass_role_arn" not in parse_event(event).facts  # only a refused iam:PassRole names the role to pass


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


@pytest.mark.parametrize(("resource", "subscription", "group"), [
    ("/subscriptions/sub-1/resourceGroups/rg-data/providers/Microsoft.Compute/disks/d1",
     "sub-1", "rg-data"),
    ("/SUBSCRIPTIONS/sub-1/RESOURCEGROUPS/rg-data/PROVIDERS/Microsoft.Compute/disks/d1/child/c1",
     "sub-1", "rg-data"),
    # each part is read in its place, even where a name is spelled like a part
    ("/subscriptions/resourceGroups/resourceGroups/rg-data/providers/Microsoft.Compute/disks/d1",
     "resourceGroups", "rg-data"),
    # not a full ARM id: each part is found where it is
    ("/resourceGroups/rg-data/subscriptions/sub-1", "sub-1", "rg-data"),
])
def test_azure_subscription_and_resource_group_of_the_resource(resource: str, subscription: str, group: str) -> None:
    alert = load_event("azure/disk-backup-usererrormissingrequiredpermissions.json")
    alert["data"]["alertContext"]["linkedResourceId"] = resource
    failure = parse_event(alert)
    assert (failure.account_id, failure.facts["subscription_id"], failure.facts["resource_group"]) == (
        subscription, subscription, group)


@pytest.mark.parametrize("subscriptions", ["subscriptions", "SUBSCRIPTIONS", "ſubscriptions", "\u017fubscriptions"])
@pytest.mark.parametrize("microsoft", ["Microsoft", "MICROSOFT", "Microſoft"])
def test_azure_ids_are_read_with_their_letters_folded_in_any_script(subscriptions: str, microsoft: str) -> None:
    """ARM reads its ids in any case; a long s is an s then, and most ids are ASCII, read the quick way."""
    alert = load_event("azure/disk-backup-usererrormissingrequiredpermissions.json")
    context = alert["data"]["alertContext"]
    context["linkedResourceId"] = f"/{subscriptions}/sub-1/resourceGroups/rg-data/providers/Microsoft.Compute/disks/d1/child/c1"
    context["sourceId"] = f"/{subscriptions}/sub-1/resourceGroups/rg-vault/providers/{microsoft}.DataProtection/backupVaults/bv1"
    del context["protectedItemId"]  # it names the vault too, and first
    alert["data"]["essentials"]["alertTargetIDs"] = []
    failure = parse_event(alert)
    assert failure.resource_id == context["linkedResourceId"].removesuffix("/child/c1")
    assert (failure.vault_id, failure.vault_name, failure.facts["vault_resource_group"]) == (
        context["sourceId"], "bv1", "rg-vault")


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


def _longest_code_in(codes: list[str], text: str) -> str | None:
    """``CodeBook.found_in`` by its definition: the longest code in the text, the first of equals."""
    lowered = text.lower()
    found = [(len(c), -lowered.find(c.lower()), c) for c in codes if len(c) >= 4 and c.lower() in lowered]
    return max(found)[2] if found else None


_AZURE_CODES = sorted(default_catalog().codes)  # the real code book's spellings


@given(st.lists(st.sampled_from(_AZURE_CODES) | st.sampled_from(["_", "log", "123", "azureworkload", "x"]),
                max_size=6).map("".join))
def test_the_code_found_in_an_origin_alert_id_is_the_longest_it_holds(text: str) -> None:
    codes = CodeBook(_AZURE_CODES)
    assert codes.found_in(text) == _longest_code_in(_AZURE_CODES, text)
