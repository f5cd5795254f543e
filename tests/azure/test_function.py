"""The HTTP function as the Functions host calls it: found in ``function_app.app``, given a
``func.HttpRequest``. Authentication, bad input, transient failures and duplicates."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from functions.azure import blueprint
from functions.azure.auth import SecureWebhookConfig, SecureWebhookValidator
from functions.azure.endpoint import LEASE_SECONDS, AlertEndpoint, build_endpoint, claim_key
from functions.azure.state import TableStore
from shared.models import Outcome
from shared.notify.config import parse_config
from shared.notify.message import Message
from shared.notify.notice import Notice
from shared.pipeline import Delivery, Pipeline
from shared.responder import Responder
from shared.settings import Settings
from shared.sinks.base import DeliveryError
from shared.untrusted import MAX_ERROR_CHARS
from shared.wiring import build_responder
from tests.azure.conftest import (
    AUDIENCE_CLIENT_ID,
    AUDIENCE_URI,
    REPO,
    TENANT,
    Azurite,
    Tenant,
    app_functions,
    backup_alert_function,
    http_request,
)
from tests.conftest import load_event
from tests.support.clock import FakeClock
from tests.support.malformed import ALL_MALFORMED, Answer, MalformedServer, malformed_server

MSI = "azure/seed000-pgsql-backup-usererrormsimissingpermissions.json"


class RecordingSink:
    """A sink that keeps what it is given; ``failures`` retryable errors come first."""

    name = "recording"

    def __init__(self, failures: int = 0, retryable: bool = True) -> None:
        self.outcomes: list[Outcome] = []
        self.failures = failures
        self.retryable = retryable

    def write(self, notice: Notice, message: Message, payloads: object = None) -> str:
        if notice.outcome is None or notice.kind not in ("failure", "repeat", "recovered"):
            return "skipped"
        outcome = notice.outcome
        if self.failures:
            self.failures -= 1
            raise DeliveryError("chat service answered 503", retryable=self.retryable)
        self.outcomes.append(outcome)
        return f"message-{len(self.outcomes)}"


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def endpoint(table_store: TableStore, sink: RecordingSink) -> Iterator[AlertEndpoint]:
    value = AlertEndpoint(Responder(Pipeline(), [sink], table_store), table_store)
    blueprint.use_endpoint(value)
    yield value
    blueprint.use_endpoint(None)


def call(body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    response = backup_alert_function()(http_request(body, headers))
    payload = json.loads(response.get_body() or b"{}")
    return response.status_code, payload


# ------------------------------------------------------------------------------------- the app
def test_the_app_registers_the_route_as_the_contract_says() -> None:
    import function_app

    assert isinstance(function_app.app, func.FunctionApp)
    [function] = [f for f in app_functions() if f.get_function_name() == "backup_alert"]
    trigger = function.get_trigger()
    assert trigger.route == "backup-alert"
    assert [str(m.value) if hasattr(m, "value") else str(m) for m in trigger.methods] == ["POST"]
    binding = json.loads(function.get_function_json())["bindings"][0]
    assert binding["authLevel"] == "FUNCTION"
    assert binding["type"] == "httpTrigger"


def test_the_app_also_registers_the_chat_approval_routes() -> None:
    routes = {}
    for function in app_functions():
        bindings = [b for b in json.loads(function.get_function_json())["bindings"] if b["type"] == "httpTrigger"]
        if not bindings:
            continue
        [binding] = bindings
        routes[function.get_function_name()] = (binding["route"], sorted(m.upper() for m in binding["methods"]),
                                                binding["authLevel"])
    assert routes == {
        "backup_alert": ("backup-alert", ["POST"], "FUNCTION"),
        # Slack calls the interactivity URL with the function key in ``code``, and signs every request.
        "remediation_slack": ("remediation/slack", ["POST"], "FUNCTION"),
        # A person's browser opens the Teams card's link: App Service Authentication guards it.
        "remediation_approve": ("remediation/approve", ["GET", "POST"], "ANONYMOUS"),
    }


def test_a_timer_sends_the_digests_of_closed_storms(endpoint: AlertEndpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    [function] = [f for f in app_functions() if f.get_function_name() == "send_digests"]
    [binding] = json.loads(function.get_function_json())["bindings"]
    assert (binding["type"], binding["schedule"]) == ("timerTrigger", "0 */5 * * * *")
    calls: list[int] = []
    monkeypatch.setattr(endpoint.responder, "flush", lambda: calls.append(1) or [Delivery("teams", True, "posted")])
    function.get_user_function()(None)
    assert calls == [1]
    monkeypatch.setattr(endpoint.responder, "flush", lambda: [Delivery("teams", False, "HTTP 500")])
    with pytest.raises(RuntimeError, match="digest delivery failed"):  # the next run tries again
        function.get_user_function()(None)


def test_host_json_declares_the_bundle_and_logging() -> None:
    host = json.loads((REPO / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    assert "logLevel" in host["logging"]
    assert host.get("extensions", {}).get("http", {}).get("routePrefix", "api") == "api"


def test_requirements_install_the_project_with_its_azure_extra() -> None:
    lines = [line.strip() for line in (REPO / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert ".[azure]" in lines


# ------------------------------------------------------------------------------------- handled
def test_a_failure_is_delivered_and_answered_200(endpoint: AlertEndpoint, sink: RecordingSink) -> None:
    status, body = call(load_event(MSI))
    assert status == 200
    assert body["status"] == "delivered"
    assert body["cause"] == "azure.postgres.vault-msi-reader"
    assert body["deliveries"] == [{"sink": "recording", "ok": True}]
    assert len(sink.outcomes) == 1


def test_the_same_alert_twice_is_delivered_once(endpoint: AlertEndpoint, sink: RecordingSink) -> None:
    first = call(load_event(MSI))
    second = call(load_event(MSI))
    assert first[0] == second[0] == 200
    assert second[1] == {"status": "duplicate"}
    assert len(sink.outcomes) == 1


def test_resolved_is_a_recovery_not_a_failure_and_not_a_duplicate_of_fired(
        endpoint: AlertEndpoint, sink: RecordingSink) -> None:
    fired = load_event(MSI)
    resolved = load_event(MSI)
    resolved["data"]["essentials"]["monitorCondition"] = "Resolved"
    assert call(fired)[0] == 200
    status, body = call(resolved)
    assert status == 200
    assert body["recovered"] is True
    assert [o.failure.recovered for o in sink.outcomes] == [False, True]
    assert [o.failure.failed for o in sink.outcomes] == [True, False]


def test_a_resolved_alert_that_is_no_backup_failure_is_skipped(endpoint: AlertEndpoint, sink: RecordingSink) -> None:
    status, body = call(load_event("azure/common-schema-metric-resolved.json"))
    assert status == 200
    assert body["status"] == "skipped"
    assert sink.outcomes == []


# ------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "not valid JSON"),
    (b"", "empty request body"),
    (b"   ", "empty request body"),
    (b"\xff\xfe\x00", "not valid JSON"),
    ([1, 2], "expected a JSON object"),
    ({"hello": "world"}, "common alert schema"),
    ({"schemaId": "Microsoft.Insights/activityLogs", "data": {}}, "enable the common alert schema"),
    ({"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": "nope"}}, "malformed"),
    (b"{" + b" " * (300 * 1024) + b"}", "at most"),
])
def test_bad_input_is_a_clear_400_and_nothing_is_sent(endpoint: AlertEndpoint, sink: RecordingSink,
                                                      caplog: pytest.LogCaptureFixture,
                                                      body: Any, reason: str) -> None:
    with caplog.at_level(logging.WARNING, logger="backup_responder.azure"):
        status, payload = call(body)
    assert status == 400
    assert reason in payload["error"]
    assert sink.outcomes == []
    assert any("(400)" in r.getMessage() for r in caplog.records)


def test_a_bad_alert_with_an_id_can_be_sent_again_once_fixed(endpoint: AlertEndpoint, sink: RecordingSink) -> None:
    broken = load_event(MSI)
    broken["data"]["essentials"]["firedDateTime"] = "not a date"
    assert call(broken)[0] == 400
    assert call(load_event(MSI))[0] == 200
    assert len(sink.outcomes) == 1


# ------------------------------------------------------------------------------------- transient
def test_a_failing_sink_answers_503_and_the_retry_delivers(table_store: TableStore) -> None:
    sink = RecordingSink(failures=1)
    blueprint.use_endpoint(AlertEndpoint(Responder(Pipeline(), [sink], table_store), table_store))
    try:
        response = backup_alert_function()(http_request(load_event(MSI)))
        assert response.status_code == 503
        assert response.headers.get("Retry-After") == "30"
        status, body = call(load_event(MSI))  # the action group's retry
        assert status == 200 and body["status"] == "delivered"
        assert call(load_event(MSI))[1] == {"status": "duplicate"}
        assert len(sink.outcomes) == 1
    finally:
        blueprint.use_endpoint(None)


def test_a_permanent_refusal_is_kept_for_the_retry_not_marked_done(table_store: TableStore) -> None:
    sink = RecordingSink(failures=1, retryable=False)
    blueprint.use_endpoint(AlertEndpoint(Responder(Pipeline(), [sink], table_store), table_store))
    try:
        response = backup_alert_function()(http_request(load_event(MSI)))
        assert response.status_code == 503 and response.headers.get("Retry-After") == "30"
        body = json.loads(response.get_body())
        assert body["failed"] == [{"sink": "recording", "refused": True, "error": "chat service answered 503"}]
        status, body = call(load_event(MSI))  # the action group's retry, once the sink is fixed
        assert status == 200 and body["status"] == "delivered"
        assert call(load_event(MSI))[1] == {"status": "duplicate"}
        assert len(sink.outcomes) == 1
    finally:
        blueprint.use_endpoint(None)


TEAMS_REFUSAL = MalformedServer.answer("200 OK", b"Webhook message delivery failed with error: Microsoft Teams "
                                                 b"endpoint returned HTTP error 413 with ContextId tcid=0")


@pytest.mark.parametrize("answer", [*ALL_MALFORMED, TEAMS_REFUSAL], ids=[*ALL_MALFORMED, "teams-200-refusal"])
def test_a_malformed_or_refusing_answer_is_503_and_the_retry_posts_once(answer: Answer | bytes,
                                                                        table_store: TableStore) -> None:
    with malformed_server("accepted") as teams:
        refusal = isinstance(answer, bytes)
        teams.queue.extend([answer] if refusal else [answer, answer])  # a refusal is not retried in vain
        config = parse_config({"sinks": {"teams": {"type": "teams", "webhook_url": teams.url + "/workflows/sig"}},
                               "retry": {"max_attempts": 2}})
        responder = build_responder(Settings(), state=table_store, clock=FakeClock(), config=config)
        blueprint.use_endpoint(AlertEndpoint(responder, table_store))
        try:
            response = backup_alert_function()(http_request(load_event(MSI)))
            assert response.status_code == 503 and response.headers.get("Retry-After") == "30"
            [failed] = json.loads(response.get_body())["failed"]
            assert failed["sink"] == "teams" and failed["refused"] is refusal
            status, body = call(load_event(MSI))  # the action group's retry
            assert (status, body["status"]) == (200, "delivered")
            assert call(load_event(MSI))[1] == {"status": "duplicate"}
            assert teams.answered("accepted") == 1
        finally:
            blueprint.use_endpoint(None)


def test_the_same_alert_in_flight_elsewhere_is_retried_later(endpoint: AlertEndpoint, sink: RecordingSink,
                                                             table_store: TableStore) -> None:
    key = claim_key(load_event(MSI))
    assert key is not None
    now = endpoint.clock()
    table_store.put(key, {"status": "processing", "token": "other", "lease_until": now + LEASE_SECONDS})
    assert call(load_event(MSI))[0] == 503
    assert sink.outcomes == []
    # The other instance died: once its lease is over, the retry takes the alert over.
    table_store.put(key, {"status": "processing", "token": "other", "lease_until": now - 1})
    assert call(load_event(MSI))[0] == 200
    assert len(sink.outcomes) == 1


def test_state_store_outage_is_503(sink: RecordingSink, azurite: Azurite) -> None:
    from azure.data.tables import TableClient

    dead = TableStore(TableClient.from_connection_string(
        azurite.connection_string.replace(str(azurite.port), "9"), "unreachable"))
    blueprint.use_endpoint(AlertEndpoint(Responder(Pipeline(), [sink], dead), dead))
    try:
        assert call(load_event(MSI))[0] == 503
        assert sink.outcomes == []
    finally:
        blueprint.use_endpoint(None)


# ------------------------------------------------------------------------------------- Secure Webhook
@pytest.fixture
def secured(table_store: TableStore, sink: RecordingSink, tenant: Tenant) -> Iterator[AlertEndpoint]:
    config = SecureWebhookConfig(TENANT, (AUDIENCE_URI, AUDIENCE_CLIENT_ID), jwks_url=tenant.jwks_url)
    value = AlertEndpoint(Responder(Pipeline(), [sink], table_store), table_store, SecureWebhookValidator(config))
    blueprint.use_endpoint(value)
    yield value
    blueprint.use_endpoint(None)


def test_secure_webhook_token_is_required_when_configured(secured: AlertEndpoint, sink: RecordingSink,
                                                          tenant: Tenant, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="backup_responder.azure"):
        assert call(load_event(MSI))[0] == 401
        assert call(load_event(MSI), {"Authorization": "Bearer " + tenant.token(roles=["Reader"])})[0] == 401
        assert call(load_event(MSI), {"Authorization": "Bearer " + tenant.token(aud="api://other")})[0] == 401
    assert sink.outcomes == []
    rejections = [r.getMessage() for r in caplog.records if "rejected backup-alert request (401)" in r.getMessage()]
    assert len(rejections) == 3
    token = tenant.token()
    assert not any(token in r.getMessage() for r in caplog.records)

    status, body = call(load_event(MSI), {"Authorization": f"Bearer {token}"})
    assert status == 200 and body["status"] == "delivered"
    assert len(sink.outcomes) == 1


def test_a_rejected_request_does_not_claim_the_alert(secured: AlertEndpoint, sink: RecordingSink,
                                                     tenant: Tenant) -> None:
    assert call(load_event(MSI), {"Authorization": "Bearer forged"})[0] == 401
    assert call(load_event(MSI), {"Authorization": "Bearer " + tenant.token(2)})[0] == 200
    assert len(sink.outcomes) == 1


def test_unreachable_signing_keys_are_503_not_401(table_store: TableStore, sink: RecordingSink,
                                                  tenant: Tenant) -> None:
    config = SecureWebhookConfig(TENANT, (AUDIENCE_URI,), jwks_url="http://127.0.0.1:9/keys")
    blueprint.use_endpoint(AlertEndpoint(Responder(Pipeline(), [sink], table_store), table_store,
                                         SecureWebhookValidator(config)))
    try:
        assert call(load_event(MSI), {"Authorization": "Bearer " + tenant.token()})[0] == 503
        assert sink.outcomes == []
    finally:
        blueprint.use_endpoint(None)


# ------------------------------------------------------------------------------------- settings
def test_build_endpoint_from_app_settings(azurite: Azurite, tenant: Tenant, tmp_path: Path) -> None:
    env = {"AzureWebJobsStorage": azurite.connection_string, "RESPONDER_TABLE_NAME": "settings",
           "RESPONDER_AZURE_ENRICH": "off", "RESPONDER_OUTBOX": str(tmp_path)}
    plain = build_endpoint(env)
    assert plain.validator is None
    # Auto-remediation is off by default: no engine, no remediator, no credential, no ARM.
    assert plain.responder.remediation is None
    assert list(plain.responder.pipeline.enrichers) == []
    secured = build_endpoint({**env, "RESPONDER_WEBHOOK_TENANT_ID": TENANT,
                              "RESPONDER_WEBHOOK_AUDIENCE": AUDIENCE_URI,
                              "RESPONDER_WEBHOOK_JWKS_URL": tenant.jwks_url})
    assert secured.validator is not None
    enriching = build_endpoint({k: v for k, v in env.items() if k != "RESPONDER_AZURE_ENRICH"})
    assert [e.name for e in enriching.responder.pipeline.enrichers] != []
    # The outbox sink from the settings receives what the endpoint handles.
    response = plain.handle(http_request(load_event(MSI)))
    assert response.status_code == 200
    assert len(list(tmp_path.glob("*.json"))) == 1


def _alert(**essentials: Any) -> bytes:
    alert = load_event(MSI)
    alert["data"]["essentials"].update(essentials)
    return json.dumps(alert).encode()


@pytest.mark.parametrize(("body", "reason"), [
    (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 64 levels"),
    (_alert(alertTargetIDs=[[[[]]]]).replace(b"[[[[]]]]", b"[" * 80 + b"]" * 80),
     "nested deeper than 64 levels at data.essentials.alertTargetIDs"),
    (_alert(alertId="/subscriptions/x/alerts/\ud800"), "lone surrogate in the text at data.essentials.alertId"),
    (_alert(**{"alertRule\udfff": "Backup Failure"}), "lone surrogate in a key at data.essentials"),
    (_alert(severity=float("nan")), "NaN at data.essentials.severity is not a JSON number"),
    (b'{"schemaId": "Microsoft.Insights/activityLogs", "schemaId": "azureMonitorCommonAlertSchema", "data": {}}',
     'duplicate key "schemaId"'),
    (b'{"schemaId": "' + b"x" * 200_000 + b'", "data": {}}', "(200000 characters)"),
    (b'{"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": "\xed\xa0\x80"}}', "not UTF-8"),
], ids=["deep", "deep-field", "surrogate", "surrogate-key", "nan", "duplicate", "huge", "encoded-surrogate"])
def test_a_hostile_body_is_a_400_with_a_bounded_reason_never_a_500(endpoint: AlertEndpoint, sink: RecordingSink,
                                                                  body: bytes, reason: str) -> None:
    response = backup_alert_function()(http_request(body))
    payload = json.loads(response.get_body().decode("utf-8"))
    assert response.status_code == 400
    assert reason in payload["error"] and len(payload["error"]) <= MAX_ERROR_CHARS
    assert sink.outcomes == []


def test_an_alert_with_a_very_long_description_is_delivered_not_retried_forever(
        endpoint: AlertEndpoint, sink: RecordingSink) -> None:
    # Table storage keeps at most 32K characters a property: the storm group keeps a bounded copy.
    alert = load_event(MSI)
    alert["data"]["essentials"]["description"] = "Give Backup Vault MSI Read access on the server. " + "y" * 100_000
    status, body = call(alert)
    assert status == 200, body
    assert len(sink.outcomes) == 1
