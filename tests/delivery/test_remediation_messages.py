"""Every sink says what auto-remediation decided: Slack (Block Kit, with "Apply fix" for a fix that
waits for approval), Teams (Adaptive Card 1.5, "Apply fix" as a signed link), Jira, ServiceNow,
PagerDuty and GitHub (the headline and the audit id). The decisions come from the real engine with a
scripted remediator; hostile text in a reason, a note or a diff stays text everywhere."""

from __future__ import annotations

import json
import random
import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from slack_sdk.models.blocks import Block

from shared.approval import APPLY_ACTION_ID, APPLY_BUTTON_TEXT, TeamsApprovalLink, teams_approval_url
from shared.models import Outcome, RemediationSummary
from shared.notify.config import parse_config
from shared.notify.notice import GroupInfo, Notice
from shared.remediation.changes import RemediationRefused
from shared.remediation.render import MAX_DIFF_LINES
from shared.settings import Settings
from shared.sinks.document import pieces, plain
from shared.sinks.github.transport import GitHub
from shared.sinks.http import Sender
from shared.sinks.jira.transport import Jira
from shared.sinks.pagerduty.transport import PagerDuty
from shared.sinks.servicenow.render import ServiceNowLimits
from shared.sinks.servicenow.transport import ServiceNow
from shared.sinks.slack.render import (
    REMEDIATION_ACTIONS_BLOCK_ID,
    REMEDIATION_BLOCK_ID,
    SlackLimits,
    build_message,
)
from shared.sinks.slack.transport import SlackWebhook
from shared.sinks.teams.render import TeamsLimits, build_payload, payload_size
from shared.sinks.teams.transport import TeamsWorkflow
from shared.state import MemoryStore
from shared.wiring import approval_link, build_responder
from tests.conftest import load_event
from tests.delivery.conftest import HOSTILE, FakeServices, config_for, hostile_outcome
from tests.delivery.test_teams import card_errors, card_of, walk
from tests.remediation.conftest import SEED004, SEED004_DECODED, config, engine, outcome_of, pipeline
from tests.remediation.fakes import FakeRemediator
from tests.support.clock import FakeClock
from tests.support.messages import say

APPLIED = ("Applied: added iam:PassRole on role AmazonSSMRoleForInstancesQuickSetup to role "
           "AWSBackupDefaultServiceRole")
PLANNED = "Dry run: would add iam:PassRole on role AmazonSSMRoleForInstancesQuickSetup to role AWSBackupDefaultServiceRole"
REFUSAL = ("the job ran with role AWSBackupRestoreRole, but the decoded message names AWSBackupDefaultServiceRole; "
           "a person must check which role to change")
LINK = TeamsApprovalLink("https://func-backup.azurewebsites.net/api", "link-secret-for-tests")
ALLOW = config(allow=[{"cause": "aws.iam.pass-role"}], approval={"slack_users": ["U0123ABCD"]})


def decided(kind: str) -> Outcome:
    """Seed 004 (the EC2 restore that may not pass its instance role) after the real engine decided:
    ``applied`` (mode on), ``planned`` (dry-run, approvable in chat) or ``refused`` (a person must look)."""
    fake = FakeRemediator(plan_error=RemediationRefused(REFUSAL) if kind == "refused" else None)
    outcome = engine(ALLOW, "dry-run" if kind == "planned" else "on", [fake]).run(
        outcome_of(SEED004, decoded=SEED004_DECODED))
    assert outcome.remediation is not None and outcome.remediation.action == kind
    return outcome


def hostile_decision(action: str = "refused") -> Outcome:
    """A decision whose every untrusted field (change, reason, notes, diff) tries to mention
    everyone and disguise a link."""
    summary = RemediationSummary(
        mode="dry-run" if action == "planned" else "on", action=action,  # type: ignore[arg-type]
        reason=f"the policy of {HOSTILE} changed", change=f"add iam:PassRole on role {HOSTILE}",
        diff=f"--- a\n+++ b\n+    \"Resource\": \"{HOSTILE}\"\n-    old <!everyone>", needs_person=action == "refused",
        approval_id="appr-1" if action == "planned" else None, audit_id="audit-hostile", notes=[HOSTILE])
    return hostile_outcome().model_copy(update={"remediation": summary})


