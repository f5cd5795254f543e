"""shared.sinks.servicenow.transport"""

from __future__ import annotations

import base64
from typing import Any

from shared.notify.notice import Notice
from shared.notify.ticket import comment, document, plain, summary_line
from shared.sinks.base import DeliveryError, DestinationKind, Receipt, truncate
from shared.sinks.http import Request, Sender
from shared.sinks.servicenow.render import IMPACT, URGENCY, ServiceNowLimits, escape


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
