"""template.yaml and infra/aws/member.yaml: cfn-lint, the SAM transform, and what they promise
(the event pattern, where failed events go, least privilege, secrets only as references, and
auto-remediation's permissions and the Slack approval endpoint only where their conditions hold).

CI runs these with `make test`. By hand:
    .venv/bin/cfn-lint template.yaml infra/aws/*.yaml
    .venv/bin/pytest tests/aws/test_template.py -q
"""

from __future__ import annotations

import copy
import functools
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
                     "backup:describerestorejob", "xray:puttracesegments", "xray:puttelemetryrecords",
                     "backup:getrestorejobmetadata", "tag:getresources", "backup:listbackupjobs",
                     "backup:listcopyjobs", "backup:listrestorejobs"}
#: What the weekly report reads (functions/aws/jobs.py), and nothing else it adds.
LIST_JOBS = {"backup:listbackupjobs", "backup:listcopyjobs", "backup:listrestorejobs"}
#: Everything auto-remediation may change (docs/remediation.md, "Permissions").
WRITES = {"iam:putrolepolicy", "iam:passrole", "backup:putbackupvaultaccesspolicy", "kms:putkeypolicy",
          "backup:startcopyjob", "backup:startrestorejob"}
SIGNING_SECRET = "ssm:/backup-responder/slack-signing-secret"
#: Every switch on: remediation with KMS, chat approval, an organization, a customer managed key.
EVERYTHING = {"AutoRemediate": "on", "KmsRemediation": "true", "EnableChatApproval": "true",
              "SlackSigningSecret": SIGNING_SECRET, "OrganizationId": "o-a1b2c3d4e5",
              "SlackWebhookUrl": "ssm:/backup-responder/slack",
              "SecretsKmsKeyArn": "arn:aws:kms:us-west-2:999988887777:key/1234abcd-12ab-34cd-56ef-1234567890ab"}
BACKUP_ROLES = f"arn:aws:iam::{ACCOUNT}:role/service-role/AWSBackup*"


@functools.cache
def _parsed(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml_parse(path.read_text(encoding="utf-8"))
    return document


def load(path: Path) -> dict[str, Any]:
    """The template as a document, parsed once per run (a copy each call: tests may change theirs)."""
    return copy.deepcopy(_parsed(path))


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
                if arg == "AWS::NoValue":
                    return _NO_VALUE
                value = self.params.get(arg, f"<{arg}>")
                kind = self.template.get("Parameters", {}).get(arg, {}).get("Type")
                return value.split(",") if kind == "CommaDelimitedList" else value
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


def exists(cfn: Cfn, name: str) -> bool:
    """True when the resource ``name`` is created for these parameters (its Condition holds)."""
    resource = cfn.template["Resources"].get(name)
    return resource is not None and ("Condition" not in resource or cfn.condition(resource["Condition"]))


def role_statements(cfn: Cfn, role: str) -> list[dict[str, Any]]:
    """Every statement that applies to ``role``: its inline policies and the managed policies
    attached to it, each only where its condition holds."""
    if not exists(cfn, role):
        return []
    found = statements(cfn, role) if "Policies" in cfn.template["Resources"][role]["Properties"] else []
    for name, resource in cfn.template["Resources"].items():
        if resource["Type"] == "AWS::IAM::ManagedPolicy" and exists(cfn, name):
            properties = cfn.eval(resource["Properties"])
            if f"<{role}>" in properties["Roles"]:
                found += properties["PolicyDocument"]["Statement"]
    return found


def rules_hold(cfn: Cfn) -> bool:
    """CloudFormation's Rules: every assertion of every rule whose RuleCondition holds."""
    return all(all(cfn.eval(a["Assert"]) for a in rule["Assertions"])
               for rule in cfn.template.get("Rules", {}).values()
               if "RuleCondition" not in rule or cfn.eval(rule["RuleCondition"]))


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
    rule = next(r for r in out["Resources"].values()
                if r["Type"] == "AWS::Events::Rule" and "EventPattern" in r["Properties"])
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
    EVERYTHING,
    {"AutoRemediate": "dry-run", "RemediationRoleName": "", "EnableChatApproval": "true",
     "SlackSigningSecret": SIGNING_SECRET, "Tracing": "PassThrough"},
    {"WeeklyReport": "true"},
])
def test_every_wildcard_resource_is_one_the_service_requires(parameters: dict[str, str]) -> None:
    policies = json.loads((Path(__import__("cfnlint").__file__).parent / "data" / "AdditionalSpecs" /
                           "Policies.json").read_text())
    cfn = Cfn(load(TEMPLATE), parameters)
    assert rules_hold(cfn)
    for role in ("ResponderRole", "ApprovalRole"):
        for statement in role_statements(cfn, role):
            if "*" in _resources(statement):
                for action in _actions(statement):
                    service, name = action.split(":")
                    assert action in NO_RESOURCE_LEVEL, f"{role}: {action} with Resource '*'"
                    assert not policies[service]["Actions"][name].get("Resources"), f"{action} supports resources"


