"""Where one event's time goes in `backup-responder classify`: microseconds per event, per phase,
on one core, beside the floor of any Python loop over the stream (decode each line, read the
printed fields, encode them), beside what the models alone cost (the envelopes and the records are msgspec Structs),
and an AWS line read into its envelope two ways: as `classify` does (`read_plain`, then loosened
and converted), and by msgspec straight from the JSON text into structs as loose as the envelope
(what reading and validating at once would cost).

    .venv/bin/python bench/phases.py [--events 10000]

The stream is `bench/run.py`'s (catalog examples in real envelopes), and its variant in which every
message is new. Each figure is the best of five passes in CPU time; each pass that classifies starts
with a new classifier (nothing remembered; the RE2 sets' DFAs, kept by the catalog, warm over the
passes); each pass that parses starts with the parsers' memos empty (``run.forget_memos``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import deque
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


def _msgspec_envelope() -> Any:
    """A decoder of the AWS envelope into msgspec structs with the fields ``BackupEvent`` reads, as
    loose as its models (text, numbers, ``{}``): what reading and validating at once costs there."""
    import msgspec

    loose = str | int | float | dict[str, Any] | list[Any] | None
    names = ["backup_job_id", "copy_job_id", "restore_job_id", "state", "status", "status_message",
             "resource_arn", "resource_type", "created_resource_arn", "backup_vault_arn", "backup_vault_name",
             "source_backup_vault_arn", "destination_backup_vault_arn", "recovery_point_arn",
             "source_recovery_point_arn", "iam_role_arn", "account_id",
             "message_category", "created_by"]
    detail = msgspec.defstruct("Detail", [(name, loose, None) for name in names], rename="camel")
    envelope = msgspec.defstruct("Envelope", [
        ("detail_type", str), ("source", str), ("detail", detail), ("id", loose, None), ("account", loose, None),
        ("time", str | None, None), ("region", str | None, None), ("resources", list[loose], [])],
        rename={"detail_type": "detail-type"})
    return msgspec.json.Decoder(envelope)


def _floor(line: str) -> bytes:
    """The least a Python loop over the stream does for each line: decode it, read the fields
    ``classify`` prints as they lie in the event, encode them; no checks, no parse, no classifier.
    What is left of the per-event budget beyond it is the responder's own work."""
    import orjson

    event = orjson.loads(line)
    if "source" in event:
        detail = event["detail"]
        fields = (detail.get("statusMessage"), detail.get("resourceType"), event.get("account"), event.get("region"),
                  detail.get("backupJobId") or detail.get("copyJobId") or detail.get("restoreJobId"),
                  detail.get("resourceArn"), detail.get("state") or detail.get("status"))
    else:
        essentials, context = event["data"]["essentials"], event["data"].get("alertContext") or {}
        fields = (essentials.get("description"), essentials.get("originAlertId"), essentials.get("alertId"),
                  essentials.get("monitorCondition"), context.get("linkedResourceId"),
                  (context.get("extendedInfo") or {}).get("jobId"), None)
    return orjson.dumps(dict(zip(("message", "type", "account", "region", "job", "resource", "state"), fields,
                                 strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})

    import json

    import msgspec
    import orjson
    from run import forget_memos, generate

    from functions.cli import read_located
    from shared.classify import Classifier
    from shared.models import Failure, Outcome
    from shared.parse.aws import BackupEvent
    from shared.parse.azure import CommonAlert
    from shared.pipeline import Pipeline
    from shared.untrusted import NOT_PLAIN, read_plain

    lines = generate(args.events)
    # Every message new (a request id of its own): nothing a memo holds helps, as in most real streams.
    new_values = [json.loads(line) for line in generate(args.events, seed=11, distinct=True)]
    text = "\n".join(lines)
    values = [json.loads(line) for line in lines]
    aws = [v for v in values if "source" in v]
    aws_lines = [line for line in lines if '"aws.backup"' in line and read_plain(line) is not NOT_PLAIN]
    azure = [v for v in values if "schemaId" in v]
    pipeline = Pipeline()
    failures = [pipeline.parse(v, checked=True) for v in values]
    findings = [pipeline.classifier.classify(f) for f in failures]
    fields = [msgspec.structs.asdict(f) for f in failures]

    new_failures = [pipeline.parse(v, checked=True) for v in new_values]

    def new_classifier() -> None:
        pipeline.classifier = Classifier(pipeline.classifier.catalog)

    def printed(index: int) -> object:
        return orjson.dumps(Outcome(failure=failures[index], finding=findings[index]).summary(), default=str)

    rows: Iterable[tuple[str, float]] = (
        ("baseline: json.loads", _per_event(lines, json.loads)),
        ("floor: decode, read the printed fields, encode", _per_event(lines, _floor)),
        ("read: one line, read_plain", _per_event(lines, read_plain)),
        # Each item dropped once read, as `classify` does (kept, they would cost the collector's passes).
        ("read: the whole stream, located", _per_event([text], lambda t: deque(read_located(t), maxlen=0))
         / len(lines)),
        ("parse: AWS event", _per_event(aws, lambda v: pipeline.parse(v, checked=True), forget_memos)),
        ("parse: Azure alert", _per_event(azure, lambda v: pipeline.parse(v, checked=True), forget_memos)),
        ("classify: a new classifier each pass",
         _per_event(failures, lambda f: pipeline.classifier.classify(f), new_classifier)),
        ("print: outcome, summary, orjson", _per_event(list(range(len(failures))), printed)),
        ("every message new: parse AWS", _per_event([v for v in new_values if "source" in v],
                                                    lambda v: pipeline.parse(v, checked=True), forget_memos)),
        ("every message new: parse Azure", _per_event([v for v in new_values if "schemaId" in v],
                                                      lambda v: pipeline.parse(v, checked=True), forget_memos)),
        ("every message new: classify", _per_event(new_failures, lambda f: pipeline.classifier.classify(f),
                                                   new_classifier)),
        ("models alone: BackupEvent validated", _per_event(aws, BackupEvent.of)),
        ("models alone: CommonAlert validated", _per_event(azure, CommonAlert.of)),
        ("models alone: Failure made", _per_event(fields, lambda kw: Failure(**kw))),
        ("AWS line to envelope: read_plain, BackupEvent", _per_event(
            aws_lines, lambda line: BackupEvent.of(read_plain(line)))),
        ("AWS line to envelope: msgspec from JSON", _per_event(aws_lines, _msgspec_envelope().decode)),
    )
    for name, micros in rows:
        print(f"{name:<46} {micros:8.2f} us")


if __name__ == "__main__":
    main()
