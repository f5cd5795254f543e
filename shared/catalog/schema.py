"""The schema every catalog file is validated against, at load time and in the tests.

A catalog file is YAML: ``cloud`` and a list of ``rules``. Reviewers read the YAML; this module
is what keeps it honest (unknown keys, bad regexes, unknown causes or placeholders all fail).

The models are msgspec Structs: the compiled catalog holds them, and a cold start pays a pydantic
model's class (and unpickles its instances) several times slower. ``model_validate`` checks data
against the types and constraints, then ``check`` what a type cannot say (regexes, placeholders);
the error names where (``- at `$.rules[3].match```). Unpickling checks nothing again: the compiled
catalog was checked when it was written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, Self, get_args

import re2  # type: ignore[import-untyped]
from msgspec import Meta

from shared.models import FrozenRecord
from shared.text import names_in
from shared.vocab import Cloud, FixKind, JobType, Severity

SnippetKind = Literal["json", "shell", "sql", "powershell", "text"]
AutoFix = FixKind

#: The families of provider errors (``shared/catalog/aws_errors.json``, ``azure_codes.yaml``): the
#: last layer of the catalog matches a failure by its error's family when no specific rule does.
Family = Literal["quota", "not-found", "invalid-state", "throttled", "conflict", "already-exists",
                 "access-denied", "kms", "transient", "invalid-parameter", "unsupported"]
FAMILIES: tuple[str, ...] = get_args(Family)
#: A family rule is a last resort: never as confident as a specific rule.
MAX_FAMILY_CONFIDENCE = 0.6

CAUSE_PATTERN = re.compile(r"^(aws|azure)\.[a-z0-9-]+\.[a-z0-9-]+$")

#: Every placeholder a rule may use in its steps and snippets. The planner fills them from the
#: failure; one it cannot fill stays visible as ``{name}``. Unknown names fail validation so that
#: a typo in the catalog is caught by the test suite, not by a reader at 3 a.m.
PLACEHOLDERS: dict[str, str] = {
    # both clouds
    "code": "the provider's error code",
    "job_type": "the kind of job: backup, copy or restore",
    "account_id": "the AWS account or Azure subscription the failure belongs to",
    "region": "the AWS Region or Azure location of the job",
    "job_id": "the provider's job id",
    "resource_id": "the protected resource (ARN on AWS, ARM id on Azure)",
    "resource_name": "the protected resource's short name",
    "resource_type": "the resource or workload type",
    "vault_name": "the vault the job ran in",
    "vault_id": "the vault's ARN (AWS) or ARM id (Azure)",
    # AWS
    "source_account_id": "the account the copy comes from",
    "destination_account_id": "the account the copy goes to",
    "destination_region": "the Region the copy goes to",
    "destination_vault_arn": "the vault the copy goes to",
    "destination_vault_name": "the name of the vault the copy goes to",
    "recovery_point_arn": "the recovery point the job used",
    "role_arn": "the IAM role AWS Backup used for the job",
    "role_name": "the name of that IAM role",
    "pass_role_arn": "the role AWS Backup had to pass (decoded authorization message)",
    "kms_key_arn": "the existing KMS key of the recovery point or vault (the key the job used)",
    "new_kms_key_arn": "a customer managed KMS key to create for the fix (never the key the job used)",
    "backup_plan_id": "the backup plan that started the job (detail.createdBy)",
    "backup_plan_arn": "the ARN of that backup plan",
    "backup_plan_version": "the version of that backup plan the job ran",
    "backup_rule_id": "the rule of that backup plan that started the job",
    "instance_id": "the EC2 instance id (from the resource ARN)",
    "volume_id": "the EBS volume id (from the resource ARN)",
    "ami_id": "the AMI id (from the resource or recovery point ARN)",
    "snapshot_id": "the EBS snapshot id (from the recovery point ARN)",
    "db_identifier": "the RDS, Aurora, Neptune or DocumentDB instance or cluster identifier (from the resource ARN)",
    "file_system_id": "the EFS or FSx file system id (from the resource ARN)",
    "table_name": "the DynamoDB table name (from the resource ARN)",
    "bucket_name": "the S3 bucket name (from the resource ARN)",
    "principal_arn": "the principal named by the decoded authorization message",
    "decoded_action": "the action the decoded authorization message denied",
    "decoded_resource": "the resource the decoded authorization message names",
    "encoded_message": "the encoded authorization failure message",
    "organization_id": "the AWS Organization id",
    "partition": "the AWS partition (aws, aws-cn, aws-us-gov)",
    # Azure
    "subscription_id": "the Azure subscription",
    "resource_group": "the resource group of the protected resource",
    "vault_resource_group": "the resource group of the vault",
    "vault_principal_id": "the object (principal) id of the vault's managed identity",
    "server_id": "the ARM id of the database server",
    "server_name": "the database server's name",
    "key_vault_id": "the ARM id of the key vault holding the secret or keys",
    "key_vault_name": "the key vault's name",
    "storage_account_id": "the ARM id of the storage account",
    "container_scope": "the ARM scope of the target blob container",
    "disk_id": "the ARM id of the managed disk",
    "snapshot_resource_group_id": "the ARM id of the snapshot resource group",
    "db_user": "the database user in the Key Vault secret",
    "vm_name": "the virtual machine's name",
}

def _within(part: str, check: Callable[[], None]) -> None:
    """``check``, its error placed under ``part``, as msgspec places its own (``.rules[3]`` and an
    error at ``$.match`` give ``- at `$.rules[3].match```)."""
    try:
        check()
    except ValueError as exc:
        message, _, where = str(exc).partition(" - at `$")
        raise ValueError(f"{message} - at `${part}{where.rstrip('`')}`") from None


class _Strict(FrozenRecord, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Unknown keys are refused (a typo in the YAML is an error, not a silently ignored field)."""

    @classmethod
    def model_validate(cls, data: Any) -> Self:
        record = super().model_validate(data)
        record.check()
        return record

    def check(self) -> None:
        """What the types cannot say; ``ValueError`` when it does not hold."""


