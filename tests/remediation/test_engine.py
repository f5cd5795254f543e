"""The engine: mode × allow-list × guardrails → decision; the audit trail; the message lines;
approvals. The remediator is scripted (``fakes.FakeRemediator``) so every test can show exactly
what the engine asked the cloud for."""

from __future__ import annotations

import logging

import pytest
from botocore.exceptions import ClientError

from shared.models import Outcome
from shared.remediation.audit import AUDIT_PREFIX
from shared.remediation.changes import RemediationRefused
from shared.remediation.render import headline
from shared.state import MemoryStore
from tests.remediation.conftest import (
    SEED000_NETWORK,
    SEED000_READER,
    SEED003_KMS,
    SEED004,
    SEED004_DECODED,
    SOURCE,
    config,
    engine,
    outcome_of,
)
from tests.remediation.fakes import FakeRemediator, pass_role_change
from tests.support.messages import text_of

ALLOW_PASS_ROLE = config(allow=[{"cause": "aws.iam.pass-role", "restart_job": True}],
                         approval={"slack_users": ["U1"]})


def seed004() -> Outcome:
    return outcome_of(SEED004, decoded=SEED004_DECODED)


def audit_items(store: MemoryStore) -> list[dict[str, object]]:
    return [item for key, (item, _) in store._items.items() if key.startswith(AUDIT_PREFIX)]


@pytest.mark.parametrize("cfg", [config(), ALLOW_PASS_ROLE], ids=["default config", "cause allowed"])
def test_mode_off_changes_nothing_and_reads_nothing(cfg: object) -> None:
    fake = FakeRemediator()
    store = MemoryStore()
    result = engine(cfg, "off", [fake], store).run(seed004())  # type: ignore[arg-type]
    assert not fake.touched
    assert result.remediation is not None and result.remediation.action == "notified"
    assert headline(result.remediation) is None  # the message is the same as without remediation
    assert "Auto-remediation" not in text_of(result) and "Not applied" not in text_of(result)
    (record,) = audit_items(store)
    assert record["action"] == "notified" and record["reason"] == "auto-remediation is off"


def test_the_default_configuration_changes_nothing_even_when_the_switch_is_on() -> None:
    fake = FakeRemediator()
    decision = engine(config(), "on", [fake]).decide(seed004())
    assert decision.action == "suppressed" and "not in the remediation allow-list" in (decision.reason or "")
    assert not fake.touched


def test_dry_run_plans_and_shows_the_diff_without_applying() -> None:
    fake = FakeRemediator()
    result = engine(ALLOW_PASS_ROLE, "dry-run", [fake]).run(seed004())
    summary = result.remediation
    assert summary is not None and summary.action == "planned" and fake.planned and not fake.applied
    assert fake.restarts == []
    assert summary.diff and '+      "Action": "iam:PassRole",' in summary.diff
    text = text_of(result)
    assert ("Dry run: would add iam:PassRole on role AmazonSSMRoleForInstancesQuickSetup to role "
            "AWSBackupDefaultServiceRole") in text
    assert '"Resource": "arn:aws:iam::111122223333:role/AmazonSSMRoleForInstancesQuickSetup"' in text
    assert summary.approval_id  # approvers are configured: "Apply fix" can apply it


def test_on_applies_verifies_restarts_and_says_so() -> None:
    fake = FakeRemediator()
    store = MemoryStore()
    result = engine(ALLOW_PASS_ROLE, "on", [fake], store).run(seed004())
    summary = result.remediation
    assert summary is not None and summary.action == "applied"
    assert len(fake.applied) == 1 and fake.restarts == [result.failure.job_id]
    assert ("\n  Applied: added iam:PassRole on role AmazonSSMRoleForInstancesQuickSetup to role "
            "AWSBackupDefaultServiceRole; job restarted as NEW-JOB-1\n") in text_of(result)
    (record,) = audit_items(store)
    assert record["action"] == "applied" and record["restarted_job_id"] == "NEW-JOB-1"
    assert record["before"] == fake.applied[0].before and record["after"] == fake.applied[0].after
    assert record["audit_id"] == summary.audit_id and record["cause"] == "aws.iam.pass-role"


