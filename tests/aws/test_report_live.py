"""``backup-responder report`` with no PATH reads AWS Backup's job lists live: ListBackupJobs,
ListCopyJobs and ListRestoreJobs through the paginators, from ``--since`` on, in each ``--region``,
``ByAccountId`` for the organization only with ``--organization``. botocore's Stubber answers with
the documented job shapes of tests/events/report/ (dates as the SDK gives them: datetimes)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

import functions.aws.jobs as jobs
import functions.local as local
from functions.cli import EXIT_BAD_INPUT, EXIT_OK, main
from tests.aws.conftest import BACKUP, COPY, RESTORE, stubbed_backup_clients


@pytest.fixture
def no_azure(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable() -> None:
        raise local.Unavailable(local.NO_AZURE)

    monkeypatch.setattr(local, "azure_credential", unavailable)


def stubbed(monkeypatch: pytest.MonkeyPatch, regions: dict[str, Any]) -> list[Stubber]:
    """Backup clients of the Regions asked for, each answering from its stubber (``regions``: Region
    -> a function that queues the answers)."""
    stubbers: list[Stubber] = []

    def clients(asked: list[str]) -> list[Any]:
        assert asked == list(regions)
        return stubbed_backup_clients(regions, stubbers)

    monkeypatch.setattr(jobs, "backup_clients", clients)
    return stubbers


def report(*argv: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    status = main(["report", "--format", "json", *argv], out)
    return status, json.loads(out.getvalue())


def test_every_list_and_page_of_every_region_is_read_for_the_organization_since_the_date(
        monkeypatch: pytest.MonkeyPatch, no_azure: None, capsys: pytest.CaptureFixture[str]) -> None:
    since = datetime(2026, 11, 1, tzinfo=UTC)
    asked = {"ByCreatedAfter": since, "ByAccountId": "*", "MaxResults": 1000}

    def west(stub: Stubber) -> None:
        stub.add_response("list_backup_jobs", {"BackupJobs": BACKUP[:2], "NextToken": "page-2"}, asked)
        stub.add_response("list_backup_jobs", {"BackupJobs": BACKUP[2:]}, {**asked, "NextToken": "page-2"})
        stub.add_response("list_copy_jobs", {"CopyJobs": COPY}, asked)
        stub.add_response("list_restore_jobs", {"RestoreJobs": []}, asked)

    def east(stub: Stubber) -> None:
        stub.add_response("list_backup_jobs", {"BackupJobs": []}, asked)
        stub.add_response("list_copy_jobs", {"CopyJobs": []}, asked)
        stub.add_response("list_restore_jobs", {"RestoreJobs": RESTORE}, asked)

    stubbers = stubbed(monkeypatch, {"us-west-2": west, "us-east-1": east})
    status, summary = report("--since", "2026-11-01", "--organization", "--region", "us-west-2",
                             "--region", "us-east-1")
    assert status == EXIT_OK
    for stubber in stubbers:
        stubber.assert_no_pending_responses()
    assert {c["cause"]: c["count"] for c in summary["causes"]} == {
        "aws.ec2.vss": 2, "aws.kms.key-access": 2, "aws.s3.versioning-disabled": 1, "aws.restore.instance-profile": 1}
    assert summary["unclassified"] == 1 and summary["skipped"]["not_failed"] == 1
    err = capsys.readouterr().err
    assert "AWS us-west-2: 5 backup jobs read" in err and "AWS us-east-1: 1 restore jobs read" in err
    assert "Azure skipped: there are no Azure credentials on this machine" in err


def test_without_organization_only_this_account_is_asked_and_a_refusal_is_an_error_not_a_traceback(
        monkeypatch: pytest.MonkeyPatch, no_azure: None, capsys: pytest.CaptureFixture[str]) -> None:
    def region(stub: Stubber) -> None:
        stub.add_response("list_backup_jobs", {"BackupJobs": BACKUP[:1]}, {"MaxResults": ANY})
        stub.add_client_error("list_copy_jobs", "AccessDeniedException", "not authorized to perform backup:ListCopyJobs")

    stubbed(monkeypatch, {"eu-west-1": region})
    status, summary = report("--region", "eu-west-1")
    assert status == EXIT_BAD_INPUT
    assert summary["failed"] == 1 and summary["errors"] == 1
    assert "aws:eu-west-1: could not list the jobs: " in capsys.readouterr().err


def test_with_no_path_and_no_cloud_it_says_so(monkeypatch: pytest.MonkeyPatch, no_azure: None,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance metadata to ask either
    assert main(["report"], io.StringIO()) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "AWS skipped: there are no AWS credentials" in err and "no cloud could be read" in err
