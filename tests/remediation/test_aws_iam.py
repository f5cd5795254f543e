"""The iam:PassRole fix against moto's IAM: the restore role gets exactly one inline statement for
the one role the decoded message names (with iam:PassedToService), and nothing else changes."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber
from moto import mock_aws

from functions.aws.remediate import AwsRemediator
from shared.remediation.changes import AlreadyInPlace, RemediationRefused
from shared.remediation.guardrails import check_change
from tests.remediation.conftest import SEED004, SEED004_DECODED, SOURCE, Clients, aws_client, outcome_of

RESTORE_ROLE = "AWSBackupDefaultServiceRole"
PASS_ROLE = "AmazonSSMRoleForInstancesQuickSetup"
PASS_ROLE_ARN = f"arn:aws:iam::{SOURCE}:role/{PASS_ROLE}"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                            "Principal": {"Service": "backup.amazonaws.com"}}]})
EXISTING = {"Version": "2012-10-17", "Statement": [{"Sid": "Existing", "Effect": "Allow", "Action": "ec2:Describe*",
                                                    "Resource": "*"}]}


@pytest.fixture
def iam(aws_env: None, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's IAM with the roles of seed 004; with the AWS managed policies (AdministratorAccess and
    the others: loading them takes most of a second) only for the tests that attach one."""
    if "aws_managed_policies" in request.fixturenames:
        monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    with mock_aws():
        client = aws_client("iam")
        client.create_role(RoleName=RESTORE_ROLE, Path="/service-role/", AssumeRolePolicyDocument=TRUST)
        client.create_role(RoleName=PASS_ROLE, AssumeRolePolicyDocument=TRUST)
        client.create_role(RoleName="SomeOtherRole", AssumeRolePolicyDocument=TRUST)
        client.put_role_policy(RoleName=RESTORE_ROLE, PolicyName="existing", PolicyDocument=json.dumps(EXISTING))
        managed = client.create_policy(PolicyName="BackupRestores", PolicyDocument=json.dumps(EXISTING))
        client.attach_role_policy(RoleName=RESTORE_ROLE, PolicyArn=managed["Policy"]["Arn"])
        yield client


