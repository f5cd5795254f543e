"""Remediation filled in with the failure's own names; what is unknown stays a visible placeholder."""

from __future__ import annotations

import json
import re

import pytest

from shared.classify import Classifier
from shared.decode import apply_decoded, parse_decoded
from shared.models import Failure, Plan
from shared.parse import parse_event
from shared.plan import plan_for
from tests.conftest import load_event
from tests.test_classify import DECODED_PASS_ROLE

READER_ROLE_ID = "acdd72a7-3385-48ef-bd42-f606fba81ae7"


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier()


def plan_of(classifier: Classifier, failure: Failure, language: str = "en") -> Plan:
    plan = plan_for(failure, classifier.classify(failure), classifier.catalog, language)
    assert plan is not None
    return plan


def failure_of(classifier: Classifier, name: str) -> Failure:
    return parse_event(load_event(name), classifier.catalog.codes)


def everything(plan: Plan) -> str:
    return "\n".join([plan.title, *plan.steps, *(s.body for s in plan.snippets), *(s.title for s in plan.snippets)])



def test_kms_key_policy_names_the_real_destination_account(classifier: Classifier) -> None:
    plan = plan_of(classifier, failure_of(classifier, "aws/seed003-copy-source-kms-key-access.json"))
    text = everything(plan)
    assert "arn:aws:iam::444455556666:root" in text
    assert "DestinationAccountID" not in text and "{destination_account_id}" not in text
    policies = [json.loads(s.body) for s in plan.snippets if s.kind == "json"]
    statements = [st for p in policies for st in (p.get("Statement") or [p])]
    assert any("kms:Decrypt" in json.dumps(st) for st in statements)
    assert plan.auto_fix == "kms-key-policy"


def test_vault_access_policy_names_the_real_source_account(classifier: Classifier) -> None:
    plan = plan_of(classifier, failure_of(classifier, "aws/seed003-copy-vault-access-denied.json"))
    text = everything(plan)
    assert "arn:aws:iam::111122223333:root" in text
    assert "backup:CopyIntoBackupVault" in text
    assert "SourceAccountID" not in text
    assert plan.auto_fix == "vault-access-policy"


def test_pass_role_policy_is_for_the_one_decoded_role_and_only_to_ec2(classifier: Classifier) -> None:
    failure = failure_of(classifier, "aws/seed004-restore-ec2-not-authorized-encoded.json")
    plan = plan_of(classifier, apply_decoded(failure, parse_decoded(DECODED_PASS_ROLE)))
    policy = next(json.loads(s.body) for s in plan.snippets if s.kind == "json")
    [statement] = policy["Statement"]
    assert statement["Action"] == "iam:PassRole"
    assert statement["Resource"] == "arn:aws:iam::111122223333:role/AmazonSSMRoleForInstancesQuickSetup"
    assert statement["Condition"]["StringEquals"]["iam:PassedToService"] == "ec2.amazonaws.com"
    assert "role/*" not in everything(plan)
    assert plan.missing == []


def test_before_decoding_the_role_to_pass_stays_a_placeholder_and_the_decode_command_is_given(
        classifier: Classifier) -> None:
    failure = failure_of(classifier, "aws/seed004-restore-ec2-not-authorized-encoded.json")
    plan = plan_of(classifier, failure)
    assert "pass_role_arn" in plan.missing
    assert "{pass_role_arn}" in everything(plan)
    assert "role/*" not in everything(plan)
    assert any("aws sts decode-authorization-message --encoded-message " + (failure.encoded_message or "") in step
               for step in plan.steps)


def test_postgres_reader_fix_names_the_vault_identity_and_the_server_scope(classifier: Classifier) -> None:
    failure = failure_of(classifier, "azure/seed000-pgsql-backup-usererrormsimissingpermissions.json")
    failure = failure.model_copy(update={"facts": {**failure.facts, "vault_principal_id": "11111111-2222-3333-4444-555555555555"}})
    plan = plan_of(classifier, failure)
    server_id = failure.facts["server_id"]
    [assignment] = plan.role_assignments
    assert (assignment.role, assignment.role_definition_id) == ("Reader", READER_ROLE_ID)
    assert assignment.scope == server_id
    assert assignment.principal_id == "11111111-2222-3333-4444-555555555555"
    command = next(s.body for s in plan.snippets if s.kind == "shell")
    assert "az role assignment create" in command
    assert "11111111-2222-3333-4444-555555555555" in command and server_id in command
    assert plan.auto_fix == "azure-role-assignment"


def test_without_enrichment_the_vault_identity_stays_a_placeholder(classifier: Classifier) -> None:
    plan = plan_of(classifier, failure_of(classifier, "azure/seed000-pgsql-backup-usererrormsimissingpermissions.json"))
    failure = failure_of(classifier, "azure/seed000-pgsql-backup-usererrormsimissingpermissions.json")
    assert "vault_principal_id" in plan.missing
    assert plan.role_assignments[0].principal_id == "{vault_principal_id}"
    # ... and the reader is told how to look it up, for this very vault.
    lookup = plan.lookups["vault_principal_id"]
    assert lookup.startswith("az dataprotection backup-vault show")
    assert f"--vault-name {failure.vault_name}" in lookup and failure.facts["vault_resource_group"] in lookup


def test_db_permissions_fix_is_the_grant_script_of_seed_001(classifier: Classifier) -> None:
    plan = plan_of(classifier, failure_of(classifier, "azure/seed001-pgsql-backup-usererrormissingdbpermissions.json"))
    sql = next(s.body for s in plan.snippets if s.kind == "sql")
    for statement in ("grant connect on database", "GRANT USAGE ON SCHEMA", "GRANT SELECT ON ALL TABLES IN SCHEMA",
                      "ALTER DEFAULT PRIVILEGES IN SCHEMA", "GRANT SELECT ON ALL SEQUENCES IN SCHEMA"):
        assert statement in sql
    assert plan.auto_fix == "none" and plan.manual_reason


def test_seed_rules_speak_the_seed_language(classifier: Classifier) -> None:
    kms = plan_of(classifier, failure_of(classifier, "aws/seed003-copy-source-kms-key-access.json"), "ko")
    assert kms.language == "ko" and re.search(r"[\uac00-\ud7a3]", kms.title + kms.steps[0])
    pg = plan_of(classifier, failure_of(classifier, "azure/seed001-pgsql-backup-usererrormissingdbpermissions.json"), "ja")
    assert pg.language == "ja" and re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", pg.title + pg.steps[0])


def test_unclassified_has_no_plan(classifier: Classifier) -> None:
    failure = failure_of(classifier, "aws/backup-job-failed.json").model_copy(update={"message": "Nobody knows."})
    assert plan_for(failure, classifier.classify(failure), classifier.catalog) is None


def test_every_placeholder_left_in_a_sample_message_is_declared_missing(classifier: Classifier) -> None:
    from functions.cli import sample_events

    for name, event in sample_events():
        failure = parse_event(event, classifier.catalog.codes)
        plan = plan_of(classifier, failure)
        left = set(re.findall(r"\{([a-z_]+)\}", plan.explanation + everything(plan)))
        assert left <= set(plan.missing), name
        assert not (set(plan.missing) & failure.placeholders().keys()), name
