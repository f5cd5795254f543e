"""A scripted ``Remediator`` for the engine and guardrail tests: it records what the engine asked
for, so a test can prove that nothing was planned, applied or restarted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.models import Failure, Outcome
from shared.remediation.changes import Applied, Change
from tests.remediation.conftest import SOURCE

ROLE_ARN = f"arn:aws:iam::{SOURCE}:role/service-role/AWSBackupDefaultServiceRole"
PASS_ROLE_ARN = f"arn:aws:iam::{SOURCE}:role/AmazonSSMRoleForInstancesQuickSetup"
EXISTING = {"Sid": "Existing", "Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}
PASS = {"Sid": "AllowBackupToPass", "Effect": "Allow", "Action": "iam:PassRole", "Resource": PASS_ROLE_ARN,
        "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}}


def pass_role_change(target: str = ROLE_ARN, **update: Any) -> Change:
    data: dict[str, Any] = dict(
        kind="iam-pass-role", cloud="aws", account=SOURCE, target=target,
        summary="add iam:PassRole on role AmazonSSMRoleForInstancesQuickSetup to role AWSBackupDefaultServiceRole",
        done="added iam:PassRole on role AmazonSSMRoleForInstancesQuickSetup to role AWSBackupDefaultServiceRole",
        before={"Version": "2012-10-17", "Statement": [EXISTING]},
        after={"Version": "2012-10-17", "Statement": [EXISTING, PASS]},
        params={"role_name": "AWSBackupDefaultServiceRole", "policy_name": "p"})
    data.update(update)
    return Change(**data)


@dataclass
class FakeRemediator:
    kinds: frozenset[str] = frozenset({"iam-pass-role", "vault-access-policy", "kms-key-policy",
                                       "azure-role-assignment"})
    change: Change | None = None
    plan_error: Exception | None = None
    apply_error: Exception | None = None
    verified: bool = True
    tags: dict[str, str] | None = None
    restarted: str = "NEW-JOB-1"
    planned: list[Outcome] = field(default_factory=list)
    applied: list[Change] = field(default_factory=list)
    restarts: list[str | None] = field(default_factory=list)
    tag_reads: int = 0

    def plan_change(self, outcome: Outcome) -> Change:
        self.planned.append(outcome)
        if self.plan_error is not None:
            raise self.plan_error
        return self.change or pass_role_change()

    def apply(self, change: Change) -> Applied:
        if self.apply_error is not None:
            raise self.apply_error
        self.applied.append(change)
        return Applied(changed=True, detail="inline policy p")

    def verify(self, change: Change) -> bool:
        return self.verified

    def restart(self, outcome: Outcome, change: Change) -> str:
        self.restarts.append(outcome.failure.job_id)
        return self.restarted

    def resource_tags(self, failure: Failure) -> dict[str, str] | None:
        self.tag_reads += 1
        return self.tags

    @property
    def touched(self) -> bool:
        """True when the engine asked for anything at all (a read counts)."""
        return bool(self.planned or self.applied or self.restarts or self.tag_reads)
