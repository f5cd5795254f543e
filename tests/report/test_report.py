"""``backup-responder report`` through its public interface (``functions.cli.main``), on the
documented shapes of every input kind in tests/events/report/ and the events of tests/events/."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from functions.cli import EXIT_BAD_INPUT, EXIT_OK, main
from tests.conftest import EVENTS, event_paths
from tests.support.cli import run_cli

REPORT = EVENTS / "report"
ALL_KINDS = [REPORT / f"{name}.json" for name in
             ("aws-list-backup-jobs", "aws-list-copy-jobs", "aws-list-restore-jobs", "azure-graph-backup-jobs")]


def report(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(["report", *argv], out)
    return status, out.getvalue()


def report_json(*argv: str) -> dict[str, Any]:
    status, out = report("--format", "json", *argv)
    assert status == EXIT_OK
    return json.loads(out)  # type: ignore[no-any-return]


def counts(summary: dict[str, Any]) -> dict[str, int]:
    return {c["cause"]: c["count"] for c in summary["causes"]}


def test_every_input_kind_is_read_and_grouped_by_cause() -> None:
    summary = report_json(*map(str, ALL_KINDS))
    assert counts(summary) == {
        "aws.ec2.vss": 2, "aws.kms.key-access": 2, "aws.s3.versioning-disabled": 1,
        "aws.restore.instance-profile": 1, "azure.vm.agent-unreachable": 1, "azure.postgres.vault-msi-reader": 1}
    assert summary["failed"] == 9 and summary["unclassified"] == 1
    assert summary["skipped"]["not_failed"] == 2  # the completed EFS backup and the completed blob restore
    assert [c["count"] for c in summary["causes"]] == sorted((c["count"] for c in summary["causes"]), reverse=True)
    vss = next(c for c in summary["causes"] if c["cause"] == "aws.ec2.vss")
    assert vss["resources"] == 1 and vss["resource_ids"] == ["arn:aws:ec2:us-west-2:123456789012:instance/i-12345678901234567"]
    assert vss["accounts"] == ["123456789012"] and vss["title"]
    assert vss["repeated"] == [{"resource": vss["resource_ids"][0], "count": 2}]
    assert vss["trend"] == {"2026-11-18": 1, "2026-11-19": 1}
    kms = next(c for c in summary["causes"] if c["cause"] == "aws.kms.key-access")
    assert kms["resources"] == 2 == len(kms["resource_ids"]) and kms["accounts"] == ["111122223333"]
    # one fix for the cause, filled with what both jobs share, the differing values listed
    assert "444455556666" in kms["title"] and kms["fix"]["steps"]
    assert len(kms["fix"]["values"]["recovery_point_arn"]) == 2
    pg = next(c for c in summary["causes"] if c["cause"] == "azure.postgres.vault-msi-reader")
    assert pg["accounts"] == ["00000000-0000-0000-0000-000000000000"]
    assert pg["codes"] == ["UserErrorMSIMissingPermissions"]
    assert summary["unclassified_messages"][0]["message"] == "The frobnicator returned status 7 for table orders"


def _classified(paths: list[Path]) -> list[dict[str, Any]]:
    out = io.StringIO()
    main(["classify", *map(str, paths)], out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_totals_equal_what_classify_says_about_the_same_events() -> None:
    paths = event_paths("aws") + event_paths("azure")
    events = [e for p in paths for e in (lambda v: v if isinstance(v, list) else [v])(json.loads(p.read_text()))]
    lines = _classified(paths)
    assert len(lines) == len(events)
    seen: set[tuple[str, str]] = set()
    expected: Counter[str] = Counter()
    for event, line in zip(events, lines, strict=True):
        if "error" in line or not line["failed"]:
            continue
        # a job counts once: by its job id, else the alert's id (one alert delivered twice)
        ident = line["job_id"] or event.get("data", {}).get("essentials", {}).get("alertId") or event.get("id")
        if ident and (line["cloud"], ident.lower()) in seen:
            continue
        seen.add((line["cloud"], (ident or "").lower()))
        expected[line["cause"]] += 1
    summary = report_json(*map(str, paths))
    assert summary["failed"] == sum(expected.values())
    assert summary["unclassified"] == expected.pop("unclassified", 0)
    assert counts(summary) == dict(expected)


def test_a_job_read_as_an_event_and_in_a_job_list_counts_once() -> None:
    event = EVENTS / "aws" / "seed003-copy-source-kms-key-access.json"
    summary = report_json(str(event), str(REPORT / "aws-list-copy-jobs.json"))
    assert counts(summary) == {"aws.kms.key-access": 2}
    assert summary["skipped"]["duplicates"] == 1


def test_bad_items_are_named_on_stderr_counted_and_the_rest_is_reported(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = json.loads((REPORT / "aws-list-restore-jobs.json").read_text())
    jobs["RestoreJobs"].insert(0, "not a job")
    listed = tmp_path / "jobs.json"
    listed.write_text(json.dumps(jobs))
    events = tmp_path / "events.jsonl"
    events.write_text("{not json\n" + json.dumps({"source": "aws.ec2"}) + "\n"
                      + (EVENTS / "aws" / "copy-job-failed.json").read_text())
    status, out = report("--format", "json", str(listed), str(events))
    err = capsys.readouterr().err
    assert status == EXIT_BAD_INPUT
    summary = json.loads(out)
    assert summary["errors"] == 3
    assert counts(summary) == {"aws.restore.instance-profile": 1, "aws.iam.role-permissions": 1}
    assert f"{listed}: RestoreJobs[0]: a job record must be a JSON object" in err
    assert f"{events}:1: " in err and f"{events}:2: " in err and "aws.ec2" in err


def test_a_job_list_cut_short_keeps_the_jobs_before_the_cut(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (REPORT / "aws-list-copy-jobs.json").read_text()
    cut = tmp_path / "cut.json"
    cut.write_text(text[:text.index('"CopyJobId": "8E2A6C07-1B3D-4F5A-9C7E-2D4B6F8A0C08"') + 20])
    status, out = report("--format", "json", str(cut))
    assert status == EXIT_BAD_INPUT
    assert counts(json.loads(out)) == {"aws.kms.key-access": 1}
    assert f"{cut}: CopyJobs[1]: not valid JSON from here on" in capsys.readouterr().err


def _job(job_id: str, when: datetime) -> dict[str, Any]:
    return {"AccountId": "123456789012", "BackupJobId": job_id, "State": "FAILED",
            "BackupVaultArn": "arn:aws:backup:eu-west-1:123456789012:backup-vault:Default",
            "ResourceArn": "arn:aws:ec2:eu-west-1:123456789012:volume/vol-0123456789abcdef0",
            "CreationDate": when.isoformat(), "ResourceType": "EBS",
            "StatusMessage": "Bucket versioning is disabled. Enable versioning on bucket b to back it up."}


def test_since_keeps_the_jobs_of_the_period(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps({"BackupJobs": [_job("recent", now - timedelta(hours=2)),
                                               _job("old", now - timedelta(days=40))]}))
    assert report_json("--since", "30d", str(jobs))["failed"] == 1
    assert report_json("--since", "1h", str(jobs))["failed"] == 0
    assert report_json(str(jobs))["failed"] == 2
    assert report_json("--since", "2026-11-20", *map(str, ALL_KINDS))["failed"] == 6  # 20 and 21 November


def test_a_since_that_is_neither_a_duration_nor_a_date_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--since", "last tuesday", str(ALL_KINDS[0])], io.StringIO())
    assert exit_.value.code == 2 and "neither a duration" in capsys.readouterr().err


def test_text_csv_and_markdown_say_the_same_counts() -> None:
    _, text = report(*map(str, ALL_KINDS))
    assert "9 failed jobs, 8 with a known cause (88.9% explained), 1 unclassified" in text
    _, csv_text = report("--format", "csv", *map(str, ALL_KINDS))
    rows = csv_text.splitlines()
    assert rows[0].startswith("cause,count,resources,accounts") and rows[1].startswith("aws.ec2.vss,2,1,")
    assert len(rows) == 1 + 6 + 1
    _, markdown = report("--format", "markdown", *map(str, ALL_KINDS))
    assert "| `aws.ec2.vss` | 2 | 1 | 1 |" in markdown and "## aws.kms.key-access" in markdown


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every start tag of the page and its attributes, as a browser's parser sees them."""
    parser = _Tags()
    parser.feed(page)
    return parser.found


