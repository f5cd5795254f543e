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
    for secret in ("teams-webhook-url", "slack-webhook-url", "slack-signing-secret", "approval-link-secret"):
        assert f"@Microsoft.KeyVault(VaultName=${{keyVault.name}};SecretName={secret})" in settings, secret
    params = parsed("main.bicep")["parameters"]
    for name in ("teamsWebhookUrl", "slackWebhookUrl", "slackSigningSecret", "approvalLinkSecret"):
        assert any(d.get("type") == "secure" for d in params[name]["decorators"]), f"{name} is not @secure()"
        assert params[name]["default"] == "", f"{name} has a default value"
    outputs = json.dumps(parsed("main.bicep")["outputs"])
    assert "WebhookUrl" not in outputs and "listKeys" not in outputs
    assert "Secret" not in outputs
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
        assert assignment.get("scope") in ("storage", "stateTable", "appInsights", "teamsSecret", "slackSecret",
                                           "slackSigningSecretValue", "approvalLinkSecretValue")
    # Planning a fix in dry-run reads the identity's role assignments and the resource's tags.
    assert "Microsoft.Authorization/roleAssignments/read" in actions
    assert "Microsoft.Resources/tags/read" in actions


def test_role_assignment_administrator_only_when_fixes_are_applied_and_only_for_backup_roles() -> None:
    module = parsed("main.bicep")["modules"]["access"]["config"]["params"]
    assert module["allowRoleAssignments"] == "allowRoleAssignments"
    # autoRemediate=on, or dry-run with chat approval (an approver's "Apply fix" writes the assignment).
    assert variable("main.bicep", "allowRoleAssignments") == {"operator": {"type": "or", "operands": {
        "operand_1": {"operator": {"type": "equals", "operands": {"operand_1": "autoRemediate", "operand_2": "on"}}},
        "operand_2": {"operator": {"type": "and", "operands": {
            "operand_1": {"operator": {"type": "equals",
                                       "operands": {"operand_1": "autoRemediate", "operand_2": "dry-run"}}},
            "operand_2": "chatApproval"}}}}}}
    access = parsed("modules/responder-access.bicep")
    assert variable("modules/responder-access.bicep", "administeredGroups") == {"operator": {
        "type": "conditional", "operands": {"condition": "allowRoleAssignments",
                                            "true_value": "remediationResourceGroups", "false_value": []}}}
    [admin] = parsed("modules/role-administrator.bicep")["resources"].values()
    assert variable("modules/role-administrator.bicep", "rbacAdministrator") == RBAC_ADMINISTRATOR
    properties = admin["config"]["properties"]
    assert properties["conditionVersion"] == "2.0" and properties["condition"] == "condition"
    assert properties["principalType"] == "ServicePrincipal"
    variables = json.dumps(access["variables"])
    for role_id in BACKUP_ROLES:
        assert role_id in variables, f"{BACKUP_ROLES[role_id]} missing from the allowed roles"


def test_the_role_administrator_is_held_only_on_the_listed_resource_groups() -> None:
    """A condition on roleAssignments/write cannot test the scope of the new assignment, so the
    scope is limited by where the role is held: each listed resource group, never the subscription."""
    access = parsed("modules/responder-access.bicep")
    assert not [r for r in access["resources"].values() if RBAC_ADMINISTRATOR in json.dumps(r)
                or "rbacAdministrator" in json.dumps(r)], "the role administrator is held on the subscription"
    module = access["modules"]["roleAdministrator"]
    assert module["detail"]["path"] == "role-administrator.bicep"
    assert module["config"]["loop_type"]["detail"] == {"item_name": "group", "array_name": "administeredGroups"}
    assert module["config"]["config"]["scope"] == {"function": {"type": "resource_group", "parameters": {
        "resource_group_name": "group", "subscription_id": None}}}
    assert module["config"]["config"]["params"] == {"principalId": "principalId", "condition": "rbacCondition"}
    assert "targetScope = 'resourceGroup'" in text("modules/role-administrator.bicep")
    assert parsed("main.bicep")["modules"]["access"]["config"]["params"]["remediationResourceGroups"] == \
        "remediationResourceGroups"
    assert parsed("main.bicep")["parameters"]["remediationResourceGroups"]["default"] == []


