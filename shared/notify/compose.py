"""``compose(notice, catalog, language) -> Message``: the only place where an outcome becomes words.

Every sink renders the same ``Message``, so what a person needs to act (the facts, the decoded
authorization, the steps with their commands, the lookups for values the event did not carry, what
auto-remediation did, the links) is the same in Slack, Teams, a ticket and the console."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from shared.catalog import Catalog
from shared.models import Outcome, Plan, RemediationSummary
from shared.notify.message import Decision, Link, Message, Part, Section, Step
from shared.notify.notice import GroupInfo, Notice, resource_label
from shared.notify.words import WORDS
from shared.plan import plan_for
from shared.remediation.render import diff_lines, headline
from shared.vocab import CLOUD_NAMES, NoticeKind, Severity

Words = Mapping[str, Any]

#: Links shown as buttons must be https and short enough for every sink (Slack: 3000 characters).
MAX_LINK_CHARS = 3000
#: The documentation links a message carries (chat sinks show fewer).
MAX_DOCS = 5
#: How much of an encoded authorization message stays in the text once it was decoded.
EXCERPT_CHARS = 24
#: The decode command as the rules and the planner write it (``shared.decode.decode_command``).
_DECODE_COMMAND = re.compile(r"aws sts decode-authorization-message --encoded-message \S+"
                             r"(?: --[a-z-]+ [^\s()]+)*(?: \| jq (?:'[^']*'|[^\s()]+))?")
#: A shell line continuation: a backslash at a line's end and the next line's indent.
_CONTINUED = re.compile(r"[ \t]*\\\n[ \t]*")
#: The causes a failure report names (by count); the rest are counted in one line.
REPORT_CAUSES = 10
#: The report period that reads "this week" (``shared.notify.types.duration_text`` of 7 days).
WEEK = "7d"
#: The notices that carry the failure's details, and so what auto-remediation decided.
DETAILED = frozenset({NoticeKind.FAILURE, NoticeKind.REPEAT, NoticeKind.GROUP})

#: Documentation hosts whose pages exist per language: (host, the path prefix for each language).
_DOC_LANGUAGES = {
    "docs.aws.amazon.com": {"en": "", "ko": "ko_kr", "ja": "ja_jp"},
    "learn.microsoft.com": {"en": "en-us", "ko": "ko-kr", "ja": "ja-jp"},
    "repost.aws": {"en": "", "ko": "ko", "ja": "ja"},
}
#: What a documentation link opens, by host and first path segment (``*``: any other page there).
_DOC_KINDS = {
    ("docs.aws.amazon.com", "aws-backup"): "aws-backup", ("docs.aws.amazon.com", "IAM"): "IAM",
    ("docs.aws.amazon.com", "kms"): "kms", ("docs.aws.amazon.com", "organizations"): "organizations",
    ("docs.aws.amazon.com", "AWSEC2"): "AWSEC2", ("docs.aws.amazon.com", "AmazonRDS"): "AmazonRDS",
    ("docs.aws.amazon.com", "*"): "aws", ("repost.aws", "*"): "repost",
    ("learn.microsoft.com", "backup"): "azure-backup", ("learn.microsoft.com", "role-based-access-control"):
        "azure-rbac", ("learn.microsoft.com", "postgresql"): "azure-postgresql",
    ("learn.microsoft.com", "key-vault"): "azure-key-vault", ("learn.microsoft.com", "storage"): "azure-storage",
    ("learn.microsoft.com", "*"): "learn", ("aka.ms", "*"): "learn",
}
_LANGUAGE_SEGMENTS = {segment for table in _DOC_LANGUAGES.values() for segment in table.values() if segment}


def compose(notice: Notice, catalog: Catalog | None = None, language: str = "en") -> Message:
    """The message for ``notice`` in ``language`` where the rule has it (else English)."""
    outcome = _in_language(notice.outcome, catalog, language)
    if outcome is None:  # a quiet hours' summary: no rule to ask
        code = language if language in WORDS else "en"
    else:
        code = outcome.plan.language if outcome.plan else "en"
    words = WORDS[code]
    title = _title(notice, outcome, words)
    severity = Severity(outcome.finding.severity) if outcome else Severity.MEDIUM
    decision = _decision(outcome.remediation, words) if outcome and notice.kind in DETAILED else None
    facts = tuple(what_failed(outcome, words)) if outcome else ()
    sections = _sections(notice, outcome, words)
    f = outcome.failure if outcome else None
    return Message(
        kind=notice.kind, language=code,
        severity=severity, title=title, fallback=_fallback(notice, outcome, title, decision, words),
        subject=_subject(notice, outcome, title), context=_context(outcome, words), facts=facts, decision=decision,
        sections=sections, brief=_brief(notice, outcome, words),
        links=tuple(_links(notice, outcome, words)),
        footer=words["footer"] if outcome else "", cause=outcome.finding.cause if outcome else "",
        rule=outcome.finding.rule if outcome else None, fingerprint=notice.fingerprint,
        storm_id=notice.group.id if notice.group else None,
        account=(f.account_id or f.cloud) if f else "", resource=resource_label(outcome),
        time=f.time.isoformat() if f and f.time else "", times_seen=notice.count,
        labels={"what_failed": words["what_failed"], "links": words["links"]})


def _in_language(outcome: Outcome | None, catalog: Catalog | None, language: str) -> Outcome | None:
    """The outcome with its plan in ``language`` where the rule has it."""
    if outcome is None or outcome.plan is None or outcome.plan.language == language or catalog is None:
        return outcome
    plan = plan_for(outcome.failure, outcome.finding, catalog, language)
    return outcome.model_copy(update={"plan": plan})


# --- the header ----------------------------------------------------------------------------------

def _title(notice: Notice, outcome: Outcome | None, words: Words) -> str:
    w = _w(words)
    if notice.kind in (NoticeKind.GROUP, NoticeKind.DIGEST) and notice.group is not None:
        return storm_headline(notice.group, outcome, words)
    if notice.kind == NoticeKind.QUIET_DIGEST:
        return w("quiet_title", total=sum(n for _, n in notice.summary), period=notice.period or "")
    if notice.kind == NoticeKind.REPORT:
        return _report_title(notice.report or {}, notice.period or "", words)
    if outcome is None:
        return w("backup_failure")
    if notice.kind == NoticeKind.RECOVERED:
        f = outcome.failure
        if notice.group is not None and notice.group.resources > 1:
            return w("recovered_all", resources=notice.group.resources, title=notice.group.title)
        return w("recovered_one", job=f.job_type or "backup",
                 what=f.resource_name or f.resource_id or w("the_resource"))
    title = outcome.plan.title if outcome.plan else outcome.finding.title
    return w("again", count=notice.count, title=title) if notice.kind == NoticeKind.REPEAT else title


def storm_headline(group: GroupInfo, outcome: Outcome | None, words: Words) -> str:
    """'37 copy jobs failed: <title>' in plain words."""
    w = _w(words)
    job = group.job_type or "backup"
    what = w("a_job" if group.events == 1 else "jobs", job=job)
    on = w("storm_on", resources=group.resources) if group.resources not in (group.events, 1) else ""
    title = outcome.plan.title if outcome and outcome.plan else group.title
    return w("storm_headline", events=group.events, what=what, on=on, title=title)


def _context(outcome: Outcome | None, words: Words) -> tuple[str, ...]:
    if outcome is None:
        return ()
    w, finding = _w(words), outcome.finding
    items = [w("severity", severity=finding.severity.upper()), w("cause", cause=finding.cause)]
    if finding.rule:
        items.append(w("rule", rule=finding.rule))
    items.append(w("confidence", confidence=finding.confidence))
    return tuple(items)


def _subject(notice: Notice, outcome: Outcome | None, title: str) -> str:
    """A ticket's title: the title and where (the resource, the account)."""
    if outcome is not None and notice.kind in (NoticeKind.FAILURE, NoticeKind.REPEAT):
        f = outcome.failure
        where = resource_label(outcome)
        if where and where not in title:
            title += f" ({where})"
        if f.account_id and f.account_id not in title:
            title += f" [{f.account_id}]"
    return " ".join(title.split())


