"""Jira, ServiceNow, PagerDuty and GitHub against fakes that check the documented request shapes:
open, comment on recurrence, resolve on recovery."""

from __future__ import annotations

import random
import re

import pytest

from shared.notify.notice import GroupInfo, Notice
from shared.sinks.base import DeliveryError
from shared.sinks.document import pieces
from shared.sinks.github.render import escape, fence
from shared.sinks.github.transport import GitHub
from shared.sinks.http import Sender
from shared.sinks.jira.render import adf
from shared.sinks.jira.transport import Jira
from shared.sinks.pagerduty.transport import PagerDuty
from shared.sinks.servicenow.transport import ServiceNow
from tests.delivery.conftest import FakeServices, failure_event, hostile_outcome, outcome_of
from tests.support.clock import FakeClock
from tests.support.messages import say


def _sender(clock: FakeClock) -> Sender:
    return Sender("test", clock=clock, rng=random.Random(3))


def _texts(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["text"]] if node.get("type") == "text" else []
        return found + [t for v in node.values() for t in _texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in _texts(v)]
    return []


def test_adf_is_a_valid_document_with_no_empty_text() -> None:
    doc = adf(pieces(say(Notice("failure", outcome_of(failure_event(1))))))
    assert doc["type"] == "doc" and doc["version"] == 1
    assert all(t for t in _texts(doc))
    kinds = {n["type"] for n in doc["content"]}
    assert {"heading", "paragraph", "orderedList", "codeBlock", "bulletList"} <= kinds


def test_jira_opens_comments_and_resolves(services: FakeServices, clock: FakeClock) -> None:
    jira = Jira("jira", services.url + "/jira", "OPS", _sender(clock), email="ops@example.com",
                api_token="jira-token", labels=["backup failure"])
    outcome = outcome_of(failure_event(1))
    receipt = jira.send(say(Notice("failure", outcome, fingerprint="fp-1")), None)
    key = receipt["key"]
    issue = services.issues[key]
    assert issue["fields"]["project"] == {"key": "OPS"} and issue["fields"]["issuetype"] == {"name": "Task"}
    assert "backup-failure" in issue["fields"]["labels"] and "cause-aws.kms.key-access" in issue["fields"]["labels"]
    assert len(issue["fields"]["summary"]) <= 255
    jira.send(say(Notice("repeat", outcome, count=3)), receipt)
    assert "Failed again (3 times" in " ".join(_texts(issue["comments"][-1]))
    resolved = jira.send(say(Notice("recovered", outcome)), receipt)
    assert resolved["resolved"] == "true" and issue["status"] == "Done"
    assert "Recovered" in " ".join(_texts(issue["comments"][-1]))


def test_jira_long_summary_is_cut(services: FakeServices, clock: FakeClock) -> None:
    jira = Jira("jira", services.url + "/jira", "OPS", _sender(clock), email="ops@example.com", api_token="jira-token")
    receipt = jira.send(say(Notice("failure", hostile_outcome(steps=5, message_size=50_000))), None)
    assert receipt["key"].startswith("OPS-")


def test_jira_bad_credentials_fail_without_retry(services: FakeServices, clock: FakeClock) -> None:
    jira = Jira("jira", services.url + "/jira", "OPS", _sender(clock), email="ops@example.com", api_token="wrong")
    with pytest.raises(DeliveryError) as caught:
        jira.send(say(Notice("failure", outcome_of(failure_event(1)))), None)
    assert not caught.value.retryable and "wrong" not in str(caught.value)


def test_servicenow_incident_work_notes_and_resolution(services: FakeServices, clock: FakeClock) -> None:
    sn = ServiceNow("sn", services.url + "/sn", _sender(clock), username="svc-backup", password="sn-password",
                    assignment_group="Backup Ops")
    outcome = outcome_of(failure_event(1))
    receipt = sn.send(say(Notice("failure", outcome, fingerprint="fp-abc")), None)
    record = services.issues[receipt["sys_id"]]
    assert record["number"] == receipt["number"] and record["correlation_id"] == "fp-abc"
    assert len(record["short_description"]) <= 160 and record["urgency"] == "2"
    assert "Fix" not in record["short_description"] and "1. " in record["description"]
    sn.send(say(Notice("repeat", outcome, count=2)), receipt)
    assert "Failed again" in record["work_notes_log"][-1]
    sn.send(say(Notice("recovered", outcome)), receipt)
    assert record["state"] == "6" and record["close_code"] == "Solution provided" and record["close_notes"]


CODE_TAGS = ("[code]<img src=x onerror=alert(1)>[/code]", "[CODE]<a href='https://evil.example'>fix</a>[/CODE]",
             "[ code ]<script>x()</script>[ /code ]")
_CODE_TAG = re.compile(r"\[\s*/?\s*code\s*\]", re.I)


