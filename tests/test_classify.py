"""Every seed document's failures, and the documented examples, classified to the right cause."""

from __future__ import annotations

import re

import pytest

from shared.classify import Classifier
from shared.decode import apply_decoded, parse_decoded
from shared.models import Failure
from shared.parse import parse_event
from tests.conftest import event_paths, load_event

EXPECTED = {
    # seed 003: cross-account copy
    "aws/seed003-copy-org-membership.json": "aws.copy.org-membership",
    "aws/seed003-copy-unsupported-rds-cross-region.json": "aws.copy.unsupported-resource",
    "aws/seed003-copy-unsupported-rds-cross-region-current-wording.json": "aws.copy.unsupported-resource",
    "aws/seed003-copy-default-backup-key-vault.json": "aws.kms.aws-managed-key",
    "aws/seed003-copy-default-backup-key-vault-current-wording.json": "aws.kms.aws-managed-key",
    "aws/seed003-copy-aws-managed-cmk-snapshot.json": "aws.kms.aws-managed-key",
    "aws/seed003-copy-source-kms-key-access.json": "aws.kms.key-access",
    "aws/seed003-copy-ami-snapshot-key-not-accessible.json": "aws.kms.key-access",
    "aws/seed003-copy-ami-snapshot-key-not-accessible-current-wording.json": "aws.kms.key-access",
    "aws/seed003-copy-vault-access-denied.json": "aws.vault.access-policy",
    "aws/seed003-copy-tags-internal-failure.json": "aws.tags.policy",
    "aws/seed003-copy-tags-internal-failure-current-wording.json": "aws.tags.policy",
    "aws/seed003-copy-tag-policy.json": "aws.tags.policy",
    # seed 004: EC2 restore with an encoded authorization message
    "aws/seed004-restore-ec2-not-authorized-encoded.json": "aws.iam.pass-role",
    # the AWS Backup documentation's own examples
    "aws/restore-job-failed.json": "aws.restore.instance-profile",
    "aws/copy-job-failed.json": "aws.iam.role-permissions",
    "aws/backup-job-aborted.json": "aws.job.stopped-by-user",
    "aws/backup-job-expired.json": "aws.backup.concurrent-job",
    "aws/backup-job-expired-window.json": "aws.backup.window-expired",
    "aws/backup-job-failed-vss-agent-not-installed.json": "aws.ec2.vss",
    "aws/restore-job-failed-pass-role-plain.json": "aws.iam.pass-role",
    "aws/restore-job-failed-kms-key-pending-deletion.json": "aws.kms.key-access",
    "aws/backup-job-completed-with-issues.json": "aws.ec2.vss",
    "aws/backup-job-failed.json": "aws.vault.missing",
    "aws/backup-job-failed-s3-bucket-versioning.json": "aws.iam.role-permissions",
    "aws/copy-job-failed-cross-account-disabled.json": "aws.copy.cross-account-disabled",
    "aws/copy-job-failed-marketplace-ami.json": "aws.copy.unsupported-resource",
    "aws/copy-job-failed-retention-range.json": "aws.vault.retention-range",
    # Azure: a real built-in alert, and seeds 000, 001, 002
    "azure/azure-backup-backup-failure-sql-usererrorparentfullbackupmissing.json": "azure.sql.full-backup-missing",
    "azure/seed000-pgsql-backup-usererrormsimissingpermissions.json": "azure.postgres.vault-msi-reader",
    "azure/seed000-pgsql-backup-usererrorbackupuserauthfailed.json": "azure.postgres.entra-admin-missing",
    "azure/seed000-pgsql-backup-usererrormissingnetworksecuritypermissions.json": "azure.postgres.network-line-of-sight",
    "azure/seed000-pgsql-restore-usererrorcontainernotaccessible.json": "azure.storage.container-access",
    "azure/seed001-pgsql-backup-usererrormissingdbpermissions.json": "azure.postgres.db-permissions",
    "azure/seed002-vm-backup-extensionsnapshotfailednonetwork.json": "azure.vm.no-network",
    "azure/seed002-vm-backup-usererrorkeyvaultpermissionsnotconfigured.json": "azure.vm.ade-keyvault-access",
    "azure/seed001-pgsql-backup-usererrormissingpermissionsonsecretstore.json": "azure.keyvault.secret-access",
    "azure/seed001-pgsql-restore-usererrormissingdbpermissions.json": "azure.postgres.db-permissions",
    "azure/seed002-vm-restore-usererrorcrosssubscriptionrestorenotsuppportedforencryptedazurevm.json":
        "azure.vm.encrypted-restore-limit",
    # the same code, another workload, another fix
    "azure/blob-backup-usererrormissingrequiredpermissions.json": "azure.blob.vault-msi-permissions",
    "azure/disk-backup-usererrormissingrequiredpermissions.json": "azure.disk.vault-msi-permissions",
}
DECODED_PASS_ROLE = {
    "allowed": False, "explicitDeny": False,
    "matchedStatements": {"items": []}, "failures": {"items": []},
    "context": {
        "principal": {"id": "AROAAAAAAAAAA:AWSBackup-AWSBackupDefaultServiceRole",
                      "arn": "arn:aws:sts::111122223333:assumed-role/AWSBackupDefaultServiceRole/AWSBackup-AWSBackupDefaultServiceRole"},
        "action": "iam:PassRole",
        "resource": "arn:aws:iam::111122223333:role/AmazonSSMRoleForInstancesQuickSetup",
        "conditions": {"items": [{"key": "iam:PassedToService",
                                  "values": {"items": [{"value": "ec2.amazonaws.com"}]}}]},
    },
}


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier()


