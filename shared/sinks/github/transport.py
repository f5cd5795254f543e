"""GitHub Issues: an issue per failure (REST API), a comment when it recurs, and a comment and close
when a later job succeeds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.notify.message import Message
from shared.sinks.base import DeliveryError, DestinationKind, Receipt, truncate
from shared.sinks.document import pieces
from shared.sinks.github.config import GitHubSink
from shared.sinks.github.render import GitHubLimits, markdown
from shared.sinks.http import Request, Response, Sender, Verdict, default_verdict, parse_retry_after
from shared.vocab import NoticeKind

if TYPE_CHECKING:
    from shared.sinks import BuildContext


class GitHub:
    kind: DestinationKind = "ticket"
    group_updates = False
    limits = GitHubLimits
    API_URL = "https://api.github.com"

    def __init__(self, name: str, repo: str, token: str, sender: Sender, labels: list[str] | None = None,
                 assignees: list[str] | None = None, api_url: str | None = None) -> None:
        self.name = name
        self.repo = repo
        self._token = token
        self.sender = sender
        self.sender.interval = max(self.sender.interval, GitHubLimits.SECONDS_PER_REQUEST)
        self.labels = labels or ["backup-failure"]
        self.assignees = assignees or []
        self.api_url = (api_url or self.API_URL).rstrip("/")
        self.pace_key = "github:" + repo

    @staticmethod
    def verdict(response: Response, now: float) -> Verdict:
        """403/429 with ``retry-after``, or with ``x-ratelimit-remaining: 0`` until ``x-ratelimit-reset``,
        are rate limits (retried); other 4xx are not retried."""
        if response.status in (403, 429):
            after = parse_retry_after(response.header("retry-after"), now)
            if after is not None:
                return "retry", after
            if response.header("x-ratelimit-remaining") == "0" and response.header("x-ratelimit-reset"):
                try:
                    return "retry", max(0.0, float(response.header("x-ratelimit-reset") or 0) - now)
                except ValueError:
                    return "retry", None
            if response.status == 429:
                return "retry", None
        return default_verdict(response, now)

    def requests(self, message: Message, previous: Receipt | None) -> list[tuple[str, str, Any]]:
        number = (previous or {}).get("number")
        base = f"/repos/{self.repo}/issues"
        if message.kind == NoticeKind.QUIET_DIGEST:
            return []
        if number is None:
            if message.kind == NoticeKind.RECOVERED:
                return []
            body: dict[str, Any] = {"title": GitHubLimits.fit(message).subject,
                                    "body": truncate(markdown(pieces(message)), GitHubLimits.MAX_BODY),
                                    "labels": self.labels}
            if self.assignees:
                body["assignees"] = self.assignees
            return [("POST", base, body)]
        calls: list[tuple[str, str, Any]] = [
            ("POST", f"{base}/{number}/comments",
             {"body": truncate(markdown(pieces(message, compact=True)), GitHubLimits.MAX_BODY)})]
        if message.kind == NoticeKind.RECOVERED:
            calls.append(("PATCH", f"{base}/{number}", {"state": "closed", "state_reason": "completed"}))
        return calls

    def preview(self, message: Message, previous: Receipt | None) -> dict[str, Any]:
        return {"calls": [{"method": m, "path": p, "json": b} for m, p, b in self.requests(message, previous)]}

    def send(self, message: Message, previous: Receipt | None) -> Receipt:
        receipt: Receipt = dict(previous or {})
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/vnd.github+json",
                   "X-GitHub-Api-Version": GitHubLimits.API_VERSION}
        for method, path, body in self.requests(message, previous):
            label = f"{method} /repos/{{repo}}/issues" + ("/{n}" if path.count("/") > 4 else "")
            request = Request(method, self.api_url + path, label, body, headers)
            data = self.sender.send(request, self.pace_key, self.verdict).json() or {}
            if method == "POST" and path.endswith("/issues"):
                if "number" not in data:
                    raise DeliveryError("github: no issue number in the answer", retryable=False)
                receipt = {"number": str(data["number"]), "url": str(data.get("html_url", ""))}
            elif method == "PATCH":
                receipt["resolved"] = "true"
        return receipt


def build(name: str, settings: GitHubSink, context: BuildContext) -> GitHub:
    return GitHub(name, settings.repo, context.secret(settings.token, "token"),
                  context.sender(f"github {name}", settings.retry), settings.labels, settings.assignees,
                  context.url(settings.api_url, "api_url") if settings.api_url else None)
