"""Test doubles for the AWS side: a local server that answers like STS, one that answers like AWS
Backup, a Slack-like webhook (all three on the one fake HTTP server of tests/support), a Lambda
context (tests/support/lambda_run.py), and ``world``: all of them around a fresh Lambda container. Network only to 127.0.0.1
servers the tests start; moto for the AWS services it implements."""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import boto3
import botocore.loaders
import botocore.session
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from tests.support.clock import FakeClock
from tests.support.http_server import FakeHttpServer, Reply, Request
from tests.support.lambda_run import HOME_ACCOUNT, REGION, ROOT, LambdaContext, run_handler
from tests.support.xray import Daemon

# Before any test module imports the handler: Powertools reads these when it is imported.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "BackupResponderTest")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "backup-responder")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-west-2")

CENTRAL_ACCOUNT = "999988887777"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
STATE_TABLE_NAME = "responder-state"
MEMBER_ROLE = "BackupResponderReadOnly"
SEED004_EVENT = "aws/seed004-restore-ec2-not-authorized-encoded.json"

#: What STS returns for the seed 004 message (the decoded form documented in the knowledge-center
#: article, seeds/004): a privileged document, of which only principal, action, resource matter.
SEED004_DECODED: dict[str, Any] = {
    "allowed": False,
    "explicitDeny": False,
    "matchedStatements": {"items": [{"statementId": "SECRET-STATEMENT", "effect": "DENY"}]},
    "failures": {"items": []},
    "context": {
        "principal": {
            "id": "AROAAAAAAAAAA:AWSBackup-AWSBackupDefaultServiceRole",
            "arn": "arn:aws:sts::111122223333:assumed-role/AWSBackupDefaultServiceRole/"
                   "AWSBackup-AWSBackupDefaultServiceRole",
        },
        "action": "iam:PassRole",
        "resource": "arn:aws:iam::111122223333:role/AmazonSSMRoleForInstancesQuickSetup",
        "conditions": {"items": [
            {"key": "aws:Region", "values": {"items": [{"value": "us-west-2"}]}},
            {"key": "iam:PassedToService", "values": {"items": [{"value": "ec2.amazonaws.com"}]}},
        ]},
    },
}