def test_the_reader_role_reads_every_scope_and_vault_a_fix_confirms() -> None:
    from functions.azure.remediate import RESOURCE_API_VERSIONS, VAULT_API_VERSIONS

    [role] = resources("modules/responder-access.bicep", "Microsoft.Authorization/roleDefinitions")
    actions = {a.lower() for a in role["properties"]["permissions"][0]["actions"]}
    for kind in [*RESOURCE_API_VERSIONS, *VAULT_API_VERSIONS]:
        action = "microsoft.resources/subscriptions/resourcegroups/read" if kind == "resourcegroups" else f"{kind}/read"
        assert action in actions, f"the responder cannot read a {kind} before assigning a role on it"


def variable(name: str, var: str) -> Any:
    return parsed(name)["variables"][var]["value"]


def rbac_condition(principal_ids: list[str] | None = None) -> str:
    """The condition of the RBAC administrator assignment as ARM receives it, for the given
    ``remediationPrincipalIds`` (the module's string interpolations done here)."""
    access = "modules/responder-access.bicep"
    clause = variable(access, "principalClause")["operator"]["operands"]
    principal = clause["true_value"] if not principal_ids else clause["false_value"].replace(
        "${join(remediationPrincipalIds, ', ')}", ", ".join(principal_ids))
    values = {"roleList": ", ".join(variable(access, "backupRoles")), "principalClause": principal}
    values["writeCondition"] = variable(access, "writeCondition")
    values["deleteCondition"] = variable(access, "deleteCondition")
    text: str = variable(access, "rbacCondition")
    for _ in range(3):  # nested interpolations
        for key, value in values.items():
            text = text.replace("${" + key + "}", value)
    assert "${" not in text, text
    return text.replace("\\'", "'")


_ACTION = re.compile(r"ActionMatches\{'([^']+)'\}")
_ATTRIBUTE = re.compile(r"@(Request|Resource)\[Microsoft\.Authorization/roleAssignments:(\w+)\]\s+"
                        r"(?:ForAnyOfAnyValues:)?(GuidEquals|StringEqualsIgnoreCase)\s+\{([^}]*)\}")


def allows(condition: str, action: str, request: dict[str, str] | None = None,
           resource: dict[str, str] | None = None) -> bool:
    """Evaluates an ABAC condition of this form (ActionMatches, GuidEquals / StringEqualsIgnoreCase
    on request or resource attributes, !, AND, OR) for one request, as Azure documents it: a
    missing attribute makes its expression false."""
    def attribute(match: re.Match[str]) -> str:
        source = request if match.group(1) == "Request" else resource
        value = (source or {}).get(match.group(2))
        wanted = {v.strip().strip("'").lower() for v in match.group(4).split(",")}
        return str(value is not None and value.lower() in wanted)

    text = _ACTION.sub(lambda m: str(m.group(1).lower() == action.lower()), condition)
    text = _ATTRIBUTE.sub(attribute, text)
    tokens = re.findall(r"\(|\)|!|\bAND\b|\bOR\b|\bTrue\b|\bFalse\b|\S+", text)
    value, rest = _or(tokens)
    assert not rest, f"not understood: {rest}"
    return value


def _or(tokens: list[str]) -> tuple[bool, list[str]]:
    value, tokens = _and(tokens)
    while tokens[:1] == ["OR"]:
        right, tokens = _and(tokens[1:])
        value = value or right
    return value, tokens


def _and(tokens: list[str]) -> tuple[bool, list[str]]:
    value, tokens = _not(tokens)
    while tokens[:1] == ["AND"]:
        right, tokens = _not(tokens[1:])
        value = value and right
    return value, tokens


def _not(tokens: list[str]) -> tuple[bool, list[str]]:
    head, rest = tokens[0], tokens[1:]
    if head == "!":
        value, rest = _not(rest)
        return not value, rest
    if head == "(":
        value, rest = _or(rest)
        assert rest[:1] == [")"], f"unbalanced: {rest}"
        return value, rest[1:]
    assert head in ("True", "False"), f"not understood: {head}"
    return head == "True", rest


