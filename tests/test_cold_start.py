"""What a cold start imports (the Lambda, the Azure worker): only what the configuration uses (each
check in a fresh interpreter, since the test session has imported everything already)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from functions.aws.observe import NoTracer, build_tracer, tracing_enabled

ROOT = Path(__file__).resolve().parents[1]
#: Deferred until the configuration asks for them.
DEFERRED = ("aws_xray_sdk", "functions.aws.remediate", "shared.remediation.engine", "shared.approval", "slack_sdk",
            "yaml",
            # the Azure parser (an AWS event never needs it) and remediation's changes (off by default)
            "shared.parse.azure", "shared.remediation.changes")
#: Each sink type's settings model: imported only when a sink of that type is configured.
SINK_SETTINGS = {"slack": "shared.sinks.slack.config", "teams": "shared.sinks.teams.config",
                 "jira": "shared.sinks.jira.config", "servicenow": "shared.sinks.servicenow.config",
                 "pagerduty": "shared.sinks.pagerduty.config", "github": "shared.sinks.github.config"}
FIRST_FAILURE = """
import gc, json, sys
from pathlib import Path
import shared.catalog
loaded, load_compiled = [], shared.catalog.load_compiled
shared.catalog.load_compiled = lambda path, *a: loaded.append(path.name) or load_compiled(path, *a)
import functions.aws.handler as h
event = json.loads(Path("tests/events/aws/seed004-restore-ec2-not-authorized-encoded.json").read_text())
pipeline = h.app.responder(None).pipeline
assert pipeline.assess(pipeline.parse(event)).finding.cause == "aws.iam.pass-role"
patcher = sys.modules.get("aws_xray_sdk.core.patcher")
print(json.dumps({"modules": sorted(sys.modules), "tracer": type(h.tracer).__name__, "gc": gc.isenabled(),
                  "patched": sorted(patcher._PATCHED_MODULES) if patcher else [],
                  "clouds": pipeline.classifier.catalog.clouds, "catalogs": loaded}))
"""


def _first_failure(**env: str) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "RESPONDER_", "LAMBDA_"))}
    base.update(AWS_REGION="us-west-2", AWS_ACCESS_KEY_ID="AKIATEST", AWS_SECRET_ACCESS_KEY="test",
                STATE_TABLE="", PYTHONPATH=str(ROOT), **env)
    out = subprocess.run([sys.executable, "-c", FIRST_FAILURE], cwd=ROOT, env=base, check=True, capture_output=True,
                         text=True)
    result: dict[str, object] = json.loads(out.stdout.splitlines()[-1])
    return result


def _imported(result: dict[str, object], package: str) -> bool:
    modules = result["modules"]
    assert isinstance(modules, list)
    return any(m == package or m.startswith(package + ".") for m in modules)


def test_with_tracing_off_and_no_remediation_the_first_failure_imports_none_of_the_deferred_modules() -> None:
    result = _first_failure(LAMBDA_TASK_ROOT="/var/task", POWERTOOLS_TRACE_DISABLED="true")
    assert result["tracer"] == "NoTracer"
    assert [m for m in DEFERRED if _imported(result, m)] == []
    assert [m for m in SINK_SETTINGS.values() if _imported(result, m)] == []  # no sink configured


def test_the_first_failure_is_classified_with_the_aws_catalog_alone() -> None:
    result = _first_failure(LAMBDA_TASK_ROOT="/var/task", POWERTOOLS_TRACE_DISABLED="true")
    assert result["clouds"] == ["aws"] and result["catalogs"] == ["compiled-aws.pickle"]


def test_the_handler_leaves_the_garbage_collector_on() -> None:
    # (it is off while the handler's imports run, see functions/aws/handler.py)
    assert _first_failure(LAMBDA_TASK_ROOT="/var/task", POWERTOOLS_TRACE_DISABLED="true")["gc"] is True


def test_with_tracing_on_the_handler_is_traced_by_powertools() -> None:
    result = _first_failure(LAMBDA_TASK_ROOT="/var/task", POWERTOOLS_TRACE_DISABLED="false")
    assert result["tracer"] == "Tracer" and _imported(result, "aws_xray_sdk")
    # the AWS calls only (tests/aws/test_tracing.py), no other library the SDK could patch (each costs an import)
    assert result["patched"] == ["botocore"]
    assert not _imported(result, "sqlite3") and not _imported(result, "requests")
    # wrapt, under the X-Ray SDK, from version 2 imports asyncio: 10 ms of the runtime's cold start (pyproject.toml)
    assert not _imported(result, "asyncio")


def test_slack_sdk_is_imported_when_a_slack_sink_is_built() -> None:
    # (and only then: the first test has no sink and does not import it)
    result = _first_failure(SLACK_WEBHOOK_URL="https://hooks.slack.com/services/T0/B0/x")
    assert _imported(result, "slack_sdk")
    assert [t for t, m in SINK_SETTINGS.items() if _imported(result, m)] == ["slack"]  # its settings model only


@pytest.mark.parametrize(("env", "on"), [
    ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
    ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
    ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "1"}, False),
    ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
    ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
    ({}, False),  # outside Lambda
])
def test_tracing_follows_powertools_rule(env: dict[str, str], on: bool) -> None:
    assert tracing_enabled(env) is on
    assert isinstance(build_tracer(env), NoTracer) is not on


def test_the_stand_in_tracer_leaves_what_it_decorates_unchanged() -> None:
    def handler(event: object, context: object) -> str:
        return "handled"

    tracer = NoTracer()
    assert tracer.capture_lambda_handler(capture_response=False)(handler) is handler
    assert tracer.capture_method(capture_response=False)(handler) is handler


def test_the_azure_workers_start_imports_the_routes_only() -> None:
    # The Functions host imports function_app to index its functions; the endpoint, the
    # remediation SDK and PyJWT come with the first request that needs them.
    code = "import json, sys, function_app; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         check=True, capture_output=True, text=True)
    modules = json.loads(out.stdout)
    loaded = [m for m in ("functions.azure.endpoint", "functions.azure.remediate", "azure.mgmt", "jwt", "shared.responder")
              if any(n == m or n.startswith(m + ".") for n in modules)]
    assert loaded == []


def test_the_azure_workers_first_alert_is_classified_with_the_azure_catalog_alone() -> None:
    code = """
import json, shared.catalog
from pathlib import Path
loaded, load_compiled = [], shared.catalog.load_compiled
shared.catalog.load_compiled = lambda path, *a: loaded.append(path.name) or load_compiled(path, *a)
import function_app
from functions.azure import blueprint
pipeline = blueprint.endpoint().responder.pipeline
alert = json.loads(Path("tests/events/azure/blob-backup-usererrormissingrequiredpermissions.json").read_text())
assert pipeline.assess(pipeline.parse(alert)).finding.cause == "azure.blob.vault-msi-permissions"
print(json.dumps({"clouds": pipeline.classifier.catalog.clouds, "catalogs": loaded}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RESPONDER_"))}
    env.update(PYTHONPATH=str(ROOT), AzureWebJobsStorage="UseDevelopmentStorage=true")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    assert json.loads(out.stdout.splitlines()[-1]) == {"clouds": ["azure"], "catalogs": ["compiled-azure.pickle"]}
