"""AWS Backup enrichment as a ``shared.pipeline.Enricher``.

When the event lacks what the fix needs (the role, the recovery point, the vault, the resource type,
the message itself), the job is described (DescribeBackupJob, DescribeCopyJob, DescribeRestoreJob)
in the account and Region that ran it. The vault is described for its encryption key, and for a
cross-account copy the destination vault's access policy is read to tell whether it lets the
source account copy in. Each call is optional: one that fails adds a note to the message and the
others still run. Values from the event are never overwritten.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from msgspec import Struct, field

from functions.aws.accounts import AccountAccessError, AccountClients, error_code
from shared.models import Failure
from shared.parse.aws import arn_parts, encoded_message_in
from shared.text import strip_wrapping_quotes

#: Errors an optional call may raise: each becomes a note, never a failure of the handler.
CALL_ERRORS = (ClientError, BotoCoreError, AccountAccessError)
COPY_INTO_VAULT = "backup:CopyIntoBackupVault"


def _name(arn: str | None) -> str | None:
    """The last segment of an ARN's resource part: the vault, role or instance name."""
    resource = arn_parts(arn).get("resource", "")
    return resource.split(":")[-1].split("/")[-1] or None


class _Draft(Struct):
    """The changes enrichment makes, applied to the failure once at the end."""

    failure: Failure
    fields: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def value(self, name: str) -> Any:
        return self.fields.get(name) or getattr(self.failure, name)

    def fact(self, name: str) -> str | None:
        return self.facts.get(name) or self.failure.facts.get(name)

    def fill(self, name: str, value: Any) -> None:
        """Set a Failure field the event left empty."""
        if value and not getattr(self.failure, name) and not self.fields.get(name):
            self.fields[name] = str(value)

    def fill_fact(self, name: str, value: Any) -> None:
        if value and not self.fact(name):
            self.facts[name] = str(value)

    def result(self) -> Failure:
        if not (self.fields or self.facts or self.notes):
            return self.failure
        return self.failure.model_copy(update={
            **self.fields,
            "facts": {**self.failure.facts, **self.facts},
            "notes": [*self.failure.notes, *self.notes],
        })


def _statements(policy: Any) -> Iterator[dict[str, Any]]:
    statements = policy.get("Statement", []) if isinstance(policy, dict) else []
    for statement in statements if isinstance(statements, list) else [statements]:
        if isinstance(statement, dict):
            yield statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_allows_copy_from(policy_text: str, source_account: str) -> bool:
    """True when a vault access policy has an Allow statement for backup:CopyIntoBackupVault whose
    principal is the source account (its root, the bare id, any of its principals) or everyone
    (usually narrowed by an ``aws:PrincipalOrgID`` condition, which this does not evaluate)."""
    try:
        policy = json.loads(policy_text)
    except ValueError:
        return False
    for statement in _statements(policy):
        if statement.get("Effect") != "Allow":
            continue
        actions = {str(a).lower() for a in _as_list(statement.get("Action", []))}
        if not actions & {COPY_INTO_VAULT.lower(), "backup:*", "*"}:
            continue
        principal = statement.get("Principal")
        if principal == "*":
            return True
        aws = principal.get("AWS", []) if isinstance(principal, dict) else []
        for entry in _as_list(aws):
            entry = str(entry)
            if entry == "*" or entry == source_account or arn_parts(entry).get("account") == source_account:
                return True
    return False