def _fallback(notice: Notice, outcome: Outcome | None, title: str, decision: Decision | None,
              words: Words) -> str:
    """One plain line: what notifications, screen readers and chat fallbacks show."""
    w = _w(words)
    if outcome is None:
        return title
    finding, failure = outcome.finding, outcome.failure
    resource = failure.resource_name or failure.resource_id
    where = w("where", cloud=CLOUD_NAMES[failure.cloud], job=failure.job_type or "backup",
              on=w("on", resource=resource) if resource else "",
              in_account=w("in", account=failure.account_id) if failure.account_id else "",
              region=f" {failure.region}" if failure.region else "")
    prefixes = {NoticeKind.RECOVERED: w("prefix_recovered"), NoticeKind.DIGEST: w("prefix_digest"),
                NoticeKind.GROUP: w("prefix_group")}
    text = w("fallback", prefix=prefixes.get(notice.kind, finding.severity.upper()), title=title, where=where,
             cause=finding.cause)
    if decision is not None:
        text += w("fallback_remediation", headline=decision.headline)
        if decision.needs_person:
            text += " " + w("person_must_look")
    return text


# --- the facts and the links ---------------------------------------------------------------------

def what_failed(outcome: Outcome, words: Words | None = None) -> list[tuple[str, str]]:
    """The facts a reader needs to find the failed job, as (label, value) pairs."""
    w = _w(words or WORDS["en"])
    f = outcome.failure
    rows = [
        (w("job"), " ".join(p for p in (CLOUD_NAMES[f.cloud], w("a_job", job=f.job_type or "backup"), f.job_id or "")
                            if p)),
        (w("state"), f.state or ""),
        (w("resource"), " ".join(p for p in (f.resource_type or "", f.resource_id or f.resource_name or "") if p)),
        (w("vault"), f.vault_id or f.vault_name or ""),
        (w("account") if f.cloud == "aws" else w("subscription"), f.account_id or ""),
        (w("region"), f.region or ""),
        (w("time"), f.time.isoformat() if f.time else ""),
        (w("code"), outcome.finding.code or ""),
    ]
    if f.job_type == "copy" and f.facts.get("destination_vault_arn"):
        rows.insert(4, (w("destination"), f.facts["destination_vault_arn"]))
    return [(label, value) for label, value in rows if value]