def _dated(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records as boto3 returns them: dates are datetimes."""
    return [{k: datetime.fromisoformat(v) if k.endswith("Date") else v for k, v in r.items()} for r in records]


def _listed(name: str, key: str) -> list[dict[str, Any]]:
    from tests.conftest import load_event

    return _dated(load_event(f"report/{name}.json")[key])


#: The documented job records of tests/events/report/, as ListBackupJobs, ListCopyJobs and
#: ListRestoreJobs return them through boto3 (for botocore's Stubber).
BACKUP = _listed("aws-list-backup-jobs", "BackupJobs")
COPY = _listed("aws-list-copy-jobs", "CopyJobs")
RESTORE = _listed("aws-list-restore-jobs", "RestoreJobs")


@pytest.fixture(autouse=True)
def _fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never the developer's credentials or profile; every test sets up the services it talks to."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_BACKUP", "STATE_TABLE", "MEMBER_ROLE_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAHOMEACCOUNTKEY01")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "home-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


@dataclass
class FakeSts:
    """Answers DecodeAuthorizationMessage and AssumeRole like STS's Query API does.

    Like the real service, it decodes a message only for a caller in the account that produced it:
    callers are told apart by the access key in their signature (keys it issued through AssumeRole
    belong to the assumed account; any other key is ``home_account``).
    """

    home_account: str = HOME_ACCOUNT
    #: encoded message -> (account that produced it, decoded document)
    messages: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    expired: set[str] = field(default_factory=set)
    denied_accounts: set[str] = field(default_factory=set)
    assumable: set[str] = field(default_factory=set)  # role ARNs AssumeRole grants
    calls: list[dict[str, str]] = field(default_factory=list)
    #: When set, DecodeAuthorizationMessage is answered 200 with this body (a proxy's page).
    proxy_page: str | None = None
    _keys: dict[str, str] = field(default_factory=dict)

    def caller_account(self, authorization: str) -> str:
        match = re.search(r"Credential=([A-Z0-9]+)/", authorization or "")
        return self._keys.get(match.group(1), self.home_account) if match else self.home_account

    def answer(self, params: dict[str, str], authorization: str) -> tuple[int, str]:
        action, caller = params.get("Action", ""), self.caller_account(authorization)
        self.calls.append({**params, "caller_account": caller})
        if action == "AssumeRole":
            arn = params.get("RoleArn", "")
            if arn not in self.assumable:
                return self.error("AccessDenied", f"User is not authorized to perform: sts:AssumeRole on {arn}")
            account = arn.split(":")[4]
            key = "ASIA" + uuid.uuid4().hex[:16].upper()
            self._keys[key] = account
            expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            return 200, (f'<AssumeRoleResponse xmlns="{STS_NS}"><AssumeRoleResult><Credentials>'
                         f"<AccessKeyId>{key}</AccessKeyId><SecretAccessKey>s</SecretAccessKey>"
                         f"<SessionToken>t</SessionToken><Expiration>{expires}</Expiration></Credentials>"
                         f"<AssumedRoleUser><AssumedRoleId>AROAFAKE:{params.get('RoleSessionName')}"
                         f"</AssumedRoleId><Arn>{escape(arn)}</Arn></AssumedRoleUser></AssumeRoleResult>"
                         "<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>")
        if action == "GetCallerIdentity":  # who the caller is (the CLI asks it for its home account)
            return 200, (f'<GetCallerIdentityResponse xmlns="{STS_NS}"><GetCallerIdentityResult>'
                         f"<Arn>arn:aws:iam::{caller}:user/laptop</Arn><UserId>AIDAFAKE</UserId>"
                         f"<Account>{caller}</Account></GetCallerIdentityResult>"
                         "<ResponseMetadata><RequestId>4</RequestId></ResponseMetadata></GetCallerIdentityResponse>")
        if action == "DecodeAuthorizationMessage" and self.proxy_page is not None:
            return 200, self.proxy_page
        if action == "DecodeAuthorizationMessage":
            token = params.get("EncodedMessage", "")
            if caller in self.denied_accounts:
                return self.error("AccessDenied", "not authorized to perform: sts:DecodeAuthorizationMessage")
            known = self.messages.get(token)
            if token in self.expired or known is None or known[0] != caller:
                return self.error("InvalidAuthorizationMessageException", "Invalid Authorization Message")
            return 200, (f'<DecodeAuthorizationMessageResponse xmlns="{STS_NS}">'
                         "<DecodeAuthorizationMessageResult><DecodedMessage>"
                         f"{escape(json.dumps(known[1]))}</DecodedMessage></DecodeAuthorizationMessageResult>"
                         "<ResponseMetadata><RequestId>2</RequestId></ResponseMetadata>"
                         "</DecodeAuthorizationMessageResponse>")
        return self.error("InvalidAction", f"Could not find operation {action}")

    @staticmethod
    def error(code: str, message: str) -> tuple[int, str]:
        return 403 if code == "AccessDenied" else 400, (
            f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
            f"<Message>{escape(message)}</Message></Error><RequestId>3</RequestId></ErrorResponse>")


@dataclass
class Webhook:
    """A Slack-like incoming webhook: records every POST and answers ``status`` ("ok" on 200), or
    first each of ``throttled`` (429, retry at once: ``Retry-After: 0``)."""

    status: int = 200
    posts: list[dict[str, Any]] = field(default_factory=list)
    throttled: int = 0


@pytest.fixture
def fake_sts() -> Iterator[tuple[FakeSts, str]]:
    """A FakeSts and the URL it listens on (point AWS_ENDPOINT_URL_STS at it)."""
    sts = FakeSts()

    def respond(request: Request) -> Reply:
        params = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        status, body = sts.answer(params, request.headers.get("Authorization", ""))
        return Reply(status, {"Content-Type": "text/xml"}, body.encode())

    with FakeHttpServer(respond) as server:
        yield sts, server.url


@dataclass
class FakeBackup:
    """Answers AWS Backup's REST API (GET /restore-jobs/{id}, /restore-jobs/{id}/metadata,
    /backup-jobs/{id}, /copy-jobs/{id}, /backup-vaults/{name}, /backup-vaults/{name}/access-policy)
    from ``responses`` by path, and its writes (PUT /restore-jobs, PUT /copy-jobs,
    PUT /backup-vaults/{name}/access-policy) by ``"PUT <path>"``; anything else is
    ResourceNotFoundException, as for a job or vault that does not exist. Reads are recorded in
    ``calls``, writes (method, path, JSON body) in ``writes``."""

    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    writes: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def answer(self, path: str, method: str = "GET", body: bytes = b"") -> tuple[int, dict[str, str], str]:
        if method == "GET":
            self.calls.append(path)
            key = path
        else:
            self.writes.append((method, path, json.loads(body or b"{}")))
            key = f"{method} {path}"
        if key in self.responses:
            return 200, {}, json.dumps(self.responses[key])
        return 404, {"x-amzn-ErrorType": "ResourceNotFoundException"}, json.dumps(
            {"Code": "ResourceNotFoundException", "Message": f"{path} not found"})


@pytest.fixture
def fake_backup() -> Iterator[tuple[FakeBackup, str]]:
    """A FakeBackup and its URL (point AWS_ENDPOINT_URL_BACKUP at it)."""
    backup = FakeBackup()

    def respond(request: Request) -> Reply:
        status, headers, body = backup.answer(request.target.split("?")[0], request.method, request.body)
        return Reply(status, {"Content-Type": "application/json", **headers}, body.encode())

    with FakeHttpServer(respond) as server:
        yield backup, server.url


@pytest.fixture
def webhook() -> Iterator[tuple[Webhook, str]]:
    """A Webhook and its URL (the value of SLACK_WEBHOOK_URL)."""
    hook = Webhook()

    def respond(request: Request) -> Reply:
        hook.posts.append({"path": request.target, "body": json.loads(request.body or b"{}")})
        if hook.throttled:
            hook.throttled -= 1
            return Reply(429, {"Content-Type": "text/plain", "Retry-After": "0"}, b"rate_limited")
        return Reply(hook.status, {"Content-Type": "text/plain"}, b"ok" if hook.status == 200 else b"internal_error")

    with FakeHttpServer(respond) as server:
        yield hook, server.url + "/services/T000/B000/XXXX"


#: botocore's service models, read once for the whole run (they are read-only data).
_SDK_MODELS = botocore.loaders.create_loader()


def sdk_session() -> boto3.session.Session:
    """A new boto3 session, as a new Lambda container has, that reuses the service models already
    loaded: reading botocore's JSON files again is most of what a new session costs."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _SDK_MODELS)
    return boto3.session.Session(botocore_session=core, region_name=REGION)


