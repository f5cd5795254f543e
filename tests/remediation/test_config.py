"""The ``remediation`` section: the default allows nothing, the mode can only be made stricter,
the allow-list matches causes, accounts and subscriptions, the KMS fix needs its exact name, and
the shipped example is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.remediation.config import (
    RemediationConfig,
    RemediationConfigError,
    load_remediation_config,
    parse_remediation,
)
from tests.remediation.conftest import SEED000_READER, SEED003_KMS, SEED004, SOURCE, SUBSCRIPTION, outcome_of

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "remediation-aws-pass-role.yaml"


def test_the_default_allows_nothing() -> None:
    cfg = RemediationConfig()
    failure = outcome_of(SEED004).failure
    assert cfg.allow == []
    entry, why = cfg.entry_for(failure, "aws.iam.pass-role", "iam-pass-role")
    assert entry is None and "not in the remediation allow-list" in why


def test_no_file_and_no_section_are_the_default(tmp_path: Path) -> None:
    assert load_remediation_config(None) == RemediationConfig()
    path = tmp_path / "c.yaml"
    path.write_text("version: 1\nsinks: {}\n")
    assert load_remediation_config(path) == RemediationConfig()


@pytest.mark.parametrize(("switch", "file_mode", "expected"), [
    ("off", None, "off"), ("dry-run", None, "dry-run"), ("on", None, "on"),
    ("on", "dry-run", "dry-run"), ("on", "off", "off"), ("dry-run", "off", "off"),
    # the file can never loosen the switch
    ("off", "on", "off"), ("off", "dry-run", "off"), ("dry-run", "on", "dry-run"),
])
def test_the_file_mode_only_makes_the_switch_stricter(switch: str, file_mode: str | None, expected: str) -> None:
    cfg = RemediationConfig(mode=file_mode)  # type: ignore[arg-type]
    assert cfg.effective_mode(switch) == expected  # type: ignore[arg-type]


def test_yaml_off_and_on_are_read_as_modes() -> None:
    import yaml

    assert parse_remediation(yaml.safe_load("mode: off")).mode == "off"
    assert parse_remediation(yaml.safe_load("mode: on")).mode == "on"


def test_unknown_keys_and_bad_values_fail_loudly() -> None:
    with pytest.raises(RemediationConfigError, match="alow"):
        parse_remediation({"alow": [{"cause": "aws.iam.pass-role"}]})
    with pytest.raises(RemediationConfigError, match="12 digits"):
        parse_remediation({"allow": [{"cause": "aws.iam.pass-role", "accounts": ["1234"]}]})
    with pytest.raises(RemediationConfigError, match="must start with aws"):
        parse_remediation({"allow": [{"cause": "*.*.*"}]})
    with pytest.raises(RemediationConfigError):
        parse_remediation({"limits": {"max_changes_per_hour": -1}})


def test_entries_match_cause_patterns_and_accounts() -> None:
    failure = outcome_of(SEED004).failure
    cfg = parse_remediation({"allow": [{"cause": "aws.iam.*", "accounts": [SOURCE]}]})
    entry, _ = cfg.entry_for(failure, "aws.iam.pass-role", "iam-pass-role")
    assert entry is not None
    elsewhere = parse_remediation({"allow": [{"cause": "aws.iam.pass-role", "accounts": ["999988887777"]}]})
    entry, why = elsewhere.entry_for(failure, "aws.iam.pass-role", "iam-pass-role")
    assert entry is None and f"account {SOURCE}" in why


def test_entries_match_subscriptions_for_azure_and_never_an_aws_only_entry() -> None:
    failure = outcome_of(SEED000_READER).failure
    ok = parse_remediation({"allow": [{"cause": "azure.postgres.vault-msi-reader",
                                       "subscriptions": [SUBSCRIPTION.upper()]}]})
    assert ok.entry_for(failure, "azure.postgres.vault-msi-reader", "azure-role-assignment")[0] is not None
    aws_only = parse_remediation({"allow": [{"cause": "azure.*", "accounts": [SOURCE]}]})
    assert aws_only.entry_for(failure, "azure.postgres.vault-msi-reader", "azure-role-assignment")[0] is None


def test_the_kms_fix_is_allowed_only_by_its_exact_name() -> None:
    failure = outcome_of(SEED003_KMS).failure
    pattern = parse_remediation({"allow": [{"cause": "aws.*"}]})
    entry, why = pattern.entry_for(failure, "aws.kms.key-access", "kms-key-policy")
    assert entry is None and "named explicitly" in why
    named = parse_remediation({"allow": [{"cause": "aws.*"}, {"cause": "aws.kms.key-access"}]})
    entry, _ = named.entry_for(failure, "aws.kms.key-access", "kms-key-policy")
    assert entry is not None and entry.cause == "aws.kms.key-access"


def test_the_example_allows_pass_role_only() -> None:
    cfg = load_remediation_config(EXAMPLE)
    failure = outcome_of(SEED004).failure
    entry, _ = cfg.entry_for(failure, "aws.iam.pass-role", "iam-pass-role")
    assert entry is not None and entry.restart_job and entry.accounts == [SOURCE]
    assert cfg.entry_for(failure, "aws.vault.access-policy", "vault-access-policy")[0] is None
    assert cfg.approval.slack_users == ["U0123ABCD"]
    assert cfg.mode is None  # the switch (RESPONDER_AUTO_REMEDIATE) decides
