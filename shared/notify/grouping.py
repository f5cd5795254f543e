"""Fingerprints, dedup and storm grouping, all kept in the ``StateStore``.

- A failure's *fingerprint* names what failed and why: cloud, account, cause, vault and resource
  (with the error code or message for ``unclassified``). Empty fields are left out by name, and a
  failure that names neither a resource nor a vault falls back to its job or event id, so unrelated
  failures are never merged because their fields were missing.
- The same fingerprint again within ``dedup.window`` is *counted*, not posted again.
- Failures of one cause on one route within ``dedup.storm_window`` form a *storm group*: the first
  posts; the others update that message (Slack's Web API edits it in place or replies in its
  thread; webhooks post the running count at most every ``update_every``), and a *digest*
  summarises the group when its window closes.
- A later successful job for a resource finds its open failures through a per-resource index, so
  tickets are resolved from the state store, never by searching the ticket system.

Only ``get``, ``put``, ``add``, ``increment`` and ``delete`` are used, on the keys ``shared.notify.keys``
names, so DynamoDB, Table storage, SQLite and memory stores all work, and concurrent invocations
agree through ``add`` and ``increment``."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from typing import Any, Literal

from msgspec import Struct, field
from msgspec.structs import asdict

from shared.models import UNCLASSIFIED, Outcome
from shared.notify import keys
from shared.notify.config import DedupConfig
from shared.notify.notice import GroupInfo, resource_label
from shared.state import StateStore
from shared.text import normalise_message

log = logging.getLogger("backup_responder.dedup")


#: How long an event's decision and receipts are kept: longer than the platforms' retries
#: (Lambda async: up to 6 hours; Azure Functions retries; a DLQ redrive within a week).
EVENT_TTL = 7 * 86400


#: An event whose first handling started this long ago without finishing is taken over.
TAKEOVER_SECONDS = 120


#: Closed groups handled per flush (a bounded loop).
FLUSH_LIMIT = 200


#: Fingerprints remembered per resource for recovery.
MAX_OPEN_PER_RESOURCE = 50


Role = Literal["leader", "member", "duplicate", "unfingerprinted"]


#: The outcome a storm group keeps for its digest must fit one Table storage property (32K UTF-16
#: characters, https://learn.microsoft.com/en-us/rest/api/storageservices/understanding-the-table-service-data-model):
#: the failure's own long texts are cut to this many characters, the rest is the catalog's.
MAX_STORED_TEXT = 2_000


def stored_outcome(outcome: Outcome) -> str:
    """The outcome as JSON, with the failure's message and facts cut short."""
    failure = outcome.failure
    cut = failure.model_copy(update={
        "message": failure.message[:MAX_STORED_TEXT] if failure.message else failure.message,
        "facts": {k: v[:MAX_STORED_TEXT // 4] for k, v in failure.facts.items()},
        "notes": [n[:MAX_STORED_TEXT // 4] for n in failure.notes],
    })
    return outcome.model_copy(update={"failure": cut}).model_dump_json()


def fingerprint(outcome: Outcome) -> str | None:
    """What failed and why, as a stable key; None when the failure names nothing to key on."""
    f, finding = outcome.failure, outcome.finding
    parts: dict[str, str | None] = {
        "cloud": f.cloud,
        "account": f.account_id,
        "cause": finding.cause,
        "vault": f.vault_id or f.vault_name,
        "resource": f.resource_id or f.resource_name,
    }
    if not (parts["resource"] or parts["vault"]):
        parts["job"] = f.job_id or f.event_id
        if not parts["job"]:
            return None
    if finding.cause == UNCLASSIFIED:
        parts["code"] = finding.code or f.code
        if not parts["code"] and f.message:
            parts["message"] = hashlib.sha256(normalise_message(f.message).encode()).hexdigest()[:16]
    basis = "|".join(f"{k}={v.lower() if f.cloud == 'azure' else v}" for k, v in sorted(parts.items()) if v)
    return "fp-" + hashlib.sha256(basis.encode()).hexdigest()[:32]


def resource_key(outcome: Outcome) -> str | None:
    f = outcome.failure
    resource = f.resource_id or f.resource_name
    if not resource:
        return None
    basis = "|".join(p for p in (f.cloud, f.account_id or "", resource.lower() if f.cloud == "azure" else resource))
    return "res-" + hashlib.sha256(basis.encode()).hexdigest()[:32]


class Admission(Struct):
    """What the grouper decided for one event (kept, so a retry of the event decides the same)."""

    role: Role
    fingerprint: str | None = None
    group: str | None = None
    #: Times this fingerprint was seen (for ``repeat``/duplicates).
    count: int = 1
    #: Groups of this fingerprint still open from before (a recurring failure: its tickets).
    earlier_groups: list[str] = field(default_factory=list)

    def to_item(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Admission:
        return cls(role=item["role"], fingerprint=item.get("fingerprint"), group=item.get("group"),
                   count=int(item.get("count", 1)), earlier_groups=list(item.get("earlier_groups") or []))


class Recovery(Struct):
    fingerprint: str
    groups: list[str]
    #: Fingerprints of the newest group still failing after this one recovered.
    still_failing: int
    resources: int


class ClosedGroup(Struct):
    info: GroupInfo
    route: str
    sinks: list[str]
    outcome: Outcome | None
    index: int


class Grouper:
    def __init__(self, state: StateStore, config: DedupConfig | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        import time

        self.state = state
        self.config = config or DedupConfig()
        self.clock = clock or time.time

    # --- admission -----------------------------------------------------------------------------

    def admit(self, outcome: Outcome, event_key: str, route: str, sinks: list[str]) -> Admission:
        """Count the event and decide its role; the same event (a retry) gets the same answer."""
        now = self.clock()
        key = keys.event(event_key)
        record = self.state.get(key)
        if record and "role" in record:
            return Admission.from_item(record)
        if not self.state.add(key, {"at": now}, EVENT_TTL):
            record = self.state.get(key) or {}
            if "role" in record:
                return Admission.from_item(record)
            if now - float(record.get("at", now)) < TAKEOVER_SECONDS:
                # Another invocation is handling this very event right now.
                return Admission("duplicate", fingerprint(outcome))
        admission = self._decide(outcome, event_key, route, sinks, now)
        self.state.put(key, {"at": now, **admission.to_item()}, EVENT_TTL)
        return admission

    def _decide(self, outcome: Outcome, event_key: str, route: str, sinks: list[str], now: float) -> Admission:
        cfg = self.config
        fp = fingerprint(outcome)
        if fp is None:
            return Admission("unfingerprinted")
        fp_key = keys.fingerprint(fp)
        if cfg.window and not self.state.add(fp_key, {"event": event_key, "first": now}, cfg.window):
            existing = self.state.get(fp_key) or {}
            if existing.get("event") != event_key:
                count = self.state.increment(fp_key, "repeats", 1, cfg.window) + 1
                group = existing.get("group")
                if group:
                    self.state.increment(keys.group(group), "events", 1, cfg.ticket_ttl)
                self.state.increment(keys.seen(fp), "count", 1, cfg.ticket_ttl)
                return Admission("duplicate", fp, group, count)
        seen = self.state.increment(keys.seen(fp), "count", 1, cfg.ticket_ttl)
        open_record = self.state.get(keys.open_groups(fp)) or {}
        earlier = [g for g in open_record.get("groups", []) if isinstance(g, str)]

        role: Role = "member"
        group_id = ""
        storm_key = keys.storm(outcome.failure.cloud, outcome.finding.cause, route)
        for _ in range(3 if cfg.storm_window else 0):  # the item may expire between add and get: bounded
            current = self.state.get(storm_key)
            if current is None:
                candidate = uuid.uuid4().hex[:12]
                if self.state.add(storm_key, {"id": candidate, "opened": now}, cfg.storm_window):
                    role, group_id = "leader", candidate
                    self._open_group(candidate, outcome, route, sinks, now)
                    break
                continue
            group_id = str(current["id"])
            break
        if not group_id:
            role, group_id = "leader", uuid.uuid4().hex[:12]
            self._open_group(group_id, outcome, route, sinks, now)

        counters = keys.group(group_id)
        self.state.increment(counters, "events", 1, cfg.ticket_ttl)
        resources = self.state.increment(counters, "resources", 1, cfg.ticket_ttl)
        self.state.increment(counters, "open", 1, cfg.ticket_ttl)
        if resources <= cfg.sample:
            self.state.put(keys.group_member(group_id, resources), {"label": resource_label(outcome)}, cfg.ticket_ttl)

        if cfg.window:
            self.state.put(fp_key, {"event": event_key, "first": now, "group": group_id}, cfg.window)
        self.state.put(keys.open_groups(fp), {"groups": [*earlier[-4:], group_id], "cause": outcome.finding.cause},
                       cfg.ticket_ttl)
        self._index_resource(outcome, fp)
        return Admission(role, fp, group_id, seen, earlier)

    def _open_group(self, group_id: str, outcome: Outcome, route: str, sinks: list[str], now: float) -> None:
        cfg = self.config
        meta = {"cloud": outcome.failure.cloud, "cause": outcome.finding.cause, "title": outcome.finding.title,
                "job_type": outcome.failure.job_type, "opened": now, "closes": now + cfg.storm_window,
                "route": route, "sinks": sinks, "outcome": stored_outcome(outcome)}
        self.state.put(keys.group_meta(group_id), meta, cfg.ticket_ttl)
        number = self.state.increment(keys.GROUPS, "n", 1, None)
        self.state.put(keys.groups_entry(number), {"id": group_id, "closes": now + cfg.storm_window}, cfg.ticket_ttl)

    def _index_resource(self, outcome: Outcome, fp: str) -> None:
        key = resource_key(outcome)
        if key is None:
            return
        item = self.state.get(keys.resource(key)) or {}
        fps = [x for x in item.get("fps", []) if x != fp][-(MAX_OPEN_PER_RESOURCE - 1):]
        self.state.put(keys.resource(key), {"fps": [*fps, fp]}, self.config.ticket_ttl)

    # --- storm updates -------------------------------------------------------------------------

    def grouped(self, group_id: str) -> bool:
        """Whether the group holds more than one resource (only then is there a count to show)."""
        return int((self.state.get(keys.group(group_id)) or {}).get("resources", 0)) > 1

    def claim_update(self, group_id: str, sink: str, event_key: str) -> bool:
        """Whether this event posts the storm's running count to ``sink`` now: once per
        ``update_every`` per group and sink, never in the first interval (the first message covers it)."""
        meta = self.state.get(keys.group_meta(group_id))
        if meta is None or self.config.update_every <= 0:
            return False
        now = self.clock()
        if now >= float(meta["closes"]):
            return False
        slot = int((now - float(meta["opened"])) // self.config.update_every)
        if slot < 1:
            return False
        key = keys.group_update(group_id, sink, slot)
        if self.state.add(key, {"event": event_key}, self.config.storm_window + 3600):
            return True
        return (self.state.get(key) or {}).get("event") == event_key

    def group_info(self, group_id: str) -> GroupInfo | None:
        meta = self.state.get(keys.group_meta(group_id))
        if meta is None:
            return None
        counters = self.state.get(keys.group(group_id)) or {}
        resources = int(counters.get("resources", 1))
        sample = []
        for n in range(1, min(resources, self.config.sample) + 1):
            member = self.state.get(keys.group_member(group_id, n))
            if member and member.get("label"):
                sample.append(str(member["label"]))
        return GroupInfo(id=group_id, cloud=str(meta["cloud"]), cause=str(meta["cause"]), title=str(meta["title"]),
                         job_type=meta.get("job_type"), events=int(counters.get("events", 1)), resources=resources,
                         sample=sample, opened=float(meta["opened"]), closes=float(meta["closes"]),
                         still_failing=int(counters.get("open", 0)))

    def group_outcome(self, group_id: str) -> Outcome | None:
        meta = self.state.get(keys.group_meta(group_id))
        if not meta or not meta.get("outcome"):
            return None
        try:
            return Outcome.model_validate_json(meta["outcome"])
        except ValueError:
            return None

    # --- digests -------------------------------------------------------------------------------

    def closed_groups(self, limit: int = FLUSH_LIMIT) -> list[ClosedGroup]:
        """Groups whose window has closed and whose digest is not yet marked done, oldest first."""
        now = self.clock()
        total = int((self.state.get(keys.GROUPS) or {}).get("n", 0))
        cursor = int((self.state.get(keys.GROUPS_CURSOR) or {}).get("n", 1))
        found: list[ClosedGroup] = []
        for number in range(cursor, min(total, cursor + limit - 1) + 1):
            entry = self.state.get(keys.groups_entry(number))
            if entry is None:
                continue
            if float(entry["closes"]) > now:
                break
            if self.state.get(keys.digested(str(entry["id"]))):
                continue
            info = self.group_info(str(entry["id"]))
            meta = self.state.get(keys.group_meta(str(entry["id"]))) or {}
            if info is None:
                continue
            found.append(ClosedGroup(info, str(meta.get("route", "")), list(meta.get("sinks", [])),
                                     self.group_outcome(info.id), number))
        return found

    def mark_digested(self, group: ClosedGroup) -> None:
        self.state.put(keys.digested(group.info.id), {"at": self.clock()}, self.config.ticket_ttl)
        self._advance_cursor()

    def _advance_cursor(self) -> None:
        total = int((self.state.get(keys.GROUPS) or {}).get("n", 0))
        cursor = int((self.state.get(keys.GROUPS_CURSOR) or {}).get("n", 1))
        start = cursor
        while cursor <= total and cursor - start < FLUSH_LIMIT:
            entry = self.state.get(keys.groups_entry(cursor))
            if entry is not None and not self.state.get(keys.digested(str(entry["id"]))):
                break
            cursor += 1
        if cursor != start:
            self.state.put(keys.GROUPS_CURSOR, {"n": cursor})

    # --- recovery ------------------------------------------------------------------------------

    def recover(self, outcome: Outcome, event_key: str) -> list[Recovery]:
        """The open failures of this resource, now recovered (remembered per event for retries)."""
        key = keys.event(event_key)
        record = self.state.get(key)
        if record and "recoveries" in record:
            return [Recovery(**r) for r in record["recoveries"]]
        res = resource_key(outcome)
        recoveries: list[Recovery] = []
        if res is not None:
            for fp in (self.state.get(keys.resource(res)) or {}).get("fps", []):
                open_record = self.state.get(keys.open_groups(fp))
                if not open_record:
                    continue
                groups = [g for g in open_record.get("groups", []) if isinstance(g, str)]
                self.state.delete(keys.open_groups(fp))
                self.state.delete(keys.fingerprint(fp))
                still, resources = 0, 1
                for group in groups:
                    left = self.state.increment(keys.group(group), "open", -1, self.config.ticket_ttl)
                    if group == groups[-1]:
                        still = max(left, 0)
                        resources = int((self.state.get(keys.group(group)) or {}).get("resources", 1))
                recoveries.append(Recovery(fp, groups, still, resources))
            self.state.delete(keys.resource(res))
        self.state.put(key, {"at": self.clock(), "role": "recovered",
                             "recoveries": [asdict(r) for r in recoveries]}, EVENT_TTL)
        return recoveries
