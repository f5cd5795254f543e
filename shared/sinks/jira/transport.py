"""Jira Cloud: REST API v3. A failure opens an issue; a recurring failure or a storm digest comments
on the open issue; a recovery comments and moves the issue through the configured transition."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from shared.notify.message import Message
from shared.sinks.base import DeliveryError, DestinationKind, Receipt
from shared.sinks.document import pieces
from shared.sinks.http import Request, Sender
from shared.sinks.jira.config import JiraSink
from shared.sinks.jira.render import PRIORITIES, JiraLimits, adf
from shared.vocab import NoticeKind

if TYPE_CHECKING:
    from shared.sinks import BuildContext


class Jira:
    kind: DestinationKind = "ticket"
    group_updates = False
    limits = JiraLimits

    def __init__(self, name: str, base_url: str, project: str, sender: Sender, *, email: str | None,
                 api_token: str, issue_type: str = "Task", labels: list[str] | None = None,
                 resolve_transition: str | None = "Done", set_priority: bool = False,
                 extra_fields: dict[str, Any] | None = None) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.project = project
        self.sender = sender
        self.sender.interval = max(self.sender.interval, JiraLimits.SECONDS_PER_REQUEST)
        self.issue_type = issue_type
        self.labels = labels or ["backup-failure"]
        self.resolve_transition = resolve_transition
        self.set_priority = set_priority
        self.extra_fields = extra_fields or {}
        if email:
            self._auth = "Basic " + base64.b64encode(f"{email}:{api_token}".encode()).decode()
        else:  # a personal access token (Jira Data Center)
            self._auth = "Bearer " + api_token
        self.pace_key = "jira:" + self.base_url

    def _headers(self) -> dict[str, str]:
        return {"Authorization": self._auth, "Accept": "application/json"}

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        request = Request(method, self.base_url + path, f"{method} {path.split('?')[0]}", body, self._headers())
        return self.sender.send(request, self.pace_key).json()

    def create_body(self, message: Message) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "project": {"key": self.project},
            "issuetype": {"name": self.issue_type},
            "summary": JiraLimits.fit(message).subject,
            "description": adf(pieces(message)),
            "labels": [label.replace(" ", "-") for label in self.labels],
        }
        if message.cause:
            cause_label = "cause-" + message.cause.replace(" ", "-")
            fields["labels"] = [*fields["labels"], cause_label[:255]]
            if self.set_priority:
                fields["priority"] = {"name": PRIORITIES.get(message.severity, "Medium")}
        fields.update(self.extra_fields)
        return {"fields": fields}

    def requests(self, message: Message, previous: Receipt | None) -> list[tuple[str, str, Any]]:
        """(method, path, body) for a message; the transition is looked up when sending."""
        key = (previous or {}).get("key")
        if message.kind == NoticeKind.QUIET_DIGEST:
            return []
        if key is None:
            if message.kind == NoticeKind.RECOVERED:
                return []
            return [("POST", "/rest/api/3/issue", self.create_body(message))]
        calls: list[tuple[str, str, Any]] = [
            ("POST", f"/rest/api/3/issue/{key}/comment", {"body": adf(pieces(message, compact=True))})]
        if message.kind == NoticeKind.RECOVERED and self.resolve_transition:
            calls.append(("POST", f"/rest/api/3/issue/{key}/transitions", {"transition": {
                "name": self.resolve_transition}}))
        return calls

    def preview(self, message: Message, previous: Receipt | None) -> dict[str, Any]:
        return {"calls": [{"method": m, "path": p, "json": b} for m, p, b in self.requests(message, previous)]}

    def _transition(self, key: str) -> None:
        data = self._request("GET", f"/rest/api/3/issue/{key}/transitions")
        wanted = (self.resolve_transition or "").lower()
        for transition in (data or {}).get("transitions", []):
            names = {str(transition.get("name", "")).lower(), str(transition.get("to", {}).get("name", "")).lower()}
            if wanted in names:
                self._request("POST", f"/rest/api/3/issue/{key}/transitions", {"transition": {"id": transition["id"]}})
                return
        # The workflow has no such transition (or the issue is already there): the comment says it.

    def send(self, message: Message, previous: Receipt | None) -> Receipt:
        receipt: Receipt = dict(previous or {})
        for method, path, body in self.requests(message, previous):
            if path.endswith("/transitions"):
                self._transition(receipt["key"])
                receipt["resolved"] = "true"
                continue
            data = self._request(method, path, body)
            if path == "/rest/api/3/issue":
                if not isinstance(data, dict) or not data.get("key"):
                    raise DeliveryError("jira: no issue key in the answer", retryable=False)
                receipt = {"key": str(data["key"]), "id": str(data.get("id", "")),
                           "url": f"{self.base_url}/browse/{data['key']}"}
        return receipt


def build(name: str, settings: JiraSink, context: BuildContext) -> Jira:
    sender = context.sender(f"jira {name}", settings.retry)
    return Jira(name, context.url(settings.url, "url"), settings.project, sender,
                email=settings.email, api_token=context.secret(settings.api_token, "api_token"),
                issue_type=settings.issue_type, labels=settings.labels, resolve_transition=settings.resolve_transition,
                set_priority=settings.set_priority, extra_fields=settings.fields)
