"""Cold starts: the AWS Lambda handler and the Azure Functions app, import time and peak memory,
each beside a baseline measured in the same run (same machine, same interpreter, fresh processes).

    .venv/bin/python bench/aws_cold_start.py [--runs 9] [--against REVISION]

What is measured, each in its own fresh interpreter with the environment template.yaml gives the
function (in Lambda: ``LAMBDA_TASK_ROOT`` is set):
- `import boto3`: the floor every Python Lambda that calls AWS pays; and the issue's baseline, a
  bare Powertools handler (Logger, Metrics, boto3 and one client, the event's fields read); and the
  same handler validating the event's detail with one pydantic model: the floor of any handler
  built on pydantic models;
- `import functions.aws.handler` with tracing on (the template's default, Tracing=Active) and off
  (PassThrough: POWERTOOLS_TRACE_DISABLED=true);
- the handler plus building the responder and classifying the seed 004 event offline, tracing off
  and on: what the first event adds before any network call (the catalog is loaded then);
- Azure: `import function_app` (what the Functions host does to index the app) beside
  `import azure.functions, azure.identity`, and the same plus the first alert classified offline.
Times are the fastest and the median of the rounds (the fastest is the least disturbed by other
work on the machine); memory is the peak RSS (VmHWM) of the largest run. The ratios the issue sets
goals for are printed last. Lambda allots CPU in proportion to memory: at 512 MB a function gets
about 0.29 of a vCPU (1,769 MB is one vCPU), so its cold start is slower than these figures by
about that factor.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The function's environment from template.yaml (tracing on: AWS_LAMBDA_FUNCTION_NAME is set).
LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "backup-responder",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_REGION": "us-west-2",
    "AWS_DEFAULT_REGION": "us-west-2",
    "AWS_ACCESS_KEY_ID": "AKIABENCHMARK0000000",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "backup-responder",
    "POWERTOOLS_METRICS_NAMESPACE": "BackupResponder",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "STATE_TABLE": "backup-responder-state",
    "MEMBER_ROLE_NAME": "BackupResponderReadOnly",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
    "LAMBDA_TASK_ROOT": str(ROOT),  # in Lambda, so that Powertools' Tracer traces unless told not to
}

_CHILD = """
import json, time
start = time.perf_counter()
{code}
elapsed = time.perf_counter() - start
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({{"ms": elapsed * 1000, "maxrss_mb": int(hwm.split()[1]) / 1024}}))
"""

_SEED_EVENT = "json.loads(Path('tests/events/aws/seed004-restore-ec2-not-authorized-encoded.json').read_text())"

CASES = {
    "bare_import_boto3": "import boto3",
    # The baseline of the issue: the least a Powertools Lambda that reads the event and calls AWS
    # pays: Logger and Metrics, boto3 and one client, the event's fields read.
    "baseline_powertools_boto3_handler": (
        "from pathlib import Path\n"
        "from aws_lambda_powertools import Logger, Metrics\n"
        "import boto3\n"
        "logger, metrics = Logger(service='bench'), Metrics(namespace='Bench')\n"
        f"event = {_SEED_EVENT}\n"
        "detail = event['detail']\n"
        "client = boto3.session.Session().client('backup')\n"
        "assert detail['status'] == 'FAILED' and client.meta.region_name\n"
    ),
    # The floor of any handler whose models are pydantic's: the baseline plus pydantic and one model
    # that validates the event's detail (importing pydantic and building its first schema).
    "baseline_plus_pydantic_one_model": (
        "from pathlib import Path\n"
        "from aws_lambda_powertools import Logger, Metrics\n"
        "import boto3\n"
        "from pydantic import BaseModel\n"
        "class Detail(BaseModel):\n"
        "    status: str\n"
        "    statusMessage: str | None = None\n"
        "logger, metrics = Logger(service='bench'), Metrics(namespace='Bench')\n"
        f"event = {_SEED_EVENT}\n"
        "detail = Detail.model_validate(event['detail'])\n"
        "client = boto3.session.Session().client('backup')\n"
        "assert detail.status == 'FAILED' and client.meta.region_name\n"
    ),
    "handler_import": "import functions.aws.handler",
    # Tracing parameter "PassThrough" (POWERTOOLS_TRACE_DISABLED=true).
    "handler_import_tracing_off": "import os; os.environ['POWERTOOLS_TRACE_DISABLED'] = 'true'\n"
                                  "import functions.aws.handler",
    "handler_import_and_first_classification": (
        "import os; os.environ['POWERTOOLS_TRACE_DISABLED'] = 'true'\n"
        "import functions.aws.handler as h\n"
        "from pathlib import Path\n"
        f"event = {_SEED_EVENT}\n"
        "pipeline = h.app.responder(None).pipeline\n"
        "outcome = pipeline.assess(pipeline.parse(event))\n"
        "assert outcome.finding.cause == 'aws.iam.pass-role'\n"
    ),
    "handler_import_and_first_classification_tracing_on": (
        "import functions.aws.handler as h\n"
        "from pathlib import Path\n"
        f"event = {_SEED_EVENT}\n"
        "pipeline = h.app.responder(None).pipeline\n"
        "assert pipeline.assess(pipeline.parse(event)).finding.cause == 'aws.iam.pass-role'\n"
    ),
    # The Azure Functions worker imports function_app; its floor is the two SDK packages it needs.
    "baseline_import_azure_functions_identity": "import azure.functions, azure.identity",
    "azure_import_function_app": "import function_app",
    # What the first alert adds: building the endpoint (Table storage client, managed identity,
    # responder) and classifying one real alert offline.
    "azure_import_and_first_alert": (
        "import function_app\n"
        "from pathlib import Path\n"
        "from functions.azure import blueprint\n"
        "pipeline = blueprint.endpoint().responder.pipeline\n"
        "event = json.loads(Path('tests/events/azure/'\n"
        "                        'blob-backup-usererrormissingrequiredpermissions.json').read_text())\n"
        "assert pipeline.assess(pipeline.parse(event)).finding.cause == 'azure.blob.vault-msi-permissions'\n"
    ),
}

#: The figures compared with a baseline: (case, its baseline, the figure, the issue's goal for
#: case / baseline, if it sets one).
RATIOS = (
    ("handler_import_and_first_classification", "baseline_powertools_boto3_handler", "min_ms", 1.5),
    ("handler_import_and_first_classification", "baseline_powertools_boto3_handler", "peak_rss_mb", 1.5),
    ("handler_import_and_first_classification_tracing_on", "baseline_powertools_boto3_handler", "min_ms", None),
    ("baseline_plus_pydantic_one_model", "baseline_powertools_boto3_handler", "min_ms", None),
    ("azure_import_function_app", "baseline_import_azure_functions_identity", "min_ms", 1.3),
    ("azure_import_and_first_alert", "baseline_import_azure_functions_identity", "min_ms", None),
)


def _run(code: str, tree: Path = ROOT) -> dict[str, float]:
    # PYTHONDONTWRITEBYTECODE would leave the project's modules without bytecode (compiled from
    # source on every run) while the installed packages have theirs: the warm-up must write it.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "POWERTOOLS_")) and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(LAMBDA_ENV, PYTHONPATH=str(tree), LAMBDA_TASK_ROOT=str(tree),
               AzureWebJobsStorage="UseDevelopmentStorage=true")
    out = subprocess.run([sys.executable, "-c", _CHILD.format(code=code)], check=True, capture_output=True,
                         text=True, cwd=tree, env=env)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure(runs: int, trees: dict[str, Path]) -> dict[str, dict[str, dict[str, float]]]:
    """Per revision and case: the fastest and the median time over ``runs`` rounds, and the peak
    RSS. The revisions and their cases take turns round by round, so that a busy machine slows them
    all alike."""
    samples = {tree: {name: [] for name in CASES} for tree in trees}
    for _ in range(runs):
        for tree, path in trees.items():
            for name, code in CASES.items():
                samples[tree][name].append(_run(code, path))
    reports: dict[str, dict[str, dict[str, float]]] = {}
    for tree, cases in samples.items():
        reports[tree] = {}
        for name, results in cases.items():
            times = sorted(r["ms"] for r in results)
            reports[tree][name] = {"min_ms": round(times[0], 1), "median_ms": round(times[len(times) // 2], 1),
                                   "peak_rss_mb": round(max(r["maxrss_mb"] for r in results), 1)}
    return reports


def _print(report: dict[str, dict[str, float]]) -> None:
    width = max(len(name) for name in report)
    print(f"{'case':<{width}}  {'min ms':>8}  {'median ms':>9}  {'peak RSS MB':>11}")
    for name, row in report.items():
        print(f"{name:<{width}}  {row['min_ms']:>8}  {row['median_ms']:>9}  {row['peak_rss_mb']:>11}")
    ratio = report["handler_import"]["min_ms"] / report["bare_import_boto3"]["min_ms"]
    print(f"handler import / bare boto3 import (min): {ratio:.2f}x")
    for case, baseline, figure, goal in RATIOS:
        ratio = report[case][figure] / report[baseline][figure]
        print(f"{case} / {baseline} ({figure}): {ratio:.2f}x" + (f" (goal <= {goal}x)" if goal else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--against", metavar="REVISION",
                        help="also measure the code of this git revision, in the same rounds")
    args = parser.parse_args()
    from worktree import worktree

    with worktree(args.against) as before:
        trees = {**({f"at {args.against}:": before} if before is not None else {}), "this tree:": ROOT}
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, like a small Lambda
        for tree in trees.values():  # warm the file cache and write bytecode, as a deployed package has
            for code in CASES.values():
                _run(code, tree)
        reports = measure(args.runs, trees)
    for heading, report in reports.items():
        if before is not None:
            print(heading)
        _print(report)
        if before is not None and heading != "this tree:":
            print()


if __name__ == "__main__":
    main()