def assumes(cfn: Cfn) -> list[dict[str, Any]]:
    return [s for s in role_statements(cfn, "ResponderRole") if "sts:assumerole" in _actions(s)]


def test_assume_role_only_on_the_named_member_role() -> None:
    cfn = Cfn(load(TEMPLATE), {"OrganizationId": "o-a1b2c3d4e5"})
    [assume] = assumes(cfn)
    assert _resources(assume) == ["arn:aws:iam::*:role/BackupResponderReadOnly"]
    assert assume["Condition"] == {"StringEquals": {"aws:ResourceOrgID": "o-a1b2c3d4e5"}}
    assert not assumes(Cfn(load(TEMPLATE), {"MemberRoleName": ""}))


def test_without_an_organization_member_roles_are_assumed_only_in_the_listed_accounts() -> None:
    """Before: without OrganizationId the role could assume the member role in any account."""
    assert not assumes(Cfn(load(TEMPLATE))), "the member role may be assumed in any account"
    assert not assumes(Cfn(load(TEMPLATE), {"AutoRemediate": "on"}))
    listed = Cfn(load(TEMPLATE), {"AutoRemediate": "on", "MemberAccountIds": "111122223333,444455556666"})
    found = assumes(listed)
    assert {r for s in found for r in _resources(s)} == {"arn:aws:iam::*:role/BackupResponderReadOnly",
                                                         "arn:aws:iam::*:role/BackupResponderRemediation"}
    for statement in found:
        assert statement["Condition"] == {"StringEquals": {"aws:ResourceAccount": ["111122223333", "444455556666"]}}
    parameter = load(TEMPLATE)["Parameters"]["MemberAccountIds"]
    assert parameter["Type"] == "CommaDelimitedList" and parameter["Default"] == ""
    for value, accepted in [("111122223333", True), ("", True), ("*", False), ("11112222333", False)]:
        assert bool(re.fullmatch(parameter["AllowedPattern"], value)) is accepted, value


#: The recovery points AWS Backup keeps, by the service that stores them (their ARNs are the
#: resources of StartCopyJob, StartRestoreJob and DescribeRecoveryPoint).
RECOVERY_POINTS = [f"arn:aws:backup:*:{ACCOUNT}:recovery-point:*", "arn:aws:ec2:*::image/*",
                   "arn:aws:ec2:*::snapshot/*", f"arn:aws:rds:*:{ACCOUNT}:snapshot:awsbackup:*",
                   f"arn:aws:rds:*:{ACCOUNT}:cluster-snapshot:awsbackup:*",
                   f"arn:aws:dynamodb:*:{ACCOUNT}:table/*/backup/*", f"arn:aws:fsx:*:{ACCOUNT}:backup/*",
                   f"arn:aws:redshift:*:{ACCOUNT}:snapshot:*/awsbackup:*"]


def test_job_restarts_and_recovery_point_reads_only_on_recovery_points() -> None:
    """Before: ``arn:aws:*:*:<account>:*``, every resource of every service in the account."""
    cfn = Cfn(load(TEMPLATE), EVERYTHING)
    by_action = {a: s for s in role_statements(cfn, "ResponderRole") for a in _actions(s)}
    for action in ("backup:startcopyjob", "backup:startrestorejob", "backup:describerecoverypoint"):
        assert _resources(by_action[action]) == RECOVERY_POINTS, action
    member = Cfn(load(MEMBER), {**MEMBER_PARAMETERS, "CreateRemediationRole": "true", "KmsRemediation": "true"})
    by_action = {a: s for s in statements(member, "RemediationRole") for a in _actions(s)}
    for action in ("backup:startcopyjob", "backup:startrestorejob", "backup:describerecoverypoint"):
        assert _resources(by_action[action]) == RECOVERY_POINTS, action