@pytest.mark.parametrize("hostile", CODE_TAGS)
def test_servicenow_never_passes_a_code_tag_through(hostile: str, services: FakeServices,
                                                    clock: FakeClock) -> None:
    """ServiceNow renders [code]...[/code] in work notes as raw HTML: the tags reach it broken."""
    sn = ServiceNow("sn", services.url + "/sn", _sender(clock), username="svc-backup", password="sn-password")
    outcome = outcome_of(failure_event(1, resource=f"arn:aws:rds:us-west-2:111122223333:db:{hostile}",
                                       message="The source snapshot KMS key does not exist " + hostile))
    receipt = sn.send(say(Notice("failure", outcome, fingerprint="fp-abc")), None)
    sn.send(say(Notice("repeat", outcome, count=2)), receipt)
    sn.send(say(Notice("recovered", outcome)), receipt)
    record = services.issues[receipt["sys_id"]]
    sent = [record["short_description"], record["description"], record["close_notes"], *record["work_notes_log"]]
    assert any("onerror" in t or "evil.example" in t or "script" in t for t in sent)  # the text is still shown
    assert not [t for t in sent if _CODE_TAG.search(t)]


def test_pagerduty_trigger_dedup_and_resolve(services: FakeServices, clock: FakeClock) -> None:
    pd = PagerDuty("pd", "R0UTINGKEY0000000000000000000000", _sender(clock), services.url + "/pd/v2/enqueue")
    outcome = outcome_of(failure_event(1))
    receipt = pd.send(say(Notice("failure", outcome, fingerprint="fp-123")), None)
    assert receipt == {"dedup_key": "fp-123"}
    event = services.to("/pd")[-1].json()
    assert event["payload"]["severity"] == "error" and event["payload"]["class"] == "aws.kms.key-access"
    assert event["links"] and event["client"] == "backup-responder"
    group = GroupInfo("g", "aws", "aws.kms.key-access", "t", "copy", 40, 20, ["a"], 0, 600)
    pd.send(say(Notice("digest", outcome, group)), receipt)
    assert services.issues["pd:fp-123"]["triggers"] == 2  # the same alert, updated
    pd.send(say(Notice("recovered", outcome)), receipt)
    assert services.issues["pd:fp-123"]["status"] == "resolved"
    assert services.to("/pd")[-1].json() == {"routing_key": "R0UTINGKEY0000000000000000000000",
                                             "event_action": "resolve", "dedup_key": "fp-123"}


def test_pagerduty_invalid_event_is_not_retried(services: FakeServices, clock: FakeClock) -> None:
    pd = PagerDuty("pd", "bad-key", _sender(clock), services.url + "/pd/v2/enqueue")
    with pytest.raises(DeliveryError) as caught:
        pd.send(say(Notice("failure", outcome_of(failure_event(1)), fingerprint="fp")), None)
    assert not caught.value.retryable and len(services.to("/pd")) == 1


def test_github_issue_comment_and_close(services: FakeServices, clock: FakeClock) -> None:
    gh = GitHub("gh", "acme/backup-ops", "ghp-test-token", _sender(clock), api_url=services.url + "/gh")
    outcome = hostile_outcome()
    receipt = gh.send(say(Notice("failure", outcome)), None)
    issue = services.issues[f"gh:{receipt['number']}"]
    assert issue["labels"] == ["backup-failure"] and issue["title"]
    outside_code = re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?\n\1$", "", issue["body"])
    assert "<!channel>" in issue["body"]  # the message is kept, inside a fence
    assert re.search(r"@(?!\u200b)", outside_code) is None  # no @mention
    assert re.search(r"(?<!\\)<img", outside_code) is None  # no raw HTML
    assert "\\[click\\]\\(https://evil.example\\)" in outside_code  # no disguised link
    gh.send(say(Notice("repeat", outcome, count=2)), receipt)
    gh.send(say(Notice("recovered", outcome)), receipt)
    assert issue["state"] == "closed" and issue["state_reason"] == "completed" and len(issue["comments"]) == 2


def test_github_rate_limit_waits_for_reset(services: FakeServices, clock: FakeClock) -> None:
    reset = str(int(clock.time()) + 20)
    services.fail("/gh", (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}, b'{"message": "API rate limit"}'))
    gh = GitHub("gh", "acme/backup-ops", "ghp-test-token", _sender(clock), api_url=services.url + "/gh")
    assert gh.send(say(Notice("failure", outcome_of(failure_event(1)))), None)["number"]
    assert clock.slept[0] == pytest.approx(20, abs=1)


def test_github_markdown_escaping() -> None:
    assert escape("@team <b>#1</b> [x](y)") == "@\u200bteam \\<b\\>\\#1\\</b\\> \\[x\\]\\(y\\)"
    assert fence("a ``` b").startswith("````\n")
