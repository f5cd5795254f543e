"""ServiceNow: incidents through the Table API (``/api/now/table/incident``); a recurring failure adds
work notes to the open incident; a recovery resolves it (state 6 with a close code and notes)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from shared.notify.message import Message
from shared.sinks.base import DeliveryError, DestinationKind, Receipt, truncate
from shared.sinks.document import pieces, plain
from shared.sinks.http import Request, Sender
from shared.sinks.servicenow.config import ServiceNowSink
from shared.sinks.servicenow.render import IMPACT, URGENCY, ServiceNowLimits, escape
from shared.vocab import NoticeKind

if TYPE_CHECKING:
    from shared.sinks import BuildContext


#: Kept free in a field for what ``escape`` adds (a character per ``[code]`` tag in untrusted text).
_ESCAPE_ROOM = 100


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

    def create_body(self, message: Message) -> dict[str, Any]:
        body: dict[str, Any] = {
            # The code-tag break adds characters: cut again after it.
            "short_description": truncate(escape(ServiceNowLimits.fit(message).subject),
                                          ServiceNowLimits.MAX_SHORT_DESCRIPTION),
            "description": truncate(escape(plain(pieces(message), ServiceNowLimits.MAX_DESCRIPTION - _ESCAPE_ROOM)),
                                    ServiceNowLimits.MAX_DESCRIPTION),
            "correlation_display": "backup-responder",
        }
        if message.fingerprint:
            body["correlation_id"] = message.fingerprint[: ServiceNowLimits.MAX_CORRELATION_ID]
        if message.cause:
            severity = message.severity
            body["urgency"] = URGENCY.get(severity, "2")
            body["impact"] = IMPACT.get(severity, "3")
        for field, value in (("assignment_group", self.assignment_group), ("caller_id", self.caller_id),
                             ("category", self.category)):
            if value:
                body[field] = value
        body.update(self.extra_fields)
        return body

    def requests(self, message: Message, previous: Receipt | None) -> list[tuple[str, str, Any]]:
        sys_id = (previous or {}).get("sys_id")
        if message.kind == NoticeKind.QUIET_DIGEST:
            return []
        if sys_id is None:
            if message.kind == NoticeKind.RECOVERED:
                return []
            return [("POST", self.TABLE + "?sysparm_fields=sys_id,number", self.create_body(message))]
        notes = truncate(escape(plain(pieces(message, compact=True), ServiceNowLimits.MAX_WORK_NOTES - _ESCAPE_ROOM)),
                         ServiceNowLimits.MAX_WORK_NOTES)
        if message.kind == NoticeKind.RECOVERED:
            return [("PATCH", f"{self.TABLE}/{sys_id}", {**self.resolve_fields, "close_notes": notes,
                                                         "work_notes": notes})]
        return [("PATCH", f"{self.TABLE}/{sys_id}", {"work_notes": notes})]

    def preview(self, message: Message, previous: Receipt | None) -> dict[str, Any]:
        return {"calls": [{"method": m, "path": p, "json": b} for m, p, b in self.requests(message, previous)]}

    def send(self, message: Message, previous: Receipt | None) -> Receipt:
        receipt: Receipt = dict(previous or {})
        for method, path, body in self.requests(message, previous):
            request = Request(method, self.base_url + path, f"{method} {path.split('?')[0]}", body,
                              {"Authorization": self._auth, "Accept": "application/json"})
            data = self.sender.send(request, self.pace_key).json()
            result = (data or {}).get("result") or {}
            if method == "POST":
                if not result.get("sys_id"):
                    raise DeliveryError("servicenow: no sys_id in the answer", retryable=False)
                receipt = {"sys_id": str(result["sys_id"]), "number": str(result.get("number", "")),
                           "url": f"{self.base_url}/nav_to.do?uri=incident.do?sys_id={result['sys_id']}"}
            elif message.kind == NoticeKind.RECOVERED:
                receipt["resolved"] = "true"
        return receipt


def build(name: str, settings: ServiceNowSink, context: BuildContext) -> ServiceNow:
    return ServiceNow(name, context.url(settings.instance_url, "instance_url"),
                      context.sender(f"servicenow {name}", settings.retry), username=settings.username,
                      password=context.secret(settings.password, "password") if settings.password else None,
                      token=context.secret(settings.token, "token") if settings.token else None,
                      assignment_group=settings.assignment_group, caller_id=settings.caller_id,
                      category=settings.category, resolve_fields=settings.resolve_fields, extra_fields=settings.fields)
