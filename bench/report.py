"""Benchmark: ``backup-responder report`` over a large AWS export, beside a baseline.

    .venv/bin/python bench/report.py [--jobs 100000] [--runs 3] [--against REVISION] [--json]

Writes an ``aws backup list-backup-jobs`` file of ``--jobs`` jobs (the documented shapes of
tests/events/report/, with job ids, accounts, resources and dates varied; 90% failed, a tenth of
those with a message no rule knows), then measures, each in a fresh interpreter pinned to one core:
the report (``--format json``) and, as the baseline, ``json.loads`` of the same file. Prints the
CPU time (the least disturbed by other work on the machine) and the peak memory (max RSS) of both,
the fastest of ``--runs`` rounds. With ``--against``, the report of that git revision's code (in a
temporary worktree) takes its turn in every round too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from worktree import worktree  # noqa: E402

TEMPLATES = json.loads((ROOT / "tests/events/report/aws-list-backup-jobs.json").read_text())["BackupJobs"]
MEASURE = """
import json, resource, sys, time
start = time.process_time()
{body}
print(json.dumps({{"seconds": time.process_time() - start,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
REPORT = """
import io
from functions.cli import main
out = io.StringIO()
assert main(["report", "--format", "json", sys.argv[1]], out) == 0
summary = json.loads(out.getvalue())
"""
BASELINE = """
data = json.loads(open(sys.argv[1], "rb").read())
"""


def export(path: Path, jobs: int) -> None:
    """The export, written one job at a time."""
    with path.open("w", encoding="utf-8") as out:
        out.write('{\n    "BackupJobs": [\n')
        for n in range(jobs):
            job = dict(TEMPLATES[n % len(TEMPLATES)])
            account = f"{100000000000 + n % 40:012d}"
            job.update(BackupJobId=f"{n:08x}-0000-4000-8000-{n:012x}", AccountId=account,
                       CreationDate=f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:00:00.000000+00:00",
                       ResourceArn=f"arn:aws:ec2:us-west-2:{account}:instance/i-{n % 3000:017x}")
            if n % 10 == 9:
                job["State"] = "COMPLETED"
            out.write(("    " if n == 0 else ",\n    ") + json.dumps(job))
        out.write('\n    ],\n    "NextToken": null\n}\n')


def measure(body: str, path: Path, tree: Path = ROOT) -> dict[str, float]:
    """``body`` in a fresh interpreter pinned to one core, with the code of ``tree``."""
    pin = ["taskset", "-c", "0"] if sys.platform == "linux" and os.path.exists("/usr/bin/taskset") else []
    done = subprocess.run([*pin, sys.executable, "-c", MEASURE.format(body=body), str(path)], cwd=tree,
                          env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def _fastest(runs: list[dict[str, float]]) -> dict[str, float]:
    return min(runs, key=lambda run: run["seconds"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--against", metavar="REVISION", help="also measure the report of this git revision's code")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, worktree(args.against) as before:
        path = Path(folder) / "list-backup-jobs.json"
        export(path, args.jobs)
        size_mb = path.stat().st_size / 1e6
        trees = {"this tree": ROOT, **({args.against: before} if before is not None else {})}
        reports: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        baselines = []
        for _ in range(args.runs):  # every figure takes a turn in each round
            for name, tree in trees.items():
                reports[name].append(measure(REPORT, path, tree))
            baselines.append(measure(BASELINE, path))
    baseline = _fastest(baselines)
    result: dict[str, object] = {"jobs": args.jobs, "file_mb": round(size_mb, 1),
                                 "baseline_json_loads_seconds": round(baseline["seconds"], 2),
                                 "baseline_json_loads_peak_rss_mb": round(baseline["peak_rss_mb"], 1)}
    for name, runs in reversed(reports.items()):
        report = _fastest(runs)
        prefix = "report" if name == "this tree" else f"report_at_{name}"
        result.update({f"{prefix}_seconds": round(report["seconds"], 2),
                       f"{prefix}_jobs_per_s": round(args.jobs / report["seconds"]),
                       f"{prefix}_peak_rss_mb": round(report["peak_rss_mb"], 1)})
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:40s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
