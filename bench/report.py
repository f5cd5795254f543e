"""Benchmark: ``backup-responder report`` over a large AWS export, beside a baseline.

    .venv/bin/python bench/report.py [--jobs 100000] [--json]

Writes an ``aws backup list-backup-jobs`` file of ``--jobs`` jobs (the documented shapes of
tests/events/report/, with job ids, accounts, resources and dates varied; 90% failed, a tenth of
those with a message no rule knows), then measures, each in a fresh interpreter pinned to one core:
the report (``--format json``) and, as the baseline, ``json.loads`` of the same file. Prints the
time and the peak memory (max RSS) of both.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = json.loads((ROOT / "tests/events/report/aws-list-backup-jobs.json").read_text())["BackupJobs"]
MEASURE = """
import json, resource, sys, time
start = time.perf_counter()
{body}
print(json.dumps({{"seconds": time.perf_counter() - start,
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


def measure(body: str, path: Path) -> dict[str, float]:
    pin = ["taskset", "-c", "0"] if sys.platform == "linux" and os.path.exists("/usr/bin/taskset") else []
    done = subprocess.run([*pin, sys.executable, "-c", MEASURE.format(body=body), str(path)], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "list-backup-jobs.json"
        started = time.perf_counter()
        export(path, args.jobs)
        size_mb = path.stat().st_size / 1e6
        report, baseline = measure(REPORT, path), measure(BASELINE, path)
    result = {"jobs": args.jobs, "file_mb": round(size_mb, 1),
              "report_seconds": round(report["seconds"], 1), "report_jobs_per_s": round(args.jobs / report["seconds"]),
              "report_peak_rss_mb": round(report["peak_rss_mb"], 1),
              "baseline_json_loads_seconds": round(baseline["seconds"], 2),
              "baseline_json_loads_peak_rss_mb": round(baseline["peak_rss_mb"], 1),
              "write_seconds": round(time.perf_counter() - started - report["seconds"] - baseline["seconds"], 1)}
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:34s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
