"""With tracing on (the template's default, Tracing=Active), what the function sends to X-Ray: a
subsegment for each AWS call, and never a sink's URL (a Slack webhook's path is its secret).

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


def test_every_aws_call_is_a_subsegment_and_no_sink_url_reaches_x_ray(
        tmp_path: Path, daemon: socket.socket, fake_sts: tuple[FakeSts, str],
        fake_backup: tuple[FakeBackup, str], webhook: tuple[Webhook, str]) -> None:
    sts, sts_url = fake_sts
    _, backup_url = fake_backup
    hook, hook_url = webhook
    event = load_event(SEED004_EVENT)
    sts.messages[event["detail"]["statusMessage"].rsplit(" ", 1)[-1]] = (HOME_ACCOUNT, SEED004_DECODED)
    (tmp_path / "event.json").write_text(json.dumps(event))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "RESPONDER_", "_X_AMZN"))}
    env.update(PYTHONPATH=str(ROOT), LAMBDA_TASK_ROOT=str(ROOT), POWERTOOLS_TRACE_DISABLED="false",
               POWERTOOLS_SERVICE_NAME="backup-responder", AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION,
               AWS_ACCESS_KEY_ID="AKIATEST", AWS_SECRET_ACCESS_KEY="test", AWS_ENDPOINT_URL_STS=sts_url,
               AWS_ENDPOINT_URL_BACKUP=backup_url, SLACK_WEBHOOK_URL=hook_url, _X_AMZN_TRACE_ID=TRACE_HEADER,
               AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{daemon.getsockname()[1]}", STATE_TABLE="")
    subprocess.run([sys.executable, "-c", INVOKE, str(tmp_path / "event.json")], cwd=ROOT, env=env, check=True,
                   capture_output=True, text=True)

    assert len(hook.posts) == 1  # the failure reached Slack
    datagrams = _received(daemon)
    secret_path = hook_url.split("://", 1)[1].split("/", 1)[1]
    assert [d for d in datagrams if secret_path.encode() in d] == []
    documents = _documents(datagrams)
    assert {d["trace_id"] for d in documents} == {TRACE_ROOT}
    aws_calls = {(d["name"], d["aws"]["operation"]) for d in documents if d.get("namespace") == "aws"}
    assert ("sts", "DecodeAuthorizationMessage") in aws_calls
    assert ("backup", "DescribeRestoreJob") in aws_calls
    assert "## lambda_handler" in {d["name"] for d in documents}
