"""The responder end to end against the fake services: routing, receipts (a retry does not post
again), dedup, recurring failures on the open ticket, recovery, quiet hours, silences, deadlines,
and secrets kept out of the outbox and the logs."""

from __future__ import annotations

import io
import json
import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from functions.cli import main
from shared.responder import DeliveryFailed
from shared.wiring import build_responder
from tests.delivery.conftest import FakeServices, failure_event, make_responder, success_event
from tests.support.clock import FakeClock

ALL = ["slack", "slack-api", "teams", "jira", "servicenow", "pagerduty", "github"]
SECRETS = ["secret-hook", "xoxb-test-token", "secret-sig", "jira-token", "sn-password",
           "R0UTINGKEY0000000000000000000000", "ghp-test-token"]


def status_lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith('{"cloud"')]


def posts(services: FakeServices, prefix: str) -> int:
    return len([r for r in services.to(prefix) if r.method in ("POST", "PATCH")])


def test_a_failure_reaches_every_routed_sink(services: FakeServices, clock: FakeClock) -> None:
    responder = make_responder(services, clock)
    report = responder.handle(failure_event(1))
    assert {d.sink for d in report.deliveries if d.ok} == set(ALL)
    assert report.role == "leader" and report.route == "all"
    for prefix in ("/slack/", "/slackapi/chat.postMessage", "/teams", "/jira/rest/api/3/issue", "/sn", "/pd", "/gh"):
        assert posts(services, prefix) == 1, prefix


def test_routing_picks_the_first_matching_route(services: FakeServices, clock: FakeClock) -> None:
    routes = [{"name": "kms", "match": {"cause": "aws.kms.*"}, "sinks": ["slack", "pagerduty"]},
              {"name": "rest", "sinks": ["teams"]}]
    responder = make_responder(services, clock, routes=routes)
    report = responder.handle(failure_event(1))
    assert report.route == "kms" and {d.sink for d in report.deliveries} == {"slack", "pagerduty"}
    assert services.to("/teams") == []


def test_one_failing_sink_does_not_stop_the_others_and_a_retry_posts_only_there(
        services: FakeServices, clock: FakeClock) -> None:
    responder = make_responder(services, clock)
    services.fail("/jira", *[(500, {}, b"Internal Server Error")] * 5)
    event = failure_event(1)
    with pytest.raises(DeliveryFailed) as caught:
        responder.handle(event)
    failed = [d for d in caught.value.report.deliveries if not d.ok]
    assert [d.sink for d in failed] == ["jira"] and failed[0].retryable
    assert posts(services, "/slack/") == 1 and posts(services, "/pd") == 1 and posts(services, "/gh") == 1
    # the platform retries the same event: only Jira is tried again
    report = responder.handle(event)
    assert posts(services, "/slack/") == 1 and posts(services, "/teams") == 1 and posts(services, "/pd") == 1
    assert posts(services, "/slackapi/chat.postMessage") == 1 and posts(services, "/gh") == 1
    assert any(d.sink == "jira" and d.ok and d.detail.startswith("key OPS-") for d in report.deliveries)
    assert sum(1 for d in report.deliveries if d.detail == "already delivered") == len(ALL) - 1


def test_the_same_failure_again_is_counted_not_posted(services: FakeServices, clock: FakeClock) -> None:
    responder = make_responder(services, clock, sinks=["slack", "jira"])
    resource = "arn:aws:rds:us-west-2:111122223333:db:orders-7"
    responder.handle(failure_event(7, resource=resource))
    for _ in range(4):
        clock.advance(60)
        report = responder.handle(failure_event(7, resource=resource))
        assert report.role == "duplicate" and report.deliveries == []
    assert "seen 5 times" in (report.skipped or "")
    assert posts(services, "/slack/") == 1 and posts(services, "/jira") == 1


def test_a_recurring_failure_comments_on_its_open_ticket(services: FakeServices, clock: FakeClock) -> None:
    responder = make_responder(services, clock, sinks=["slack", "jira", "github", "pagerduty", "servicenow"])
    resource = "arn:aws:rds:us-west-2:111122223333:db:orders-8"
    first = responder.handle(failure_event(8, resource=resource))
    key = next(d.detail for d in first.deliveries if d.sink == "jira")
    clock.advance(2 * 3600)  # past the dedup and storm windows, the ticket still open
    second = responder.handle(failure_event(8, resource=resource))
    assert second.role == "leader" and "jira:repeat" in second.notices
    assert posts(services, "/jira/rest/api/3/issue") == 2  # one issue, one comment
    issue = services.issues[key.removeprefix("key ")]
    assert len(issue["comments"]) == 1
    assert len([r for r in services.to("/gh") if r.path.endswith("/issues")]) == 1
    assert len([r for r in services.to("/gh") if r.path.endswith("/comments")]) == 1
    assert len(services.to("/sn/api/now/table/incident?")) == 1
    assert posts(services, "/slack/") == 2  # chat tells people again
    pd = [r.json() for r in services.to("/pd")]
    assert pd[0]["dedup_key"] == pd[1]["dedup_key"]


