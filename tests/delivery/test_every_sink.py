"""What a person needs reaches every sink, as each service received it: Slack (incoming webhook and
Web API), Teams, Jira, ServiceNow, GitHub, PagerDuty, the console and the outbox. The sinks are built
from a configuration (``build_destinations``) and post to the fake services; each test reads back
what the fake service, the console stream or the outbox file got.

The points: the lookup command of a value the event lacked; the encoded authorization message (an
excerpt once decoded, else the decode command whole in one code block); no wrapping in the console;
one language per message (and English documentation for an English message, links named for what
they open); compact storm updates (a thread reply or an edit on the Web API); full-width Teams cards."""

from __future__ import annotations

import io
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shared.models import Outcome
from shared.notify.config import parse_config
from shared.notify.message import Message
from shared.notify.notice import GroupInfo, Notice
from shared.notify.words import WORDS
from shared.pipeline import Pipeline
from shared.sinks import BuildContext, build_destinations
from shared.sinks.local.transport import ConsoleSink, OutboxSink
from shared.vocab import NoticeKind
from tests.conftest import load_event
from tests.delivery.conftest import FakeServices, config_for
from tests.delivery.test_teams import card_of, walk
from tests.remediation.conftest import (
    SEED000_READER,
    SEED003_KMS,
    SEED004,
    SEED004_DECODED,
    outcome_of,
)
from tests.support.clock import FakeClock
from tests.support.messages import say

#: Every sink a failure reaches, as the tests below name them.
SINKS = ("slack", "slack-api", "teams", "jira", "servicenow", "github", "pagerduty", "console", "outbox")
CHAT = ("slack", "slack-api", "teams")

#: The decode command as the plan writes it for seed 004 (the whole of it is what must be pasted).
DECODE = re.compile(r"aws sts decode-authorization-message --encoded-message \S+ --query DecodedMessage "
                    r"--output text \| jq '\.'")


# --- delivering one notice to every sink ---------------------------------------------------------

@dataclass
class Delivered:
    """What each sink's service (or stream, or file) received for one notice, per sink name."""

    payloads: dict[str, Any] = field(default_factory=dict)
    #: The Web API calls, in order: (method, arguments).
    slack_api_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def raw(self, sink: str) -> str:
        """What the sink shows a person, as text (JSON's own escapes undone). The outbox's document
        also keeps the data it was made from (the failure as the provider sent it, the catalog's plan):
        only its message, text and notice are what a person reads."""
        payload = self.payloads[sink]
        if sink == "outbox":
            payload = {key: payload[key] for key in ("notice", "message", "text")}
        return payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)