def test_policy_writes_carry_conditions() -> None:
    central = Cfn(load(TEMPLATE), EVERYTHING)
    member = Cfn(load(MEMBER), {**MEMBER_PARAMETERS, "CreateRemediationRole": "true", "KmsRemediation": "true"})
    for policy in (role_statements(central, "ResponderRole"), statements(member, "RemediationRole")):
        allows = {a: s for s in policy if s["Effect"] == "Allow" for a in _actions(s)}
        for action in ("iam:putrolepolicy", "backup:putbackupvaultaccesspolicy", "kms:putkeypolicy"):
            assert allows[action]["Condition"]["StringEquals"]["aws:ResourceAccount"] == ACCOUNT, action
        assert allows["kms:putkeypolicy"]["Condition"]["StringEquals"]["kms:CallerAccount"] == ACCOUNT
        [deny] = [s for s in policy if s["Effect"] == "Deny"]
        assert _actions(deny) == ["kms:putkeypolicy"]
        assert deny["Condition"] == {"Bool": {"kms:BypassPolicyLockoutSafetyCheck": "true"}}


def test_the_role_to_pass_can_be_read_and_nothing_written_to_it() -> None:
    cfn = Cfn(load(TEMPLATE), EVERYTHING)
    for policy in (role_statements(cfn, "ResponderRole"),
                   statements(Cfn(load(MEMBER), {**MEMBER_PARAMETERS, "CreateRemediationRole": "true"}),
                              "RemediationRole")):
        reads = [s for s in policy if "iam:listattachedrolepolicies" in _actions(s)]
        assert reads and set(_actions(reads[0])) == {"iam:listattachedrolepolicies", "iam:listrolepolicies",
                                                     "iam:getrolepolicy", "iam:getpolicy", "iam:getpolicyversion"}


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


# --- auto-remediation: only while AutoRemediate is not off, least privilege ----------------------

@pytest.mark.parametrize("mode", ["off", "dry-run", "on"])
def test_remediation_permissions_exist_only_when_auto_remediate_is_not_off(mode: str) -> None:
    cfn = Cfn(load(TEMPLATE), {"AutoRemediate": mode, "KmsRemediation": "true", "OrganizationId": "o-a1b2c3d4e5"})
    actions = {a for s in role_statements(cfn, "ResponderRole") for a in _actions(s)}
    assert (actions & WRITES == WRITES) is (mode != "off")  # dry-run too: a person may approve the plan
    assert bool(actions & WRITES) is (mode != "off")
    assert cfn.condition("Remediate") is (mode != "off")
    for name in ("RemediationPolicy", "KeyPolicyRemediationPolicy"):
        assert exists(cfn, name) is (mode != "off")
    # the function is told the switch and the role to act through in other accounts
    env = cfn.eval(load(TEMPLATE)["Resources"]["ResponderFunction"]["Properties"]["Environment"])["Variables"]
    assert env["RESPONDER_AUTO_REMEDIATE"] == mode and env["REMEDIATION_ROLE_NAME"] == "BackupResponderRemediation"


@pytest.mark.parametrize("parameters", [EVERYTHING, {**EVERYTHING, "OrganizationId": ""}])
def test_remediation_never_reaches_every_role(parameters: dict[str, str]) -> None:
    cfn = Cfn(load(TEMPLATE), parameters)
    for role in ("ResponderRole", "ApprovalRole"):
        role_policy = role_statements(cfn, role)
        for statement in role_policy:
            for resource in _resources(statement):
                assert not re.fullmatch(r"arn:aws:iam::[^:]*:role/\*", resource) or set(_actions(statement)) <= {
                    "iam:getrole", "iam:getrolepolicy", "iam:listattachedrolepolicies", "iam:listrolepolicies",
                    "iam:getpolicy", "iam:getpolicyversion"}, f"{role}: {_actions(statement)} on {resource}"
                assert not resource.startswith("arn:aws:iam::*:") or _actions(statement) == ["sts:assumerole"]
        by_action = {a: s for s in role_policy for a in _actions(s)}
        # the inline iam:PassRole fix: only on the Backup roles of this account
        assert _resources(by_action["iam:putrolepolicy"]) == [BACKUP_ROLES]
        # reading a role is all the fix does to the role it lets Backup pass
        assert _resources(by_action["iam:getrole"]) == [f"arn:aws:iam::{ACCOUNT}:role/*"]
        # restarting a job passes only the Backup roles, only to AWS Backup
        passing = by_action["iam:passrole"]
        assert _resources(passing) == [BACKUP_ROLES]
        assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}}
        for action in ("backup:startrestorejob", "backup:startcopyjob"):
            assert _resources(by_action[action]) == RECOVERY_POINTS
        # vault access policies and key policies of this account only
        assert _resources(by_action["backup:putbackupvaultaccesspolicy"]) == [
            f"arn:aws:backup:*:{ACCOUNT}:backup-vault:*"]
        assert _resources(by_action["kms:putkeypolicy"]) == [f"arn:aws:kms:*:{ACCOUNT}:key/*"]


