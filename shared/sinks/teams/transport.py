"""Teams' transport: a Workflows webhook, and what its answers mean."""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from shared.approval import TeamsApprovalLink
from shared.notify.message import Message
from shared.sinks.base import DestinationKind, Receipt
from shared.sinks.http import RETRYABLE_STATUS, Request, Response, Sender, Verdict, default_verdict
from shared.sinks.teams.config import TeamsSink
from shared.sinks.teams.render import TeamsLimits, build_payload

#: The statuses a Workflows webhook answers when it took the message: 202 Accepted ("Post to a
#: channel when a webhook request is received"), 200 from the retired Office 365 connectors.
SUCCESS_STATUSES = frozenset({200, 202})


#: The connectors reported a failed post inside a 200: "... returned HTTP error 429 with ContextId ...".
_EMBEDDED_STATUS = re.compile(r"HTTP error (\d{3})", re.I)


_ERROR_WORDS = re.compile(r"\b(error|failed|failure|invalid|denied|not found|throttled)\b", re.I)


def body_error(response: Response) -> str | None:
    """The error a success status carries in its body, or None: an empty body, the connectors'
    ``1``, or any JSON or text that names no error, reports none."""
    text = response.text().strip()
    if not text or text == "1":
        return None
    data = response.json()
    if isinstance(data, dict):
        error = data.get("error") or data.get("errors")
        if error or str(data.get("status", "")).lower() in ("failed", "failure", "error"):
            return json.dumps(error or data)[:500]
        return None
    return text[:500] if _ERROR_WORDS.search(text) else None


if TYPE_CHECKING:
    from shared.sinks import BuildContext


class TeamsWorkflow:
    """A Teams Workflows webhook. It answers 202 Accepted (only 200 and 202 count as delivered);
    it cannot update a card, so a storm posts its count at most once per update interval, then a
    digest."""

    kind: DestinationKind = "chat"
    group_updates = True
    limits = TeamsLimits

    def __init__(self, name: str, url: str, sender: Sender, approval: TeamsApprovalLink | None = None) -> None:
        self.name = name
        self._url = url
        self.sender = sender
        self.sender.interval = max(self.sender.interval, TeamsLimits.SECONDS_PER_MESSAGE)
        self.pace_key = "teams:" + hashlib.sha256(url.encode()).hexdigest()[:12]
        #: "Apply fix" on planned fixes (RESPONDER_APPROVAL_BASE_URL and RESPONDER_APPROVAL_SECRET).
        self.approval = approval


    @staticmethod
    def verdict(response: Response, now: float) -> Verdict:
        """202 (Workflows) or 200 with a body that reports no error: delivered. A body that reports
        one (the connectors' "Webhook message delivery failed with error: ... returned HTTP error
        413") is a refusal, retried only when the status it names is; so is any other 2xx.
        413 (too large) and other 4xx: not retried; 429/5xx: retried."""
        if response.status in SUCCESS_STATUSES:
            error = body_error(response)
            if error is None:
                return "ok", None
            embedded = _EMBEDDED_STATUS.search(error)
            if embedded and int(embedded.group(1)) in RETRYABLE_STATUS:
                return "retry", None
            return "fail", None
        if 200 <= response.status < 300:
            return "fail", None
        return default_verdict(response, now)

    def payload(self, message: Message) -> dict[str, Any]:
        return build_payload(message, self.approval, compact=message.compact)

    def preview(self, message: Message, previous: Receipt | None) -> dict[str, Any]:
        return {"method": "POST", "url": "<teams workflows webhook>", "json": self.payload(message)}

    def send(self, message: Message, previous: Receipt | None) -> Receipt:
        request = Request("POST", self._url, "POST workflows webhook", self.payload(message))
        response = self.sender.send(request, self.pace_key, self.verdict)
        return {"status": str(response.status)}


def build(name: str, settings: TeamsSink, context: BuildContext) -> TeamsWorkflow:
    url = context.url(context.secret(settings.webhook_url, "webhook_url"), "webhook_url")
    return TeamsWorkflow(name, url, context.sender(f"teams {name}", settings.retry), context.approval)
