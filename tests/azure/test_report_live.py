"""``backup-responder report`` with no PATH reads Azure Backup's failed jobs live through Azure Resource
Graph: one query over both vault kinds, page after page (``$skipToken``), with this machine's
credential (here a test one) against a Resource Graph stand-in on 127.0.0.1 that answers the
recorded pages of tests/events/report/resource-graph-page-*.json."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import functions.local as local
from functions.cli import EXIT_OK, main
from tests.azure.servers import ArmServer, FakeCredential, ResourceGraph


@pytest.fixture
def graph(arm: ArmServer, tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> ResourceGraph:
    api = ResourceGraph("laptop-token")
    arm.apis.append(api)
    monkeypatch.setattr(local, "azure_credential", lambda: FakeCredential("laptop-token"))
    monkeypatch.setenv("RESPONDER_ARM_ENDPOINT", arm.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_files[0]))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return api


def test_the_failed_jobs_of_every_page_are_reported_by_cause(graph: ResourceGraph,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    status = main(["report", "--format", "json", "--since", "2026-11-01"], out)
    assert status == EXIT_OK
    summary = json.loads(out.getvalue())
    assert {c["cause"]: c["count"] for c in summary["causes"]} == {
        "azure.vm.agent-unreachable": 1, "azure.postgres.vault-msi-reader": 1}
    assert len(graph.queries) == 2
    query = graph.queries[0]["query"]
    assert "microsoft.recoveryservices/vaults/backupjobs" in query
    assert "microsoft.dataprotection/backupvaults/backupjobs" in query
    assert "datetime(2026-11-01T00:00:00+00:00)" in query
    err = capsys.readouterr().err
    assert "AWS skipped" in err and "Azure Resource Graph: 2 failed jobs read" in err
