"""ServiceNow: incidents through the Table API (``/api/now/table/incident``); a recurring failure adds
work notes to the open incident; a recovery resolves it (state 6 with a close code and notes).

Journal fields (work notes, comments) render what stands between ``[code]`` and ``[/code]`` as raw
HTML, so untrusted text (an error message, a resource name) could inject markup and links: every
text sent here has its code tags broken (``escape``) and is shown as the text it is."""

from __future__ import annotations

import base64
import re
from typing import Any

from shared.delivery.base import DestinationKind, Notice, Receipt, truncate
from shared.delivery.http import Request, Sender
from shared.delivery.ticket import comment, document, plain, summary_line
from shared.sinks import DeliveryError


class ServiceNowLimits:
    #: incident.short_description is a String(160) in the base system dictionary.
    MAX_SHORT_DESCRIPTION = 160
    #: incident.description is a String(4000) in the base system dictionary.
    MAX_DESCRIPTION = 4000
    #: Journal fields (work_notes) take up to 4000 characters per entry in the base system.
    MAX_WORK_NOTES = 4000
    #: task.correlation_id is a String(100).
    MAX_CORRELATION_ID = 100
    #: Inbound REST rate limit rules answer 429 with Retry-After; our own spacing.
    SECONDS_PER_REQUEST = 0.2


#: ``[code]`` and ``[/code]`` in any case and spacing: ServiceNow's raw-HTML escape in journal fields.
_CODE_TAG = re.compile(r"\[(?=\s*/?\s*code\s*\])", re.I)
#: Put after the bracket, it keeps the text readable and the tag inert.
_BREAK = "\u200b"


def escape(text: str) -> str:
    """Text for a ServiceNow field: ``[code]`` tags broken so they never switch to raw HTML."""
    return _CODE_TAG.sub("[" + _BREAK, text)


#: urgency/impact: 1 high, 2 medium, 3 low.
URGENCY = {"critical": "1", "high": "2", "medium": "2", "low": "3"}
IMPACT = {"critical": "1", "high": "2", "medium": "3", "low": "3"}


class ServiceNow:
    kind: DestinationKind = "ticket"
    group_updates = False
    limits = ServiceNowLimits
    TABLE = "/api/now/table/incident"

    def __init__(self, name: str, instance_url: str, sender: Sender, *, username: str | None = None,
                 password: str | None = None, token: str | None = None, assignment_group: str | None = None,
                 caller_id: str | None = None, category: str | None = None,
                 resolve_fields: dict[str, str] | None = None, extra_fields: dict[str, Any] | None = None) -> None:
        self.name = name
        self.base_url = instance_url.rstrip("/")
        self.sender = sender
        self.sender.interval = max(self.sender.interval, ServiceNowLimits.SECONDS_PER_REQUEST)
        if token:
            self._auth = "Bearer " + token
        else:
            self._auth = "Basic " + base64.b64encode(f"{username or ''}:{password or ''}".encode()).decode()
        self.assignment_group = assignment_group
        self.caller_id = caller_id
        self.category = category
        self.resolve_fields = resolve_fields or {"state": "6", "close_code": "Solution provided"}
        self.extra_fields = extra_fields or {}
        self.pace_key = "servicenow:" + self.base_url

    def create_body(self, notice: Notice) -> dict[str, Any]:
        body: dict[str, Any] = {
            "short_description": truncate(escape(summary_line(notice)), ServiceNowLimits.MAX_SHORT_DESCRIPTION),
            "description": truncate(escape(plain(document(notice))), ServiceNowLimits.MAX_DESCRIPTION),
            "correlation_display": "backup-responder",
        }
        if notice.fingerprint:
            body["correlation_id"] = notice.fingerprint[: ServiceNowLimits.MAX_CORRELATION_ID]
        if notice.outcome is not None:
            severity = notice.outcome.finding.severity
            body["urgency"] = URGENCY.get(severity, "2")
            body["impact"] = IMPACT.get(severity, "3")
        for field, value in (("assignment_group", self.assignment_group), ("caller_id", self.caller_id),
                             ("category", self.category)):
            if value:
                body[field] = value
        body.update(self.extra_fields)
        return body

    def requests(self, notice: Notice, previous: Receipt | None) -> list[tuple[str, str, Any]]:
        sys_id = (previous or {}).get("sys_id")
        if notice.kind == "quiet-digest":
            return []
        if sys_id is None:
            if notice.kind == "recovered":
                return []
            return [("POST", self.TABLE + "?sysparm_fields=sys_id,number", self.create_body(notice))]
        notes = truncate(escape(plain(comment(notice))), ServiceNowLimits.MAX_WORK_NOTES)
        if notice.kind == "recovered":
            return [("PATCH", f"{self.TABLE}/{sys_id}", {**self.resolve_fields, "close_notes": notes,
                                                         "work_notes": notes})]
        return [("PATCH", f"{self.TABLE}/{sys_id}", {"work_notes": notes})]

    def preview(self, notice: Notice, previous: Receipt | None) -> dict[str, Any]:
        return {"calls": [{"method": m, "path": p, "json": b} for m, p, b in self.requests(notice, previous)]}

    def send(self, notice: Notice, previous: Receipt | None) -> Receipt:
        receipt: Receipt = dict(previous or {})
        for method, path, body in self.requests(notice, previous):
            request = Request(method, self.base_url + path, f"{method} {path.split('?')[0]}", body,
                              {"Authorization": self._auth, "Accept": "application/json"})
            data = self.sender.send(request, self.pace_key).json()
            result = (data or {}).get("result") or {}
            if method == "POST":
                if not result.get("sys_id"):
                    raise DeliveryError("servicenow: no sys_id in the answer", retryable=False)
                receipt = {"sys_id": str(result["sys_id"]), "number": str(result.get("number", "")),
                           "url": f"{self.base_url}/nav_to.do?uri=incident.do?sys_id={result['sys_id']}"}
            elif notice.kind == "recovered":
                receipt["resolved"] = "true"
        return receipt
