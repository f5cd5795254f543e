"""AWS Backup EventBridge events (source ``aws.backup``) into a ``Failure``.

The wire format is loose: restore events say ``status`` where the others say ``state`` (but the
restore CREATED event says ``state``), numbers arrive as strings or numbers, ``statusMessage`` is
sometimes wrapped in literal quotes, ``destinationRecoveryPointArn`` can be ``{}``, and dates other
than the envelope's ``time`` are not ISO 8601. The models accept all of that.

Some values live outside ``detail``'s plain fields: a copy or restore event names its source recovery
point only in the envelope's ``resources``; the plan that started a job is in ``detail.createdBy``
(``backupRuleId`` in some events, ``backupPlanRuleId`` in others); instance, volume, table and file
system ids are parts of the resource ARN. The parser reads them all, so a fix never asks the reader
for a value the event carried.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, NamedTuple

import msgspec
from msgspec import Struct

from shared.models import Failure
from shared.parse.codes import MESSAGES_REMEMBERED, CodeBook, spelled_codes_in
from shared.text import NonEmptyText, strip_wrapping_quotes
from shared.vocab import Cloud, JobType

JOB_TYPES: dict[str, JobType] = {
    "Backup Job State Change": JobType.BACKUP,
    "Copy Job State Change": JobType.COPY,
    "Restore Job State Change": JobType.RESTORE,
}
#: Job states AWS Backup documents as terminal and unsuccessful.
FAILED_STATES = frozenset({"FAILED", "ABORTED", "EXPIRED", "PARTIAL"})
_ENCODED = re.compile(r"encoded authorization failure message:\s*([A-Za-z0-9_\-+/=]+)", re.I)
#: A Region name as the partitions define them (us-east-1, cn-north-1, us-gov-west-1, eu-isoe-west-1):
#: console links take their host from the event's Region, so nothing else is put into a URL.
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
_ARN = re.compile(r"^arn:([\w-]+):([\w-]+):([\w-]*):(\d*):(.+)$")
#: The same pattern for ASCII text (most ARNs): the same matches, its classes read from a table.
_ASCII_ARN = re.compile(_ARN.pattern, re.ASCII)
#: The placeholder an ARN's id fills, by service and the form of the ARN's resource part (group 1).
ARN_IDS: dict[tuple[str, str], str] = {
    ("ec2", r"instance/(i-[0-9a-f]+)"): "instance_id",
    ("ec2", r"volume/(vol-[0-9a-f]+)"): "volume_id",
    ("ec2", r"image/(ami-[0-9a-f]+)"): "ami_id",
    ("ec2", r"snapshot/(snap-[0-9a-f]+)"): "snapshot_id",
    ("rds", r"(?:db|cluster):([\w-]+)"): "db_identifier",
    ("elasticfilesystem", r"file-system/(fs-[0-9a-f]+)"): "file_system_id",
    ("fsx", r"file-system/(fs-[0-9a-f]+)"): "file_system_id",
    ("dynamodb", r"table/([\w.-]+)"): "table_name",
    # a bucket's ARN has no Region or account: arn:aws:s3:::name
    ("s3", r"([a-z0-9][a-z0-9.-]+)"): "bucket_name",
}


@cache
def _id_patterns(service: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    """``service``'s ``ARN_IDS``, each compiled to match a whole resource part: on first need, since
    an event names one or two services and a cold start need not compile the others'."""
    return tuple((re.compile(pattern + r"(?:[/:].*)?$"), name)
                 for (of, pattern), name in ARN_IDS.items() if of == service)

#: Resource parts of the ARNs AWS Backup gives recovery points: its own for fully managed resources
#: (and S3, EFS, DynamoDB with advanced features), the service's snapshot, image or backup otherwise.
#: A copy or restore event names the recovery point it used only in the envelope's ``resources``.
_RECOVERY_POINT = re.compile(r"^(recovery-point:|snapshot[:/]|cluster-snapshot:|image/|backup/|table/[^/]+/backup/)")


