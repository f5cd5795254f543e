"""With tracing on (the template's default, Tracing=Active), what the function sends to X-Ray: a
subsegment for each AWS call and for each delivery attempt (its sink's name, the request's label,
the answer's status), and never a sink's URL (a Slack webhook's path is its secret).

The handler runs in a fresh interpreter, as in a new Lambda container (the X-Ray SDK patches
botocore for the whole process), in front of the local STS and Backup servers and the Slack-like
webhook; a UDP socket on 127.0.0.1 stands where the X-Ray daemon listens (``AWS_XRAY_DAEMON_ADDRESS``)
and keeps what the SDK emits."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.aws.conftest import HOME_ACCOUNT, REGION, SEED004_DECODED, SEED004_EVENT, FakeBackup, FakeSts, Webhook
from tests.conftest import load_event

ROOT = Path(__file__).resolve().parents[2]
TRACE_ROOT = "1-5759e988-bd862e3fe1be46a994272793"
#: The trace header Lambda gives an invocation that X-Ray samples (the function's segment is Parent).
TRACE_HEADER = f"Root={TRACE_ROOT};Parent=53995c3f42cd8ad8;Sampled=1"
INVOKE = """
import json, sys
from pathlib import Path
import functions.aws.handler as handler
from tests.aws.conftest import LambdaContext

event = json.loads(Path(sys.argv[1]).read_text())
print(json.dumps(handler.lambda_handler(event, LambdaContext())))
"""


@pytest.fixture
def daemon() -> Iterator[socket.socket]:
    """Where the X-Ray daemon would listen: a UDP socket on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        yield udp


def _received(udp: socket.socket) -> list[bytes]:
    """Every datagram already delivered (the sender has exited: nothing more is coming)."""
    udp.setblocking(False)
    datagrams = []
    while True:
        try:
            datagrams.append(udp.recv(65536))
        except BlockingIOError:
            return datagrams


def _documents(datagrams: list[bytes]) -> list[dict[str, Any]]:
    """The segment documents: each datagram is the daemon protocol's header line, then one document."""
    documents = []
    for datagram in datagrams:
        header, _, body = datagram.partition(b"\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        documents.append(json.loads(body))
    return documents


def _traced_invocation(tmp_path: Path, daemon: socket.socket, sts: FakeSts, urls: dict[str, str]) -> list[bytes]:
    """The seed 004 failure handled by the real handler with tracing on, in a fresh interpreter;
    what it sent to the daemon."""
    event = load_event(SEED004_EVENT)
    sts.messages[event["detail"]["statusMessage"].rsplit(" ", 1)[-1]] = (HOME_ACCOUNT, SEED004_DECODED)
    (tmp_path / "event.json").write_text(json.dumps(event))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "RESPONDER_", "_X_AMZN"))}
    env.update(PYTHONPATH=str(ROOT), LAMBDA_TASK_ROOT=str(ROOT), POWERTOOLS_TRACE_DISABLED="false",
               POWERTOOLS_SERVICE_NAME="backup-responder", AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION,
               AWS_ACCESS_KEY_ID="AKIATEST", AWS_SECRET_ACCESS_KEY="test", AWS_ENDPOINT_URL_STS=urls["sts"],
               AWS_ENDPOINT_URL_BACKUP=urls["backup"], SLACK_WEBHOOK_URL=urls["slack"], _X_AMZN_TRACE_ID=TRACE_HEADER,
               AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{daemon.getsockname()[1]}", STATE_TABLE="")
    subprocess.run([sys.executable, "-c", INVOKE, str(tmp_path / "event.json")], cwd=ROOT, env=env, check=True,
                   capture_output=True, text=True)
    return _received(daemon)


def _deliveries(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The delivery attempts' subsegments, in the order they started."""
    remote = [d for d in documents if d.get("namespace") == "remote"]
    return sorted(remote, key=lambda d: d["start_time"])


def test_every_aws_call_and_delivery_is_a_subsegment_and_no_sink_url_reaches_x_ray(
        tmp_path: Path, daemon: socket.socket, fake_sts: tuple[FakeSts, str],
        fake_backup: tuple[FakeBackup, str], webhook: tuple[Webhook, str]) -> None:
    hook, hook_url = webhook
    datagrams = _traced_invocation(tmp_path, daemon, fake_sts[0],
                                   {"sts": fake_sts[1], "backup": fake_backup[1], "slack": hook_url})

    assert len(hook.posts) == 1  # the failure reached Slack
    secret_path = hook_url.split("://", 1)[1].split("/", 1)[1]
    assert [d for d in datagrams if secret_path.encode() in d] == []
    documents = _documents(datagrams)
    assert {d["trace_id"] for d in documents} == {TRACE_ROOT}
    aws_calls = {(d["name"], d["aws"]["operation"]) for d in documents if d.get("namespace") == "aws"}
    assert ("sts", "DecodeAuthorizationMessage") in aws_calls
    assert ("backup", "DescribeRestoreJob") in aws_calls
    assert "## lambda_handler" in {d["name"] for d in documents}
    [delivery] = _deliveries(documents)
    assert delivery["name"].startswith("slack ")
    assert delivery["annotations"] == {"request": "POST webhook"}
    assert delivery["http"] == {"response": {"status": 200}}
    assert not any(delivery.get(flag) for flag in ("error", "throttle", "fault"))


def test_a_throttled_delivery_attempt_is_its_own_subsegment_flagged_as_throttled(
        tmp_path: Path, daemon: socket.socket, fake_sts: tuple[FakeSts, str],
        fake_backup: tuple[FakeBackup, str], webhook: tuple[Webhook, str]) -> None:
    hook, hook_url = webhook
    hook.throttled = 1  # Slack answers the first post 429, Retry-After: 0
    documents = _documents(_traced_invocation(tmp_path, daemon, fake_sts[0],
                                              {"sts": fake_sts[1], "backup": fake_backup[1], "slack": hook_url}))

    assert len(hook.posts) == 2
    throttled, delivered = _deliveries(documents)
    assert throttled["http"] == {"response": {"status": 429}}
    assert throttled["throttle"] and throttled["error"] and not throttled.get("fault")
    assert delivered["http"] == {"response": {"status": 200}}
    assert throttled["parent_id"] == delivered["parent_id"]  # both attempts of one delivery


ATTEMPT_THAT_RAISES = """
from functions.aws.observe import delivery_attempts, tracer

try:
    with delivery_attempts(tracer)("slack oncall", "POST webhook"):
        raise ConnectionRefusedError("http://127.0.0.1:9/services/T0/B0/SECRETPATH: refused")
except ConnectionRefusedError:
    print("raised")
"""


def test_an_attempt_that_raises_is_a_fault_recorded_without_its_message(daemon: socket.socket) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "_X_AMZN"))}
    env.update(PYTHONPATH=str(ROOT), LAMBDA_TASK_ROOT=str(ROOT), POWERTOOLS_TRACE_DISABLED="false",
               AWS_REGION=REGION, _X_AMZN_TRACE_ID=TRACE_HEADER,
               AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{daemon.getsockname()[1]}")
    run = subprocess.run([sys.executable, "-c", ATTEMPT_THAT_RAISES], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True)

    assert run.stdout.strip() == "raised"  # the exception still reaches the sender, which retries
    datagrams = _received(daemon)
    assert [d for d in datagrams if b"SECRETPATH" in d] == []
    [attempt] = _deliveries(_documents(datagrams))
    assert attempt["name"] == "slack oncall"
    assert attempt["fault"] is True
    assert attempt["annotations"] == {"request": "POST webhook", "exception": "ConnectionRefusedError"}
