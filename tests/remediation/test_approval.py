"""Approving a planned fix from chat: Slack's signed interactivity requests (signature, age,
replay, the approvers' allow-list) and the Teams card's signed link behind App Service
Authentication; both apply the same guarded fix, and the thin Lambda and Functions wiring."""

from __future__ import annotations

import base64
import functools
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import azure.functions as func
import pytest
from slack_sdk.signature import SignatureVerifier

from shared.approval import (
    APPLY_ACTION_ID,
    EASY_AUTH_PRINCIPAL_ID,
    Reply,
    SlackApproval,
    TeamsApproval,
    TeamsApprovalLink,
    post_follow_up,
    slack_apply_button,
    slack_signature,
    teams_apply_action,
)
from shared.remediation.audit import AUDIT_PREFIX
from shared.remediation.engine import RemediationEngine
from shared.state import MemoryStore
from tests.remediation.conftest import SEED004, SEED004_DECODED, config, engine, outcome_of
from tests.remediation.fakes import FakeRemediator, pass_role_change
from tests.support.clock import FakeClock

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
LINK_SECRET = "link-secret-for-tests"
APPROVER, TEAM = "U0123ABCD", "T0001"
ENTRA_APPROVER = "0f8fad5b-d9cb-469f-a165-70867728950e"
RESPONSE_URL = "https://hooks.slack.com/actions/T0001/123/abc"


def planned(fake: FakeRemediator, clock: FakeClock | None = None,
            approvers: dict[str, Any] | None = None) -> tuple[RemediationEngine, str]:
    cfg = config(allow=[{"cause": "aws.iam.pass-role"}],
                 approval=approvers or {"slack_users": [APPROVER], "slack_teams": [TEAM],
                                        "teams_users": [ENTRA_APPROVER]})
    eng = engine(cfg, "dry-run", [fake], MemoryStore(clock=clock or FakeClock()), clock)
    decision = eng.decide(outcome_of(SEED004, decoded=SEED004_DECODED))
    assert decision.action == "planned" and decision.approval_id
    return eng, decision.approval_id


