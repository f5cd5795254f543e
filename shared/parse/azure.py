"""Azure Monitor alerts in the common alert schema (as an action group posts them) into a ``Failure``.

Azure Backup's built-in alerts rarely carry the error code as a field of its own: it appears as the
lower-cased suffix of ``essentials.originAlertId``, in an ``https://aka.ms/AB-<code>`` link inside
``alertContext.extendedInfo.recommendedActions``, or only as the message in ``description``. The
parser looks in all of those; ``CodeBook`` restores the documented spelling.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import msgspec
from msgspec import Struct, field

from shared.models import Failure
from shared.parse.codes import CodeBook, spelled_codes_in
from shared.text import NonEmptyText
from shared.vocab import Cloud, JobType

SCHEMA_ID = "azureMonitorCommonAlertSchema"
#: The link and the vault's provider are found from their dot (the lookbehind checks the word
#: before it): a search for a pattern that opens with a letter, in any case, tries every position
#: of the text; one that opens with a character that has no case skips to it (2 to 3 times faster).
_AKA_CODE = re.compile(r"\.(?<=aka\.)ms/AB-([A-Za-z][A-Za-z0-9]+)", re.I)
_VAULT_PROVIDER = re.compile(r"\.(?<=microsoft\.)(recoveryservices|dataprotection)/", re.I)
_CODE_TOKEN = re.compile(r"^(?:usererror|error|extension|guestagent|backup|vm|disk|cloud)[a-z0-9]{4,}$",
                         re.I)
#: An ARM id up to its resource's type and name; its subscription and resource group are groups 1 and 2.
_ARM_RESOURCE = re.compile(r"/subscriptions/([^/]+)/resourcegroups/([^/]+)/providers/[^/]+/[^/]+/[^/]+", re.I)
#: The two patterns every alert's ids are read with, compiled again for ASCII text (most ids): the
#: same matches there, with case folded by a table instead of by Unicode's rules.
_ASCII_ARM_RESOURCE = re.compile(_ARM_RESOURCE.pattern, re.I | re.ASCII)
_ASCII_VAULT_PROVIDER = re.compile(_VAULT_PROVIDER.pattern, re.I | re.ASCII)
_ORIGIN_SEPARATORS = re.compile(r"[/_:|;.\-\s]")
_RESOURCE_ID = re.compile(r"(/subscriptions/[^/\s\"']+/resourcegroups/[^/\s\"']+/providers/[^\s\"']+)", re.I)

#: Provider namespaces and the workload names the catalog uses, most specific first.
_WORKLOADS: tuple[tuple[str, str], ...] = (
    ("microsoft.dbforpostgresql/flexibleservers", "postgresql-flex"),
    ("microsoft.dbforpostgresql/servers", "postgresql"),
    ("microsoft.dbformysql/flexibleservers", "mysql-flex"),
    ("microsoft.compute/disks", "disk"),
    ("microsoft.compute/virtualmachines", "vm"),
    ("microsoft.classiccompute/virtualmachines", "vm"),
    ("microsoft.containerservice/managedclusters", "aks"),
)
#: Words of ``formattedSourceType``, ``sourceType``, ``workloadType``, ``datasourceType``,
#: ``backupManagementType`` and protected-item names, and the workload each names, checked in
#: order (MySQL before "flexible", SAP HANA and MABS before the words they contain).
_SOURCE_TYPES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), w) for p, w in (
    (r"mysql", "mysql-flex"),
    (r"postgre\S*\s*flex|flex\S*\s*postgre|postgresql-flex", "postgresql-flex"),
    (r"postgre", "postgresql"),
    (r"flexible", "postgresql-flex"),
    (r"hana\s*(db)?\s*instance|hana.*snapshot|saphanadbinstance", "saphana-snapshot"),
    (r"hana", "saphana"),
    (r"sql", "sql"),
    (r"disk", "disk"),
    (r"blob", "blob"),
    (r"file\s*share|azure\s*files?\b|azurestorage|\bafs\b|storage/storageaccounts/fileservices", "afs"),
    (r"\bdpm|azurebackupserver|\bmabs\b|data protection manager|backup server", "dpm"),
    (r"\bmab\b|\bmars\b|file\s*folder|recovery services agent|backup agent|system\s*state|bare metal",
     "mars"),
    (r"kubernetes|\baks\b|managedclusters", "aks"),
    (r"virtual machine|azurevm|iaasvm|\bvm\b|\bvm;", "vm"),
))
#: The table as one pattern, read once per hint; the earliest row that matches wins.
_SOURCE_ANY = re.compile("|".join(f"(?P<w{i}>{p.pattern})" for i, (p, _) in enumerate(_SOURCE_TYPES)))
_PROTECTED_ITEM = re.compile(r"/protecteditems/([^/]+)", re.I)


class Essentials(Struct, rename="camel"):
    """``data.essentials``, with its wire names (other fields ignored)."""

    alert_id: str | None = None
    alert_rule: str | None = None
    severity: str | None = None
    signal_type: str | None = None
    monitor_condition: str | None = None
    monitoring_service: str | None = None
    alert_target_ids: list[str] = field(default_factory=list, name="alertTargetIDs")
    configuration_items: list[str] = []
    origin_alert_id: str | None = None
    fired: datetime | None = field(default=None, name="firedDateTime")
    description: str | None = None
    #: Not in the schema's essentials, but some alerts carry it: any scalar, as text.
    region: NonEmptyText | None = None


class AlertData(Struct, rename="camel"):
    essentials: Essentials
    alert_context: dict[str, Any] | None = None
    custom_properties: dict[str, Any] | None = None


class CommonAlert(Struct, rename="camel"):
    """The common alert schema's envelope. msgspec Structs, as the AWS envelope (``BackupEvent``)."""

    schema_id: str
    data: AlertData

    @classmethod
    def of(cls, raw: dict[str, Any]) -> CommonAlert:
        """``raw`` checked against the envelope (``msgspec.ValidationError`` says where it is wrong).
        Most alerts are exact, and converted as they are; the others, loosened first."""
        try:
            return msgspec.convert(raw, cls)
        except msgspec.ValidationError:
            return msgspec.convert(_loosened(raw), cls)


