"""``backup-responder respond`` on a laptop reads Azure Resource Manager as the Function does
(``AzureBackupEnricher.from_env``), with this machine's credentials: here a test credential (the one
thing a laptop would get from ``az login``) and the ARM stand-in, reached through
``RESPONDER_ARM_ENDPOINT`` and trusted through ``REQUESTS_CA_BUNDLE``. Without credentials it says
so once on standard error and goes on offline."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import functions.local as local
from functions.cli import EXIT_OK, main
from tests.azure.servers import ARM_RECORDINGS, ArmServer, FakeCredential
from tests.azure.test_end_to_end import BV_PRINCIPAL, MSI, SERVER
from tests.conftest import EVENTS, load_event


def respond(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    out = io.StringIO()
    status = main(["respond", "--dry-run", *argv], out)
    return status, out.getvalue(), capsys.readouterr().err


@pytest.fixture
def laptop(monkeypatch: pytest.MonkeyPatch, clean_env: None, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_the_vault_identity_is_read_from_arm_with_this_machines_credentials(
        laptop: None, arm: ArmServer, tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    arm.load(*(p.stem for p in ARM_RECORDINGS.glob("*.json")))
    monkeypatch.setattr(local, "azure_credential", lambda: FakeCredential("laptop-token"))
    monkeypatch.setenv("RESPONDER_ARM_ENDPOINT", arm.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_files[0]))
    status, out, err = respond([str(EVENTS / MSI)], capsys)
    assert status == EXIT_OK and err == ""
    assert arm.gets()  # Resource Manager was read
    assert BV_PRINCIPAL in out and SERVER in out  # the vault's real identity and the server's scope
    status, offline, _ = respond(["--offline", str(EVENTS / MSI)], capsys)
    assert BV_PRINCIPAL not in offline


def test_without_azure_credentials_it_says_so_once_and_goes_on(
        laptop: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no az, pwsh or azd to ask
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(load_event(MSI)) + "\n" + json.dumps(load_event(MSI)) + "\n")
    status, out, err = respond([str(events)], capsys)
    assert status == EXIT_OK
    assert err == ("backup-responder: Azure Resource Manager reads skipped for this run: "
                   "there are no Azure credentials on this machine\n")
    assert sum(1 for line in out.splitlines() if line.startswith('{"cloud": "azure"')) == 2