def slack_request(approval_id: str, user: str = APPROVER, team: str = TEAM, timestamp: int | None = None,
                  action_id: str = APPLY_ACTION_ID, response_url: str = RESPONSE_URL,
                  secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    payload = {"type": "block_actions", "user": {"id": user, "team_id": team}, "team": {"id": team},
               "response_url": response_url,
               "actions": [{"type": "button", "action_id": action_id, "value": approval_id}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(timestamp if timestamp is not None else int(FakeClock()()))
    return body, {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": slack_signature(secret, ts, body),
                  "Content-Type": "application/x-www-form-urlencoded"}


def slack(eng: RemediationEngine, clock: FakeClock | None = None) -> SlackApproval:
    return SlackApproval(SECRET, eng, clock or FakeClock())


def test_no_approval_object_shows_its_secret_in_its_repr() -> None:
    eng, _ = planned(FakeRemediator())
    for approval, secret in ((slack(eng), SECRET), (TeamsApproval(LINK_SECRET, eng), LINK_SECRET),
                             (TeamsApprovalLink("https://func.example/api", LINK_SECRET), LINK_SECRET)):
        shown = repr(approval)
        assert secret not in shown and "<hidden>" in shown and type(approval).__name__ in shown


def test_our_signature_is_slacks_signature() -> None:
    body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&command=%2Fweather"
    verifier = SignatureVerifier(SECRET)
    assert slack_signature(SECRET, "1531420618", body) == verifier.generate_signature(timestamp="1531420618",
                                                                                      body=body)


def test_an_approver_applies_the_planned_fix() -> None:
    fake = FakeRemediator()
    eng, approval_id = planned(fake)
    reply = slack(eng).handle(*slack_request(approval_id))
    assert reply.status == 200 and len(fake.applied) == 1
    assert reply.decision is not None and reply.decision.action == "applied"
    assert reply.decision.actor == f"slack:{APPROVER}"
    assert reply.response_url == RESPONSE_URL and reply.follow_up is not None
    assert reply.follow_up["text"].startswith(f"Applied (approved by slack:{APPROVER}): added iam:PassRole")


@pytest.mark.parametrize(("tamper", "expected"), [
    (lambda body, headers: (body + b"x", headers), "does not match"),
    (lambda body, headers: (body, {**headers, "X-Slack-Signature": "v0=" + "0" * 64}), "does not match"),
    (lambda body, headers: (body, {k: v for k, v in headers.items() if k != "X-Slack-Signature"}), "not signed"),
], ids=["body changed", "wrong signature", "unsigned"])
def test_a_request_not_signed_by_slack_is_rejected(tamper: Callable[..., Any], expected: str) -> None:
    fake = FakeRemediator()
    eng, approval_id = planned(fake)
    reply = slack(eng).handle(*tamper(*slack_request(approval_id)))
    assert reply.status == 401 and expected in reply.body and not fake.applied


def test_a_request_signed_with_another_secret_is_rejected() -> None:
    fake = FakeRemediator()
    eng, approval_id = planned(fake)
    assert slack(eng).handle(*slack_request(approval_id, secret="another")).status == 401
    assert not fake.applied


def test_a_request_older_than_five_minutes_is_rejected() -> None:
    fake = FakeRemediator()
    clock = FakeClock()
    eng, approval_id = planned(fake, clock)
    body, headers = slack_request(approval_id, timestamp=int(clock()) - 301)
    reply = slack(eng, clock).handle(body, headers)
    assert reply.status == 401 and "too old" in reply.body and not fake.applied
    body, headers = slack_request(approval_id, timestamp=int(clock()) - 299)
    assert slack(eng, clock).handle(body, headers).status == 200


def test_a_replayed_request_is_rejected() -> None:
    fake = FakeRemediator()
    eng, approval_id = planned(fake)
    request = slack_request(approval_id)
    assert slack(eng).handle(*request).status == 200
    replay = slack(eng).handle(*request)
    assert replay.status == 401 and "replay" in replay.body and len(fake.applied) == 1


def test_a_user_who_may_not_approve_changes_nothing_and_is_audited() -> None:
    fake = FakeRemediator()
    eng, approval_id = planned(fake)
    reply = slack(eng).handle(*slack_request(approval_id, user="U999"))
    assert reply.status == 200 and not fake.applied
    assert reply.follow_up is not None and reply.follow_up["response_type"] == "ephemeral"
    assert "not allowed" in reply.follow_up["text"]
    refusals = [item for key, (item, _) in eng.state._items.items()  # type: ignore[attr-defined]
                if key.startswith(AUDIT_PREFIX) and item["action"] == "refused"]
    assert refusals and refusals[0]["actor"] == "slack:U999" and refusals[0]["cause"] == "aws.iam.pass-role"
    # the fix is still waiting for an approver
    assert slack(eng).handle(*slack_request(approval_id)).decision is not None
    assert len(fake.applied) == 1


def test_an_approver_from_another_workspace_is_not_allowed() -> None:
    fake = FakeRemediator()
    eng, approval_id = planned(fake)
    reply = slack(eng).handle(*slack_request(approval_id, team="T9999"))
    assert reply.status == 200 and not fake.applied and reply.follow_up is not None


def test_other_interactions_do_nothing() -> None:
    fake = FakeRemediator()
    eng, approval_id = planned(fake)
    reply = slack(eng).handle(*slack_request(approval_id, action_id="something_else"))
    assert reply.status == 200 and reply.follow_up is None and not fake.applied


def test_an_unknown_or_used_approval_id_says_so() -> None:
    fake = FakeRemediator()
    eng, _ = planned(fake)
    reply = slack(eng).handle(*slack_request("not-an-id"))
    assert reply.follow_up is not None and "no longer waiting" in reply.follow_up["text"]


def test_the_follow_up_goes_only_to_slack() -> None:
    fake = FakeRemediator()
    eng, approval_id = planned(fake)
    reply = slack(eng).handle(*slack_request(approval_id, response_url="https://attacker.example/hook"))
    assert reply.response_url is None
    posted: list[Any] = []

    class Response:
        def __enter__(self) -> Response:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    def opener(request: Any, timeout: float) -> Response:
        posted.append(request)
        return Response()

    assert post_follow_up(reply, opener) is False
    good = Reply(200, follow_up={"text": "hi"}, response_url=RESPONSE_URL)
    assert post_follow_up(good, opener) is True
    assert posted[0].full_url == RESPONSE_URL and json.loads(posted[0].data) == {"text": "hi"}


def test_the_button_carries_the_approval_id() -> None:
    button = slack_apply_button("abc")
    assert button["action_id"] == APPLY_ACTION_ID and button["value"] == "abc" and button["confirm"]
    assert len(button["text"]["text"]) <= 75


# ---------------------------------------------------------------------- Teams
def teams_params(approval_id: str) -> dict[str, str]:
    url = teams_apply_action("https://responder.azurewebsites.net/api", approval_id, LINK_SECRET)["url"]
    assert urlparse(url).path == "/api/remediation/approve"
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def test_teams_get_shows_the_change_and_post_applies_it() -> None:
    fake = FakeRemediator()
    eng, approval_id = planned(fake)
    teams = TeamsApproval(LINK_SECRET, eng)
    headers = {EASY_AUTH_PRINCIPAL_ID: ENTRA_APPROVER}
    page = teams.handle("GET", teams_params(approval_id), headers)
    assert page.status == 200 and "iam:PassRole" in page.body and not fake.applied
    form = {name: value for name, value in
            ((part.split("name='")[1].split("'")[0], part.split("value='")[1].split("'")[0])
             for part in page.body.split("<input")[1:])}
    result = teams.handle("POST", form, headers)
    assert result.status == 200 and "Applied (approved by teams:" in result.body and len(fake.applied) == 1


def test_the_teams_page_states_the_risk_of_a_risky_fix() -> None:
    fake = FakeRemediator(change=pass_role_change(risk="the role R to pass has administrator-level permissions"))
    eng, approval_id = planned(fake)
    page = TeamsApproval(LINK_SECRET, eng).handle("GET", teams_params(approval_id),
                                                  {EASY_AUTH_PRINCIPAL_ID: ENTRA_APPROVER})
    assert "Risk:</strong> the role R to pass has administrator-level permissions" in page.body


def test_teams_rejects_forged_links_missing_sign_in_other_users_and_forged_forms() -> None:
    fake = FakeRemediator()
    eng, approval_id = planned(fake)
    teams = TeamsApproval(LINK_SECRET, eng)
    params = teams_params(approval_id)
    assert teams.handle("GET", {**params, "sig": "0" * 64}, {EASY_AUTH_PRINCIPAL_ID: ENTRA_APPROVER}).status == 400
    assert teams.handle("GET", params, {}).status == 401
    assert teams.handle("GET", params, {EASY_AUTH_PRINCIPAL_ID: "11111111-2222-3333-4444-555555555555"}).status == 403
    assert teams.handle("POST", {**params, "csrf": "forged"}, {EASY_AUTH_PRINCIPAL_ID: ENTRA_APPROVER}).status == 400
    assert not fake.applied


# ---------------------------------------------------------------------- the thin wiring
def test_the_lambda_passes_the_raw_body_and_returns_slacks_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import functions.aws.approval as aws_approval

    fake = FakeRemediator()
    eng, approval_id = planned(fake)
    body, headers = slack_request(approval_id)
    monkeypatch.setattr(aws_approval, "_approval", SlackApproval(SECRET, eng, FakeClock()))
    monkeypatch.setattr(aws_approval, "_app", None)
    monkeypatch.setattr(aws_approval, "post_follow_up", lambda reply: True)
    event = {"headers": {k.lower(): v for k, v in headers.items()}, "isBase64Encoded": True,
             "body": base64.b64encode(body).decode(), "requestContext": {"http": {"method": "POST"}}}
    response = aws_approval.lambda_handler(event, None)  # type: ignore[arg-type]
    assert response["statusCode"] == 200 and len(fake.applied) == 1


def test_the_lambda_is_built_from_its_environment(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import functions.aws.approval as aws_approval

    monkeypatch.setattr(aws_approval, "_app", None)
    approval = aws_approval.build_approval(None, env={"SLACK_SIGNING_SECRET": SECRET,
                                                      "RESPONDER_AUTO_REMEDIATE": "dry-run"})
    assert approval.signing_secret == SECRET and approval.engine.mode == "dry-run"
    assert approval.engine.config.allow == []  # no configuration file: nothing is allowed


@functools.cache
def blueprint_functions() -> dict[str, Callable[[func.HttpRequest], func.HttpResponse]]:
    from functions.azure.approval import bp

    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    app.register_functions(bp)
    return {f.get_function_name(): f.get_user_function() for f in app.get_functions()}


def test_the_azure_routes_answer_slack_and_guard_the_teams_page(monkeypatch: pytest.MonkeyPatch) -> None:
    import functions.azure.approval as azure_approval

    fake = FakeRemediator()
    eng, approval_id = planned(fake, FakeClock(time.time()))
    azure_approval.use_engine(eng)
    monkeypatch.setattr(azure_approval, "post_follow_up", lambda reply: True)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    try:
        body, headers = slack_request(approval_id, timestamp=int(time.time()))
        request = func.HttpRequest("POST", "https://responder.azurewebsites.net/api/remediation/slack",
                                   headers=headers, params={}, route_params={}, body=body)
        response = blueprint_functions()["remediation_slack"](request)
        assert response.status_code == 200 and len(fake.applied) == 1
        page = func.HttpRequest("GET", "https://responder.azurewebsites.net/api/remediation/approve",
                                headers={EASY_AUTH_PRINCIPAL_ID: ENTRA_APPROVER}, params={"id": "x", "sig": "y"},
                                route_params={}, body=b"")
        assert blueprint_functions()["remediation_approve"](page).status_code == 404  # Easy Auth not declared on
    finally:
        azure_approval.use_engine(None)


def test_a_signed_payload_nested_too_deep_is_refused_not_a_crash() -> None:
    fake = FakeRemediator()
    eng, _ = planned(fake)
    body = urlencode({"payload": "[" * 100_000 + "]" * 100_000}).encode()  # RecursionError with json.loads
    ts = str(int(FakeClock()()))
    reply = slack(eng).handle(body, {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": slack_signature(SECRET, ts, body),
                                     "Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 400 and not fake.applied