def test_recovery_resolves_tickets_and_replies_in_the_thread(services: FakeServices, clock: FakeClock) -> None:
    responder = make_responder(services, clock)
    resource = "arn:aws:rds:us-west-2:111122223333:db:orders-9"
    responder.handle(failure_event(9, resource=resource))
    clock.advance(3600)
    report = responder.handle(success_event(resource))
    assert report.role == "recovered" and all(d.ok for d in report.deliveries)
    jira = next(v for k, v in services.issues.items() if k.startswith("OPS-"))
    assert jira["status"] == "Done"
    assert any(v.get("status") == "resolved" for k, v in services.issues.items() if k.startswith("pd:"))
    assert any(v.get("state") == "closed" for k, v in services.issues.items() if k.startswith("gh:"))
    assert any(v.get("state") == "6" for v in services.issues.values() if "work_notes_log" in v)
    reply = services.to("/slackapi/chat.postMessage")[-1].json()
    assert reply["thread_ts"] and "Recovered" in reply["text"]
    # a second success has nothing left to resolve
    assert responder.handle(success_event(resource)).skipped == "a successful job with nothing to resolve"


def test_a_success_without_an_earlier_failure_posts_nothing(services: FakeServices, clock: FakeClock) -> None:
    responder = make_responder(services, clock)
    report = responder.handle(success_event("arn:aws:rds:us-west-2:111122223333:db:never-failed"))
    assert report.skipped and services.received == []


def test_silenced_failures_are_counted_not_posted(services: FakeServices, clock: FakeClock) -> None:
    silences = [{"match": {"cause": "aws.kms.*"}, "reason": "key rotation in progress", "expires": "2099-01-01"}]
    responder = make_responder(services, clock, silences=silences)
    report = responder.handle(failure_event(1))
    assert report.skipped and "key rotation" in report.skipped and services.received == []
    assert responder.state.get("silenced:key rotation in progress") == {"count": 1}


def test_quiet_hours_hold_chat_and_summarise_when_they_end(services: FakeServices, clock: FakeClock) -> None:
    # the manual clock starts at 2023-11-14 22:13:20 UTC
    quiet = {"timezone": "UTC", "start": "22:00", "end": "23:00"}
    responder = make_responder(services, clock, sinks=["slack", "jira"], quiet_hours=quiet)
    for n in range(3):
        responder.handle(failure_event(n))
        clock.advance(700)  # separate storms
    assert posts(services, "/slack/") == 0 and posts(services, "/jira") >= 1
    clock.advance(3600)
    deliveries = responder.flush()
    assert any(d.sink == "slack" and d.ok for d in deliveries)
    digest = services.to("/slack/")[-1].json()
    assert "3 backup failures during quiet hours" in digest["text"]
    assert responder.flush() == []  # once


def test_the_deadline_is_never_passed(services: FakeServices, clock: FakeClock) -> None:
    responder = make_responder(services, clock, sinks=["slack", "pagerduty"])
    services.fail("/slack", (429, {"Retry-After": "30"}, b"rate_limited"))
    with pytest.raises(DeliveryFailed) as caught:
        responder.handle(failure_event(1), deadline=5.0)  # e.g. Lambda's remaining time
    assert all(s < 5 for s in clock.slept)
    assert {d.sink: d.ok for d in caught.value.report.deliveries} == {"slack": False, "pagerduty": True}
    assert caught.value.report.deliveries[0].retryable


def test_secrets_stay_out_of_the_outbox_and_the_logs(services: FakeServices, clock: FakeClock, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    responder = make_responder(services, clock, outbox=tmp_path / "outbox")
    services.fail("/slack", (500, {}, b"oops"))
    services.fail("/teams", (400, {}, b"bad"))
    with pytest.raises(DeliveryFailed) as caught:
        responder.handle(failure_event(1))
    written = "".join(p.read_text() for p in (tmp_path / "outbox").glob("*.json"))
    assert "payloads" in written and '"slack-api"' in written
    for secret in SECRETS:
        assert secret not in written, secret
        assert secret not in caplog.text, secret
        assert secret not in str(caught.value), secret


def test_simple_webhook_settings_deliver(services: FakeServices, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", services.url + "/slack/T/B/secret-hook")
    monkeypatch.setenv("TEAMS_WEBHOOK_URL", services.url + "/teams/workflows/secret-sig")
    responder = build_responder()
    report = responder.handle(failure_event(1))
    assert {d.sink for d in report.deliveries} == {"slack", "teams"}
    assert posts(services, "/slack/") == 1 and posts(services, "/teams") == 1


def test_respond_cli_delivers_with_sqlite_state(services: FakeServices, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", services.url + "/slack/T/B/secret-hook")
    monkeypatch.setenv("RESPONDER_STATE", str(tmp_path / "state.sqlite"))
    events = tmp_path / "events.json"
    events.write_text(json.dumps([failure_event(1, resource="arn:aws:rds:us-west-2:111122223333:db:x")]))
    out = io.StringIO()
    assert main(["respond", str(events)], out) == 0
    assert status_lines(out)[0]["delivered"]["slack"] == "status 200"
    # a second run (a new process) remembers: the same failure is counted, not posted
    events.write_text(json.dumps([failure_event(1, resource="arn:aws:rds:us-west-2:111122223333:db:x")]))
    out = io.StringIO()
    assert main(["respond", str(events)], out) == 0
    assert status_lines(out)[0]["role"] == "duplicate"
    assert posts(services, "/slack/") == 1


def test_demo_is_offline_and_writes_every_payload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the demo must not open a connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/secret-hook")
    out = io.StringIO()
    assert main(["demo", "--outbox", str(tmp_path / "outbox")], out) == 0
    files = sorted((tmp_path / "outbox").glob("*.json"))
    assert files
    document = json.loads(files[0].read_text())
    assert {"slack", "teams", "jira", "pagerduty", "servicenow", "github"} <= set(document["payloads"])
    assert document["payloads"]["slack"]["json"]["blocks"]
    assert document["payloads"]["teams"]["json"]["attachments"][0]["content"]["type"] == "AdaptiveCard"
    assert "secret-hook" not in "".join(f.read_text() for f in files)