def snapshot(iam: Any) -> dict[str, Any]:
    """Every role's trust policy, inline policies and attached policies, and the managed policies."""
    state: dict[str, Any] = {}
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        state[name] = {
            "trust": role["AssumeRolePolicyDocument"],
            "inline": {p: iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
                       for p in iam.list_role_policies(RoleName=name)["PolicyNames"]},
            "attached": sorted(a["PolicyArn"] for a in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]),
        }
    state["_managed"] = sorted(p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"])
    return state


def remediator(iam: Any) -> AwsRemediator:
    return AwsRemediator(Clients().add("iam", iam))


def test_pass_role_adds_one_statement_for_the_decoded_role_and_changes_nothing_else(iam: Any) -> None:
    outcome = outcome_of(SEED004, decoded=SEED004_DECODED)
    before = snapshot(iam)
    fixer = remediator(iam)
    change = fixer.plan_change(outcome)
    check_change(change, outcome.failure)
    assert snapshot(iam) == before  # planning only reads
    assert change.target == f"arn:aws:iam::{SOURCE}:role/service-role/{RESTORE_ROLE}"
    assert change.summary == f"add iam:PassRole on role {PASS_ROLE} to role {RESTORE_ROLE}"

    applied = fixer.apply(change)
    assert applied.changed
    assert fixer.verify(change)

    after = snapshot(iam)
    policy_name = f"BackupResponderPassRole-{PASS_ROLE}"
    document = after[RESTORE_ROLE]["inline"].pop(policy_name)
    assert after == before  # nothing else changed: other roles, other policies, attachments, trust
    assert document["Statement"] == [{
        "Sid": f"AllowBackupToPass{PASS_ROLE}", "Effect": "Allow", "Action": "iam:PassRole",
        "Resource": PASS_ROLE_ARN,  # the one role, never role/*
        "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
    }]


def test_pass_role_is_idempotent(iam: Any) -> None:
    outcome = outcome_of(SEED004, decoded=SEED004_DECODED)
    fixer = remediator(iam)
    change = fixer.plan_change(outcome)
    fixer.apply(change)
    once = snapshot(iam)
    assert fixer.apply(change).changed is False  # applying again changes nothing
    assert snapshot(iam) == once
    with pytest.raises(AlreadyInPlace):
        fixer.plan_change(outcome)  # and a new plan sees it in place


def test_an_inline_policy_of_the_same_name_keeps_its_statements(iam: Any) -> None:
    name = f"BackupResponderPassRole-{PASS_ROLE}"
    iam.put_role_policy(RoleName=RESTORE_ROLE, PolicyName=name, PolicyDocument=json.dumps(EXISTING))
    fixer = remediator(iam)
    change = fixer.plan_change(outcome_of(SEED004, decoded=SEED004_DECODED))
    fixer.apply(change)
    statements = iam.get_role_policy(RoleName=RESTORE_ROLE, PolicyName=name)["PolicyDocument"]["Statement"]
    assert statements[0] == EXISTING["Statement"][0]
    assert statements[1]["Resource"] == PASS_ROLE_ARN and len(statements) == 2


def test_a_policy_changed_since_it_was_planned_is_not_touched(iam: Any) -> None:
    fixer = remediator(iam)
    change = fixer.plan_change(outcome_of(SEED004, decoded=SEED004_DECODED))
    name = change.params["policy_name"]
    iam.put_role_policy(RoleName=RESTORE_ROLE, PolicyName=name, PolicyDocument=json.dumps(EXISTING))
    with pytest.raises(RemediationRefused, match="changed since"):
        fixer.apply(change)
    assert iam.get_role_policy(RoleName=RESTORE_ROLE, PolicyName=name)["PolicyDocument"] == EXISTING


def test_without_the_decoded_message_nothing_is_planned(iam: Any) -> None:
    with pytest.raises(RemediationRefused, match="decoded authorization message"):
        remediator(iam).plan_change(outcome_of(SEED004))


def test_a_role_to_pass_that_does_not_exist_is_refused(iam: Any) -> None:
    decoded = copy.deepcopy(SEED004_DECODED)
    decoded["context"]["resource"] = f"arn:aws:iam::{SOURCE}:role/GoneRole"
    with pytest.raises(RemediationRefused, match="does not exist"):
        remediator(iam).plan_change(outcome_of(SEED004, decoded=decoded))


def test_a_wildcard_resource_in_the_decoded_message_is_refused(iam: Any) -> None:
    decoded = copy.deepcopy(SEED004_DECODED)
    decoded["context"]["resource"] = f"arn:aws:iam::{SOURCE}:role/*"
    with pytest.raises(RemediationRefused, match="not one IAM role"):
        remediator(iam).plan_change(outcome_of(SEED004, decoded=decoded))


def test_a_decoded_principal_other_than_the_jobs_role_is_refused(iam: Any) -> None:
    decoded = copy.deepcopy(SEED004_DECODED)
    decoded["context"]["principal"]["arn"] = f"arn:aws:sts::{SOURCE}:assumed-role/SomeOtherRole/session"
    with pytest.raises(RemediationRefused, match="a person must check which role"):
        remediator(iam).plan_change(outcome_of(SEED004, decoded=decoded))
    assert "BackupResponderPassRole" not in json.dumps(snapshot(iam))


ADMIN_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
ROLE_TO_PASS_POWERS = [
    ("inline Action *", {"inline": {"Effect": "Allow", "Action": "*", "Resource": "*"}}, "administrator-level"),
    ("inline iam:*", {"inline": {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}}, "administrator-level"),
    ("inline NotAction", {"inline": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}},
     "administrator-level"),
    ("customer managed iam:PutRolePolicy",
     {"customer": {"Effect": "Allow", "Action": ["s3:GetObject", "iam:PutRolePolicy"], "Resource": "*"}},
     "IAM write"),
    ("inline iam:Attach*", {"inline": {"Effect": "Allow", "Action": "iam:Attach*", "Resource": "*"}}, "IAM write"),
    ("inline iam:PassRole", {"inline": {"Effect": "Allow", "Action": "iam:passrole", "Resource": "*"}},
     "IAM write"),
]


