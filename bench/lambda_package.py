"""The Lambda package's cold start as the runtime sees it: built by `infra/aws/lambda/Makefile`,
imported by the runtime's Python from a folder it cannot write to, with and without the bytecode
the Makefile compiles for that Python; beside the bare Powertools + boto3 handler from the same
package.

    .venv/bin/python bench/lambda_package.py [--runs 7] [--interpreter python3.12]

The package is built for x86_64 (this machine) instead of the function's arm64; everything else is
as deployed. Without its bytecode (what pip's own, written for the interpreter that ran the build,
amounts to) every module of the package, boto3 and pydantic included, is compiled from source at
every cold start, since Lambda's file system is read-only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "tests" / "events" / "aws" / "seed004-restore-ec2-not-authorized-encoded.json"

_CHILD = """
import json, time
start = time.perf_counter()
if {handler}:
    import functions.aws.handler as h
    pipeline = h.app.responder(None).pipeline
    assert pipeline.assess(pipeline.parse(json.loads(open({seed!r}).read()))).finding.cause == "aws.iam.pass-role"
else:
    from aws_lambda_powertools import Logger, Metrics
    import boto3
    logger, metrics = Logger(service="bench"), Metrics(namespace="Bench")
    detail = json.loads(open({seed!r}).read())["detail"]
    client = boto3.session.Session().client("backup")
print((time.perf_counter() - start) * 1000)
"""

#: What template.yaml gives the function, offline (credentials that are never used).
ENV = {"AWS_LAMBDA_FUNCTION_NAME": "backup-responder", "AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "us-west-2",
       "AWS_ACCESS_KEY_ID": "AKIABENCHMARK0000000", "AWS_SECRET_ACCESS_KEY": "bench",
       "POWERTOOLS_SERVICE_NAME": "backup-responder", "POWERTOOLS_METRICS_NAMESPACE": "BackupResponder",
       "POWERTOOLS_TRACE_DISABLED": "true", "PYDANTIC_DISABLE_PLUGINS": "__all__",
       "STATE_TABLE": "backup-responder-state", "MEMBER_ROLE_NAME": "BackupResponderReadOnly",
       "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}  # /var/task is read-only


def _fastest(interpreter: str, package: Path, handler: bool, runs: int) -> float:
    times = []
    for _ in range(runs):
        out = subprocess.run([interpreter, "-c", _CHILD.format(handler=handler, seed=str(SEED))], check=True,
                             capture_output=True, text=True, cwd=package,
                             env={**ENV, "PYTHONPATH": str(package), "LAMBDA_TASK_ROOT": str(package)})
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--interpreter", default="python3.12", help="the runtime's Python (template.yaml: python3.12)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        package = Path(folder) / "package"
        package.mkdir()
        subprocess.run(["make", "-s", "-f", "infra/aws/lambda/Makefile", "build-ResponderFunction",
                        f"ARTIFACTS_DIR={package}", f"PYTHON={sys.executable}",
                        f"LAMBDA_INTERPRETER={args.interpreter}", "LAMBDA_PLATFORM=manylinux2014_x86_64"],
                       cwd=ROOT, check=True, capture_output=True)
        figures: dict[str, dict[str, float]] = {"with_bytecode": {}, "without_bytecode": {}}
        for case in figures:
            if case == "without_bytecode":
                for cache in list(package.rglob("__pycache__")):
                    shutil.rmtree(cache)
            for name, handler in (("baseline_powertools_boto3_handler", False),
                                  ("handler_import_and_first_classification", True)):
                figures[case][name] = round(_fastest(args.interpreter, package, handler, args.runs), 1)
    for case, values in figures.items():
        ratio = values["handler_import_and_first_classification"] / values["baseline_powertools_boto3_handler"]
        print(f"{case:<18} " + "  ".join(f"{k} {v} ms" for k, v in values.items()) + f"  ratio {ratio:.2f}x")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
