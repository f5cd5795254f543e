"""The weekly digest of the failure report: the configuration's ``report`` section (off when absent,
chat sinks only), the ``report`` notice in words (en, ko), and delivery once per period to the
fake Slack and Teams, whatever the number of runs."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from functions.cli import EXIT_OK, main
from shared.notify.config import parse_config
from shared.notify.notice import Notice
from shared.notify.types import ConfigError
from shared.pipeline import Pipeline
from shared.report.digest import Page, period_of, send_scheduled_report, summarise
from shared.settings import Settings
from shared.sinks.local.render import render_text
from shared.state import MemoryStore
from shared.vocab import NoticeKind
from shared.wiring import build_responder
from tests.conftest import load_event
from tests.delivery.conftest import FakeServices, config_for, make_responder
from tests.support.clock import FakeClock
from tests.support.messages import say

#: The recorded job lists of both clouds (tests/events/report/): 9 failed jobs, 6 causes, 1 unclassified.
LISTS = ("aws-list-backup-jobs", "aws-list-copy-jobs", "aws-list-restore-jobs", "azure-graph-backup-jobs")
#: A Monday, 08:00 UTC: the WeeklyReport schedule's time.
MONDAY = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
WEEK = 7 * 86400


def recorded_pages() -> list[Page]:
    return [(name, load_event(f"report/{name}.json")) for name in LISTS]


class Pull:
    """The live pull as the entry points hand it in: records each ``since`` it was asked for."""

    def __init__(self) -> None:
        self.asked: list[datetime] = []

    def __call__(self, since: datetime) -> Iterable[Page]:
        self.asked.append(since)
        return recorded_pages()


def report_responder(services: FakeServices, clock: FakeClock, **report: Any) -> Any:
    clock.advance(MONDAY.timestamp() - clock.time())
    return make_responder(services, clock, sinks=["slack", "teams", "jira"],
                          report={"sinks": ["slack", "teams"], **report})


# --- the configuration -----------------------------------------------------------------------------

def test_the_report_is_off_without_its_section(services: FakeServices, clock: FakeClock) -> None:
    responder = make_responder(services, clock, sinks=["slack"])
    pull = Pull()
    assert responder.config.report is None
    assert send_scheduled_report(responder, pull) is None
    assert pull.asked == [] and services.delivered("/slack") == []


def test_the_section_defaults_to_a_week_and_reads_durations(services: FakeServices) -> None:
    config = parse_config(config_for(services, report={"sinks": "slack"}))
    assert config.report is not None and config.report.sinks == ["slack"] and config.report.since == WEEK
    assert parse_config(config_for(services, report={"sinks": ["teams"], "since": "36h", "language": "ko"})
                        ).report.since == 36 * 3600  # type: ignore[union-attr]


@pytest.mark.parametrize(("report", "reason"), [
    ({"sinks": ["nowhere"]}, "report sends to unknown sink 'nowhere'"),
    ({"sinks": ["jira"]}, "report sends to 'jira', a jira sink: the report goes to chat sinks only"),
    ({"sinks": []}, "report.sinks"),
    ({"sinks": ["slack"], "since": "10m"}, "report.since"),
    ({"sinks": ["slack"], "language": "fr"}, "report.language"),
    ({"sinks": ["slack"], "every": "7d"}, "report.every"),
])
def test_a_report_section_that_cannot_work_is_refused(services: FakeServices, report: dict[str, Any],
                                                      reason: str) -> None:
    with pytest.raises(ConfigError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_config(config_for(services, report=report))


def test_config_check_describes_the_report(services: FakeServices, tmp_path: Path) -> None:
    (tmp_path / "none.json").write_text("[]")
    for report, expected in (
            (None, "report: off (no `report` section: no scheduled failure report)"),
            ({"sinks": ["slack", "teams"], "language": "ja"},
             "report: the failures of the last 7d (this account or subscription) -> slack, teams, once per 7d "
             "period, in ja")):
        path = tmp_path / "config.json"
        raw = config_for(services)
        if report is not None:
            raw["report"] = report
        path.write_text(json.dumps(raw))
        out = io.StringIO()
        assert main(["config", "check", str(path), "--events", str(tmp_path / "none.json")], out) == EXIT_OK
        assert expected in out.getvalue()


# --- the message -----------------------------------------------------------------------------------

def test_periods_are_weeks_from_monday_and_name_their_length() -> None:
    assert period_of(datetime(2026, 12, 7, 8, 0, tzinfo=UTC), WEEK) == "2026-12-07/7d"
    assert period_of(datetime(2026, 12, 13, 23, 59, tzinfo=UTC), WEEK) == "2026-12-07/7d"  # the Sunday after
    assert period_of(datetime(2026, 12, 6, 23, 59, tzinfo=UTC), WEEK) == "2026-11-30/7d"  # the Sunday before
    assert period_of(datetime(2026, 12, 7, 13, 0, tzinfo=UTC), 12 * 3600) == "2026-12-07T1200Z/12h"


def _report_notice(period: str = "2026-12-07/7d") -> Notice:
    summary = summarise(recorded_pages(), Pipeline(), datetime(2026, 11, 16, 8, tzinfo=UTC))
    return Notice(NoticeKind.REPORT, None, period=period, report=summary)


def test_the_report_in_english_names_the_totals_and_the_top_causes() -> None:
    message = say(_report_notice())
    assert message.kind == NoticeKind.REPORT
    assert message.title == "Backup failures this week: 9 failed jobs, 6 causes, 88% explained"
    assert message.fallback == message.title
    [top, unclassified] = message.brief
    assert message.sections == message.brief  # chat sinks show the brief of a report: the same body
    assert top.heading == "Top causes" and top.text == "Failed jobs since 2026-11-16, by cause."
    assert top.items[:2] == (
        "2 × VSS failed, so only a crash-consistent backup was taken (1 resources in 1 accounts; aws.ec2.vss)",
        "2 × The source KMS key does not allow the destination account 444455556666 to use it "
        "(2 resources in 1 accounts; aws.kms.key-access)")
    assert len(top.items) == 6
    assert unclassified.text.startswith("Unclassified: 1 failed jobs match no catalog rule yet")


def test_the_report_in_korean_and_a_period_that_is_not_a_week() -> None:
    message = say(_report_notice("2026-12-07T1200Z/36h"), "ko")
    assert message.language == "ko"
    assert message.title == "백업 실패 (최근 36h): 실패한 작업 9건, 원인 6개, 88% 설명됨"
    top = message.sections[0]
    assert top.heading == "주요 원인" and top.items[0].startswith("2건 × ")
    assert "미분류: 실패한 작업 1건" in message.sections[1].text


def test_a_week_without_failures_says_so_and_is_all_explained() -> None:
    summary = summarise([], Pipeline(), None)
    message = say(Notice(NoticeKind.REPORT, None, period="2026-12-07/7d", report=summary))
    assert message.title == "Backup failures this week: 0 failed jobs, 0 causes, 100% explained"
    assert [s.text for s in message.sections] == ["No backup, copy or restore job failed."]


def test_the_percentage_is_rounded_down_so_100_means_everything() -> None:
    message = say(Notice(NoticeKind.REPORT, None, period="2026-12-07/7d",
                         report={"failed": 1000, "unclassified": 1, "explained": 0.999, "causes": []}))
    assert message.title.endswith("99% explained")


# --- delivery --------------------------------------------------------------------------------------

def test_slack_and_teams_get_the_report_once_per_period(services: FakeServices, clock: FakeClock) -> None:
    responder = report_responder(services, clock)
    pull = Pull()
    run = send_scheduled_report(responder, pull)
    assert run is not None and run.period == "2026-11-23/7d" and not run.failed
    assert pull.asked == [datetime(2026, 11, 16, 8, tzinfo=UTC)]  # the last 7 days
    [slack] = services.delivered("/slack")
    blocks = slack.json()["blocks"]
    assert blocks[0]["text"]["text"] == ":bar_chart: Backup failures this week: 9 failed jobs, 6 causes, 88% explained"
    assert "*Top causes*" in blocks[1]["text"]["text"] and "aws.kms.key-access" in blocks[1]["text"]["text"]
    [teams] = services.delivered("/teams")
    card = json.dumps(teams.json())
    assert "Backup failures this week: 9 failed jobs" in card and "Top causes" in card
    assert services.to("/jira") == []  # a ticket sink hears nothing of it

    # A retry, a second schedule, a later run in the same week: nothing is read or posted again.
    clock.advance(3 * 86400)
    again = send_scheduled_report(responder, pull)
    assert again is not None and again.summary is None and {d.detail for d in again.deliveries} == {
        "already delivered"}
    assert len(pull.asked) == 1 and len(services.delivered("/slack")) == 1 and len(services.delivered("/teams")) == 1

    # The next Monday is a new period.
    clock.advance(4 * 86400)
    assert send_scheduled_report(responder, pull) is not None
    assert len(services.delivered("/slack")) == 2 and pull.asked[-1] == datetime(2026, 11, 23, 8, tzinfo=UTC)


def test_two_responders_on_one_store_post_once(services: FakeServices, clock: FakeClock) -> None:
    store = MemoryStore(clock.time)
    raw = config_for(services, report={"sinks": ["slack", "teams"]})
    first, second = (build_responder(Settings(), state=store, clock=clock, config=parse_config(raw)) for _ in "12")
    assert first.send_report({"failed": 0, "causes": []}, "2026-12-07/7d")
    deliveries = second.send_report({"failed": 0, "causes": []}, "2026-12-07/7d")
    assert [d.detail for d in deliveries] == ["already delivered", "already delivered"]
    assert len(services.delivered("/slack")) == 1 and len(services.delivered("/teams")) == 1


def test_a_sink_that_fails_is_retried_by_the_next_run_and_the_other_is_not_posted_twice(
        services: FakeServices, clock: FakeClock) -> None:
    responder = report_responder(services, clock, language="ko")
    services.fail("/slack", (500, {}, b"internal_error"), (500, {}, b"internal_error"), (500, {}, b"internal_error"),
                  (500, {}, b"internal_error"), (500, {}, b"internal_error"))
    run = send_scheduled_report(responder, Pull())
    assert run is not None and [d.sink for d in run.failed] == ["slack"] and run.failed[0].retryable
    assert len(services.delivered("/teams")) == 1
    assert "백업 실패 (이번 주)" in json.dumps(services.delivered("/teams")[0].json(), ensure_ascii=False)
    retry = send_scheduled_report(responder, Pull())
    assert retry is not None and not retry.failed
    assert len(services.delivered("/slack")) == 1 and len(services.delivered("/teams")) == 1


def test_the_console_prints_the_report(services: FakeServices, clock: FakeClock) -> None:
    text = render_text(say(_report_notice()), compact=True)
    assert text.splitlines()[0] == "[MEDIUM] Backup failures this week: 9 failed jobs, 6 causes, 88% explained"
    assert "Top causes:" in text and "aws.kms.key-access" in text and "Unclassified: 1 failed jobs" in text