WRITE = "Microsoft.Authorization/roleAssignments/write"
DELETE = "Microsoft.Authorization/roleAssignments/delete"


@pytest.mark.parametrize("role_id", sorted(BACKUP_ROLES))
def test_the_condition_allows_writing_backup_role_assignments_to_service_principals(role_id: str) -> None:
    condition = rbac_condition()
    request = {"RoleDefinitionId": role_id, "PrincipalType": "ServicePrincipal",
               "PrincipalId": "7c1f6a2e-3b9d-4e5f-8a21-0d9c6b4e2f13"}
    assert allows(condition, WRITE, request)
    assert not allows(condition, WRITE, {**request, "PrincipalType": "User"})
    assert not allows(condition, WRITE, {**request, "PrincipalType": "Group"})
    assert allows(condition, "Microsoft.Authorization/roleAssignments/read")


@pytest.mark.parametrize("role_id", [*sorted(BROAD_ROLES), RBAC_ADMINISTRATOR])
def test_the_condition_denies_writing_any_other_role(role_id: str) -> None:
    request = {"RoleDefinitionId": role_id, "PrincipalType": "ServicePrincipal", "PrincipalId": "x"}
    assert not allows(rbac_condition(), WRITE, request)


@pytest.mark.parametrize("role_id", sorted(BACKUP_ROLES) + sorted(BROAD_ROLES))
def test_the_condition_denies_every_delete(role_id: str) -> None:
    # The responder never deletes an assignment: not even one of the roles it may write.
    resource = {"RoleDefinitionId": role_id, "PrincipalType": "ServicePrincipal",
                "PrincipalId": "7c1f6a2e-3b9d-4e5f-8a21-0d9c6b4e2f13"}
    for principal_ids in (None, ["7c1f6a2e-3b9d-4e5f-8a21-0d9c6b4e2f13"]):
        assert not allows(rbac_condition(principal_ids), DELETE, resource=resource)
    delete = variable("modules/responder-access.bicep", "deleteCondition").replace("\\'", "'")
    assert delete == "(!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'}))"


def test_the_condition_limits_writes_to_the_listed_vault_identities() -> None:
    condition = rbac_condition(["7c1f6a2e-3b9d-4e5f-8a21-0d9c6b4e2f13"])
    request = {"RoleDefinitionId": READER, "PrincipalType": "ServicePrincipal"}
    assert allows(condition, WRITE, {**request, "PrincipalId": "7c1f6a2e-3b9d-4e5f-8a21-0d9c6b4e2f13"})
    assert not allows(condition, WRITE, {**request, "PrincipalId": "00000000-1111-2222-3333-444444444444"})


# ------------------------------------------------------------------------------------- chat approval
def setting(var: str, name: str) -> Any:
    """The value of app setting ``name`` in the settings variable ``var`` (conditional lists unwrapped)."""
    value = variable("main.bicep", var)
    items = value["operator"]["operands"]["true_value"] if isinstance(value, dict) else value
    [found] = [item["value"] for item in items if item["name"] == name]
    return found