class Snippet(_Strict, frozen=True, kw_only=True):
    kind: SnippetKind
    title: str
    body: str


class AzureRole(_Strict, frozen=True, kw_only=True):
    """A built-in Azure role the fix assigns to the vault's identity."""

    name: str
    id: Annotated[str, Meta(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    scope: str


class Translation(_Strict, frozen=True, kw_only=True):
    title: str | None = None
    explanation: str | None = None
    steps: list[str] = []


class Match(_Strict, frozen=True, kw_only=True):
    """How a rule recognises a failure. Any listed code, message or decoded action matches."""

    codes: list[str] = []
    messages: list[str] = []
    decoded_actions: list[str] = []
    explicit_deny: bool | None = None
    #: Job states (AWS: EXPIRED, ABORTED, PARTIAL...). Alone, the rule matches a job in that state
    #: (a state with no message); with codes or messages, it limits them to those states.
    states: list[str] = []

    def check(self) -> None:
        for pattern in self.messages:
            try:
                re.compile(pattern, re.IGNORECASE)
                re2.compile(pattern)  # matching is done by RE2 (linear time): no backreferences or lookarounds
            except (re.error, re2.error) as exc:
                raise ValueError(f"message pattern {pattern!r} is not a valid regex: {exc}") from exc
        if not (self.codes or self.messages or self.decoded_actions or self.states):
            raise ValueError("a rule must match on at least one code, message, decoded action or state")


class Example(_Strict, frozen=True, kw_only=True):
    """A failure this rule must win. Examples are the catalog's own tests."""

    code: str | None = None
    message: str | None = None
    job_type: JobType | None = None
    resource_type: str | None = None
    decoded_action: str | None = None
    explicit_deny: bool = False
    state: str | None = None


class Rule(_Strict, frozen=True, kw_only=True):
    id: Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9.-]*$")]
    cause: str
    title: str
    severity: Severity = Severity.HIGH
    job_types: list[JobType] = []
    resource_types: list[str] = []
    not_resource_types: list[str] = []
    match: Match
    #: Set on a family rule: it also matches every error code of this family, and it ranks below
    #: every specific rule whatever it matched (see README.md, "How a failure is matched").
    family: Family | None = None
    #: Set on the rules the catalog derives from the provider's code book (``knowledge.py``): they
    #: rank below the rules people wrote.
    documented: bool = False
    priority: int = 0
    confidence: Annotated[float, Meta(gt=0, le=1)] | None = None
    explanation: str
    steps: Annotated[list[str], Meta(min_length=1)]
    snippets: list[Snippet] = []
    roles: list[AzureRole] = []
    docs: list[str] = []
    source: Annotated[str, Meta(pattern=r"^https://")]
    auto_fix: AutoFix = FixKind.NONE
    manual_reason: str | None = None
    examples: Annotated[list[Example], Meta(min_length=1)]
    i18n: dict[Literal["ko", "ja"], Translation] = {}

    def check(self) -> None:
        _within(".match", self.match.check)
        if not CAUSE_PATTERN.match(self.cause):
            raise ValueError(f"cause {self.cause!r} does not follow <cloud>.<area>.<what>")
        translations = [t for tr in self.i18n.values() for t in (tr.title or "", tr.explanation or "", *tr.steps)]
        texts = [self.title, self.explanation, *self.steps, *(s.body for s in self.snippets),
                 *(s.title for s in self.snippets), *(r.scope for r in self.roles), *translations]
        unknown = set().union(*(names_in(t) for t in texts)) - PLACEHOLDERS.keys()
        if unknown:
            raise ValueError(f"rule {self.id}: unknown placeholders {sorted(unknown)}")
        if not self.cause.startswith(self.id.split(".")[0] + "."):
            raise ValueError(f"rule {self.id}: id and cause must name the same cloud")
        if self.family and (self.confidence is None or self.confidence > MAX_FAMILY_CONFIDENCE):
            raise ValueError(f"rule {self.id}: a family rule needs a confidence of at most {MAX_FAMILY_CONFIDENCE}")


class CatalogFile(_Strict, frozen=True, kw_only=True):
    cloud: Cloud
    rules: Annotated[list[Rule], Meta(min_length=1)]
    #: Wrapper codes that only say "the operation failed": rules matched by them alone rank low,
    #: so that the description decides (``PostgreSQLFlexOperationFailedUserError``).
    umbrella_codes: list[str] = []

    def check(self) -> None:
        for number, rule in enumerate(self.rules):
            _within(f".rules[{number}]", rule.check)
            if not rule.cause.startswith(self.cloud + "."):
                raise ValueError(f"rule {rule.id} ({rule.cause}) is not a {self.cloud} rule")