# ------------------------------------------------------------------------------------------ Slack
def slack_texts(message: dict[str, Any]) -> list[str]:
    """Every text of a Slack message: the fallback, sections, fields and context elements."""
    texts = [message["text"]]
    for block in message["blocks"]:
        if isinstance(block.get("text"), dict):
            texts.append(block["text"]["text"])
        texts += [item["text"] for item in block.get("fields", [])]
        texts += [item["text"] for item in block.get("elements", []) if isinstance(item.get("text"), str)]
    return texts


def block(message: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b for b in message["blocks"] if b.get("block_id") == block_id)


def test_slack_says_what_was_applied() -> None:
    outcome = decided("applied")
    message = build_message(say(Notice("failure", outcome)))
    section = block(message, REMEDIATION_BLOCK_ID)["text"]["text"]
    assert APPLIED in section and "A person must look" not in section
    assert APPLIED in message["text"]  # the notification and screen readers say it too
    code = next(t for t in slack_texts(message) if t.startswith("*The change (auto-remediation)*"))
    assert code.count("```") == 2 and '+      "Action": "iam:PassRole",' in code
    assert any(outcome.remediation.audit_id in t for t in slack_texts(message))  # type: ignore[union-attr, operator]
    assert not any(b.get("block_id") == REMEDIATION_ACTIONS_BLOCK_ID for b in message["blocks"])
    # the decision comes before the long details, right after what failed
    ids = [b.get("block_id") for b in message["blocks"]]
    assert ids.index(REMEDIATION_BLOCK_ID) < [b["type"] for b in message["blocks"]].index("divider")


def test_slack_dry_run_shows_the_diff_and_the_apply_button() -> None:
    outcome = decided("planned")
    message = build_message(say(Notice("failure", outcome)))
    assert PLANNED in block(message, REMEDIATION_BLOCK_ID)["text"]["text"]
    assert PLANNED in message["text"]
    code = next(t for t in slack_texts(message) if t.startswith("*The change (auto-remediation)*"))
    assert "+      &quot;" not in code and '"Resource": "arn:aws:iam::111122223333:role/AmazonSSMRoleForInstancesQuickSetup"' \
        in code
    (button,) = block(message, REMEDIATION_ACTIONS_BLOCK_ID)["elements"]
    assert button["action_id"] == APPLY_ACTION_ID and button["text"]["text"] == APPLY_BUTTON_TEXT
    assert button["value"] == outcome.remediation.approval_id  # type: ignore[union-attr]
    assert button["confirm"]  # a confirmation dialog before anything changes
    for b in message["blocks"]:
        Block.parse(b).validate_json()  # type: ignore[union-attr]


def test_slack_planned_fix_without_approvers_has_no_button() -> None:
    outcome = decided("planned")
    outcome = outcome.model_copy(update={"remediation": outcome.remediation.model_copy(  # type: ignore[union-attr]
        update={"approval_id": None})})
    message = build_message(say(Notice("failure", outcome)))
    assert PLANNED in message["text"]
    assert not any(b.get("block_id") == REMEDIATION_ACTIONS_BLOCK_ID for b in message["blocks"])


def test_slack_refusal_gives_the_reason_and_warns() -> None:
    message = build_message(say(Notice("failure", decided("refused"))))
    section = block(message, REMEDIATION_BLOCK_ID)["text"]["text"]
    assert f"Not applied because {REFUSAL}" in section
    assert "A person must look at this: automation stopped here." in section
    assert "Not applied because" in message["text"] and "A person must look at this." in message["text"]
    assert not any(t.startswith("*The change (auto-remediation)*") for t in slack_texts(message))  # nothing was planned: no diff


