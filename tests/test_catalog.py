"""The catalog is reviewable data: these tests keep it valid, reachable and complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from shared.catalog import Catalog, CatalogError, load_catalog, rule_files
from shared.catalog.check import check_catalog
from shared.catalog.schema import CatalogFile, Rule

CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "CONTRACT.md"
# The cause table of the contract; a copy is kept here for clones without ../shared beside them.
CONTRACT_CAUSES = {
    "aws.copy.org-membership", "aws.copy.cross-account-disabled", "aws.copy.unsupported-resource",
    "aws.kms.aws-managed-key", "aws.kms.key-access", "aws.vault.access-policy", "aws.vault.retention-range",
    "aws.vault.missing", "aws.tags.policy", "aws.tags.limit", "aws.iam.pass-role", "aws.iam.role-permissions",
    "aws.iam.role-trust", "aws.restore.instance-profile", "aws.backup.window-expired",
    "aws.backup.schedule-conflict", "aws.backup.concurrent-job", "aws.quota.limit-exceeded",
    "aws.resource.not-found", "aws.s3.versioning-disabled", "aws.ec2.vss", "aws.job.stopped-by-user",
    "aws.service.transient",
    "azure.postgres.vault-msi-reader", "azure.postgres.entra-admin-missing",
    "azure.postgres.network-line-of-sight", "azure.postgres.db-permissions", "azure.postgres.secret-invalid",
    "azure.postgres-flex.vault-msi-permissions", "azure.keyvault.secret-access",
    "azure.storage.container-access", "azure.vm.ade-keyvault-access", "azure.vm.agent-unreachable",
    "azure.vm.no-network", "azure.vm.restore-point-limit", "azure.vm.encrypted-restore-limit",
    "azure.disk.vault-msi-permissions", "azure.blob.vault-msi-permissions", "azure.sql.full-backup-missing",
    "azure.sql.permissions", "azure.resource.not-found", "azure.resource.locked",
    "azure.operation.concurrent-limit",
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _rule(**changes: object) -> dict[str, object]:
    rule: dict[str, object] = {
        "id": "aws.test.rule", "cause": "aws.test.cause", "title": "t", "explanation": "e",
        "steps": ["do {role_arn}"], "source": "https://example.com/doc",
        "match": {"messages": ["something broke"]}, "examples": [{"message": "Something broke"}],
    }
    rule.update(changes)
    return rule


def test_every_catalog_file_follows_the_schema() -> None:
    files = rule_files()
    assert files
    for path in files:
        CatalogFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def test_every_example_is_won_by_its_rule_and_no_rules_clash(catalog: Catalog) -> None:
    assert check_catalog(catalog) == []


def test_the_contract_causes_all_have_rules(catalog: Catalog) -> None:
    if CONTRACT.exists():  # keep the copy above in step with the contract when it is beside us
        table = set(re.findall(r"^\| `((?:aws|azure)\.[a-z0-9.-]+)` \|", CONTRACT.read_text(), re.M))
        assert table == CONTRACT_CAUSES
    assert CONTRACT_CAUSES - catalog.causes() == set()


def test_the_catalog_is_large_and_every_rule_names_its_source(catalog: Catalog) -> None:
    assert len(catalog) >= 140
    assert all(rule.source.startswith("https://") for rule in catalog.rules)
    assert len({rule.source for rule in catalog.rules}) >= 20


CONTRACT_AZURE_CODES = {
    "UserErrorMSIMissingPermissions", "UserErrorBackupUserAuthFailed", "UserErrorMissingNetworkSecurityPermissions",
    "UserErrorMissingDBPermissions", "UserErrorInvalidSecret", "UserErrorDBUserAuthFailed",
    "UserErrorSecretValueInUnsupportedFormat", "PostgreSQLFlexOperationFailedUserError",
    "UserErrorMissingPermissionsOnSecretStore", "UserErrorInvalidSecretStore", "UserErrorContainerNotAccessible",
    "UserErrorKeyvaultPermissionsNotConfigured", "UserErrorGuestAgentStatusUnavailable",
    "GuestAgentSnapshotTaskStatusError", "ExtensionSnapshotFailedNoNetwork", "UserErrorRpCollectionLimitReached",
    "UserErrorMissingRequiredPermissions", "UserErrorParentFullBackupMissing", "UserErrorSQLNoSysadminMembership",
    "UserErrorDBNotFound", "UserErrorManagedDiskNotFound", "UserErrorAzureResourceNotFoundByPlugin",
    "UserErrorSQLPODoesNotExist", "UserErrorStorageAccountInLockedState", "UserErrorSnapshotResourceGroupHasLocks",
    "UserErrorMaxConcurrentOperationLimitReached", "UserErrorBackupRequestThrottled",
}


def test_contract_azure_codes_are_all_matched_in_their_documented_spelling(catalog: Catalog) -> None:
    if CONTRACT.exists():
        documented = set(re.findall(r"\b((?:UserError|Extension|GuestAgent|PostgreSQLFlex)[A-Za-z]+)\b",
                                    CONTRACT.read_text()))
        assert documented == CONTRACT_AZURE_CODES
    known = {code for rule in catalog.rules for code in rule.match.codes}
    assert CONTRACT_AZURE_CODES - known == set()


def test_an_unknown_placeholder_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown placeholders"):
        Rule.model_validate(_rule(steps=["grant {destination_acount_id}"]))


def test_a_bad_regex_is_refused() -> None:
    with pytest.raises(ValueError, match="not a valid regex"):
        Rule.model_validate(_rule(match={"messages": ["unbalanced ("]}))


def test_a_rule_without_examples_is_refused() -> None:
    with pytest.raises(ValueError):
        Rule.model_validate(_rule(examples=[]))


def test_duplicate_ids_fail_loading() -> None:
    rule = Rule.model_validate(_rule())
    with pytest.raises(CatalogError, match="duplicate rule id"):
        Catalog([rule, rule])


def test_clashing_and_unreachable_rules_are_reported() -> None:
    first = Rule.model_validate(_rule())
    same = Rule.model_validate(_rule(id="aws.test.same"))
    shadowed = Rule.model_validate(_rule(id="aws.test.shadowed", match={"messages": ["broke"]}))
    problems = check_catalog(Catalog([first, same, shadowed]))
    assert any("matches exactly what rule aws.test.rule matches" in p for p in problems)
    assert any(p.startswith("rule aws.test.shadowed example 1 is won by aws.test.rule") for p in problems)


def test_a_broken_catalog_file_names_itself(tmp_path: Path) -> None:
    (tmp_path / "aws_bad.yaml").write_text("cloud: aws\nrules:\n  - id: x\n")
    with pytest.raises(CatalogError, match=r"aws_bad\.yaml"):
        load_catalog(tmp_path)


@pytest.mark.parametrize(("change", "problem"), [
    ({"match": {"messages": ["unbalanced ("]}}, r"not a valid regex.* - at `\$\.rules\[1\]\.match`"),
    ({"match": {"codes": []}}, r"at least one code.* - at `\$\.rules\[1\]\.match`"),
    ({"steps": ["grant {nobody}"]}, r"unknown placeholders \['nobody'\] - at `\$\.rules\[1\]`"),
    ({"colour": "red"}, r"unknown field `colour` - at `\$\.rules\[1\]`"),
    ({"steps": []}, r"length >= 1 - at `\$\.rules\[1\]\.steps`"),
])
def test_a_file_with_a_broken_rule_says_which_rule_and_where(tmp_path: Path, change: dict[str, object],
                                                              problem: str) -> None:
    rules = [_rule(), _rule(id="aws.test.second", **change)]
    (tmp_path / "aws_bad.yaml").write_text(yaml.safe_dump({"cloud": "aws", "rules": rules}))
    with pytest.raises(CatalogError, match=r"aws_bad\.yaml: .*" + problem):
        load_catalog(tmp_path)
