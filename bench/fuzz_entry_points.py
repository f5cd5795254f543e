"""Crashes per thousand mutated inputs at each entry point.

Runs the property-based tests of the four entry points (``tests/test_fuzz_cli.py``,
``tests/aws/test_fuzz_handler.py``, ``tests/azure/test_fuzz_function.py``) with ``--examples``
examples each, in counting mode (``FUZZ_REPORT``: every example's verdict is recorded instead of the
test failing on the first), then prints per entry point: the examples, the crashes (an exception
out of the entry point: a traceback on the command line, an unexpected exception in the Lambda, a
500 from the Functions host) per thousand, the other contract breaks (an unbounded error text, a
503 for bad input, a good event lost after a bad one) per thousand, and the commonest of each.

Usage, from the repository root: ``.venv/bin/python bench/fuzz_entry_points.py [--examples 1000]
[--verdicts FILE]`` (the file keeps each example's mutations and problems).
The examples are the same on every run (Hypothesis, derandomized).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

TESTS = ["tests/test_fuzz_cli.py", "tests/aws/test_fuzz_handler.py", "tests/azure/test_fuzz_function.py"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="examples per entry point")
    parser.add_argument("--verdicts", type=Path, help="keep every example's verdict (JSON lines) in this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report = args.verdicts or Path(folder) / "verdicts.jsonl"
        report.unlink(missing_ok=True)
        env = {**os.environ, "FUZZ_EXAMPLES": str(args.examples), "FUZZ_REPORT": str(report)}
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore", *TESTS],
                       env=env, check=False, stdout=subprocess.DEVNULL)
        verdicts = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    entry_points: dict[str, tuple[Counter[str], Counter[str], list[int]]] = {}
    for verdict in verdicts:
        crashes, breaks, count = entry_points.setdefault(verdict["entry_point"], (Counter(), Counter(), [0]))
        count[0] += 1
        problems = verdict["problems"]
        if problems and problems[0].startswith("crash: "):
            crashes[problems[0].removeprefix("crash: ")] += 1
        elif problems:
            breaks[problems[0].split(":")[0]] += 1
    print(f"{'entry point':24} {'examples':>8} {'crashes/1000':>12} {'breaks/1000':>11}  commonest")
    for name, (crashes, breaks, count) in entry_points.items():
        common = ", ".join(f"{k} {v}" for k, v in (crashes + breaks).most_common(4))
        print(f"{name:24} {count[0]:8d} {1000 * sum(crashes.values()) / count[0]:12.0f} "
              f"{1000 * sum(breaks.values()) / count[0]:11.0f}  {common}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