class BackupEnricher:
    """Describes the job and its vaults when the event lacks what the fix needs."""

    name = "describe the AWS Backup job"

    def __init__(self, clients: AccountClients) -> None:
        self.clients = clients

    def enrich(self, failure: Failure) -> Failure:
        if failure.cloud != "aws" or not failure.failed or not failure.job_id or not failure.job_type:
            return failure
        draft = _Draft(failure)
        if self.needs_job(failure):
            self._describe_job(draft)
        self._describe_vault(draft)
        self._check_destination_policy(draft)
        return draft.result()

    @staticmethod
    def needs_job(failure: Failure) -> bool:
        """True when the event lacks a fact the fix needs that the job description has."""
        needed = [failure.message, failure.resource_type, failure.facts.get("role_arn"),
                  # restore events never name the vault; the key of the recovery point is read through it
                  failure.vault_id or failure.vault_name]
        if failure.job_type in ("copy", "restore"):
            needed.append(failure.facts.get("recovery_point_arn"))
        if failure.job_type == "copy":
            needed.append(failure.facts.get("destination_vault_arn"))
        return not all(needed)

    def _call(self, draft: _Draft, what: str, account: str | None, region: str | None,
              method: str, **params: Any) -> dict[str, Any] | None:
        """One optional Backup call; a failure becomes a note and None."""
        try:
            client = self.clients.client("backup", account, region)
            response: dict[str, Any] = getattr(client, method)(**params)
            return response
        except CALL_ERRORS as exc:
            where = f" in account {account}" if account else ""
            detail = str(exc) if isinstance(exc, AccountAccessError) else error_code(exc)
            draft.notes.append(f"Enrichment: could not {what}{where} ({detail}).")
            return None

    def _describe_job(self, draft: _Draft) -> None:
        f = draft.failure
        job_type, job_id = f.job_type, str(f.job_id)
        if job_type == "backup":
            job = self._call(draft, f"describe backup job {job_id}", f.account_id, f.region,
                             "describe_backup_job", BackupJobId=job_id)
            vault, recovery_point, key = "BackupVaultArn", "RecoveryPointArn", "EncryptionKeyArn"
        elif job_type == "copy":
            response = self._call(draft, f"describe copy job {job_id}", f.account_id, f.region,
                                  "describe_copy_job", CopyJobId=job_id)
            job = response.get("CopyJob") if response else None
            vault, recovery_point, key = "SourceBackupVaultArn", "SourceRecoveryPointArn", None
        else:
            job = self._call(draft, f"describe restore job {job_id}", f.account_id, f.region,
                             "describe_restore_job", RestoreJobId=job_id)
            vault, recovery_point, key = "BackupVaultArn", "RecoveryPointArn", None
        if not job:
            return
        draft.fill("account_id", job.get("AccountId"))
        draft.fill("resource_type", job.get("ResourceType"))
        resource = job.get("ResourceArn") or job.get("SourceResourceArn") or job.get("CreatedResourceArn")
        draft.fill("resource_id", resource)
        draft.fill("resource_name", job.get("ResourceName") or _name(resource))
        draft.fill("vault_id", job.get(vault))
        draft.fill("vault_name", job.get("BackupVaultName") or _name(job.get(vault)))
        message = job.get("StatusMessage")
        if message and not f.message:
            text = strip_wrapping_quotes(str(message))
            draft.fill("message", text)
            draft.fill("encoded_message", encoded_message_in(text))
        role = job.get("IamRoleArn")
        draft.fill_fact("role_arn", role)
        draft.fill_fact("role_name", _name(role))
        draft.fill_fact("recovery_point_arn", job.get(recovery_point))
        draft.fill_fact("message_category", job.get("MessageCategory"))
        if key:
            draft.fill_fact("kms_key_arn", job.get(key))
        if job_type == "copy":
            destination = job.get("DestinationBackupVaultArn")
            parts = arn_parts(destination)
            draft.fill_fact("destination_vault_arn", destination)
            draft.fill_fact("destination_vault_name", _name(destination))
            draft.fill_fact("destination_account_id", parts.get("account"))
            draft.fill_fact("destination_region", parts.get("region"))
            draft.fill_fact("source_account_id", arn_parts(job.get(vault)).get("account") or job.get("AccountId"))
            source, dest = draft.fact("source_account_id"), draft.fact("destination_account_id")
            if source and dest:
                draft.fill_fact("cross_account", str(source != dest))

    def _describe_vault(self, draft: _Draft) -> None:
        """The job's vault, for its encryption key (the key a cross-account copy must share)."""
        f = draft.failure
        if draft.fact("kms_key_arn") or f.job_type == "restore":
            return
        vault_arn = draft.value("vault_id")
        name = draft.value("vault_name") or _name(vault_arn)
        if not name:
            return
        parts = arn_parts(vault_arn)
        account = parts.get("account") or draft.value("account_id")
        vault = self._call(draft, f"describe backup vault {name}", account, parts.get("region") or f.region,
                           "describe_backup_vault", BackupVaultName=name)
        if vault:
            draft.fill_fact("kms_key_arn", vault.get("EncryptionKeyArn"))
            draft.fill("vault_id", vault.get("BackupVaultArn"))

    def _check_destination_policy(self, draft: _Draft) -> None:
        """For a cross-account copy: does the destination vault's access policy let the source in?"""
        if draft.failure.job_type != "copy" or draft.fact("cross_account") != "True":
            return
        destination, source = draft.fact("destination_vault_arn"), draft.fact("source_account_id")
        name = _name(destination)
        parts = arn_parts(destination)
        if not (name and source):
            return
        try:
            client = self.clients.client("backup", parts.get("account"), parts.get("region"))
            policy = client.get_backup_vault_access_policy(BackupVaultName=name).get("Policy") or ""
        except CALL_ERRORS as exc:
            if error_code(exc) == "ResourceNotFoundException":
                draft.notes.append(f"Enrichment: the destination vault {name} has no access policy, so no "
                                   f"other account (including {source}) may copy into it.")
            else:
                detail = str(exc) if isinstance(exc, AccountAccessError) else error_code(exc)
                draft.notes.append(f"Enrichment: could not read the access policy of the destination vault "
                                   f"{name} in account {parts.get('account')} ({detail}).")
            return
        if not policy_allows_copy_from(policy, source):
            draft.notes.append(f"Enrichment: the access policy of the destination vault {name} does not allow "
                               f"account {source} to {COPY_INTO_VAULT}.")
