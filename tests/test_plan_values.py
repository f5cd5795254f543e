"""The fix uses every value the AWS event carries, and a fix that needs a new KMS key never proposes
the key that caused the failure. Everything goes through the public pipeline, on the real fixtures."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.catalog import default_catalog
from shared.models import Failure, Outcome, Plan
from shared.pipeline import Pipeline
from shared.text import names_in
from tests.conftest import event_paths, load_event
from tests.test_classify import EXPECTED

#: Placeholders that no AWS Backup event carries: enrichment, decoding or the reader find them.
NOT_IN_EVENTS = {"kms_key_arn", "new_kms_key_arn", "pass_role_arn", "organization_id",
                 "principal_arn", "decoded_action", "decoded_resource"}
#: What only the reader can choose (the instance a restore will create, the profile to attach).
READERS_CHOICE = {"<new instance>", "<profile>", "<name>"}
AWS_MANAGED_KEY_FIXTURES = sorted(n for n, cause in EXPECTED.items() if cause == "aws.kms.aws-managed-key")
#: The AWS managed key an enricher reads for these failures (describe-backup-vault, describe-recovery-point).
AWS_MANAGED_KEY = "arn:aws:kms:us-west-2:111122223333:key/0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6"
CUSTOMER_KEY = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@dataclass
class KnownKey:
    """An enricher that found the key the job used, as the AWS enricher does."""

    key: str
    name: str = "read the key of the vault"

    def enrich(self, failure: Failure) -> Failure:
        return failure.model_copy(update={"facts": {**failure.facts, "kms_key_arn": self.key}})


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline()


def plan_text(plan: Plan) -> str:
    """All a reader sees of the fix: title, steps, snippets and the commands that look values up."""
    return "\n".join([plan.title, plan.explanation, *plan.steps, *(s.title for s in plan.snippets),
                      *(s.body for s in plan.snippets), *plan.lookups.values()])


def outcome_of(pipeline: Pipeline, name: str) -> Outcome:
    return pipeline.process(load_event(name))


def planned(pipeline: Pipeline, name: str) -> Plan:
    plan = outcome_of(pipeline, name).plan
    assert plan is not None, name
    return plan


@pytest.mark.parametrize("path", event_paths("aws"), ids=lambda p: p.name)
def test_no_value_the_event_carries_is_left_for_the_reader(pipeline: Pipeline, path: Path) -> None:
    outcome = outcome_of(pipeline, f"aws/{path.name}")
    if outcome.plan is None:
        assert outcome.finding.cause == "unclassified"
        return
    text = plan_text(outcome.plan)
    assert set(re.findall(r"\{([a-z_]+)\}", text)) <= NOT_IN_EVENTS
    assert set(outcome.plan.missing) <= NOT_IN_EVENTS
    assert "..." not in text
    assert set(re.findall(r"<[a-z][a-z ]*>", text)) <= READERS_CHOICE


@pytest.mark.parametrize(("name", "values"), [
    # a copy names its source recovery point only in the envelope's resources
    ("copy-job-failed", ["arn:aws:ec2:us-west-2::image/ami-00179b33a7a88cac5"]),
    ("seed003-copy-source-kms-key-access",
     ["--recovery-point-arn arn:aws:rds:us-west-2:111122223333:snapshot:awsbackup:job-5e0c3d2a-7b1f-4c8e-9a6d-2f4b8c1e7a90",
      "--backup-vault-name prod-cmk-vault", "arn:aws:iam::444455556666:root"]),
    # the instance of the EC2 resource ARN
    ("seed003-copy-ami-snapshot-key-not-accessible",
     ["Values=i-0c2e4a6b8d0f13579", "--recovery-point-arn arn:aws:ec2:us-west-2::image/ami-0d4f6b8a0c2e46813"]),
    ("backup-job-failed-vss-agent-not-installed", ["Values=i-0b1d3f5a7c9e24680"]),
    # the plan and rule of detail.createdBy
    ("backup-job-expired-window", ["--backup-plan-id 7c2e4a6b-8d0f-4b1c-9e3a-5f7d9b1c3e5a",
                                   "RuleId=='3b5d7f9a-1c2e-4a6b-8d0f-2e4a6c8e0b1d'",
                                   "ZmE0YjJjMWQtOGU3Zi00YTNiLWJjMmQtOWUxZjBhN2I2YzVk"]),
    # a backup job's vault is the one to create, not a copy destination it does not have
    ("backup-job-failed", ["--backup-vault-name 9ab3e749-82c6-4342-9320-5edbf4918b86"]),
    ("seed003-copy-default-backup-key-vault", ["arn:aws:iam::444455556666:root", "--backup-vault-name prod-cmk-vault-cmk"]),
    # what a plain status message names: the role to pass, the key that failed
    ("restore-job-failed-pass-role-plain", ['"Resource": "arn:aws:iam::111122223333:role/AmazonSSMRoleForInstancesQuickSetup"']),
    ("restore-job-failed-kms-key-pending-deletion",
     ["--key-id arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"]),
])
def test_the_fix_names_the_values_of_the_event(pipeline: Pipeline, name: str, values: list[str]) -> None:
    text = plan_text(planned(pipeline, f"aws/{name}.json"))
    for value in values:
        assert value in text, value


def test_the_existing_key_is_looked_up_from_the_recovery_point_the_event_names(pipeline: Pipeline) -> None:
    plan = planned(pipeline, "aws/seed003-copy-source-kms-key-access.json")
    assert plan.lookups["kms_key_arn"] == (
        "aws backup describe-recovery-point --backup-vault-name prod-cmk-vault --recovery-point-arn "
        "arn:aws:rds:us-west-2:111122223333:snapshot:awsbackup:job-5e0c3d2a-7b1f-4c8e-9a6d-2f4b8c1e7a90 "
        "--query EncryptionKeyArn --output text")


def test_a_value_a_lookup_needs_and_the_event_lacks_is_looked_up_too() -> None:
    # a restore event names its recovery point but not its vault, which the key lookup needs
    event: dict[str, Any] = load_event("aws/restore-job-failed-kms-key-pending-deletion.json")
    event["detail"]["statusMessage"] = "The KMS key is pending deletion."  # the message no longer names the key
    plan = Pipeline().process(event).plan
    assert plan is not None and plan.cause == "aws.kms.key-access"
    assert "--recovery-point-arn arn:aws:ec2:eu-west-1::snapshot/snap-0c8e0a2b4d6f13579" in plan.lookups["kms_key_arn"]
    assert "vault_name" in plan.missing
    assert plan.lookups["vault_name"].startswith("aws backup describe-restore-job --restore-job-id "
                                                 "6C0D5F2B-9E4A-4B1C-3D8F-0A2C5E7B9D41 --query BackupVaultArn")


def test_the_key_of_a_failed_backup_is_looked_up_from_the_job() -> None:
    event: dict[str, Any] = load_event("aws/backup-job-expired-window.json")
    event["detail"].update(state="FAILED", resourceType="RDS", resourceArn="arn:aws:rds:us-west-2:111122223333:db:orders",
                           statusMessage="The source snapshot KMS key does not exist, is not enabled or you do not "
                                         "have permissions to access it.")
    plan = Pipeline().process(event).plan
    assert plan is not None and plan.cause == "aws.kms.key-access"
    assert plan.lookups["kms_key_arn"] == ("aws backup describe-backup-job --backup-job-id "
                                           "6A1C3E5B-7D9F-4B2A-8C0E-1F3A5C7E9B2D --query EncryptionKeyArn --output text")


def test_a_plan_the_event_lacks_is_looked_up_from_the_job() -> None:
    event: dict[str, Any] = load_event("aws/backup-job-expired-window.json")
    del event["detail"]["createdBy"]
    plan = Pipeline().process(event).plan
    assert plan is not None and {"backup_plan_id", "backup_rule_id"} <= set(plan.missing)
    assert plan.lookups["backup_plan_id"] == ("aws backup describe-backup-job --backup-job-id "
                                              "6A1C3E5B-7D9F-4B2A-8C0E-1F3A5C7E9B2D --query CreatedBy.BackupPlanId "
                                              "--output text")


@pytest.mark.parametrize("name", AWS_MANAGED_KEY_FIXTURES)
def test_an_aws_managed_key_fix_creates_a_new_key_and_never_reuses_the_failing_one(name: str) -> None:
    outcome = Pipeline(enrichers=[KnownKey(AWS_MANAGED_KEY)]).process(load_event(name))
    plan = outcome.plan
    assert outcome.finding.cause == "aws.kms.aws-managed-key" and plan is not None
    assert outcome.failure.facts["kms_key_arn"] == AWS_MANAGED_KEY  # known, and still not proposed
    assert AWS_MANAGED_KEY not in plan.model_dump_json()
    assert "kms_key_arn" not in plan.lookups
    # the steps say a new key is made, and the lookup is the command that makes it
    assert any("{new_kms_key_arn}" in step and "NEW customer managed" in step for step in plan.steps)
    create = plan.lookups["new_kms_key_arn"]
    for part in ("aws kms create-key", "--policy file://new-key-policy.json", "--region us-west-2",
                 "--query KeyMetadata.Arn --output text", "aws kms create-alias",
                 "alias/aws-backup-copy-to-444455556666"):
        assert part in create, part
    # its key policy lets the destination account use the key for copies, and no more
    [policy_snippet] = [s for s in plan.snippets if "new-key-policy.json" in s.title]
    statements = json.loads(policy_snippet.body)["Statement"]
    destination = [s for s in statements if s["Principal"]["AWS"] == "arn:aws:iam::444455556666:root"]
    assert destination and all(s["Effect"] == "Allow" for s in destination)
    granted = {a for s in destination for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert granted == {"kms:DescribeKey", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant"}
    [grants] = [s for s in destination if s["Action"] == "kms:CreateGrant"]
    assert grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    [admin] = [s for s in statements if s["Action"] == "kms:*"]
    assert admin["Principal"]["AWS"] == "arn:aws:iam::111122223333:root"


def test_a_key_access_fix_keeps_to_the_key_the_job_used() -> None:
    plan = Pipeline(enrichers=[KnownKey(CUSTOMER_KEY)]).process(
        load_event("aws/seed003-copy-source-kms-key-access.json")).plan
    assert plan is not None and plan.cause == "aws.kms.key-access"
    assert f"--key-id {CUSTOMER_KEY}" in plan_text(plan)
    assert "new_kms_key_arn" not in plan_text(plan) and "create-key" not in plan_text(plan)


def test_no_aws_managed_key_rule_names_the_existing_key_and_every_new_key_comes_with_its_policy() -> None:
    catalog = default_catalog()
    for rule in catalog.rules:
        texts = [rule.title, rule.explanation, *rule.steps, *(s.title for s in rule.snippets),
                 *(s.body for s in rule.snippets)]
        names = set().union(*(names_in(t) for t in texts))
        if rule.cause == "aws.kms.aws-managed-key":
            assert "kms_key_arn" not in names, rule.id
        if "new_kms_key_arn" in names:
            assert any("new-key-policy.json" in s.title for s in rule.snippets), rule.id
