"""Where one event's time goes in `backup-responder classify`: microseconds per event, per phase,
on one core, beside what the pydantic models alone cost (the floor of any parse path built on them).

    .venv/bin/python bench/phases.py [--events 10000]

The stream is `bench/run.py`'s (catalog examples in real envelopes). Each figure is the best of five
passes in CPU time; each pass that classifies starts with a new classifier (nothing remembered).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _per_event(items: list[Any], work: Callable[[Any], object], fresh: Callable[[], object] | None = None) -> float:
    best = float("inf")
    for _ in range(5):
        if fresh is not None:
            fresh()
        start = time.process_time()
        for item in items:
            work(item)
        best = min(best, time.process_time() - start)
    return best / len(items) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})

    import json

    import orjson
    from run import generate

    from functions.cli import read_located
    from shared.classify import Classifier
    from shared.models import Failure, Outcome
    from shared.parse.aws import BackupEvent
    from shared.parse.azure import CommonAlert
    from shared.pipeline import Pipeline
    from shared.untrusted import read_plain

    lines = generate(args.events)
    text = "\n".join(lines)
    values = [json.loads(line) for line in lines]
    aws = [v for v in values if "source" in v]
    azure = [v for v in values if "schemaId" in v]
    pipeline = Pipeline()
    failures = [pipeline.parse(v, checked=True) for v in values]
    findings = [pipeline.classifier.classify(f) for f in failures]
    fields = [{name: getattr(f, name) for name in Failure.model_fields} for f in failures]

    def new_classifier() -> None:
        pipeline.classifier = Classifier(pipeline.classifier.catalog)

    def printed(index: int) -> object:
        return orjson.dumps(Outcome(failure=failures[index], finding=findings[index]).summary(), default=str)

    rows: Iterable[tuple[str, float]] = (
        ("baseline: json.loads", _per_event(lines, json.loads)),
        ("read: one line, read_plain", _per_event(lines, read_plain)),
        ("read: the whole stream, located", _per_event([text], lambda t: list(read_located(t))) / len(lines)),
        ("parse: AWS event", _per_event(aws, lambda v: pipeline.parse(v, checked=True))),
        ("parse: Azure alert", _per_event(azure, lambda v: pipeline.parse(v, checked=True))),
        ("classify: a new classifier each pass",
         _per_event(failures, lambda f: pipeline.classifier.classify(f), new_classifier)),
        ("print: outcome, summary, orjson", _per_event(list(range(len(failures))), printed)),
        ("models alone: BackupEvent validated", _per_event(aws, BackupEvent.model_validate)),
        ("models alone: CommonAlert validated", _per_event(azure, CommonAlert.model_validate)),
        ("models alone: Failure validated", _per_event(fields, lambda kw: Failure(**kw))),
    )
    for name, micros in rows:
        print(f"{name:<40} {micros:8.2f} us")


if __name__ == "__main__":
    main()
