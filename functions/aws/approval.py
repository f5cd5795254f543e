"""The Slack "Apply fix" endpoint on AWS: a Lambda behind a function URL (or an API Gateway HTTP
API, payload format 2.0). Thin: the body and headers go to ``shared.approval.SlackApproval``,
the follow-up goes to Slack's ``response_url``.

Environment: ``SLACK_SIGNING_SECRET`` (a value or an ``ssm:`` / ``secretsmanager:`` reference,
resolved through the Powertools cache on every request so a rotation is picked up),
``RESPONDER_AUTO_REMEDIATE``, ``RESPONDER_CONFIG`` (its ``remediation`` section names the approvers),
``STATE_TABLE`` (the responder's table: the planned fixes wait there) and ``REMEDIATION_ROLE_NAME``
(the role assumed to make changes in other accounts).
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.aws.app import App
from functions.aws.remediate import remediation_engine
from shared.approval import SlackApproval, post_follow_up
from shared.settings import Settings

ENV_SIGNING_SECRET = "SLACK_SIGNING_SECRET"  # noqa: S105 - the name of a setting, not a secret

_app: App | None = None
_approval: SlackApproval | None = None
_lock = threading.Lock()


def build_approval(context: LambdaContext | None, env: Mapping[str, str] | None = None,
                   app: App | None = None) -> SlackApproval:
    """The handler for this container: the responder's state store and the remediation engine."""
    global _app
    app = _app = app or App(env)
    engine = remediation_engine(Settings.from_env(app.env), app.state(), app.remediation_clients(context))
    return SlackApproval(app.secrets.resolve(app.env.get(ENV_SIGNING_SECRET)) or "", engine)


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _approval
    if _approval is None:
        with _lock:
            _approval = _approval or build_approval(context)
    elif _app is not None:  # the secret may have been rotated
        _approval.signing_secret = _app.secrets.resolve(_app.env.get(ENV_SIGNING_SECRET)) or ""
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else str(body).encode("utf-8")
    reply = _approval.handle(raw, event.get("headers") or {})
    post_follow_up(reply)
    return {"statusCode": reply.status, "headers": {"Content-Type": reply.content_type, **reply.headers},
            "body": reply.body}
