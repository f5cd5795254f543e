"""Approving a planned fix from chat: Slack's "Apply fix" button and a Teams card action.

A planned fix (mode ``dry-run``, or an allow-list entry with ``require_approval``) carries an
approval id when people may approve it (``remediation.approval`` in the configuration). Pressing
"Apply fix" applies the same fix through the same guardrails (``RemediationEngine.approve``).

Slack (interactivity request URL): every request is checked before anything else:

- its signature: ``X-Slack-Signature`` is ``v0=`` + HMAC-SHA256 of ``v0:<timestamp>:<raw body>``
  with the app's signing secret, compared in constant time;
- its age: ``X-Slack-Request-Timestamp`` within five minutes of now (Slack's recommendation);
- replays: the signature is remembered in the state store for twice that window, so the same
  request is accepted once;
- the user (and workspace) is in the allow-list of ``remediation.approval``.

Teams (Workflows webhooks post cards that cannot call back): the card carries an ``Action.OpenUrl``
to ``/api/remediation/approve?id=…&sig=…`` (the link is signed with ``RESPONDER_APPROVAL_SECRET``).
That page is served behind App Service Authentication (Easy Auth), which tells the function who the
user is (``X-MS-CLIENT-PRINCIPAL-ID``); GET shows what would change and a confirmation button, and
only the POST (with a token bound to that user) applies the fix.

The HTTP wiring (Lambda function URL, Azure Functions route) is a thin layer around
``SlackApproval.handle`` and ``TeamsApproval.handle``.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from msgspec import Struct, field

from shared.models import Outcome
from shared.redact import masked_repr
from shared.remediation.audit import AuditRecord, new_audit_id
from shared.remediation.config import ApprovalConfig
from shared.remediation.engine import Decision, RemediationEngine
from shared.remediation.render import diff_lines, headline
from shared.untrusted import read_json

log = logging.getLogger("backup_responder.approval")

#: Slack's signature version (the ``v0=`` prefix and the ``v0:`` base string).
SLACK_SIGNATURE_VERSION = "v0"
#: "If the timestamp is more than five minutes from local time, it could be a replay attack."
#: (Slack, "Verifying requests from Slack").
SLACK_TIMESTAMP_TOLERANCE_SECONDS = 300
#: The ``action_id`` of the "Apply fix" button.
APPLY_ACTION_ID = "remediation_apply"
#: Slack button text: at most 75 characters; value: at most 2000 (Block Kit button element).
APPLY_BUTTON_TEXT = "Apply fix"
#: Slack interactivity payloads are small; anything bigger is not one.
MAX_BODY_BYTES = 64 * 1024
#: ``response_url`` must be one of Slack's; nothing else is ever called with a message.
SLACK_RESPONSE_HOSTS = ("hooks.slack.com",)
#: App Service Authentication's header with the signed-in user's object id (Easy Auth).
EASY_AUTH_PRINCIPAL_ID = "x-ms-client-principal-id"
EASY_AUTH_PRINCIPAL_NAME = "x-ms-client-principal-name"
REPLAY_PREFIX = "approval:slack-request:"


class ApprovalError(Exception):
    """A request that must be rejected (``status``: 400 bad input, 401 not authentic, 403 not allowed)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Reply(Struct):
    """What the HTTP layer sends back, plus an optional follow-up message for Slack's ``response_url``."""

    status: int
    body: str = ""
    content_type: str = "application/json"
    follow_up: dict[str, Any] | None = None
    response_url: str | None = None
    decision: Decision | None = None
    headers: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------- Slack
def slack_signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    base = f"{SLACK_SIGNATURE_VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(signing_secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return f"{SLACK_SIGNATURE_VERSION}={digest}"