@pytest.mark.parametrize("action", ["refused", "planned"])
def test_slack_hostile_decision_cannot_mention_or_link(action: str) -> None:
    message = build_message(say(Notice("failure", hostile_decision(action))))
    for text in slack_texts(message):
        assert "<!channel>" not in text and "<!here>" not in text and "<!everyone>" not in text
        assert "<https://evil" not in text and "|Click to fix>" not in text
    section = block(message, REMEDIATION_BLOCK_ID)["text"]["text"]
    assert "&lt;!channel&gt;" in section  # shown, harmless
    code = [t for t in slack_texts(message) if t.startswith("*The change (auto-remediation)*")]
    if action == "planned":
        assert "&lt;!everyone&gt;" in code[0] and code[0].count("```") == 2  # the fence in HOSTILE cannot close it


def test_slack_limits_hold_with_a_long_diff_and_a_huge_failure() -> None:
    lines = [f"+  \"Sid\": \"{'s' * 180}{i}\" <!channel> &" for i in range(MAX_DIFF_LINES + 20)]
    outcome = decided("planned")
    summary = outcome.remediation.model_copy(  # type: ignore[union-attr]
        update={"diff": "\n".join(lines), "notes": [f"note {i} " + "n" * 4000 for i in range(15)],
                "change": "add " + "<x> " * 1500})
    big = hostile_outcome(steps=120, message_size=20_000).model_copy(update={"remediation": summary})
    message = build_message(say(Notice("failure", big)))
    section = block(message, REMEDIATION_BLOCK_ID)["text"]["text"]
    assert 'An approver can make this change with "Apply fix".' in section  # the hint survives the cut
    assert len(message["blocks"]) <= SlackLimits.MAX_BLOCKS
    for b in message["blocks"]:
        if b["type"] == "section":
            assert len(b.get("text", {}).get("text", "")) <= SlackLimits.MAX_SECTION_TEXT
        if b["type"] == "context":
            assert len(b["elements"]) <= SlackLimits.MAX_CONTEXT_ELEMENTS
        Block.parse(b).validate_json()  # type: ignore[union-attr]
    code = next(t for t in slack_texts(message) if t.startswith("*The change (auto-remediation)*"))
    assert "cut here: the audit record has all of it" in code and code.endswith("```")
    assert block(message, REMEDIATION_ACTIONS_BLOCK_ID)  # the button survives the cut
    assert len(message["text"]) <= SlackLimits.MAX_TEXT


def test_a_diff_cut_inside_one_long_line_never_leaves_half_an_entity() -> None:
    planned = decided("planned")
    summary = planned.remediation.model_copy(update={"diff": "+" + "a" * 2936 + "<" * 40})  # type: ignore[union-attr]
    message = build_message(say(Notice("failure", planned.model_copy(update={"remediation": summary}))))
    code = next(t for t in slack_texts(message) if t.startswith("*The change (auto-remediation)*"))
    assert len(code) <= SlackLimits.MAX_SECTION_TEXT and "cut here" in code
    body = code.split("```\n", 1)[1]
    assert re.search(r"(a|&lt;)\n… \(cut", body) is not None  # whole characters only before the note


def test_storm_messages_carry_the_decision_and_digests_do_not() -> None:
    outcome = decided("applied")
    group = GroupInfo("g1", "aws", outcome.finding.cause, outcome.finding.title, "restore", 5, 5, ["a"], 0, 600)
    assert APPLIED in json.dumps(build_message(say(Notice("group", outcome, group))))
    assert APPLIED not in json.dumps(build_message(say(Notice("digest", outcome, group))))
    assert APPLIED not in json.dumps(build_message(say(Notice("recovered", outcome))))


def test_slack_webhook_accepts_the_message(services: FakeServices, clock: FakeClock) -> None:
    hook = SlackWebhook("slack", services.url + "/slack/T0/B0/x", Sender("slack", clock=clock, rng=random.Random(1)))
    hook.send(say(Notice("failure", hostile_decision("planned"))), None)
    raw = services.to("/slack")[-1].body.decode()
    assert services.to("/slack")[-1].status == 200
    assert "<!channel>" not in raw and "<!everyone>" not in raw and "appr-1" in raw