def failure_of(classifier: Classifier, name: str) -> Failure:
    return parse_event(load_event(name), classifier.catalog.codes)


@pytest.mark.parametrize(("name", "cause"), sorted(EXPECTED.items()))
def test_documented_failures_get_their_cause(classifier: Classifier, name: str, cause: str) -> None:
    finding = classifier.classify(failure_of(classifier, name))
    assert finding.cause == cause
    assert finding.rule and classifier.catalog.rule(finding.rule).cause == cause
    assert finding.confidence >= 0.6


def test_every_failed_fixture_is_covered_by_the_table_or_has_no_message() -> None:
    for path in event_paths("aws") + event_paths("azure"):
        name = f"{path.parent.name}/{path.name}"
        failure = parse_event(load_event(name))
        if failure.failed and failure.message and failure.message != "<failure reason>" and name not in EXPECTED:
            pytest.fail(f"{name} fails with a documented message but has no expected cause here")


def _variants(message: str) -> list[str]:
    """How providers and tooling reword the same message: quotes, case, spacing, other names."""
    return [
        f'"{message}"',
        f"'{message}'",
        message.upper(),
        message.lower(),
        re.sub(r" ", "  \n ", message),
        message.replace("us-west-2", "ap-northeast-2").replace("us-east-1", "eu-central-1"),
        re.sub(r"\d{12,13}", "999988887777", message),
        re.sub(r"'xyz'", "'cost-center'", message),
    ]


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if n.startswith("aws/")))
def test_aws_messages_match_on_meaning_not_one_exact_string(classifier: Classifier, name: str) -> None:
    failure = failure_of(classifier, name)
    assert failure.message
    for variant in _variants(failure.message):
        varied = failure.model_copy(update={"message": variant})
        assert classifier.classify(varied).cause == EXPECTED[name], variant


def test_azure_codes_match_in_any_case(classifier: Classifier) -> None:
    failure = failure_of(classifier, "azure/seed000-pgsql-backup-usererrormsimissingpermissions.json")
    for code in ("usererrormsimissingpermissions", "USERERRORMSIMISSINGPERMISSIONS"):
        finding = classifier.classify(failure.model_copy(update={"code": code}))
        assert finding.cause == "azure.postgres.vault-msi-reader"
        assert finding.code == "UserErrorMSIMissingPermissions"


def test_the_same_azure_code_needs_another_fix_on_a_flexible_server_restore(classifier: Classifier) -> None:
    single = failure_of(classifier, "azure/seed000-pgsql-backup-usererrormsimissingpermissions.json")
    assert classifier.classify(single).cause == "azure.postgres.vault-msi-reader"
    flex_restore = single.model_copy(update={"resource_type": "postgresql-flex", "job_type": "restore"})
    assert classifier.classify(flex_restore).cause == "azure.storage.container-access"


