"""Slack's transports: an incoming webhook, or the Web API with a bot token (which also threads and
updates a message in place). Both send what ``render.build_message`` makes of a ``Message``."""

from __future__ import annotations

import hashlib
import json
import math
from typing import TYPE_CHECKING, Any, Literal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from shared.notify.message import Message
from shared.sinks.base import DeliveryError, DestinationKind, Receipt
from shared.sinks.http import Response, Sender, Verdict, default_verdict
from shared.sinks.slack.config import SlackSink
from shared.sinks.slack.render import _SDK_LOG, SlackLimits, build_message
from shared.vocab import NoticeKind


def _key(secret: str) -> str:
    """A stable, non-secret name for a webhook (for pacing)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


if TYPE_CHECKING:
    from shared.sinks import BuildContext


class SlackWebhook:
    """An incoming webhook (one channel). It cannot update a message: a storm posts its count at
    most once per update interval, then a digest."""

    kind: DestinationKind = "chat"
    group_updates = True
    limits = SlackLimits

    def __init__(self, name: str, url: str, sender: Sender) -> None:
        self.name = name
        self._url = url
        self.sender = sender
        self.sender.interval = max(self.sender.interval, SlackLimits.SECONDS_PER_MESSAGE)
        self.pace_key = "slack-webhook:" + _key(url)


    @staticmethod
    def verdict(response: Response, now: float) -> Verdict:
        """Incoming webhooks answer 200 ``ok``; errors are 4xx with a word (``invalid_payload``,
        ``channel_not_found``, ``channel_is_archived``, ``no_service``...), and a 200 or other 2xx
        with any other body is a refusal too. slack_sdk does not raise on them."""
        if response.status == 200 and response.text().strip() == "ok":
            return "ok", None
        if 200 <= response.status < 300:
            return "fail", None
        return default_verdict(response, now)

    def payload(self, message: Message) -> dict[str, Any]:
        return {**build_message(message, compact=message.compact), "unfurl_links": False,
                "unfurl_media": False}

    def preview(self, message: Message, previous: Receipt | None) -> dict[str, Any]:
        return {"method": "POST", "url": "<slack incoming webhook>", "json": self.payload(message)}

    def send(self, message: Message, previous: Receipt | None) -> Receipt:
        body = self.payload(message)

        def attempt(timeout: float) -> Response:
            client = WebhookClient(self._url, timeout=math.ceil(timeout), retry_handlers=[], logger=_SDK_LOG)
            resp = client.send_dict(body)
            return Response(resp.status_code, dict(resp.headers or {}), (resp.body or "").encode())

        response = self.sender.call("POST webhook", attempt, self.pace_key, self.verdict)
        return {"status": str(response.status)}


RETRYABLE_API_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                                  "request_timeout"})


class SlackApi:
    """The Web API with a bot token (``chat:write``): posts, threads, and updates the storm's first
    message in place (``storm_mode: update``) or replies in its thread (``storm_mode: thread``)."""

    kind: DestinationKind = "chat"
    group_updates = True
    limits = SlackLimits
    DEFAULT_BASE_URL = "https://slack.com/api/"

    def __init__(self, name: str, token: str, channel: str, sender: Sender,
                 storm_mode: Literal["update", "thread"] = "update", base_url: str | None = None) -> None:
        self.name = name
        self._token = token
        self.channel = channel
        self.sender = sender
        self.sender.interval = max(self.sender.interval, SlackLimits.SECONDS_PER_MESSAGE)
        self.storm_mode = storm_mode
        self.base_url = base_url or self.DEFAULT_BASE_URL
        self.pace_key = "slack:" + channel


    @staticmethod
    def verdict(response: Response, now: float) -> Verdict:
        """The Web API answers 200 ``{"ok": true, ...}``; ``{"ok": false, "error": ...}`` is a
        refusal (retried for the errors Slack names as transient), and so is any other 2xx."""
        if 200 <= response.status < 300:
            data = response.json()
            if response.status == 200 and isinstance(data, dict) and data.get("ok") is True:
                return "ok", None
            error = data.get("error") if isinstance(data, dict) else None
            return ("retry", None) if error in RETRYABLE_API_ERRORS else ("fail", None)
        return default_verdict(response, now)

    def _call(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        def attempt(timeout: float) -> Response:
            client = WebClient(token=self._token, base_url=self.base_url, timeout=math.ceil(timeout),
                               retry_handlers=[], logger=_SDK_LOG)
            try:
                resp = client.api_call(method, json=args)
            except SlackApiError as exc:
                resp = exc.response
            except ValueError as exc:  # a body that is not JSON (a proxy's 502 page)
                return Response(502, {}, str(type(exc).__name__).encode())
            return Response(resp.status_code, dict(resp.headers or {}), json.dumps(resp.data).encode())

        response = self.sender.call(method, attempt, self.pace_key, self.verdict)
        data = response.json()
        return data if isinstance(data, dict) else {}

    def requests(self, message: Message, previous: Receipt | None) -> list[tuple[str, dict[str, Any]]]:
        """The Web API calls for a message: (method, arguments)."""
        ts = (previous or {}).get("ts")
        channel = (previous or {}).get("channel") or self.channel
        base = {"channel": channel, "unfurl_links": False, "unfurl_media": False}
        if message.kind in (NoticeKind.GROUP, NoticeKind.DIGEST) and ts:
            # The first message, edited: the storm's count on top of the whole message.
            update = ("chat.update", {"channel": channel, "ts": ts, **build_message(message)})
            reply = ("chat.postMessage", {**base, "thread_ts": ts, **build_message(message, compact=True)})
            if message.kind == NoticeKind.DIGEST:
                return [update, reply]
            return [update] if self.storm_mode == "update" else [reply]
        if message.kind in (NoticeKind.RECOVERED, NoticeKind.REPEAT) and ts:
            return [("chat.postMessage", {**base, "thread_ts": ts, **build_message(message, compact=True)})]
        return [("chat.postMessage", {**base, **build_message(message, compact=message.compact)})]

    def preview(self, message: Message, previous: Receipt | None) -> dict[str, Any]:
        return {"calls": [{"method": m, "json": a} for m, a in self.requests(message, previous)]}

    def send(self, message: Message, previous: Receipt | None) -> Receipt:
        receipt: Receipt = dict(previous or {})
        for method, args in self.requests(message, previous):
            data = self._call(method, args)
            if method == "chat.postMessage" and "thread_ts" not in args:
                if not data.get("ts"):
                    raise DeliveryError(f"slack {method}: no ts in the answer", retryable=False)
                receipt = {"channel": str(data.get("channel") or self.channel), "ts": str(data["ts"])}
        return receipt or {"channel": self.channel}


def build(name: str, settings: SlackSink, context: BuildContext) -> SlackWebhook | SlackApi:
    sender = context.sender(f"slack {name}", settings.retry)
    if settings.webhook_url:
        url = context.url(context.secret(settings.webhook_url, "webhook_url"), "webhook_url")
        return SlackWebhook(name, url, sender)
    return SlackApi(name, context.secret(settings.token, "token"), settings.channel or "", sender, settings.storm_mode,
                    context.url(settings.api_url, "api_url") if settings.api_url else None)
