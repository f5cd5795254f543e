"""Measure the classifier on a corpus of real failures that the rules were not written from.

A corpus is YAML files of cases (``tests/corpus/*.yaml``): each a real message with its source,
the job type, the resource type or workload, and the cause an engineer would name. Every case is
wrapped in the event the provider would send (an EventBridge event, or an Azure Backup built-in
alert in the common alert schema with the code embedded in ``originAlertId`` as Azure does), then
parsed and classified through the same code as every entry point.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml
from msgspec import Struct
from pydantic import BaseModel, ConfigDict, Field

from shared.catalog import Catalog
from shared.models import UNCLASSIFIED
from shared.text import normalise_message
from shared.vocab import JobType

#: Answers at least this sure must be right: a wrong one is a "confident wrong answer".
CONFIDENT = 0.8
#: Among answers at least this sure, the share that must be right (calibration).
HIGH_CONFIDENCE = 0.9
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    cloud: str = ""
    job_type: JobType | None = None
    resource_type: str | None = None
    workload: str | None = None
    state: str | None = None
    code: str | None = None
    expect_code: str | None = None
    message: str | None = None
    expect: str
    source: str = Field(pattern=r"^https://")
    note: str | None = None


def load_corpus(directory: Path) -> list[Case]:
    cases: list[Case] = []
    for path in sorted(directory.glob("*.yaml")):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (safe loader)
        cloud = "azure" if path.stem.startswith("azure") else "aws"
        for raw in data.get("cases", []):
            cases.append(Case.model_validate({"cloud": cloud, **raw}))
    return cases


# ------------------------------------------------------------------------------------ the events
_ACCOUNT, _REGION = "111122223333", "us-east-1"
_AWS_JOBS: dict[str, tuple[str, str, str]] = {  # job type -> detail-type, id field, state field
    "backup": ("Backup Job State Change", "backupJobId", "state"),
    "copy": ("Copy Job State Change", "copyJobId", "state"),
    "restore": ("Restore Job State Change", "restoreJobId", "status"),
}
_SUBSCRIPTION = "00000000-1111-2222-3333-444444444444"
_RG = f"/subscriptions/{_SUBSCRIPTION}/resourceGroups/rg-app"
_RSV = f"{_RG}/providers/Microsoft.RecoveryServices/vaults/rsv-prod"
_BV = f"{_RG}/providers/Microsoft.DataProtection/backupVaults/bv-prod"
#: What a built-in alert of each workload carries: its vault, linked resource, source types.
_WORKLOADS: dict[str, tuple[str, str, str, str]] = {
    "vm": (_RSV, f"{_RG}/providers/Microsoft.Compute/virtualMachines/vm-app", "VM", "AzureVM"),
    "sql": (_RSV, f"{_RG}/providers/Microsoft.Compute/virtualMachines/vm-sql", "SQLDataBase", "AzureVmSQL"),
    "saphana": (_RSV, f"{_RG}/providers/Microsoft.Compute/virtualMachines/vm-hana", "SAPHanaDatabase",
                "AzureVmSAPHana"),
    "saphana-snapshot": (_BV, f"{_RG}/providers/Microsoft.Compute/virtualMachines/vm-hana", "SAPHanaDBInstance",
                         "SAP HANA DB Instance"),
    "afs": (_RSV, f"{_RG}/providers/Microsoft.Storage/storageAccounts/stfiles", "AzureFileShare", "AzureFiles"),
    "blob": (_BV, f"{_RG}/providers/Microsoft.Storage/storageAccounts/stblobs",
             "Microsoft.Storage/storageAccounts/blobServices", "Azure Blobs"),
    "disk": (_BV, f"{_RG}/providers/Microsoft.Compute/disks/disk-app", "Microsoft.Compute/disks", "Azure Disks"),
    "postgresql": (_BV, f"{_RG}/providers/Microsoft.DBforPostgreSQL/servers/pg-app",
                   "Microsoft.DBforPostgreSQL/servers/databases", "Azure Database for PostgreSQL"),
    "postgresql-flex": (_BV, f"{_RG}/providers/Microsoft.DBforPostgreSQL/flexibleServers/pgf-app",
                        "Microsoft.DBforPostgreSQL/flexibleServers", "Azure Database for PostgreSQL flexible servers"),
    "mysql-flex": (_BV, f"{_RG}/providers/Microsoft.DBforMySQL/flexibleServers/my-app",
                   "Microsoft.DBforMySQL/flexibleServers", "Azure Database for MySQL flexible servers"),
    "aks": (_BV, f"{_RG}/providers/Microsoft.ContainerService/managedClusters/aks-app",
            "Microsoft.ContainerService/managedClusters", "Azure Kubernetes Service"),
    "mars": (_RSV, _RSV, "FileFolder", "Azure Backup Agent"),
    "dpm": (_RSV, _RSV, "DPM", "DPM/MABS"),
}


def _stable_id(case: Case) -> str:
    return hashlib.sha256(case.id.encode()).hexdigest()[:12]


def aws_event(case: Case) -> dict[str, Any]:
    detail_type, id_field, state_field = _AWS_JOBS[case.job_type or "backup"]
    detail: dict[str, Any] = {id_field: f"corpus-{_stable_id(case)}", state_field: case.state or "FAILED",
                              "accountId": _ACCOUNT, "iamRoleArn": f"arn:aws:iam::{_ACCOUNT}:role/backup-role"}
    if case.message is not None:
        detail["statusMessage"] = case.message
    if case.resource_type:
        detail["resourceType"] = case.resource_type
    if case.job_type == "copy":
        detail["sourceBackupVaultArn"] = f"arn:aws:backup:{_REGION}:{_ACCOUNT}:backup-vault:source"
        detail["destinationBackupVaultArn"] = "arn:aws:backup:us-west-2:444455556666:backup-vault:central"
    return {"version": "0", "id": f"corpus-{_stable_id(case)}", "detail-type": detail_type, "source": "aws.backup",
            "account": _ACCOUNT, "time": "2026-11-30T02:10:00Z", "region": _REGION, "resources": [],
            "detail": detail}


def azure_alert(case: Case) -> dict[str, Any]:
    """A built-in Azure Backup alert as Azure Monitor posts it, the code embedded lower-cased in
    ``originAlertId`` when the case has one (as the real alerts do), else only the description."""
    vault, linked, source_type, formatted = _WORKLOADS[case.workload or "vm"]
    origin = f"2516288980568183370_0_{int(_stable_id(case), 16)}"
    if case.code:
        origin += case.code.lower() + "log"
    return {"schemaId": "azureMonitorCommonAlertSchema", "data": {
        "essentials": {
            "alertId": f"/subscriptions/{_SUBSCRIPTION}/providers/Microsoft.AlertsManagement/alerts/{_stable_id(case)}",
            "alertRule": "Restore Failure" if case.job_type == "restore" else "Backup Failure",
            "severity": "Sev1", "signalType": "Log", "monitorCondition": "Fired",
            "monitoringService": "Azure Backup", "alertTargetIDs": [vault.lower()],
            "originAlertId": origin, "firedDateTime": "2026-11-30T02:10:00Z",
            "description": case.message or ""},
        "alertContext": {"category": "Jobs", "sourceType": source_type, "formattedSourceType": formatted,
                         "linkedResourceId": linked,
                         "extendedInfo": {"jobId": f"corpus-{_stable_id(case)}", "occurrenceCount": 1}}}}


def event_of(case: Case) -> dict[str, Any]:
    return azure_alert(case) if case.cloud == "azure" else aws_event(case)


# ---------------------------------------------------------------------------------- the measure
class Result(Struct, frozen=True):
    case: Case
    cause: str
    rule: str | None
    code: str | None
    confidence: float
    layer: str

    @property
    def right(self) -> bool:
        return self.cause == self.case.expect



def run(cases: Iterable[Case], catalog: Catalog) -> list[Result]:
    from shared.classify import Classifier  # the classifier imports the catalog, not the reverse
    from shared.parse import parse_event

    classifier = Classifier(catalog)
    results = []
    for case in cases:
        failure = parse_event(event_of(case), catalog.codes, catalog.aws_codes)
        finding = classifier.classify(failure)
        layer = "none" if finding.rule is None else ("family" if catalog.rule(finding.rule).family else "rule")
        results.append(Result(case, finding.cause, finding.rule, finding.code, finding.confidence, layer))
    return results


def _share(results: list[Result]) -> float:
    return sum(r.right for r in results) / len(results) if results else 1.0


#: The goals the test suite holds the classifier to.
GOAL_ACCURACY = 0.95
GOAL_CALIBRATION = 0.95


def report(results: list[Result], catalog: Catalog) -> dict[str, Any]:
    """Accuracy overall, per cloud, workload, job type and family; wrong answers; calibration."""
    family_of = {rule.cause: rule.family for rule in catalog.rules if rule.family}
    groups: dict[str, dict[str, list[Result]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        groups["family"][f"{r.case.cloud}:{family_of.get(r.case.expect, 'specific')}"].append(r)
        groups["cloud"][r.case.cloud].append(r)
        groups["workload"][f"{r.case.cloud}:{r.case.workload or r.case.resource_type or '-'}"].append(r)
        groups["job_type"][f"{r.case.cloud}:{r.case.job_type or '-'}"].append(r)
        groups["answered_by"][r.layer].append(r)
    confident = [r for r in results if r.confidence >= HIGH_CONFIDENCE]
    wrong = [r for r in results if not r.right]
    knowledge = catalog.knowledge
    # Codes the alert carries (lower-cased inside originAlertId) that the code book knows must come
    # back in documented spelling; a code inferred from a documented message is a bonus.
    carried = [(r, knowledge.spell(r.case.cloud, r.case.code)) for r in results
               if r.case.code and knowledge.known(r.case.cloud, r.case.code)]
    inferred = [r for r in results if r.case.expect_code and not r.case.code]
    return {
        "cases": len(results),
        "accuracy": round(_share(results), 4),
        **{name: {key: {"cases": len(rs), "accuracy": round(_share(rs), 4)} for key, rs in sorted(group.items())}
           for name, group in groups.items()},
        "confident_wrong": [_line(r) for r in wrong if r.confidence >= CONFIDENT],
        "unclassified": sum(r.cause == UNCLASSIFIED for r in results),
        "calibration": {f">={HIGH_CONFIDENCE}": {"answers": len(confident), "right": round(_share(confident), 4)},
                        "by_confidence": _buckets(results)},
        "codes": {
            "carried": {"cases": len(carried), "wrong": [f"{r.case.id}: {r.code} (expected {spelled})"
                                                         for r, spelled in carried if r.code != spelled]},
            "inferred": {"cases": len(inferred), "right": sum(r.code == r.case.expect_code for r in inferred)},
        },
        "misses": [_line(r) for r in wrong],
        "goals_met": (_share(results) >= GOAL_ACCURACY and not any(r.confidence >= CONFIDENT for r in wrong)
                      and _share(confident) >= GOAL_CALIBRATION
                      and not any(r.code != spelled for r, spelled in carried)),
    }


def _buckets(results: list[Result]) -> dict[str, dict[str, float]]:
    edges = (0.0, 0.5, 0.7, 0.8, 0.9, 1.01)
    out = {}
    for low, high in pairwise(edges):
        rs = [r for r in results if low <= r.confidence < high and r.cause != UNCLASSIFIED]
        if rs:
            out[f"{low:.1f}-{min(high, 1.0):.1f}"] = {"answers": len(rs), "right": round(_share(rs), 4)}
    return out


def _line(r: Result) -> str:
    return (f"{r.case.id}: {r.cause} ({r.confidence:.2f}, {r.rule or 'no rule'}) expected {r.case.expect}"
            f" | {(r.case.message or '')[:140]}")


def overlap_with_examples(cases: Iterable[Case], catalog: Catalog) -> list[str]:
    """Cases whose message is one of the catalog's own examples: the corpus must stand apart."""
    examples = {normalise_message(e.message) for rule in catalog.rules for e in rule.examples if e.message}
    return [c.id for c in cases if c.message and normalise_message(c.message) in examples]


