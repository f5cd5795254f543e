"""The destination vault access policy fix and the job restarts, against botocore's Stubber: the
exact requests AWS Backup would receive, in the account and Region that own the vault."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from functions.aws.remediate import AwsRemediator
from shared.remediation import policy
from shared.remediation.changes import AlreadyInPlace, Change, RemediationRefused
from shared.remediation.guardrails import check_change
from tests.remediation.conftest import (
    DESTINATION,
    REGION,
    SEED003_VAULT,
    SEED004,
    SEED004_DECODED,
    SOURCE,
    Clients,
    aws_client,
    config,
    engine,
    outcome_of,
)

VAULT = "central-cross-account-vault"
VAULT_ARN = f"arn:aws:backup:{REGION}:{DESTINATION}:backup-vault:{VAULT}"
SOURCE_ROOT = f"arn:aws:iam::{SOURCE}:root"
LOCKED = {"Sid": "DenyDeletes", "Effect": "Deny", "Principal": "*",
          "Action": ["backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle"], "Resource": "*"}
OURS = {"Sid": f"BackupResponderCopyFrom{SOURCE}", "Effect": "Allow", "Principal": {"AWS": SOURCE_ROOT},
        "Action": "backup:CopyIntoBackupVault", "Resource": "*"}


def stubbed(service: str = "backup") -> tuple[Any, Stubber]:
    client = aws_client(service)
    return client, Stubber(client)


def vault_exists(stub: Stubber) -> None:
    stub.add_response("describe_backup_vault", {"BackupVaultName": VAULT, "BackupVaultArn": VAULT_ARN},
                      {"BackupVaultName": VAULT})


def current_policy(stub: Stubber, document: dict[str, Any] | None) -> None:
    if document is None:
        stub.add_client_error("get_backup_vault_access_policy", "ResourceNotFoundException",
                              expected_params={"BackupVaultName": VAULT})
    else:
        stub.add_response("get_backup_vault_access_policy",
                          {"BackupVaultName": VAULT, "BackupVaultArn": VAULT_ARN, "Policy": json.dumps(document)},
                          {"BackupVaultName": VAULT})


def test_the_statement_is_merged_and_every_existing_statement_is_kept() -> None:
    existing = {"Version": "2012-10-17", "Statement": [LOCKED]}
    expected = {"Version": "2012-10-17", "Statement": [LOCKED, OURS]}
    client, stub = stubbed()
    vault_exists(stub)
    current_policy(stub, existing)                 # plan
    current_policy(stub, existing)                 # apply: unchanged since planned
    stub.add_response("put_backup_vault_access_policy", {},
                      {"BackupVaultName": VAULT, "Policy": policy.dump(expected)})
    current_policy(stub, expected)                 # verify
    clients = Clients().add("backup", client, DESTINATION)
    remediator = AwsRemediator(clients)
    with stub:
        outcome = outcome_of(SEED003_VAULT)
        change = remediator.plan_change(outcome)
        check_change(change, outcome.failure)
        assert remediator.apply(change).changed
        assert remediator.verify(change)
        stub.assert_no_pending_responses()
    assert change.account == DESTINATION and change.target == VAULT_ARN
    assert {call[1:] for call in clients.calls} == {(DESTINATION, REGION)}  # the vault's own account and Region
    assert change.summary == (f"add backup:CopyIntoBackupVault for account {SOURCE} to the access policy of "
                              f"vault {VAULT}")


def test_a_vault_without_a_policy_gets_one_statement() -> None:
    client, stub = stubbed()
    vault_exists(stub)
    current_policy(stub, None)
    with stub:
        change = AwsRemediator(Clients().add("backup", client)).plan_change(outcome_of(SEED003_VAULT))
    assert change.before is None
    assert change.after == {"Version": "2012-10-17", "Statement": [OURS]}


def test_a_policy_that_already_allows_the_source_is_not_changed() -> None:
    client, stub = stubbed()
    vault_exists(stub)
    current_policy(stub, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": [SOURCE_ROOT]}, "Action": "backup:CopyIntoBackupVault",
         "Resource": "*"}]})
    with stub, pytest.raises(AlreadyInPlace):
        AwsRemediator(Clients().add("backup", client)).plan_change(outcome_of(SEED003_VAULT))


def test_a_deny_for_the_source_is_never_removed() -> None:
    client, stub = stubbed()
    vault_exists(stub)
    current_policy(stub, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "backup:CopyIntoBackupVault", "Resource": "*"}]})
    with stub, pytest.raises(RemediationRefused, match="explicitly denies"):
        AwsRemediator(Clients().add("backup", client)).plan_change(outcome_of(SEED003_VAULT))


def test_a_missing_destination_vault_is_refused() -> None:
    client, stub = stubbed()
    stub.add_client_error("describe_backup_vault", "ResourceNotFoundException",
                          expected_params={"BackupVaultName": VAULT})
    with stub, pytest.raises(RemediationRefused, match="does not exist"):
        AwsRemediator(Clients().add("backup", client)).plan_change(outcome_of(SEED003_VAULT))


def test_an_entry_can_allow_the_organization_instead_of_the_account() -> None:
    org = "o-a1b2c3d4e5"
    statement = {"Sid": f"BackupResponderCopyFromOrganization{org.replace('-', '')}", "Effect": "Allow",
                 "Principal": "*", "Action": "backup:CopyIntoBackupVault", "Resource": "*",
                 "Condition": {"StringEquals": {"aws:PrincipalOrgID": org}}}
    client, stub = stubbed()
    vault_exists(stub)
    current_policy(stub, None)
    current_policy(stub, None)
    stub.add_response("put_backup_vault_access_policy", {},
                      {"BackupVaultName": VAULT,
                       "Policy": policy.dump({"Version": "2012-10-17", "Statement": [statement]})})
    current_policy(stub, {"Version": "2012-10-17", "Statement": [statement]})
    cfg = config(allow=[{"cause": "aws.vault.access-policy", "organization_id": org}])
    with stub:
        decision = engine(cfg, remediators=[AwsRemediator(Clients().add("backup", client))]).decide(
            outcome_of(SEED003_VAULT))
        stub.assert_no_pending_responses()
    assert decision.action == "applied", decision.reason
    assert decision.change is not None and "the organization o-a1b2c3d4e5" in decision.change.done


def test_a_failed_copy_is_started_again_with_its_original_parameters() -> None:
    outcome = outcome_of(SEED003_VAULT)
    client, stub = stubbed()
    stub.add_response("describe_copy_job", {"CopyJob": {
        "CopyJobId": outcome.failure.job_id,
        "SourceRecoveryPointArn": f"arn:aws:backup:{REGION}:{SOURCE}:recovery-point:3b9d2f61",
        "SourceBackupVaultArn": f"arn:aws:backup:{REGION}:{SOURCE}:backup-vault:prod-cmk-vault",
        "DestinationBackupVaultArn": VAULT_ARN,
        "IamRoleArn": f"arn:aws:iam::{SOURCE}:role/service-role/AWSBackupDefaultServiceRole",
        "DestinationRecoveryPointLifecycle": {"DeleteAfterDays": 35},
    }}, {"CopyJobId": outcome.failure.job_id})
    stub.add_response("start_copy_job", {"CopyJobId": "NEW-COPY-1"}, {
        "RecoveryPointArn": f"arn:aws:backup:{REGION}:{SOURCE}:recovery-point:3b9d2f61",
        "SourceBackupVaultName": "prod-cmk-vault", "DestinationBackupVaultArn": VAULT_ARN,
        "IamRoleArn": f"arn:aws:iam::{SOURCE}:role/service-role/AWSBackupDefaultServiceRole",
        "IdempotencyToken": ANY, "Lifecycle": {"DeleteAfterDays": 35}})
    clients = Clients().add("backup", client, SOURCE)
    with stub:
        change = Change(kind="vault-access-policy", cloud="aws", account=DESTINATION, target=VAULT_ARN,
                        summary="s", done="d")
        assert AwsRemediator(clients).restart(outcome, change) == "NEW-COPY-1"
        stub.assert_no_pending_responses()
    assert clients.calls == [("backup", SOURCE, REGION)]  # the copy starts in the source account


def test_a_failed_restore_is_started_again_with_its_metadata() -> None:
    outcome = outcome_of(SEED004, decoded=SEED004_DECODED)
    job = outcome.failure.job_id
    recovery_point = "arn:aws:ec2:us-west-2::image/ami-0e5a7c9b1d3f50246"
    role = f"arn:aws:iam::{SOURCE}:role/service-role/AWSBackupDefaultServiceRole"
    metadata = {"InstanceType": "t3.micro", "IamInstanceProfileName": "AmazonSSMRoleForInstancesQuickSetup",
                "SubnetId": "subnet-0abc"}
    client, stub = stubbed()
    stub.add_response("describe_restore_job", {"RestoreJobId": job, "RecoveryPointArn": recovery_point,
                                               "IamRoleArn": role, "ResourceType": "EC2"}, {"RestoreJobId": job})
    stub.add_response("get_restore_job_metadata", {"RestoreJobId": job, "Metadata": metadata}, {"RestoreJobId": job})
    stub.add_response("start_restore_job", {"RestoreJobId": "NEW-RESTORE-1"}, {
        "RecoveryPointArn": recovery_point, "Metadata": metadata, "IamRoleArn": role, "ResourceType": "EC2",
        "IdempotencyToken": ANY})
    change = Change(kind="iam-pass-role", cloud="aws", account=SOURCE, target=role, summary="s", done="d")
    with stub:
        assert AwsRemediator(Clients().add("backup", client)).restart(outcome, change) == "NEW-RESTORE-1"
        stub.assert_no_pending_responses()
