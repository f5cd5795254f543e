"""``backup-responder respond`` on a laptop runs the Lambda's pipeline: with this machine's AWS
credentials it describes the job and decodes the authorization message through STS (the local STS
of ``conftest``, reached through ``AWS_ENDPOINT_URL_STS`` as a user would point it); without them
it says so once on standard error and goes on offline; ``--offline`` asks nothing."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from functions.cli import EXIT_OK, main
from tests.aws.conftest import (
    CENTRAL_ACCOUNT,
    HOME_ACCOUNT,
    MEMBER_ROLE,
    SEED004_DECODED,
    SEED004_EVENT,
    FakeBackup,
    FakeSts,
)
from tests.conftest import EVENTS, load_event

SEED004 = EVENTS / SEED004_EVENT
RESTORE_ROLE = "AWSBackupDefaultServiceRole"
PASS_ROLE = "arn:aws:iam::111122223333:role/AmazonSSMRoleForInstancesQuickSetup"


@pytest.fixture
def laptop(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_sts: tuple[FakeSts, str],
           fake_backup: tuple[FakeBackup, str]) -> FakeSts:
    """This machine's credentials are the home account's (conftest); STS and Backup are local."""
    sts, sts_url = fake_sts
    _, backup_url = fake_backup
    token = load_event(SEED004_EVENT)["detail"]["statusMessage"].rsplit(" ", 1)[-1]
    sts.messages[token] = (HOME_ACCOUNT, SEED004_DECODED)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BACKUP", backup_url)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.chdir(tmp_path)
    return sts


def respond(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    out = io.StringIO()
    status = main(["respond", "--dry-run", *argv], out)
    return status, out.getvalue(), capsys.readouterr().err


def status_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"cloud"')]


def decodes(sts: FakeSts) -> list[str]:
    return [call["caller_account"] for call in sts.calls if call["Action"] == "DecodeAuthorizationMessage"]


def test_seed004_on_a_laptop_gets_the_decoded_role_and_the_scoped_fix(
        laptop: FakeSts, fake_backup: tuple[FakeBackup, str], capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = respond([str(SEED004)], capsys)
    assert status == EXIT_OK and err == ""
    assert decodes(laptop) == [HOME_ACCOUNT]  # decoded in the account that produced it
    assert fake_backup[0].calls == ["/restore-jobs/4F7A2C9E-6B1D-3E8F-0A5C-7D9B2E4F6A18"]  # the job described
    assert "iam:PassRole" in out and RESTORE_ROLE in out and PASS_ROLE in out
    assert f'"Resource": "{PASS_ROLE}"' in out and "role/*" not in out  # least privilege, never role/*
    assert "SECRET-STATEMENT" not in out  # the decoded document is privileged
    (line,) = status_lines(out)
    assert line["cause"] == "aws.iam.pass-role"


def test_offline_asks_no_cloud_and_says_how_to_decode_by_hand(
        laptop: FakeSts, fake_backup: tuple[FakeBackup, str], capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = respond(["--offline", str(SEED004)], capsys)
    assert status == EXIT_OK and err == ""
    assert laptop.calls == [] and fake_backup[0].calls == []
    assert PASS_ROLE not in out
    (line,) = status_lines(out)
    assert line["cause"] == "aws.iam.pass-role"


def test_without_credentials_it_says_so_once_and_goes_on_offline(
        laptop: FakeSts, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(load_event(SEED004_EVENT)) + "\n" + json.dumps(load_event("aws/copy-job-failed.json")))
    status, out, err = respond([str(events)], capsys)
    assert status == EXIT_OK
    assert err == ("backup-responder: AWS job description and STS decoding skipped for this run: "
                   "there are no AWS credentials on this machine\n")
    assert laptop.calls == []
    assert len(status_lines(out)) == 2
    assert "aws sts decode-authorization-message" in out  # how to decode it by hand


def test_without_the_sdk_it_says_how_to_install_it(
        laptop: FakeSts, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # as on a machine without the aws extra
    status, out, err = respond([str(SEED004)], capsys)
    assert status == EXIT_OK and laptop.calls == []
    assert "pip install 'backup-responder[aws]'" in err and err.count("\n") == 1
    assert status_lines(out)[0]["cause"] == "aws.iam.pass-role"


def test_another_accounts_message_is_decoded_there_through_the_member_role(
        laptop: FakeSts, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    laptop.home_account = CENTRAL_ACCOUNT  # this machine's credentials are the central account's
    status, out, _ = respond([str(SEED004)], capsys)
    assert status == EXIT_OK and decodes(laptop) == []
    assert "set MEMBER_ROLE_NAME" in out  # why it was not decoded, and how it would be
    monkeypatch.setenv("MEMBER_ROLE_NAME", MEMBER_ROLE)
    laptop.assumable.add(f"arn:aws:iam::{HOME_ACCOUNT}:role/{MEMBER_ROLE}")
    status, out, _ = respond([str(SEED004)], capsys)
    assert status == EXIT_OK and decodes(laptop) == [HOME_ACCOUNT]
    assert PASS_ROLE in out