HOSTILE = "<script>alert(1)</script><img src=https://evil.example/x.png> | **x**"


def test_html_is_one_self_contained_page_that_escapes_what_it_shows(tmp_path: Path) -> None:
    jobs = json.loads((REPORT / "aws-list-backup-jobs.json").read_text())
    jobs["BackupJobs"][4]["StatusMessage"] = HOSTILE
    hostile = tmp_path / "hostile.json"
    hostile.write_text(json.dumps(jobs))
    page = tmp_path / "report.html"
    status, out = report("--format", "html", "--output", str(page), hostile.as_posix(), *map(str, ALL_KINDS[1:]))
    assert status == EXIT_OK and out == ""
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") == 2
    assert "<script" not in html and "<img" not in html and "&lt;script&gt;" in html
    tags = _tags(html)
    assert not {"script", "link", "img", "iframe", "object", "embed"} & {tag for tag, _ in tags}
    assert not [a for _, attrs in tags for a in attrs if a in ("src", "srcset", "style", "xlink:href")]
    assert "@import" not in html and "url(" not in html.split("</style>")[0]
    assert html.count("<section") == 6 + 1  # a section per cause, and the unclassified one


def test_a_job_list_on_standard_input_is_read_as_a_file_is(monkeypatch: pytest.MonkeyPatch) -> None:
    data = (REPORT / "azure-graph-backup-jobs.json").read_bytes()
    status, out, err = run_cli(["report", "--format", "json"], data, monkeypatch)
    assert status == EXIT_OK and err == ""
    assert counts(json.loads(out)) == {"azure.vm.agent-unreachable": 1, "azure.postgres.vault-msi-reader": 1}