# ------------------------------------------------------------------------------------------ Teams
def runs(card: dict[str, Any]) -> str:
    return " ".join(n["text"] for n in walk(card) if n.get("type") in ("TextRun", "TextBlock"))


def valid(payload: dict[str, Any]) -> dict[str, Any]:
    card = card_of(payload)
    assert not card_errors(card)
    assert payload_size(payload) <= TeamsLimits.MAX_PAYLOAD_BYTES - TeamsLimits.SAFETY_BYTES
    return card


def test_teams_says_what_was_applied() -> None:
    card = valid(build_payload(say(Notice("failure", decided("applied"))), LINK))
    assert APPLIED in runs(card)
    assert any(n.get("fontType") == "Monospace" and '"Action": "iam:PassRole"' in n["text"] for n in walk(card))
    assert all(a["title"] != APPLY_BUTTON_TEXT for a in card["actions"])  # nothing waits for approval


def test_teams_dry_run_has_the_diff_and_a_signed_apply_link() -> None:
    outcome = decided("planned")
    card = valid(build_payload(say(Notice("failure", outcome)), LINK))
    assert PLANNED in runs(card)
    diff = next(n for n in walk(card) if n.get("fontType") == "Monospace" and "iam:PassRole" in n["text"])
    assert diff["type"] == "TextRun"  # never Markdown
    apply = card["actions"][0]
    approval_id = outcome.remediation.approval_id  # type: ignore[union-attr]
    assert apply == {"type": "Action.OpenUrl", "title": APPLY_BUTTON_TEXT,
                     "url": teams_approval_url(LINK.base_url, approval_id, LINK.secret)}  # type: ignore[arg-type]
    assert parse_qs(urlparse(apply["url"]).query)["id"] == [approval_id]
    assert len(card["actions"]) <= TeamsLimits.MAX_ACTIONS
    assert LINK.secret not in json.dumps(card)


def test_teams_without_the_approval_settings_offers_no_apply() -> None:
    card = valid(build_payload(say(Notice("failure", decided("planned")))))
    assert PLANNED in runs(card)
    assert all(a["title"] != APPLY_BUTTON_TEXT for a in card["actions"])


def test_teams_refusal_gives_the_reason_and_warns() -> None:
    card = valid(build_payload(say(Notice("failure", decided("refused"))), LINK))
    assert f"Not applied because {REFUSAL}" in runs(card)
    warning = next(n for n in walk(card) if n.get("type") == "TextBlock" and "A person must look" in n["text"])
    assert warning["color"] == "Attention"


@pytest.mark.parametrize("action", ["refused", "planned"])
def test_teams_hostile_decision_stays_text(action: str) -> None:
    card = valid(build_payload(say(Notice("failure", hostile_decision(action))), LINK))
    for node in walk(card):
        if node.get("type") == "TextBlock":
            assert "evil" not in node["text"] and "<at>" not in node["text"] and "<!" not in node["text"]
    text_runs = [n["text"] for n in walk(card) if n.get("type") == "TextRun"]
    assert any(HOSTILE in t and t.startswith(("Not applied", "Dry run")) for t in text_runs)  # the headline
    assert card["msteams"] == {"width": "Full"}  # no mention entities


def test_teams_card_with_a_long_diff_and_a_huge_failure_stays_valid_and_small() -> None:
    outcome = decided("planned")
    summary = outcome.remediation.model_copy(  # type: ignore[union-attr]
        update={"diff": "\n".join(f"+  {'x' * 400}" for _ in range(MAX_DIFF_LINES)), "notes": ["n" * 3000] * 10})
    huge = hostile_outcome(steps=200, message_size=60_000).model_copy(update={"remediation": summary})
    card = valid(build_payload(say(Notice("failure", huge)), LINK))
    assert "Dry run: would add" in runs(card)  # the decision survives the cuts
    assert card["actions"][0]["title"] == APPLY_BUTTON_TEXT