def test_the_backup_role_pattern_never_widens_to_every_role() -> None:
    for template in (TEMPLATE, MEMBER):
        parameter = load(template)["Parameters"]["BackupRoleNamePattern"]
        assert parameter["Default"] == "service-role/AWSBackup*"
        for value, accepted in [("service-role/AWSBackup*", True), ("AWSBackupDefaultServiceRole", True),
                                ("backup/restores/Restore*", True), ("*", False), ("service-role/*", False),
                                ("", False), ("Backup*Role", False), ("a/*/b", False)]:
            assert bool(re.fullmatch(parameter["AllowedPattern"], value)) is accepted, (template.name, value)
    cfn = Cfn(load(TEMPLATE), {**EVERYTHING, "BackupRoleNamePattern": "AWSBackupRestores"})
    by_action = {a: s for s in role_statements(cfn, "ResponderRole") for a in _actions(s)}
    assert _resources(by_action["iam:putrolepolicy"]) == [f"arn:aws:iam::{ACCOUNT}:role/AWSBackupRestores"]


@pytest.mark.parametrize(("mode", "kms", "granted"), [("on", "true", True), ("dry-run", "true", True),
                                                     ("on", "false", False), ("off", "true", False)])
def test_key_policies_only_with_their_own_parameter(mode: str, kms: str, granted: bool) -> None:
    cfn = Cfn(load(TEMPLATE), {**EVERYTHING, "AutoRemediate": mode, "KmsRemediation": kms})
    for role in ("ResponderRole", "ApprovalRole"):
        actions = {a for s in role_statements(cfn, role) for a in _actions(s)}
        assert ({"kms:getkeypolicy", "kms:putkeypolicy"} <= actions) is granted
        assert ("organizations:describeaccount" in actions) is granted
        assert not {a for a in actions if a.startswith("kms:") and a != "kms:decrypt"} or granted
    # kms:Decrypt is the secrets' key, through SSM or Secrets Manager only: never a key policy change
    decrypt = [s for s in role_statements(cfn, "ResponderRole") if _actions(s) == ["kms:decrypt"]]
    assert all("kms:ViaService" in s["Condition"]["StringEquals"] for s in decrypt)


@pytest.mark.parametrize(("parameters", "expected"), [
    ({"AutoRemediate": "on", "OrganizationId": "o-a1b2c3d4e5"},
     {"arn:aws:iam::*:role/BackupResponderReadOnly", "arn:aws:iam::*:role/BackupResponderRemediation"}),
    ({"AutoRemediate": "on", "MemberAccountIds": "111122223333"},
     {"arn:aws:iam::*:role/BackupResponderReadOnly", "arn:aws:iam::*:role/BackupResponderRemediation"}),
    ({"AutoRemediate": "on"}, set()),
    ({"AutoRemediate": "on", "RemediationRoleName": "", "MemberAccountIds": "111122223333"},
     {"arn:aws:iam::*:role/BackupResponderReadOnly"}),
    ({"AutoRemediate": "off", "OrganizationId": "o-a1b2c3d4e5"}, {"arn:aws:iam::*:role/BackupResponderReadOnly"}),
])
def test_assume_role_only_on_the_named_remediation_role(parameters: dict[str, str], expected: set[str]) -> None:
    cfn = Cfn(load(TEMPLATE), parameters)
    assumes = [s for s in role_statements(cfn, "ResponderRole") if "sts:assumerole" in _actions(s)]
    assert {r for s in assumes for r in _resources(s)} == expected
    for statement in assumes:
        assert _actions(statement) == ["sts:assumerole"] and len(_resources(statement)) == 1
        if parameters.get("OrganizationId"):
            assert statement["Condition"] == {"StringEquals": {"aws:ResourceOrgID": "o-a1b2c3d4e5"}}
        else:
            assert statement["Condition"] == {"StringEquals": {"aws:ResourceAccount": ["111122223333"]}}


