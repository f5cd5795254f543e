"""Auto-remediation on Azure, end to end: the seed 000 alert (the Backup vault's identity lacks
Reader on the PostgreSQL server) is POSTed to the function built from ``function_app.app``; the
endpoint is built from app settings alone (only the credential is the test's), enriches from the
ARM stand-in, and with ``RESPONDER_AUTO_REMEDIATE=on`` and a configuration allowing
``azure.postgres.vault-msi-reader`` creates the role assignment through the role assignments API
of the same stand-in, then tells the Teams-like server that it did. With the switch off or on
dry-run, no role assignment is written. All traffic goes to 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.azure import blueprint
from functions.azure.endpoint import build_endpoint
from functions.azure.remediate import AzureRemediator, assignment_name
from tests.azure.conftest import backup_alert_function, http_request
from tests.azure.servers import ARM_RECORDINGS, ArmServer, FakeCredential, WebhookServer
from tests.conftest import load_event
from tests.remediation.arm import API_VERSION, RoleAssignmentsApi
from tests.support.azurite import Azurite
from tests.support.clock import FakeClock
from tests.support.http_server import Request

SUB = "11112222-bbbb-3333-cccc-4444dddd5555"
SERVER = f"/subscriptions/{SUB}/resourceGroups/rg-data-prod/providers/Microsoft.DBforPostgreSQL/servers/pg-orders-prod"
BV_PRINCIPAL = "7c1f6a2e-3b9d-4e5f-8a21-0d9c6b4e2f13"  # the vault's identity in the ARM recording
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
MSI = "azure/seed000-pgsql-backup-usererrormsimissingpermissions.json"
CARD = "application/vnd.microsoft.card.adaptive"
ASSIGNMENT = f"{SERVER}/providers/Microsoft.Authorization/roleAssignments/{assignment_name(SERVER, READER, BV_PRINCIPAL)}"
CONFIG = f"""\
version: 1
sinks:
  teams:
    type: teams
    webhook_url: env:TEAMS_WEBHOOK_URL
remediation:
  allow:
    - cause: azure.postgres.vault-msi-reader
      subscriptions: ["{SUB}"]