def _loosened(raw: dict[str, Any]) -> dict[str, Any]:
    """The alert with what the parser takes loosely made exact, in the essentials: a target or a
    configuration item alone as a list, every item as text; an empty fire time as missing; the
    region, any scalar, as text."""
    data: Any = raw.get("data")
    essentials = data.get("essentials") if isinstance(data, dict) else None
    if not isinstance(essentials, dict):
        return raw
    essentials = dict(essentials)
    for key in ("alertTargetIDs", "configurationItems"):
        if key in essentials:
            value = essentials[key]
            essentials[key] = [] if value is None else [str(v) for v in value] if isinstance(value, list) \
                else [str(value)]
    if "firedDateTime" in essentials and not essentials["firedDateTime"]:
        essentials["firedDateTime"] = None
    if "region" in essentials:
        region = essentials["region"]
        essentials["region"] = str(region) if region and not isinstance(region, (dict, list)) else None
    return {**raw, "data": {**data, "essentials": essentials}}


def _fields(obj: Any, depth: int = 6) -> tuple[dict[str, Any], dict[str, str]]:
    """Every non-empty field under ``obj`` by lower-cased name, the shallowest first, and those
    that are scalars as text (what the parser reads most): providers move fields between
    ``alertContext``, ``properties`` and ``extendedInfo``, and vary the case. (The alert is checked
    JSON: its keys are text, its objects and arrays plain dicts and lists.)"""
    found: dict[str, Any] = {}
    text: dict[str, str] = {}
    level = [obj]
    for _ in range(depth):
        following: list[Any] = []
        for node in level:
            if type(node) is dict:
                for key, value in node.items():
                    kind = type(value)
                    if kind is dict or kind is list:
                        if value:
                            found.setdefault(key.lower(), value)
                            following.append(value)
                    elif value is not None and value != "":
                        name = key.lower()
                        if name not in found:
                            found[name] = value
                            text[name] = value if kind is str else str(value)
            elif type(node) is list:
                for item in node:
                    # A metric alert's dimensions: {"name": ..., "value": ...} pairs, the name is the field.
                    if type(item) is dict and len(item) == 2 and isinstance(item.get("name"), str) \
                            and isinstance(item.get("value"), str) and item["value"]:
                        name = item["name"].lower()
                        if name not in found:
                            found[name] = text[name] = item["value"]
                following.extend(node)
        if not following:
            break
        level = following
    return found, text


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(_as_text(v) for v in value)
    if isinstance(value, dict):
        return " ".join(_as_text(v) for v in value.values())
    return str(value)


