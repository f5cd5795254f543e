"""Approving planned fixes on Azure: a blueprint with two routes, registered by ``function_app.py``
next to the alert blueprint (``app.register_functions(approval_bp)``).

- ``POST /api/remediation/slack``: Slack's interactivity request URL (function key in the URL's
  ``code`` query parameter, and Slack's signature checked on every request);
- ``GET|POST /api/remediation/approve``: the page a Teams card's "Apply fix" opens. It trusts the
  signed-in user that App Service Authentication (Easy Auth) puts in ``X-MS-CLIENT-PRINCIPAL-ID``,
  so it answers only when ``RESPONDER_TEAMS_APPROVAL_EASY_AUTH=true`` says that authentication is
  on (App Service then removes such headers from incoming requests).

App settings: ``SLACK_SIGNING_SECRET`` and ``RESPONDER_APPROVAL_SECRET`` (Key Vault references),
``RESPONDER_AUTO_REMEDIATE``, ``RESPONDER_CONFIG``, and the Table storage of the responder.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import azure.functions as func

if TYPE_CHECKING:  # imported by the requests that need them: the worker's start loads only the routes
    from shared.approval import Reply
    from shared.remediation.engine import RemediationEngine

bp = func.Blueprint()  # type: ignore[no-untyped-call]

ENV_SIGNING_SECRET = "SLACK_SIGNING_SECRET"  # noqa: S105 - the name of a setting, not a secret
ENV_APPROVAL_SECRET = "RESPONDER_APPROVAL_SECRET"  # noqa: S105 - the name of a setting, not a secret
ENV_EASY_AUTH = "RESPONDER_TEAMS_APPROVAL_EASY_AUTH"

_engine: RemediationEngine | None = None
_lock = threading.Lock()


def engine(env: Mapping[str, str] | None = None) -> RemediationEngine:
    """The worker's engine, built from the app settings on first use (and kept warm)."""
    global _engine
    if _engine is None:
        from functions.azure.remediate import remediation_engine
        from functions.azure.state import TableStore
        from shared.settings import Settings

        with _lock:
            if _engine is None:
                _engine = remediation_engine(Settings.from_env(env), TableStore.from_env(env), env=env)
    return _engine


def use_engine(value: RemediationEngine | None) -> None:
    """Replace the worker's engine (tests); None rebuilds it from the settings on next use."""
    global _engine
    with _lock:
        _engine = value


def post_follow_up(reply: Reply) -> bool:
    """``shared.approval.post_follow_up``, imported with the first approval."""
    from shared.approval import post_follow_up as post

    return post(reply)


def _response(reply: Reply) -> func.HttpResponse:
    return func.HttpResponse(reply.body, status_code=reply.status, headers={"Content-Type": reply.content_type,
                                                                            **reply.headers})


@bp.route(route="remediation/slack", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def remediation_slack(req: func.HttpRequest) -> func.HttpResponse:
    """Slack's interactivity requests. A request that Slack did not sign with ``SLACK_SIGNING_SECRET``
    (or that is stale) is refused with 401 first: no state is read and no engine is built for it."""
    from shared.approval import SlackApproval, slack_refusal

    body, headers = req.get_body() or b"", dict(req.headers)
    secret = os.environ.get(ENV_SIGNING_SECRET, "")
    refusal = slack_refusal(secret, body, headers, time.time())
    if refusal is not None:
        return _response(refusal)
    reply = SlackApproval(secret, engine()).handle(body, headers)
    post_follow_up(reply)
    return _response(reply)


@bp.route(route="remediation/approve", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
def remediation_approve(req: func.HttpRequest) -> func.HttpResponse:
    """The Teams card's "Apply fix" page; answers only behind App Service Authentication, and refuses
    a link not signed with ``RESPONDER_APPROVAL_SECRET`` or a request without a signed-in user
    before anything is read."""
    if os.environ.get(ENV_EASY_AUTH, "").strip().lower() != "true":
        return func.HttpResponse("Not found", status_code=404)
    from shared.approval import TeamsApproval, teams_refusal

    params = dict(req.params) if req.method.upper() == "GET" else dict(req.form)
    headers, secret = dict(req.headers), os.environ.get(ENV_APPROVAL_SECRET, "")
    refusal = teams_refusal(secret, params, headers)
    if refusal is not None:
        return _response(refusal)
    return _response(TeamsApproval(secret, engine()).handle(req.method, params, headers))
