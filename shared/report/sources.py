"""Every input kind of ``report`` as the same ``Failure`` the parsers make, or an error per item.

Four kinds of JSON arrive:

- the events ``classify`` reads (AWS Backup EventBridge events, common-alert-schema alerts);
- what the AWS CLI prints for ``aws backup list-backup-jobs``, ``list-copy-jobs`` and
  ``list-restore-jobs`` (``{"BackupJobs": [...]}``...; the API's field names, dates as ISO
  strings or, from older CLIs, epoch seconds);
- what ``az graph query`` prints over ``RecoveryServicesResources`` (``{"data": [...]}``): Recovery
  Services vault jobs (``microsoft.recoveryservices/vaults/backupjobs``) and Backup vault jobs
  (``microsoft.dataprotection/backupvaults/backupjobs``), with their ``errorDetails``.

A job record is restated as the event the provider sends for the same job (the EventBridge
detail carries the API's fields in camelCase; an alert carries the error code, message, data
source and vault) and parsed by ``shared.parse.parse_event``, so a job gets the cause ``classify``
gives the same failure, whichever way it was read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any, BinaryIO

import ijson
from msgspec import Struct

from shared.models import Failure
from shared.parse.aws import arn_parts
from shared.parse.azure import SCHEMA_ID
from shared.untrusted import EventError, bounded, excerpt

#: The AWS CLI's top-level list key -> the EventBridge detail-type of the same job.
AWS_LISTS: dict[str, str] = {
    "BackupJobs": "Backup Job State Change",
    "CopyJobs": "Copy Job State Change",
    "RestoreJobs": "Restore Job State Change",
}
#: ARN fields of a job record that name its Region, in the order they are looked at.
_REGION_FIELDS = ("BackupVaultArn", "SourceBackupVaultArn", "ResourceArn", "RecoveryPointArn",
                  "SourceRecoveryPointArn", "CreatedResourceArn")
#: Resource Graph job types, lower-cased as Resource Graph spells them.
RSV_JOB = "microsoft.recoveryservices/vaults/backupjobs"
DPP_JOB = "microsoft.dataprotection/backupvaults/backupjobs"
#: Job statuses that Azure Backup documents as unsuccessful (the rest completed or still run).
AZURE_FAILED = frozenset({"failed", "completedwithwarnings", "cancelled"})


class Read(Struct, frozen=True):
    """One item of the input: a ``Failure``, or why it could not be read; ``where`` names it
    (``FILE:LINE``, ``FILE:LINE: BackupJobs[3]``)."""

    where: str
    failure: Failure | None = None
    error: str | None = None


Parse = Callable[[Any], Failure]


def read_value(value: Any, where: str, parse: Parse) -> Iterator[Read]:
    """The failures (and errors) one JSON value holds: a job list, a Resource Graph answer, or an
    event; ``parse`` is the pipeline's ``parse`` (``shared.parse.parse_event`` with the catalog's
    code books)."""
    if isinstance(value, dict):
        for key, detail_type in AWS_LISTS.items():
            if isinstance(value.get(key), list):
                for index, job in enumerate(value[key]):
                    yield _one(f"{where}: {key}[{index}]", partial(aws_job_event, job, detail_type), parse)
                return
        if isinstance(value.get("data"), list) and "schemaId" not in value:
            for index, row in enumerate(value["data"]):
                yield _one(f"{where}: data[{index}]", partial(azure_job_alert, row), parse)
            return
    yield _one(where, partial(_as_is, value), parse)


#: The start of a job list as the AWS CLI or ``az graph query`` prints it: ``{"BackupJobs": [``, or
#: ``{"count": 3, "data": [`` (az prints its keys in order: ``count`` before ``data``).
_LIST_START = re.compile(rb'^\s*\{\s*(?:"(?:count|totalRecords|total_records)"\s*:\s*\d+\s*,\s*)?'
                         rb'"(BackupJobs|CopyJobs|RestoreJobs|data)"\s*:\s*\[')


def job_list_key(start: bytes) -> str | None:
    """The list key when ``start`` (the first bytes of an input) opens a job list, else None."""
    match = _LIST_START.match(start)
    return match.group(1).decode() if match else None


def read_job_list(stream: BinaryIO, key: str, name: str, parse: Parse) -> Iterator[Read]:
    """The jobs of a job list, one at a time (memory bounded by one job, whatever the file's
    size); text that stops being JSON ends the file with one error naming the last job read."""
    restate = partial(azure_job_alert) if key == "data" else partial(aws_job_event, detail_type=AWS_LISTS[key])
    index = -1
    try:
        for index, record in enumerate(ijson.items(stream, f"{key}.item", use_float=True)):
            yield _one(f"{name}: {key}[{index}]", partial(restate, record), parse)
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        yield Read(f"{name}: {key}[{index + 1}]", error=f"not valid JSON from here on: {bounded(str(exc), 120)}")


def _as_is(value: Any) -> Any:
    return value


def _one(where: str, restate: Callable[[], Any], parse: Parse) -> Read:
    """The failure of one item, or why not: restating or parsing it raises ``EventError``."""
    try:
        return Read(where, failure=parse(restate()))
    except EventError as exc:
        return Read(where, error=str(exc))


def _iso(value: Any) -> Any:
    """A date as ISO 8601: the CLI prints ISO strings (v2) or epoch seconds (v1); boto3 gives datetimes."""
    if type(value) is str:  # most fields of a record, and the CLI v2's dates: as they are
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC).isoformat()
        except (OverflowError, OSError, ValueError):  # no date: the parser refuses it by name
            return str(value)
    return value


#: Field names as EventBridge spells them, remembered: every record of a list has the same few dozen.
_CAMEL: dict[str, str] = {}
#: Names remembered at most (the records are untrusted: a list of ever new names stays bounded).
CAMEL_REMEMBERED = 1024


def _camel(name: str) -> str:
    camel = _CAMEL.get(name)
    if camel is None:
        camel = name[:1].lower() + name[1:]
        if len(_CAMEL) < CAMEL_REMEMBERED:
            _CAMEL[name] = camel
    return camel


def _detail(record: dict[str, Any]) -> dict[str, Any]:
    """The API's fields as EventBridge names them (``BackupJobId`` -> ``backupJobId``), one level
    into the objects (``CreatedBy``)."""
    return {_camel(k): ({_camel(ik): _iso(iv) for ik, iv in v.items()} if isinstance(v, dict) else _iso(v))
            for k, v in record.items()}


def aws_job_event(job: Any, detail_type: str) -> dict[str, Any]:
    """A ``list-*-jobs`` record as the EventBridge event AWS Backup sends for the same job."""
    if not isinstance(job, dict):
        raise EventError(f"a job record must be a JSON object, not {excerpt(job)}")
    region = next((r for f in _REGION_FIELDS if (r := arn_parts(str(job.get(f) or "")).get("region"))), None)
    return {
        "version": "0",
        "id": None,
        "detail-type": detail_type,
        "source": "aws.backup",
        "account": job.get("AccountId"),
        "time": _iso(job.get("CreationDate")),
        "region": region,
        "resources": [],
        "detail": _detail(job),
    }


def _first_error(properties: dict[str, Any]) -> dict[str, Any]:
    """The first of ``errorDetails`` (both vault kinds give a list of objects)."""
    errors = properties.get("errorDetails")
    first = errors[0] if isinstance(errors, list) and errors else {}
    return first if isinstance(first, dict) else {}


def _iaas_vm_id(subscription: str, container: str) -> str | None:
    """The VM an Azure VM backup job protects: its container is ``iaasvmcontainerv2;<rg>;<vm>``."""
    parts = container.split(";")
    if subscription and len(parts) == 3 and parts[0].lower().startswith("iaasvmcontainer"):
        return (f"/subscriptions/{subscription}/resourceGroups/{parts[1]}/providers/"
                f"Microsoft.Compute/virtualMachines/{parts[2]}")
    return None


def azure_job_alert(row: Any) -> dict[str, Any]:
    """A Resource Graph job row as the common-alert-schema alert Azure Backup raises for it."""
    if not isinstance(row, dict) or not isinstance(row.get("properties"), dict):
        raise EventError("a Resource Graph row must be an object with the job's properties (query "
                         "RecoveryServicesResources without projecting them away)")
    job_id = str(row.get("id") or "")
    kind = str(row.get("type") or "").lower() or (RSV_JOB if "/microsoft.recoveryservices/" in job_id.lower()
                                                 else DPP_JOB)
    if kind not in (RSV_JOB, DPP_JOB):
        raise EventError(f"Resource Graph row of type {excerpt(row.get('type'))} is not a backup job "
                         f"({RSV_JOB} or {DPP_JOB})")
    p: dict[str, Any] = row["properties"]
    error = _first_error(p)
    vault_id = job_id.split("/backupJobs/")[0].split("/backupjobs/")[0] if job_id else None
    status = str(p.get("status") or "")
    if kind == RSV_JOB:
        code, message = error.get("errorCode"), error.get("errorString")
        name, source_type, operation = p.get("entityFriendlyName"), p.get("backupManagementType"), p.get("operation")
        recommended = error.get("recommendations")
        resource_id = _iaas_vm_id(str(row.get("subscriptionId") or ""), str(p.get("containerName") or ""))
    else:
        code, message = error.get("code"), error.get("message")
        name, source_type = p.get("dataSourceName"), p.get("dataSourceType")
        operation = p.get("operationCategory") or p.get("operation")
        recommended = error.get("recommendedAction")
        resource_id = p.get("dataSourceId")
    return {
        "schemaId": SCHEMA_ID,
        "data": {
            "essentials": {
                "alertId": job_id or None,
                "alertRule": f"{operation or 'Backup'} job {status or 'failed'}",
                "signalType": "Log",
                "monitorCondition": "Fired" if status.lower() in AZURE_FAILED else "Resolved",
                "monitoringService": "Azure Backup",
                "alertTargetIDs": [vault_id] if vault_id else [],
                "firedDateTime": _iso(p.get("startTime")),
                "description": message or f"{operation or 'Backup'} job {status}",
            },
            "alertContext": {"properties": {k: v for k, v in {
                "errorCode": code,
                "errorMessage": message,
                "recommendedActions": recommended,
                "linkedResourceId": resource_id,
                "linkedResourceName": name,
                "jobId": row.get("name") or job_id.rsplit("/", 1)[-1] or None,
                "datasourceType": source_type,
                "operation": operation,
                "region": row.get("location") or p.get("dataSourceLocation"),
            }.items() if v}},
        },
    }
