"""The Lambda wires auto-remediation and its deadline (``functions.aws.app.App``).

End to end through ``lambda_handler`` in the ``world`` of tests/aws/conftest.py (the local STS that
decodes seed 004's message, the local Backup server, the Slack-like webhook, moto for IAM and
DynamoDB), with the configuration of examples/remediation-aws-pass-role.yaml:

- ``RESPONDER_AUTO_REMEDIATE=off``: no remediation client is created, IAM, KMS and Backup's write
  APIs are never called, nothing is audited, the role is untouched, the message is the plain one;
- ``on``: the seed 004 restore failure ends with the inline ``iam:PassRole`` policy really put on the
  restore role in moto's IAM, the restore started again, and Slack told "Applied";
- the Lambda's remaining time is the responder's deadline, counted from the start of the event, so
  no Slack retry waits past it, not even after a slow fix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

import shared.remediation.engine as engine_module
from functions.aws import handler
from functions.aws.app import DEADLINE_SAFETY_SECONDS, App, deadline_of
from functions.aws.state import KEY_PREFIX
from shared.remediation.audit import AUDIT_PREFIX
from shared.remediation.engine import RemediationEngine
from shared.responder import DeliveryFailed
from shared.settings import Settings
from shared.wiring import build_responder
from tests.aws.conftest import (
    HOME_ACCOUNT,
    REGION,
    SEED004_EVENT,
    STATE_TABLE_NAME,
    LambdaContext,
    Webhook,
    World,
)
from tests.conftest import load_event
from tests.remediation.conftest import SEED004_DECODED, StaticDecoder, config
from tests.remediation.fakes import FakeRemediator
from tests.support.clock import FakeClock

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "remediation-aws-pass-role.yaml"
RESTORE_ROLE = "AWSBackupDefaultServiceRole"
PASS_ROLE = "AmazonSSMRoleForInstancesQuickSetup"
POLICY_NAME = f"BackupResponderPassRole-{PASS_ROLE}"
JOB = load_event(SEED004_EVENT)["detail"]["restoreJobId"]
RECOVERY_POINT = "arn:aws:ec2:us-west-2::image/ami-0e5a7c9b1d3f50246"
METADATA = {"InstanceType": "t3.micro", "IamInstanceProfileName": PASS_ROLE}
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                            "Principal": {"Service": "backup.amazonaws.com"}}]})
#: AWS calls that change something, or read what only remediation reads.
REMEDIATION_SERVICES = {"iam", "kms", "organizations", "resource-groups-tagging-api"}


class CallLog:
    """Every AWS API call that clients of one boto3 session make (botocore's ``before-call`` event)."""

    def __init__(self, session: boto3.session.Session) -> None:
        self.calls: list[tuple[str, str]] = []
        session.events.register("before-call", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.calls.append((model.service_model.service_name, model.name))

    def of(self, service: str) -> list[str]:
        return [operation for name, operation in self.calls if name == service]


@pytest.fixture
def container(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[World, CallLog, list[float]]]:
    """The world with the example's configuration, the two roles of seed 004 in moto's IAM, the job
    described by the Backup server, a fresh container whose AWS calls are logged, and the restart
    delays the engine asked for (recorded, not slept)."""
    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(RoleName=RESTORE_ROLE, Path="/service-role/", AssumeRolePolicyDocument=TRUST)
    iam.create_role(RoleName=PASS_ROLE, AssumeRolePolicyDocument=TRUST)
    world.backup.responses.update({
        f"/restore-jobs/{JOB}": {"RestoreJobId": JOB, "AccountId": HOME_ACCOUNT, "RecoveryPointArn": RECOVERY_POINT,
                                 "IamRoleArn": f"arn:aws:iam::{HOME_ACCOUNT}:role/service-role/{RESTORE_ROLE}",
                                 "ResourceType": "EC2", "Status": "FAILED"},
        f"/restore-jobs/{JOB}/metadata": {"RestoreJobId": JOB, "Metadata": METADATA},
        "PUT /restore-jobs": {"RestoreJobId": "RESTORE-AGAIN-1"},
    })
    monkeypatch.setenv("RESPONDER_CONFIG", str(EXAMPLE))
    monkeypatch.setenv("SLACK_WEBHOOK_URL", world.hook_url)  # the example's sink: env:SLACK_WEBHOOK_URL
    session = boto3.session.Session(region_name=REGION)
    calls = CallLog(session)
    monkeypatch.setattr(handler, "app", App(session=session, clock=world.clock))
    slept: list[float] = []
    real_engine: Callable[..., RemediationEngine] = engine_module.engine_from_settings

    def engine_without_sleeping(*args: Any, **kwargs: Any) -> RemediationEngine:
        engine = real_engine(*args, **kwargs)
        engine.sleep = slept.append
        return engine

    # The responder imports the engine when remediation is on: patch it where it is defined.
    monkeypatch.setattr(engine_module, "engine_from_settings", engine_without_sleeping)
    yield world, calls, slept


def inline_policies() -> list[str]:
    names: list[str] = boto3.client("iam", region_name=REGION).list_role_policies(RoleName=RESTORE_ROLE)["PolicyNames"]
    return names


def audit_items() -> list[dict[str, Any]]:
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=STATE_TABLE_NAME)["Items"]
    return [item for item in items if item["id"]["S"].startswith(KEY_PREFIX + AUDIT_PREFIX)]


def slack_text(world: World) -> str:
    [post] = world.hook.posts
    return json.dumps(post["body"], ensure_ascii=False)


def test_with_the_switch_off_no_remediation_call_is_made(container: tuple[World, CallLog, list[float]],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    world, calls, slept = container
    monkeypatch.setenv("RESPONDER_AUTO_REMEDIATE", "off")
    result = world.invoke(load_event(SEED004_EVENT))

    assert result["cause"] == "aws.iam.pass-role" and result["decoded"] is True  # the example allows this cause
    assert handler.app._remediation_clients is None  # no remediation client was even created
    assert not {service for service, _ in calls.calls} & REMEDIATION_SERVICES, calls.calls
    assert calls.of("backup") == ["DescribeRestoreJob"]  # enrichment's read, nothing else
    assert world.backup.writes == [] and slept == []
    assert inline_policies() == []
    assert audit_items() == []  # nothing decided, so nothing audited
    assert "Auto-remediation" not in slack_text(world) and "Applied" not in slack_text(world)


def test_with_the_switch_on_seed004_is_fixed_restarted_and_slack_says_applied(
        container: tuple[World, CallLog, list[float]], monkeypatch: pytest.MonkeyPatch) -> None:
    world, calls, slept = container
    monkeypatch.setenv("RESPONDER_AUTO_REMEDIATE", "on")
    result = world.invoke(load_event(SEED004_EVENT))

    assert result["cause"] == "aws.iam.pass-role" and result["delivered"]["backups"] is True
    # the inline policy is really on the restore role, for the one role the decoded message names
    assert inline_policies() == [POLICY_NAME]
    document = boto3.client("iam", region_name=REGION).get_role_policy(
        RoleName=RESTORE_ROLE, PolicyName=POLICY_NAME)["PolicyDocument"]
    assert document["Statement"] == [{
        "Sid": f"AllowBackupToPass{PASS_ROLE}", "Effect": "Allow", "Action": "iam:PassRole",
        "Resource": f"arn:aws:iam::{HOME_ACCOUNT}:role/{PASS_ROLE}",
        "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
    }]
    assert "PutRolePolicy" in calls.of("iam") and not calls.of("kms")
    assert [c for c in world.sts.calls if c["Action"] == "AssumeRole"] == []  # the home account: its own role
    # the restore started again with its original parameters, after the example's delay
    assert slept == [10.0]
    [(method, path, body)] = world.backup.writes
    assert (method, path) == ("PUT", "/restore-jobs")
    assert body["RecoveryPointArn"] == RECOVERY_POINT and body["Metadata"] == METADATA
    # Slack says what was done; the decision is audited in the state table
    assert (f"Applied: added iam:PassRole on role {PASS_ROLE} to role {RESTORE_ROLE}; job restarted as "
            "RESTORE-AGAIN-1") in slack_text(world)
    [audit] = audit_items()
    assert '"applied"' in json.dumps(audit)


def test_the_remediation_clients_are_made_once_per_container(container: tuple[World, CallLog, list[float]],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, _ = container
    monkeypatch.setenv("RESPONDER_AUTO_REMEDIATE", "dry-run")
    monkeypatch.setenv("REMEDIATION_ROLE_NAME", "BackupResponderRemediation")
    app: App = handler.app
    context = LambdaContext()
    first = app.responder(context).remediation
    second = app.responder(context).remediation
    assert first is not None and second is not None and first.mode == "dry-run"
    [clients_one] = [r.clients for r in first.remediators]  # type: ignore[attr-defined]
    [clients_two] = [r.clients for r in second.remediators]  # type: ignore[attr-defined]
    assert clients_one is clients_two is app.remediation_clients(context)
    # the write-capable role, never the read-only member role, in other accounts
    assert clients_one.member_role_arn("444455556666") == "arn:aws:iam::444455556666:role/BackupResponderRemediation"
    assert clients_one.home_account == HOME_ACCOUNT


# ---------------------------------------------------------------------------- the deadline
class ShortContext(LambdaContext):
    def __init__(self, remaining_ms: int) -> None:
        super().__init__()
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_the_deadline_is_the_remaining_time_less_the_safety_margin() -> None:
    assert deadline_of(ShortContext(60_000)) == 60 - DEADLINE_SAFETY_SECONDS
    assert deadline_of(ShortContext(1_000)) == 0.0
    assert deadline_of(None) is None


def test_no_slack_retry_waits_past_the_functions_remaining_time(world: World) -> None:
    world.hook.status = 500  # Slack keeps failing: without a deadline, 6 attempts with backoff (about 7 s)
    remaining = 6.0  # 3 s for the responder, of which delivery keeps 1.5 s back
    started = world.clock.monotonic()  # delivery waits on the container's clock
    with pytest.raises(DeliveryFailed) as caught:
        world.invoke(load_event(SEED004_EVENT), context=ShortContext(int(remaining * 1000)))
    assert world.clock.monotonic() - started < remaining
    assert 1 <= len(world.hook.posts) < 6 and "gave up after 6 attempts" not in str(caught.value)
    [failed] = caught.value.report.failed
    assert failed.retryable  # cut short by the deadline: Lambda retries the event


def test_the_remaining_time_counts_from_the_start_of_the_event(webhook: tuple[Webhook, str]) -> None:
    """A fix (here its restart delay, 10 s on the delivery clock) takes time out of the deadline: with
    8 s left when the event arrived, none is left for Slack after it; with 30 s, Slack gets it."""
    hook, url = webhook

    def handle(deadline: float) -> DeliveryFailed | None:
        clock = FakeClock()
        responder = build_responder(Settings.from_env({"SLACK_WEBHOOK_URL": url}),
                                       decoder=StaticDecoder(SEED004_DECODED), clock=clock)
        allow = config(allow=[{"cause": "aws.iam.pass-role", "restart_job": True}],
                       limits={"restart_delay_seconds": 10})
        responder.remediation = RemediationEngine(config=allow, switch="on", state=responder.state,
                                                  remediators=[FakeRemediator()], sleep=clock.sleep)
        try:
            responder.handle(load_event(SEED004_EVENT), deadline=deadline)
        except DeliveryFailed as exc:
            return exc
        return None

    assert handle(30.0) is None
    [post] = hook.posts
    assert "Applied: added iam:PassRole" in json.dumps(post["body"])
    error = handle(8.0)
    assert error is not None and len(hook.posts) == 1  # not posted: no time was left
    [failed] = error.report.failed
    assert failed.retryable  # Lambda retries the event; its next attempt has a full deadline
