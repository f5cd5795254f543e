"""The Function App's weekly report: the ``send_report`` timer (schedule from the app setting
``RESPONDER_REPORT_SCHEDULE``) queries Resource Graph for the week's failed jobs with the app's
identity (here a test credential, against the ARM stand-in answering the recorded pages of
tests/events/report/resource-graph-page-*.json), and posts the report to the Teams-like webhook
once per week; without a ``report`` section it does nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from functions.azure import blueprint
from functions.azure.endpoint import AlertEndpoint, build_endpoint
from functions.azure.enrich import ArmError
from shared.state import MemoryStore
from tests.azure.conftest import app_functions
from tests.azure.servers import ArmServer, FakeCredential, ResourceGraph, WebhookServer
from tests.support.clock import FakeClock

MONDAY = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
TITLE = "Backup failures this week: 2 failed jobs, 2 causes, 100% explained"


def report_timer() -> tuple[dict[str, Any], Callable[[Any], None]]:
    [function] = [f for f in app_functions() if f.get_function_name() == "send_report"]
    user: Callable[[Any], None] = function.get_user_function()
    return json.loads(function.get_function_json()), user


@pytest.fixture
def graph(arm: ArmServer, tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
          clean_env: None) -> ResourceGraph:
    api = ResourceGraph("function-token")
    arm.apis.append(api)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_files[0]))  # the stand-in's certificate
    return api


Make = Callable[..., AlertEndpoint]


@pytest.fixture
def make_endpoint(arm: ArmServer, teams: WebhookServer, tmp_path: Path) -> Iterator[Make]:
    """A worker's endpoint whose configuration has the Teams sink and ``report`` (None: no
    section), on a clock at Monday 08:00 UTC; a second call is a second worker on the same store."""
    store = MemoryStore()

    def make(report: dict[str, Any] | None = None) -> AlertEndpoint:
        config: dict[str, Any] = {"sinks": {"teams": {"type": "teams", "webhook_url": teams.url}}}
        if report is not None:
            config["report"] = report
        path = tmp_path / "responder.json"
        path.write_text(json.dumps(config))
        clock = FakeClock()
        clock.advance(MONDAY.timestamp() - clock.time())
        endpoint = build_endpoint(env={"RESPONDER_CONFIG": str(path), "RESPONDER_ARM_ENDPOINT": arm.url},
                                  enrichers=[], state=store, credential=FakeCredential("function-token"), clock=clock)
        blueprint.use_endpoint(endpoint)
        return endpoint

    yield make
    blueprint.use_endpoint(None)


def test_the_timer_reads_its_schedule_from_the_app_setting_and_retries() -> None:
    function_json, _ = report_timer()
    [binding] = function_json["bindings"]
    assert (binding["type"], binding["schedule"]) == ("timerTrigger", "%RESPONDER_REPORT_SCHEDULE%")
    [function] = [f for f in app_functions() if f.get_function_name() == "send_report"]
    assert function.get_settings_dict("retry_policy")["strategy"] == "exponential_backoff"


def test_the_timer_posts_the_week_to_teams_once(graph: ResourceGraph, make_endpoint: Make,
                                                teams: WebhookServer) -> None:
    make_endpoint({"sinks": ["teams"]})
    _, timer = report_timer()
    timer(None)
    assert len(graph.queries) == 2  # both pages
    assert "datetime(2026-11-16T08:00:00+00:00)" in graph.queries[0]["query"]  # the last 7 days
    [card] = teams.accepted
    text = json.dumps(card)
    assert TITLE in text and "azure.postgres.vault-msi-reader" in text and "Top causes" in text

    timer(None)  # the schedule again, or a host retry: nothing read, nothing posted
    make_endpoint({"sinks": ["teams"]})  # another worker, the same state
    timer(None)
    assert len(graph.queries) == 2 and len(teams.accepted) == 1


def test_without_a_report_section_the_timer_does_nothing(graph: ResourceGraph, make_endpoint: Make,
                                                         teams: WebhookServer) -> None:
    endpoint = make_endpoint(None)
    assert endpoint.graph is None
    _, timer = report_timer()
    timer(None)
    assert graph.queries == [] and teams.seen == []


def test_a_query_that_fails_raises_posts_nothing_and_the_retry_posts(graph: ResourceGraph, make_endpoint: Make,
                                                                     teams: WebhookServer) -> None:
    make_endpoint({"sinks": ["teams"], "language": "ja"})
    _, timer = report_timer()
    graph.status = 403  # AuthorizationFailed: not retried by azure-core, raised to the host
    with pytest.raises(ArmError, match="HTTP 403"):
        timer(None)
    assert teams.seen == []
    graph.status = None
    timer(None)  # the host's retry
    [card] = teams.accepted
    assert "バックアップの失敗 (今週): 失敗したジョブ 2 件" in json.dumps(card, ensure_ascii=False)


def test_a_sink_that_fails_raises_so_the_host_retries(graph: ResourceGraph, make_endpoint: Make,
                                                      teams: WebhookServer) -> None:
    make_endpoint({"sinks": ["teams"]})
    _, timer = report_timer()
    teams.statuses = [400]  # refused (a bad request is not retried by the sender)
    with pytest.raises(RuntimeError, match="report delivery failed: teams"):
        timer(None)
    timer(None)
    assert len(teams.accepted) == 1
