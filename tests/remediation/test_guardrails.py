"""Every guardrail, tripped: the hourly and per-resource limits, the circuit breaker, never
narrowing, explicit denies and foreign principals or resources, specific resources only, and the
Azure scope, role and principal checks."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shared.models import Outcome
from shared.remediation.changes import Change, RemediationRefused
from shared.remediation.guardrails import check_change, check_decoded
from shared.state import MemoryStore
from tests.remediation.conftest import (
    DESTINATION,
    SEED000_READER,
    SEED003_VAULT,
    SEED004,
    SEED004_DECODED,
    SOURCE,
    SUBSCRIPTION,
    VAULT_PRINCIPAL,
    config,
    engine,
    outcome_of,
)
from tests.remediation.fakes import EXISTING, PASS, FakeRemediator, pass_role_change
from tests.support.clock import FakeClock

ALLOW = {"allow": [{"cause": "aws.iam.pass-role"}]}


def seed004(job: str | None = None, event: str | None = None, resource: str | None = None,
            decoded: dict[str, Any] | None = None) -> Outcome:
    outcome = outcome_of(SEED004, decoded=decoded or SEED004_DECODED)
    update: dict[str, Any] = {}
    if job:
        update["job_id"] = job
    if event:
        update["event_id"] = event
    if resource:
        update["resource_id"] = resource
    return outcome.model_copy(update={"failure": outcome.failure.model_copy(update=update)})


# ------------------------------------------------------------------ rate limits
def test_the_hourly_limit_stops_the_next_change() -> None:
    fake = FakeRemediator()
    clock = FakeClock()
    eng = engine(config(**ALLOW, limits={"max_changes_per_hour": 1, "max_changes_per_resource": 5}), "on", [fake],
                 clock=clock)
    assert eng.decide(seed004("JOB-1", "E1", "arn:aws:ec2:us-west-2::image/ami-1")).action == "applied"
    fake.change = pass_role_change(target=f"arn:aws:iam::{SOURCE}:role/Other")
    second = eng.decide(seed004("JOB-2", "E2", "arn:aws:ec2:us-west-2::image/ami-2"))
    assert second.action == "refused" and "1 automatic changes per hour" in (second.reason or "")
    assert len(fake.applied) == 1
    clock.advance(3600)  # the next hour
    assert eng.decide(seed004("JOB-3", "E3", "arn:aws:ec2:us-west-2::image/ami-3")).action == "applied"


def test_the_per_resource_limit_stops_a_second_change_to_the_same_role() -> None:
    fake = FakeRemediator()
    eng = engine(config(**ALLOW, limits={"max_changes_per_resource": 1}), "on", [fake])
    assert eng.decide(seed004("JOB-1", "E1", "arn:aws:ec2:us-west-2::image/ami-1")).action == "applied"
    second = eng.decide(seed004("JOB-2", "E2", "arn:aws:ec2:us-west-2::image/ami-2"))
    assert second.action == "refused" and "per 24 h" in (second.reason or "") and len(fake.applied) == 1


def test_a_limit_of_zero_pauses_all_automation() -> None:
    fake = FakeRemediator()
    decision = engine(config(**ALLOW, limits={"max_changes_per_hour": 0}), "on", [fake]).decide(seed004())
    assert decision.action == "refused" and not fake.applied


# ------------------------------------------------------------------ circuit breaker
def test_the_same_failure_after_a_fix_opens_the_circuit_breaker() -> None:
    fake = FakeRemediator()
    store = MemoryStore()
    eng = engine(config(**ALLOW, limits={"max_changes_per_resource": 5}), "on", [fake], store)
    assert eng.decide(seed004("JOB-1", "E1")).action == "applied"
    again = eng.decide(seed004("JOB-2", "E2"))  # the restarted job failed the same way
    assert again.action == "refused" and again.needs_person
    assert "was applied" in (again.reason or "") and "a person must look" in (again.reason or "")
    later = eng.decide(seed004("JOB-3", "E3"))
    assert later.action == "refused" and "automation is stopped" in (later.reason or "")
    assert len(fake.applied) == 1
    # a person looked and reset it
    eng.breaker.reset(seed004().failure, "aws.iam.pass-role")
    assert eng.decide(seed004("JOB-4", "E4")).action == "applied"


def test_the_breaker_is_per_resource() -> None:
    fake = FakeRemediator()
    eng = engine(config(**ALLOW, limits={"max_changes_per_resource": 5}), "on", [fake])
    eng.decide(seed004("JOB-1", "E1", "arn:aws:ec2:us-west-2::image/ami-1"))
    other = eng.decide(seed004("JOB-2", "E2", "arn:aws:ec2:us-west-2::image/ami-2"))
    assert other.action == "applied"


def test_the_breaker_forgets_a_fix_after_its_window() -> None:
    fake = FakeRemediator()
    clock = FakeClock()
    eng = engine(config(**ALLOW, limits={"max_changes_per_resource": 5, "circuit_breaker_hours": 1}), "on", [fake],
                 clock=clock)
    eng.decide(seed004("JOB-1", "E1"))
    clock.advance(2 * 3600)
    assert eng.decide(seed004("JOB-2", "E2")).action == "applied"


# ------------------------------------------------------------------ never narrow
def test_a_change_that_removes_a_statement_is_refused() -> None:
    narrowing = pass_role_change(after={"Version": "2012-10-17", "Statement": [PASS]})  # EXISTING is gone
    fake = FakeRemediator(change=narrowing)
    decision = engine(config(**ALLOW), "on", [fake]).decide(seed004())
    assert decision.action == "refused" and "remove or narrow" in (decision.reason or "")
    assert not fake.applied


def test_a_change_that_rewrites_a_statement_is_refused() -> None:
    narrowed = copy.deepcopy(EXISTING)
    narrowed["Action"] = "ec2:DescribeInstances"
    change = pass_role_change(after={"Version": "2012-10-17", "Statement": [narrowed, PASS]})
    with pytest.raises(RemediationRefused, match="remove or narrow"):
        check_change(change, seed004().failure)


def test_a_change_of_the_policy_version_is_refused() -> None:
    change = pass_role_change(after={"Version": "2008-10-17", "Statement": [EXISTING, PASS]})
    with pytest.raises(RemediationRefused, match="Version"):
        check_change(change, seed004().failure)


# ------------------------------------------------------------------ what the decoded message shows
def test_an_explicit_deny_is_refused_before_anything_is_read() -> None:
    decoded = copy.deepcopy(SEED004_DECODED)
    decoded["explicitDeny"] = True
    fake = FakeRemediator()
    cfg = config(allow=[{"cause": "aws.iam.*"}])
    outcome = seed004(decoded=decoded)
    decision = engine(cfg, "on", [fake]).decide(outcome)
    assert not fake.touched
    # the catalog sends explicit denies to a manual rule; the guardrail refuses them whatever the rule
    assert decision.action in ("notified", "refused")
    with pytest.raises(RemediationRefused, match="explicit Deny"):
        check_decoded(outcome.failure, outcome.finding)


def test_an_explicit_deny_stops_even_a_fix_the_rule_would_allow() -> None:
    outcome = seed004()
    assert outcome.failure.decoded is not None
    denied = outcome.failure.decoded.model_copy(update={"explicit_deny": True})
    outcome = outcome.model_copy(update={"failure": outcome.failure.model_copy(update={"decoded": denied})})
    fake = FakeRemediator()
    decision = engine(config(**ALLOW), "on", [fake]).decide(outcome)
    assert decision.action == "refused" and "explicit Deny" in (decision.reason or "") and not fake.touched


@pytest.mark.parametrize(("field", "value", "what"), [
    ("principal", "arn:aws:sts::999988887777:assumed-role/AWSBackupDefaultServiceRole/s", "principal"),
    ("resource", "arn:aws:iam::999988887777:role/AmazonSSMRoleForInstancesQuickSetup", "resource"),
])
def test_a_principal_or_resource_outside_the_account_is_refused(field: str, value: str, what: str) -> None:
    decoded = copy.deepcopy(SEED004_DECODED)
    if field == "principal":
        decoded["context"]["principal"]["arn"] = value
    else:
        decoded["context"]["resource"] = value
    fake = FakeRemediator()
    decision = engine(config(**ALLOW), "on", [fake]).decide(seed004(decoded=decoded))
    assert decision.action == "refused" and f"names a {what} in account 999988887777" in (decision.reason or "")
    assert not fake.touched


# ------------------------------------------------------------------ specific resources, right account
def test_pass_role_on_a_wildcard_is_refused() -> None:
    wild = {**PASS, "Resource": f"arn:aws:iam::{SOURCE}:role/*"}
    change = pass_role_change(after={"Version": "2012-10-17", "Statement": [EXISTING, wild]})
    with pytest.raises(RemediationRefused, match="one role ARN"):
        check_change(change, seed004().failure)


def test_a_change_in_another_account_is_refused() -> None:
    with pytest.raises(RemediationRefused, match="account 999988887777"):
        check_change(pass_role_change(account="999988887777"), seed004().failure)


def test_a_vault_change_outside_the_copys_destination_is_refused() -> None:
    failure = outcome_of(SEED003_VAULT).failure
    statement = {"Sid": "S", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{SOURCE}:root"},
                 "Action": "backup:CopyIntoBackupVault", "Resource": "*"}
    change = Change(kind="vault-access-policy", cloud="aws", account=SOURCE, target="v", summary="s", done="d",
                    before=None, after={"Version": "2012-10-17", "Statement": [statement]})
    with pytest.raises(RemediationRefused, match=f"account {SOURCE}"):
        check_change(change, failure)
    check_change(change.model_copy(update={"account": DESTINATION}), failure)  # the destination is right


def test_everyone_without_a_condition_is_refused() -> None:
    failure = outcome_of(SEED003_VAULT).failure
    everyone = {"Sid": "S", "Effect": "Allow", "Principal": "*", "Action": "backup:CopyIntoBackupVault",
                "Resource": "*"}
    change = Change(kind="vault-access-policy", cloud="aws", account=DESTINATION, target="v", summary="s",
                    done="d", after={"Version": "2012-10-17", "Statement": [everyone]})
    with pytest.raises(RemediationRefused, match="every principal"):
        check_change(change, failure)


def test_a_key_policy_may_only_gain_the_destination_account() -> None:
    failure = outcome_of("aws/seed003-copy-source-kms-key-access.json").failure
    admin = {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{SOURCE}:root"},
             "Action": "kms:*", "Resource": "*"}

    def key_change(principal: str) -> Change:
        use = {"Sid": "Use", "Effect": "Allow", "Principal": {"AWS": principal}, "Action": "kms:Decrypt",
               "Resource": "*"}
        return Change(kind="kms-key-policy", cloud="aws", account=SOURCE, target="k", summary="s", done="d",
                      before={"Version": "2012-10-17", "Statement": [admin]},
                      after={"Version": "2012-10-17", "Statement": [admin, use]})

    check_change(key_change(f"arn:aws:iam::{DESTINATION}:root"), failure)
    for wrong in ("arn:aws:iam::999988887777:root", f"arn:aws:iam::{DESTINATION}:role/Anything", "*"):
        with pytest.raises(RemediationRefused):
            check_change(key_change(wrong), failure)


def test_a_vault_policy_may_only_gain_the_source_account_or_its_organization() -> None:
    failure = outcome_of(SEED003_VAULT).failure

    def vault_change(principal: Any, condition: dict[str, Any] | None = None) -> Change:
        statement: dict[str, Any] = {"Sid": "S", "Effect": "Allow", "Principal": principal,
                                     "Action": "backup:CopyIntoBackupVault", "Resource": "*"}
        if condition:
            statement["Condition"] = condition
        return Change(kind="vault-access-policy", cloud="aws", account=DESTINATION, target="v", summary="s",
                      done="d", after={"Version": "2012-10-17", "Statement": [statement]})

    check_change(vault_change("*", {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}), failure)
    with pytest.raises(RemediationRefused, match="source account"):
        check_change(vault_change({"AWS": "arn:aws:iam::999988887777:root"}), failure)
    with pytest.raises(RemediationRefused, match="source account"):
        check_change(vault_change("*", {"StringLike": {"aws:PrincipalArn": "*"}}), failure)


def test_a_role_policy_may_only_gain_pass_role() -> None:
    other = {**PASS, "Action": "iam:*"}
    change = pass_role_change(after={"Version": "2012-10-17", "Statement": [EXISTING, other]})
    with pytest.raises(RemediationRefused, match="only gain iam:PassRole"):
        check_change(change, seed004().failure)


# ------------------------------------------------------------------ Azure role assignments
SERVER = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-data-prod/providers/Microsoft.DBforPostgreSQL/"
          "servers/pg-orders-prod")


def assignment(**update: Any) -> Change:
    item = {"role": "Reader", "role_definition_id": "acdd72a7-3385-48ef-bd42-f606fba81ae7", "scope": SERVER,
            "principal_id": VAULT_PRINCIPAL, "principal_type": "ServicePrincipal", "name": "n"}
    item.update(update)
    return Change(kind="azure-role-assignment", cloud="azure", account=SUBSCRIPTION, target=item["scope"],
                  summary="s", done="d", before=[], after=[item], params={"assignments": [item]})


def test_a_valid_role_assignment_passes() -> None:
    check_change(assignment(), outcome_of(SEED000_READER).failure)


@pytest.mark.parametrize(("update", "message"), [
    ({"scope": SERVER.replace(SUBSCRIPTION, "99999999-9999-9999-9999-999999999999")},
     "neither the Backup vault's subscription"),
    ({"scope": f"/subscriptions/{SUBSCRIPTION}"}, "not a resource group or a resource"),
    ({"scope": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-data-prod/providers/../../.."}, "'..' segment"),
    ({"scope": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-data-prod"}, "whole resource group"),
    ({"role_definition_id": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"}, "Owner"),
    ({"role_definition_id": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"}, "User Access Administrator"),
    ({"principal_type": "User"}, "service principal"),
    ({"principal_id": "someone@example.com"}, "object id"),
])
def test_role_assignments_outside_the_guardrails_are_refused(update: dict[str, str], message: str) -> None:
    with pytest.raises(RemediationRefused, match=message):
        check_change(assignment(**update), outcome_of(SEED000_READER).failure)


def test_the_snapshot_resource_group_role_may_be_assigned_on_its_resource_group() -> None:
    change = assignment(role_definition_id="7efff54f-a5b4-42b5-a1c5-5411624893ce",
                        scope=f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-snapshots")
    check_change(change, outcome_of(SEED000_READER).failure)


def test_a_role_assignment_change_may_not_remove_one() -> None:
    change = assignment()
    existing = {**change.after[0], "scope": SERVER + "/databases/orders", "name": "old"}
    removing = change.model_copy(update={"before": [existing]})
    with pytest.raises(RemediationRefused, match="remove an existing role assignment"):
        check_change(removing, outcome_of(SEED000_READER).failure)
