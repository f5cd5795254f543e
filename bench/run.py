"""Classification benchmark: throughput, import time and peak memory, each beside a baseline
measured in the same run. Run with `make bench` (or `.venv/bin/python bench/run.py`).

The stream is generated from the catalog's own examples wrapped in real event envelopes (AWS
EventBridge and Azure common alert schema), with ARNs, account ids, Regions and resource names
varied per event, plus a share of failures no rule knows, so every path of the classifier runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-northeast-2", "ap-northeast-1"]
LOCATIONS = ["eastus", "westeurope", "koreacentral", "japaneast"]
AWS_RESOURCE_ARN = {
    "EC2": "arn:aws:ec2:{region}:{account}:instance/i-{hex}",
    "EBS": "arn:aws:ec2:{region}:{account}:volume/vol-{hex}",
    "RDS": "arn:aws:rds:{region}:{account}:db:db-{hex}",
    "S3": "arn:aws:s3:::bucket-{hex}",
    "DynamoDB": "arn:aws:dynamodb:{region}:{account}:table/t{hex}",
    "EFS": "arn:aws:elasticfilesystem:{region}:{account}:file-system/fs-{hex}",
}
AZURE_PROVIDER = {
    "postgresql": "Microsoft.DBforPostgreSQL/servers",
    "postgresql-flex": "Microsoft.DBforPostgreSQL/flexibleServers",
    "vm": "Microsoft.Compute/virtualMachines",
    "disk": "Microsoft.Compute/disks",
    "blob": "Microsoft.Storage/storageAccounts",
    "aks": "Microsoft.ContainerService/managedClusters",
}
UNKNOWN_MESSAGES = ["Something unexpected happened while processing job {hex}.",
                    "The operation failed for an unknown reason (ref {hex})."]


def _aws_event(rng: random.Random, job_type: str | None, resource_type: str | None, message: str) -> dict[str, Any]:
    account, region, hexid = f"{rng.randrange(10**11, 10**12)}", rng.choice(REGIONS), f"{rng.getrandbits(48):012x}"
    rtype = resource_type or rng.choice(list(AWS_RESOURCE_ARN))
    resource = AWS_RESOURCE_ARN.get(rtype, AWS_RESOURCE_ARN["EBS"]).format(region=region, account=account, hex=hexid)
    vault = f"arn:aws:backup:{region}:{account}:backup-vault:vault-{hexid[:4]}"
    job = job_type or rng.choice(["backup", "copy", "restore"])
    detail: dict[str, Any] = {"resourceType": rtype, "resourceArn": resource, "statusMessage": message,
                              "iamRoleArn": f"arn:aws:iam::{account}:role/service-role/AWSBackupDefaultServiceRole"}
    if job == "backup":
        detail.update(backupJobId=hexid, state="FAILED", backupVaultArn=vault, backupSizeInBytes="0")
    elif job == "copy":
        dest = f"{rng.randrange(10**11, 10**12)}"
        detail.update(copyJobId=hexid, state="FAILED", sourceBackupVaultArn=vault,
                      destinationBackupVaultArn=f"arn:aws:backup:{region}:{dest}:backup-vault:central",
                      destinationRecoveryPointArn={})
    else:
        detail.update(restoreJobId=hexid, status="FAILED")
    return {"version": "0", "id": hexid, "detail-type": f"{job.capitalize()} Job State Change",
            "source": "aws.backup", "account": account, "time": "2026-11-23T03:00:00Z", "region": region,
            "resources": [resource], "detail": detail}


def _azure_alert(rng: random.Random, job_type: str | None, workload: str | None, code: str | None,
                 message: str) -> dict[str, Any]:
    sub = f"{rng.getrandbits(32):08x}-0000-4000-8000-{rng.getrandbits(48):012x}"
    hexid = f"{rng.getrandbits(32):08x}"
    provider = AZURE_PROVIDER.get(workload or "vm", AZURE_PROVIDER["vm"])
    resource = f"/subscriptions/{sub}/resourceGroups/rg-{hexid[:3]}/providers/{provider}/res{hexid}"
    vault = f"/subscriptions/{sub}/resourceGroups/rg-backup/providers/Microsoft.DataProtection/backupVaults/bv1"
    rule = "Restore Failure" if job_type == "restore" else "Backup Failure"
    context: dict[str, Any] = {"linkedResourceId": resource, "sourceId": vault, "extendedInfo": {"jobId": hexid}}
    if code:
        context["extendedInfo"]["recommendedActions"] = f"See https://aka.ms/AB-{code}"
    return {"schemaId": "azureMonitorCommonAlertSchema", "data": {
        "essentials": {"alertId": f"/subscriptions/{sub}/providers/Microsoft.AlertsManagement/alerts/{hexid}",
                       "alertRule": rule, "severity": "Sev1", "monitorCondition": "Fired",
                       "monitoringService": "Azure Backup", "alertTargetIDs": [vault],
                       "originAlertId": f"{hexid}_{(code or 'unknown').lower()}",
                       "firedDateTime": "2026-11-23T03:00:00Z", "description": message},
        "alertContext": context}}


def generate(count: int, seed: int = 7, distinct: bool = False) -> list[str]:
    """``count`` events as JSON text: catalog examples in envelopes, 10% unknown failures. With
    ``distinct``, every message ends with a request id of its own (as SDK errors relayed by AWS
    Backup do), so that no two events share a message and nothing classified is remembered."""
    from shared.catalog import default_catalog

    rng = random.Random(seed)
    templates = [(rule.cause.split(".")[0], ex) for rule in default_catalog().rules for ex in rule.examples]
    events = []
    for _ in range(count):
        if rng.random() < 0.1:
            msg = rng.choice(UNKNOWN_MESSAGES).format(hex=f"{rng.getrandbits(32):08x}")
            cloud, job, rtype, code = rng.choice(["aws", "azure"]), None, None, None
        else:
            cloud, ex = rng.choice(templates)
            msg, job, rtype, code = ex.message or "Backup failed", ex.job_type, ex.resource_type, ex.code
        if distinct:
            msg = f"{msg} (Request ID: {rng.getrandbits(64):016x})"
        event = (_aws_event(rng, job, rtype, msg) if cloud == "aws"
                 else _azure_alert(rng, job, rtype, code, msg))
        events.append(json.dumps(event))
    return events


def _cli_classify(path: str) -> None:
    """``backup-responder classify PATH``, its output thrown away: reading, parsing, classifying,
    printing."""
    from functions.cli import main

    with open(os.devnull, "w", encoding="utf-8") as out:
        main(["classify", path], out=out)


#: Rounds of the throughput figures: each round measures every figure once, in turn, so that a
#: busy moment of the machine slows the baseline and the figures compared with it alike.
ROUNDS = 5


def _throughput(events: list[str], work: str) -> float:
    """Events per second of ``work`` over the stream, one pass (CPU time of this process, so
    other processes on the machine disturb the figure less); its start is not part of it."""
    from shared.classify import Classifier
    from shared.pipeline import Pipeline

    catalog = Classifier().catalog
    pipeline = Pipeline(Classifier(catalog))
    stream = None
    if work == "cli":  # the command reads a file: the same events as JSON lines
        stream = tempfile.NamedTemporaryFile("w", suffix=".jsonl", encoding="utf-8")  # noqa: SIM115
        stream.write("\n".join(events))
        stream.flush()
        _cli_classify(stream.name)  # its start (the catalog, the RE2 sets) is not part of the figure
    failures = [pipeline.parse(json.loads(text)) for text in events] if work == "classify" else []
    # The stream and the catalog stay alive for the whole run: keep the collector from walking them
    # again and again (a service handles one event at a time and holds no such list).
    gc.collect()
    gc.freeze()
    pipeline = Pipeline(Classifier(catalog))  # as a new process: nothing remembered
    start = time.process_time()
    if work == "json":  # the baseline: only decoding the JSON text
        for text in events:
            json.loads(text)
    elif work == "cli" and stream is not None:  # what the issue measures, end to end
        _cli_classify(stream.name)
    elif work == "parse+classify":  # the core of what `backup-responder classify` does per event
        for text in events:
            pipeline.classifier.classify(pipeline.parse(json.loads(text)))
    else:  # the classifier alone: Failure in, Finding out
        for failure in failures:
            pipeline.classifier.classify(failure)
    rate = len(events) / max(time.process_time() - start, 1e-9)
    gc.unfreeze()
    if stream is not None:
        stream.close()
    return rate


def _best_throughputs(streams: dict[str, tuple[list[str], str]]) -> dict[str, float]:
    """The best rate of each figure (name: its events and work) over ``ROUNDS`` rounds, in turn."""
    best = dict.fromkeys(streams, 0.0)
    for _ in range(ROUNDS):
        for name, (events, work) in streams.items():
            best[name] = max(best[name], _throughput(events, work))
    return best


#: Fresh interpreters' environment: PYTHONDONTWRITEBYTECODE would leave the project's modules
#: without bytecode (compiled from source on every run) while the installed packages have theirs.
_CHILD_ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "PYTHONPATH": str(ROOT)}

_CHILD = """
import json, sys, time
start = time.perf_counter()
{imports}
elapsed = time.perf_counter() - start
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({{"import_ms": elapsed * 1000, "maxrss_mb": int(hwm.split()[1]) / 1024}}))
"""


def _fresh_process(imports: str, runs: int = 5) -> dict[str, float]:
    """Import time (median of ``runs`` fresh interpreters) and peak RSS of the last one."""
    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _CHILD.format(imports=imports)], check=True,
                             capture_output=True, text=True, cwd=ROOT, env=_CHILD_ENV)
        results.append(json.loads(out.stdout))
    results.sort(key=lambda r: r["import_ms"])
    median = results[len(results) // 2]
    return {"import_ms": round(median["import_ms"], 1), "maxrss_mb": round(results[-1]["maxrss_mb"], 1)}


_STREAM = """
import json, sys
lines = open({path!r}, encoding="utf-8").read().splitlines()
if {classify}:
    from shared.pipeline import Pipeline
    pipeline = Pipeline()
    for text in lines:
        pipeline.classifier.classify(pipeline.parse(json.loads(text)))
