"""Jira Cloud: REST API v3, issues with an Atlassian Document Format (ADF) description; a recurring
failure comments on its open issue; a recovery comments and moves the issue through the configured
transition (e.g. "Done")."""

from __future__ import annotations

import base64
from typing import Any

from shared.delivery.base import DestinationKind, Notice, Receipt, truncate
from shared.delivery.http import Request, Sender
from shared.delivery.ticket import Part, comment, document, summary_line
from shared.sinks import DeliveryError


class JiraLimits:
    #: The ``summary`` field holds at most 255 characters (Jira Cloud: "Summary must be less than 255 characters").
    MAX_SUMMARY = 255
    #: Text fields (description, comment) hold at most 32,767 characters (Jira Cloud field limits).
    MAX_TEXT = 32_767
    #: A code block or paragraph we render is cut at this many characters so a description stays in bounds.
    MAX_PART = 8_000
    #: Jira Cloud's rate limits are cost based and answer 429 with Retry-After
    #: (developer.atlassian.com/cloud/jira/platform/rate-limiting); we space our own requests.
    SECONDS_PER_REQUEST = 0.2


def _text(value: str, **marks: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": value}
    if marks:
        node["marks"] = [{"type": k, **({"attrs": v} if isinstance(v, dict) else {})} for k, v in marks.items()]
    return node


def adf(parts: list[Part], budget: int = JiraLimits.MAX_TEXT) -> dict[str, Any]:
    """An ADF document; every text node non-empty (ADF rejects empty text), the whole within
    ``budget`` characters of text."""
    content: list[dict[str, Any]] = []
    used = 0

    def take(value: str, limit: int = JiraLimits.MAX_PART) -> str:
        nonlocal used
        value = truncate(value, min(limit, max(budget - used, 0)))
        used += len(value)
        return value

    for part in parts:
        if used >= budget:
            break
        if part.kind == "heading" and part.text:
            content.append({"type": "heading", "attrs": {"level": 3}, "content": [_text(take(part.text))]})
        elif part.kind == "text" and part.text.strip():
            content.append({"type": "paragraph", "content": [_text(take(part.text))]})
        elif part.kind == "code" and part.text.strip():
            node: dict[str, Any] = {"type": "codeBlock", "content": [_text(take(part.text))]}
            if part.language:
                node["attrs"] = {"language": part.language}
            content.append(node)
        elif part.kind == "steps" and part.items:
            content.append({"type": "orderedList", "content": [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [_text(take(item) or "-")]}]}
                for item in part.items if item.strip()]})
        elif part.kind == "facts" and part.pairs:
            content.append({"type": "bulletList", "content": [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [
                    _text(f"{name}: ", strong=True), _text(take(value) or "-")]}]}
                for name, value in part.pairs]})
        elif part.kind == "links" and part.pairs:
            content.append({"type": "bulletList", "content": [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [
                    _text(name, link={"href": url})]}]} for name, url in part.pairs]})
    return {"type": "doc", "version": 1, "content": content or [{"type": "paragraph", "content": [_text("-")]}]}


PRIORITIES = {"critical": "Highest", "high": "High", "medium": "Medium", "low": "Low"}


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
