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
sys.path.insert(0, str(ROOT / "bench"))

from aws_cold_start import _CHILD, CASES, LAMBDA_ENV  # noqa: E402  (the same cases, the same environment)

#: The figures compared: the bare handler, the same with pydantic and one model (the floor of a
#: handler built on pydantic), and the responder's first failure, tracing off and on (the
#: template's default).
COMPARED = ("baseline_powertools_boto3_handler", "baseline_plus_pydantic_one_model",
            "handler_import_and_first_classification", "handler_import_and_first_classification_tracing_on")


def _fastest(interpreter: str, package: Path, case: str, runs: int) -> float:
    """The case's fastest run, its modules from the package only (``-P``: not the repository's, which
    is the working directory so that the case finds its event), writing no bytecode (/var/task is
    read-only)."""
    env = {**LAMBDA_ENV, "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(package),
           "LAMBDA_TASK_ROOT": str(package)}
    times = []
    for _ in range(runs):
        out = subprocess.run([interpreter, "-P", "-c", _CHILD.format(code=CASES[case])], check=True,
                             capture_output=True, text=True, cwd=ROOT, env=env)
        times.append(float(json.loads(out.stdout.strip().splitlines()[-1])["ms"]))
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
            for name in COMPARED:
                figures[case][name] = round(_fastest(args.interpreter, package, name, args.runs), 1)
    for case, values in figures.items():
        base = values["baseline_powertools_boto3_handler"]
        ratios = "  ".join(f"{name} / baseline {values[name] / base:.2f}x" for name in COMPARED[1:])
        print(f"{case:<18} " + "  ".join(f"{k} {v} ms" for k, v in values.items()) + f"  {ratios}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