#: A plain (not encoded) IAM error names what was refused: "User: ... is not authorized to perform:
#: iam:PassRole on resource: arn:aws:iam::111122223333:role/Name".
_DENIED = re.compile(r"not authori[sz]ed to perform:?\s*(?P<action>[\w-]+:[\w*]+)\s+on resource:?\s*"
                     r"(?P<resource>arn:[^\s,;()'\"\[\]]+)", re.I)
#: A KMS key ARN in a message ("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-... is pending deletion").
_KMS_KEY = re.compile(r"arn:[\w-]+:kms:[\w-]+:\d{12}:key/[\w-]+")


def message_facts(message: str | None) -> dict[str, str]:
    """What a status message names that a fix needs: the role to pass, the key that failed."""
    facts: dict[str, str] = {}
    denied = _DENIED.search(message or "")
    if denied and denied["action"].lower() == "iam:passrole":
        facts["pass_role_arn"] = denied["resource"].rstrip(".")
    key = _KMS_KEY.search(message or "")
    if key:
        facts["kms_key_arn"] = key.group(0)
    return facts


def _text(value: Any) -> str | None:
    """Strings as they are; ``{}``, ``[]``, ``""`` and None as missing; other scalars as text."""
    if value is None or value == {} or value == [] or value == "":
        return None
    if isinstance(value, (dict, list)):
        return None
    return str(value)


class CreatedBy(Struct, rename="camel"):
    """``detail.createdBy``: the backup plan and rule that started the job (absent for on-demand jobs)."""

    backup_plan_id: NonEmptyText | None = None
    backup_plan_arn: NonEmptyText | None = None
    backup_plan_version: NonEmptyText | None = None
    #: The rule is ``backupRuleId`` in the scan events, ``backupPlanRuleId`` in the job events.
    backup_rule_id: NonEmptyText | None = None
    backup_plan_rule_id: NonEmptyText | None = None

    def facts(self) -> dict[str, str | None]:
        return {"backup_plan_id": self.backup_plan_id, "backup_plan_arn": self.backup_plan_arn,
                "backup_plan_version": self.backup_plan_version,
                "backup_rule_id": self.backup_rule_id or self.backup_plan_rule_id}


class JobDetail(Struct, rename="camel"):
    """The ``detail`` of a Backup, Copy or Restore Job State Change event (other fields ignored)."""

    backup_job_id: NonEmptyText | None = None
    copy_job_id: NonEmptyText | None = None
    restore_job_id: NonEmptyText | None = None
    state: NonEmptyText | None = None
    status: NonEmptyText | None = None
    status_message: NonEmptyText | None = None
    resource_arn: NonEmptyText | None = None
    resource_type: NonEmptyText | None = None
    created_resource_arn: NonEmptyText | None = None
    backup_vault_arn: NonEmptyText | None = None
    backup_vault_name: NonEmptyText | None = None
    source_backup_vault_arn: NonEmptyText | None = None
    destination_backup_vault_arn: NonEmptyText | None = None
    recovery_point_arn: NonEmptyText | None = None
    source_recovery_point_arn: NonEmptyText | None = None
    iam_role_arn: NonEmptyText | None = None
    account_id: NonEmptyText | None = None
    message_category: NonEmptyText | None = None
    created_by: CreatedBy | None = None


class BackupEvent(Struct, rename="kebab"):
    """The EventBridge envelope, with its wire names (other fields ignored). A msgspec Struct: an
    event is validated once, in C, and the class costs a cold start next to nothing."""

    detail_type: str
    source: str
    detail: JobDetail
    id: NonEmptyText | None = None
    account: NonEmptyText | None = None
    time: datetime | None = None
    region: str | None = None
    resources: list[NonEmptyText] = []

    @classmethod
    def of(cls, raw: dict[str, Any]) -> BackupEvent:
        """``raw`` checked against the envelope (``msgspec.ValidationError`` says where it is wrong).
        Most events are exact, and converted as they are; the others, loosened first."""
        try:
            return msgspec.convert(raw, cls)
        except msgspec.ValidationError:
            return msgspec.convert(_loosened(raw), cls)