def _unslack(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def slack_code_blocks(message: dict[str, Any]) -> list[str]:
    """The contents of every ``` block of a Slack message, one per section (a block never spans two)."""
    found = []
    for block in message["blocks"]:
        text = block.get("text", {}).get("text", "") if isinstance(block.get("text"), dict) else ""
        found += [_unslack(m) for m in re.findall(r"```\n(.*?)\n```", text, re.S)]
    return found


def teams_code_blocks(card: dict[str, Any]) -> list[str]:
    return [n["text"].replace("\u00a0", " ") for n in walk(card)
            if n.get("type") == "TextRun" and n.get("fontType") == "Monospace"]


def jira_code_blocks(doc: dict[str, Any]) -> list[str]:
    return ["".join(t["text"] for t in n["content"]) for n in walk(doc) if n.get("type") == "codeBlock"]


def github_code_blocks(body: str) -> list[str]:
    return [m.group(2) for m in re.finditer(r"(?ms)^(`{3,})[a-z]*\n(.*?)\n\1$", body)]


def code_blocks(delivered: Delivered, sink: str) -> list[str]:
    """Where a sink shows code: its code blocks; for the plain-text sinks (ServiceNow, PagerDuty's
    details, the console, the outbox's text), each line."""
    payload = delivered.payloads[sink]
    if sink in ("slack", "slack-api"):
        return slack_code_blocks(payload)
    if sink == "teams":
        return teams_code_blocks(payload)
    if sink == "jira":
        return jira_code_blocks(payload["fields"]["description"])
    if sink == "github":
        return github_code_blocks(payload["body"])
    text = {"servicenow": lambda: payload["description"], "pagerduty": lambda: payload["payload"]["custom_details"]
            ["details"], "console": lambda: payload, "outbox": lambda: payload["text"]}[sink]()
    return [line.strip() for line in text.splitlines()]


def titles(delivered: Delivered) -> dict[str, str]:
    """The header or title each sink shows first."""
    p = delivered.payloads
    return {"slack header": p["slack"]["blocks"][0]["text"]["text"], "slack text": p["slack"]["text"],
            "slack-api header": p["slack-api"]["blocks"][0]["text"]["text"], "slack-api text": p["slack-api"]["text"],
            "teams title": p["teams"]["body"][0]["items"][0]["inlines"][0]["text"],
            "teams fallbackText": p["teams"]["fallbackText"], "jira summary": p["jira"]["fields"]["summary"],
            "github title": p["github"]["title"], "servicenow short_description": p["servicenow"]["short_description"],
            "pagerduty summary": p["pagerduty"]["payload"]["summary"], "console": p["console"].splitlines()[0],
            "outbox": p["outbox"]["notice"]["title"]}


def link_labels(delivered: Delivered) -> dict[str, list[str]]:
    """The names of the links each sink shows."""
    p = delivered.payloads
    labels = {
        "slack": [e["text"]["text"] for b in p["slack"]["blocks"] if b["type"] == "actions" for e in b["elements"]],
        "teams": [a["title"] for a in p["teams"].get("actions", [])],
        "jira": [n["text"] for n in walk(p["jira"]["fields"]["description"])
                 if n.get("type") == "text" and any(m["type"] == "link" for m in n.get("marks", []))],
        "github": [re.sub(r"\\(.)", r"\1", label)  # GitHub's Markdown escapes undone
                   for label in re.findall(r"^- \[(.*?)\]\(<https://", p["github"]["body"], re.M)],
        "pagerduty": [link["text"] for link in p["pagerduty"].get("links", [])],
    }
    return labels


class Sinks:
    """Every sink of ``config_for`` built from its configuration on the fake clock, the console on a
    stream and the outbox in a folder."""

    def __init__(self, services: FakeServices, clock: FakeClock, folder: Path, **slack_api: Any) -> None:
        raw = config_for(services)
        raw["sinks"]["slack-api"].update(slack_api)
        self.services = services
        self.destinations = build_destinations(parse_config(raw), BuildContext(clock=clock, rng=random.Random(1)))
        self.stream = io.StringIO()
        self.console = ConsoleSink(self.stream)
        self.outbox = OutboxSink(folder)
        self.receipts: dict[str, Any] = {}

    def send(self, notice: Notice, language: str = "en", only: tuple[str, ...] = SINKS) -> Delivered:
        message = say(notice, language)
        services, before = self.services, len(self.services.received)
        for name in only:
            if name in self.destinations:
                self.receipts[name] = self.destinations[name].send(message, self.receipts.get(name))
        delivered = Delivered()
        sent = services.received[before:]
        for name, prefix in (("slack", "/slack/"), ("teams", "/teams/"), ("pagerduty", "/pd/")):
            if name in only:
                delivered.payloads[name] = [r for r in sent if r.target.startswith(prefix)][-1].json()
        if "teams" in delivered.payloads:
            delivered.payloads["teams"] = card_of(delivered.payloads["teams"])
        delivered.slack_api_calls = [(r.path.rsplit("/", 1)[-1], r.json()) for r in sent
                                     if r.target.startswith("/slackapi/")]
        if "slack-api" in only:
            delivered.payloads["slack-api"] = delivered.slack_api_calls[-1][1]
        receipts = self.receipts
        if "jira" in only and notice.kind in ("failure", "repeat"):
            delivered.payloads["jira"] = services.issues[receipts["jira"]["key"]]
        if "servicenow" in only and notice.kind in ("failure", "repeat"):
            delivered.payloads["servicenow"] = services.issues[receipts["servicenow"]["sys_id"]]
        if "github" in only and notice.kind in ("failure", "repeat"):
            delivered.payloads["github"] = services.issues[f"gh:{receipts['github']['number']}"]
        if "console" in only:
            start = self.stream.tell()
            self.console.write(notice, message)
            self.stream.seek(start)
            delivered.payloads["console"] = self.stream.read().rsplit("\n" + "-" * 100, 1)[0]
        if "outbox" in only:
            delivered.payloads["outbox"] = json.loads(Path(self.outbox.write(notice, message)).read_text("utf-8"))
        return delivered


@pytest.fixture
def sinks(services: FakeServices, clock: FakeClock, tmp_path: Path) -> Sinks:
    return Sinks(services, clock, tmp_path / "outbox")


def failure(outcome: Outcome) -> Notice:
    return Notice(NoticeKind.FAILURE, outcome, fingerprint=f"fp-{outcome.finding.cause}")


# --- 1. lookups ---------------------------------------------------------------------------------

@pytest.mark.parametrize("event,value,command", [
    (SEED000_READER, "vault_principal_id", "az dataprotection backup-vault show --resource-group rg-backup-prod "
                                          "--vault-name bv-pg-prod-01 --query identity.principalId -o tsv"),
    (SEED003_KMS, "kms_key_arn", "aws backup describe-recovery-point --backup-vault-name prod-cmk-vault "
                                 "--recovery-point-arn arn:aws:rds:us-west-2:111122223333:snapshot:awsbackup:"
                                 "job-5e0c3d2a-7b1f-4c8e-9a6d-2f4b8c1e7a90 --query EncryptionKeyArn --output text"),
])
def test_the_lookup_command_of_a_missing_value_reaches_every_sink(event: str, value: str, command: str,
                                                                  sinks: Sinks) -> None:
    outcome = outcome_of(event)
    assert outcome.plan is not None and outcome.plan.lookups == {value: command}  # the event lacks it
    delivered = sinks.send(failure(outcome))
    for sink in SINKS:
        blocks = code_blocks(delivered, sink)
        assert command in blocks, f"{sink} does not show the lookup of {value} as code of its own"
        assert "{" + value + "}" in delivered.raw(sink), f"{sink} does not name the value to fill in"


# --- 2. the encoded authorization message ---------------------------------------------------------

def test_once_decoded_no_sink_carries_the_encoded_blob(sinks: Sinks) -> None:
    outcome = outcome_of(SEED004, decoded=SEED004_DECODED)
    blob = outcome.failure.encoded_message
    assert blob and outcome.failure.decoded is not None
    delivered = sinks.send(failure(outcome))
    for sink in SINKS:
        raw = delivered.raw(sink)
        assert blob not in raw, f"{sink} still carries the encoded message"
        assert blob[:24] + "…" in raw and "decoded below" in raw, f"{sink} does not show the excerpt"
        assert "decode-authorization-message" not in raw, f"{sink} still asks to decode it"
        assert "AmazonSSMRoleForInstancesQuickSetup" in raw  # what the decoded message said


def longer(times: int) -> Outcome:
    """Seed 004 with its encoded message ``times`` as long (real ones run to a few thousand characters)."""
    event = load_event(SEED004)
    message = event["detail"]["statusMessage"]
    blob = outcome_of(SEED004).failure.encoded_message or ""
    event["detail"]["statusMessage"] = message.replace(blob, blob * times)
    return Pipeline().process(event)


@pytest.mark.parametrize("times", [1, 3])
def test_not_decoded_the_decode_command_is_whole_in_one_code_block_everywhere(times: int, sinks: Sinks) -> None:
    outcome = longer(times)
    blob = outcome.failure.encoded_message
    assert blob and outcome.failure.decoded is None and len(blob) > 600 * times
    delivered = sinks.send(failure(outcome))
    for sink in SINKS:
        blocks = code_blocks(delivered, sink)
        whole = [b for b in blocks if DECODE.search(b) and blob in b]
        assert len(whole) == 1, f"{sink}: the decode command is in {len(whole)} code blocks"
        assert DECODE.fullmatch(whole[0].strip()), f"{sink}: the command shares its block: {whole[0][:80]!r}"
        # never cut nor split: every block that names the command holds the encoded message whole
        for block in blocks:
            if "--encoded-message" in block and "file://encoded-message.txt" not in block:  # not the short form
                assert blob in block, f"{sink} cuts or splits the decode command: {block[:80]!r}"
    # ServiceNow and PagerDuty are plain text: the command is one line of it
    for sink in ("servicenow", "pagerduty", "console", "outbox"):
        assert sum(1 for line in code_blocks(delivered, sink) if DECODE.fullmatch(line)) == 1


SHORT = ("aws sts decode-authorization-message --encoded-message file://encoded-message.txt --query DecodedMessage "
         "--output text | jq .")


def test_a_decode_command_too_long_for_a_sink_is_shown_short_there_never_cut(sinks: Sinks) -> None:
    outcome = longer(5)
    blob = outcome.failure.encoded_message
    assert blob and len(blob) > 3000  # longer than a Slack section
    delivered = sinks.send(failure(outcome))
    for sink in SINKS:
        blocks = code_blocks(delivered, sink)
        for block in blocks:
            if "--encoded-message" in block:
                assert blob in block or "file://encoded-message.txt" in block, f"{sink} cuts the decode command"
        whole = [b for b in blocks if DECODE.fullmatch(b.strip()) and blob in b]
        assert len(whole) == 1 or any(SHORT in b for b in blocks), f"{sink} shows the decode command neither whole nor short"
    for sink in ("slack", "slack-api"):
        assert any(b.endswith("\n" + SHORT) for b in code_blocks(delivered, sink)), sink


# --- 3. no wrapping ----------------------------------------------------------------------------------

@pytest.mark.parametrize("event,decoded", [(SEED000_READER, None), (SEED003_KMS, None), (SEED004, None),
                                           (SEED004, SEED004_DECODED)])
def test_the_console_never_breaks_a_word_an_arn_or_a_command(event: str, decoded: Any, sinks: Sinks) -> None:
    outcome = outcome_of(event, decoded=decoded)
    message = say(failure(outcome))
    delivered = sinks.send(failure(outcome), only=("console", "outbox"))
    for text in (delivered.payloads["console"], delivered.payloads["outbox"]["text"]):
        lines = [line.strip() for line in text.splitlines()]
        whole = _whole_parts(message, outcome)
        assert whole
        for part in whole:
            assert any(part in line for line in lines), f"broken across lines: {part[:80]!r}"


def _whole_parts(message: Message, outcome: Outcome) -> list[str]:
    """What must stay on one line: every paragraph and step, every command the plan names, every
    ARN and resource id of the facts, each line of a snippet."""
    parts = [value for _, value in message.facts]
    for section in message.sections:
        parts += [section.text, *(s.text for s in section.steps), *(s.command for s in section.steps),
                  *section.items, *(command for _, command in section.pairs), *section.code.splitlines()]
    parts += re.findall(r"arn:aws[\w:/.-]+|/subscriptions/[\w/.-]+", json.dumps([message.facts,
                                                                                   [s.text for s in message.sections]]))
    assert outcome.plan is not None
    parts += list(outcome.plan.lookups.values())
    return [p.strip() for p in parts if p.strip()]


# --- 4. one language -----------------------------------------------------------------------------

#: Sentences and headings of the responder's own, in English.
ENGLISH = [WORDS["en"][key] for key in ("what_failed", "why", "fix", "open_job", "open_resource", "open_vault",
                                        "open_alert", "error_message", "lookups", "roles", "links")]
SCRIPTS = {"ko": re.compile("[\uac00-\ud7a3]"), "ja": re.compile("[\u3040-\u30ff]")}


@pytest.mark.parametrize("language", ["ko", "ja"])
def test_a_translated_rule_is_told_in_one_language_everywhere(language: str, sinks: Sinks) -> None:
    outcome = outcome_of(SEED000_READER)
    delivered = sinks.send(failure(outcome), language)
    for where, title in titles(delivered).items():
        assert SCRIPTS[language].search(title), f"{where} is not in {language}: {title!r}"
    for sink in SINKS:
        raw = delivered.raw(sink)
        for sentence in ENGLISH:
            assert not re.search(rf"(?<![\w-]){re.escape(sentence)}(?![\w-])", raw), \
                f"{sink} says {sentence!r} in a {language} message"
        assert "/en-us/" not in raw, f"{sink} links English documentation from a {language} message"


def test_an_english_message_links_english_documentation_named_for_what_it_opens(sinks: Sinks) -> None:
    outcome = outcome_of(SEED000_READER)
    assert outcome.plan is not None and any("/ko-kr/" in url for url in outcome.plan.docs)  # the catalog's page
    delivered = sinks.send(failure(outcome))
    for sink in SINKS:
        assert not re.search(r"ko_kr|ja_jp|ko-kr|ja-jp", delivered.raw(sink), re.I), f"{sink} links a translation"
    names = {WORDS["en"][key] for key in ("open_job", "open_resource", "open_vault", "open_alert", "first_message")}
    names |= set(WORDS["en"]["docs"].values())
    for sink, labels in link_labels(delivered).items():
        assert labels, f"{sink} shows no links"
        for label in labels:
            assert label.split(":")[0] in names, f"{sink} names a link {label!r}"
            assert not re.search(r"Documentation|\d$", label), f"{sink} names a link {label!r}"
        assert "Azure Backup docs" in labels, sink


# --- 5. storms ---------------------------------------------------------------------------------------

def storm(outcome: Outcome, events: int, resources: int) -> GroupInfo:
    return GroupInfo("g-kms", "aws", outcome.finding.cause, outcome.finding.title, "copy", events, resources,
                     [f"orders-{n:04d}" for n in range(resources, resources - 3, -1)],
                     opened=1_700_000_000, closes=1_700_000_600)  # 22:13 UTC


def test_a_storm_update_to_a_webhook_is_compact(sinks: Sinks) -> None:
    outcome = outcome_of(SEED003_KMS)
    full = sinks.send(failure(outcome), only=("slack", "teams"))
    update = sinks.send(Notice(NoticeKind.GROUP, outcome, storm(outcome, 40, 40)), only=("slack", "teams"))
    slack, teams = update.payloads["slack"], update.payloads["teams"]
    for raw in (update.raw("slack"), update.raw("teams")):
        assert "40 failures on 40 resources" in raw and "orders-0040" in raw and "orders-0038" in raw
        assert '"Version": "2012-10-17"' not in raw and "kms:Decrypt" not in raw  # no policy snippet
        assert "Run the copy again" not in raw and "*Fix*" not in raw  # no fix steps
        assert "Seen 40 times" not in raw  # one event per resource: no repeat count
    assert not slack_code_blocks(slack) and not teams_code_blocks(teams)
    assert len(slack["blocks"]) * 3 <= len(full.payloads["slack"]["blocks"])
    assert len(teams["body"]) * 3 <= len(full.payloads["teams"]["body"])
    assert slack["text"].startswith("[Storm]")


def test_a_storm_on_the_web_api_edits_the_first_message_or_replies_in_its_thread(
        services: FakeServices, clock: FakeClock, tmp_path: Path) -> None:
    outcome = outcome_of(SEED003_KMS)
    for mode in ("update", "thread"):
        sinks = Sinks(services, clock, tmp_path, storm_mode=mode)
        sinks.send(failure(outcome), only=("slack-api",))
        first = sinks.receipts["slack-api"]["ts"]
        update = sinks.send(Notice(NoticeKind.GROUP, outcome, storm(outcome, 12, 12)), only=("slack-api",))
        ((method, args),) = update.slack_api_calls
        assert "12 failures on 12 resources" in json.dumps(args)
        if mode == "update":
            assert method == "chat.update" and args["ts"] == first and "thread_ts" not in args
        else:
            assert method == "chat.postMessage" and args["thread_ts"] == first and not slack_code_blocks(args)


def test_a_storm_with_more_events_than_resources_says_how_often_and_since_when(sinks: Sinks) -> None:
    outcome = outcome_of(SEED003_KMS)
    sinks.send(failure(outcome), only=("slack-api",))
    delivered = sinks.send(Notice(NoticeKind.GROUP, outcome, storm(outcome, 90, 30)), only=(*CHAT, "console", "outbox"))
    for sink in (*CHAT, "console", "outbox"):
        assert "Seen 90 times since 22:13 UTC" in delivered.raw(sink), sink
    assert "90 copy jobs failed on 30 resources" in delivered.payloads["slack"]["blocks"][0]["text"]["text"]


# --- 6. Teams cards use the channel's width ------------------------------------------------------------

@pytest.mark.parametrize("kind", ["failure", "repeat", "group", "digest", "recovered", "quiet-digest"])
def test_every_teams_card_is_full_width(kind: str, sinks: Sinks) -> None:
    outcome = outcome_of(SEED003_KMS)
    notices = {"failure": failure(outcome), "repeat": Notice(NoticeKind.REPEAT, outcome, count=3),
               "group": Notice(NoticeKind.GROUP, outcome, storm(outcome, 9, 3)),
               "digest": Notice(NoticeKind.DIGEST, outcome, storm(outcome, 9, 3)), "recovered": Notice(NoticeKind.RECOVERED, outcome),
               "quiet-digest": Notice(NoticeKind.QUIET_DIGEST, None, summary=[("aws.kms.key-access", 4)], period="22:00..07:00")}
    card = sinks.send(notices[kind], only=("teams",)).payloads["teams"]
    assert card["msteams"] == {"width": "Full"}
