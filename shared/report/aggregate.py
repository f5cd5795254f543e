"""Failed jobs grouped by cause: pure, one pass, memory bounded by the number of causes, resources
and days (never by the number of jobs: each group keeps at most ``JOBS_KEPT`` of its jobs).

``Aggregate.add`` takes each classified failure once; ``Aggregate.summary`` returns the report as
one JSON-ready object, which every format renders (``shared.report.render``).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any

from msgspec import Struct, field

from shared.catalog import Catalog, default_catalog
from shared.models import UNCLASSIFIED, Failure, Finding
from shared.plan import plan_for
from shared.text import normalise_message
from shared.vocab import JobType

#: Jobs listed per cause (the most recent ones): the report names examples, the counts cover all.
JOBS_KEPT = 20
#: Distinct values kept per placeholder of a cause's fix, to list them when they differ.
VALUES_KEPT = 20
#: Unclassified message groups kept; the jobs of further messages share one last group, so that a
#: stream of messages unlike each other cannot grow the report without bound.
MESSAGE_GROUPS = 500
OTHER_MESSAGES = "(other messages)"
#: A resource "fails repeatedly" from this many failed jobs.
REPEATED = 2
#: Resources listed as failing repeatedly, per cause.
REPEATED_SHOWN = 10
#: What differs between two instances of the same message: ids, ARNs, names in quotes, numbers.
_VARYING = [(re.compile(p), r) for p, r in (
    (r"arn:[\w-]+:[\w-]+:[\w-]*:\d*:\S+", "<arn>"),
    (r"/subscriptions/\S+", "<resource-id>"),
    (r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<id>"),
    (r"'[^']*'", "'<name>'"),
    (r"\b(?:i|vol|snap|ami|fs|sg|subnet|vpc)-[0-9a-f]{8,17}\b", "<id>"),
    (r"\d+", "<n>"),
)]


def message_group(message: str | None) -> str:
    """The message with what varies between jobs taken out, so one failure mode is one group."""
    text = normalise_message(message)
    for pattern, replacement in _VARYING:
        text = pattern.sub(replacement, text)
    return text or "(no message)"


def resource_of(failure: Failure) -> str:
    """The resource a job protected: its id, else its name in its vault, else its vault."""
    if failure.resource_id:
        return failure.resource_id
    if failure.resource_name:
        return f"{failure.vault_id or failure.vault_name or ''}/{failure.resource_name}".lstrip("/")
    return failure.vault_id or failure.vault_name or "(unknown)"


def job_key(failure: Failure) -> tuple[str, str] | None:
    """A job is the same job in every input by (cloud, job id); ids are compared in lower case."""
    ident = failure.job_id or failure.event_id
    return (str(failure.cloud), ident.lower()) if ident else None


class Group(Struct):
    """What is known of one cause (or one unclassified message)."""

    key: str
    title: str
    count: int = 0
    clouds: set[str] = field(default_factory=set)
    resources: Counter[str] = field(default_factory=Counter)
    accounts: set[str] = field(default_factory=set)
    codes: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    days: Counter[str] = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None
    #: Each placeholder's distinct values (at most ``VALUES_KEPT``), and how many jobs named it.
    values: dict[str, set[str]] = field(default_factory=dict)
    named: Counter[str] = field(default_factory=Counter)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    example: Failure | None = None
    finding: Finding | None = None

    def add(self, failure: Failure, finding: Finding, day: str | None) -> None:
        """One more job of the group; ``day`` is the date of its time (None when it has none)."""
        self.count += 1
        self.clouds.add(str(failure.cloud))
        resource = resource_of(failure)
        self.resources[resource] += 1
        if failure.account_id:
            self.accounts.add(failure.account_id)
        if finding.code or failure.code:
            self.codes[str(finding.code or failure.code)] += 1
        if finding.rule:
            self.rules[finding.rule] += 1
        if day is not None and failure.time is not None:
            self.days[day] += 1
            self.first = failure.time if self.first is None else min(self.first, failure.time)
            self.last = failure.time if self.last is None else max(self.last, failure.time)
        named, values = self.named, self.values
        for name, value in failure.placeholders().items():
            named[name] += 1
            seen = values.get(name)
            if seen is None:
                seen = values[name] = set()
            if len(seen) < VALUES_KEPT:
                seen.add(value)
        self.jobs.append(_job(failure, resource))
        if len(self.jobs) > 2 * JOBS_KEPT:  # keep the most recent, trimmed now and then
            self.recent()
        if self.finding is None:
            self.example, self.finding = failure, finding

    def recent(self) -> list[dict[str, Any]]:
        """The most recent ``JOBS_KEPT`` jobs, newest first."""
        self.jobs.sort(key=lambda j: j["time"] or "", reverse=True)
        del self.jobs[JOBS_KEPT:]
        return list(self.jobs)

    def common_values(self) -> dict[str, str]:
        """The placeholders that hold one value for every job of the group."""
        return {name: next(iter(seen)) for name, seen in self.values.items()
                if len(seen) == 1 and self.named[name] == self.count}

    def differing_values(self) -> dict[str, list[str]]:
        return {name: sorted(seen) for name, seen in sorted(self.values.items())
                if name not in self.common_values()}


def _job(failure: Failure, resource: str) -> dict[str, Any]:
    return {"job_id": failure.job_id, "time": failure.time.isoformat() if failure.time else None,
            "job_type": failure.job_type, "account": failure.account_id, "region": failure.region,
            "resource": resource, "state": failure.state, "message": failure.message,
            "link": failure.links.get("job") or failure.links.get("resource")}


class Aggregate(Struct):
    """Every failure of the report, grouped; ``since`` drops jobs older than it (a job without
    a time is kept: nothing says it is old)."""

    catalog: Catalog = field(default_factory=default_catalog)
    since: datetime | None = None
    #: The language of each cause's title and fix, where its rule has it (else English).
    language: str = "en"
    causes: dict[str, Group] = field(default_factory=dict)
    unclassified: dict[str, Group] = field(default_factory=dict)
    #: Jobs read that did not fail (completed, running, resolved alerts): read, not reported.
    not_failed: int = 0
    older: int = 0
    duplicates: int = 0
    errors: int = 0
    days: Counter[str] = field(default_factory=Counter)
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def add(self, failure: Failure, finding: Finding) -> None:
        if not failure.failed:
            self.not_failed += 1
            return
        if self.since is not None and failure.time is not None and failure.time < self.since:
            self.older += 1
            return
        key = job_key(failure)
        if key is not None:
            if key in self._seen:
                self.duplicates += 1
                return
            self._seen.add(key)
        day = failure.time.date().isoformat() if failure.time is not None else None
        if day is not None:
            self.days[day] += 1
        if finding.cause == UNCLASSIFIED:
            groups, name, title = self.unclassified, message_group(failure.message), failure.message or "(no message)"
            if name not in groups and len(groups) >= MESSAGE_GROUPS:
                name = OTHER_MESSAGES
        else:
            groups, name, title = self.causes, finding.cause, finding.title
        group = groups.get(name)
        if group is None:  # a group is made once: it is a dozen counters and sets
            group = groups[name] = Group(name, title)
        group.add(failure, finding, day)

    def summary(self) -> dict[str, Any]:
        """The report as one JSON-ready object (see the README's ``report`` section)."""
        failed = sum(g.count for g in self.causes.values()) + sum(g.count for g in self.unclassified.values())
        unclassified = sum(g.count for g in self.unclassified.values())
        causes = sorted(self.causes.values(), key=lambda g: (-g.count, g.key))
        return {
            "failed": failed,
            "classified": failed - unclassified,
            "unclassified": unclassified,
            "explained": round((failed - unclassified) / failed, 4) if failed else 1.0,
            "skipped": {"not_failed": self.not_failed, "older": self.older, "duplicates": self.duplicates},
            "errors": self.errors,
            "since": self.since.isoformat() if self.since else None,
            "first_seen": _iso(min((g.first for g in self._groups() if g.first), default=None)),
            "last_seen": _iso(max((g.last for g in self._groups() if g.last), default=None)),
            "trend": dict(sorted(self.days.items())),
            "causes": [self._cause(g) for g in causes],
            "unclassified_messages": [self._message(g) for g in
                                      sorted(self.unclassified.values(), key=lambda g: (-g.count, g.key))],
        }

    def _groups(self) -> list[Group]:
        return [*self.causes.values(), *self.unclassified.values()]

    def _fix(self, group: Group) -> dict[str, Any] | None:
        """The fix once for the cause: the plan of its most frequent rule, filled with the values
        every job shares; the values that differ are listed instead."""
        if group.finding is None or group.example is None:
            return None
        rule = group.rules.most_common(1)[0][0] if group.rules else group.finding.rule
        common = group.common_values()
        job_type = common.get("job_type")
        shared = Failure(cloud=group.example.cloud, job_type=JobType(job_type) if job_type else None, facts=common)
        plan = plan_for(shared, group.finding.model_copy(update={"rule": rule}), self.catalog, self.language)
        if plan is None:
            return None
        return {"rule": rule, "title": plan.title, "explanation": plan.explanation, "steps": plan.steps,
                "snippets": [s.model_dump() for s in plan.snippets], "docs": plan.docs,
                "values": {name: values for name, values in group.differing_values().items()
                           if name in plan.missing}}

    def _cause(self, group: Group) -> dict[str, Any]:
        fix = self._fix(group)
        return {
            "cause": group.key,
            "count": group.count,
            "title": fix["title"] if fix else group.title,
            "clouds": sorted(group.clouds),
            # How many distinct resources failed, and which (the contract's ``resources`` is the number).
            "resources": len(group.resources),
            "resource_ids": sorted(group.resources),
            "accounts": sorted(group.accounts),
            "codes": [code for code, _ in group.codes.most_common()],
            "first_seen": _iso(group.first),
            "last_seen": _iso(group.last),
            "trend": dict(sorted(group.days.items())),
            "repeated": [{"resource": r, "count": n} for r, n in group.resources.most_common(REPEATED_SHOWN)
                         if n >= REPEATED],
            "fix": fix,
            "jobs": group.recent(),
        }

    @staticmethod
    def _message(group: Group) -> dict[str, Any]:
        return {"message": group.title, "group": group.key, "count": group.count,
                "resources": len(group.resources), "resource_ids": sorted(group.resources),
                "accounts": sorted(group.accounts),
                "codes": [code for code, _ in group.codes.most_common()],
                "first_seen": _iso(group.first),
                "last_seen": _iso(group.last),
                "jobs": group.recent()}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