def verify_slack_signature(signing_secret: str, headers: Mapping[str, str], body: bytes, now: float,
                           tolerance: int = SLACK_TIMESTAMP_TOLERANCE_SECONDS) -> str:
    """The request's signature when it is authentic and fresh; ``ApprovalError`` (401) otherwise."""
    if not signing_secret:
        raise ApprovalError("no Slack signing secret is configured", 401)
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get("x-slack-request-timestamp", "")
    signature = lowered.get("x-slack-signature", "")
    if not timestamp or not signature:
        raise ApprovalError("the request is not signed by Slack", 401)
    try:
        age = abs(now - int(timestamp))
    except ValueError:
        raise ApprovalError("the Slack timestamp is not a number", 401) from None
    if age > tolerance:
        raise ApprovalError("the Slack request is too old (or from the future)", 401)
    expected = slack_signature(signing_secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise ApprovalError("the Slack signature does not match", 401)
    return signature


def _check_slack_request(signing_secret: str, body: bytes, headers: Mapping[str, str], now: float) -> str:
    """The request's signature when it is small enough, authentic and fresh; ``ApprovalError`` otherwise."""
    if len(body) > MAX_BODY_BYTES:
        raise ApprovalError("the request is too large", 400)
    return verify_slack_signature(signing_secret, headers, body, now)


def slack_refusal(signing_secret: str, body: bytes, headers: Mapping[str, str], now: float) -> Reply | None:
    """The answer to a request that is too large (400) or not signed by Slack with this secret, or
    stale (401); None when it is authentic. Needs no state and no engine, so an HTTP layer can
    refuse a forged request before it builds anything (``SlackApproval.handle`` checks it again)."""
    try:
        _check_slack_request(signing_secret, body, headers, now)
    except ApprovalError as exc:
        log.warning("Slack approval request rejected: %s", exc)
        return Reply(exc.status, json.dumps({"error": str(exc)}))
    return None


def slack_apply_button(approval_id: str) -> dict[str, Any]:
    """The Block Kit button for a planned fix (put it in an ``actions`` block), with a confirm dialog."""
    return {
        "type": "button",
        "action_id": APPLY_ACTION_ID,
        "text": {"type": "plain_text", "text": APPLY_BUTTON_TEXT},
        "style": "primary",
        "value": approval_id,
        "confirm": {
            "title": {"type": "plain_text", "text": "Apply this fix?"},
            "text": {"type": "mrkdwn", "text": "The change shown in the message is made now, through the same "
                                               "guardrails, and recorded in the audit trail."},
            "confirm": {"type": "plain_text", "text": "Apply"},
            "deny": {"type": "plain_text", "text": "Cancel"},
        },
    }


def decision_text(decision: Decision | None) -> str:
    """The follow-up text for the person who approved."""
    if decision is None:
        return "This fix is no longer waiting for approval (it expired, or it was applied already)."
    summary = decision.summary()
    lines = [headline(summary) or f"{summary.action}: {summary.reason or ''}"]
    lines += diff_lines(summary, limit=20)
    if summary.needs_person:
        lines.append("A person must look at this: automation stopped here.")
    lines.append(f"Audit record: {summary.audit_id}")
    return "\n".join(lines)


class SlackApproval(Struct):
    """Handles Slack interactivity requests for "Apply fix"."""

    signing_secret: str
    engine: RemediationEngine
    clock: Callable[[], float] = time.time

    def __repr__(self) -> str:
        return masked_repr(self, "signing_secret")

    @property
    def config(self) -> ApprovalConfig:
        return self.engine.config.approval

    def handle(self, body: bytes, headers: Mapping[str, str]) -> Reply:
        try:
            return self._handle(body, headers)
        except ApprovalError as exc:
            log.warning("Slack approval request rejected: %s", exc)
            return Reply(exc.status, json.dumps({"error": str(exc)}))

    def _handle(self, body: bytes, headers: Mapping[str, str]) -> Reply:
        signature = _check_slack_request(self.signing_secret, body, headers, self.clock())
        if not self.engine.state.add(REPLAY_PREFIX + signature, {"at": self.clock()},
                                     ttl_seconds=2 * SLACK_TIMESTAMP_TOLERANCE_SECONDS):
            raise ApprovalError("this Slack request was already received (replay)", 401)
        payload = _slack_payload(body)
        action = next((a for a in payload.get("actions") or [] if isinstance(a, dict)
                       and a.get("action_id") == APPLY_ACTION_ID), None)
        if payload.get("type") != "block_actions" or action is None:
            return Reply(200, "")  # another interaction of the app: nothing to do here
        approval_id = str(action.get("value") or "")
        user = payload.get("user") or {}
        user_id = str(user.get("id") or "")
        team_id = str((payload.get("team") or {}).get("id") or user.get("team_id") or "")
        response_url = _slack_response_url(payload.get("response_url"))
        actor = f"slack:{user_id or 'unknown'}"
        teams = self.config.slack_teams
        if user_id not in self.config.slack_users or (teams and team_id not in teams):
            self._refusal(approval_id, actor, f"{actor} is not allowed to approve fixes")
            text = "You are not allowed to apply fixes. Ask one of the approvers in the remediation configuration."
            return Reply(200, "", follow_up=_ephemeral(text), response_url=response_url)
        decision = self.engine.approve(approval_id, actor)
        text = decision_text(decision)
        if decision is not None and decision.action == "applied":
            text += f"\nApproved by <@{user_id}>."
        return Reply(200, "", follow_up={"response_type": "in_channel", "replace_original": False, "text": text},
                     response_url=response_url, decision=decision)

    def _refusal(self, approval_id: str, actor: str, reason: str) -> None:
        outcome = self.engine.pending_outcome(approval_id) if approval_id else None
        _audit_refusal(self.engine, outcome, approval_id, actor, reason)


def _audit_refusal(engine: RemediationEngine, outcome: Outcome | None, approval_id: str, actor: str,
                   reason: str) -> None:
    failure = outcome.failure if outcome else None
    engine.audit.write(AuditRecord(
        audit_id=new_audit_id(), time=engine.audit.now(), actor=actor, mode="approved", action="refused",
        reason=reason, cloud=failure.cloud if failure else "unknown",
        account_id=failure.account_id if failure else None, event_id=failure.event_id if failure else None,
        job_id=failure.job_id if failure else None, cause=outcome.finding.cause if outcome else "unknown",
        approval_id=approval_id or None))


def _slack_payload(body: bytes) -> dict[str, Any]:
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=False)
        payload = read_json(form["payload"][0])  # bounded: no nesting that exhausts the stack
    except (UnicodeDecodeError, KeyError, IndexError, ValueError):
        raise ApprovalError("not a Slack interactivity payload", 400) from None
    if not isinstance(payload, dict):
        raise ApprovalError("not a Slack interactivity payload", 400)
    return payload


