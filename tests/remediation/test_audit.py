"""The audit trail: a record per decision in the state store and in the log; documents too large
for the state store are kept there as their digest (the log line keeps them whole)."""

from __future__ import annotations

import json
import logging

import pytest

from shared.remediation.audit import AUDIT_PREFIX, MAX_STORED_CHARS, AuditRecord, AuditTrail
from shared.state import MemoryStore


def record(**update: object) -> AuditRecord:
    data: dict[str, object] = dict(audit_id="a1", time="2026-11-20T05:42:18+00:00", actor="auto", mode="on",
                                   action="applied", cloud="aws", cause="aws.kms.key-access",
                                   before={"Statement": []}, after={"Statement": [{"Sid": "x"}]})
    data.update(update)
    return AuditRecord.model_validate(data)


def test_a_record_is_stored_and_read_back() -> None:
    trail = AuditTrail(MemoryStore())
    trail.write(record())
    assert trail.read("a1") == record()


def test_a_record_too_large_for_the_store_keeps_digests_and_the_log_keeps_everything(
        caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore()
    big = {"Statement": [{"Sid": "pad", "Condition": {"StringEquals": {"k": "x" * 30_000}}}]}
    with caplog.at_level(logging.INFO, logger="backup_responder.remediation.audit"):
        AuditTrail(store).write(record(after=big, diff="+" * 40_000))
    stored = store.get(AUDIT_PREFIX + "a1")
    assert stored is not None and len(json.dumps(stored)) <= MAX_STORED_CHARS
    assert set(stored["after"]) == {"sha256", "omitted"} and stored["action"] == "applied"
    (line,) = caplog.records
    assert line.__dict__["audit"]["after"] == big


def test_a_store_that_fails_does_not_lose_the_log_line(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(MemoryStore):
        def put(self, key: str, item: dict[str, object], ttl_seconds: int | None = None) -> None:
            raise OSError("table unavailable")

    with caplog.at_level(logging.INFO, logger="backup_responder.remediation.audit"):
        AuditTrail(Broken()).write(record())
    assert [r.levelname for r in caplog.records] == ["INFO", "ERROR"]
