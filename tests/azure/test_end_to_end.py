"""End to end: an alert arrives over HTTP at the function built from ``function_app.app``, is
enriched from the ARM stand-in, classified and planned by the core, deduplicated in Azurite, and
delivered by the real Teams sink (``TEAMS_WEBHOOK_URL``) to a Teams-like server on 127.0.0.1."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.azure import blueprint
from functions.azure.endpoint import AlertEndpoint, build_endpoint
from functions.azure.enrich import AzureBackupEnricher
from tests.azure.conftest import backup_alert_function, http_request
from tests.azure.servers import ARM_RECORDINGS, ArmServer, WebhookServer
from tests.conftest import EVENTS, load_event
from tests.support.azurite import Azurite
from tests.support.clock import FakeClock

SUB = "11112222-bbbb-3333-cccc-4444dddd5555"
SERVER = f"/subscriptions/{SUB}/resourceGroups/rg-data-prod/providers/Microsoft.DBforPostgreSQL/servers/pg-orders-prod"
BV_PRINCIPAL = "7c1f6a2e-3b9d-4e5f-8a21-0d9c6b4e2f13"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
MSI = "azure/seed000-pgsql-backup-usererrormsimissingpermissions.json"
CARD = "application/vnd.microsoft.card.adaptive"
#: Every failure the seeds describe, plus the role-based fixes the issue names, with the roles
#: (name, built-in role definition id, scope fact) the delivered message must name.
ROLES: dict[str, list[tuple[str, str, str]]] = {
    "seed000-pgsql-backup-usererrormsimissingpermissions": [("Reader", READER, SERVER)],
    "seed000-pgsql-restore-usererrorcontainernotaccessible": [
        ("Storage Blob Data Contributor", "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
         f"/subscriptions/{SUB}/resourceGroups/rg-restore-prod/providers/Microsoft.Storage/storageAccounts/"
         "stpgrestoreprod01/blobServices/default/containers/pg-restores")],
    "seed001-pgsql-backup-usererrormissingpermissionsonsecretstore": [
        ("Key Vault Secrets User", "4633458b-17de-408a-b874-0445c86b69e6",
         f"/subscriptions/{SUB}/resourceGroups/rg-sec-prod/providers/Microsoft.KeyVault/vaults/kv-pg-prod-01")],
    "disk-backup-usererrormissingrequiredpermissions": [
        ("Disk Backup Reader", "3e5e47e6-65f7-47ef-90b5-e5dd4d455f24",
         f"/subscriptions/{SUB}/resourceGroups/rg-app-prod/providers/Microsoft.Compute/disks/disk-data-prod-01"),
        ("Disk Snapshot Contributor", "7efff54f-a5b4-42b5-a1c5-5411624893ce",
         f"/subscriptions/{SUB}/resourceGroups/rg-snapshots-prod")],
    "blob-backup-usererrormissingrequiredpermissions": [
        ("Storage Account Backup Contributor", "e5e2a7ff-d759-4cd2-bb51-3152d37e2eb1",
         f"/subscriptions/{SUB}/resourceGroups/rg-data-prod/providers/Microsoft.Storage/storageAccounts/stdocsprod01")],
}
SEED_FIXTURES = sorted(p.stem for p in (EVENTS / "azure").glob("seed00[012]-*.json"))
EXTRA_FIXTURES = ["disk-backup-usererrormissingrequiredpermissions", "blob-backup-usererrormissingrequiredpermissions"]


def expected_cause(name: str) -> str:
    note = (EVENTS / "azure" / f"{name}.source.md").read_text(encoding="utf-8")
    match = re.search(r"Expected cause[^`]*`([a-z0-9.-]+)`", note)
    assert match, f"{name}.source.md states no expected cause"
    return match.group(1)


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch, clean_env: None, azurite: Azurite, teams: WebhookServer,
             arm: ArmServer, enricher: AzureBackupEnricher, tmp_path: Path) -> Iterator[AlertEndpoint]:
    """The function as deployed: app settings in the environment, the endpoint built from them
    (only the enricher's credential and transport are the test's, to reach the ARM stand-in)."""
    arm.load(*(p.stem for p in ARM_RECORDINGS.glob("*.json")))
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("RESPONDER_TABLE_NAME", f"e2e{time.time_ns()}")
    monkeypatch.setenv("TEAMS_WEBHOOK_URL", teams.url)
    monkeypatch.setenv("RESPONDER_OUTBOX", str(tmp_path / "outbox"))
    endpoint = build_endpoint(enrichers=[enricher], clock=FakeClock())  # retries and pacing wait on no real clock
    blueprint.use_endpoint(endpoint)
    yield endpoint
    blueprint.use_endpoint(None)


def post(raw: Any) -> tuple[int, dict[str, Any], float]:
    started = time.perf_counter()
    response = backup_alert_function()(http_request(raw))
    elapsed = time.perf_counter() - started
    return response.status_code, json.loads(response.get_body() or b"{}"), elapsed


def card_text(message: dict[str, Any]) -> str:
    assert message.get("type") == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == CARD
    assert attachment["content"]["type"] == "AdaptiveCard"
    return json.dumps(attachment["content"], ensure_ascii=False)


def test_seed000_msi_alert_reaches_teams_naming_identity_reader_and_scope(
        deployed: AlertEndpoint, teams: WebhookServer) -> None:
    status, body, elapsed = post(load_event(MSI))
    assert status == 200, body
    assert body["cause"] == "azure.postgres.vault-msi-reader"
    assert len(teams.accepted) == 1
    text = card_text(teams.accepted[0])
    assert BV_PRINCIPAL in text          # the vault's real identity, read from ARM
    assert "Reader" in text and READER in text
    assert SERVER in text                # the server's scope
    assert "{vault_principal_id}" not in text and "{server_id}" not in text
    assert elapsed < 5, f"answered in {elapsed:.2f} s"

    # The action group delivers at least once: the same alert again posts nothing.
    status, body, _ = post(load_event(MSI))
    assert (status, body) == (200, {"status": "duplicate"})
    assert len(teams.accepted) == 1


def test_duplicates_are_caught_across_worker_restarts(deployed: AlertEndpoint, teams: WebhookServer,
                                                      enricher: AzureBackupEnricher) -> None:
    assert post(load_event(MSI))[0] == 200
    blueprint.use_endpoint(build_endpoint(enrichers=[enricher], clock=FakeClock()))  # a new worker, the same table
    assert post(load_event(MSI))[:2] == (200, {"status": "duplicate"})
    assert len(teams.accepted) == 1


def test_teams_unavailable_is_503_and_the_retry_posts_once(deployed: AlertEndpoint, teams: WebhookServer) -> None:
    teams.statuses = [503] * 20  # more than the sink's own retries
    status, body, _ = post(load_event(MSI))
    assert status == 503, body
    assert teams.accepted == []
    teams.statuses = []
    status, body, _ = post(load_event(MSI))
    assert status == 200, body
    assert len(teams.accepted) == 1


@pytest.mark.parametrize("name", SEED_FIXTURES + EXTRA_FIXTURES)
def test_every_seed_failure_end_to_end(deployed: AlertEndpoint, teams: WebhookServer, arm: ArmServer,
                                       name: str) -> None:
    raw = load_event(f"azure/{name}.json")
    status, body, elapsed = post(raw)
    assert status == 200, body
    assert body["status"] == "delivered"
    assert body["cause"] == expected_cause(name)
    assert len(teams.accepted) == 1
    text = card_text(teams.accepted[0])
    for role, role_id, scope in ROLES.get(name, []):
        assert role in text and role_id in text, f"{role} ({role_id}) not in the card"
        assert scope in text, f"scope {scope} not in the card"
    job = raw["data"]["alertContext"]["extendedInfo"]["jobId"]
    assert any(job in path for path in arm.gets()), "the job's details were not read"
    assert elapsed < 5, f"answered in {elapsed:.2f} s"
    assert post(raw)[:2] == (200, {"status": "duplicate"})
    assert len(teams.accepted) == 1


def test_ade_key_vault_access_names_the_key_vault_of_the_vm(deployed: AlertEndpoint, teams: WebhookServer) -> None:
    status, _, _ = post(load_event("azure/seed002-vm-backup-usererrorkeyvaultpermissionsnotconfigured.json"))
    assert status == 200
    text = card_text(teams.accepted[0])
    assert "kv-ade-prod-01" in text
    assert "Backup Management Service" in text


def test_encrypted_vm_restore_limits_are_explained(deployed: AlertEndpoint, teams: WebhookServer) -> None:
    name = "seed002-vm-restore-usererrorcrosssubscriptionrestorenotsuppportedforencryptedazurevm"
    status, body, _ = post(load_event(f"azure/{name}.json"))
    assert status == 200 and body["cause"] == "azure.vm.encrypted-restore-limit"
    text = card_text(teams.accepted[0]).lower()
    assert "same subscription" in text


def test_resolved_alert_is_a_recovery_over_http(deployed: AlertEndpoint, teams: WebhookServer) -> None:
    fired = load_event(MSI)
    resolved = load_event(MSI)
    resolved["data"]["essentials"]["monitorCondition"] = "Resolved"
    assert post(fired)[0] == 200
    status, body, _ = post(resolved)
    assert status == 200 and body["recovered"] is True
    assert len(teams.accepted) == 2
    assert "resolved" in card_text(teams.accepted[1]).lower() or "recovered" in card_text(teams.accepted[1]).lower()
