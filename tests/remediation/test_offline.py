"""Planning from the plan alone (no credentials, the demo): the change is what the plan adds, it
passes the same guardrails, its note says the current document could not be read, it is refused
when the plan lacks a value, and it is never applied."""

from __future__ import annotations

from typing import Any

import pytest

from shared.remediation import policy
from shared.remediation.changes import RemediationRefused
from shared.remediation.guardrails import check_change
from shared.remediation.offline import AWS_KINDS, AZURE_KINDS, OFFLINE_PARAM, PlanOnlyRemediator
from shared.state import MemoryStore
from tests.remediation.conftest import (
    DESTINATION,
    SEED000_READER,
    SEED003_KMS,
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
from tests.support.messages import text_of

WHY = "there are no AWS credentials on this machine"
AWS = PlanOnlyRemediator(AWS_KINDS, WHY)
AZURE = PlanOnlyRemediator(AZURE_KINDS, "there are no Azure credentials on this machine")
KEY = f"arn:aws:kms:us-west-2:{SOURCE}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_pass_role_from_the_plan_names_the_decoded_role_only() -> None:
    outcome = outcome_of(SEED004, decoded=SEED004_DECODED)
    change = AWS.plan_change(outcome)
    assert change.kind == "iam-pass-role" and change.account == SOURCE
    assert change.target == f"arn:aws:iam::{SOURCE}:role/service-role/AWSBackupDefaultServiceRole"
    assert change.summary == "add iam:PassRole on role AmazonSSMRoleForInstancesQuickSetup to role " \
                             "AWSBackupDefaultServiceRole"
    (statement,) = policy.statements(change.after)
    assert statement["Action"] == "iam:PassRole"
    assert statement["Resource"] == f"arn:aws:iam::{SOURCE}:role/AmazonSSMRoleForInstancesQuickSetup"
    assert change.before is None and "could not be read (there are no AWS credentials" in change.notes[0]
    check_change(change, outcome.failure)  # the same guardrails as a change read from the cloud


def test_vault_policy_from_the_plan_is_for_the_source_account_in_the_destination_account() -> None:
    outcome = outcome_of(SEED003_VAULT)
    change = AWS.plan_change(outcome)
    assert change.account == DESTINATION and change.target.endswith(":backup-vault:central-cross-account-vault")
    (statement,) = policy.statements(change.after)
    assert policy.principals(statement) == [f"arn:aws:iam::{SOURCE}:root"]
    check_change(change, outcome.failure)


def test_key_policy_from_the_plan_gains_the_destination_account_only() -> None:
    outcome = outcome_of(SEED003_KMS, facts={"kms_key_arn": KEY})
    change = AWS.plan_change(outcome)
    assert change.target == KEY and change.account == SOURCE
    statements = policy.statements(change.after)
    assert [st["Sid"] for st in statements] == ["Allow use of the key", "Allow attachment of persistent resources"]
    assert {p for st in statements for p in policy.principals(st)} == {f"arn:aws:iam::{DESTINATION}:root"}
    check_change(change, outcome.failure)  # the source account's own kms:* statement is not "added"


def test_role_assignment_from_the_plan() -> None:
    outcome = outcome_of(SEED000_READER, facts={"vault_principal_id": VAULT_PRINCIPAL})
    change = AZURE.plan_change(outcome)
    (item,) = change.after
    assert item["role"] == "Reader" and item["principal_id"] == VAULT_PRINCIPAL
    assert item["principal_type"] == "ServicePrincipal" and item["scope"].startswith(f"/subscriptions/{SUBSCRIPTION}/")
    check_change(change, outcome.failure)


@pytest.mark.parametrize(("remediator", "event", "missing"), [
    (AWS, SEED004, "pass_role_arn"),            # not decoded: the role to pass is unknown
    (AWS, SEED003_KMS, "kms_key_arn"),
    (AZURE, SEED000_READER, "vault_principal_id"),
])
def test_a_value_the_plan_lacks_is_a_refusal_that_names_it(remediator: PlanOnlyRemediator, event: str,
                                                           missing: str) -> None:
    with pytest.raises(RemediationRefused) as refused:
        remediator.plan_change(outcome_of(event))
    assert missing in refused.value.reason and "no change is planned" in refused.value.reason
    assert not refused.value.needs_person


def test_dry_run_shows_the_planned_change_with_the_note() -> None:
    allow = config(allow=[{"cause": "aws.vault.access-policy"}])
    result = engine(allow, "dry-run", [AWS]).run(outcome_of(SEED003_VAULT))
    summary = result.remediation
    assert summary is not None and summary.action == "planned" and summary.diff
    text = text_of(result)
    assert "Dry run: would add backup:CopyIntoBackupVault for account 111122223333" in text
    assert "could not be read (there are no AWS credentials on this machine)" in text
    assert '+        "AWS": "arn:aws:iam::111122223333:root"' in text


def test_mode_on_never_applies_a_change_planned_from_the_plan() -> None:
    allow = config(allow=[{"cause": "aws.vault.access-policy"}])
    store = MemoryStore()
    summary = engine(allow, "on", [AWS], store).run(outcome_of(SEED003_VAULT)).remediation
    assert summary is not None and summary.action == "refused" and not summary.needs_person
    assert WHY in (summary.reason or "") and "nothing is changed" in (summary.reason or "")
    rates: list[Any] = [item for key, (item, _) in store._items.items() if ":rate:" in key]
    assert len(rates) == 2 and all(item.get("count") == 0 for item in rates)  # the reserved change was given back
    change = AWS.plan_change(outcome_of(SEED003_VAULT))
    assert change.params[OFFLINE_PARAM] == WHY and AWS.verify(change) is False