def test_decisions_are_structured_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="backup_responder.remediation.audit"):
        engine(ALLOW_PASS_ROLE, "on", [FakeRemediator()]).run(seed004())
    (line,) = [r for r in caplog.records if r.name == "backup_responder.remediation.audit"]
    audit = line.__dict__["audit"]
    assert audit["action"] == "applied" and audit["after"]["Statement"][1]["Action"] == "iam:PassRole"
    assert "encoded" not in str(audit).lower()  # the encoded authorization message is never recorded


def test_a_redelivered_event_is_not_fixed_twice() -> None:
    fake = FakeRemediator()
    eng = engine(ALLOW_PASS_ROLE, "on", [fake])
    first = eng.run(seed004())
    second = eng.run(seed004())
    assert len(fake.applied) == 1
    assert second.remediation == first.remediation


def test_a_verification_that_fails_calls_a_person() -> None:
    fake = FakeRemediator(verified=False)
    result = engine(ALLOW_PASS_ROLE, "on", [fake]).run(seed004())
    assert result.remediation is not None and result.remediation.action == "failed"
    assert result.remediation.needs_person and fake.restarts == []
    assert "A person must look at this" in text_of(result)


def test_a_provider_error_is_a_failed_decision_with_its_code_only() -> None:
    error = ClientError({"Error": {"Code": "AccessDenied", "Message": "secret-ish detail"}}, "PutRolePolicy")
    store = MemoryStore()
    eng = engine(config(allow=[{"cause": "aws.iam.pass-role"}], limits={"max_changes_per_hour": 1}), "on",
                 [FakeRemediator(apply_error=error)], store)
    decision = eng.decide(seed004())
    assert decision.action == "failed" and "AccessDenied" in (decision.reason or "")
    assert "secret-ish" not in (decision.reason or "")
    # nothing was changed, so the change was not counted against the hourly limit
    counters = [item["count"] for key, (item, _) in store._items.items() if ":rate:" in key]
    assert len(counters) == 2 and counters == [0, 0]


def test_a_refusal_from_the_remediator_is_reported() -> None:
    fake = FakeRemediator(plan_error=RemediationRefused("the role to pass is not known"))
    result = engine(ALLOW_PASS_ROLE, "on", [fake]).run(seed004())
    assert result.remediation is not None and result.remediation.action == "refused"
    assert "Not applied because the role to pass is not known" in text_of(result)


def test_an_unexpected_error_never_stops_the_message() -> None:
    fake = FakeRemediator(plan_error=ValueError("boom"))
    result = engine(ALLOW_PASS_ROLE, "on", [fake]).run(seed004())
    assert result.remediation is not None and result.remediation.action == "failed"


def test_no_adapter_for_the_fix_is_refused() -> None:
    decision = engine(ALLOW_PASS_ROLE, "on", []).decide(seed004())
    assert decision.action == "refused" and "no aws adapter" in (decision.reason or "")


def test_fixes_that_need_a_person_are_never_automated_even_when_allowed() -> None:
    fake = FakeRemediator()
    cfg = config(allow=[{"cause": "azure.*"}])
    result = engine(cfg, "on", [fake]).run(outcome_of(SEED000_NETWORK))
    assert not fake.touched
    summary = result.remediation
    assert summary is not None and summary.action == "notified"
    assert "network settings" in (summary.reason or "")
    assert "Not applied: never automated" in text_of(result)


def test_a_cause_without_an_automatic_fix_says_why() -> None:
    fake = FakeRemediator()
    outcome = outcome_of("aws/seed003-copy-org-membership.json")
    decision = engine(config(allow=[{"cause": "aws.copy.*"}]), "on", [fake]).decide(outcome)
    assert decision.action == "notified" and decision.reason and decision.reason.startswith("needs a person")
    assert not fake.touched


def test_tags_in_the_allow_list_are_checked() -> None:
    cfg = config(allow=[{"cause": "aws.iam.pass-role", "tags": {"backup-autofix": "true"}}])
    matching = FakeRemediator(tags={"backup-autofix": "true", "team": "data"})
    assert engine(cfg, "on", [matching]).decide(seed004()).action == "applied"
    other = FakeRemediator(tags={"backup-autofix": "false"})
    decision = engine(cfg, "on", [other]).decide(seed004())
    assert decision.action == "suppressed" and "backup-autofix" in (decision.reason or "") and not other.planned
    unknown = FakeRemediator(tags=None)
    assert engine(cfg, "on", [unknown]).decide(seed004()).action == "suppressed"