def new_container(clock: FakeClock, env: Mapping[str, str] | None = None) -> Any:
    """A fresh ``functions.aws.app.App`` (a new container) on its own SDK session, delivering on ``clock``."""
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    from functions.aws.app import App
    from functions.aws.secrets import ParameterSecrets

    session = sdk_session()
    return App(env=env, session=session, secrets=ParameterSecrets(ssm=SSMProvider(boto3_session=session)),
               clock=clock)


class World:
    """Everything one invocation talks to, and what each of them saw."""

    def __init__(self, sts: FakeSts, backup: FakeBackup, hook: Webhook, hook_url: str, outbox: Path,
                 clock: FakeClock) -> None:
        self.sts, self.backup, self.hook, self.hook_url, self.outbox = sts, backup, hook, hook_url, outbox
        #: The container's delivery clock: retries, pacing and the deadline wait on it, not on real time.
        self.clock = clock

    def invoke(self, event: dict[str, Any], account: str = HOME_ACCOUNT,
               context: LambdaContext | None = None) -> dict[str, Any]:
        from functions.aws import handler

        result: dict[str, Any] = handler.lambda_handler(event, context or LambdaContext(account))
        return result

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.outbox.glob("*.json"))]

    def decode_calls(self) -> list[dict[str, str]]:
        return [c for c in self.sts.calls if c["Action"] == "DecodeAuthorizationMessage"]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_sts: tuple[FakeSts, str],
          fake_backup: tuple[FakeBackup, str], webhook: tuple[Webhook, str]) -> Iterator[World]:
    """A fresh Lambda container (``handler.app``) in account ``HOME_ACCOUNT``: the local STS (which
    decodes seed 004's message there) and Backup servers, the Slack-like webhook (its URL in SSM,
    SLACK_WEBHOOK_URL the reference), moto for everything else (the state table among them), the
    read-only member role assumable in two accounts, an outbox, and the fake clock for delivery."""
    from functions.aws import handler
    from tests.conftest import load_event
    from tests.support.dynamodb import create_table

    sts, sts_url = fake_sts
    backup, backup_url = fake_backup
    hook, hook_url = webhook
    token = load_event(SEED004_EVENT)["detail"]["statusMessage"].rsplit(" ", 1)[-1]
    sts.messages[token] = (HOME_ACCOUNT, SEED004_DECODED)
    sts.assumable |= {f"arn:aws:iam::{account}:role/{MEMBER_ROLE}" for account in (HOME_ACCOUNT, "444455556666")}
    for name in ("RESPONDER_CONFIG", "RESPONDER_AUTO_REMEDIATE", "REMEDIATION_ROLE_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MOTO_ACCOUNT_ID", HOME_ACCOUNT)  # moto's resources are the home account's
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name=REGION), STATE_TABLE_NAME)
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name="/backup-responder/slack-webhook", Value=hook_url, Type="SecureString")
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts_url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_BACKUP", backup_url)
        monkeypatch.setenv("STATE_TABLE", STATE_TABLE_NAME)
        monkeypatch.setenv("MEMBER_ROLE_NAME", MEMBER_ROLE)
        monkeypatch.setenv("SLACK_WEBHOOK_URL", "ssm:/backup-responder/slack-webhook")
        monkeypatch.setenv("RESPONDER_OUTBOX", str(tmp_path / "outbox"))
        clock = FakeClock()
        monkeypatch.setattr(handler, "app", new_container(clock))
        yield World(sts, backup, hook, hook_url, tmp_path / "outbox", clock)


