"""template.yaml and infra/aws/member.yaml: cfn-lint, the SAM transform, and what they promise
(the event pattern, where failed events go, least privilege, secrets only as references).

CI runs these with `make test`. By hand:
    .venv/bin/cfn-lint template.yaml infra/aws/*.yaml
    .venv/bin/pytest tests/aws/test_template.py -q
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.api import lint_file
from moto import mock_aws
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

from tests.conftest import EVENTS

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
MEMBER = ROOT / "infra" / "aws" / "member.yaml"
ACCOUNT, REGION, PARTITION = "999988887777", "us-west-2", "aws"
FAILED_STATES = ["FAILED", "ABORTED", "EXPIRED", "PARTIAL"]
#: Actions whose service defines no resource type: "*" is the only valid Resource (Service
#: Authorization Reference; cfn-lint's copy of it is checked below).
NO_RESOURCE_LEVEL = {"sts:decodeauthorizationmessage", "backup:describebackupjob", "backup:describecopyjob",
                     "backup:describerestorejob", "xray:puttracesegments", "xray:puttelemetryrecords"}


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml_parse(path.read_text(encoding="utf-8"))
    return document


def sam_transform(template: dict[str, Any]) -> dict[str, Any]:
    """What CloudFormation's AWS::Serverless transform makes of it (aws-sam-translator, the library
    behind the transform), after `sam package` has replaced the local CodeUri by an S3 location."""
    template = copy.deepcopy(template)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://artifacts-bucket/backup-responder.zip"
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    result: dict[str, Any] = translator.translate(template, parameter_values={}, get_managed_policy_map=dict)
    return result


class Cfn:
    """Just enough of CloudFormation's intrinsic functions to read a template for given parameters."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str] | None = None) -> None:
        self.template = template
        self.params = {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
        self.params.update(parameters or {})
        self.params.update({"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION,
                            "AWS::StackName": "backup-responder"})

    def condition(self, name: str) -> bool:
        return bool(self.eval(self.template["Conditions"][name]))

    def eval(self, node: Any) -> Any:  # one branch per intrinsic function
        if isinstance(node, list):
            return [v for v in (self.eval(i) for i in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return _NO_VALUE if arg == "AWS::NoValue" else self.params.get(arg, f"<{arg}>")
            if key == "Fn::GetAtt":
                target = arg if isinstance(arg, list) else arg.split(".")
                return f"<{target[0]}.{target[1]}>"
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.eval(arg[1]))
                values = {**self.params, **extra}
                return re.sub(r"\$\{([^}!]+)\}", lambda m: str(values.get(m.group(1), f"<{m.group(1)}>")), text)
            if key == "Fn::Split":
                return str(self.eval(arg[1])).split(arg[0])
            if key == "Fn::Select":
                return self.eval(arg[1])[int(arg[0])]
            if key == "Fn::Join":
                return arg[0].join(str(v) for v in self.eval(arg[1]))
            if key == "Fn::If":
                return self.eval(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return self.eval(arg[0]) == self.eval(arg[1])
            if key == "Fn::Not":
                return not self.eval(arg[0])
            if key == "Fn::And":
                return all(self.eval(a) for a in arg)
            if key == "Fn::Or":
                return any(self.eval(a) for a in arg)
            if key == "Condition":
                return self.condition(arg)
        return {k: v for k, v in ((k, self.eval(v)) for k, v in node.items()) if v is not _NO_VALUE}


_NO_VALUE = object()


def statements(cfn: Cfn, role: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in cfn.eval(cfn.template["Resources"][role]["Properties"]["Policies"]):
        found += policy["PolicyDocument"]["Statement"]
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [a.lower() for a in (action if isinstance(action, list) else [action])]


def _resources(statement: dict[str, Any]) -> list[str]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


# --- lint and transform -------------------------------------------------------------------------

@pytest.mark.parametrize("path", [TEMPLATE, MEMBER], ids=lambda p: p.name)
def test_cfn_lint_passes(path: Path) -> None:
    problems = lint_file(path)  # every rule, the SAM transform included, in the template's Regions
    assert not problems, "\n".join(str(p) for p in problems)


def test_the_sam_transform_makes_valid_cloudformation() -> None:
    out = sam_transform(load(TEMPLATE))
    types = {name: r["Type"] for name, r in out["Resources"].items()}
    assert types["ResponderFunction"] == "AWS::Lambda::Function"
    assert types["ResponderFunctionJobFailed"] == "AWS::Events::Rule"  # referenced by the queue policy
    assert types["ResponderFunctionEventInvokeConfig"] == "AWS::Lambda::EventInvokeConfig"
    assert types["ResponderFunctionJobFailedPermission"] == "AWS::Lambda::Permission"
    assert "Transform" not in out
    function = out["Resources"]["ResponderFunction"]["Properties"]
    assert function["Handler"] == "functions.aws.handler.lambda_handler"
    assert function["Architectures"] == ["arm64"] and function["Runtime"].startswith("python3.")
    assert function["TracingConfig"] == {"Mode": {"Ref": "Tracing"}}


def test_the_handler_named_in_the_template_exists() -> None:
    from functions.aws import handler

    module, _, name = load(TEMPLATE)["Resources"]["ResponderFunction"]["Properties"]["Handler"].rpartition(".")
    assert module == handler.__name__ and callable(getattr(handler, name))


# --- what reaches the function, and where what fails is kept ------------------------------------

def _pattern(template: dict[str, Any], completed_with_issues: str) -> dict[str, Any]:
    out = sam_transform(template) if "Transform" in template else template
    cfn = Cfn(out, {"CompletedWithIssues": completed_with_issues})
    rule = next(r for r in out["Resources"].values() if r["Type"] == "AWS::Events::Rule")
    pattern: dict[str, Any] = cfn.eval(rule["Properties"]["EventPattern"])
    return pattern


def matched(pattern: dict[str, Any], events: dict[str, dict[str, Any]]) -> set[str]:
    """The names of the ``events`` that a rule with ``pattern`` on the default bus delivers (moto's
    EventBridge, with an SQS queue as the rule's target)."""
    with mock_aws():
        bridge, sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="rule-target")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bridge.put_rule(Name="responder", EventPattern=json.dumps(pattern))
        bridge.put_targets(Rule="responder", Targets=[{"Id": "queue", "Arn": arn}])
        for name, event in events.items():
            bridge.put_events(Entries=[{"Source": event["source"], "DetailType": event["detail-type"],
                                        "Detail": json.dumps(event.get("detail", {})),
                                        "Resources": [f"arn:aws:test:{REGION}:{ACCOUNT}:fixture/{name}"]}])
        names: set[str] = set()
        while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                names.add(json.loads(message["Body"])["resources"][0].rsplit("/", 1)[-1])
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        return names


FIXTURES = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted((EVENTS / "aws").glob("*.json"))}


def _should_match(event: dict[str, Any], completed_with_issues: bool) -> bool:
    detail = event.get("detail", {})
    state = str(detail.get("status") or detail.get("state") or "").upper()
    job = event.get("detail-type") in ("Backup Job State Change", "Copy Job State Change", "Restore Job State Change")
    with_issues = (event.get("detail-type") == "Backup Job State Change" and state == "COMPLETED"
                   and bool(detail.get("statusMessage")))
    return job and (state in FAILED_STATES or (completed_with_issues and with_issues))


@pytest.mark.parametrize("template", [TEMPLATE, MEMBER], ids=lambda p: p.name)
@pytest.mark.parametrize("completed_with_issues", ["false", "true"])
def test_the_rule_matches_failures_and_nothing_else(template: Path, completed_with_issues: str) -> None:
    expected = {name for name, event in FIXTURES.items() if _should_match(event, completed_with_issues == "true")}
    assert {"restore-job-failed", "copy-job-failed", "backup-job-failed", "backup-job-expired"} <= expected
    assert ("backup-job-completed-with-issues" in expected) is (completed_with_issues == "true")
    assert matched(_pattern(load(template), completed_with_issues), FIXTURES) == expected


def test_a_restore_status_and_a_backup_state_both_match() -> None:
    pattern = _pattern(load(TEMPLATE), "false")
    events = {
        "restore-status": {"source": "aws.backup", "detail-type": "Restore Job State Change",
                           "detail": {"status": "FAILED"}},
        "backup-state": {"source": "aws.backup", "detail-type": "Backup Job State Change",
                         "detail": {"state": "EXPIRED"}},
        "vault": {"source": "aws.backup", "detail-type": "Backup Vault State Change", "detail": {"state": "FAILED"}},
        "restore-running": {"source": "aws.backup", "detail-type": "Restore Job State Change",
                            "detail": {"status": "RUNNING"}},
    }
    assert matched(pattern, events) == {"restore-status", "backup-state"}


def test_failed_events_are_kept_in_the_queue() -> None:
    out = sam_transform(load(TEMPLATE))
    resources = out["Resources"]
    # the function failed on every attempt: its on-failure destination
    invoke = resources["ResponderFunctionEventInvokeConfig"]["Properties"]
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}
    assert invoke["MaximumRetryAttempts"] == 2
    # EventBridge could not invoke it: the rule target's dead-letter queue, after its retries
    [target] = resources["ResponderFunctionJobFailed"]["Properties"]["Targets"]
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}}
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] == 86400
    # ... which EventBridge may write to for this rule only
    cfn = Cfn(out)
    [allow] = [s for s in cfn.eval(resources["FailedEventsQueuePolicy"]["Properties"]["PolicyDocument"])["Statement"]
               if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": "<ResponderFunctionJobFailed.Arn>"}}
    # the function's role may send its failed invocations there
    role = statements(cfn, "ResponderRole")
    assert any(_actions(s) == ["sqs:sendmessage"] and _resources(s) == ["<FailedEventsQueue.Arn>"] for s in role)


def test_the_state_table_has_ttl_and_the_key_the_code_uses() -> None:
    from functions.aws.state import KEY_ATTR, TTL_ATTR

    table = load(TEMPLATE)["Resources"]["StateTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": KEY_ATTR, "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTR, "Enabled": True}


# --- least privilege and secrets ----------------------------------------------------------------

@pytest.mark.parametrize("parameters", [
    {},
    {"OrganizationId": "o-a1b2c3d4e5", "SlackWebhookUrl": "ssm:/backup-responder/slack",
     "TeamsWebhookUrl": "secretsmanager:backup-responder/teams#url"},
    {"MemberRoleName": "", "Tracing": "PassThrough", "SlackWebhookUrl": "secretsmanager:slack", "SecretsKmsKeyArn":
     "arn:aws:kms:us-west-2:999988887777:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
])
def test_every_wildcard_resource_is_one_the_service_requires(parameters: dict[str, str]) -> None:
    policies = json.loads((Path(__import__("cfnlint").__file__).parent / "data" / "AdditionalSpecs" /
                           "Policies.json").read_text())
    for statement in statements(Cfn(load(TEMPLATE), parameters), "ResponderRole"):
        if "*" in _resources(statement):
            for action in _actions(statement):
                service, name = action.split(":")
                assert action in NO_RESOURCE_LEVEL, f"{action} with Resource '*'"
                assert not policies[service]["Actions"][name].get("Resources"), f"{action} supports resources"


def test_assume_role_only_on_the_named_member_role() -> None:
    cfn = Cfn(load(TEMPLATE), {"OrganizationId": "o-a1b2c3d4e5"})
    [assume] = [s for s in statements(cfn, "ResponderRole") if "sts:assumerole" in _actions(s)]
    assert _resources(assume) == ["arn:aws:iam::*:role/BackupResponderReadOnly"]
    assert assume["Condition"] == {"StringEquals": {"aws:ResourceOrgID": "o-a1b2c3d4e5"}}
    no_org = statements(Cfn(load(TEMPLATE)), "ResponderRole")
    assert [_resources(s) for s in no_org if "sts:assumerole" in _actions(s)] == [
        ["arn:aws:iam::*:role/BackupResponderReadOnly"]]
    assert not [s for s in statements(Cfn(load(TEMPLATE), {"MemberRoleName": ""}), "ResponderRole")
                if "sts:assumerole" in _actions(s)]


def test_only_the_named_secrets_are_readable() -> None:
    cfn = Cfn(load(TEMPLATE), {"SlackWebhookUrl": "ssm:/backup-responder/slack",
                               "TeamsWebhookUrl": "secretsmanager:backup-responder/teams#url"})
    role = statements(cfn, "ResponderRole")
    [ssm] = [s for s in role if _actions(s) == ["ssm:getparameter"]]
    assert _resources(ssm) == [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/backup-responder/slack"]
    [sm] = [s for s in role if _actions(s) == ["secretsmanager:getsecretvalue"]]
    assert _resources(sm) == [f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:backup-responder/teams-??????"]
    env = cfn.eval(load(TEMPLATE)["Resources"]["ResponderFunction"]["Properties"]["Environment"])["Variables"]
    assert env["SLACK_WEBHOOK_URL"] == "ssm:/backup-responder/slack"  # the reference, resolved at run time
    nothing = statements(Cfn(load(TEMPLATE)), "ResponderRole")
    assert not [s for s in nothing if {"ssm:getparameter", "secretsmanager:getsecretvalue"} & set(_actions(s))]


@pytest.mark.parametrize(("value", "accepted"), [
    ("", True), ("ssm:/backup-responder/slack", True), ("secretsmanager:backup-responder/slack", True),
    ("secretsmanager:all-hooks#slack", True),
    ("https://hooks.slack.com/services/T000/B000/XXXX", False), ("ssm:relative", False), ("xoxb-123", False),
])
def test_webhook_parameters_take_references_never_values(value: str, accepted: bool) -> None:
    for name in ("SlackWebhookUrl", "TeamsWebhookUrl"):
        pattern = load(TEMPLATE)["Parameters"][name]["AllowedPattern"]
        assert bool(re.fullmatch(pattern, value)) is accepted


def test_remediation_mode_parameter_matches_the_contract() -> None:
    from shared.settings import REMEDIATION_MODES

    parameter = load(TEMPLATE)["Parameters"]["AutoRemediate"]
    assert parameter["AllowedValues"] == list(REMEDIATION_MODES) and parameter["Default"] == "off"


# --- organizations: infra/aws/member.yaml -------------------------------------------------------

def test_member_role_trusts_exactly_the_responder_role_and_only_reads() -> None:
    member = load(MEMBER)
    cfn = Cfn(member, {"CentralAccountId": "999988887777", "CentralRegion": REGION})
    role = cfn.eval(member["Resources"]["MemberRole"]["Properties"])
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": "arn:aws:iam::999988887777:root"}
    assert trust["Condition"] == {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::999988887777:role/backup-responder"}}
    assert role["RoleName"] == load(TEMPLATE)["Parameters"]["MemberRoleName"]["Default"]
    actions = {a for s in statements(cfn, "MemberRole") for a in _actions(s)}
    assert actions == {"sts:decodeauthorizationmessage", "backup:describebackupjob", "backup:describecopyjob",
                       "backup:describerestorejob", "backup:describebackupvault", "backup:getbackupvaultaccesspolicy"}
    # the names must agree across the two templates
    assert member["Parameters"]["ResponderRoleName"]["Default"] == load(TEMPLATE)["Parameters"]["ResponderRoleName"]["Default"]


def test_member_forwards_to_the_central_bus_which_accepts_the_organization() -> None:
    member = load(MEMBER)
    cfn = Cfn(member, {"CentralAccountId": "999988887777", "CentralRegion": REGION})
    [target] = cfn.eval(member["Resources"]["ForwardRule"]["Properties"]["Targets"])
    assert target["Arn"] == f"arn:aws:events:{REGION}:999988887777:event-bus/default"
    central = Cfn(load(TEMPLATE), {"OrganizationId": "o-a1b2c3d4e5"})
    bus = central.eval(load(TEMPLATE)["Resources"]["OrganizationPutEvents"]["Properties"])
    assert bus["Statement"]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}
    assert central.condition("UseOrganization") and not Cfn(load(TEMPLATE)).condition("UseOrganization")
    # the central account's own Region needs no forwarding: its rule sees the events already
    assert not Cfn(member, {"CentralAccountId": ACCOUNT, "CentralRegion": REGION}).condition("Forward")


@pytest.mark.parametrize(("tracing", "disabled"), [("Active", "false"), ("PassThrough", "true")])
def test_tracing_parameter_turns_powertools_tracer_off_with_xray(tracing: str, disabled: str) -> None:
    cfn = Cfn(load(TEMPLATE), {"Tracing": tracing})
    env = cfn.eval(load(TEMPLATE)["Resources"]["ResponderFunction"]["Properties"]["Environment"])["Variables"]
    assert env["POWERTOOLS_TRACE_DISABLED"] == disabled
    xray = [s for s in statements(cfn, "ResponderRole") if "xray:puttracesegments" in _actions(s)]
    assert bool(xray) is (tracing == "Active")