def test_require_approval_plans_and_an_approver_applies_through_the_same_guardrails() -> None:
    cfg = config(allow=[{"cause": "aws.iam.pass-role", "require_approval": True}], approval={"slack_users": ["U1"]})
    fake = FakeRemediator()
    store = MemoryStore()
    eng = engine(cfg, "on", [fake], store)
    planned = eng.decide(seed004())
    assert planned.action == "planned" and planned.approval_id and not fake.applied
    approved = eng.approve(planned.approval_id, "slack:U1")
    assert approved is not None and approved.action == "applied" and approved.actor == "slack:U1"
    assert len(fake.applied) == 1
    assert eng.approve(planned.approval_id, "slack:U1") is None  # used up: never applied twice
    records = sorted(audit_items(store), key=lambda r: str(r["action"]))
    assert [r["action"] for r in records] == ["applied", "planned"]
    assert records[0]["actor"] == "slack:U1" and records[0]["approval_id"] == planned.approval_id


RISK = ("the role AmazonSSMRoleForInstancesQuickSetup to pass has administrator-level permissions "
        "(AdministratorAccess is attached)")


def test_a_risky_change_is_not_applied_automatically_and_an_approver_may_apply_it() -> None:
    """Mode on and the cause allowed, but the change hands over administrator permissions: it waits
    for a person, the message states the risk, and an approval applies it."""
    fake = FakeRemediator(change=pass_role_change(risk=RISK))
    store = MemoryStore()
    eng = engine(ALLOW_PASS_ROLE, "on", [fake], store)
    outcome = eng.run(seed004())
    summary = outcome.remediation
    assert summary is not None and summary.action == "planned" and summary.approval_id
    assert not fake.applied and not fake.restarts
    assert summary.needs_person and RISK in (summary.reason or "")
    text = text_of(outcome)
    assert "not applied automatically" in text and RISK in text
    approved = eng.approve(summary.approval_id, "slack:U1")
    assert approved is not None and approved.action == "applied" and len(fake.applied) == 1


def test_a_risky_change_is_refused_when_no_one_may_approve_it() -> None:
    fake = FakeRemediator(change=pass_role_change(risk=RISK))
    decision = engine(config(allow=[{"cause": "aws.iam.pass-role"}]), "on", [fake]).decide(seed004())
    assert decision.action == "refused" and decision.needs_person and not fake.applied
    assert RISK in (decision.reason or "") and "approve" in (decision.reason or "")


def test_an_approval_is_refused_when_the_switch_is_off_meanwhile() -> None:
    fake = FakeRemediator()
    store = MemoryStore()
    planned = engine(ALLOW_PASS_ROLE, "dry-run", [fake], store).decide(seed004())
    assert planned.approval_id
    decision = engine(ALLOW_PASS_ROLE, "off", [fake], store).approve(planned.approval_id, "slack:U1")
    assert decision is not None and decision.action == "refused" and not fake.applied


def test_no_approval_is_offered_when_no_one_may_approve() -> None:
    decision = engine(config(allow=[{"cause": "aws.iam.pass-role"}]), "dry-run", [FakeRemediator()]).decide(seed004())
    assert decision.action == "planned" and decision.approval_id is None


def test_the_kms_fix_needs_its_exact_name_in_the_engine_too() -> None:
    fake = FakeRemediator()
    decision = engine(config(allow=[{"cause": "aws.kms.*"}]), "on", [fake]).decide(
        outcome_of(SEED003_KMS, facts={"kms_key_arn": f"arn:aws:kms:us-west-2:{SOURCE}:key/k"}))
    assert decision.action == "suppressed" and "named explicitly" in (decision.reason or "") and not fake.touched


def test_recovered_jobs_are_left_alone() -> None:
    fake = FakeRemediator()
    outcome = outcome_of("aws/restore-job-completed.json")
    assert engine(ALLOW_PASS_ROLE, "on", [fake]).run(outcome).remediation is None
    assert not fake.touched


def test_azure_failures_reach_the_azure_adapter_only_when_allowed() -> None:
    fake = FakeRemediator()
    outcome = outcome_of(SEED000_READER, facts={"vault_principal_id": "a8b24f84-f43c-45b3-aa54-e3f6d54d31a6"})
    assert engine(ALLOW_PASS_ROLE, "on", [fake]).decide(outcome).action == "suppressed"
    assert not fake.touched