_SEGMENTS = {kind: re.compile(rf"/{kind}/([^/]+)", re.I)
             for kind in ("subscriptions", "resourcegroups", "servers", "flexibleservers", "virtualmachines")}


def _segment(resource_id: str, kind: str) -> str | None:
    match = _SEGMENTS[kind].search(resource_id)
    return match.group(1) if match else None


def _name(resource_id: str | None) -> str | None:
    """An ARM id's last segment: the name of the resource it names."""
    return resource_id.rstrip("/").rsplit("/", 1)[-1] if resource_id else None


#: An ARM id, its subscription and its resource group.
ArmId = tuple[str, str | None, str | None]
_NO_ARM_ID: tuple[None, None, None] = (None, None, None)


def _arm_resource(resource_id: str) -> ArmId:
    """The ARM id of the resource itself (without child paths after its type and name), with the
    subscription and the resource group it names, read in the same match."""
    match = (_ASCII_ARM_RESOURCE if resource_id.isascii() else _ARM_RESOURCE).match(resource_id)
    if match:
        return match.group(0), match.group(1), match.group(2)
    return resource_id, _segment(resource_id, "subscriptions"), _segment(resource_id, "resourcegroups")


def _vault_in(ids: tuple[str | None, ...]) -> ArmId | tuple[None, None, None]:
    """The first of ``ids`` that names a vault (Recovery Services or Backup), as ``_arm_resource``."""
    for resource_id in ids:
        if resource_id and (_ASCII_VAULT_PROVIDER if resource_id.isascii() else _VAULT_PROVIDER).search(resource_id):
            return _arm_resource(resource_id)
    return _NO_ARM_ID


def workload_of(*hints: str | None) -> str | None:
    """The catalog's workload name for an ARM id or a source-type word."""
    # A source type names the workload ("AzureVmSQL"); an ARM id may only name its host (the VM),
    # except for the protected item's name ("SQLDataBase;mssqlserver;db1").
    texts: list[str] = []
    words: list[str] = []
    for hint in hints:  # loops, not comprehensions: this runs for every alert
        if hint:
            text = hint.lower()
            texts.append(text)
            if not text.startswith("/subscriptions/"):
                words.append(text)
    for text in texts:
        # The pattern folds case, and in lower-cased text only its "i" and "s" may match another
        # letter (a dotless i, a long s): the letters before them are looked for first.
        if "/protecte" in text and (item := _PROTECTED_ITEM.search(text)):
            words.append(item.group(1))
    for text in words:
        rows = [int(m.lastgroup[1:]) for m in _SOURCE_ANY.finditer(text) if m.lastgroup]
        if rows:
            return _SOURCE_TYPES[min(rows)][1]
    for text in texts:
        for namespace, workload in _WORKLOADS:
            if namespace in text:
                return workload
    return None


def _job_type(*texts: str | None) -> JobType | None:
    joined = " ".join(t for t in texts if t).lower()
    if "restore" in joined:
        return JobType.RESTORE
    if "backup" in joined or "snapshot" in joined:
        return JobType.BACKUP
    return None


def extract_code(essentials: Essentials, fields: dict[str, Any], codes: CodeBook) -> str | None:
    """The error code, from an explicit field, an aka.ms/AB-<code> link, or originAlertId."""
    explicit = fields.get("errorcode") or fields.get("error_code")
    if isinstance(explicit, str) and explicit.strip():
        return codes.spell(explicit.strip())
    link = _AKA_CODE.search(_as_text(fields.get("recommendedactions") or fields.get("recommendedaction")))
    if not link:
        link = _AKA_CODE.search(essentials.description or "")
    if link:
        return codes.spell(link.group(1))
    origin = essentials.origin_alert_id or ""
    known = codes.found_in(origin)
    if known:
        return known
    token = _ORIGIN_SEPARATORS.split(origin)[-1] if origin else ""
    return token if _CODE_TOKEN.match(token) else None