def _loosened(raw: dict[str, Any]) -> dict[str, Any]:
    """The event with what the parser takes loosely made exact: in the detail and ``createdBy``
    numbers as text and ``{}``, ``[]``, ``""`` as missing; the event's id and account as text; its
    resources, text only."""
    event = dict(raw)
    for key in ("id", "account"):
        if key in event:
            event[key] = _text(event[key])
    resources = event.get("resources")
    event["resources"] = [str(r) for r in resources if _text(r)] if isinstance(resources, list) else []
    detail = event.get("detail")
    if isinstance(detail, dict):
        event["detail"] = _loose_detail(detail)
    return event


def _loose_detail(detail: dict[str, Any]) -> dict[str, Any]:
    loose = [k for k, v in detail.items() if type(v) is not str or not v]  # most values are text
    if not loose:
        return detail
    detail = dict(detail)
    for key in loose:
        value = detail[key]
        if key == "createdBy" and isinstance(value, dict):
            detail[key] = {k: _text(v) for k, v in value.items()}
        else:
            detail[key] = _text(value)
    return detail


class Arn(NamedTuple):
    """An ARN's parts: ``arn:partition:service:region:account:resource``."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    @property
    def name(self) -> str:
        """The last path segment of the resource part (vault, role, instance name)."""
        resource = self.resource
        return resource[max(resource.rfind(":"), resource.rfind("/")) + 1:]  # after the last separator


@lru_cache(maxsize=256)  # an event names its ARNs several times, and a storm its role and vaults in every event
def arn_of(text: str | None) -> Arn | None:
    """``text`` read as an ARN, or None when it is not one."""
    if not text:
        return None
    match = (_ASCII_ARN if text.isascii() else _ARN).match(text)
    return Arn._make(match.groups()) if match else None


def arn_parts(arn: str | None) -> Mapping[str, str]:
    """An ARN's parts by name (``partition``, ``service``, ``region``, ``account``, ``resource``),
    none when it is not an ARN."""
    parsed = arn_of(arn)
    return parsed._asdict() if parsed else {}


def arn_ids(*arns: Arn | None) -> dict[str, str]:
    """The ids the ARNs name (``instance_id``, ``volume_id``, ``ami_id``...), by ``ARN_IDS``; the
    first ARN that names an id wins."""
    ids: dict[str, str] = {}
    for arn in arns:
        if arn is None or (arn.service == "s3" and (arn.region or arn.account)):
            continue  # not an ARN; or an S3 access point or object lambda, not a bucket
        for pattern, name in _id_patterns(arn.service):
            found = pattern.match(arn.resource)
            if found and name not in ids:
                ids[name] = found.group(1)
    return ids


def is_recovery_point(arn: str) -> bool:
    parsed = arn_of(arn)
    return parsed is not None and _RECOVERY_POINT.match(parsed.resource) is not None


def _names_the_job_itself(arn: Arn | None) -> bool:
    """An ARN of ``resources`` that is the job's recovery point or vault, not its resource."""
    return arn is not None and arn.resource.startswith(("recovery-point", "backup-vault"))


def encoded_message_in(message: str | None) -> str | None:
    match = _ENCODED.search(message or "")
    return match.group(1) if match else None


def console_url(region: str | None, job_type: JobType | None, job_id: str | None) -> str | None:
    if not (region and job_type and job_id) or not _REGION.match(region):
        return None
    return (f"https://{region}.console.aws.amazon.com/backup/home?region={region}"
            f"#/jobs/{job_type}/details/{job_id}")


class MessageReading(NamedTuple):
    """What a status message says, read once: the message without wrapping quotes, its codes
    (documented spelling first), the encoded authorization message, and ``message_facts``."""

    message: str | None
    codes: tuple[str, ...]
    encoded: str | None
    facts: tuple[tuple[str, str], ...]