def _slack_response_url(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    parsed = urlparse(value)
    return value if parsed.scheme == "https" and parsed.hostname in SLACK_RESPONSE_HOSTS else None


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


def post_follow_up(reply: Reply, opener: Callable[..., Any] = urllib.request.urlopen, timeout: float = 5.0) -> bool:
    """Post ``reply.follow_up`` to Slack's ``response_url`` (only ever a hooks.slack.com URL)."""
    if not reply.follow_up or not reply.response_url or _slack_response_url(reply.response_url) is None:
        return False
    # The URL was checked to be https://hooks.slack.com/... (no file: or other schemes).
    request = urllib.request.Request(reply.response_url, data=json.dumps(reply.follow_up).encode("utf-8"),  # noqa: S310
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with opener(request, timeout=timeout):
            return True
    except OSError as exc:
        log.warning("the follow-up to Slack could not be posted: %s", type(exc).__name__)
        return False


# ---------------------------------------------------------------------- Teams
def _sign(secret: str, *parts: str) -> str:
    return hmac.new(secret.encode("utf-8"), "|".join(parts).encode("utf-8"), hashlib.sha256).hexdigest()


def teams_approval_url(base_url: str, approval_id: str, secret: str) -> str:
    """The signed link a Teams card opens for a planned fix (``base_url``: ``https://<app>/api``)."""
    query = urlencode({"id": approval_id, "sig": _sign(secret, "link", approval_id)})
    return f"{base_url.rstrip('/')}/remediation/approve?{query}"


def teams_apply_action(base_url: str, approval_id: str, secret: str) -> dict[str, Any]:
    """The Adaptive Card action for a planned fix (Workflows cards can open a URL, not call back)."""
    return {"type": "Action.OpenUrl", "title": APPLY_BUTTON_TEXT,
            "url": teams_approval_url(base_url, approval_id, secret)}


class TeamsApprovalLink(Struct, frozen=True):
    """What a Teams card needs to offer "Apply fix": the approval endpoint's base URL
    (``RESPONDER_APPROVAL_BASE_URL``) and the secret that signs the link (``RESPONDER_APPROVAL_SECRET``,
    kept out of ``repr``)."""

    base_url: str
    secret: str

    def __repr__(self) -> str:
        return masked_repr(self, "secret")

    def action(self, approval_id: str) -> dict[str, Any]:
        return teams_apply_action(self.base_url, approval_id, self.secret)


def _page(title: str, body: str, status: int = 200) -> Reply:
    document = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
                f"<body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return Reply(status, document, content_type="text/html; charset=utf-8",
                 headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                          "Content-Security-Policy": "default-src 'none'; form-action 'self'"})