def render_text(summary: dict[str, Any]) -> str:
    lines = [f"cases {summary['cases']}  accuracy {summary['accuracy']:.1%}  unclassified {summary['unclassified']}"]
    for name in ("cloud", "job_type", "workload", "family", "answered_by"):
        lines.append(f"by {name}:")
        for key, value in summary[name].items():
            lines.append(f"  {key:32s} {value['cases']:4d}  {value['accuracy']:.1%}")
    cal = summary["calibration"]
    high = cal[f">={HIGH_CONFIDENCE}"]
    lines.append(f"confidence >= {HIGH_CONFIDENCE}: {high['answers']} answers, {high['right']:.1%} right")
    for key, value in cal["by_confidence"].items():
        lines.append(f"  confidence {key}: {value['answers']:4d} answers, {value['right']:.1%} right")
    carried, inferred = summary["codes"]["carried"], summary["codes"]["inferred"]
    lines.append(f"codes carried by the alert: {carried['cases'] - len(carried['wrong'])}/{carried['cases']} "
                 "in documented spelling")
    lines += [f"  code: {w}" for w in carried["wrong"]]
    lines.append(f"codes inferred from a documented message: {inferred['right']}/{inferred['cases']}")
    lines.append(f"confident wrong answers (>= {CONFIDENT}): {len(summary['confident_wrong'])}")
    lines += [f"  {w}" for w in summary["confident_wrong"]]
    lines.append(f"misses: {len(summary['misses'])}")
    lines += [f"  {m}" for m in summary["misses"]]
    return "\n".join(lines) + "\n"
