"""Backup enrichment, with botocore's Stubber (moto does not implement the Backup job APIs): each
request and response is validated against the real AWS Backup service model."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from functions.aws.accounts import AccountClients
from functions.aws.enrich import BackupEnricher, policy_allows_copy_from
from shared.models import Failure
from shared.parse import parse_event
from shared.pipeline import Pipeline
from tests.aws.conftest import HOME_ACCOUNT, REGION
from tests.conftest import load_event

DEST = "444455556666"
ROLE = "BackupResponderReadOnly"
SOURCE_VAULT = f"arn:aws:backup:{REGION}:{HOME_ACCOUNT}:backup-vault:prod-cmk-vault"
DEST_VAULT = f"arn:aws:backup:{REGION}:{DEST}:backup-vault:central-cross-account-vault"
KEY = f"arn:aws:kms:{REGION}:{HOME_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
RP = f"arn:aws:backup:{REGION}:{HOME_ACCOUNT}:recovery-point:3b9d2f61-8c4e-4a17-b5d0-6e2f9a1c7d48"


def clients() -> AccountClients:
    return AccountClients(HOME_ACCOUNT, ROLE, REGION, session=boto3.session.Session(region_name=REGION))


def event(name: str, **detail: Any) -> Failure:
    raw = load_event(f"aws/{name}.json")
    raw["account"] = HOME_ACCOUNT
    for key, value in detail.items():
        if value is None:
            raw["detail"].pop(key, None)
        else:
            raw["detail"][key] = value
    return parse_event(raw)


def test_restore_job_is_described_for_what_the_event_lacks() -> None:
    failure = event("seed004-restore-ec2-not-authorized-encoded", iamRoleArn=None, resourceType=None)
    c = clients()
    role = f"arn:aws:iam::{HOME_ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole"
    with Stubber(c.client("backup", HOME_ACCOUNT, REGION)) as backup:
        backup.add_response("describe_restore_job", {
            "AccountId": HOME_ACCOUNT, "RestoreJobId": failure.job_id, "RecoveryPointArn": "arn:aws:ec2:us-west-2::image/ami-0e5a7c9b1d3f50246",
            "BackupVaultArn": f"arn:aws:backup:{REGION}:{HOME_ACCOUNT}:backup-vault:Default",
            "Status": "FAILED", "StatusMessage": "ignored: the event has one", "IamRoleArn": role,
            "ResourceType": "EC2", "SourceResourceArn": f"arn:aws:ec2:{REGION}:{HOME_ACCOUNT}:instance/i-0abc"},
            {"RestoreJobId": failure.job_id})
        enriched = BackupEnricher(c).enrich(failure)
        backup.assert_no_pending_responses()
    assert enriched.facts["role_arn"] == role and enriched.facts["role_name"] == "AWSBackupDefaultServiceRole"
    assert enriched.facts["recovery_point_arn"] == "arn:aws:ec2:us-west-2::image/ami-0e5a7c9b1d3f50246"
    assert enriched.resource_type == "EC2"
    assert enriched.vault_name == "Default"
    assert enriched.message == failure.message  # the event's own values are never overwritten
    assert enriched.notes == []


def test_cross_account_copy_reads_job_vault_and_destination_policy() -> None:
    # without its role the event lacks a fact the fix needs, so the job is described
    failure = event("seed003-copy-vault-access-denied", iamRoleArn=None)
    c = clients()
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::777788889999:root"},
                                                      "Action": "backup:CopyIntoBackupVault", "Resource": "*"}]}
    with Stubber(c.client("backup", HOME_ACCOUNT, REGION)) as backup, Stubber(c.client("sts")) as sts:
        backup.add_response("describe_copy_job", {"CopyJob": {
            "AccountId": HOME_ACCOUNT, "CopyJobId": failure.job_id, "SourceBackupVaultArn": SOURCE_VAULT,
            "SourceRecoveryPointArn": RP, "DestinationBackupVaultArn": DEST_VAULT, "State": "FAILED",
            "ResourceType": "EFS", "MessageCategory": "ACCESS_DENIED",
            "IamRoleArn": f"arn:aws:iam::{HOME_ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole"}},
            {"CopyJobId": failure.job_id})
        backup.add_response("describe_backup_vault", {"BackupVaultName": "prod-cmk-vault", "BackupVaultArn": SOURCE_VAULT,
                                                      "EncryptionKeyArn": KEY}, {"BackupVaultName": "prod-cmk-vault"})
        sts.add_response("assume_role", {"Credentials": {"AccessKeyId": "ASIADESTKEY000000001", "SecretAccessKey": "s",
                                                         "SessionToken": "t",
                                                         "Expiration": datetime.now(UTC) + timedelta(hours=1)}},
                         {"RoleArn": f"arn:aws:iam::{DEST}:role/{ROLE}", "RoleSessionName": "backup-responder"})
        dest_backup = c.client("backup", DEST, REGION)
        with Stubber(dest_backup) as dest:
            dest.add_response("get_backup_vault_access_policy", {"BackupVaultName": "central-cross-account-vault",
                                                                 "Policy": json.dumps(policy)},
                              {"BackupVaultName": "central-cross-account-vault"})
            enriched = BackupEnricher(c).enrich(failure)
            dest.assert_no_pending_responses()
        backup.assert_no_pending_responses()
    assert enriched.facts["recovery_point_arn"] == RP
    assert enriched.facts["kms_key_arn"] == KEY
    assert enriched.facts["message_category"] == "ACCESS_DENIED"
    assert enriched.notes == [f"Enrichment: the access policy of the destination vault central-cross-account-vault "
                              f"does not allow account {HOME_ACCOUNT} to backup:CopyIntoBackupVault."]
    # the note travels into the message's fix steps, and the cause is unchanged
    outcome = Pipeline().assess(enriched)
    assert outcome.finding.cause == "aws.vault.access-policy"
    assert outcome.plan is not None and enriched.notes[0] in outcome.plan.steps


def test_each_call_is_optional_and_noted() -> None:
    failure = event("seed003-copy-vault-access-denied", iamRoleArn=None)
    c = clients()
    with Stubber(c.client("backup", HOME_ACCOUNT, REGION)) as backup, Stubber(c.client("sts")) as sts:
        backup.add_client_error("describe_copy_job", "AccessDeniedException", "no", 403)
        backup.add_client_error("describe_backup_vault", "ResourceNotFoundException", "no", 404)
        sts.add_client_error("assume_role", "AccessDenied", "no", 403)
        enriched = BackupEnricher(c).enrich(failure)
        backup.assert_no_pending_responses()
    assert enriched.notes == [
        f"Enrichment: could not describe copy job {failure.job_id} in account {HOME_ACCOUNT} (AccessDeniedException).",
        f"Enrichment: could not describe backup vault prod-cmk-vault in account {HOME_ACCOUNT} (ResourceNotFoundException).",
        "Enrichment: could not read the access policy of the destination vault central-cross-account-vault in "
        f"account {DEST} (could not assume arn:aws:iam::{DEST}:role/{ROLE}: AccessDenied).",
    ]
    assert enriched.facts == failure.facts


def test_destination_vault_without_policy() -> None:
    failure = event("seed003-copy-vault-access-denied", sourceRecoveryPointArn=RP)
    failure = failure.model_copy(update={"facts": {**failure.facts, "recovery_point_arn": RP, "kms_key_arn": KEY}})
    c = clients()
    with Stubber(c.client("sts")) as sts:
        sts.add_response("assume_role", {"Credentials": {"AccessKeyId": "ASIADESTKEY000000001", "SecretAccessKey": "s",
                                                         "SessionToken": "t",
                                                         "Expiration": datetime.now(UTC) + timedelta(hours=1)}})
        with Stubber(c.client("backup", DEST, REGION)) as dest:
            dest.add_client_error("get_backup_vault_access_policy", "ResourceNotFoundException", "none", 404)
            enriched = BackupEnricher(c).enrich(failure)
    assert enriched.notes == [f"Enrichment: the destination vault central-cross-account-vault has no access policy, "
                              f"so no other account (including {HOME_ACCOUNT}) may copy into it."]


def test_missing_message_is_read_from_the_job() -> None:
    failure = event("backup-job-failed", statusMessage=None)
    assert failure.message is None
    c = clients()
    text = ('"You are not authorized to perform this operation. Encoded authorization failure message: '
            'AbCd-EfGh_1234"')
    with Stubber(c.client("backup", HOME_ACCOUNT, REGION)) as backup:
        backup.add_response("describe_backup_job", {"BackupJobId": failure.job_id, "StatusMessage": text,
                                                    "State": "FAILED", "EncryptionKeyArn": KEY,
                                                    "IamRoleArn": f"arn:aws:iam::{HOME_ACCOUNT}:role/R"},
                            {"BackupJobId": failure.job_id})
        enriched = BackupEnricher(c).enrich(failure)
        backup.assert_no_pending_responses()
    assert enriched.message == text.strip('"')
    assert enriched.encoded_message == "AbCd-EfGh_1234"
    assert enriched.facts["kms_key_arn"] == KEY


def test_nothing_to_do_means_no_call() -> None:
    c = clients()
    complete = event("seed003-copy-vault-access-denied")
    assert complete.facts["recovery_point_arn"] == RP  # the copy event names it in its resources
    complete = complete.model_copy(update={"facts": {**complete.facts, "kms_key_arn": KEY, "cross_account": "False"}})
    assert not BackupEnricher.needs_job(complete)
    recovered = event("backup-job-completed")
    with Stubber(c.client("backup", HOME_ACCOUNT, REGION)) as backup:  # nothing queued: a call would fail
        assert BackupEnricher(c).enrich(complete) == complete
        assert BackupEnricher(c).enrich(recovered) == recovered
        backup.assert_no_pending_responses()


@pytest.mark.parametrize(("statement", "allowed"), [
    ({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "backup:CopyIntoBackupVault"}, True),
    ({"Effect": "Allow", "Principal": {"AWS": ["111122223333"]}, "Action": ["backup:CopyIntoBackupVault"]}, True),
    ({"Effect": "Allow", "Principal": "*", "Action": "backup:CopyIntoBackupVault",
      "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}}, True),
    ({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/x"}, "Action": "backup:*"}, True),
    ({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::777788889999:root"}, "Action": "backup:CopyIntoBackupVault"}, False),
    ({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "backup:DeleteBackupVault"}, False),
    ({"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "backup:CopyIntoBackupVault"}, False),
])
def test_vault_policy_reading(statement: dict[str, Any], allowed: bool) -> None:
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    assert policy_allows_copy_from(policy, HOME_ACCOUNT) is allowed
    assert policy_allows_copy_from("not json", HOME_ACCOUNT) is False
