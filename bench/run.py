"""Classification benchmark: throughput, import time and peak memory, each beside a baseline
measured in the same run. Run with `make bench` (or `.venv/bin/python bench/run.py`).

The stream is generated from the catalog's own examples wrapped in real event envelopes (AWS
EventBridge and Azure common alert schema), with ARNs, account ids, Regions and resource names
varied per event, plus a share of failures no rule knows, so every path of the classifier runs.

Each round of the throughput figures runs in a fresh process; with ``--against REVISION``, that
revision's code (in a temporary worktree, measured by this harness) runs its round in turn.
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


def forget_memos() -> None:
    """Empty what the parsers remember per message and per ARN, as a new process has it: a timed
    pass reads the same events as the pass before it, whose memos would spare it every first
    reading (a revision without one of them has nothing to empty)."""
    from shared.parse import aws, codes

    for memo in (getattr(aws, "arn_parts", None), getattr(aws, "arn_of", None), getattr(aws, "read_message", None),
                 getattr(codes, "spelled_codes_in", None)):
        if hasattr(memo, "cache_clear"):
            memo.cache_clear()


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
    forget_memos()
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


def _one_round(count: int) -> dict[str, float]:
    """Every throughput figure once, in turn, in this process (a child's work: ``--round``)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})  # one core, as the issue asks
    events = generate(count)
    streams = {"json": (events, "json"), "parse+classify": (events, "parse+classify"), "cli": (events, "cli"),
               "cli_distinct": (generate(count, distinct=True), "cli"), "classify": (events, "classify")}
    return {name: _throughput(stream, work) for name, (stream, work) in streams.items()}


def _best_rates(scripts: dict[str, Path], count: int) -> dict[str, dict[str, float]]:
    """Each revision's best rate of each figure over ``ROUNDS`` rounds. In each round every
    revision runs one round in a fresh process, in turn, so that a busy moment of the machine
    slows both revisions, and each baseline and what is compared with it, alike."""
    best: dict[str, dict[str, float]] = {name: {} for name in scripts}
    for _ in range(ROUNDS):
        for name, script in scripts.items():
            out = subprocess.run([sys.executable, str(script), "--events", str(count), "--round"], check=True,
                                 capture_output=True, text=True, cwd=script.parent.parent).stdout
            for figure, rate in json.loads(out.splitlines()[-1]).items():
                best[name][figure] = max(best[name].get(figure, 0.0), rate)
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


def _other_figures(count: int) -> dict[str, float]:
    """The catalog's size, and the figures of fresh processes: import times and peak memory (a child's
    work: ``--others``)."""
    from shared.catalog import default_catalog

    events = generate(count)
    imports_core = _fresh_process("from shared.catalog import default_catalog; default_catalog()\n"
                                  "import shared.classify, shared.pipeline")
    imports_base = _fresh_process("import json, yaml\nfrom pydantic import BaseModel")
    return {"catalog_rules": len(default_catalog()),
            "import_core_and_load_catalog_ms": imports_core["import_ms"],
            "baseline_import_json_yaml_pydantic_ms": imports_base["import_ms"],
            "peak_rss_parse_and_classify_mb": _peak_memory(events, classify=True),
            "baseline_peak_rss_json_loads_mb": _peak_memory(events, classify=False)}


def _report(count: int, rates: dict[str, float], others: dict[str, float]) -> dict[str, float]:
    return {
        "catalog_rules": others["catalog_rules"],
        "events": count,
        "classifier_events_per_s": round(rates["classify"]),
        "parse_and_classify_events_per_s": round(rates["parse+classify"]),
        "cli_classify_events_per_s": round(rates["cli"]),
        "baseline_json_loads_events_per_s": round(rates["json"]),
        "cli_classify_vs_json_loads": round(rates["cli"] / rates["json"], 3),
        "cli_classify_distinct_messages_events_per_s": round(rates["cli_distinct"]),
        **others,  # catalog_rules again, in its place above
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--against", metavar="REVISION",
                        help="also run this benchmark as the code of a git revision has it, and print the change")
    parser.add_argument("--round", action="store_true", help=argparse.SUPPRESS)  # a child: one round
    parser.add_argument("--others", action="store_true", help=argparse.SUPPRESS)  # a child: the other figures
    args = parser.parse_args()
    if args.round or args.others:
        print(json.dumps(_one_round(args.events) if args.round else _other_figures(args.events)))
        return
    from worktree import worktree

    with worktree(args.against) as before:
        scripts = {"this tree": Path(__file__).resolve()}
        if before is not None:
            # This harness, measuring that revision's code: the same figures on both sides.
            copy = before / "bench" / "run.py"
            copy.write_text(Path(__file__).read_text(encoding="utf-8"), encoding="utf-8")
            scripts = {str(args.against): copy, **scripts}
        rates = _best_rates(scripts, args.events)
        others = {name: json.loads(subprocess.run([sys.executable, str(script), "--events", str(args.events),
                                                   "--others"], check=True, capture_output=True, text=True,
                                                  cwd=script.parent.parent).stdout.splitlines()[-1])
                  for name, script in scripts.items()}
        old = _report(args.events, rates[args.against], others[args.against]) if before is not None else None
    report = _report(args.events, rates["this tree"], others["this tree"])
    width = max(len(k) for k in report)
    for key, value in report.items():
        if old is None:
            print(f"{key:<{width}}  {value}")
            continue
        then = old[key]
        change = f"{value / then - 1:+.1%}" if then else ""
        print(f"{key:<{width}}  {then!s:>10}  {value!s:>10}  {change}")


if __name__ == "__main__":
    main()
