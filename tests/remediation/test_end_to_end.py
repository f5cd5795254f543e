"""End to end through the responder (parse, decode, classify, plan, remediate, deliver to the
outbox): with the switch on and the causes allowed, the seed 003 cross-account copy failures
(source KMS key policy, destination vault access policy), the seed 004 EC2 restore and the
seed 000 PostgreSQL failure are fixed, audited, and the message says what was done; with the
switch off, nothing is changed (and the clouds are not even asked)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from functions.aws.remediate import AwsRemediator
from functions.azure.remediate import AzureRemediator
from shared.models import Outcome
from shared.pipeline import Pipeline
from shared.remediation import policy
from shared.remediation.audit import AuditTrail
from shared.remediation.config import RemediationConfig, load_remediation_config
from shared.remediation.engine import RemediationEngine
from shared.responder import Responder
from shared.sinks.local.transport import OutboxSink
from shared.state import MemoryStore
from tests.conftest import load_event
from tests.remediation.arm import FakeCredential, RoleAssignmentsApi, arm_server
from tests.remediation.conftest import (
    DESTINATION,
    REGION,
    SEED000_READER,
    SEED003_KMS,
    SEED003_VAULT,
    SEED004,
    SEED004_DECODED,
    SOURCE,
    SUBSCRIPTION,
    VAULT_PRINCIPAL,
    Clients,
    RecoveryPointUnreadable,
    aws_client,
    config,
    organizations_cannot_be_asked,
    pipeline,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "remediation-aws-pass-role.yaml"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                            "Principal": {"Service": "backup.amazonaws.com"}}]})
ROLE_ARN = f"arn:aws:iam::{SOURCE}:role/service-role/AWSBackupDefaultServiceRole"


def respond(event: str, pipe: Pipeline, cfg: RemediationConfig, switch: str, remediator: Any,
            tmp_path: Path) -> tuple[Outcome, str, MemoryStore]:
    """One event through the responder; the outcome, the message text in the outbox, the state."""
    state = MemoryStore()
    eng = RemediationEngine(config=cfg, switch=switch, state=state, remediators=[remediator],  # type: ignore[arg-type]
                            sleep=lambda _: None)
    outbox = tmp_path / "outbox"
    responder = Responder(pipe, [OutboxSink(outbox)], state, remediation=eng)
    report = responder.handle(load_event(event))
    (written,) = outbox.glob("*.json")
    return report.outcome, json.loads(written.read_text())["text"], state


def audit_of(outcome: Outcome, state: MemoryStore) -> dict[str, Any]:
    assert outcome.remediation is not None and outcome.remediation.audit_id
    record = AuditTrail(state).read(outcome.remediation.audit_id)
    assert record is not None
    return record.model_dump()


# ---------------------------------------------------------------------------- seed 004
@pytest.fixture
def iam(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        client = aws_client("iam")
        client.create_role(RoleName="AWSBackupDefaultServiceRole", Path="/service-role/",
                           AssumeRolePolicyDocument=TRUST)
        client.create_role(RoleName="AmazonSSMRoleForInstancesQuickSetup", AssumeRolePolicyDocument=TRUST)
        yield client


def restore_restart_stub(outcome_job: str) -> tuple[Any, Stubber]:
    backup = aws_client("backup")
    stub = Stubber(backup)
    recovery_point = "arn:aws:ec2:us-west-2::image/ami-0e5a7c9b1d3f50246"
    metadata = {"InstanceType": "t3.micro", "IamInstanceProfileName": "AmazonSSMRoleForInstancesQuickSetup"}
    stub.add_response("describe_restore_job", {"RestoreJobId": outcome_job, "RecoveryPointArn": recovery_point,
                                               "IamRoleArn": ROLE_ARN, "ResourceType": "EC2"},
                      {"RestoreJobId": outcome_job})
    stub.add_response("get_restore_job_metadata", {"RestoreJobId": outcome_job, "Metadata": metadata},
                      {"RestoreJobId": outcome_job})
    stub.add_response("start_restore_job", {"RestoreJobId": "RESTORE-AGAIN-1"},
                      {"RecoveryPointArn": recovery_point, "Metadata": metadata, "IamRoleArn": ROLE_ARN,
                       "ResourceType": "EC2", "IdempotencyToken": ANY})
    stub.activate()
    return backup, stub


def test_seed_004_restore_is_fixed_with_the_example_configuration(iam: Any, tmp_path: Path) -> None:
    job = load_event(SEED004)["detail"]["restoreJobId"]
    backup, stub = restore_restart_stub(job)
    remediator = AwsRemediator(Clients().add("iam", iam).add("backup", backup))
    outcome, text, state = respond(SEED004, pipeline(SEED004_DECODED), load_remediation_config(EXAMPLE), "on",
                                   remediator, tmp_path)

    stub.assert_no_pending_responses()
    document = iam.get_role_policy(RoleName="AWSBackupDefaultServiceRole",
                                   PolicyName="BackupResponderPassRole-AmazonSSMRoleForInstancesQuickSetup")
    assert document["PolicyDocument"]["Statement"][0]["Resource"] == \
        f"arn:aws:iam::{SOURCE}:role/AmazonSSMRoleForInstancesQuickSetup"
    assert ("Applied: added iam:PassRole on role AmazonSSMRoleForInstancesQuickSetup to role "
            "AWSBackupDefaultServiceRole; job restarted as RESTORE-AGAIN-1") in text
    record = audit_of(outcome, state)
    assert record["action"] == "applied" and record["before"] is None
    assert record["after"] == document["PolicyDocument"] and record["restarted_job_id"] == "RESTORE-AGAIN-1"


def test_seed_004_passing_an_administrator_role_is_left_to_a_person(iam: Any, tmp_path: Path) -> None:
    """The crafted case: the decoded message names a role with an inline ``Action: *``. With the
    switch on and the cause allowed, nothing is written to IAM; the message says why."""
    iam.put_role_policy(RoleName="AmazonSSMRoleForInstancesQuickSetup", PolicyName="everything",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                            {"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    remediator = AwsRemediator(Clients().add("iam", iam))
    outcome, text, _ = respond(SEED004, pipeline(SEED004_DECODED), load_remediation_config(EXAMPLE), "on",
                               remediator, tmp_path)
    assert iam.list_role_policies(RoleName="AWSBackupDefaultServiceRole")["PolicyNames"] == []
    assert outcome.remediation is not None and outcome.remediation.action in ("planned", "refused")
    assert outcome.remediation.needs_person and not outcome.remediation.restarted_job_id
    assert ("the role AmazonSSMRoleForInstancesQuickSetup to pass has administrator-level permissions "
            "(Action * in inline policy everything)") in text


def test_seed_004_in_dry_run_shows_the_policy_and_changes_nothing(iam: Any, tmp_path: Path) -> None:
    backup = aws_client("backup")
    stub = Stubber(backup)  # no responses: any Backup call would fail the test
    stub.activate()
    remediator = AwsRemediator(Clients().add("iam", iam).add("backup", backup))
    _, text, _ = respond(SEED004, pipeline(SEED004_DECODED), load_remediation_config(EXAMPLE), "dry-run",
                         remediator, tmp_path)
    assert iam.list_role_policies(RoleName="AWSBackupDefaultServiceRole")["PolicyNames"] == []
    assert "Dry run: would add iam:PassRole on role AmazonSSMRoleForInstancesQuickSetup" in text
    assert '"iam:PassedToService": "ec2.amazonaws.com"' in text


# ---------------------------------------------------------------------------- seed 003: KMS
@pytest.fixture
def kms(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        yield aws_client("kms")


def test_seed_003_source_key_policy_is_fixed(kms: Any, tmp_path: Path) -> None:
    key = kms.create_key(Description="orders-prod RDS key")["KeyMetadata"]["Arn"]
    original = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    organizations = aws_client("organizations", "us-east-1")
    org_stub = Stubber(organizations)
    org_stub.add_response("describe_account", {"Account": {"Id": DESTINATION}}, {"AccountId": DESTINATION})
    org_stub.activate()
    event = load_event(SEED003_KMS)["detail"]
    backup = aws_client("backup")
    stub = Stubber(backup)
    stub.add_response("describe_copy_job", {"CopyJob": {
        "CopyJobId": event["copyJobId"], "SourceRecoveryPointArn": load_event(SEED003_KMS)["resources"][0],
        "SourceBackupVaultArn": event["sourceBackupVaultArn"],
        "DestinationBackupVaultArn": event["destinationBackupVaultArn"], "IamRoleArn": event["iamRoleArn"]}},
        {"CopyJobId": event["copyJobId"]})
    stub.add_response("start_copy_job", {"CopyJobId": "COPY-AGAIN-1"}, {
        "RecoveryPointArn": load_event(SEED003_KMS)["resources"][0], "SourceBackupVaultName": "prod-cmk-vault",
        "DestinationBackupVaultArn": event["destinationBackupVaultArn"], "IamRoleArn": event["iamRoleArn"],
        "IdempotencyToken": ANY})
    stub.activate()
    remediator = AwsRemediator(Clients().add("backup", RecoveryPointUnreadable()).add("kms", kms).add("organizations", organizations)
                               .add("backup", backup, SOURCE))
    cfg = config(allow=[{"cause": "aws.kms.key-access", "accounts": [SOURCE], "restart_job": True}])
    outcome, text, state = respond(SEED003_KMS, pipeline(facts={"kms_key_arn": key}), cfg, "on", remediator,
                                   tmp_path)

    stub.assert_no_pending_responses()
    current = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    assert current["Statement"][: len(original["Statement"])] == original["Statement"]
    added = current["Statement"][len(original["Statement"]):]
    assert [s["Principal"] for s in added] == [{"AWS": f"arn:aws:iam::{DESTINATION}:root"}] * 2
    assert (f"Applied: added the use and grant statements for account {DESTINATION} to the key policy of {key}; "
            "job restarted as COPY-AGAIN-1") in text
    assert audit_of(outcome, state)["before"] == original


# ---------------------------------------------------------------------------- seed 003: vault
def test_seed_003_destination_vault_policy_is_fixed(tmp_path: Path) -> None:
    vault = "central-cross-account-vault"
    vault_arn = f"arn:aws:backup:{REGION}:{DESTINATION}:backup-vault:{vault}"
    existing = {"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyDeletes", "Effect": "Deny", "Principal": "*", "Action": "backup:DeleteRecoveryPoint",
         "Resource": "*"}]}
    ours = {"Sid": f"BackupResponderCopyFrom{SOURCE}", "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{SOURCE}:root"}, "Action": "backup:CopyIntoBackupVault",
            "Resource": "*"}
    merged = {"Version": "2012-10-17", "Statement": [*existing["Statement"], ours]}
    destination = aws_client("backup")
    stub = Stubber(destination)
    get = {"BackupVaultName": vault}
    stub.add_response("describe_backup_vault", {"BackupVaultName": vault, "BackupVaultArn": vault_arn}, get)
    stub.add_response("get_backup_vault_access_policy", {"Policy": json.dumps(existing)}, get)
    stub.add_response("get_backup_vault_access_policy", {"Policy": json.dumps(existing)}, get)
    stub.add_response("put_backup_vault_access_policy", {}, {"BackupVaultName": vault,
                                                             "Policy": policy.dump(merged)})
    stub.add_response("get_backup_vault_access_policy", {"Policy": policy.dump(merged)}, get)
    stub.activate()
    remediator = AwsRemediator(Clients().add("backup", destination, DESTINATION))
    cfg = config(allow=[{"cause": "aws.vault.access-policy"}])
    outcome, text, state = respond(SEED003_VAULT, pipeline(), cfg, "on", remediator, tmp_path)
    stub.assert_no_pending_responses()
    assert (f"Applied: added backup:CopyIntoBackupVault for account {SOURCE} to the access policy of vault "
            f"{vault}") in text
    record = audit_of(outcome, state)
    assert record["before"] == existing and record["after"] == merged


# ---------------------------------------------------------------------------- seed 000
def test_seed_000_postgresql_vault_identity_gets_reader(tmp_path: Path, tls_files: tuple[Path, Path]) -> None:
    api = RoleAssignmentsApi()
    server = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-data-prod/providers/Microsoft.DBforPostgreSQL/"
              "servers/pg-orders-prod")
    api.vault(f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-backup-prod/providers/Microsoft.DataProtection/"
              "backupVaults/bv-pg-prod-01", VAULT_PRINCIPAL)
    api.resource(server, type="Microsoft.DBforPostgreSQL/servers")
    with arm_server(api, tls_files) as (url, cert):
        remediator = AzureRemediator(FakeCredential(), endpoint=url, connection_verify=str(cert))
        cfg = config(allow=[{"cause": "azure.postgres.vault-msi-reader", "subscriptions": [SUBSCRIPTION]}])
        outcome, text, state = respond(SEED000_READER, pipeline(facts={"vault_principal_id": VAULT_PRINCIPAL}),
                                       cfg, "on", remediator, tmp_path)
    (created,) = api.assignments.values()
    assert created["properties"]["scope"] == server
    assert created["properties"]["principalType"] == "ServicePrincipal"
    assert (f"Applied: assigned Reader on {server} to the Backup vault bv-pg-prod-01's identity "
            f"({VAULT_PRINCIPAL})") in text
    record = audit_of(outcome, state)
    assert record["action"] == "applied" and record["before"] == [] and record["after"][0]["scope"] == server


# ---------------------------------------------------------------------------- the switch off
def test_with_the_switch_off_nothing_is_changed_or_asked(iam: Any, tmp_path: Path,
                                                         tls_files: tuple[Path, Path]) -> None:
    untouchable = Stubber(aws_client("backup"))
    untouchable.activate()
    api = RoleAssignmentsApi()
    allow_all = config(allow=[{"cause": "aws.iam.pass-role"}, {"cause": "aws.kms.key-access"},
                              {"cause": "aws.vault.access-policy"}, {"cause": "azure.postgres.vault-msi-reader"}])
    with arm_server(api, tls_files) as (url, cert):
        cases = [
            (SEED004, pipeline(SEED004_DECODED), AwsRemediator(Clients().add("iam", iam))),
            (SEED003_KMS, pipeline(facts={"kms_key_arn": f"arn:aws:kms:{REGION}:{SOURCE}:key/k"}), AwsRemediator(Clients())),
            (SEED003_VAULT, pipeline(), AwsRemediator(Clients())),
            (SEED000_READER, pipeline(facts={"vault_principal_id": VAULT_PRINCIPAL}),
             AzureRemediator(FakeCredential(), endpoint=url, connection_verify=str(cert))),
        ]
        for index, (event, pipe, remediator) in enumerate(cases):
            folder = tmp_path / str(index)
            folder.mkdir()
            outcome, text, _ = respond(event, pipe, allow_all, "off", remediator, folder)
            assert outcome.remediation is not None and outcome.remediation.action == "notified"
            assert "Remediation:" not in text
    assert iam.list_role_policies(RoleName="AWSBackupDefaultServiceRole")["PolicyNames"] == []
    assert api.requests == []  # ARM was not even asked
    assert isinstance(cases[1][2], AwsRemediator) and cases[1][2].clients.calls == []  # type: ignore[attr-defined]


def test_without_an_engine_the_responder_changes_nothing(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    report = Responder(pipeline(SEED004_DECODED), [OutboxSink(outbox)], MemoryStore()).handle(load_event(SEED004))
    assert report.outcome.remediation is None


def test_seed_003_destination_named_in_the_allow_list_is_written_when_organizations_cannot_be_asked(
        kms: Any) -> None:
    """The engine hands the entry's ``destination_accounts`` to the fix: the allow-listed account is
    written; the same failure with another destination is refused with the reason in the report."""
    key = kms.create_key(Description="orders-prod RDS key")["KeyMetadata"]["Arn"]
    original = kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    outcome = pipeline(facts={"kms_key_arn": key}).process(load_event(SEED003_KMS))
    destination = outcome.failure.facts["destination_account_id"]

    def decide(allowed: list[str]) -> Any:
        remediator = AwsRemediator(Clients().add("backup", RecoveryPointUnreadable()).add("kms", kms).add("organizations", organizations_cannot_be_asked()))
        cfg = config(allow=[{"cause": "aws.kms.key-access", "destination_accounts": allowed}])
        return RemediationEngine(config=cfg, switch="on", state=MemoryStore(), remediators=[remediator],
                                 sleep=lambda _: None).run(outcome).remediation

    refused = decide(["999988887777"])
    assert refused.action == "refused"
    assert f"destination account {destination} could not be confirmed" in refused.reason
    assert kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"] == original

    applied = decide([destination])
    assert applied.action == "applied", applied.reason
    assert any("allow-list" in note for note in applied.notes)
    assert destination in kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