def test_seed004_is_pass_role_before_decoding_and_certain_after(classifier: Classifier) -> None:
    failure = failure_of(classifier, "aws/seed004-restore-ec2-not-authorized-encoded.json")
    guess = classifier.classify(failure)
    assert guess.cause == "aws.iam.pass-role" and guess.confidence < 0.9

    decoded = apply_decoded(failure, parse_decoded(DECODED_PASS_ROLE))
    finding = classifier.classify(decoded)
    assert finding.cause == "aws.iam.pass-role"
    assert finding.confidence > guess.confidence
    assert "AmazonSSMRoleForInstancesQuickSetup" in finding.title
    assert decoded.facts["pass_role_arn"] == "arn:aws:iam::111122223333:role/AmazonSSMRoleForInstancesQuickSetup"


def test_an_explicit_deny_is_not_fixed_by_an_allow(classifier: Classifier) -> None:
    failure = failure_of(classifier, "aws/seed004-restore-ec2-not-authorized-encoded.json")
    denied = apply_decoded(failure, parse_decoded({**DECODED_PASS_ROLE, "explicitDeny": True}))
    finding = classifier.classify(denied)
    assert finding.cause != "aws.iam.pass-role"
    assert finding.explicit_deny
    assert classifier.catalog.rule(finding.rule or "").auto_fix == "none"


def test_another_decoded_action_is_a_missing_permission_of_the_backup_role(classifier: Classifier) -> None:
    failure = failure_of(classifier, "aws/seed004-restore-ec2-not-authorized-encoded.json")
    document = {**DECODED_PASS_ROLE, "context": {**DECODED_PASS_ROLE["context"], "action": "ec2:CreateTags",
                                                 "resource": "arn:aws:ec2:us-east-1:111122223333:instance/*"}}
    finding = classifier.classify(apply_decoded(failure, parse_decoded(document)))
    assert finding.cause == "aws.iam.role-permissions"


def test_unknown_failures_are_unclassified_with_the_message_kept(classifier: Classifier) -> None:
    failure = failure_of(classifier, "aws/backup-job-failed.json").model_copy(
        update={"message": "The flux capacitor is out of alignment."})
    finding = classifier.classify(failure)
    assert (finding.cause, finding.rule, finding.confidence) == ("unclassified", None, 0.0)
    assert "flux capacitor" in finding.title


def test_an_unknown_failure_is_titled_on_one_line_with_its_job(classifier: Classifier) -> None:
    """The message's white space of any kind (tabs, line breaks, a no-break space) is one space there."""
    failure = failure_of(classifier, "aws/copy-job-failed.json").model_copy(
        update={"message": " The flux\tcapacitor\r\n is\u00a0out  of alignment.\u2029"})
    finding = classifier.classify(failure)
    assert finding.title == "Unrecognised AWS Backup copy job failure: The flux capacitor is out of alignment."


def test_a_successful_job_is_not_a_failure(classifier: Classifier) -> None:
    finding = classifier.classify(failure_of(classifier, "aws/backup-job-completed.json"))
    assert finding.cause == "unclassified" and "not a failure" in finding.title


def test_a_classifier_that_has_seen_many_failures_answers_as_a_fresh_one() -> None:
    """Decisions are remembered per classifier: the answer never depends on what came before."""
    failures = [parse_event(load_event(path)) for path in event_paths("aws") + event_paths("azure")]
    seasoned = Classifier()
    for failure in failures:
        seasoned.classify(failure)
    for failure in reversed(failures):
        assert seasoned.classify(failure) == Classifier().classify(failure)


def test_a_title_is_filled_with_each_failures_own_values() -> None:
    event = load_event("aws/seed003-copy-org-membership.json")
    classifier = Classifier()
    titles = []
    for account in ("444455556666", "777788889999"):
        event["detail"]["destinationBackupVaultArn"] = f"arn:aws:backup:us-west-2:{account}:backup-vault:central"
        titles.append(classifier.classify(parse_event(event)).title)
    assert "444455556666" in titles[0] and "777788889999" in titles[1]


def test_a_failure_changed_after_parsing_does_not_change_the_next_one() -> None:
    event = load_event("aws/seed003-copy-source-kms-key-access.json")
    first = parse_event(event)
    first.codes.append("InvalidSnapshot.NotFound")
    first.facts.clear()
    again = parse_event(event)
    assert "InvalidSnapshot.NotFound" not in again.codes and again.facts