else:
    for text in lines:
        json.loads(text)
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({{"maxrss_mb": int(hwm.split()[1]) / 1024}}))
"""


def _peak_memory(events: list[str], classify: bool) -> float:
    """Peak RSS (MB) of a fresh process that streams the events from a file through the classifier
    (or, for the baseline, only through ``json.loads``). VmHWM, since ru_maxrss would carry the
    parent's peak across exec."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", encoding="utf-8") as stream:
        stream.write("\n".join(events))
        stream.flush()
        out = subprocess.run([sys.executable, "-c", _STREAM.format(path=stream.name, classify=classify)],
                             check=True, capture_output=True, text=True, cwd=ROOT,
                             env=_CHILD_ENV)
    return round(float(json.loads(out.stdout)["maxrss_mb"]), 1)


def _at_revision(revision: str, events: int) -> dict[str, str]:
    """The same benchmark run by the code of another git revision, in a temporary worktree."""
    from worktree import worktree

    with worktree(revision) as tree:
        assert tree is not None
        # This harness, measuring that revision's code: the same figures on both sides.
        (tree / "bench" / "run.py").write_text(Path(__file__).read_text(encoding="utf-8"), encoding="utf-8")
        out = subprocess.run([sys.executable, str(tree / "bench" / "run.py"), "--events", str(events)],
                             cwd=tree, check=True, capture_output=True, text=True).stdout
    return dict(line.split(None, 1) for line in out.splitlines() if line.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--against", metavar="REVISION",
                        help="also run this benchmark as the code of a git revision has it, and print the change")
    args = parser.parse_args()
    before = _at_revision(args.against, args.events) if args.against else None
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})  # one core, as the issue asks

    from shared.catalog import default_catalog

    catalog = default_catalog()
    events = generate(args.events)
    rates = _best_throughputs({"json": (events, "json"), "parse+classify": (events, "parse+classify"),
                               "cli": (events, "cli"), "cli_distinct": (generate(args.events, distinct=True), "cli"),
                               "classify": (events, "classify")})
    baseline, end_to_end, cli, cli_distinct, classify = (
        rates[name] for name in ("json", "parse+classify", "cli", "cli_distinct", "classify"))
    imports_core = _fresh_process("from shared.catalog import default_catalog; default_catalog()\n"
                                  "import shared.classify, shared.pipeline")
    imports_base = _fresh_process("import json, yaml\nfrom pydantic import BaseModel")
    report = {
        "catalog_rules": len(catalog),
        "events": len(events),
        "classifier_events_per_s": round(classify),
        "parse_and_classify_events_per_s": round(end_to_end),
        "cli_classify_events_per_s": round(cli),
        "baseline_json_loads_events_per_s": round(baseline),
        "cli_classify_vs_json_loads": round(cli / baseline, 3),
        "cli_classify_distinct_messages_events_per_s": round(cli_distinct),
        "import_core_and_load_catalog_ms": imports_core["import_ms"],
        "baseline_import_json_yaml_pydantic_ms": imports_base["import_ms"],
        "peak_rss_parse_and_classify_mb": _peak_memory(events, classify=True),
        "baseline_peak_rss_json_loads_mb": _peak_memory(events, classify=False),
    }
    width = max(len(k) for k in report)
    for key, value in report.items():
        if before is None:
            print(f"{key:<{width}}  {value}")
            continue
        old = before.get(key, "-").strip()
        change = f"{float(value) / float(old) - 1:+.1%}" if old.replace(".", "", 1).isdigit() and float(old) else ""
        print(f"{key:<{width}}  {old:>10}  {value!s:>10}  {change}")


if __name__ == "__main__":
    main()
