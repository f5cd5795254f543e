"""The audit trail: every remediation decision (notified, suppressed, planned, applied, refused,
failed), with its reason and the documents before and after, as one structured log line and one
item in the state store.

Nothing secret goes in: policy documents and role assignments hold no secrets, the encoded
authorization message is never recorded, and of the decoded one only the principal, action and
resource are (they are already in the failure's message).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from shared.models import RemediationAction
from shared.state import StateStore

log = logging.getLogger("backup_responder.remediation.audit")

AUDIT_PREFIX = "remediation:audit:"
#: Audit items are kept for 400 days (a year of reviews plus a margin); the logs keep their own retention.
AUDIT_TTL_SECONDS = 400 * 24 * 3600
#: The largest item written to the state store. The Azure Table store keeps at most 32,000
#: characters per item (functions/azure/state.py), DynamoDB 400 KB; documents beyond this are
#: replaced by their SHA-256 in the store (the log line keeps them whole).
MAX_STORED_CHARS = 24_000


class AuditRecord(BaseModel):
    audit_id: str
    time: str
    actor: str
    mode: str
    action: RemediationAction
    reason: str | None = None
    cloud: str
    account_id: str | None = None
    region: str | None = None
    event_id: str | None = None
    job_id: str | None = None
    resource_id: str | None = None
    cause: str
    rule: str | None = None
    kind: str | None = None
    target: str | None = None
    change: str | None = None
    before: Any = None
    after: Any = None
    diff: str | None = None
    restarted_job_id: str | None = None
    restart_error: str | None = None
    needs_person: bool = False
    approval_id: str | None = None
    notes: list[str] = []


def new_audit_id() -> str:
    return uuid.uuid4().hex


def _digest(document: Any) -> dict[str, str]:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return {"sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "omitted": "too large for the state store; the audit log line has it"}


class AuditTrail:
    """Writes audit records to the log (``backup_responder.remediation.audit``) and the state store."""

    def __init__(self, state: StateStore, clock: Callable[[], float] = time.time,
                 ttl_seconds: int = AUDIT_TTL_SECONDS) -> None:
        self.state = state
        self.clock = clock
        self.ttl_seconds = ttl_seconds

    def now(self) -> str:
        return datetime.fromtimestamp(self.clock(), tz=UTC).isoformat()

    def write(self, record: AuditRecord) -> None:
        data = record.model_dump(mode="json")
        log.info("remediation %s: %s", record.action, record.change or record.reason or record.cause,
                 extra={"audit": data})
        item = self._fit(data)
        try:
            self.state.put(AUDIT_PREFIX + record.audit_id, item, ttl_seconds=self.ttl_seconds)
        except Exception as exc:  # the log line is the record of last resort
            log.error("audit record %s could not be stored: %s", record.audit_id, type(exc).__name__)

    @staticmethod
    def _fit(data: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(data, default=str)) <= MAX_STORED_CHARS:
            return data
        fitted = dict(data)
        for name in ("before", "after"):
            if fitted.get(name) is not None:
                fitted[name] = _digest(fitted[name])
        if fitted.get("diff") and len(fitted["diff"]) > MAX_STORED_CHARS // 2:
            fitted["diff"] = fitted["diff"][: MAX_STORED_CHARS // 2] + "\n… (truncated; see the audit log)"
        return fitted

    def read(self, audit_id: str) -> AuditRecord | None:
        item = self.state.get(AUDIT_PREFIX + audit_id)
        return AuditRecord.model_validate(item) if item else None