def _aws_console(region: str | None, fragment: str) -> str | None:
    if not region:
        return None
    return f"https://{region}.console.aws.amazon.com/backup/home?region={region}#/{fragment}"


def _links(notice: Notice, outcome: Outcome | None, words: Words) -> list[Link]:
    """The first message of a storm, the console pages of the job, the resource and the vault, the
    alert, then the documentation in the message's language, each named for what it opens: https
    only, without duplicates."""
    w = _w(words)
    found: list[tuple[str, str | None]] = [(w("first_message"), notice.first_link)]
    if outcome is not None:
        f = outcome.failure
        found.append((w("open_job"), f.links.get("job")))
        resource = f.links.get("resource")
        if resource is None and f.cloud == "aws" and f.resource_id and f.resource_id.startswith("arn:"):
            resource = _aws_console(f.region, "resources/" + quote(f.resource_id, safe=""))
        found.append((w("open_resource"), resource))
        vault = f.links.get("vault")
        if vault is None and f.cloud == "aws" and f.vault_name:
            vault = _aws_console(f.region, "backupvaults/details/" + quote(f.vault_name, safe=""))
        found.append((w("open_vault"), vault))
        found.append((w("open_alert"), f.links.get("alert")))
        if outcome.plan is not None:
            language = outcome.plan.language
            found += [(doc_label(url, words), localised_url(url, language)) for url in outcome.plan.docs[:MAX_DOCS]]
    seen_urls: set[str] = set()
    labels: dict[str, int] = {}
    result = []
    for label, url in found:
        if not url or not url.startswith("https://") or len(url) > MAX_LINK_CHARS or url in seen_urls:
            continue
        seen_urls.add(url)
        labels[label] = labels.get(label, 0) + 1
        result.append(Link(label if labels[label] == 1 else f"{label}: {_page_name(url)}", url))
    return result