def test_unclassified_failures_are_grouped_by_their_message_without_the_ids(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    jobs = [_job(f"job-{n}", now) | {"StatusMessage": f"Frobnication of 'vol-{n}' failed after {n} tries in "
                                                      f"arn:aws:ec2:eu-west-1:123456789012:volume/vol-0{n}"}
            for n in range(5)]
    jobs.append(_job("other", now) | {"StatusMessage": "Something else entirely"})
    listed = tmp_path / "jobs.json"
    listed.write_text(json.dumps({"BackupJobs": jobs}))
    summary = report_json(str(listed))
    assert summary["unclassified"] == 6 and summary["explained"] == 0
    assert [m["count"] for m in summary["unclassified_messages"]] == [5, 1]
    assert summary["unclassified_messages"][0]["message"].startswith("Frobnication of 'vol-0' failed")


def test_a_file_that_cannot_be_read_costs_only_itself(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = report("--format", "json", str(tmp_path / "missing.json"), str(ALL_KINDS[2]))
    assert status == EXIT_BAD_INPUT
    assert json.loads(out)["failed"] == 1
    assert f"{tmp_path / 'missing.json'}: cannot read it: No such file or directory" in capsys.readouterr().err


def test_csv_cells_a_spreadsheet_would_run_are_written_as_text(tmp_path: Path) -> None:
    jobs = {"BackupJobs": [_job("formula", datetime.now(UTC)) | {"StatusMessage": "=HYPERLINK(\"https://evil\")"}]}
    listed = tmp_path / "jobs.json"
    listed.write_text(json.dumps(jobs))
    _, csv_text = report("--format", "csv", str(listed))
    row = next(csv.reader(io.StringIO(csv_text.splitlines()[1])))
    assert row[0] == "unclassified" and row[7] == "'=HYPERLINK(\"https://evil\")"