@pytest.fixture
def aws_managed_policies() -> None:
    """Asks the ``iam`` fixture for the AWS managed policies."""


def give(iam: Any, role: str, grant: dict[str, Any]) -> None:
    if "managed" in grant:
        iam.attach_role_policy(RoleName=role, PolicyArn=grant["managed"])
    if "inline" in grant:
        iam.put_role_policy(RoleName=role, PolicyName="powers",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [grant["inline"]]}))
    if "customer" in grant:
        arn = iam.create_policy(PolicyName="Powers", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [grant["customer"]]}))["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)


@pytest.mark.parametrize(("grant", "what"), [(g, w) for _, g, w in ROLE_TO_PASS_POWERS],
                         ids=[name for name, _, _ in ROLE_TO_PASS_POWERS])
def test_a_role_to_pass_with_administrator_or_iam_write_permissions_is_marked_as_a_risk(
        iam: Any, grant: dict[str, Any], what: str) -> None:
    """Passing a role hands its permissions to what runs with it: the plan says so, and the engine
    then leaves the decision to a person."""
    give(iam, PASS_ROLE, grant)
    change = remediator(iam).plan_change(outcome_of(SEED004, decoded=SEED004_DECODED))
    assert change.risk is not None and what in change.risk and PASS_ROLE in change.risk
    assert any(change.risk in note for note in change.notes)  # the message states it


def test_a_role_to_pass_with_aws_administrator_access_attached_is_marked_as_a_risk(
        aws_managed_policies: None, iam: Any) -> None:
    give(iam, PASS_ROLE, {"managed": ADMIN_ACCESS})
    change = remediator(iam).plan_change(outcome_of(SEED004, decoded=SEED004_DECODED))
    assert change.risk is not None and "administrator-level" in change.risk and PASS_ROLE in change.risk
    assert any(change.risk in note for note in change.notes)


def test_a_role_to_pass_with_read_only_permissions_is_no_risk(iam: Any) -> None:
    give(iam, PASS_ROLE, {"customer": {"Effect": "Allow", "Action": ["ssm:UpdateInstanceInformation", "iam:GetRole",
                                                                     "iam:List*"], "Resource": "*"},
                          "inline": {"Effect": "Deny", "Action": "*", "Resource": "*"}})
    change = remediator(iam).plan_change(outcome_of(SEED004, decoded=SEED004_DECODED))
    assert change.risk is None


def test_a_role_to_pass_whose_policies_cannot_be_read_is_a_risk(iam: Any) -> None:
    stub = Stubber(iam)
    stub.add_response("get_role", {"Role": {"RoleName": RESTORE_ROLE, "Path": "/service-role/", "RoleId": "AROAXXXXXXXXXXXXXXXXX",
                                            "Arn": f"arn:aws:iam::{SOURCE}:role/service-role/{RESTORE_ROLE}",
                                            "CreateDate": "2026-01-01T00:00:00Z"}})
    stub.add_response("get_role", {"Role": {"RoleName": PASS_ROLE, "Path": "/", "RoleId": "AROAYYYYYYYYYYYYYYYYY",
                                            "Arn": PASS_ROLE_ARN, "CreateDate": "2026-01-01T00:00:00Z"}})
    stub.add_client_error("list_attached_role_policies", "AccessDenied", "not authorized")
    stub.add_client_error("get_role_policy", "NoSuchEntity", "no such policy")
    with stub:
        change = remediator(iam).plan_change(outcome_of(SEED004, decoded=SEED004_DECODED))
    assert change.risk is not None and "could not be read (AccessDenied)" in change.risk


def test_a_role_to_pass_in_another_account_is_refused(iam: Any) -> None:
    decoded = copy.deepcopy(SEED004_DECODED)
    decoded["context"]["resource"] = "arn:aws:iam::999988887777:role/AdminRole"
    with pytest.raises(RemediationRefused, match="in another account"):
        remediator(iam).plan_change(outcome_of(SEED004, decoded=decoded))