"""

Deploy = Callable[[str], RoleAssignmentsApi]


@pytest.fixture
def deploy(monkeypatch: pytest.MonkeyPatch, clean_env: None, azurite: Azurite, teams: WebhookServer,
           arm: ArmServer, tls_files: tuple[Path, Path], tmp_path: Path) -> Iterator[Deploy]:
    """Deploys the function with ``RESPONDER_AUTO_REMEDIATE`` set to the mode given: app settings in
    the environment as infra/azure sets them (Table storage, the configuration file, the Teams
    webhook, Resource Manager at the stand-in, whose certificate the SDKs trust through
    ``REQUESTS_CA_BUNDLE``); only the managed identity is replaced by a fixed token."""

    def deployed(mode: str) -> RoleAssignmentsApi:
        arm.load(*(p.stem for p in ARM_RECORDINGS.glob("*.json")))
        role_assignments = RoleAssignmentsApi()
        arm.apis.append(role_assignments)
        config = tmp_path / "responder.yaml"
        config.write_text(CONFIG, encoding="utf-8")
        for name, value in {
            "AzureWebJobsStorage": azurite.connection_string,
            "RESPONDER_TABLE_NAME": f"remediation{time.time_ns()}",
            "RESPONDER_CONFIG": str(config),
            "RESPONDER_AUTO_REMEDIATE": mode,
            "RESPONDER_ARM_ENDPOINT": arm.url,
            "REQUESTS_CA_BUNDLE": str(tls_files[0]),
            "TEAMS_WEBHOOK_URL": teams.url,
        }.items():
            monkeypatch.setenv(name, value)
        blueprint.use_endpoint(build_endpoint(credential=FakeCredential(), clock=FakeClock()))
        return role_assignments

    yield deployed
    blueprint.use_endpoint(None)


def post(raw: Any) -> tuple[int, dict[str, Any]]:
    response = backup_alert_function()(http_request(raw))
    return response.status_code, json.loads(response.get_body() or b"{}")


def card_text(message: dict[str, Any]) -> str:
    [attachment] = message["attachments"]
    assert attachment["contentType"] == CARD
    return json.dumps(attachment["content"], ensure_ascii=False)


def role_assignment_requests(arm: ArmServer) -> list[Request]:
    return [s for s in arm.seen if RoleAssignmentsApi.serves(s.path)]


def test_the_endpoint_built_from_app_settings_carries_the_engine(deploy: Deploy, arm: ArmServer) -> None:
    deploy("on")
    engine = blueprint.endpoint().responder.remediation
    assert engine is not None and engine.mode == "on"
    [remediator] = engine.remediators
    assert isinstance(remediator, AzureRemediator) and remediator.endpoint == arm.url
    assert [entry.cause for entry in engine.config.allow] == ["azure.postgres.vault-msi-reader"]


def test_with_auto_remediation_on_the_vault_identity_gets_reader_on_the_server(
        deploy: Deploy, arm: ArmServer, teams: WebhookServer) -> None:
    role_assignments = deploy("on")
    status, body = post(load_event(MSI))
    assert status == 200, body
    assert body["cause"] == "azure.postgres.vault-msi-reader"

    # Exactly one write: the Reader assignment, on the server, for the vault's identity.
    assert role_assignments.puts() == [ASSIGNMENT]
    [put] = [s for s in role_assignment_requests(arm) if s.method == "PUT"]
    assert put.query["api-version"] == [API_VERSION]
    assert put.headers["authorization"] == "Bearer test-token"
    properties = put.json()["properties"]
    assert properties["roleDefinitionId"] == (f"/subscriptions/{SUB}/providers/Microsoft.Authorization/"
                                              f"roleDefinitions/{READER}")
    assert properties["principalId"] == BV_PRINCIPAL
    assert properties["principalType"] == "ServicePrincipal"
    [created] = role_assignments.assignments.values()
    assert created["properties"]["scope"] == SERVER
    assert {s.method for s in role_assignment_requests(arm)} == {"GET", "PUT"}  # read, write, verify; no delete

    # The Teams card says what was done.
    [message] = teams.accepted
    text = card_text(message)
    assert "Applied" in text, "the card does not say the fix was applied"
    assert f"assigned Reader on {SERVER}" in text

    # The action group's retry of the same alert changes nothing more.
    assert post(load_event(MSI)) == (200, {"status": "duplicate"})
    assert role_assignments.puts() == [ASSIGNMENT]
    assert len(teams.accepted) == 1


@pytest.mark.parametrize("mode", ["off", "dry-run"])
def test_without_the_switch_on_no_role_assignment_is_written(
        deploy: Deploy, arm: ArmServer, teams: WebhookServer, mode: str) -> None:
    role_assignments = deploy(mode)
    status, body = post(load_event(MSI))
    assert status == 200, body
    assert arm.gets(), "the alert was not enriched from the ARM stand-in"
    assert role_assignments.puts() == [] and role_assignments.assignments == {}
    if mode == "off":
        assert role_assignment_requests(arm) == []  # not even read
    [message] = teams.accepted
    assert "Applied" not in card_text(message)


@pytest.mark.parametrize("linked", [
    f"/subscriptions/{SUB}/resourceGroups/rg-data-prod/providers/../../..",
    f"/subscriptions/{SUB}/resourceGroups/rg-data-prod/providers/%2e%2e/%2e%2e/%2e%2e",
], ids=["dot segments", "percent-encoded dot segments"])
def test_an_alert_with_a_crafted_resource_id_writes_no_role_assignment(
        deploy: Deploy, arm: ArmServer, teams: WebhookServer, linked: str) -> None:
    """Before: the Reader assignment landed at subscription scope (the HTTP layer normalised the
    path). Now the scope is refused before anything is written, and the card says why."""
    role_assignments = deploy("on")
    event = load_event(MSI)
    event["data"]["alertContext"]["linkedResourceId"] = linked
    status, body = post(event)
    assert status == 200, body
    assert role_assignments.puts() == [] and role_assignments.assignments == {}
    [message] = teams.accepted
    text = card_text(message)
    assert "Applied" not in text and "is refused" in text
