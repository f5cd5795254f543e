"""Instructions per event of `backup-responder classify` and of its baseline, counted by valgrind's
callgrind: unlike seconds, the count does not move with what else the machine is doing, so two
revisions can be compared on a busy host (the same tree gives the same count to a few tenths of a
percent run after run).

    .venv/bin/python bench/instructions.py [--events 20000] [--against REVISION] [--phases]

Each figure is counted in two fresh interpreters under callgrind, one that does the work after
its start and one that stops before it; their difference, divided by the events, is the work's
count. Hash randomisation is fixed (``PYTHONHASHSEED=0``) and the bytecode written beforehand, so
that neither counts in the difference. The stream is `bench/run.py`'s. The figures:

- ``json``: ``json.loads`` of each line (the baseline of the performance issue);
- ``read``: each line read by ``shared.untrusted.read_plain`` (decoded, every check made);
- ``cli``: ``backup-responder classify`` over the file, its output thrown away (its start, the
  catalog and the first classifications of another stream, comes before the count);
- with ``--phases``, ``parse``: each line, already read, parsed (``Pipeline.parse``), and
  ``classify``: each failure, already parsed, classified by a new classifier; what is left of
  ``cli`` is the loop and the printing.

Instructions are not time: the interpreter runs the responder's code at fewer instructions a cycle
than the decoders run theirs, so the ratio of counts is kinder than the ratio of rates in `run.py`.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from worktree import worktree  # noqa: E402

FIGURES = ("json", "read", "cli")
#: With ``--phases``: parsing each line already read, and classifying each failure already parsed
#: (a new classifier: nothing decided before), each alone.
PHASES = ("parse", "classify")

#: What the counted interpreter runs in a tree (its argv: figure, stream, warm-up stream, 0 or 1).
_CHILD = """
import json, os, sys
figure, path, warm, work = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
from functions.cli import main
from shared.classify import Classifier
from shared.pipeline import Pipeline
from shared.untrusted import read_json, read_plain
with open(os.devnull, "w", encoding="utf-8") as out:
    main(["classify", warm], out=out)
    lines = open(path, encoding="utf-8").read().split("\\n")
    if figure in ("parse", "classify"):  # what the phase takes, made before the count in both runs
        pipeline = Pipeline(Classifier())
        values = [read_json(line) for line in lines]
        failures = [pipeline.parse(value, checked=True) for value in values] if figure == "classify" else []
    if work and figure == "json":
        for line in lines:
            json.loads(line)
    elif work and figure == "read":
        for line in lines:
            read_plain(line)
    elif work and figure == "parse":
        for value in values:
            pipeline.parse(value, checked=True)
    elif work and figure == "classify":
        for failure in failures:
            pipeline.classify(failure)
    elif work and figure == "cli":
        main(["classify", path], out=out)
"""


def _count(tree: Path, figure: str, stream: Path, warm: Path, work: bool) -> int:
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
           "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    run = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c",
                          _CHILD, figure, str(stream), str(warm), str(int(work))],
                         cwd=tree, env=env, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", run.stderr)
    if found is None:
        raise SystemExit(f"callgrind counted nothing in {tree}: {run.stderr[-500:]}")
    return int(found.group(1))


def per_event(trees: dict[str, Path], stream: Path, warm: Path, events: int,
              figures: tuple[str, ...] = FIGURES) -> dict[str, dict[str, int]]:
    """Each tree's instructions per event of each figure (the runs share the machine's cores:
    each one's count is its own whatever runs beside it)."""
    for tree in trees.values():  # once without callgrind: the bytecode is written now, not when counted
        subprocess.run([sys.executable, "-c", _CHILD, "cli", str(warm), str(warm), "1"], cwd=tree, check=True,
                       env={**os.environ, "PYTHONPATH": str(tree)})
    runs = [(name, figure, work) for name in trees for figure in figures for work in (True, False)]
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        counts = pool.map(lambda run: _count(trees[run[0]], run[1], stream, warm, run[2]), runs)
        counted = dict(zip(runs, counts, strict=True))
    return {name: {figure: (counted[name, figure, True] - counted[name, figure, False]) // events
                   for figure in figures} for name in trees}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--against", metavar="REVISION", help="also count this revision's code")
    parser.add_argument("--phases", action="store_true", help="also count parsing and classifying alone")
    args = parser.parse_args()
    figures = FIGURES + PHASES if args.phases else FIGURES
    from run import generate

    with tempfile.TemporaryDirectory() as folder, worktree(args.against) as before:
        stream, warm = Path(folder) / "events.jsonl", Path(folder) / "warm.jsonl"
        stream.write_text("\n".join(generate(args.events)), encoding="utf-8")
        warm.write_text("\n".join(generate(200, seed=3)), encoding="utf-8")
        trees = {**({args.against: before} if before else {}), "this tree": ROOT}
        counts = per_event(trees, stream, warm, args.events, figures)
    names = list(counts)
    print(f"instructions per event, {args.events} events" + "".join(f"{name:>16}" for name in names))
    for figure in figures:
        print(f"{figure:<38}" + "".join(f"{counts[name][figure]:>16,}" for name in names))
    print(f"{'cli / json':<38}" + "".join(f"{counts[name]['cli'] / counts[name]['json']:>16.2f}" for name in names))


if __name__ == "__main__":
    main()
