"""With tracing on (the template's default, Tracing=Active), what the function sends to X-Ray: a
subsegment for each AWS call and for each delivery attempt (its sink's name, the request's label,
the answer's status), and never a sink's URL (a Slack webhook's path is its secret).

The handler runs in a fresh interpreter (``traced_failure``), in front of the local STS and Backup
servers and the Slack-like webhook; a UDP socket on 127.0.0.1 stands where the X-Ray daemon listens
and keeps what the SDK emits (tests/support/xray.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

from tests.aws.conftest import REGION, TRACE_HEADER, TRACE_ROOT, TracedRun, Webhook
from tests.support.lambda_run import ROOT
from tests.support.xray import Daemon, deliveries, documents


def test_every_aws_call_and_delivery_is_a_subsegment_and_no_sink_url_reaches_x_ray(
        traced_failure: Callable[..., TracedRun], webhook: tuple[Webhook, str]) -> None:
    hook, hook_url = webhook
    run = traced_failure()

    assert len(hook.posts) == 1  # the failure reached Slack
    secret_path = hook_url.split("://", 1)[1].split("/", 1)[1]
    assert [d for d in run.datagrams if secret_path.encode() in d] == []
    found = documents(run.datagrams)
    assert {d["trace_id"] for d in found} == {TRACE_ROOT}
    aws_calls = {(d["name"], d["aws"]["operation"]) for d in found if d.get("namespace") == "aws"}
    assert ("sts", "DecodeAuthorizationMessage") in aws_calls
    assert ("backup", "DescribeRestoreJob") in aws_calls
    assert "## lambda_handler" in {d["name"] for d in found}
    [delivery] = deliveries(found)
    assert delivery["name"].startswith("slack ")
    assert delivery["annotations"] == {"request": "POST webhook"}
    assert delivery["http"] == {"response": {"status": 200}}
    assert not any(delivery.get(flag) for flag in ("error", "throttle", "fault"))


def test_a_throttled_delivery_attempt_is_its_own_subsegment_flagged_as_throttled(
        traced_failure: Callable[..., TracedRun], webhook: tuple[Webhook, str]) -> None:
    hook, _ = webhook
    hook.throttled = 1  # Slack answers the first post 429, Retry-After: 0
    run = traced_failure()

    assert len(hook.posts) == 2
    throttled, delivered = deliveries(documents(run.datagrams))
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


def test_an_attempt_that_raises_is_a_fault_recorded_without_its_message(daemon: Daemon) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "_X_AMZN"))}
    env.update(PYTHONPATH=str(ROOT), LAMBDA_TASK_ROOT=str(ROOT), POWERTOOLS_TRACE_DISABLED="false",
               AWS_REGION=REGION, _X_AMZN_TRACE_ID=TRACE_HEADER, AWS_XRAY_DAEMON_ADDRESS=daemon.address)
    run = subprocess.run([sys.executable, "-c", ATTEMPT_THAT_RAISES], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True)

    assert run.stdout.strip() == "raised"  # the exception still reaches the sender, which retries
    datagrams = daemon.received()
    assert [d for d in datagrams if b"SECRETPATH" in d] == []
    [attempt] = deliveries(documents(datagrams))
    assert attempt["name"] == "slack oncall"
    assert attempt["fault"] is True
    assert attempt["annotations"] == {"request": "POST webhook", "exception": "ConnectionRefusedError"}