def _page_name(url: str) -> str:
    """The last path segment of a page, in words ('cross-account-backup.html' -> 'cross account backup')."""
    path = urlsplit(url).path.rstrip("/")
    name = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return name.replace("-", " ").replace("_", " ") or urlsplit(url).hostname or url


def doc_label(url: str, words: Words) -> str:
    """What a documentation link opens ("AWS Backup docs", "re:Post article")."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    segments = [s for s in parts.path.split("/") if s and s.lower() not in _LANGUAGE_SEGMENTS]
    if host == "learn.microsoft.com" and segments[:1] == ["azure"]:
        segments = segments[1:]
    names = words["docs"]
    kind = _DOC_KINDS.get((host, segments[0] if segments else ""), _DOC_KINDS.get((host, "*")))
    return str(names[kind]) if kind else host


def localised_url(url: str, language: str) -> str:
    """The page in ``language`` on hosts that keep one per language: an English message links English
    documentation even where the catalog noted a Korean or Japanese page."""
    parts = urlsplit(url)
    table = _DOC_LANGUAGES.get(parts.hostname or "")
    if table is None:
        return url
    segments = parts.path.split("/")  # ['', 'ko_kr', 'aws-backup', ...]
    if len(segments) > 1 and segments[1].lower() in {s.lower() for s in table.values() if s}:
        segments.pop(1)
    wanted = table.get(language, table["en"])
    if wanted:
        segments.insert(1, wanted)
    path = "/".join(segments)
    return parts._replace(path=path).geturl()


# --- the body ------------------------------------------------------------------------------------

def _sections(notice: Notice, outcome: Outcome | None, words: Words) -> tuple[Section, ...]:
    """The whole body of a new message or ticket."""
    w = _w(words)
    if notice.kind == NoticeKind.QUIET_DIGEST:
        return (_quiet(notice, words),)
    if notice.kind == NoticeKind.REPORT:
        return _report(notice.report or {}, words)
    sections: list[Section] = []
    if notice.group is not None and notice.kind in (NoticeKind.GROUP, NoticeKind.DIGEST):
        sections.append(_storm(notice, notice.group, words))
    if outcome is None or notice.kind in (NoticeKind.DIGEST, NoticeKind.RECOVERED):
        return tuple(sections)
    failure, plan = outcome.failure, outcome.plan
    if failure.message:
        sections.append(Section(Part.MESSAGE, heading=w("error_message"), code=_shown_message(outcome, words)))
    if failure.decoded is not None:
        d = failure.decoded
        line = w("decoded_line", action=d.action, resource=d.resource, principal=d.principal_arn)
        sections.append(Section(Part.DECODED, heading=w("decoded"),
                                text=line + (w("explicit_deny") if d.explicit_deny else "")))
    if plan is None:
        if failure.failed:
            sections.append(Section(Part.NOTE, text=w("unclassified")))
        return tuple(sections)
    sections.append(Section(Part.WHY, heading=w("why"), text=plan.explanation))
    if plan.steps:
        sections.append(Section(Part.STEPS, heading=w("fix"), steps=tuple(_steps(plan, outcome, words))))
    for snippet in plan.snippets:
        # A command continued over lines (a backslash at their ends) is one command: never cut, nor split.
        joined = _CONTINUED.sub(" ", snippet.body.strip())
        command = joined if _DECODE_COMMAND.fullmatch(joined) else ""
        sections.append(Section(Part.CODE, heading=w("snippet", title=snippet.title, kind=snippet.kind),
                                code=snippet.body, language=snippet.kind, whole=bool(command),
                                short=_short_command(command, words) if command else ""))
    if plan.role_assignments:
        sections.append(Section(Part.ROLES, heading=w("roles"), items=tuple(
            w("role_line", role=ra.role, role_id=ra.role_definition_id, principal=ra.principal_id, scope=ra.scope)
            for ra in plan.role_assignments)))
    if plan.missing:
        sections.append(_lookups(plan, words))
    if plan.auto_fix == "none" and plan.manual_reason:
        sections.append(Section(Part.NOTE, text=w("needs_person", reason=plan.manual_reason)))
    if outcome.remediation is not None and (change := _change(outcome.remediation, words)) is not None:
        sections.append(change)
    return tuple(sections)


def _brief(notice: Notice, outcome: Outcome | None, words: Words) -> tuple[Section, ...]:
    """The short body: what refers to an earlier message (a storm's running count, a comment on an
    open ticket, a recovery)."""
    w = _w(words)
    f = outcome.failure if outcome else None
    if notice.kind == NoticeKind.QUIET_DIGEST:
        return (_quiet(notice, words),)
    if notice.kind == NoticeKind.REPORT:
        return _report(notice.report or {}, words)
    if notice.group is not None and notice.kind in (NoticeKind.GROUP, NoticeKind.DIGEST):
        return (_storm(notice, notice.group, words),)
    when = _display_time(f.time) if f else ""
    if notice.kind == NoticeKind.RECOVERED:
        text = _title(notice, outcome, words) + (w("at", when=when) if when else "") + "."
        return (Section(Part.NOTE, text=text + (f" {w('job')} {f.job_id}." if f and f.job_id else "")),)
    sections = [Section(Part.NOTE, text=w("failed_again", count=notice.count, when=w("at", when=when) if when else "",
                                          job=w("job_ref", job=f.job_id) if f and f.job_id else ""))]
    if outcome is not None and f is not None and f.message:
        sections.append(Section(Part.MESSAGE, code=_shown_message(outcome, words)))
    if outcome is not None and outcome.remediation is not None and \
            (change := _change(outcome.remediation, words)) is not None:
        sections.append(change)
    return tuple(sections)


def _shown_message(outcome: Outcome, words: Words) -> str:
    """The provider's message; its encoded part is a short excerpt once decoded ("decoded below"), and
    while the decode command carries it whole (a second copy of thousands of characters would crowd
    out the fix where room is short: a ServiceNow field, a Teams card)."""
    failure, plan = outcome.failure, outcome.plan
    message = failure.message or ""
    encoded = failure.encoded_message
    if not encoded or encoded not in message:
        return message
    if failure.decoded is not None:
        key = "encoded_excerpt"
    elif plan is not None and any(_DECODE_COMMAND.search(text) and encoded in text
                                  for text in (*plan.steps, *(s.body for s in plan.snippets))):
        key = "encoded_in_command"
    else:
        return message
    return message.replace(encoded, _w(words)(key, excerpt=encoded[:EXCERPT_CHARS] + "…", length=len(encoded)))


def _steps(plan: Plan, outcome: Outcome, words: Words) -> list[Step]:
    """The plan's steps; a step naming the decode command gets it whole, as a command of its own
    (once decoded, the command is not needed: its encoded part is only an excerpt)."""
    failure = outcome.failure
    steps = []
    for text in plan.steps:
        match = _DECODE_COMMAND.search(text)
        if match is None:
            steps.append(Step(text))
            continue
        rest = (text[: match.start()].rstrip(" :") + " " + text[match.end():].lstrip(" .")).strip()
        if failure.decoded is not None:
            steps.append(Step(rest.rstrip(":") + "."))
        else:
            steps.append(Step(rest.rstrip(":.") + ":", command=match.group(0),
                              short=_short_command(match.group(0), words)))
    return steps


def _short_command(command: str, words: Words) -> str:
    """The decode command reading the message from a file, for a sink that cannot fit it whole."""
    return (_w(words)("long_command") + ":\n" + _DECODE_COMMAND.sub(
        "aws sts decode-authorization-message --encoded-message file://encoded-message.txt "
        "--query DecodedMessage --output text | jq .", command))


def _lookups(plan: Plan, words: Words) -> Section:
    w = _w(words)
    names = ", ".join("{" + m + "}" for m in plan.missing)
    pairs = tuple(("{" + name + "}", how) for name, how in plan.lookups.items())
    return Section(Part.LOOKUPS, heading=w("lookups"), text=w("lookup_missing", names=names), pairs=pairs)


def _decision(summary: RemediationSummary | None, words: Words) -> Decision | None:
    if summary is None or (head := headline(summary)) is None:
        return None
    w = _w(words)
    approvable = summary.action == "planned" and bool(summary.approval_id)
    lines = [w("automation_stopped")] if summary.needs_person else []
    lines += [w("approve_hint")] if approvable else []
    lines += [w("audit", audit_id=summary.audit_id, mode=summary.mode)] if summary.audit_id else []
    return Decision(headline=head, action=summary.action, mode=summary.mode, needs_person=summary.needs_person,
                    approval_id=summary.approval_id if approvable else None, audit_id=summary.audit_id,
                    notes=tuple(w("note", note=note) for note in summary.notes), diff="\n".join(diff_lines(summary)),
                    lines=tuple(lines))


def _change(summary: RemediationSummary, words: Words) -> Section | None:
    diff = diff_lines(summary)
    if not diff and not summary.notes:
        return None
    return Section(Part.CHANGE, heading=_w(words)("remediation_change"), code="\n".join(diff), language="diff",
                   items=tuple(_w(words)("note", note=note) for note in summary.notes))


def _storm(notice: Notice, group: GroupInfo, words: Words) -> Section:
    """A storm in a few lines: the counts, the newest resources, the repeats."""
    w = _w(words)
    key = "storm_summary" if notice.kind == NoticeKind.DIGEST else "storm"
    lines = [w(key, events=group.events, resources=group.resources, window=group.window())]
    if group.sample:
        more = group.resources - len(group.sample)
        lines.append(w("newest", names=", ".join(group.sample)) + (w("and_more", more=more) if more > 0 else ""))
    if group.events > group.resources:
        since = datetime.fromtimestamp(group.opened, UTC).strftime("%H:%M UTC")
        lines.append(w("seen_since", count=group.events, since=since))
    return Section(Part.STORM, text=lines[0], items=tuple(lines[1:]))


def _quiet(notice: Notice, words: Words) -> Section:
    return Section(Part.SUMMARY, heading=_w(words)("held"),
                   items=tuple(f"{cause}: {count:,}" for cause, count in notice.summary))


def _report_title(summary: Mapping[str, Any], period: str, words: Words) -> str:
    """'Backup failures this week: 42 failed jobs, 5 causes, 95% explained'. ``period`` is the
    report's key (``FIRST-DAY/LENGTH``, ``shared.report.digest``): a 7-day one is "this week"."""
    w = _w(words)
    span = period.rpartition("/")[2]
    when = w("report_week") if span in ("", WEEK) else w("report_last", span=span)
    # Rounded down, so that "100%" means every failure was explained.
    explained = math.floor(round(float(summary.get("explained", 1.0)) * 100, 6))
    return w("report_title", when=when, failed=int(summary.get("failed", 0)), causes=len(summary.get("causes", [])),
             explained=f"{explained}%")