def test_teams_workflow_posts_the_apply_link(services: FakeServices, clock: FakeClock) -> None:
    teams = TeamsWorkflow("teams", services.url + "/teams/w/sig", Sender("teams", clock=clock), LINK)
    assert teams.send(say(Notice("failure", decided("planned"))), None) == {"status": "202"}
    body = services.to("/teams")[-1].json()
    assert card_of(body)["actions"][0]["title"] == APPLY_BUTTON_TEXT


def test_approval_link_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cr3t-approval-value"
    settings = Settings.from_env({"RESPONDER_APPROVAL_BASE_URL": "https://func.example/api",
                                  "RESPONDER_APPROVAL_SECRET": secret})
    assert secret not in repr(settings) and secret not in settings.model_dump_json() and secret not in str(settings)
    link = approval_link(settings)
    assert link is not None and link.base_url == "https://func.example/api" and secret not in repr(link)
    monkeypatch.setenv("APPROVAL_KEY", secret)
    by_reference = Settings(approval_base_url="https://func.example/api", approval_secret="env:APPROVAL_KEY")  # type: ignore[arg-type]
    assert approval_link(by_reference) == link  # a reference is resolved like every secret
    assert approval_link(Settings(approval_base_url="https://func.example/api")) is None  # no secret: no link
    assert approval_link(Settings(approval_base_url="http://evil.example/api",  # not https: no link
                                  approval_secret=secret)) is None  # type: ignore[arg-type]
    assert approval_link(Settings(approval_base_url="https://f.example/api",
                                  approval_secret="env:NOT_SET_ANYWHERE")) is None  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ tickets
def adf_text(node: object) -> str:
    if isinstance(node, dict):
        own = node["text"] if node.get("type") == "text" else ""
        return own + " " + " ".join(adf_text(v) for v in node.values())
    if isinstance(node, list):
        return " ".join(adf_text(v) for v in node)
    return ""


def _sender(clock: FakeClock) -> Sender:
    return Sender("test", clock=clock, rng=random.Random(3))


@pytest.mark.parametrize(("kind", "headline"), [("applied", APPLIED), ("planned", PLANNED),
                                                ("refused", f"Not applied because {REFUSAL}")])
def test_jira_description_has_the_headline_and_the_audit_id(services: FakeServices, clock: FakeClock,
                                                            kind: str, headline: str) -> None:
    outcome = decided(kind)
    jira = Jira("jira", services.url + "/jira", "OPS", _sender(clock), email="ops@example.com", api_token="jira-token")
    receipt = jira.send(say(Notice("failure", outcome)), None)
    description = services.issues[receipt["key"]]["fields"]["description"]
    text = adf_text(description)
    assert headline in text and f"Audit record: {outcome.remediation.audit_id}" in text  # type: ignore[union-attr]
    diff_blocks = [n for n in description["content"] if n["type"] == "codeBlock" and n.get("attrs") == {"language": "diff"}]
    assert bool(diff_blocks) == (kind != "refused")  # the change, when there is one
    assert ("A person must look at this" in text) == (kind == "refused")
    jira.send(say(Notice("repeat", outcome, count=2)), receipt)  # a recurrence comments with the decision
    assert headline in adf_text(services.issues[receipt["key"]]["comments"][-1])


def ticket_text(services: FakeServices, clock: FakeClock, sink: str, outcome: Outcome) -> str:
    """What a new ticket (issue, incident, alert) says about a failure, as the fake service kept it."""
    notice = Notice("failure", outcome, fingerprint=f"fp-{sink}-{outcome.remediation.action}")  # type: ignore[union-attr]
    if sink == "jira":
        jira = Jira("jira", services.url + "/jira", "OPS", _sender(clock), email="ops@example.com",
                    api_token="jira-token")
        return adf_text(services.issues[jira.send(say(notice), None)["key"]]["fields"]["description"])
    if sink == "servicenow":
        sn = ServiceNow("sn", services.url + "/sn", _sender(clock), username="svc-backup", password="sn-password")
        return str(services.issues[sn.send(say(notice), None)["sys_id"]]["description"])
    if sink == "pagerduty":
        PagerDuty("pd", "R0UTINGKEY0000000000000000000000", _sender(clock), services.url + "/pd/v2/enqueue").send(
            say(notice), None)
        details = services.to("/pd")[-1].json()["payload"]["custom_details"]["auto_remediation"]
        return "\n".join(str(v) for v in details.values())
    gh = GitHub("gh", "acme/backup-ops", "ghp-test-token", _sender(clock), api_url=services.url + "/gh")
    return str(services.issues[f"gh:{gh.send(say(notice), None)['number']}"]["body"])


