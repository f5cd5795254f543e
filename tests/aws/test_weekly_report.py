"""The Lambda's weekly report: the WeeklyReportSchedule rule's constant input makes ``lambda_handler``
list the week's backup, copy and restore jobs (botocore's Stubber answers ListBackupJobs,
ListCopyJobs and ListRestoreJobs with the documented shapes of tests/events/report/), group them
by cause and post the report to the fake Slack of tests/delivery once per week, whatever the
number of invocations; without a ``report`` section it does nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

import functions.aws.jobs as jobs
from functions.aws.app import WEEKLY_REPORT_EVENT
from tests.aws.conftest import BACKUP, COPY, REGION, RESTORE, World, stubbed_backup_clients
from tests.delivery.conftest import FakeServices

#: The WeeklyReportSchedule's time: a Monday at 08:00 UTC. The recorded jobs fall in the week before.
MONDAY = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
WEEK_BEFORE = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
TITLE = "Backup failures this week: 7 failed jobs, 4 causes, 85% explained"


@pytest.fixture
def slack() -> Iterator[FakeServices]:
    services = FakeServices()
    yield services
    services.close()


def configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, slack: FakeServices, **report: Any) -> None:
    config = {"sinks": {"slack": {"type": "slack", "webhook_url": f"{slack.url}/slack/T000/B000/secret-hook"}},
              "report": {"sinks": ["slack"], **report}}
    path = tmp_path / "responder.json"
    path.write_text(json.dumps(config))
    monkeypatch.setenv("RESPONDER_CONFIG", str(path))


Queue = Callable[[Stubber], None]


def week_of_jobs(stub: Stubber) -> None:
    asked = {"ByCreatedAfter": WEEK_BEFORE, "MaxResults": 1000}
    stub.add_response("list_backup_jobs", {"BackupJobs": BACKUP[:2], "NextToken": "page-2"}, asked)
    stub.add_response("list_backup_jobs", {"BackupJobs": BACKUP[2:]}, {**asked, "NextToken": "page-2"})
    stub.add_response("list_copy_jobs", {"CopyJobs": COPY}, asked)
    stub.add_response("list_restore_jobs", {"RestoreJobs": RESTORE}, asked)


class Clients:
    """``jobs.backup_clients`` answered by Stubbers: one queue of answers per Region, per call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[list[str]] = []
        self.stubbers: list[Stubber] = []
        self.queues: list[dict[str, Queue]] = []
        monkeypatch.setattr(jobs, "backup_clients", self.clients)

    def then(self, **regions: Queue) -> Clients:
        self.queues.append({region.replace("_", "-"): queue for region, queue in regions.items()})
        return self

    def clients(self, regions: list[str], session: Any = None) -> list[Any]:
        self.calls.append(regions)
        queues = self.queues.pop(0)
        assert regions == list(queues)
        return stubbed_backup_clients(queues, self.stubbers)

    def all_answered(self) -> None:
        for stubber in self.stubbers:
            stubber.assert_no_pending_responses()


def at_monday(world: World) -> None:
    world.clock.advance(MONDAY.timestamp() - world.clock.time())


def test_the_schedule_posts_the_week_once_whatever_the_number_of_invocations(
        world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, slack: FakeServices) -> None:
    configure(monkeypatch, tmp_path, slack)
    clients = Clients(monkeypatch).then(us_west_2=week_of_jobs)
    at_monday(world)
    result = world.invoke(WEEKLY_REPORT_EVENT)
    assert result == {"report": "2026-11-23/7d", "failed_jobs": 7, "delivered": {"slack": True, "outbox": True}}
    clients.all_answered()
    assert clients.calls == [[REGION]]  # the function's own Region
    [post] = slack.delivered("/slack")
    blocks = post.json()["blocks"]
    assert blocks[0]["text"]["text"].endswith(TITLE)
    assert "aws.kms.key-access" in blocks[1]["text"]["text"]
    [copy] = [m for m in world.messages() if m["notice"]["kind"] == "report"]
    assert copy["notice"]["title"] == TITLE and copy["notice"]["period"] == "2026-11-23/7d"

    # A retry, or the schedule firing twice: nothing is listed, nothing is posted again.
    world.clock.advance(3600)
    again = world.invoke(WEEKLY_REPORT_EVENT)
    assert again["delivered"] == {"slack": True} and again["failed_jobs"] is None
    assert clients.calls == [[REGION]] and len(slack.delivered("/slack")) == 1


def test_without_a_report_section_the_schedule_does_nothing(
        world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, slack: FakeServices) -> None:
    path = tmp_path / "responder.json"
    path.write_text(json.dumps({"sinks": {"slack": {"type": "slack",
                                                     "webhook_url": f"{slack.url}/slack/T000/B000/secret-hook"}}}))
    monkeypatch.setenv("RESPONDER_CONFIG", str(path))
    clients = Clients(monkeypatch)
    assert world.invoke(WEEKLY_REPORT_EVENT) == {"report": "off"}
    assert clients.calls == [] and slack.received == [] and world.hook.posts == []


def test_a_list_the_role_may_not_call_fails_the_invocation_and_posts_nothing_until_it_can(
        world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, slack: FakeServices) -> None:
    configure(monkeypatch, tmp_path, slack, regions=["us-west-2", "eu-west-1"], organization=True)

    def refused(stub: Stubber) -> None:
        stub.add_client_error("list_backup_jobs", "AccessDeniedException",
                              "not authorized to perform: backup:ListBackupJobs")

    def empty(stub: Stubber) -> None:
        asked = {"ByCreatedAfter": WEEK_BEFORE, "ByAccountId": "*", "MaxResults": 1000}
        for operation, key in jobs.LISTS.items():
            stub.add_response(operation, {key: []}, asked)

    def organization(stub: Stubber) -> None:
        asked = {"ByCreatedAfter": WEEK_BEFORE, "ByAccountId": "*", "MaxResults": 1000}
        stub.add_response("list_backup_jobs", {"BackupJobs": BACKUP}, asked)
        stub.add_response("list_copy_jobs", {"CopyJobs": COPY}, asked)
        stub.add_response("list_restore_jobs", {"RestoreJobs": RESTORE}, asked)

    clients = Clients(monkeypatch).then(us_west_2=organization, eu_west_1=refused)
    clients.then(us_west_2=organization, eu_west_1=empty)
    at_monday(world)
    with pytest.raises(Exception, match="AccessDeniedException"):
        world.invoke(WEEKLY_REPORT_EVENT)  # Lambda retries it; a half-read week is never posted
    assert slack.received == []
    result = world.invoke(WEEKLY_REPORT_EVENT)  # the retry, once the role may list the jobs
    clients.all_answered()
    assert result["failed_jobs"] == 7 and len(slack.delivered("/slack")) == 1
