"""AWS fixes (``shared.remediation.changes.Remediator``): IAM ``iam:PassRole``, the destination
vault's access policy, the source KMS key policy, and starting the failed job again.

Every fix reads the current document, adds the smallest statement that fixes the failure and
keeps every existing statement as it is; applying checks that the document did not change since it
was planned, and verifying reads it back. Least privilege throughout:

- ``iam-pass-role``: an inline policy on the restore role that allows ``iam:PassRole`` on the one
  role the decoded authorization message names (never ``role/*``, never a role of another
  account), only to the service the restored resource runs in (``iam:PassedToService``). Passing a
  role hands over its permissions, so the role's policies are read first: administrator-level or
  IAM write permissions (or policies that cannot be read) make the change a ``risk`` that only a
  person may approve;
- ``vault-access-policy``: ``backup:CopyIntoBackupVault`` for the source account's root (or, when
  the allow-list entry says so, the organization through ``aws:PrincipalOrgID``);
- ``kms-key-policy``: the two statements of seed 003 ("Allow use of the key", "Allow attachment of
  persistent resources") for the destination account only, after checking that the key is a
  customer managed key in the source account and enabled, that the destination account is an
  active account of the organization (Organizations) or named in the allow-list entry's
  ``destination_accounts``, and that the policy stays within 32 KB.

The calls are made in the account that owns each resource, through ``ClientProvider`` (in the
Lambda, ``AccountClients`` with the write-capable remediation role, ``REMEDIATION_ROLE_NAME``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from functions.aws.accounts import AccountAccessError, AccountClients, error_code
from shared.models import Failure, Outcome
from shared.parse.aws import arn_parts
from shared.remediation import policy
from shared.remediation.changes import AlreadyInPlace, Applied, Change, RemediationRefused
from shared.remediation.config import DESTINATION_ACCOUNTS_FACT, ORGANIZATION_FACT, listed
from shared.remediation.engine import RemediationEngine, engine_from_settings
from shared.settings import Settings
from shared.state import StateStore

log = logging.getLogger("backup_responder.remediation.aws")

#: KMS: "The key policy size quota is 32 kilobytes (32768 bytes)" (PutKeyPolicy API reference).
KMS_POLICY_MAX_BYTES = 32_768
#: IAM: role inline policies may hold at most 10,240 characters together (IAM quotas).
IAM_INLINE_POLICY_MAX_CHARS = 10_240
#: The service a restored resource's role is passed to, by AWS Backup resource type.
PASSED_TO_SERVICE = {"EC2": "ec2.amazonaws.com"}
#: What the destination account needs on the source key (seed 003, "Allow use of the key").
KMS_USE_ACTIONS = ["kms:DescribeKey", "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey",
                   "kms:GenerateDataKeyWithoutPlaintext"]
#: Seed 003, "Allow attachment of persistent resources", with its condition.
KMS_GRANT_ACTIONS = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]
KMS_GRANT_CONDITION = {"Bool": {"kms:GrantIsForAWSResource": "true"}}
COPY_INTO_VAULT = "backup:CopyIntoBackupVault"
#: AWS managed policies that make a role powerful by name alone (their documents say the same).
POWERFUL_MANAGED_POLICIES = {"AdministratorAccess": policy.ADMINISTRATOR_LEVEL,
                             "PowerUserAccess": policy.ADMINISTRATOR_LEVEL, "IAMFullAccess": policy.IAM_WRITE}
_ACCOUNT = re.compile(r"^\d{12}$")
_NOT_FOUND = frozenset({"NoSuchEntity", "NoSuchEntityException", "ResourceNotFoundException", "NotFoundException"})
CALL_ERRORS = (ClientError, BotoCoreError, AccountAccessError)

ENV_REMEDIATION_ROLE = "REMEDIATION_ROLE_NAME"


class ClientProvider(Protocol):
    """boto3 clients acting in an account (``functions.aws.accounts.AccountClients`` is one)."""

    def client(self, service: str, account_id: str | None = None, region: str | None = None) -> Any: ...


def _alnum(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", text)


def _same(a: Any, b: Any) -> bool:
    return policy.keeps_everything(a, b) == [] and policy.keeps_everything(b, a) == []


def _holds(current: dict[str, Any] | None, wanted: dict[str, Any] | None) -> bool:
    """True when ``current`` holds every statement of ``wanted``."""
    return current is not None and policy.keeps_everything(wanted, current) == []


def _role_name_of(principal_arn: str | None) -> str | None:
    resource = arn_parts(principal_arn).get("resource", "")
    if resource.startswith("assumed-role/"):
        return resource.split("/")[1]
    if resource.startswith("role/"):
        return resource.rsplit("/", 1)[-1]
    return None


class AwsRemediator:
    """IAM, Backup vault and KMS fixes, and job restarts, with boto3."""

    kinds = frozenset({"iam-pass-role", "vault-access-policy", "kms-key-policy"})

    def __init__(self, clients: ClientProvider, check_organizations: bool = True) -> None:
        self.clients = clients
        self.check_organizations = check_organizations

    # ------------------------------------------------------------------ Remediator
    def plan_change(self, outcome: Outcome) -> Change:
        kind = outcome.plan.auto_fix if outcome.plan else "none"
        if kind == "iam-pass-role":
            return self._plan_pass_role(outcome.failure)
        if kind == "vault-access-policy":
            return self._plan_vault_policy(outcome.failure)
        if kind == "kms-key-policy":
            return self._plan_key_policy(outcome.failure)
        raise RemediationRefused(f"the AWS adapter does not apply {kind}")

    def apply(self, change: Change) -> Applied:
        current = self._read(change)
        if _holds(current, change.after):
            return Applied(changed=False, detail="already in place")
        if not _same(current, change.before):
            raise RemediationRefused(f"{change.target} changed since the fix was planned; it was not touched")
        p = change.params
        text = policy.dump(change.after)
        try:
            if change.kind == "iam-pass-role":
                self._iam(change).put_role_policy(RoleName=p["role_name"], PolicyName=p["policy_name"],
                                                  PolicyDocument=text)
            elif change.kind == "vault-access-policy":
                self._backup(change.account, change.region).put_backup_vault_access_policy(
                    BackupVaultName=p["vault_name"], Policy=text)
            else:
                self._kms(change).put_key_policy(KeyId=p["key_id"], PolicyName="default", Policy=text,
                                                 BypassPolicyLockoutSafetyCheck=False)
        except ClientError as exc:
            code = error_code(exc)
            if code in ("MalformedPolicyDocumentException", "MalformedPolicyDocument", "LimitExceeded",
                        "LimitExceededException", "InvalidParameterValueException"):
                raise RemediationRefused(f"AWS rejected the new policy of {change.target} ({code}); nothing "
                                         "was changed") from exc
            raise
        return Applied(changed=True, detail=p.get("detail", ""))

    def verify(self, change: Change) -> bool:
        return _holds(self._read(change), change.after)

    # ------------------------------------------------------------------ JobRestarter
    def restart(self, outcome: Outcome, change: Change) -> str:
        """Start the failed copy or restore job again with its original parameters."""
        f = outcome.failure
        if not f.job_id:
            raise RemediationRefused("the failed job's id is not known")
        backup = self._backup(f.account_id, f.region)
        token = hashlib.sha256(f"{f.job_id}|{change.target}|{change.summary}".encode()).hexdigest()[:32]
        try:
            if f.job_type == "copy":
                job = backup.describe_copy_job(CopyJobId=f.job_id)["CopyJob"]
                params: dict[str, Any] = {
                    "RecoveryPointArn": job["SourceRecoveryPointArn"],
                    "SourceBackupVaultName": arn_parts(job["SourceBackupVaultArn"])["resource"].split(":")[-1],
                    "DestinationBackupVaultArn": job["DestinationBackupVaultArn"],
                    "IamRoleArn": job["IamRoleArn"],
                    "IdempotencyToken": token,
                }
                lifecycle = {k: v for k, v in (job.get("DestinationRecoveryPointLifecycle") or {}).items()
                             if k in ("MoveToColdStorageAfterDays", "DeleteAfterDays",
                                      "OptInToArchiveForSupportedResources", "DeleteAfterEvent")}
                if lifecycle:
                    params["Lifecycle"] = lifecycle
                return str(backup.start_copy_job(**params)["CopyJobId"])
            if f.job_type == "restore":
                job = backup.describe_restore_job(RestoreJobId=f.job_id)
                metadata = backup.get_restore_job_metadata(RestoreJobId=f.job_id).get("Metadata") or {}
                params = {"RecoveryPointArn": job["RecoveryPointArn"], "Metadata": metadata,
                          "IdempotencyToken": token}
                if job.get("IamRoleArn"):
                    params["IamRoleArn"] = job["IamRoleArn"]
                if job.get("ResourceType"):
                    params["ResourceType"] = job["ResourceType"]
                return str(backup.start_restore_job(**params)["RestoreJobId"])
        except KeyError as exc:
            raise RemediationRefused(f"the job's description lacks {exc}; it was not started again") from exc
        raise RemediationRefused(f"a {f.job_type} job is not started again automatically")

    # ------------------------------------------------------------------ TagReader
    def resource_tags(self, failure: Failure) -> dict[str, str] | None:
        arn = failure.resource_id
        if not arn or not arn.startswith("arn:"):
            return None
        try:
            tagging = self.clients.client("resourcegroupstaggingapi", failure.account_id, failure.region)
            mappings = tagging.get_resources(ResourceARNList=[arn]).get("ResourceTagMappingList") or []
        except CALL_ERRORS:
            return None
        if not mappings:
            return {}
        return {str(t["Key"]): str(t.get("Value", "")) for t in mappings[0].get("Tags") or []}

    # ------------------------------------------------------------------ clients and reads
    def _iam(self, change: Change) -> Any:
        return self.clients.client("iam", change.account)

    def _kms(self, change: Change) -> Any:
        return self.clients.client("kms", change.account, change.region)

    def _backup(self, account: str | None, region: str | None) -> Any:
        return self.clients.client("backup", account, region)

    def _read(self, change: Change) -> dict[str, Any] | None:
        p = change.params
        if change.kind == "iam-pass-role":
            return self._role_policy(self._iam(change), p["role_name"], p["policy_name"])
        if change.kind == "vault-access-policy":
            return self._vault_policy(self._backup(change.account, change.region), p["vault_name"])
        return self._key_policy(self._kms(change), p["key_id"])

    @staticmethod
    def _role_policy(iam: Any, role_name: str, policy_name: str) -> dict[str, Any] | None:
        try:
            document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND:
                return None
            raise
        return policy.load(document)

    @staticmethod
    def _vault_policy(backup: Any, vault_name: str) -> dict[str, Any] | None:
        try:
            text = backup.get_backup_vault_access_policy(BackupVaultName=vault_name).get("Policy")
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND:
                return None
            raise
        return policy.load(text)

    @staticmethod
    def _key_policy(kms: Any, key_id: str) -> dict[str, Any] | None:
        return policy.load(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])

    # ------------------------------------------------------------------ iam:PassRole
    def _plan_pass_role(self, f: Failure) -> Change:
        decoded = f.decoded
        if decoded is None or (decoded.action or "").lower() != "iam:passrole" or not decoded.resource:
            raise RemediationRefused("the role to pass is known only from the decoded authorization message, which "
                                     "is not available (decode it and run the fix by hand, or let the responder "
                                     "decode it with sts:DecodeAuthorizationMessage)")
        pass_role_arn = decoded.resource
        pass_parts = arn_parts(pass_role_arn)
        if pass_parts.get("service") != "iam" or not pass_parts.get("resource", "").startswith("role/") \
                or any(ch in pass_role_arn for ch in "*?"):
            raise RemediationRefused(f"the decoded resource {pass_role_arn!r} is not one IAM role")
        role_name = _role_name_of(decoded.principal_arn)
        if not role_name:
            raise RemediationRefused("the decoded principal is not an IAM role, so there is no role to add the "
                                     "permission to")
        if f.facts.get("role_name") and f.facts["role_name"] != role_name:
            raise RemediationRefused(f"the job ran with role {f.facts['role_name']}, but the decoded message names "
                                     f"{role_name}; a person must check which role to change")
        account = arn_parts(decoded.principal_arn).get("account") or f.account_id
        service = PASSED_TO_SERVICE.get((f.resource_type or "").upper())
        if service is None:
            raise RemediationRefused(f"which service a {f.resource_type or 'resource'} restore passes the role to is "
                                     "not known, so iam:PassedToService cannot be set")
        iam = self.clients.client("iam", account)
        pass_role_name = pass_parts["resource"].rsplit("/", 1)[-1]
        try:
            role = iam.get_role(RoleName=role_name)["Role"]
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND:
                raise RemediationRefused(f"the role {role_name} does not exist in account {account}") from exc
            raise
        if pass_parts.get("account") != account:
            raise RemediationRefused(f"the role to pass, {pass_role_arn}, is in another account than {account}, "
                                     "whose role would be changed; a role is only passed within its own account")
        try:
            iam.get_role(RoleName=pass_role_name)
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND:
                raise RemediationRefused(f"the role to pass, {pass_role_arn}, does not exist") from exc
            raise
        risk = self._pass_role_risk(iam, pass_role_name)
        policy_name = f"BackupResponderPassRole-{pass_role_name}"[:128]
        before = self._role_policy(iam, role_name, policy_name)
        statement = {
            "Sid": ("AllowBackupToPass" + _alnum(pass_role_name))[:100],
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": pass_role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": service}},
        }
        if statement in policy.statements(before):
            raise AlreadyInPlace(f"the inline policy {policy_name} of {role_name} already allows iam:PassRole on "
                                 f"{pass_role_arn}")
        after = policy.merged(before, [statement])
        if len(policy.dump(after)) > IAM_INLINE_POLICY_MAX_CHARS:
            raise RemediationRefused(f"the inline policy would exceed IAM's {IAM_INLINE_POLICY_MAX_CHARS} characters")
        return Change(
            kind="iam-pass-role", cloud="aws", account=account, region=None, target=str(role["Arn"]),
            summary=f"add iam:PassRole on role {pass_role_name} to role {role_name}",
            done=f"added iam:PassRole on role {pass_role_name} to role {role_name}",
            before=before, after=after,
            params={"role_name": role_name, "policy_name": policy_name,
                    "detail": f"inline policy {policy_name} on {role['Arn']} (to {service} only)"},
            notes=[f"iam:PassRole is allowed on {pass_role_arn} only, passed to {service} only",
                   f"risk: {risk}; a person must approve it" if risk else
                   f"the role {pass_role_name} has neither administrator-level nor IAM write permissions"],
            risk=risk,
        )

    @staticmethod
    def _role_powers(iam: Any, role_name: str) -> list[tuple[str, str]]:
        """The administrator-level and IAM write grants of a role: its attached managed policies
        (default versions) and its inline policies."""
        found: list[tuple[str, str]] = []
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name):
            for attached in page.get("AttachedPolicies") or []:
                arn = str(attached["PolicyArn"])
                name = arn.rsplit("/", 1)[-1]
                if arn_parts(arn).get("account") == "aws" and name in POWERFUL_MANAGED_POLICIES:
                    found.append((POWERFUL_MANAGED_POLICIES[name], f"{name} is attached"))
                    continue
                version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
                document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
                found += [(kind, f"{what} in {name}") for kind, what in policy.powers(policy.load(document))]
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=role_name):
            for name in page.get("PolicyNames") or []:
                document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
                found += [(kind, f"{what} in inline policy {name}")
                          for kind, what in policy.powers(policy.load(document))]
        return found

    def _pass_role_risk(self, iam: Any, role_name: str) -> str | None:
        """Why passing ``role_name`` needs a person: passing a role hands its permissions to what
        runs with it, so a role with administrator-level or IAM write permissions (or whose
        permissions cannot be read) is a privilege grant. None: no such permission."""
        try:
            found = self._role_powers(iam, role_name)
        except (*CALL_ERRORS, policy.PolicyError, KeyError) as exc:
            code = error_code(exc) if not isinstance(exc, policy.PolicyError) else "not a policy document"
            return (f"the permissions of the role {role_name} to pass could not be read ({code}), so whether "
                    "passing it hands over administrator-level or IAM write permissions is not known")
        if not found:
            return None
        kinds = [kind for kind in (policy.ADMINISTRATOR_LEVEL, policy.IAM_WRITE) if any(k == kind for k, _ in found)]
        shown = ", ".join(what for _, what in found[:4]) + (f" and {len(found) - 4} more" if len(found) > 4 else "")
        return (f"the role {role_name} to pass has {' and '.join(kinds)} permissions ({shown}); whatever runs "
                "with it could use them")

    # ------------------------------------------------------------------ vault access policy
    def _plan_vault_policy(self, f: Failure) -> Change:
        vault_arn = f.facts.get("destination_vault_arn")
        parts = arn_parts(vault_arn)
        source = f.facts.get("source_account_id") or f.account_id
        destination = parts.get("account")
        if f.job_type != "copy" or not vault_arn or not destination or not source:
            raise RemediationRefused("the destination vault and the source account are not both known")
        if destination == source:
            raise RemediationRefused("the copy stays in one account; a vault access policy is not what blocks it")
        vault_name = parts["resource"].split(":")[-1]
        region = parts.get("region") or f.region
        partition = f.facts.get("partition") or parts.get("partition") or "aws"
        backup = self._backup(destination, region)
        try:
            backup.describe_backup_vault(BackupVaultName=vault_name)
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND:
                raise RemediationRefused(f"the destination vault {vault_name} does not exist in account "
                                         f"{destination}") from exc
            raise
        before = self._vault_policy(backup, vault_name)
        organization = f.facts.get(ORGANIZATION_FACT)
        principal = f"arn:{partition}:iam::{source}:root"
        if policy.denies(before, principal, [COPY_INTO_VAULT]):
            raise RemediationRefused(f"the access policy of {vault_name} explicitly denies {COPY_INTO_VAULT}; the "
                                     "responder never removes a Deny")
        if organization:
            statement: dict[str, Any] = {
                "Sid": "BackupResponderCopyFromOrganization" + _alnum(organization),
                "Effect": "Allow", "Principal": "*", "Action": COPY_INTO_VAULT, "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization}},
            }
            who = f"the organization {organization}"
            present = statement in policy.statements(before)
        else:
            statement = {"Sid": f"BackupResponderCopyFrom{source}", "Effect": "Allow",
                         "Principal": {"AWS": principal}, "Action": COPY_INTO_VAULT, "Resource": "*"}
            who = f"account {source}"
            present = policy.allows(before, principal, [COPY_INTO_VAULT])
        if present:
            raise AlreadyInPlace(f"the access policy of {vault_name} already allows {who} to {COPY_INTO_VAULT}")
        after = policy.merged(before, [statement])
        return Change(
            kind="vault-access-policy", cloud="aws", account=destination, region=region, target=vault_arn,
            summary=f"add {COPY_INTO_VAULT} for {who} to the access policy of vault {vault_name}",
            done=f"added {COPY_INTO_VAULT} for {who} to the access policy of vault {vault_name}",
            before=before, after=after,
            params={"vault_name": vault_name, "detail": f"access policy of {vault_arn}"},
            notes=[f"{len(policy.statements(before))} existing statement(s) kept as they were"],
        )

    # ------------------------------------------------------------------ KMS key policy
    def _source_key(self, f: Failure) -> str | None:
        """The key of the recovery point (the resource's key for resources not fully managed by AWS
        Backup, the vault's for the others); the enriched ``kms_key_arn`` when it cannot be read."""
        recovery_point, vault = f.facts.get("recovery_point_arn"), f.vault_name
        if recovery_point and vault:
            try:
                found = self._backup(f.account_id, f.region).describe_recovery_point(
                    BackupVaultName=vault, RecoveryPointArn=recovery_point).get("EncryptionKeyArn")
                if found:
                    return str(found)
            except CALL_ERRORS as exc:
                log.info("describe recovery point failed: %s", error_code(exc))
        return f.facts.get("kms_key_arn")

    def _confirm_destination(self, account: str, allowed: list[str]) -> str:
        """A note saying how the destination account was confirmed; ``RemediationRefused`` when it
        was not: the account comes from the event, so it must be an active account of the
        organization, or one the allow-list entry names (``destination_accounts``)."""
        if account in allowed:
            return f"the destination account {account} is named in the allow-list (destination_accounts)"
        otherwise = ("; name it in destination_accounts of the allow-list entry to allow it, or let the responder "
                     "ask Organizations (organizations:DescribeAccount from the management or a delegated "
                     "administrator account)")
        if not self.check_organizations:
            raise RemediationRefused(f"the destination account {account} could not be confirmed: it is not looked "
                                     f"up in AWS Organizations here{otherwise}")
        try:
            found = self.clients.client("organizations").describe_account(AccountId=account)["Account"]
        except ClientError as exc:
            if error_code(exc) == "AccountNotFoundException":
                raise RemediationRefused(f"the destination account {account} is not an account of the "
                                         "organization") from exc
            raise RemediationRefused(f"the destination account {account} could not be confirmed in AWS "
                                     f"Organizations ({error_code(exc)}){otherwise}") from exc
        except (BotoCoreError, AccountAccessError) as exc:
            raise RemediationRefused(f"the destination account {account} could not be confirmed: AWS Organizations "
                                     f"could not be asked ({error_code(exc)}){otherwise}") from exc
        status = found.get("Status") or "ACTIVE"  # older answers carry no Status
        if status != "ACTIVE":
            raise RemediationRefused(f"the destination account {account} is {status} in the organization")
        return f"the destination account {account} is an active account of the organization"

    def _plan_key_policy(self, f: Failure) -> Change:
        source = f.facts.get("source_account_id") or f.account_id
        destination = f.facts.get("destination_account_id")
        if f.job_type != "copy" or not source or not destination:
            raise RemediationRefused("this is not a cross-account copy with a known destination account")
        if not _ACCOUNT.match(destination) or destination == source:
            raise RemediationRefused(f"the destination {destination!r} is not another AWS account")
        key_arn = self._source_key(f)
        if not key_arn:
            raise RemediationRefused("the source KMS key is not known (the recovery point could not be described)")
        key_parts = arn_parts(key_arn)
        if key_parts.get("account") and key_parts["account"] != source:
            raise RemediationRefused(f"the key {key_arn} is in account {key_parts['account']}, not in the source "
                                     f"account {source}; its owner must change it")
        region = key_parts.get("region") or f.region
        partition = f.facts.get("partition") or key_parts.get("partition") or "aws"
        kms = self.clients.client("kms", source, region)
        meta = kms.describe_key(KeyId=key_arn)["KeyMetadata"]
        if meta.get("KeyManager") != "CUSTOMER":
            raise RemediationRefused(f"{key_arn} is an AWS managed key: its policy cannot be changed and it cannot "
                                     "be shared across accounts")
        if meta.get("KeyState") != "Enabled":
            raise RemediationRefused(f"the key {key_arn} is {meta.get('KeyState')}: enabling it is the key owner's "
                                     "decision")
        key_arn = str(meta.get("Arn") or key_arn)
        before = self._key_policy(kms, key_arn)
        root = f"arn:{partition}:iam::{destination}:root"
        if policy.denies(before, root, [*KMS_USE_ACTIONS, *KMS_GRANT_ACTIONS]):
            raise RemediationRefused(f"the key policy of {key_arn} explicitly denies the destination account; the "
                                     "responder never removes a Deny")
        wanted = []
        if not policy.allows(before, root, KMS_USE_ACTIONS):
            wanted.append({"Sid": f"BackupResponderAllowUseOfKey{destination}", "Effect": "Allow",
                           "Principal": {"AWS": root}, "Action": KMS_USE_ACTIONS, "Resource": "*"})
        if not policy.allows(before, root, KMS_GRANT_ACTIONS, condition=KMS_GRANT_CONDITION):
            wanted.append({"Sid": f"BackupResponderAllowAttachment{destination}", "Effect": "Allow",
                           "Principal": {"AWS": root}, "Action": KMS_GRANT_ACTIONS, "Resource": "*",
                           "Condition": KMS_GRANT_CONDITION})
        if not wanted:
            raise AlreadyInPlace(f"the key policy of {key_arn} already allows account {destination} to use the key")
        after = policy.merged(before, wanted)
        size = len(policy.dump(after).encode("utf-8"))
        if size > KMS_POLICY_MAX_BYTES:
            raise RemediationRefused(f"the key policy would be {size} bytes, over the {KMS_POLICY_MAX_BYTES}-byte "
                                     "limit of KMS")
        notes = [f"key policy {size} of {KMS_POLICY_MAX_BYTES} bytes; only account {destination} is added",
                 "the lockout safety check stays on (BypassPolicyLockoutSafetyCheck=false)",
                 self._confirm_destination(destination, listed(f, DESTINATION_ACCOUNTS_FACT))]
        return Change(
            kind="kms-key-policy", cloud="aws", account=source, region=region, target=key_arn,
            summary=f"add the use and grant statements for account {destination} to the key policy of {key_arn}",
            done=f"added the use and grant statements for account {destination} to the key policy of {key_arn}",
            before=before, after=after, params={"key_id": key_arn, "detail": f"key policy of {key_arn}"},
            notes=notes,
        )


def remediation_clients(env: Mapping[str, str] | None = None, home_account: str | None = None,
                        region: str | None = None, partition: str = "aws",
                        session: Any = None) -> AccountClients:
    """Clients for remediation: the home account with the function's role, other accounts through
    ``REMEDIATION_ROLE_NAME`` (a write-capable role, distinct from the read-only member role)."""
    env = os.environ if env is None else env
    return AccountClients(home_account, env.get(ENV_REMEDIATION_ROLE) or None, region, partition, session)


def remediation_engine(settings: Settings, state: StateStore, clients: ClientProvider) -> RemediationEngine:
    """The engine for the Lambda: the settings' switch and configuration file, the AWS remediator."""
    return engine_from_settings(settings, state, [AwsRemediator(clients)])
