"""The source key policy fix (seed 003) against moto's KMS: the two statements for the destination
account only are merged in, every existing statement stays, other keys are untouched; the size
limit, the key's kind and state, Organizations and explicit denies are checked first."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber
from moto import mock_aws

from functions.aws.remediate import KMS_GRANT_ACTIONS, KMS_POLICY_MAX_BYTES, KMS_USE_ACTIONS, AwsRemediator
from shared.remediation.changes import AlreadyInPlace, RemediationRefused
from shared.remediation.guardrails import check_change
from tests.remediation.conftest import (
    DESTINATION,
    SEED003_KMS,
    SOURCE,
    Clients,
    RecoveryPointUnreadable,
    aws_client,
    organizations_cannot_be_asked,
    outcome_of,
)

ROOT = f"arn:aws:iam::{SOURCE}:root"
DEST_ROOT = f"arn:aws:iam::{DESTINATION}:root"
ADMIN = {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*",
         "Resource": "*"}


@pytest.fixture
def kms(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        yield aws_client("kms")


def organizations(found: bool = True) -> tuple[Any, Stubber]:
    client = aws_client("organizations", "us-east-1")
    stub = Stubber(client)
    if found:
        stub.add_response("describe_account", {"Account": {"Id": DESTINATION, "Name": "central-backup"}},
                          {"AccountId": DESTINATION})
    else:
        stub.add_client_error("describe_account", "AccountNotFoundException", "You specified an account that "
                              "doesn't exist.", expected_params={"AccountId": DESTINATION})
    stub.activate()
    return client, stub


def new_key(kms: Any, policy: dict[str, Any] | None = None) -> str:
    arn = str(kms.create_key(Description="prod-cmk-vault")["KeyMetadata"]["Arn"])
    kms.put_key_policy(KeyId=arn, PolicyName="default",
                       Policy=json.dumps(policy or {"Version": "2012-10-17", "Statement": [ADMIN]}))
    return arn


def policies(kms: Any) -> dict[str, Any]:
    return {k["KeyArn"]: (json.loads(kms.get_key_policy(KeyId=k["KeyArn"], PolicyName="default")["Policy"]),
                          kms.describe_key(KeyId=k["KeyArn"])["KeyMetadata"]["KeyState"])
            for k in kms.list_keys()["Keys"]}


def fixer(kms: Any, found: bool = True) -> AwsRemediator:
    org, _ = organizations(found)
    return AwsRemediator(Clients().add("backup", RecoveryPointUnreadable()).add("kms", kms).add("organizations", org))


def test_the_seed_003_statements_are_merged_for_the_destination_account_only(kms: Any) -> None:
    key = new_key(kms)
    other = new_key(kms)
    before = policies(kms)
    outcome = outcome_of(SEED003_KMS, facts={"kms_key_arn": key})
    remediator = fixer(kms)
    change = remediator.plan_change(outcome)
    check_change(change, outcome.failure)
    assert policies(kms) == before  # planning only reads
    assert remediator.apply(change).changed and remediator.verify(change)

    after = policies(kms)
    assert after[other] == before[other]  # nothing else changes
    document, state = after[key]
    assert state == "Enabled"
    assert document["Statement"][0] == ADMIN  # the existing statement, untouched
    added = document["Statement"][1:]
    assert added == [
        {"Sid": f"BackupResponderAllowUseOfKey{DESTINATION}", "Effect": "Allow", "Principal": {"AWS": DEST_ROOT},
         "Action": KMS_USE_ACTIONS, "Resource": "*"},
        {"Sid": f"BackupResponderAllowAttachment{DESTINATION}", "Effect": "Allow", "Principal": {"AWS": DEST_ROOT},
         "Action": KMS_GRANT_ACTIONS, "Resource": "*",
         "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
    ]
    assert set(KMS_USE_ACTIONS) == {"kms:DescribeKey", "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                                    "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext"}  # seed 003
    assert change.account == SOURCE and change.target == key


def test_a_key_that_already_allows_the_destination_is_not_changed(kms: Any) -> None:
    seed_policy = {"Version": "2012-10-17", "Id": "cab-kms-key", "Statement": [
        ADMIN,
        {"Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"AWS": [ROOT, DEST_ROOT]},
         "Action": KMS_USE_ACTIONS, "Resource": "*"},
        {"Sid": "Allow attachment of persistent resources", "Effect": "Allow",
         "Principal": {"AWS": [ROOT, DEST_ROOT]}, "Action": KMS_GRANT_ACTIONS, "Resource": "*",
         "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
    ]}
    key = new_key(kms, seed_policy)
    with pytest.raises(AlreadyInPlace):
        fixer(kms).plan_change(outcome_of(SEED003_KMS, facts={"kms_key_arn": key}))


def test_only_the_missing_statement_is_added(kms: Any) -> None:
    partial = {"Version": "2012-10-17", "Statement": [
        ADMIN, {"Sid": "Use", "Effect": "Allow", "Principal": {"AWS": DEST_ROOT}, "Action": KMS_USE_ACTIONS,
                "Resource": "*"}]}
    key = new_key(kms, partial)
    change = fixer(kms).plan_change(outcome_of(SEED003_KMS, facts={"kms_key_arn": key}))
    assert [s["Sid"] for s in change.after["Statement"]] == [
        "Enable IAM User Permissions", "Use", f"BackupResponderAllowAttachment{DESTINATION}"]


def test_a_policy_that_would_exceed_32_kb_is_refused(kms: Any) -> None:
    padding = {"Sid": "Padding", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:DescribeKey",
               "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/pad": "x" * 31_900}}}
    key = new_key(kms, {"Version": "2012-10-17", "Statement": [ADMIN, padding]})
    before = policies(kms)
    with pytest.raises(RemediationRefused, match=f"{KMS_POLICY_MAX_BYTES}-byte"):
        fixer(kms).plan_change(outcome_of(SEED003_KMS, facts={"kms_key_arn": key}))
    assert policies(kms) == before


def test_a_disabled_key_is_refused(kms: Any) -> None:
    key = new_key(kms)
    kms.disable_key(KeyId=key.rsplit("/", 1)[1])  # moto takes the key id here
    with pytest.raises(RemediationRefused, match="Disabled"):
        fixer(kms).plan_change(outcome_of(SEED003_KMS, facts={"kms_key_arn": key}))


def test_an_aws_managed_key_is_refused() -> None:
    key = f"arn:aws:kms:us-west-2:{SOURCE}:key/0b1f7c2e-1111-2222-3333-444455556666"
    client = aws_client("kms")
    stub = Stubber(client)
    stub.add_response("describe_key", {"KeyMetadata": {"KeyId": key.rsplit("/", 1)[1], "Arn": key,
                                                       "KeyManager": "AWS", "KeyState": "Enabled"}},
                      {"KeyId": key})
    stub.activate()
    remediator = AwsRemediator(Clients().add("backup", RecoveryPointUnreadable()).add("kms", client))
    with pytest.raises(RemediationRefused, match="AWS managed key"):
        remediator.plan_change(outcome_of(SEED003_KMS, facts={"kms_key_arn": key}))
    stub.assert_no_pending_responses()  # no policy was read or written


def test_a_key_in_another_account_is_refused(kms: Any) -> None:
    key = "arn:aws:kms:us-west-2:999988887777:key/0b1f7c2e-1111-2222-3333-444455556666"
    with pytest.raises(RemediationRefused, match="not in the source account"):
        fixer(kms).plan_change(outcome_of(SEED003_KMS, facts={"kms_key_arn": key}))


def test_a_destination_that_organizations_does_not_know_is_refused(kms: Any) -> None:
    key = new_key(kms)
    before = policies(kms)
    with pytest.raises(RemediationRefused, match="not an account of the organization"):
        fixer(kms, found=False).plan_change(outcome_of(SEED003_KMS, facts={"kms_key_arn": key}))
    assert policies(kms) == before


def test_an_explicit_deny_in_the_key_policy_is_refused(kms: Any) -> None:
    deny = {"Sid": "DenyCentral", "Effect": "Deny", "Principal": {"AWS": DEST_ROOT}, "Action": "kms:ReEncrypt*",
            "Resource": "*"}
    key = new_key(kms, {"Version": "2012-10-17", "Statement": [ADMIN, deny]})
    with pytest.raises(RemediationRefused, match="explicitly denies"):
        fixer(kms).plan_change(outcome_of(SEED003_KMS, facts={"kms_key_arn": key}))


def test_the_recovery_points_key_is_preferred_to_the_vaults(kms: Any) -> None:
    key = new_key(kms)
    vault_key = new_key(kms)
    recovery_point = f"arn:aws:rds:us-west-2:{SOURCE}:snapshot:awsbackup:job-5e0c3d2a"
    backup = aws_client("backup")
    stub = Stubber(backup)
    stub.add_response("describe_recovery_point", {"RecoveryPointArn": recovery_point, "EncryptionKeyArn": key},
                      {"BackupVaultName": "prod-cmk-vault", "RecoveryPointArn": recovery_point})
    stub.activate()
    org, _ = organizations()
    remediator = AwsRemediator(Clients().add("backup", RecoveryPointUnreadable()).add("kms", kms).add("organizations", org).add("backup", backup))
    outcome = outcome_of(SEED003_KMS, facts={"kms_key_arn": vault_key, "recovery_point_arn": recovery_point})
    assert remediator.plan_change(outcome).target == key


def test_changes_made_after_planning_are_never_overwritten(kms: Any) -> None:
    key = new_key(kms)
    remediator = fixer(kms)
    change = remediator.plan_change(outcome_of(SEED003_KMS, facts={"kms_key_arn": key}))
    meanwhile = {"Version": "2012-10-17", "Statement": [ADMIN, {**copy.deepcopy(ADMIN), "Sid": "Another"}]}
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(meanwhile))
    with pytest.raises(RemediationRefused, match="changed since"):
        remediator.apply(change)
    assert policies(kms)[key][0] == meanwhile


def test_a_destination_organizations_cannot_confirm_is_refused_and_the_key_is_untouched(kms: Any) -> None:
    """In a member account Organizations cannot be asked: an account the event names is not written
    into the key policy on its word alone."""
    key = new_key(kms)
    before = policies(kms)
    remediator = AwsRemediator(Clients().add("backup", RecoveryPointUnreadable()).add("kms", kms).add("organizations", organizations_cannot_be_asked()))
    with pytest.raises(RemediationRefused, match=f"{DESTINATION} could not be confirmed.*destination_accounts"):
        remediator.plan_change(outcome_of(SEED003_KMS, facts={"kms_key_arn": key}))
    assert policies(kms) == before


def test_without_organizations_lookups_only_an_allow_listed_destination_is_written(kms: Any) -> None:
    key = new_key(kms)
    remediator = AwsRemediator(Clients().add("backup", RecoveryPointUnreadable()).add("kms", kms), check_organizations=False)
    with pytest.raises(RemediationRefused, match="destination_accounts"):
        remediator.plan_change(outcome_of(SEED003_KMS, facts={"kms_key_arn": key}))


def test_a_suspended_destination_account_is_refused(kms: Any) -> None:
    key = new_key(kms)
    client = aws_client("organizations", "us-east-1")
    stub = Stubber(client)
    stub.add_response("describe_account", {"Account": {"Id": DESTINATION, "Status": "SUSPENDED"}},
                      {"AccountId": DESTINATION})
    stub.activate()
    with pytest.raises(RemediationRefused, match="SUSPENDED"):
        AwsRemediator(Clients().add("backup", RecoveryPointUnreadable()).add("kms", kms).add("organizations", client)).plan_change(
            outcome_of(SEED003_KMS, facts={"kms_key_arn": key}))
