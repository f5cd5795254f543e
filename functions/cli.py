"""``backup-responder``: classify, respond and demo from a laptop or a script.

Inputs are one event, a JSON array of events, or JSON lines (also concatenated or pretty-printed
documents), from a file or standard input. A bad item gets ``{"error": "FILE:LINE: reason"}`` (an
element of a JSON array: ``FILE:LINE: item N: reason``) and exit status 2; the other items are still
handled.

Exit statuses: 0 done, 1 a delivery failed, 2 bad input or configuration, 141 (128 + SIGPIPE, what
a shell reports for a command whose reader went away) when standard output is closed early, as in
``backup-responder classify big.json | head -1``: then it stops quietly, without a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import msgspec
import orjson
import yaml
from msgspec import Struct
from pydantic import ValidationError

from functions.local import local_enrichment, local_remediators, offline_remediators
from shared.catalog import Catalog, CatalogError, default_catalog, evaluate, load_catalog
from shared.catalog.check import check_catalog
from shared.classify import Classifier
from shared.config_checks import Problem, catalog_causes, cause_pattern_findings, duplicate_keys, line_of, unknown_keys
from shared.decode import Decoder
from shared.notify.compose import compose
from shared.notify.config import ResponderConfig, config_from_settings, load_config, parse_config
from shared.notify.describe import describe_config
from shared.notify.notice import Notice
from shared.notify.router import Router, describe_route
from shared.notify.types import ConfigError, seconds
from shared.parse import EventError
from shared.pipeline import Enricher, Pipeline
from shared.plan import LANGUAGES
from shared.redact import quiet_sdk_loggers, redact
from shared.remediation.config import ApprovalConfig
from shared.report.aggregate import Aggregate
from shared.report.render import RENDERERS
from shared.report.sources import Read, job_list_key, read_job_list, read_value
from shared.responder import DeliveryFailed, Responder
from shared.settings import Settings, SettingsError, default_state_path
from shared.sinks import BuildContext, build_destination, describe_answers, url_problems
from shared.sinks.base import DeliveryError
from shared.sinks.local.transport import ConsoleSink, LocalSink
from shared.state import MemoryStore, StateStore
from shared.state_sqlite import SqliteStore
from shared.untrusted import NOT_PLAIN, bounded, decode_at, decode_text, printable, read_plain
from shared.vocab import NoticeKind
from shared.wiring import Remediators, build_responder

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

EXIT_OK, EXIT_DELIVERY_FAILED, EXIT_BAD_INPUT = 0, 1, 2
#: The reader of standard output went away (128 + SIGPIPE): what a shell shows for ``yes | head -1``.
EXIT_BROKEN_PIPE = 128 + 13
#: How standard input is named in an error line.
STDIN = "<stdin>"
FORMATS = ("json", "text")


class InputError(Struct, frozen=True):
    reason: str


class Item(Struct, frozen=True):
    """One item of the input and where it is: ``FILE:LINE`` (the line its document starts on),
    ``FILE:LINE: item N`` for the N-th element (from 0) of a JSON array."""

    where: str
    value: Any
    #: Already held to ``shared.untrusted.check_value`` (parsing need not walk it again).
    checked: bool = False


def read_located(text: str, name: str = STDIN) -> Iterator[Item]:
    """Every JSON document in ``text``, located; a top-level array yields its elements. Text that
    is not JSON (or not UTF-8, or nested too deep: ``shared.untrusted.decode_at``) yields an
    ``InputError`` and reading resumes at the next line that starts a JSON value. A line that is
    one plain document is read the fast way (``shared.untrusted.read_plain``) and its items are
    ``checked``; any other item is checked when it is parsed (``shared.parse.parse_event``), so one
    bad element of an array does not cost the others."""
    pos, end = 0, len(text)
    counted, line = 0, 1  # lines are counted once, as reading moves on
    if not text.strip():
        yield Item(name, InputError("the input is empty: expected an event, a JSON array of events, or JSON lines"))
        return
    while True:
        while pos < end and text[pos].isspace():
            pos += 1
        if pos >= end:
            return
        line += text.count("\n", counted, pos)
        counted = pos
        where = f"{name}:{line}"
        stop = text.find("\n", pos)
        stop = end if stop < 0 else stop
        value = read_plain(text[pos:stop])  # one plain document on the line: the fast way
        checked = value is not NOT_PLAIN
        if checked:
            pos = stop
        else:
            try:
                value, pos = decode_at(text, pos)
            except EventError as exc:
                yield Item(where, InputError(str(exc)))
                pos = _next_document(text, pos)
                continue
        if isinstance(value, list):
            yield from (Item(f"{where}: item {index}", element, checked) for index, element in enumerate(value))
        else:
            yield Item(where, value, checked)


def read_items(text: str) -> Iterator[Any | InputError]:
    """The items of ``read_located``, without their place."""
    return (item.value for item in read_located(text))


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


def _read_text(path: str) -> str:
    """A file or standard input (``-``) as text: UTF-8, where a byte that is not UTF-8 only makes
    the document holding it an error (``shared.untrusted.decode_text``)."""
    if path != "-":
        return decode_text(Path(path).read_bytes())
    buffer = getattr(sys.stdin, "buffer", None)
    return decode_text(buffer.read()) if buffer is not None else sys.stdin.read()


def _read_inputs(paths: Sequence[str]) -> Iterator[Item]:
    """The items of every path in order (``-`` is standard input)."""
    for path in paths or ["-"]:
        yield from read_located(_read_text(path), STDIN if path == "-" else path)


def located(where: str | None, reason: str) -> str:
    """``FILE:LINE: reason``, bounded like every error text."""
    return bounded(f"{where}: {reason}") if where else reason


def _print_json(obj: dict[str, Any], out: TextIO) -> None:
    """One JSON line; always UTF-8 (a lone surrogate is written as its JSON escape)."""
    out.write(printable(json.dumps(obj, ensure_ascii=False, default=str)) + "\n")


def _print_classification(line: dict[str, Any], out: TextIO) -> None:
    """``_print_json`` for the classify lines, by orjson (several times faster than the standard
    library on every event); text it refuses (a lone surrogate) goes the standard way."""
    try:
        text = orjson.dumps(line, default=str).decode()
    except orjson.JSONEncodeError:
        _print_json(line, out)
        return
    out.write(text + "\n")


def _say(text: str) -> None:
    """A note for the person at the terminal, on standard error."""
    sys.stderr.write(f"backup-responder: {text}\n")


def _text_summary(where: str, line: dict[str, Any]) -> str:
    """A classification for a person: where, cause and code, then the title."""
    code = f" {line['code']}" if line.get("code") else ""
    return (f"{where}: {line['cloud']} {line['job_type'] or '-'}: {line['cause']}{code} "
            f"(confidence {line['confidence']:.2f}): {line['title']}")


def cmd_classify(args: argparse.Namespace, out: TextIO) -> int:
    """Offline: parse and classify only (no enrichment, no network)."""
    pipeline = Pipeline(Classifier(load_catalog(args.catalog) if args.catalog else None))
    status = EXIT_OK
    for index, item in enumerate(_read_inputs(args.paths)):
        try:
            if isinstance(item.value, InputError):
                raise EventError(item.value.reason)
            outcome = pipeline.classify(pipeline.parse(item.value, checked=item.checked))
        except EventError as exc:
            status = EXIT_BAD_INPUT
            if args.format == "text":  # an error line a person can jump to: FILE:LINE: reason
                out.flush()
                _say(located(item.where, str(exc)))
            else:
                _print_json({"error": located(item.where, str(exc)), "index": index}, out)
            continue
        line = outcome.summary()
        if args.explain:
            line["explain"] = pipeline.classifier.explain(outcome.failure)
        if args.format == "text":
            out.write(_text_summary(item.where, line) + "\n")
            if args.explain:
                out.write(json.dumps(line["explain"], indent=2, ensure_ascii=False, default=str) + "\n")
        else:
            _print_classification(line, out)
    return status


def _state(settings: Settings, dry_run: bool) -> StateStore:
    """SQLite for real runs (dedup and tickets across runs), memory for dry runs and the demo."""
    if dry_run:
        return MemoryStore()
    return SqliteStore(settings.state_path or default_state_path())


def respond(items: Sequence[Any] | Iterator[Any], responder: Responder, out: TextIO, fmt: str = "json") -> int:
    """Run the full pipeline over ``items`` (events, or ``Item``s that say where each one is) and
    deliver each outcome; print one status line each (``fmt``: a JSON object, or text)."""
    status = EXIT_OK
    for index, entry in enumerate(items):
        where, item = (entry.where, entry.value) if isinstance(entry, Item) else (None, entry)
        try:
            if isinstance(item, InputError):
                raise EventError(item.reason)
            report = responder.handle(item)
        except EventError as exc:
            status = EXIT_BAD_INPUT
            if fmt == "text":
                out.flush()
                _say(located(where, str(exc)))
            else:
                _print_json({"error": located(where, str(exc)), "index": index}, out)
            continue
        except DeliveryFailed as exc:
            report = exc.report
            if status == EXIT_OK:
                status = EXIT_DELIVERY_FAILED
        summary = {k: report.outcome.summary()[k] for k in ("cloud", "job_type", "cause", "code", "rule")}
        line: dict[str, Any] = {**summary, "route": report.route, "role": report.role,
                                "delivered": {d.sink: d.detail if d.ok else f"FAILED: {d.detail}"
                                              for d in report.deliveries}}
        if (decision := report.outcome.remediation) is not None:
            line["remediation"] = {"action": decision.action, "mode": decision.mode, "audit_id": decision.audit_id}
        if report.skipped:
            line["skipped"] = report.skipped
        if fmt == "text":
            out.write(_text_status(where or f"#{index}", line) + "\n")
        else:
            _print_json(line, out)
    for delivery in responder.flush():
        if not delivery.ok and status == EXIT_OK:
            status = EXIT_DELIVERY_FAILED
        detail = delivery.detail if delivery.ok else f"FAILED: {delivery.detail}"
        if fmt == "text":
            out.write(f"digest {delivery.sink}: {detail}\n")
        else:
            _print_json({"digest": delivery.sink, "delivered": detail}, out)
    return status


def _text_status(where: str, line: dict[str, Any]) -> str:
    """What happened to one event, for a person."""
    if line.get("skipped"):
        return f"{where}: {line['cause']}: skipped ({line['skipped']})"
    delivered = ", ".join(f"{sink} {detail}" for sink, detail in line["delivered"].items()) or "nothing"
    text = f"{where}: {line['cause']} -> route {line['route']}: {delivered}"
    if remediation := line.get("remediation"):
        text += f"; remediation {remediation['action']} ({remediation['mode']})"
    return text


def _responder(settings: Settings, language: str | None, dry_run: bool, local: list[LocalSink],
               config: ResponderConfig | None = None, enrichers: Sequence[Enricher] = (),
               decoder: Decoder | None = None, remediators: Remediators | None = None,
               approvals: bool = False) -> Responder:
    """The responder the composition root builds (``shared.wiring``), as on the clouds, with what
    this machine adds: its console, its state file, its credentials' adapters.

    Auto-remediation as ``respond`` runs it: ``--dry-run`` caps the switch at ``dry-run``, and no
    "Apply fix" is offered (an approval reaches the cloud deployment's state store, never this
    machine's), unless ``approvals`` (the demo shows what a cloud deployment would post)."""
    if language:
        settings = settings.model_copy(update={"language": language})
    config = config or config_from_settings(settings)
    if dry_run and settings.auto_remediate == "on":
        settings = settings.model_copy(update={"auto_remediate": "dry-run"})
    if not approvals:
        config = config.model_copy(update={"remediation": config.remediation.model_copy(
            update={"approval": ApprovalConfig()})})
    responder = build_responder(settings, enrichers=enrichers, decoder=decoder, state=_state(settings, dry_run),
                                dry_run=dry_run, config=config, local=local, remediators=remediators)
    if language:
        responder.pipeline.language = language
    return responder


def cmd_respond(args: argparse.Namespace, out: TextIO) -> int:
    """The pipeline of the cloud entry points: with this machine's credentials, the job is described
    and the authorization message decoded (AWS), the job and vault read (Azure); ``--offline``, or
    a cloud without its SDK or credentials (said once on standard error), reads nothing."""
    settings = Settings.from_env()
    local: list[LocalSink] = [ConsoleSink(out)] if args.dry_run or not settings.outbox else []
    if args.dry_run:  # nothing is written either
        settings = settings.model_copy(update={"outbox": None})
    enrichers, decoder = ([], None) if args.offline else local_enrichment(_say)
    responder = _responder(settings, args.language, args.dry_run, local, enrichers=enrichers, decoder=decoder,
                           remediators=local_remediators)
    if args.dry_run:
        out.write("Dry run: nothing is sent; each message shows where it would go.\n")
    if responder.remediation is not None:
        out.write(f"Auto-remediation: {responder.remediation.mode} (RESPONDER_AUTO_REMEDIATE"
                  f"{', capped by --dry-run' if args.dry_run and settings.auto_remediate == 'on' else ''}).\n")
    return respond(_read_inputs(args.paths), responder, out, args.format)


def sample_events() -> list[tuple[str, Any]]:
    """The bundled demo events: (sample file name, event)."""
    events: list[tuple[str, Any]] = []
    folder = resources.files("shared") / "samples"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            events += [(entry.name, e) for e in read_items(entry.read_text(encoding="utf-8"))]
    return events


#: What the demo renders when no configuration is given: one sink of each kind, never contacted;
#: every sample shown on its own (no dedup, no storm grouping).
DEMO_CONFIG: dict[str, Any] = {
    "dedup": {"window": 0, "storm_window": 0},
    "sinks": {
        "slack": {"type": "slack", "webhook_url": "https://hooks.slack.com/services/T000/B000/demo"},
        "teams": {"type": "teams", "webhook_url": "https://example.invalid/workflows/demo"},
        "jira": {"type": "jira", "url": "https://example.atlassian.net", "project": "OPS",
                 "email": "demo@example.com", "api_token": "demo"},
        "pagerduty": {"type": "pagerduty", "routing_key": "demo"},
        "servicenow": {"type": "servicenow", "instance_url": "https://example.service-now.com",
                       "username": "demo", "password": "demo"},
        "github": {"type": "github", "repo": "example/backup-ops", "token": "demo"},
    },
}


#: The demo's auto-remediation when no configuration file is given: the causes of the samples that
#: the catalog can fix, planned in dry-run from the plan alone (nothing is read, nothing changes).
DEMO_REMEDIATION: dict[str, Any] = {
    "allow": [{"cause": cause} for cause in ("aws.iam.pass-role", "aws.vault.access-policy", "aws.kms.key-access",
                                             "azure.postgres.vault-msi-reader", "azure.storage.container-access")],
    "approval": {"slack_users": ["U0DEMO00000"]},
}
DEMO_NO_CLOUD = "the demo reads no cloud account"


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    """The bundled samples through the pipeline; ``--format json``: only one JSON status line per
    sample (the messages are in the outbox)."""
    settings = Settings.from_env()
    outbox = Path(args.outbox) if args.outbox else (settings.outbox or Path("outbox"))
    config = (load_config(settings.config_path) if settings.config_path
              else parse_config({**DEMO_CONFIG, "remediation": DEMO_REMEDIATION}, "demo"))
    config = config.model_copy(update={"dedup": config.dedup.model_copy(update={"window": 0, "storm_window": 0})})
    settings = settings.model_copy(update={"outbox": outbox, "slack_webhook_url": None, "teams_webhook_url": None,
                                           "approval_base_url": None, "approval_secret": None})
    text = args.format == "text"
    # Dry-run, whatever the settings say, with planners that make no cloud call and never apply.
    settings = settings.model_copy(update={"auto_remediate": "dry-run"})
    responder = _responder(settings, args.language, True, [ConsoleSink(out)] if text else [], config,
                           remediators=lambda: offline_remediators(DEMO_NO_CLOUD), approvals=True)
    events = [Item(f"samples/{name}", event) for name, event in sample_events()]
    if text:
        out.write(f"Running {len(events)} bundled sample failures (AWS and Azure) through the pipeline.\n"
                  f"Nothing is posted: the messages and the Slack, Teams and ticket payloads that would be sent\n"
                  f"are printed below and written to {outbox}/\n\n")
    status = respond(events, responder, out)
    if text:
        out.write(f"\nDone: {len(events)} events; messages in {outbox}/\n")
    return status


def cmd_flush(args: argparse.Namespace, out: TextIO) -> int:
    """Send the digests of closed storms and ended quiet hours (run it on a schedule)."""
    settings = Settings.from_env()
    responder = _responder(settings, None, False, [])
    status = EXIT_OK
    for delivery in responder.flush():
        status = status if delivery.ok else EXIT_DELIVERY_FAILED
        _print_json({"digest": delivery.sink, "delivered": delivery.detail if delivery.ok
                     else f"FAILED: {delivery.detail}"}, out)
    return status


def cmd_test_sink(args: argparse.Namespace, out: TextIO) -> int:
    """Post one sample failure through one configured sink and say what it answered: the way to check
    a webhook, a token or a project key before a real failure needs them."""
    settings = Settings.from_env()
    if args.config:
        settings = settings.model_copy(update={"config_path": Path(args.config)})
    config = config_from_settings(settings)
    if args.name not in config.sinks:
        known = ", ".join(sorted(config.sinks)) or "none"
        _say(f"no sink {args.name!r} in the configuration (sinks: {known})")
        return EXIT_BAD_INPUT
    settings_of_sink = config.sinks[args.name]
    destination = build_destination(args.name, settings_of_sink, BuildContext(retry=config.retry))
    if destination is None:
        _say(f"{args.name} is a local outbox: it is written, not posted")
        return EXIT_BAD_INPUT
    sample, event = sample_events()[0]
    language = settings_of_sink.language or config.language or settings.language
    outcome = Pipeline(language=language).process(event)
    message = compose(Notice(NoticeKind.FAILURE, outcome, fingerprint=f"test-sink-{args.name}"),
                      default_catalog(), language)
    test = "[test] "  # so that nobody on call acts on it
    message = msgspec.structs.replace(message, title=test + message.title, subject=test + message.subject,
                                  fallback=test + message.fallback)
    try:
        receipt = destination.send(message, None)
    except DeliveryError as exc:
        line = {"sink": args.name, "type": settings_of_sink.type, "delivered": False, "error": redact(str(exc)),
                "retryable": exc.retryable}
        _report(line, f"{args.name} ({settings_of_sink.type}): FAILED: {line['error']}", args.format, out)
        return EXIT_DELIVERY_FAILED
    line = {"sink": args.name, "type": settings_of_sink.type, "delivered": True, "sample": sample,
            "receipt": {k: v for k, v in receipt.items() if k != "url" or v.startswith("https://")}}
    answer = ", ".join(f"{k} {v}" for k, v in line["receipt"].items()) or "accepted"
    _report(line, f"{args.name} ({settings_of_sink.type}): delivered the sample {sample} ({answer})", args.format, out)
    return EXIT_OK


def _report(line: dict[str, Any], text: str, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        _print_json(line, out)
    else:
        out.write(text + "\n")


def _where(loc: Sequence[Any]) -> str:
    return ".".join(str(p) for p in loc if not str(p).startswith("function-")) or "config"


def _at(source: str, text: str | None, loc: Sequence[Any]) -> str:
    """``FILE:LINE`` of ``loc`` in the file (``FILE`` alone where the line is not known)."""
    line = line_of(text, loc) if text is not None else None
    return f"{source}:{line}" if line else source


def _read_config(path: Path) -> tuple[str, Any]:
    """The file's text and what it holds (``ConfigError`` when it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from exc
    try:
        return text, (json.loads(text) if path.suffix == ".json" else yaml.safe_load(text))
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from exc


def config_problems(path: Path | None, config: ResponderConfig | None, strict: bool) -> list[str]:
    """What ``config check`` refuses, each ``FILE:LINE: reason`` where the file gives the line: the
    schema's errors, or for a valid configuration the webhook URLs ``respond`` would refuse, the
    cause patterns that match no cause of the catalog, and with ``strict`` unknown and repeated keys.
    ``config`` is None when it did not validate."""
    source, text, data = str(path or "settings"), None, None
    if path is not None:
        text, data = _read_config(path)
        try:
            config = ResponderConfig.model_validate(data or {})
        except ValidationError as exc:
            return [f"{_at(source, text, e['loc'])}: {_where(e['loc'])}: {redact(e['msg'])}"
                    for e in exc.errors()[:5]]
    if config is None:
        return []
    problems: list[Problem] = []
    for problem in url_problems(config):  # what respond would refuse, refused here too (never the URL)
        sink, _, reason = problem.partition(": ")
        problems.append(Problem(("sinks", sink.removeprefix("sink "), reason.split(" ", 1)[0]), problem))
    problems += cause_pattern_findings(config, catalog_causes(default_catalog().rules))
    if strict:
        problems += unknown_keys(config, data)
    found = [f"{_at(source, text, p.loc)}: {p.message}" for p in problems]
    if strict and text is not None:
        found += [f"{source}:{line}: key {key!r} is given twice in the same mapping (the last one would win)"
                  for line, key in duplicate_keys(text)]
    return found


def cmd_config(args: argparse.Namespace, out: TextIO) -> int:
    """Validate a configuration file and show where each sample event would go."""
    settings = Settings.from_env()
    path = Path(args.path) if args.path else settings.config_path
    report: dict[str, Any] = {"file": str(path) if path else None, "valid": False}
    config: ResponderConfig | None = None
    try:
        config = load_config(path) if path else config_from_settings(settings)
        problems = config_problems(path, config, args.strict)
    except ConfigError as exc:  # the schema's errors, located in the file where it can be read
        try:
            problems = (config_problems(path, None, args.strict) if path else []) or [redact(str(exc))]
        except ConfigError as again:
            problems = [redact(str(again))]
    if problems:
        if args.format == "json":
            _print_json({**report, "problems": problems}, out)
        else:
            out.write("".join(f"invalid: {problem}\n" for problem in problems))
        return EXIT_BAD_INPUT
    assert config is not None
    summary = [*describe_config(config), *describe_answers(config)]
    mode = config.remediation.effective_mode(settings.auto_remediate)
    summary.append(f"auto-remediation here: {mode} (RESPONDER_AUTO_REMEDIATE={settings.auto_remediate})")
    if settings.approval_base_url and settings.approval_secret is not None:
        summary.append(f"Teams \"Apply fix\" links: {settings.approval_base_url} "
                       "(signed with RESPONDER_APPROVAL_SECRET)")
    events: list[Item] = []
    for event_path in args.events or []:
        events += list(_read_inputs([event_path]))
    if not args.events:
        events = [Item(name, event) for name, event in sample_events()]
    pipeline = Pipeline()
    router = Router(config)
    status = EXIT_OK
    routes: list[dict[str, str]] = []
    for item in events:
        try:
            if isinstance(item.value, InputError):
                raise EventError(item.value.reason)
            outcome = pipeline.assess(pipeline.parse(item.value))
        except EventError as exc:
            routes.append({"event": item.where, "error": str(exc)})
            status = EXIT_BAD_INPUT
            continue
        routes.append({"event": item.where, "route": describe_route(outcome, router.route(outcome))})
    if args.format == "json":
        _print_json({**report, "valid": True, "problems": [], "summary": summary, "events": routes}, out)
        return status
    out.write(f"{path or 'settings (SLACK_WEBHOOK_URL / TEAMS_WEBHOOK_URL)'}: valid\n")
    out.write("".join(line + "\n" for line in summary))
    if routes:
        out.write("\nwhere the sample events would go:\n")
    for entry in routes:
        out.write(f"  {entry['event']}: {entry.get('route') or entry['error']}\n")
    return status


def since_moment(value: str, now: datetime | None = None) -> datetime:
    """``--since``: a duration back from now (``90s``, ``10m``, ``1h``, ``30d``, as in the
    configuration), or a date or date-time (ISO 8601; UTC unless it says otherwise)."""
    try:
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds(value))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is neither a duration (90s, 10m, 1h, 30d) "
                                         "nor a date (2026-11-01)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _report_reads(args: argparse.Namespace, pipeline: Pipeline, since: datetime | None) -> Iterator[Read]:
    """What ``report`` reads: the files given, else the clouds this machine's credentials reach."""
    if not args.paths:
        from functions.report_live import live_pages  # the cloud SDKs only for a live report

        for where, page in live_pages(args.region or [], args.organization, since, _say):
            if isinstance(page, str):
                yield Read(where, error=page)
            else:
                yield from read_value(page, where, pipeline.parse)
        return
    for path in args.paths:
        yield from _report_path(path, pipeline)


#: The first bytes of an input that tell a job list (``{"count": 3, "data": [``) from events.
LIST_SNIFF_BYTES = 4096


def _report_path(path: str, pipeline: Pipeline) -> Iterator[Read]:
    """One input of ``report``: a job list streamed one job at a time (a 100,000-job export needs
    the memory of one job); anything else read whole, as ``classify`` reads it (FILE:LINE)."""
    name = STDIN if path == "-" else path
    try:
        raw = getattr(sys.stdin, "buffer", None) if path == "-" else open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:  # one input that cannot be read costs only itself
        yield Read(name, error=f"cannot read it: {exc.strerror or exc}")
        return
    if raw is None:  # a standard input without bytes (a test's StringIO): read as text
        items: Iterator[Item] = read_located(sys.stdin.read(), name)
    else:
        with contextlib.closing(raw) if path != "-" else contextlib.nullcontext(raw):
            stream = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
            key = job_list_key(stream.peek(LIST_SNIFF_BYTES)[:LIST_SNIFF_BYTES])
            if key is not None:
                yield from read_job_list(stream, key, name, pipeline.parse)
                return
            items = read_located(decode_text(stream.read()), name)
    for item in items:
        if isinstance(item.value, InputError):
            yield Read(item.where, error=item.value.reason)
        else:
            yield from read_value(item.value, item.where, pipeline.parse)


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    """Failed jobs from every input, classified as ``classify`` does, grouped by cause."""
    pipeline = Pipeline(Classifier(load_catalog(args.catalog) if args.catalog else None))
    report = Aggregate(pipeline.classifier.catalog, since=args.since)
    for read in _report_reads(args, pipeline, args.since):
        if read.failure is None:
            report.errors += 1
            _say(located(read.where, read.error or "unreadable"))
            continue
        report.add(read.failure, pipeline.classifier.classify(read.failure))
    text = RENDERERS[args.format](report.summary())
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        _say(f"wrote {args.output} ({args.format})")
    else:
        out.write(printable(text))
    return EXIT_BAD_INPUT if report.errors else EXIT_OK


def cmd_catalog(args: argparse.Namespace, out: TextIO) -> int:
    catalog = load_catalog(args.catalog) if args.catalog else load_catalog()
    if args.action == "eval":
        return catalog_eval(catalog, args.corpus, args.format, out)
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


def catalog_eval(catalog: Catalog, corpus: Path, fmt: str, out: TextIO) -> int:
    """Accuracy on a corpus of real failures; exit 2 when the goals are not met."""
    cases = evaluate.load_corpus(corpus)
    if not cases:
        raise OSError(f"no corpus cases in {corpus}")
    summary = evaluate.report(evaluate.run(cases, catalog), catalog)
    out.write(json.dumps(summary, indent=1) + "\n" if fmt == "json" else evaluate.render_text(summary))
    return EXIT_OK if summary["goals_met"] else EXIT_BAD_INPUT


class _Parser(argparse.ArgumentParser):
    """argparse, except that ``--help`` and ``--version`` write as every command does, so that a
    reader that went away is noticed (argparse's own printing ignores the error)."""

    def print_help(self, file: SupportsWrite[str] | None = None) -> None:
        (file or sys.stdout).write(self.format_help())


class _Version(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        sys.stdout.write(f"{parser.prog} {version()}\n")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="backup-responder",
                     description="Explain failed AWS Backup and Azure Backup jobs and how to fix them.")
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("report", help="failed jobs grouped by cause, with the fix once per cause")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="events, list-*-jobs JSON of the AWS CLI, az graph query output, or - for standard "
                        "input; none: pull the jobs live with this machine's credentials")
    p.add_argument("--since", type=since_moment, metavar="WHEN",
                   help="only jobs from then on: a duration back from now (90s, 10m, 1h, 30d) or a date")
    p.add_argument("--format", choices=tuple(RENDERERS), default="text", help="text (the default), json, csv, "
                   "markdown, or html (one self-contained page)")
    p.add_argument("--output", metavar="FILE", help="write the report here instead of standard output")
    p.add_argument("--region", action="append", help="live: an AWS Region to read (repeatable; default: the "
                   "configured one)")
    p.add_argument("--organization", action="store_true", help="live: every account of the AWS Organization "
                   "(ByAccountId=ANY, from the management or delegated administrator account)")
    p.add_argument("--catalog", type=Path, help="a folder of catalog files instead of the bundled one")
    p.set_defaults(run=cmd_report)

    p = sub.add_parser("classify", help="classify events offline, one JSON line per event")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files, or - for standard input (the default)")
    p.add_argument("--catalog", type=Path, help="a folder of catalog files instead of the bundled one")
    p.add_argument("--explain", action="store_true",
                   help="say why the rule won: the ranked candidates and what matched each")
    p.add_argument("--format", choices=FORMATS, default="json",
                   help="json: one JSON object per event (the default); text: one line per event, for people")
    p.set_defaults(run=cmd_classify)

    p = sub.add_parser("respond", help="the full pipeline: enrich, classify, plan, deliver")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files, or - for standard input (the default)")
    p.add_argument("--dry-run", action="store_true", help="deliver nothing; print what would be sent")
    p.add_argument("--language", choices=LANGUAGES, help="message language where the catalog has it")
    p.add_argument("--offline", action="store_true",
                   help="read no cloud: no job description, no STS decoding, no Azure Resource Manager")
    p.add_argument("--format", choices=FORMATS, default="json",
                   help="the status line of each event: a JSON object (the default) or text")
    p.set_defaults(run=cmd_respond)

    p = sub.add_parser("demo", help="run the bundled sample failures (no cloud account, no network)")
    p.add_argument("--outbox", help="folder for the rendered messages (default ./outbox)")
    p.add_argument("--language", choices=LANGUAGES)
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="text: the messages and a status line each (the default); json: the status lines only")
    p.set_defaults(run=cmd_demo)

    p = sub.add_parser("config", help="validate the configuration file and show where sample events go")
    # A command of its own, so that options may come before the file: config check --strict FILE
    p = p.add_subparsers(dest="action", required=True).add_parser(
        "check", help="validate the configuration file and show where sample events go")
    p.add_argument("path", nargs="?", help="the file (default: RESPONDER_CONFIG, else the simple settings)")
    p.add_argument("--events", action="append", help="events to route instead of the bundled samples")
    p.add_argument("--strict", action="store_true",
                   help="also refuse keys that nothing reads and keys given twice in one mapping")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="text (the default), or one JSON object: file, valid, problems, summary, events")
    p.set_defaults(run=cmd_config)

    p = sub.add_parser("test-sink", help="post a sample failure through one configured sink and show its answer")
    p.add_argument("name", help="the sink's name in the configuration")
    p.add_argument("--config", help="the configuration file (default: RESPONDER_CONFIG, else the simple settings)")
    p.add_argument("--format", choices=FORMATS, default="text", help="text (the default) or one JSON object")
    p.set_defaults(run=cmd_test_sink)

    p = sub.add_parser("flush", help="send the digests of closed storms and ended quiet hours")
    p.set_defaults(run=cmd_flush)

    p = sub.add_parser("catalog", help="validate the error catalog and run every rule's examples; "
                                       "eval: measure it on a corpus of real failures")
    p.add_argument("action", choices=("check", "list", "eval"))
    p.add_argument("--catalog", type=Path)
    p.add_argument("--corpus", type=Path, default=Path("tests/corpus"), help="eval: the folder of corpus files")
    p.add_argument("--format", choices=("text", "json"), default="text", help="eval: output format")
    p.set_defaults(run=cmd_catalog)
    return parser


def version() -> str:
    """The installed package's version (its metadata, so it is the one pip reports)."""
    try:
        return metadata.version("backup-responder")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _reader_left(out: TextIO) -> int:
    """Standard output was closed early (``| head``): stop quietly. What is still buffered cannot be
    written, so standard output is pointed at the null device, and the flush at exit raises nothing."""
    if out is sys.stdout:
        with contextlib.suppress(OSError, ValueError):  # not a real file (a test's buffer): nothing to do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except BrokenPipeError:
        return _reader_left(sys.stdout)
    except SystemExit:  # --help, --version, a usage error: printed; a reader that left is noticed here
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            return _reader_left(sys.stdout)
        raise
    if out is None:
        # What cannot be encoded (a file name that is not UTF-8, say) is escaped, never a traceback.
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(errors="backslashreplace")
    out = out or sys.stdout
    quiet_sdk_loggers()
    try:
        status = int(args.run(args, out))
        out.flush()  # here, so that a reader that went away is noticed here, not at exit
        return status
    except BrokenPipeError:
        return _reader_left(out)
    except (CatalogError, SettingsError, ConfigError, OSError) as exc:
        sys.stderr.write(f"backup-responder: {redact(str(exc))}\n")
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