def stubbed_backup_clients(queues: Mapping[str, Callable[[Stubber], None]], stubbers: list[Stubber]) -> list[Any]:
    """One AWS Backup client per Region of ``queues``, each answering from a Stubber that its queue
    fills (the stubbers are added to ``stubbers``, to check later that every answer was asked for)."""
    made = []
    for region, queue in queues.items():
        client = boto3.client("backup", region_name=region)
        stubber = Stubber(client)
        queue(stubber)
        stubber.activate()
        stubbers.append(stubber)
        made.append(client)
    return made


#: The trace header Lambda gives an invocation that X-Ray samples (the function's segment is Parent).
TRACE_ROOT = "1-5759e988-bd862e3fe1be46a994272793"
TRACE_HEADER = f"Root={TRACE_ROOT};Parent=53995c3f42cd8ad8;Sampled=1"


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    with Daemon() as udp:
        yield udp


@dataclass
class TracedRun:
    answer: Any
    datagrams: list[bytes]


@pytest.fixture
def traced_failure(tmp_path: Path, daemon: Daemon, fake_sts: tuple[FakeSts, str],
                   fake_backup: tuple[FakeBackup, str], webhook: tuple[Webhook, str]) -> Callable[..., TracedRun]:
    """Runs the seed 004 failure through the real handler in a fresh interpreter (a new container:
    the X-Ray SDK patches botocore for the whole process) with tracing on, the template's default,
    in front of the local STS and Backup servers and the Slack-like webhook (``webhook``): its
    answer and what the daemon got. ``interpreter`` and ``package``: ``run_handler``'s."""
    from tests.conftest import load_event

    sts, sts_url = fake_sts
    event = load_event(SEED004_EVENT)
    sts.messages[event["detail"]["statusMessage"].rsplit(" ", 1)[-1]] = (HOME_ACCOUNT, SEED004_DECODED)
    (tmp_path / "event.json").write_text(json.dumps(event))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "RESPONDER_", "_X_AMZN"))}
    env.update(LAMBDA_TASK_ROOT=str(ROOT), POWERTOOLS_TRACE_DISABLED="false",
               POWERTOOLS_SERVICE_NAME="backup-responder", AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION,
               AWS_ACCESS_KEY_ID="AKIATEST", AWS_SECRET_ACCESS_KEY="test", AWS_ENDPOINT_URL_STS=sts_url,
               AWS_ENDPOINT_URL_BACKUP=fake_backup[1], SLACK_WEBHOOK_URL=webhook[1], _X_AMZN_TRACE_ID=TRACE_HEADER,
               AWS_XRAY_DAEMON_ADDRESS=daemon.address, STATE_TABLE="")

    def run(interpreter: str = sys.executable, package: Path | None = None) -> TracedRun:
        task_root = {"LAMBDA_TASK_ROOT": str(package)} if package is not None else {}
        answer = run_handler(tmp_path / "event.json", {**env, **task_root}, interpreter, package)
        return TracedRun(answer, daemon.received())

    return run
