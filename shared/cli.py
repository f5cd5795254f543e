"""``backup-responder``: classify, respond and demo from a laptop or a script.

Inputs are one event, a JSON array of events, or JSON lines (also concatenated or pretty-printed
documents), from a file or standard input. A bad item gets ``{"error": ...}`` and exit status 2;
the other items are still handled.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from shared.catalog import CatalogError, load_catalog
from shared.catalog.check import check_catalog
from shared.classify import Classifier
from shared.parse import EventError
from shared.pipeline import Pipeline
from shared.plan import LANGUAGES
from shared.settings import Settings, SettingsError
from shared.sinks import ConsoleSink, OutboxSink, Sink

EXIT_OK, EXIT_DELIVERY_FAILED, EXIT_BAD_INPUT = 0, 1, 2
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class InputError:
    reason: str


def read_items(text: str) -> Iterator[Any | InputError]:
    """Every JSON document in ``text``; a top-level array yields its elements. Text that is not
    JSON yields an ``InputError`` and reading resumes at the next line that starts a JSON value."""
    pos, end = 0, len(text)
    if not text.strip():
        yield InputError("the input is empty: expected an event, a JSON array of events, or JSON lines")
        return
    while True:
        while pos < end and text[pos].isspace():
            pos += 1
        if pos >= end:
            return
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield InputError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
            pos = _next_document(text, pos)
            continue
        if isinstance(value, list):
            yield from value
        else:
            yield value


_VALUE_START = frozenset('{["-0123456789tfn')


def _next_document(text: str, pos: int) -> int:
    """The start of the next line that begins a JSON value at its first column (so JSON lines
    resume on the next line, and a pretty-printed document's indented lines are skipped)."""
    while True:
        newline = text.find("\n", pos)
        if newline < 0:
            return len(text)
        pos = newline + 1
        if text[pos:pos + 1] in _VALUE_START:
            return pos


def _read_inputs(paths: Sequence[str]) -> Iterator[Any | InputError]:
    """The items of every path in order (``-`` is standard input)."""
    for path in paths or ["-"]:
        yield from read_items(sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8"))


def _print_json(obj: dict[str, Any], out: TextIO) -> None:
    out.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


def cmd_classify(args: argparse.Namespace, out: TextIO) -> int:
    """Offline: parse and classify only (no enrichment, no network)."""
    pipeline = Pipeline(Classifier(load_catalog(args.catalog) if args.catalog else None))
    status = EXIT_OK
    for index, item in enumerate(_read_inputs(args.paths)):
        if isinstance(item, InputError):
            _print_json({"error": item.reason, "index": index}, out)
            status = EXIT_BAD_INPUT
            continue
        try:
            outcome = pipeline.assess(pipeline.parse(item))
        except EventError as exc:
            _print_json({"error": str(exc), "index": index}, out)
            status = EXIT_BAD_INPUT
            continue
        _print_json(outcome.summary(), out)
    return status


def _sinks(settings: Settings, dry_run: bool, out: TextIO) -> list[Sink]:
    sinks: list[Sink] = [ConsoleSink(out)] if dry_run or not settings.outbox else []
    if settings.outbox and not dry_run:
        sinks.append(OutboxSink(settings.outbox))
    return sinks


def respond(items: Sequence[Any] | Iterator[Any], pipeline: Pipeline, sinks: Sequence[Sink],
            out: TextIO) -> int:
    """Run the full pipeline over ``items`` and deliver each outcome; print one status line each."""
    status = EXIT_OK
    for index, item in enumerate(items):
        if isinstance(item, InputError):
            _print_json({"error": item.reason, "index": index}, out)
            status = EXIT_BAD_INPUT
            continue
        try:
            outcome = pipeline.process(item)
        except EventError as exc:
            _print_json({"error": str(exc), "index": index}, out)
            status = EXIT_BAD_INPUT
            continue
        deliveries = pipeline.deliver(outcome, sinks)
        if any(not d.ok for d in deliveries) and status == EXIT_OK:
            status = EXIT_DELIVERY_FAILED
        summary = {k: outcome.summary()[k] for k in ("cloud", "job_type", "cause", "code", "rule")}
        _print_json({**summary, "delivered": {d.sink: d.detail if d.ok else f"FAILED: {d.detail}"
                                              for d in deliveries}}, out)
    return status


def cmd_respond(args: argparse.Namespace, out: TextIO) -> int:
    settings = Settings.from_env()
    pipeline = Pipeline(language=args.language or settings.language)
    return respond(_read_inputs(args.paths), pipeline, _sinks(settings, args.dry_run, out), out)


def sample_events() -> list[tuple[str, Any]]:
    """The bundled demo events: (sample file name, event)."""
    events: list[tuple[str, Any]] = []
    folder = resources.files("shared") / "samples"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            events += [(entry.name, e) for e in read_items(entry.read_text(encoding="utf-8"))]
    return events


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    settings = Settings.from_env()
    outbox = Path(args.outbox) if args.outbox else (settings.outbox or Path("outbox"))
    pipeline = Pipeline(language=args.language or settings.language)
    events = [event for _, event in sample_events()]
    out.write(f"Running {len(events)} bundled sample failures (AWS and Azure) through the pipeline.\n"
              f"Messages are printed below and written to {outbox}/\n\n")
    status = respond(events, pipeline, [ConsoleSink(out), OutboxSink(outbox)], out)
    out.write(f"\nDone: {len(events)} events; messages in {outbox}/\n")
    return status


def cmd_catalog(args: argparse.Namespace, out: TextIO) -> int:
    catalog = load_catalog(args.catalog) if args.catalog else load_catalog()
    problems = check_catalog(catalog)
    for problem in problems:
        out.write(f"problem: {problem}\n")
    causes: dict[str, int] = {}
    for rule in catalog.rules:
        causes[rule.cause] = causes.get(rule.cause, 0) + 1
    if args.action == "list":
        for cause, count in sorted(causes.items()):
            out.write(f"{count:4d}  {cause}\n")
    out.write(f"{len(catalog)} rules, {len(causes)} causes, {len(catalog.sources)} files: "
              f"{'ok' if not problems else f'{len(problems)} problems'}\n")
    return EXIT_OK if not problems else EXIT_BAD_INPUT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backup-responder",
                                     description="Explain failed AWS Backup and Azure Backup jobs and how to fix them.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("classify", help="classify events offline, one JSON line per event")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files, or - for standard input (the default)")
    p.add_argument("--catalog", type=Path, help="a folder of catalog files instead of the bundled one")
    p.set_defaults(run=cmd_classify)

    p = sub.add_parser("respond", help="the full pipeline: enrich, classify, plan, deliver")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files, or - for standard input (the default)")
    p.add_argument("--dry-run", action="store_true", help="deliver nothing; print what would be sent")
    p.add_argument("--language", choices=LANGUAGES, help="message language where the catalog has it")
    p.set_defaults(run=cmd_respond)

    p = sub.add_parser("demo", help="run the bundled sample failures (no cloud account, no network)")
    p.add_argument("--outbox", help="folder for the rendered messages (default ./outbox)")
    p.add_argument("--language", choices=LANGUAGES)
    p.set_defaults(run=cmd_demo)

    p = sub.add_parser("catalog", help="validate the error catalog and run every rule's examples")
    p.add_argument("action", choices=("check", "list"))
    p.add_argument("--catalog", type=Path)
    p.set_defaults(run=cmd_catalog)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    try:
        return int(args.run(args, out))
    except (CatalogError, SettingsError, OSError) as exc:
        sys.stderr.write(f"backup-responder: {exc}\n")
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
