"""shared.sinks.jira.transport"""

from __future__ import annotations

import base64
from typing import Any

from shared.notify.notice import Notice
from shared.notify.ticket import comment, document, summary_line
from shared.sinks.base import DeliveryError, DestinationKind, Receipt, truncate
from shared.sinks.http import Request, Sender
from shared.sinks.jira.render import PRIORITIES, JiraLimits, adf


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

    def create_body(self, notice: Notice) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "project": {"key": self.project},
            "issuetype": {"name": self.issue_type},
            "summary": truncate(summary_line(notice), JiraLimits.MAX_SUMMARY),
            "description": adf(document(notice)),
            "labels": [label.replace(" ", "-") for label in self.labels],
        }
        if notice.outcome is not None:
            cause_label = "cause-" + notice.outcome.finding.cause.replace(" ", "-")
            fields["labels"] = [*fields["labels"], cause_label[:255]]
            if self.set_priority:
                fields["priority"] = {"name": PRIORITIES.get(notice.outcome.finding.severity, "Medium")}
        fields.update(self.extra_fields)
        return {"fields": fields}

    def requests(self, notice: Notice, previous: Receipt | None) -> list[tuple[str, str, Any]]:
        """(method, path, body) for a notice; the transition is looked up when sending."""
        key = (previous or {}).get("key")
        if notice.kind == "quiet-digest":
            return []
        if key is None:
            return [] if notice.kind == "recovered" else [("POST", "/rest/api/3/issue", self.create_body(notice))]
        calls: list[tuple[str, str, Any]] = [
            ("POST", f"/rest/api/3/issue/{key}/comment", {"body": adf(comment(notice))})]
        if notice.kind == "recovered" and self.resolve_transition:
            calls.append(("POST", f"/rest/api/3/issue/{key}/transitions", {"transition": {
                "name": self.resolve_transition}}))
        return calls

    def preview(self, notice: Notice, previous: Receipt | None) -> dict[str, Any]:
        return {"calls": [{"method": m, "path": p, "json": b} for m, p, b in self.requests(notice, previous)]}

    def _transition(self, key: str) -> None:
        data = self._request("GET", f"/rest/api/3/issue/{key}/transitions")
        wanted = (self.resolve_transition or "").lower()
        for transition in (data or {}).get("transitions", []):
            names = {str(transition.get("name", "")).lower(), str(transition.get("to", {}).get("name", "")).lower()}
            if wanted in names:
                self._request("POST", f"/rest/api/3/issue/{key}/transitions", {"transition": {"id": transition["id"]}})
                return
        # The workflow has no such transition (or the issue is already there): the comment says it.

    def send(self, notice: Notice, previous: Receipt | None) -> Receipt:
        receipt: Receipt = dict(previous or {})
        for method, path, body in self.requests(notice, previous):
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