@lru_cache(maxsize=MESSAGES_REMEMBERED)
def read_message(status_message: str | None, book: CodeBook | None) -> MessageReading:
    """``statusMessage`` read as ``MessageReading`` (pure, so remembered per message and book)."""
    message = strip_wrapping_quotes(status_message) if status_message else None
    if not message:
        return MessageReading(None, (), None, ())
    return MessageReading(message, spelled_codes_in(message, book), encoded_message_in(message),
                          tuple(message_facts(message).items()))


def parse_backup_event(raw: dict[str, Any], codes: CodeBook | None = None) -> Failure:
    """An ``aws.backup`` EventBridge event as a ``Failure`` (``failed`` tells if it is one);
    ``codes``, the documented AWS codes, lets a bare code in the message be recognised."""
    event = BackupEvent.of(raw)
    d = event.detail
    job_type = JOB_TYPES.get(event.detail_type)
    state = (d.status or d.state or "").upper() or None
    reading = read_message(d.status_message, codes)
    message = reading.message
    failed = state in FAILED_STATES or (job_type == "backup" and state == "COMPLETED" and bool(message))

    job_id = d.backup_job_id or d.copy_job_id or d.restore_job_id
    resource_arn = d.resource_arn or d.created_resource_arn or next(
        (r for r in event.resources if not _names_the_job_itself(arn_of(r))), None)
    vault_arn = d.backup_vault_arn or d.source_backup_vault_arn
    recovery_point = d.recovery_point_arn or d.source_recovery_point_arn or next(
        (r for r in event.resources if is_recovery_point(r)), None)
    # an event names the same ARNs in several facts: arn_of remembers what it read
    resource, vault, role = arn_of(resource_arn), arn_of(vault_arn), arn_of(d.iam_role_arn)
    owner = vault if vault_arn else resource if resource_arn else role  # the first ARN the event names

    facts: dict[str, str | None] = {
        "partition": owner.partition if owner else "aws",
        "role_arn": d.iam_role_arn,
        "role_name": role.name if role else None,
        "recovery_point_arn": recovery_point,
        "message_category": d.message_category,
        **(d.created_by.facts() if d.created_by else {}),
        **arn_ids(resource, arn_of(recovery_point)),
        **dict(reading.facts),
    }
    if job_type == "copy":
        source = arn_of(d.source_backup_vault_arn)
        destination = arn_of(d.destination_backup_vault_arn)
        facts.update(
            source_account_id=(source.account if source else None) or event.account,
            destination_account_id=destination.account if destination else None,
            destination_region=destination.region if destination else None,
            destination_vault_arn=d.destination_backup_vault_arn,
            destination_vault_name=destination.name if destination else None,
        )
    if job_type == "copy" and facts.get("source_account_id") and facts.get("destination_account_id"):
        facts["cross_account"] = str(facts["source_account_id"] != facts["destination_account_id"])
    if job_type == "copy" and facts.get("destination_region") and event.region:
        facts["cross_region"] = str(facts["destination_region"] != event.region)

    links = {}
    job_url = console_url(event.region, job_type, job_id)
    if job_url:
        links["job"] = job_url

    return Failure(
        cloud=Cloud.AWS,
        job_type=job_type,
        state=state,
        failed=failed,
        recovered=state == "COMPLETED" and not failed,
        event_id=event.id,
        job_id=job_id,
        time=event.time,
        account_id=d.account_id or event.account,
        region=event.region,
        resource_type=d.resource_type,
        resource_id=resource_arn,
        resource_name=resource.name if resource else None,
        vault_name=d.backup_vault_name or (vault.name if vault else None),
        vault_id=vault_arn,
        code=reading.codes[0] if reading.codes else None,
        codes=list(reading.codes),
        message=message,
        encoded_message=reading.encoded,
        facts={k: v for k, v in facts.items() if v},
        links=links,
    )