def parse_common_alert(raw: dict[str, Any], codes: CodeBook | None = None) -> Failure:
    """An Azure Monitor common-alert-schema alert as a ``Failure``."""
    codes = codes or CodeBook()
    alert = CommonAlert.of(raw)
    ess = alert.data.essentials
    context: dict[str, Any] = alert.data.alert_context or {}

    fields, text = _fields(context)

    source_id = text.get("sourceid")
    linked = text.get("linkedresourceid") or text.get("affectedresourceid") or text.get("datasourceid")
    protected_item = text.get("protecteditemid") or text.get("backupinstanceid")
    named = (linked, protected_item, source_id, *ess.alert_target_ids)
    if not linked:
        # Some alerts only name the resource inside another field or the description.
        found = _RESOURCE_ID.search(_as_text(context) + " " + (ess.description or ""))
        linked = found.group(1) if found else None

    vault_id, vault_subscription, vault_group = _vault_in(named)
    resource_id, resource_subscription, resource_group = _arm_resource(linked) if linked else _NO_ARM_ID
    workload = workload_of(resource_id, text.get("formattedsourcetype"), text.get("sourcetype"),
                           text.get("workloadtype"), text.get("datasourcetype"), text.get("datasourcetypes"),
                           text.get("backupmanagementtype"), protected_item)
    if workload is None and resource_id and "microsoft.storage/" in resource_id.lower():
        # Recovery Services vaults protect file shares; Backup vaults protect blobs.
        workload = "afs" if vault_id and "recoveryservices" in vault_id.lower() else "blob"

    message = (text.get("errormessage") or text.get("errorstring") or text.get("failurereason")
               or text.get("errordetails") or ess.description)
    code = extract_code(ess, fields, codes)
    in_message = spelled_codes_in(message, codes)
    all_codes = list(dict.fromkeys((code, *in_message) if code else in_message))
    code = code or (all_codes[0] if all_codes else None)
    condition = (ess.monitor_condition or "Fired").lower()
    operation = (text.get("operationname") or text.get("joboperation") or text.get("operation")
                 or text.get("alertname") or text.get("title") or text.get("metricname"))
    job_type = _job_type(ess.alert_rule, operation)
    if job_type is None and ess.monitoring_service and "backup" in ess.monitoring_service.lower():
        job_type = JobType.BACKUP
    # the first id the alert names decides: the resource's, the vault's, the target's
    subscription = (resource_subscription if resource_id else vault_subscription if vault_id
                    else _segment(ess.alert_target_ids[0], "subscriptions") if ess.alert_target_ids else None)

    facts: dict[str, str | None] = {
        "subscription_id": subscription,
        "resource_group": resource_group,
        "vault_resource_group": vault_group,
        "monitoring_service": ess.monitoring_service,
        "alert_rule": ess.alert_rule,
        "alert_id": ess.alert_id,
        "severity": ess.severity,
        "protected_item_id": protected_item,
        "recommended_actions": _as_text(fields.get("recommendedactions")) or None,
        "backup_management_type": text.get("backupmanagementtype"),
    }
    if resource_id and workload in ("postgresql", "postgresql-flex", "mysql-flex"):
        facts.update(server_id=resource_id, server_name=_segment(resource_id, "servers")
                     or _segment(resource_id, "flexibleservers"))
    if resource_id and workload == "disk":
        facts["disk_id"] = resource_id
    if resource_id and workload == "vm":
        facts["vm_name"] = _segment(resource_id, "virtualmachines")
    if resource_id and "microsoft.storage/storageaccounts" in resource_id.lower():
        facts["storage_account_id"] = resource_id

    links = {}
    if resource_id:
        links["resource"] = f"https://portal.azure.com/#resource{resource_id}"
    if vault_id:
        links["vault"] = f"https://portal.azure.com/#resource{vault_id}"
    if ess.alert_id:
        links["alert"] = ("https://portal.azure.com/#view/Microsoft_Azure_Monitoring_Alerts/"
                          f"AlertDetails.ReactView/alertId/{ess.alert_id.replace('/', '%2f')}")

    return Failure(
        cloud=Cloud.AZURE,
        job_type=job_type,
        state=ess.monitor_condition,
        failed=condition != "resolved",
        recovered=condition == "resolved",
        event_id=ess.alert_id,
        job_id=text.get("jobid"),
        time=ess.fired,
        account_id=subscription,
        region=text.get("region") or text.get("location") or text.get("sourceregion") or ess.region,
        resource_type=workload,
        resource_id=resource_id,
        resource_name=text.get("linkedresourcename") or _name(resource_id),
        vault_name=_name(vault_id),
        vault_id=vault_id,
        code=code,
        codes=all_codes,
        message=message,
        facts={k: v for k, v in facts.items() if v},
        links=links,
    )
