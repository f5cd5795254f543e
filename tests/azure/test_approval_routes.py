"""The chat approval routes as the Functions host calls them: found in ``function_app.app`` next to
``backup_alert``, given a ``func.HttpRequest``. A request that is not signed (Slack) or not a
signed link of a signed-in user (Teams) is refused before the remediation engine, its state or any
credential is built; an authentic one reaches the engine."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import azure.functions as func
import pytest

import functions.azure.approval as azure_approval
from shared.approval import APPLY_ACTION_ID, EASY_AUTH_PRINCIPAL_ID, slack_signature, teams_approval_url
from shared.remediation.config import parse_remediation
from shared.remediation.engine import RemediationEngine
from shared.state import MemoryStore
from tests.azure.conftest import app_functions

SECRET = "slack-signing-secret-for-tests"
LINK_SECRET = "approval-link-secret-for-tests"
APPROVER = "U0123ABCD"
ENTRA_APPROVER = "0f8fad5b-d9cb-469f-a165-70867728950e"
BASE = "https://responder.azurewebsites.net/api"

Route = Callable[[func.HttpRequest], func.HttpResponse]


def route(name: str) -> Route:
    for function in app_functions():
        if function.get_function_name() == name:
            user: Route = function.get_user_function()
            return user
    raise AssertionError(f"function_app.app has no {name} function")


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[RemediationEngine]]:
    """Records every time a route asks for the engine (and gives it one with an allow-list of
    approvers, no remediator and nothing pending); nothing is ever posted to Slack."""
    engines: list[RemediationEngine] = []

    def engine(env: Any = None) -> RemediationEngine:
        value = RemediationEngine(
            config=parse_remediation({"approval": {"slack_users": [APPROVER], "teams_users": [ENTRA_APPROVER]}}),
            switch="dry-run", state=MemoryStore())
        engines.append(value)
        return value

    monkeypatch.setattr(azure_approval, "engine", engine)
    monkeypatch.setattr(azure_approval, "post_follow_up", lambda reply: False)
    monkeypatch.setenv(azure_approval.ENV_SIGNING_SECRET, SECRET)
    monkeypatch.setenv(azure_approval.ENV_APPROVAL_SECRET, LINK_SECRET)
    monkeypatch.setenv(azure_approval.ENV_EASY_AUTH, "true")
    yield engines


# ------------------------------------------------------------------------------------- Slack
def slack_body(user: str = APPROVER) -> bytes:
    payload = {"type": "block_actions", "user": {"id": user}, "team": {"id": "T0001"},
               "actions": [{"type": "button", "action_id": APPLY_ACTION_ID, "value": "not-pending"}]}
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": slack_signature(secret, ts, body),
            "Content-Type": "application/x-www-form-urlencoded"}


def slack_post(body: bytes, headers: dict[str, str]) -> func.HttpResponse:
    request = func.HttpRequest("POST", f"{BASE}/remediation/slack", headers=headers, params={}, route_params={},
                               body=body)
    return route("remediation_slack")(request)


@pytest.mark.parametrize("forge", [
    lambda body: (body, {"Content-Type": "application/x-www-form-urlencoded"}),
    lambda body: (body, signed(body, secret="another-secret")),
    lambda body: (body + b"&x=1", signed(body)),
    lambda body: (body, signed(body, timestamp=int(time.time()) - 301)),
    lambda body: (body, {**signed(body), "X-Slack-Signature": "v0=" + "0" * 64}),
], ids=["unsigned", "another secret", "body changed", "stale", "forged signature"])
def test_slack_requests_not_signed_by_slack_are_refused_before_anything(
        built: list[RemediationEngine], forge: Callable[[bytes], tuple[bytes, dict[str, str]]]) -> None:
    response = slack_post(*forge(slack_body()))
    assert response.status_code == 401
    assert "error" in json.loads(response.get_body())
    assert built == [], "the engine was built for a request that is not Slack's"


def test_without_a_signing_secret_every_slack_request_is_refused(built: list[RemediationEngine],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(azure_approval.ENV_SIGNING_SECRET)
    body = slack_body()
    assert slack_post(body, signed(body)).status_code == 401
    assert built == []


def test_a_signed_slack_request_reaches_the_engine(built: list[RemediationEngine]) -> None:
    body = slack_body()
    response = slack_post(body, signed(body))
    assert response.status_code == 200
    assert len(built) == 1
    # The approver's request was checked against the engine's state: the id is not pending.
    assert any(key.startswith("approval:slack-request:") for key in built[0].state._items)  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------- Teams
def approve_get(params: dict[str, str], headers: dict[str, str]) -> func.HttpResponse:
    request = func.HttpRequest("GET", f"{BASE}/remediation/approve", headers=headers, params=params,
                               route_params={}, body=b"")
    return route("remediation_approve")(request)


def link(secret: str = LINK_SECRET) -> dict[str, str]:
    url = teams_approval_url(BASE, "approval-1", secret)
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def test_the_teams_page_answers_only_with_easy_auth_declared(built: list[RemediationEngine],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(azure_approval.ENV_EASY_AUTH)
    assert approve_get(link(), {EASY_AUTH_PRINCIPAL_ID: ENTRA_APPROVER}).status_code == 404
    assert built == []


@pytest.mark.parametrize(("params", "headers", "status"), [
    (link("another-secret"), {EASY_AUTH_PRINCIPAL_ID: ENTRA_APPROVER}, 400),
    ({"id": "approval-1"}, {EASY_AUTH_PRINCIPAL_ID: ENTRA_APPROVER}, 400),
    (link(), {}, 401),
], ids=["link signed with another secret", "unsigned link", "no signed-in user"])
def test_the_teams_page_refuses_forged_links_and_anonymous_users_before_anything(
        built: list[RemediationEngine], params: dict[str, str], headers: dict[str, str], status: int) -> None:
    assert approve_get(params, headers).status_code == status
    assert built == []


def test_a_signed_link_of_a_signed_in_user_reaches_the_engine(built: list[RemediationEngine]) -> None:
    assert approve_get(link(), {EASY_AUTH_PRINCIPAL_ID: "11111111-2222-3333-4444-555555555555"}).status_code == 403
    assert approve_get(link(), {EASY_AUTH_PRINCIPAL_ID: ENTRA_APPROVER}).status_code == 404  # nothing pending
    assert len(built) == 2
