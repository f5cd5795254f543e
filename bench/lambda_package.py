"""The Lambda package's cold start as the runtime sees it: built by `infra/aws/lambda/Makefile`,
imported by the runtime's Python from a folder it cannot write to, with and without the bytecode
the Makefile compiles for that Python; beside the bare Powertools + boto3 handler from the same
package.

    .venv/bin/python bench/lambda_package.py [--runs 7] [--interpreter python3.12] [--against REVISION]

The package is built for x86_64 (this machine) instead of the function's arm64; everything else is
as deployed. Without its bytecode (what pip's own, written for the interpreter that ran the build,
amounts to) every module of the package, boto3 and pydantic included, is compiled from source at
every cold start, since Lambda's file system is read-only. With ``--against``, the package built
from that git revision (in a temporary worktree) takes its turn in every round too.
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
from worktree import worktree  # noqa: E402

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


def _fastest(interpreter: str, packages: dict[str, Path], runs: int) -> dict[str, dict[str, float]]:
    """Each package's compared cases, the fastest run of each. The packages and their cases take
    turns, one run each per round, so that a busy moment of the machine slows the baseline and the
    cases compared with it alike."""
    best = {name: dict.fromkeys(COMPARED, float("inf")) for name in packages}
    for _ in range(runs):
        for name, package in packages.items():
            for case in COMPARED:
                best[name][case] = min(best[name][case], _run(interpreter, package, case))
    return {name: {case: round(ms, 1) for case, ms in cases.items()} for name, cases in best.items()}


def _build(tree: Path, package: Path, interpreter: str) -> None:
    """The package as ``sam build`` makes it from ``tree``, for this machine's processor."""
    package.mkdir()
    subprocess.run(["make", "-s", "-f", "infra/aws/lambda/Makefile", "build-ResponderFunction",
                    f"ARTIFACTS_DIR={package}", f"PYTHON={sys.executable}",
                    f"LAMBDA_INTERPRETER={interpreter}", "LAMBDA_PLATFORM=manylinux2014_x86_64"],
                   cwd=tree, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--interpreter", default="python3.12", help="the runtime's Python (template.yaml: python3.12)")
    parser.add_argument("--against", metavar="REVISION", help="also measure the package of this git revision")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, worktree(args.against) as before:
        trees = {"this tree": ROOT, **({args.against: before} if before is not None else {})}
        packages = {name: Path(folder) / f"package-{index}" for index, name in enumerate(trees)}
        for name, tree in trees.items():
            _build(tree, packages[name], args.interpreter)
        figures = {"with_bytecode": _fastest(args.interpreter, packages, args.runs)}
        for cache in list(Path(folder).rglob("__pycache__")):
            shutil.rmtree(cache)
        figures["without_bytecode"] = _fastest(args.interpreter, packages, args.runs)
    for state, by_package in figures.items():
        for name, values in reversed(by_package.items()):
            base = values["baseline_powertools_boto3_handler"]
            ratios = "  ".join(f"{case} / baseline {values[case] / base:.2f}x" for case in COMPARED[1:])
            label = state if name == "this tree" else f"{state} at {name}"
            print(f"{label:<18} " + "  ".join(f"{k} {v} ms" for k, v in values.items()) + f"  {ratios}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
