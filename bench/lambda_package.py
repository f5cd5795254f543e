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


def _run(interpreter: str, package: Path, case: str) -> float:
    """One fresh run of the case, its modules from the package only (``-P``: not the repository's,
    which is the working directory so that the case finds its event), writing no bytecode
    (/var/task is read-only)."""
    env = {**LAMBDA_ENV, "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(package),
           "LAMBDA_TASK_ROOT": str(package)}
    out = subprocess.run([interpreter, "-P", "-c", _CHILD.format(code=CASES[case])], check=True,
                         capture_output=True, text=True, cwd=ROOT, env=env)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["ms"])


def _fastest(interpreter: str, package: Path, runs: int) -> dict[str, float]:
    """Each compared case's fastest run. The cases take turns, one run each per round, so that a
    busy moment of the machine slows the baseline and the cases compared with it alike."""
    best = dict.fromkeys(COMPARED, float("inf"))
    for _ in range(runs):
        for case in COMPARED:
            best[case] = min(best[case], _run(interpreter, package, case))
    return {case: round(ms, 1) for case, ms in best.items()}


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
        figures = {"with_bytecode": _fastest(args.interpreter, package, args.runs)}
        for cache in list(package.rglob("__pycache__")):
            shutil.rmtree(cache)
        figures["without_bytecode"] = _fastest(args.interpreter, package, args.runs)
    for case, values in figures.items():
        base = values["baseline_powertools_boto3_handler"]
        ratios = "  ".join(f"{name} / baseline {values[name] / base:.2f}x" for name in COMPARED[1:])
        print(f"{case:<18} " + "  ".join(f"{k} {v} ms" for k, v in values.items()) + f"  {ratios}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
