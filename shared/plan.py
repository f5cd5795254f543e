"""The remediation planner: a finding's rule, filled in with the failure's own names."""

from __future__ import annotations

from shared.catalog import Catalog, default_catalog
from shared.catalog.schema import Rule
from shared.decode import decode_command
from shared.models import Failure, Finding, Plan, RoleAssignment, Snippet
from shared.text import fill, missing_placeholders

LANGUAGES = ("en", "ko", "ja")

#: How a reader finds a value the event did not carry, filled with what the failure does know.
LOOKUPS: dict[str, str] = {
    "vault_principal_id": "az dataprotection backup-vault show --resource-group {vault_resource_group} "
                          "--vault-name {vault_name} --query identity.principalId -o tsv",
    "vault_principal_id.rsv": "az backup vault show --resource-group {vault_resource_group} --name {vault_name} "
                              "--query identity.principalId -o tsv",
    # The key the job used (the one to fix the policy of); never the key a fix must create.
    "kms_key_arn": "aws backup describe-recovery-point --backup-vault-name {vault_name} "
                   "--recovery-point-arn {recovery_point_arn} --query EncryptionKeyArn --output text",
    # A failed backup made no recovery point: the job itself names its key.
    "kms_key_arn.backup": "aws backup describe-backup-job --backup-job-id {job_id} --query EncryptionKeyArn "
                          "--output text",
    # Restore events name the recovery point but not its vault.
    "vault_name.restore": "aws backup describe-restore-job --restore-job-id {job_id} --query BackupVaultArn "
                          "--output text (the vault name is the ARN's last part)",
    # A key the fix creates: its policy is the rule's new-key-policy.json snippet; prints the new ARN.
    "new_kms_key_arn": "NEW_KEY=$(aws kms create-key --description \"AWS Backup copies to account "
                       "{destination_account_id}\" --policy file://new-key-policy.json --region {region} "
                       "--query KeyMetadata.Arn --output text) && aws kms create-alias --alias-name "
                       "alias/aws-backup-copy-to-{destination_account_id} --target-key-id \"$NEW_KEY\" "
                       "--region {region} && echo \"$NEW_KEY\"",
    "snapshot_id": "aws ec2 describe-images --image-ids {ami_id} --region {region} "
                   "--query Images[].BlockDeviceMappings[].Ebs.SnapshotId --output text",
    # On-demand jobs have no plan: an empty answer means there is none to change.
    "backup_plan_id": "aws backup describe-backup-job --backup-job-id {job_id} --query CreatedBy.BackupPlanId "
                      "--output text",
    "backup_plan_id.copy": "aws backup describe-copy-job --copy-job-id {job_id} "
                           "--query CopyJob.CreatedBy.BackupPlanId --output text",
    "backup_rule_id": "aws backup describe-backup-job --backup-job-id {job_id} --query CreatedBy.BackupRuleId "
                      "--output text",
    "backup_rule_id.copy": "aws backup describe-copy-job --copy-job-id {job_id} "
                           "--query CopyJob.CreatedBy.BackupRuleId --output text",
    "pass_role_arn": "decode the authorization message (see the steps) and read context.resource",
    "role_arn": "aws backup describe-{job_type}-job --{job_type}-job-id {job_id} --query IamRoleArn",
    "key_vault_id": "az keyvault show --name <key vault in the backup instance's secret URI> --query id -o tsv",
    "container_scope": "/subscriptions/{subscription_id}/resourceGroups/<rg>/providers/Microsoft.Storage/"
                       "storageAccounts/<account>/blobServices/default/containers/<container>",
    "db_user": "the user name stored in the Key Vault secret of the backup instance",
    "organization_id": "aws organizations describe-organization --query Organization.Id --output text",
}


def _texts(rule: Rule, language: str) -> tuple[str, str, list[str]]:
    """Title, explanation and steps in ``language`` where the rule has them, else English."""
    tr = rule.i18n.get(language) if language != "en" else None  # type: ignore[call-overload]
    if tr is None:
        return rule.title, rule.explanation, rule.steps
    return tr.title or rule.title, tr.explanation or rule.explanation, tr.steps or rule.steps


def _lookup_key(name: str, failure: Failure) -> str:
    """The variant of a lookup for this failure: ``.rsv`` for a Recovery Services vault, else the
    job type's (``.copy``: a copy's description nests it under ``CopyJob``), else the plain one."""
    recovery_services = "microsoft.recoveryservices/" in (failure.vault_id or "").lower()
    variant = "rsv" if recovery_services else failure.job_type
    return f"{name}.{variant}" if f"{name}.{variant}" in LOOKUPS else name


def plan_for(failure: Failure, finding: Finding, catalog: Catalog | None = None,
             language: str = "en") -> Plan | None:
    """The plan for a classified finding; None for ``unclassified`` (there is no fix to state)."""
    if finding.rule is None:
        return None
    rule = (catalog or default_catalog()).rule(finding.rule)
    values = failure.placeholders()
    title, explanation, steps = _texts(rule, language)
    templates = [title, explanation, *steps, *(s.body for s in rule.snippets), *(s.title for s in rule.snippets),
                 *(r.scope for r in rule.roles)]
    missing = sorted(set().union(*(missing_placeholders(t, values) for t in templates)))

    filled_steps = [fill(step, values) for step in steps]
    notes = list(failure.notes)
    values.setdefault("job_type", failure.job_type or "backup")
    says_how = any("decode-authorization-message" in t for t in templates)
    if failure.encoded_message and failure.decoded is None and not says_how:
        notes.append("The authorization message was not decoded here. Decode it with: "
                     + decode_command(failure.encoded_message))
    principal = values.get("vault_principal_id", "{vault_principal_id}")
    lookups = {name: fill(LOOKUPS[_lookup_key(name, failure)], values) for name in missing
               if _lookup_key(name, failure) in LOOKUPS}
    # A lookup can need a value the event lacks too (the vault of a restore): say how to find that one.
    needed = set().union(*(missing_placeholders(command, values) for command in lookups.values())) - set(missing)
    lookups |= {name: fill(LOOKUPS[_lookup_key(name, failure)], values) for name in needed
                if _lookup_key(name, failure) in LOOKUPS}
    return Plan(
        cause=finding.cause,
        title=" ".join(fill(title, values).split()),
        # A generic rule's explanation, then the provider's own words about the code.
        explanation=" ".join((fill(explanation, values) + (f" The provider documents {finding.documentation}"
                                                           if finding.documentation else "")).split()),
        steps=filled_steps + notes,
        snippets=[Snippet(kind=s.kind, title=fill(s.title, values), body=fill(s.body, values).rstrip())
                  for s in rule.snippets],
        role_assignments=[RoleAssignment(role=r.name, role_definition_id=r.id,
                                         scope=fill(r.scope, values), principal_id=principal)
                          for r in rule.roles],
        docs=list(rule.docs),
        auto_fix=rule.auto_fix,
        manual_reason=rule.manual_reason,
        missing=sorted({*missing, *needed}),
        lookups=lookups,
        language=language if language in rule.i18n or language == "en" else "en",
    )