@pytest.mark.parametrize("sink", ["jira", "servicenow", "pagerduty", "github"])
@pytest.mark.parametrize(("kind", "headline"), [("applied", APPLIED), ("planned", PLANNED),
                                                ("refused", f"Not applied because {REFUSAL}")])
def test_every_ticket_sink_shows_each_decision(services: FakeServices, clock: FakeClock, sink: str, kind: str,
                                               headline: str) -> None:
    outcome = decided(kind)
    text = ticket_text(services, clock, sink, outcome)
    if sink == "github":
        text = text.replace("\\", "")  # Markdown escapes (of "." and ":") aside
    assert headline in text
    assert outcome.remediation.audit_id in text  # type: ignore[union-attr, operator]
    diff_line = '+      "Sid": "AllowBackupToPass"'  # the diff of the change, when there is one
    assert (diff_line in text) == (kind != "refused")
    assert ("A person must look at this" in text) == (kind == "refused")


def test_servicenow_keeps_the_headline_and_audit_id_within_its_limit(services: FakeServices,
                                                                    clock: FakeClock) -> None:
    outcome = decided("applied")
    huge = hostile_outcome(steps=30, message_size=20_000).model_copy(update={"remediation": outcome.remediation})
    sn = ServiceNow("sn", services.url + "/sn", _sender(clock), username="svc-backup", password="sn-password")
    receipt = sn.send(say(Notice("failure", huge)), None)
    record = services.issues[receipt["sys_id"]]
    assert len(record["description"]) <= ServiceNowLimits.MAX_DESCRIPTION
    assert APPLIED in record["description"]
    assert f"Audit record: {outcome.remediation.audit_id}" in record["description"]  # type: ignore[union-attr]
    sn.send(say(Notice("repeat", outcome, count=3)), receipt)
    assert APPLIED in record["work_notes_log"][-1]


def test_pagerduty_custom_details_carry_the_decision(services: FakeServices, clock: FakeClock) -> None:
    outcome = decided("planned")
    pd = PagerDuty("pd", "R0UTINGKEY0000000000000000000000", _sender(clock), services.url + "/pd/v2/enqueue")
    pd.send(say(Notice("failure", outcome, fingerprint="fp-1")), None)
    details = services.to("/pd")[-1].json()["payload"]["custom_details"]["auto_remediation"]
    assert details["decision"] == PLANNED and details["action"] == "planned" and details["mode"] == "dry-run"
    assert details["audit_id"] == outcome.remediation.audit_id  # type: ignore[union-attr]
    assert "iam:PassRole" in details["diff"] and "Apply fix" in details["approval"]
    refused = PagerDuty("pd", "R0UTINGKEY0000000000000000000000", _sender(clock), services.url + "/pd/v2/enqueue")
    refused.send(say(Notice("failure", decided("refused"), fingerprint="fp-2")), None)
    details = services.to("/pd")[-1].json()["payload"]["custom_details"]["auto_remediation"]
    assert details["decision"] == f"Not applied because {REFUSAL}" and details["needs_person"]


def test_github_issue_has_the_decision_and_hostile_text_stays_inert(services: FakeServices,
                                                                   clock: FakeClock) -> None:
    gh = GitHub("gh", "acme/backup-ops", "ghp-test-token", _sender(clock), api_url=services.url + "/gh")
    applied = decided("applied")
    issue = services.issues[f"gh:{gh.send(say(Notice('failure', applied)), None)['number']}"]
    assert "Applied: added iam:PassRole on role AmazonSSMRoleForInstancesQuickSetup" in issue["body"]
    assert f"Audit record: {applied.remediation.audit_id}" in issue["body"]  # type: ignore[union-attr]
    assert "```diff\n" in issue["body"]
    hostile = services.issues[f"gh:{gh.send(say(Notice('failure', hostile_decision('refused'))), None)['number']}"]
    outside_code = re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?\n\1$", "", hostile["body"])
    assert "the policy of" in outside_code  # the reason is there...
    assert re.search(r"@(?!\u200b)", outside_code) is None  # ...without a mention
    assert re.search(r"(?<!\\)<(img|!channel)", outside_code) is None  # ...or raw HTML
    assert "\\[click\\]\\(https://evil.example\\)" in outside_code  # ...or a disguised link