def teams_refusal(secret: str, params: Mapping[str, str], headers: Mapping[str, str]) -> Reply | None:
    """The page for a link not signed with ``secret`` (400) or a request without a signed-in user
    (401); None when both are there. Needs no state and no engine (see ``slack_refusal``)."""
    approval_id, sig = params.get("id", ""), params.get("sig", "")
    if not secret or not approval_id or not hmac.compare_digest(sig, _sign(secret, "link", approval_id)):
        return _page("Not a valid approval link", "", 400)
    principal = {k.lower(): v for k, v in headers.items()}.get(EASY_AUTH_PRINCIPAL_ID, "")
    if not principal:
        return _page("Sign-in required", "<p>This page needs App Service Authentication.</p>", 401)
    return None


class TeamsApproval(Struct):
    """The page a Teams card's "Apply fix" opens (behind App Service Authentication)."""

    secret: str
    engine: RemediationEngine

    def __repr__(self) -> str:
        return masked_repr(self, "secret")

    @property
    def config(self) -> ApprovalConfig:
        return self.engine.config.approval

    def handle(self, method: str, params: Mapping[str, str], headers: Mapping[str, str]) -> Reply:
        """``params``: the query (GET) or the form fields (POST)."""
        refusal = teams_refusal(self.secret, params, headers)
        if refusal is not None:
            return refusal
        approval_id, sig = params.get("id", ""), params.get("sig", "")
        principal = {k.lower(): v for k, v in headers.items()}.get(EASY_AUTH_PRINCIPAL_ID, "").lower()
        actor = f"teams:{principal}"
        if principal not in {u.lower() for u in self.config.teams_users}:
            _audit_refusal(self.engine, self.engine.pending_outcome(approval_id), approval_id, actor,
                           f"{actor} is not allowed to approve fixes")
            return _page("Not allowed", "<p>You are not allowed to apply fixes.</p>", 403)
        csrf = _sign(self.secret, "form", approval_id, principal)
        if method.upper() == "GET":
            pending = self.engine.pending(approval_id)
            if pending is None:
                return _page("Nothing to approve", "<p>This fix expired or was applied already.</p>", 404)
            outcome = Outcome.model_validate(pending["outcome"])
            fields = "".join(f"<input type='hidden' name='{k}' value='{html.escape(v, quote=True)}'>"
                             for k, v in (("id", approval_id), ("sig", sig), ("csrf", csrf)))
            what = html.escape(f"{outcome.finding.title} ({outcome.finding.cause})")
            change = html.escape(str(pending.get("change") or ""))
            diff = html.escape(str(pending.get("diff") or ""))
            risk = f"<p><strong>Risk:</strong> {html.escape(str(pending['risk']))}</p>" if pending.get("risk") else ""
            return _page("Apply this fix?", f"<p>{what}</p><p>Would {change}</p>{risk}<pre>{diff}</pre>"
                                             f"<form method='post'>{fields}<button type='submit'>Apply fix</button>"
                                             "</form>")
        if method.upper() != "POST":
            return _page("Method not allowed", "", 405)
        if not hmac.compare_digest(params.get("csrf", ""), csrf):
            return _page("Not a valid form", "", 400)
        decision = self.engine.approve(approval_id, actor)
        return _page("Result", f"<pre>{html.escape(decision_text(decision))}</pre>")
