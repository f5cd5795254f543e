"""Fingerprints and storm grouping in the state store."""

from __future__ import annotations

from typing import Any

from shared.models import Failure, Finding, Outcome
from shared.notify.config import DedupConfig
from shared.notify.grouping import Grouper, fingerprint
from shared.state import MemoryStore
from tests.delivery.conftest import failure_event, outcome_of


def outcome(cause: str = "aws.kms.key-access", code: str | None = None, **failure: Any) -> Outcome:
    return Outcome(failure=Failure(cloud="aws", **failure),
                   finding=Finding(cause=cause, rule=None, code=code, confidence=0.9, title="t"))


def test_fingerprint_names_cloud_account_cause_vault_resource() -> None:
    base = fingerprint(outcome(account_id="1", vault_name="v", resource_id="r"))
    assert base and base.startswith("fp-")
    assert fingerprint(outcome(account_id="2", vault_name="v", resource_id="r")) != base
    assert fingerprint(outcome(cause="aws.vault.missing", account_id="1", vault_name="v", resource_id="r")) != base
    assert fingerprint(outcome(account_id="1", vault_name="v2", resource_id="r")) != base
    assert fingerprint(outcome(account_id="1", vault_name="v", resource_id="r2")) != base
    assert fingerprint(outcome(account_id="1", vault_name="v", resource_id="r", job_id="other")) == base


def test_fingerprint_is_never_built_from_empty_fields() -> None:
    # no resource and no vault: two unrelated jobs must not share a fingerprint
    a = fingerprint(outcome(account_id="1", job_id="job-a"))
    b = fingerprint(outcome(account_id="1", job_id="job-b"))
    assert a and b and a != b
    assert fingerprint(outcome(account_id="1")) is None
    # a missing field is not the same as a field holding the same text elsewhere
    assert fingerprint(outcome(account_id="1", resource_id="x")) != fingerprint(outcome(account_id="1", vault_name="x"))


def test_unclassified_failures_are_told_apart_by_code_or_message() -> None:
    a = fingerprint(outcome(cause="unclassified", code="E1", resource_id="r"))
    b = fingerprint(outcome(cause="unclassified", code="E2", resource_id="r"))
    c = fingerprint(outcome(cause="unclassified", resource_id="r", message="disk on fire"))
    d = fingerprint(outcome(cause="unclassified", resource_id="r", message="Disk on  fire"))
    assert len({a, b, c}) == 3 and c == d


def test_storm_leader_members_duplicates_and_retries() -> None:
    now = [1000.0]
    state = MemoryStore(lambda: now[0])
    grouper = Grouper(state, DedupConfig(window=3600, storm_window=600, update_every=60), lambda: now[0])
    first = outcome_of(failure_event(1))
    assert grouper.admit(first, "e1", "all", ["s"]).role == "leader"
    assert grouper.admit(first, "e1", "all", ["s"]).role == "leader"  # a retry decides the same
    second = grouper.admit(outcome_of(failure_event(2)), "e2", "all", ["s"])
    assert second.role == "member"
    dup = grouper.admit(outcome_of(failure_event(2, resource=outcome_of(failure_event(2)).failure.resource_id)),
                        "e3", "all", ["s"])
    assert dup.role == "duplicate" and dup.count == 2
    info = grouper.group_info(second.group or "")
    assert info is not None and (info.events, info.resources) == (3, 2)
    assert not grouper.claim_update(info.id, "s", "e2")  # the first interval: the first message covers it
    now[0] += 61
    assert grouper.claim_update(info.id, "s", "e4") and not grouper.claim_update(info.id, "s", "e5")
    assert grouper.claim_update(info.id, "s", "e4")  # the same event retried keeps its claim
    now[0] += 600
    closed = grouper.closed_groups()
    assert [c.info.id for c in closed] == [info.id]
    grouper.mark_digested(closed[0])
    assert grouper.closed_groups() == []
    assert grouper.admit(outcome_of(failure_event(3)), "e6", "all", ["s"]).role == "leader"  # a new storm
