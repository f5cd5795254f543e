"""The Bicep under infra/azure, checked statically: it parses (pycep, the parser checkov uses),
it says what the issue asks (Flex Consumption Python app with a system identity, action group
with the common alert schema, routing of both vault types' Backup alerts, Key Vault references,
least-privilege roles), and checkov's Bicep checks pass (skips only with a written reason).

No Bicep CLI is available from the package registries this project uses, so ``az bicep build``
is not run here; checkov and pycep are the static validation CI can run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

pycep = pytest.importorskip("pycep", reason="pycep-parser is in the test extra")

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra" / "azure"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
#: Where `make test` installs checkov: its own venv, since checkov pins boto3, packaging and
#: networkx versions the project's venv must not be forced to.
CHECKOV_VENV = REPO / ".venv" / "tools" / "checkov"

READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
RBAC_ADMINISTRATOR = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
BROAD_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
}
BACKUP_ROLES = {
    READER: "Reader",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "3e5e47e6-65f7-47ef-90b5-e5dd4d455f24": "Disk Backup Reader",
    "7efff54f-a5b4-42b5-a1c5-5411624893ce": "Disk Snapshot Contributor",
    "e5e2a7ff-d759-4cd2-bb51-3152d37e2eb1": "Storage Account Backup Contributor",
}


@cache
def parsed(name: str) -> dict[str, Any]:
    from pycep import BicepParser

    result: Any = BicepParser().parse(file_path=INFRA / name)
    return dict(result)


def resources(name: str, kind: str) -> list[dict[str, Any]]:
    """The ``config`` of every resource of that type (conditional resources unwrapped)."""
    found = []
    for resource in parsed(name)["resources"].values():
        if resource["type"].lower() == kind.lower():
            config = resource["config"]
            found.append(config.get("config", config) if "condition" in config else config)
    return found


def text(name: str) -> str:
    return (INFRA / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses(path: Path) -> None:
    from pycep import BicepParser

    result = BicepParser().parse(file_path=path)
    assert result["resources"], f"{path.name} declares no resources"


def test_the_parameters_file_is_valid_and_names_real_parameters() -> None:
    document = json.loads((INFRA / "main.parameters.json").read_text())
    assert document["$schema"].endswith("deploymentParameters.json#")
    assert set(document["parameters"]) <= set(parsed("main.bicep")["parameters"])


def test_function_app_is_python_flex_consumption_with_a_system_identity() -> None:
    [plan] = resources("main.bicep", "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    [app] = resources("main.bicep", "Microsoft.Web/sites")
    assert app["identity"] == {"type": "SystemAssigned"}
    assert app["properties"]["httpsOnly"] is True
    assert app["properties"]["functionAppConfig"]["runtime"]["name"] == "python"
    assert app["properties"]["siteConfig"]["minTlsVersion"] == "1.2"
    assert app["properties"]["functionAppConfig"]["deployment"]["storage"]["authentication"] == {
        "type": "SystemAssignedIdentity"}
    [storage] = resources("main.bicep", "Microsoft.Storage/storageAccounts")
    assert storage["properties"]["allowSharedKeyAccess"] is False  # identities only, no account keys
    assert resources("main.bicep", "Microsoft.Insights/components")
    assert [t["name"] for t in resources("main.bicep", "Microsoft.Storage/storageAccounts/tableServices/tables")] \
        == ["stateTableName"]


def test_secrets_reach_the_app_as_key_vault_references_only() -> None:
    settings = json.dumps(parsed("main.bicep")["variables"])
    assert "@Microsoft.KeyVault(VaultName=${keyVault.name};SecretName=teams-webhook-url)" in settings
    assert "@Microsoft.KeyVault(VaultName=${keyVault.name};SecretName=slack-webhook-url)" in settings
    params = parsed("main.bicep")["parameters"]
    for name in ("teamsWebhookUrl", "slackWebhookUrl"):
        assert any(d.get("type") == "secure" for d in params[name]["decorators"]), f"{name} is not @secure()"
    outputs = json.dumps(parsed("main.bicep")["outputs"])
    assert "WebhookUrl" not in outputs and "listKeys" not in outputs
    [vault] = resources("main.bicep", "Microsoft.KeyVault/vaults")
    assert vault["properties"]["enableRbacAuthorization"] is True


def test_action_group_calls_the_function_with_the_common_alert_schema() -> None:
    [group] = resources("main.bicep", "Microsoft.Insights/actionGroups")
    receivers = group["properties"]
    function = receivers["azureFunctionReceivers"]["operator"]["operands"]["false_value"][0]
    assert function["functionName"] == "backup_alert"
    assert function["httpTriggerUrl"].endswith("/api/backup-alert")
    assert function["useCommonAlertSchema"] is True
    secure = receivers["webhookReceivers"]["operator"]["operands"]["true_value"][0]
    assert secure["useAadAuth"] is True and secure["useCommonAlertSchema"] is True
    assert "/api/backup-alert?code=" in secure["serviceUri"]


def test_alert_processing_rule_routes_backup_alerts_of_both_vault_kinds() -> None:
    [rule] = resources("main.bicep", "Microsoft.AlertsManagement/actionRules")
    properties = rule["properties"]
    conditions = {c["field"]: c for c in properties["conditions"]}
    assert conditions["MonitorService"]["values"] == ["Azure Backup"]
    assert set(conditions["TargetResourceType"]["values"]) == {
        "microsoft.recoveryservices/vaults", "microsoft.dataprotection/backupvaults"}
    assert "MonitorCondition" not in conditions  # resolved alerts too: they close the loop
    assert properties["scopes"] == "alertScopes"
    assert properties["actions"][0]["actionType"] == "AddActionGroups"


def test_vaults_turn_on_alerts_for_all_job_failures() -> None:
    for kind in ("Microsoft.DataProtection/backupVaults", "Microsoft.RecoveryServices/vaults"):
        [vault] = resources("modules/vault-alerts.bicep", kind)
        body = vault.get("config", vault)
        settings = body["properties"]["monitoringSettings"]["azureMonitorAlertSettings"]
        assert settings == {"alertsForAllJobFailures": "Enabled"}
        assert body["identity"] == {"type": "SystemAssigned"}


def test_role_assignments_are_least_privilege() -> None:
    everything = "\n".join(p.read_text() for p in BICEP_FILES)
    guids = set(re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", everything))
    assert not guids & BROAD_ROLES.keys(), f"broad roles granted: {[BROAD_ROLES[g] for g in guids & BROAD_ROLES.keys()]}"
    # The app reads jobs and vaults through a custom role with read actions only.
    [role] = resources("modules/responder-access.bicep", "Microsoft.Authorization/roleDefinitions")
    [permissions] = role["properties"]["permissions"]
    actions = permissions["actions"]
    assert actions and all(a.endswith("/read") for a in actions)
    for needed in ("Microsoft.DataProtection/backupVaults/backupJobs/read",
                   "Microsoft.RecoveryServices/vaults/backupJobs/read",
                   "Microsoft.DataProtection/backupVaults/read", "Microsoft.RecoveryServices/vaults/read"):
        assert needed in actions
    assert permissions["dataActions"] == []
    # No role is assigned at resource-group or subscription scope in main.bicep: each is scoped to
    # the storage account, the state table, Application Insights or one secret.
    for assignment in resources("main.bicep", "Microsoft.Authorization/roleAssignments"):
        assert assignment.get("scope") in ("storage", "stateTable", "appInsights", "teamsSecret", "slackSecret")


def test_role_assignment_administrator_only_with_auto_remediation_and_only_for_backup_roles() -> None:
    module = parsed("main.bicep")["modules"]["access"]["config"]["params"]
    assert module["allowRoleAssignments"] == {"operator": {"type": "equals",
                                                           "operands": {"operand_1": "autoRemediate", "operand_2": "on"}}}
    access = parsed("modules/responder-access.bicep")
    [admin] = [r for r in access["resources"].values() if RBAC_ADMINISTRATOR in json.dumps(r)
               or "rbacAdministrator" in json.dumps(r)]
    assert admin["config"]["condition"] == "allowRoleAssignments"
    properties = admin["config"]["config"]["properties"]
    assert properties["conditionVersion"] == "2.0"
    assert "writeCondition" in properties["condition"] and "deleteCondition" in properties["condition"]
    variables = json.dumps(access["variables"])
    for role_id in BACKUP_ROLES:
        assert role_id in variables, f"{BACKUP_ROLES[role_id]} missing from the allowed roles"
    assert "ServicePrincipal" in variables
    assert "Microsoft.Authorization/roleAssignments/write" in variables
    assert "Microsoft.Authorization/roleAssignments/delete" in variables


# ------------------------------------------------------------------------------------- checkov
def _checkov() -> Path:
    """checkov from CHECKOV, the tool venv `make test` installs under .venv/tools, or the PATH."""
    explicit = os.environ.get("CHECKOV")
    if explicit:
        return Path(explicit)
    binary = CHECKOV_VENV / "bin" / "checkov"
    if binary.exists():
        return binary
    found = shutil.which("checkov")
    if found:
        return Path(found)
    if os.environ.get("CI"):
        pytest.fail("checkov is missing: `make test` installs it into .venv/tools/checkov")
    pytest.skip("checkov is not installed (run `make test`, which installs it into .venv/tools/checkov)")


@pytest.fixture(scope="module")
def checkov_report() -> dict[str, Any]:
    result = subprocess.run(
        [str(_checkov()), "--directory", str(INFRA), "--framework", "bicep", "--output", "json",
         "--skip-download", "--compact"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_DEDUP": "TRUE"})
    assert result.stdout.strip(), result.stderr[-2000:]
    report: Any = json.loads(result.stdout)
    return dict(report[0] if isinstance(report, list) else report)


def test_checkov_parses_every_file(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    assert summary["parsing_errors"] == 0, checkov_report["results"].get("parsing_errors")
    assert summary["resource_count"] >= 15


def test_checkov_finds_no_failure(checkov_report: dict[str, Any]) -> None:
    failed = [(c["check_id"], c["resource"], c["check_name"]) for c in checkov_report["results"]["failed_checks"]]
    assert failed == []
    assert checkov_report["summary"]["passed"] >= 20


def test_every_checkov_skip_says_why(checkov_report: dict[str, Any]) -> None:
    for check in checkov_report["results"]["skipped_checks"]:
        reason = (check.get("check_result") or {}).get("suppress_comment") or ""
        assert len(reason.strip()) > 20, f"{check['check_id']} on {check['resource']} is skipped without a reason"