# --- the Slack approval endpoint ----------------------------------------------------------------

def test_the_approval_function_exists_only_with_its_condition() -> None:
    out = sam_transform(load(TEMPLATE))
    approval = {name: r for name, r in out["Resources"].items() if name.startswith("Approval")}
    assert {r["Type"] for r in approval.values()} >= {"AWS::Lambda::Function", "AWS::Lambda::Url",
                                                      "AWS::Lambda::Permission", "AWS::IAM::Role",
                                                      "AWS::Logs::LogGroup"}
    assert {name: r.get("Condition") for name, r in approval.items()} == dict.fromkeys(approval, "ChatApproval")
    assert out["Outputs"]["ApprovalUrl"]["Condition"] == "ChatApproval"
    assert out["Outputs"]["ApprovalUrl"]["Value"] == {"Fn::GetAtt": ["ApprovalFunctionUrl", "FunctionUrl"]}
    assert not Cfn(out).condition("ChatApproval")  # off by default
    assert Cfn(out, {"EnableChatApproval": "true"}).condition("ChatApproval")
    # the managed remediation policies attach to the approval role only when it exists
    cfn = Cfn(load(TEMPLATE), {**EVERYTHING, "EnableChatApproval": "false"})
    assert exists(cfn, "RemediationPolicy") and not exists(cfn, "ApprovalRole")
    assert "<ApprovalRole>" not in cfn.eval(load(TEMPLATE)["Resources"]["RemediationPolicy"]["Properties"])["Roles"]


def test_the_approval_url_is_public_and_the_handler_checks_slacks_signature() -> None:
    """AuthType NONE: Slack cannot sign an AWS request. The authentication is Slack's v0 signature,
    checked by the handler before anything else: see test_the_public_url_refuses_what_slack_did_not_sign
    below, and tests/remediation/test_approval.py for the signature, the five-minute window, replays
    and the approvers' allow-list (test_a_request_not_signed_by_slack_is_rejected and the tests after it)."""
    from functions.aws import approval
    from tests.remediation import test_approval

    out = sam_transform(load(TEMPLATE))
    assert out["Resources"]["ApprovalFunctionUrl"]["Properties"]["AuthType"] == "NONE"
    function = out["Resources"]["ApprovalFunction"]["Properties"]
    module, _, name = function["Handler"].rpartition(".")
    assert module == approval.__name__ and callable(getattr(approval, name))
    for test in ("test_a_request_not_signed_by_slack_is_rejected", "test_a_request_signed_with_another_secret_is_rejected",
                 "test_a_request_older_than_five_minutes_is_rejected", "test_a_replayed_request_is_rejected",
                 "test_a_user_who_may_not_approve_changes_nothing_and_is_audited"):
        assert callable(getattr(test_approval, test)), test
    env = Cfn(out, {"EnableChatApproval": "true", "SlackSigningSecret": SIGNING_SECRET, "AutoRemediate": "dry-run",
                    "ResponderConfig": "responder.yaml"}).eval(function["Environment"])["Variables"]
    assert env["SLACK_SIGNING_SECRET"] == SIGNING_SECRET  # the reference, resolved at run time
    assert env["STATE_TABLE"] == "<StateTable>" and env["RESPONDER_AUTO_REMEDIATE"] == "dry-run"
    assert env["RESPONDER_CONFIG"] == "responder.yaml" and env["REMEDIATION_ROLE_NAME"] == "BackupResponderRemediation"


