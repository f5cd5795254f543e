"""Nothing posted twice: runs of the same event at the same time (10 ``respond`` runs on one SQLite
state file, through the command line) and flushes at the same time (8 of them, quiet hours' summary
and storm digest) post each message once, also when the sink is slow: Slack holds its answer until
every other run has finished, so that they all reach their post while one is under way."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TypeVar

import pytest

from functions.cli import EXIT_DELIVERY_FAILED, EXIT_OK, main
from shared.notify.config import parse_config
from shared.responder import BUSY
from shared.settings import Settings
from shared.state_sqlite import SqliteStore
from shared.wiring import build_responder
from tests.delivery.conftest import FakeServices, config_for, failure_event
from tests.support.clock import FakeClock

#: Runs of the same event at the same time, and flushes at the same time.
RUNS, FLUSHES = 10, 8
#: The longest the runs may take (a deadlock guard, never reached when each message is posted once).
GUARD_SECONDS = 30

T = TypeVar("T")
R = TypeVar("R")


def _posts(services: FakeServices, prefix: str) -> int:
    return len([r for r in services.to(prefix) if r.method == "POST"])


def _all_at_once_with_a_slow_slack(services: FakeServices, work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``work`` on every item at the same time while Slack holds its answers back; Slack answers
    once every run but one has finished (the one posting). Two runs posting keep each other
    waiting: the guard's TimeoutError fails the test."""
    gate = services.hold("/slack/")
    with ThreadPoolExecutor(len(items)) as pool:
        futures = [pool.submit(work, item) for item in items]
        try:
            for finished, _ in enumerate(as_completed(futures, timeout=GUARD_SECONDS), start=1):
                if finished == len(items) - 1:
                    gate.open()
        finally:
            gate.open()
    return [future.result() for future in futures]


def test_ten_concurrent_respond_runs_of_one_event_post_it_once(services: FakeServices, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", services.url + "/slack/T/B/secret-hook")
    monkeypatch.setenv("RESPONDER_STATE", str(tmp_path / "state.sqlite"))
    events = tmp_path / "event.json"
    events.write_text(json.dumps(failure_event(1, event_id="evt-concurrent")))

    def run(_: int) -> tuple[int, list[dict[str, Any]]]:
        out = io.StringIO()
        status = main(["respond", str(events)], out)
        return status, [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]

    results = _all_at_once_with_a_slow_slack(services, run, range(RUNS))

    assert _posts(services, "/slack/") == 1
    outcomes = [lines[0] for _, lines in results]
    delivered = [o for o in outcomes if o["delivered"].get("slack") == "status 200"]
    assert len(delivered) == 1
    for status, lines in results:  # every other run says why it did not post, none lost the event
        slack = lines[0]["delivered"].get("slack")
        assert slack in (None, "status 200", "already delivered", f"FAILED: {BUSY}"), slack
        assert status == (EXIT_DELIVERY_FAILED if slack == f"FAILED: {BUSY}" else EXIT_OK)
    # a later run of the same event finds the receipt
    out = io.StringIO()
    assert main(["respond", str(events)], out) == EXIT_OK
    assert _posts(services, "/slack/") == 1


def test_eight_concurrent_flushes_post_one_quiet_hours_summary(services: FakeServices, clock: FakeClock,
                                                               tmp_path: Path) -> None:
    # the manual clock starts at 2023-11-14 22:13:20 UTC, inside these quiet hours
    raw = config_for(services, quiet_hours={"timezone": "UTC", "start": "22:00", "end": "23:00"})
    raw["sinks"] = {"slack": raw["sinks"]["slack"]}
    config = parse_config(raw)
    path = tmp_path / "state.sqlite"

    def responder() -> Any:  # one per flush, each with its own connection, as separate processes
        return build_responder(Settings(), state=SqliteStore(path, clock.time), clock=clock, config=config)

    first = responder()
    for n in range(3):
        first.handle(failure_event(n))
        clock.advance(700)  # separate storms
    assert _posts(services, "/slack/") == 0
    clock.advance(3600)  # the quiet hours have ended
    flushers = [responder() for _ in range(FLUSHES)]
    results = _all_at_once_with_a_slow_slack(services, lambda r: r.flush(), flushers)

    summaries = [r for r in services.to("/slack/") if "during quiet hours" in r.json()["text"]]
    assert len(summaries) == 1
    assert sum(1 for deliveries in results for d in deliveries if d.ok and d.sink == "slack") == 1
    assert all(d.ok for deliveries in results for d in deliveries)
    assert responder().flush() == []  # and not again later


def test_eight_concurrent_flushes_post_one_storm_digest(services: FakeServices, clock: FakeClock,
                                                        tmp_path: Path) -> None:
    raw = config_for(services)
    raw["sinks"] = {"slack": raw["sinks"]["slack"]}
    config = parse_config(raw)
    path = tmp_path / "state.sqlite"

    def responder() -> Any:
        return build_responder(Settings(), state=SqliteStore(path, clock.time), clock=clock, config=config)

    first = responder()
    first.flush_on_handle = False
    for n in range(3):  # one storm: one cause, three resources
        first.handle(failure_event(n))
    clock.advance(config.dedup.storm_window + 1)  # the storm's window has closed
    flushers = [responder() for _ in range(FLUSHES)]
    _all_at_once_with_a_slow_slack(services, lambda r: r.flush(), flushers)
    digests = [r for r in services.to("/slack/") if "Storm summary" in r.json()["text"]]
    assert len(digests) == 1
    assert responder().flush() == []