def test_chat_approval_settings_are_key_vault_references_given_only_with_chat_approval() -> None:
    assert parsed("main.bicep")["parameters"]["chatApproval"]["default"] is False
    app_settings = parsed("main.bicep")["resources"]["functionApp"]["config"]["properties"]["siteConfig"]["appSettings"]
    assert {"slackApprovalSettings", "teamsApprovalSettings"} <= set(app_settings["function"]["parameters"].values())
    uses = {"useSlackApproval": "slackSigningSecret", "useTeamsApproval": "approvalLinkSecret"}
    for use, secret_param in uses.items():
        assert variable("main.bicep", use) == {"operator": {"type": "and", "operands": {
            "operand_1": "chatApproval", "operand_2": {"operator": {"type": "not", "operands": {"bool_value": {
                "function": {"type": "empty", "parameters": {"item_to_test": secret_param}}}}}}}}}
    assert variable("main.bicep", "slackApprovalSettings")["operator"]["operands"]["condition"] == "useSlackApproval"
    assert variable("main.bicep", "teamsApprovalSettings")["operator"]["operands"]["condition"] == "useTeamsApproval"
    assert setting("slackApprovalSettings", "SLACK_SIGNING_SECRET") == \
        "@Microsoft.KeyVault(VaultName=${keyVault.name};SecretName=slack-signing-secret)"
    assert setting("teamsApprovalSettings", "RESPONDER_APPROVAL_SECRET") == \
        "@Microsoft.KeyVault(VaultName=${keyVault.name};SecretName=approval-link-secret)"
    assert setting("teamsApprovalSettings", "RESPONDER_APPROVAL_BASE_URL") == "approvalApiBaseUrl"
    base_url = variable("main.bicep", "approvalApiBaseUrl")["operator"]["operands"]
    assert base_url["true_value"] == "https://${functionAppName}.azurewebsites.net/api"
    # The secrets exist only when chat approval is on (and the secret is given), each readable by
    # the app alone.
    secrets = {r["config"]["config"]["name"]: r["config"] for r in parsed("main.bicep")["resources"].values()
               if r["type"] == "Microsoft.KeyVault/vaults/secrets" and isinstance(r["config"].get("config"), dict)}
    assert secrets["slack-signing-secret"]["condition"] == "useSlackApproval"
    assert secrets["approval-link-secret"]["condition"] == "useTeamsApproval"
    assert secrets["slack-signing-secret"]["config"]["properties"]["value"] == "slackSigningSecret"
    assert secrets["approval-link-secret"]["config"]["properties"]["value"] == "approvalLinkSecret"
    readers = {r["config"]["config"]["scope"]: r["config"]["condition"]
               for r in parsed("main.bicep")["resources"].values()
               if r["type"] == "Microsoft.Authorization/roleAssignments" and "condition" in r["config"]}
    assert readers["slackSigningSecretValue"] == "useSlackApproval"
    assert readers["approvalLinkSecretValue"] == "useTeamsApproval"


def test_the_configuration_file_is_an_app_setting_when_given() -> None:
    app_settings = parsed("main.bicep")["resources"]["functionApp"]["config"]["properties"]["siteConfig"]["appSettings"]
    assert "configSettings" in app_settings["function"]["parameters"].values()
    value = variable("main.bicep", "configSettings")["operator"]["operands"]
    assert value["true_value"] == [] and value["false_value"] == [{"name": "RESPONDER_CONFIG", "value": "responderConfig"}]
    assert setting("baseSettings", "RESPONDER_AUTO_REMEDIATE") == "autoRemediate"


def test_every_app_setting_a_timer_schedule_names_is_always_set() -> None:
    """The host resolves ``%NAME%`` in a timer's schedule from the app settings when it starts, and
    refuses the function without it: the weekly report's schedule is set in every deployment."""
    from tests.azure.conftest import app_functions

    schedules = [b["schedule"] for f in app_functions() for b in json.loads(f.get_function_json())["bindings"]
                 if b["type"] == "timerTrigger"]
    named = {name for schedule in schedules for name in re.findall(r"%(\w+)%", schedule)}
    assert named == {"RESPONDER_REPORT_SCHEDULE"}
    assert setting("baseSettings", "RESPONDER_REPORT_SCHEDULE") == "reportSchedule"
    assert parsed("main.bicep")["parameters"]["reportSchedule"]["default"] == "0 0 8 * * 1"  # Monday 08:00


def test_the_teams_page_trusts_easy_auth_only_when_declared_with_chat_approval() -> None:
    assert parsed("main.bicep")["parameters"]["teamsApprovalEasyAuth"]["default"] is False
    assert setting("baseSettings", "RESPONDER_TEAMS_APPROVAL_EASY_AUTH") == {"operator": {
        "type": "conditional", "operands": {
            "condition": {"operator": {"type": "and", "operands": {"operand_1": "useTeamsApproval",
                                                                   "operand_2": "teamsApprovalEasyAuth"}}},
            "true_value": "true", "false_value": "false"}}}


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