def _report(summary: Mapping[str, Any], words: Words) -> tuple[Section, ...]:
    """The top causes (count, title, resources, accounts), then what is unclassified or unreadable."""
    w = _w(words)
    causes = list(summary.get("causes", []))
    if not int(summary.get("failed", 0)):
        return (Section(Part.SUMMARY, heading=w("report_top"), text=w("report_none")),)
    items = [w("report_cause", count=c["count"], title=c.get("title") or c["cause"], resources=c.get("resources", 0),
               accounts=len(c.get("accounts", [])), cause=c["cause"]) for c in causes[:REPORT_CAUSES]]
    if len(causes) > REPORT_CAUSES:
        items.append(w("report_more", more=len(causes) - REPORT_CAUSES))
    since = str(summary.get("since") or "")[:10]
    sections = [Section(Part.SUMMARY, heading=w("report_top"), text=w("report_since", since=since) if since else "",
                        items=tuple(items))]
    notes = [w("report_unclassified", count=summary["unclassified"])] if summary.get("unclassified") else []
    notes += [w("report_unreadable", count=summary["errors"])] if summary.get("errors") else []
    sections += [Section(Part.NOTE, text=note) for note in notes]
    return tuple(sections)


# --- small helpers -------------------------------------------------------------------------------

def _display_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


class _Words:
    """``w("key", name=value)``: the sentence in the message's language, filled in."""

    __slots__ = ("table",)

    def __init__(self, table: Words) -> None:
        self.table = table

    def __call__(self, key: str, **values: object) -> str:
        template = self.table.get(key) or WORDS["en"][key]
        return str(template).format(**values) if values else str(template)


def _w(words: Words) -> _Words:
    return _Words(words)