def test_the_approval_role_reads_the_one_table_and_the_one_parameter() -> None:
    cfn = Cfn(load(TEMPLATE), {"EnableChatApproval": "true", "SlackSigningSecret": SIGNING_SECRET,
                               "AutoRemediate": "off"})
    inline = statements(cfn, "ApprovalRole")
    by_action = {a: s for s in inline for a in _actions(s)}
    assert set(by_action) == {"logs:createlogstream", "logs:putlogevents", "xray:puttracesegments",
                              "xray:puttelemetryrecords", "dynamodb:getitem", "dynamodb:putitem",
                              "dynamodb:updateitem", "dynamodb:deleteitem", "ssm:getparameter"}
    assert _resources(by_action["dynamodb:putitem"]) == ["<StateTable.Arn>"]
    assert _resources(by_action["ssm:getparameter"]) == [
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/backup-responder/slack-signing-secret"]
    assert _resources(by_action["logs:putlogevents"]) == ["<ApprovalLogGroup.Arn>"]
    role = cfn.eval(load(TEMPLATE)["Resources"]["ApprovalRole"]["Properties"])
    assert role["RoleName"] == "backup-responder-approval"  # the member accounts' remediation role trusts it


@pytest.mark.parametrize(("value", "accepted"), [
    ("", True), (SIGNING_SECRET, True), ("8f742231b10e8888abcd99yyyzzz85a5", False),
    ("secretsmanager:slack-signing", False), ("ssm:relative", False),
])
def test_the_signing_secret_is_a_hidden_ssm_reference(value: str, accepted: bool) -> None:
    parameter = load(TEMPLATE)["Parameters"]["SlackSigningSecret"]
    assert parameter["NoEcho"] is True
    assert bool(re.fullmatch(parameter["AllowedPattern"], value)) is accepted


@pytest.mark.parametrize(("parameters", "valid"), [
    ({}, True),
    ({"EnableChatApproval": "true", "SlackSigningSecret": SIGNING_SECRET, "AutoRemediate": "dry-run"}, True),
    ({"EnableChatApproval": "true", "AutoRemediate": "dry-run"}, False),  # no signing secret
    ({"EnableChatApproval": "true", "SlackSigningSecret": SIGNING_SECRET}, False),  # AutoRemediate off
])
def test_chat_approval_needs_the_signing_secret_and_remediation(parameters: dict[str, str], valid: bool) -> None:
    assert rules_hold(Cfn(load(TEMPLATE), parameters)) is valid


def test_the_public_url_refuses_what_slack_did_not_sign(monkeypatch: pytest.MonkeyPatch) -> None:
    """The approval handler as the template configures it (the signing secret an ssm: reference, the
    state table, the switch): an unsigned or forged request is refused before anything is read."""
    import base64
    import time

    from functions.aws import approval
    from tests.aws.conftest import LambdaContext
    from tests.remediation.test_approval import SECRET, slack_request
    from tests.support.dynamodb import create_table

    out = sam_transform(load(TEMPLATE))
    example = ROOT / "examples" / "remediation-aws-pass-role.yaml"  # its approver: test_approval's APPROVER
    cfn = Cfn(out, {"EnableChatApproval": "true", "SlackSigningSecret": SIGNING_SECRET, "AutoRemediate": "on",
                    "ResponderConfig": str(example)})
    assert rules_hold(cfn) and re.fullmatch(load(TEMPLATE)["Parameters"]["ResponderConfig"]["AllowedPattern"],
                                            str(example))
    env = cfn.eval(out["Resources"]["ApprovalFunction"]["Properties"]["Environment"])["Variables"]
    env["STATE_TABLE"] = "approval-state"
    followed: list[Any] = []
    monkeypatch.setattr(approval, "post_follow_up", followed.append)
    monkeypatch.setattr(approval, "_approval", None)
    monkeypatch.setattr(approval, "_app", None)
    for name, value in env.items():
        if not name.startswith("POWERTOOLS_"):  # Powertools was set up when the handler was imported
            monkeypatch.setenv(name, value)
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name=REGION), "approval-state")
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name="/backup-responder/slack-signing-secret", Value=SECRET, Type="SecureString")

        def post(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
            event = {"headers": {k.lower(): v for k, v in headers.items()}, "isBase64Encoded": True,
                     "body": base64.b64encode(body).decode(), "requestContext": {"http": {"method": "POST"}}}
            response: dict[str, Any] = approval.lambda_handler(event, LambdaContext(ACCOUNT))  # type: ignore[arg-type]
            return response

        now = int(time.time())
        body, headers = slack_request("some-approval-id", timestamp=now)
        unsigned = {k: v for k, v in headers.items() if not k.startswith("X-Slack-Signature")}
        assert post(body, unsigned)["statusCode"] == 401
        forged_body, forged = slack_request("some-approval-id", timestamp=now, secret="not-the-secret")
        assert post(forged_body, forged)["statusCode"] == 401
        assert followed and all(reply.follow_up is None for reply in followed)
        # signed with the secret the ssm: reference resolves to, by an approver: accepted (nothing is
        # waiting under this id, so nothing is applied)
        signed = post(body, headers)
        assert signed["statusCode"] == 200
        assert "no longer waiting" in followed[-1].follow_up["text"]


# --- member accounts: the optional remediation role ----------------------------------------------

MEMBER_PARAMETERS = {"CentralAccountId": "999988887777", "CentralRegion": REGION}


@pytest.mark.parametrize(("create_member", "create_remediation", "created"), [
    ("true", "false", False), ("true", "true", True), ("false", "true", False)])
def test_member_remediation_role_only_with_its_condition(create_member: str, create_remediation: str,
                                                         created: bool) -> None:
    cfn = Cfn(load(MEMBER), {**MEMBER_PARAMETERS, "CreateMemberRole": create_member,
                             "CreateRemediationRole": create_remediation})
    assert exists(cfn, "RemediationRole") is created
    assert load(MEMBER)["Outputs"]["RemediationRoleArn"]["Condition"] == "CreateRemediation"
    assert load(MEMBER)["Parameters"]["CreateRemediationRole"]["Default"] == "false"


@pytest.mark.parametrize("kms", ["true", "false"])
def test_member_remediation_role_is_trusted_by_the_responder_only_and_least_privilege(kms: str) -> None:
    member = load(MEMBER)
    member_account = "444455556666"
    cfn = Cfn(member, {**MEMBER_PARAMETERS, "CreateRemediationRole": "true", "KmsRemediation": kms})
    cfn.params["AWS::AccountId"] = member_account
    role = cfn.eval(member["Resources"]["RemediationRole"]["Properties"])
    assert role["RoleName"] == load(TEMPLATE)["Parameters"]["RemediationRoleName"]["Default"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": "arn:aws:iam::999988887777:root"}
    assert trust["Condition"] == {"ArnEquals": {"aws:PrincipalArn": [
        "arn:aws:iam::999988887777:role/backup-responder", "arn:aws:iam::999988887777:role/backup-responder-approval"]}}
    policy = statements(cfn, "RemediationRole")
    by_action = {a: s for s in policy for a in _actions(s)}
    backup_roles = f"arn:aws:iam::{member_account}:role/service-role/AWSBackup*"
    assert _resources(by_action["iam:putrolepolicy"]) == [backup_roles]
    assert _resources(by_action["iam:passrole"]) == [backup_roles]
    assert by_action["iam:passrole"]["Condition"] == {"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}}
    assert _resources(by_action["backup:putbackupvaultaccesspolicy"]) == [
        f"arn:aws:backup:*:{member_account}:backup-vault:*"]
    assert ("kms:putkeypolicy" in by_action) is (kms == "true")
    if kms == "true":
        assert _resources(by_action["kms:putkeypolicy"]) == [f"arn:aws:kms:*:{member_account}:key/*"]
    policies = json.loads((Path(__import__("cfnlint").__file__).parent / "data" / "AdditionalSpecs" /
                           "Policies.json").read_text())
    for statement in policy:
        for resource in _resources(statement):
            assert member_account in resource or resource == "*" or resource.startswith("arn:aws:ec2:*::") \
                or resource == "arn:aws:iam::aws:policy/*", resource
            assert not resource.endswith(":role/*") or set(_actions(statement)) <= {
                "iam:getrole", "iam:getrolepolicy", "iam:listattachedrolepolicies", "iam:listrolepolicies",
                "iam:getpolicy", "iam:getpolicyversion"}
            if resource == "*":
                for action in _actions(statement):
                    service, name = action.split(":")
                    assert action in NO_RESOURCE_LEVEL and not policies[service]["Actions"][name].get("Resources")
    # the read-only member role stays read-only
    assert not {a for s in statements(cfn, "MemberRole") for a in _actions(s)} & WRITES


def test_the_names_agree_across_the_two_templates() -> None:
    central, member = load(TEMPLATE)["Parameters"], load(MEMBER)["Parameters"]
    for name in ("ResponderRoleName", "RemediationRoleName", "BackupRoleNamePattern", "KmsRemediation"):
        assert central[name]["Default"] == member[name]["Default"], name
    for name in ("ResponderRoleName", "BackupRoleNamePattern"):
        assert central[name]["AllowedPattern"] == member[name]["AllowedPattern"], name
    # <ResponderRoleName>-approval must still be a valid role name (64 characters at most)
    assert re.fullmatch(central["ResponderRoleName"]["AllowedPattern"], "r" * 55)
    assert not re.fullmatch(central["ResponderRoleName"]["AllowedPattern"], "r" * 56)


def test_every_makefile_built_function_has_its_build_target() -> None:
    makefile = (ROOT / "infra" / "aws" / "lambda" / "Makefile").read_text(encoding="utf-8")
    targets = {t for line in re.findall(r"^(build-[\w -]+):", makefile, re.MULTILINE) for t in line.split()}
    for name, resource in load(TEMPLATE)["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            assert resource["Metadata"]["BuildMethod"] == "makefile"
            assert f"build-{name}" in targets, name


def test_a_schedule_sends_the_digests_of_closed_storms() -> None:
    out = sam_transform(load(TEMPLATE))
    schedules = [r["Properties"] for r in out["Resources"].values()
                 if r["Type"] == "AWS::Events::Rule" and "ScheduleExpression" in r["Properties"]
                 and "Condition" not in r]
    assert [s["ScheduleExpression"] for s in schedules] == ["rate(5 minutes)"]
    [target] = schedules[0]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["ResponderFunction", "Arn"]}


def test_every_documented_guided_deploy_grants_the_capabilities_the_named_roles_need() -> None:
    """The template names its roles (``RoleName``), so CloudFormation refuses it without
    CAPABILITY_NAMED_IAM; the one-liner a reader copies must work as written."""
    named = [name for name, resource in load(TEMPLATE)["Resources"].items()
             if resource.get("Type") == "AWS::IAM::Role" and "RoleName" in resource.get("Properties", {})]
    assert named, "the template names its roles; if it no longer does, this test can go"
    commands = [(path.name, line) for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
                for line in path.read_text(encoding="utf-8").splitlines() if "sam deploy --guided" in line]
    assert any(name == "README.md" for name, _ in commands)
    for name, line in commands:
        assert "--capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM" in line, f"{name}: {line.strip()}"


# --- the weekly report: only with WeeklyReport, and only the three list actions ------------------

@pytest.mark.parametrize("on", [False, True])
def test_the_weekly_report_schedule_and_its_permissions_exist_only_when_it_is_on(on: bool) -> None:
    from functions.aws.app import WEEKLY_REPORT_EVENT

    cfn = Cfn(load(TEMPLATE), {"WeeklyReport": "true"} if on else {})
    assert exists(cfn, "WeeklyReportSchedule") is on and exists(cfn, "WeeklyReportPermission") is on
    lists = [s for s in role_statements(cfn, "ResponderRole") if set(_actions(s)) & LIST_JOBS]
    if not on:
        assert lists == [] and cfn.template["Parameters"]["WeeklyReport"]["Default"] == "false"
        return
    [statement] = lists
    assert set(_actions(statement)) == LIST_JOBS and _resources(statement) == ["*"] and statement["Effect"] == "Allow"
    rule = cfn.eval(cfn.template["Resources"]["WeeklyReportSchedule"]["Properties"])
    assert rule["ScheduleExpression"] == "cron(0 8 ? * MON *)" and rule["State"] == "ENABLED"
    [target] = rule["Targets"]
    assert target["Arn"] == "<ResponderFunction.Arn>"
    assert json.loads(target["Input"]) == WEEKLY_REPORT_EVENT  # what the handler recognises
    permission = cfn.eval(cfn.template["Resources"]["WeeklyReportPermission"]["Properties"])
    assert permission == {"Action": "lambda:InvokeFunction", "FunctionName": "<ResponderFunction>",
                          "Principal": "events.amazonaws.com", "SourceArn": "<WeeklyReportSchedule.Arn>"}


def test_the_sam_transform_keeps_the_weekly_report_behind_its_condition() -> None:
    out = sam_transform(load(TEMPLATE))
    conditional = {name: r["Condition"] for name, r in out["Resources"].items() if name.startswith("WeeklyReport")}
    assert conditional == {"WeeklyReportSchedule": "SendWeeklyReport", "WeeklyReportPermission": "SendWeeklyReport"}
    assert not Cfn(out).condition("SendWeeklyReport")
    assert Cfn(out, {"WeeklyReport": "true"}).condition("SendWeeklyReport")