def test_ticket_text_puts_the_decision_first_and_the_diff_after_the_fix() -> None:
    outcome = decided("planned")
    text = plain(pieces(say(Notice("failure", outcome))))
    assert text.index(PLANNED) < text.index("WHAT FAILED") < text.index("FIX") < text.index("+      \"Action\"")
    assert PLANNED in plain(pieces(say(Notice("repeat", outcome, count=2)), compact=True))
    assert PLANNED not in plain(pieces(say(Notice("digest", outcome))))


# ------------------------------------------------------------------------------------------ wired
def test_the_responder_runs_the_engine_and_every_sink_says_so(services: FakeServices, clock: FakeClock) -> None:
    """``build_responder(remediators=...)``: the engine gets the configuration's remediation section
    (no second read of the file), and Slack, Teams, Jira, PagerDuty and GitHub all get the decision."""
    raw = config_for(services, remediation={"allow": [{"cause": "aws.iam.pass-role"}],
                                            "approval": {"slack_users": ["U0123ABCD"]}})
    raw["sinks"] = {k: v for k, v in raw["sinks"].items() if k in ("slack", "teams", "jira", "pagerduty", "github")}
    cfg = parse_config(raw)
    settings = Settings(auto_remediate="dry-run", approval_base_url="https://func.example/api",
                        approval_secret="link-secret-for-tests")  # type: ignore[arg-type]
    fake = FakeRemediator()
    responder = build_responder(settings, state=MemoryStore(clock.time), clock=clock, config=cfg,
                                   remediators=[fake])
    assert responder.remediation is not None and responder.remediation.config is cfg.remediation
    responder.pipeline = pipeline(decoded=SEED004_DECODED)  # stands in for STS DecodeAuthorizationMessage
    report = responder.handle(load_event(SEED004))
    assert report.outcome.remediation is not None and report.outcome.remediation.action == "planned"
    approval_id = report.outcome.remediation.approval_id
    assert approval_id and responder.remediation.pending(approval_id) is not None and not fake.applied
    slack = services.to("/slack")[-1].json()
    assert PLANNED in slack["text"] and approval_id in json.dumps(slack["blocks"])
    teams = card_of(services.to("/teams")[-1].json())
    assert teams["actions"][0]["url"] == teams_approval_url("https://func.example/api", approval_id,
                                                            "link-secret-for-tests")
    assert PLANNED in adf_text(next(iter(v for k, v in services.issues.items()
                                        if k.startswith("OPS-")))["fields"]["description"])
    assert services.to("/pd")[-1].json()["payload"]["custom_details"]["auto_remediation"]["decision"] == PLANNED
    assert PLANNED in next(v for k, v in services.issues.items() if k.startswith("gh:"))["body"]
    assert all("link-secret-for-tests" not in r.body.decode() for r in services.received)


def test_without_remediators_or_with_the_switch_off_nothing_runs() -> None:
    cfg = parse_config({"remediation": {"allow": [{"cause": "aws.iam.pass-role"}]}})
    assert build_responder(Settings(auto_remediate="on"), config=cfg).remediation is None
    assert build_responder(Settings(auto_remediate="off"), config=cfg, remediators=[FakeRemediator()]).remediation \
        is None
    capped = parse_config({"remediation": {"mode": "off", "allow": [{"cause": "aws.iam.pass-role"}]}})
    assert build_responder(Settings(auto_remediate="on"), config=capped, remediators=[FakeRemediator()]).remediation \
        is None
