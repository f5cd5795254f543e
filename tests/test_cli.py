"""The command line as the contract describes it, driven as a user would."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from functions.cli import InputError, main, read_items
from shared.untrusted import MAX_ERROR_CHARS
from tests.conftest import EVENTS, event_paths
from tests.support.cli import run_cli

CONTRACT_KEYS = {"cloud", "job_type", "cause", "code", "rule", "confidence", "title"}


def run(argv: list[str], stdin: str | None = None, monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, list[dict]]:
    if stdin is not None and monkeypatch is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out = io.StringIO()
    status = main(argv, out)
    return status, [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def all_events() -> list[Path]:
    return event_paths("aws") + event_paths("azure")


def test_classify_prints_one_line_per_event_in_input_order(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = all_events()
    assert len(paths) >= 10
    events = [json.loads(p.read_text()) for p in paths]
    status, lines = run(["classify", "-"], json.dumps(events), monkeypatch)
    assert status == 0
    assert len(lines) == len(events)
    for path, event, line in zip(paths, events, lines, strict=True):
        assert line.keys() >= CONTRACT_KEYS, path.name
        assert line["cloud"] == ("aws" if "source" in event else "azure"), path.name
        assert line["job_type"] in ("backup", "copy", "restore", None)
        assert 0 <= line["confidence"] <= 1
        assert "\n" not in line["title"] and line["title"]


def test_classify_reads_json_lines_and_a_single_event(tmp_path: Path) -> None:
    paths = all_events()[:3]
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text("\n".join(json.dumps(json.loads(p.read_text())) for p in paths) + "\n")
    status, lines = run(["classify", str(jsonl)])
    assert status == 0 and len(lines) == 3
    status, single = run(["classify", str(paths[0])])
    assert status == 0 and single == lines[:1]


def test_bad_items_get_a_reason_and_exit_2_while_the_rest_are_classified(monkeypatch: pytest.MonkeyPatch) -> None:
    good = json.dumps(json.loads(all_events()[0].read_text()))
    text = "\n".join([
        good,
        '{"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}',
        '{"schemaId": "Microsoft.Insights/activityLogs", "data": {}}',
        '{"detail-type": "Copy Job State Change", "source": "aws.backup", "detail": ',  # truncated
        "42",
        good,
    ])
    status, lines = run(["classify", "-"], text, monkeypatch)
    assert status == 2
    assert [("error" in line) for line in lines] == [False, True, True, True, True, False]
    assert "aws.ec2" in lines[1]["error"] and "aws.backup" in lines[1]["error"]
    assert "common alert schema" in lines[2]["error"]
    assert "invalid JSON" in lines[3]["error"]
    assert "JSON object" in lines[4]["error"]
    assert lines[0] == lines[5]


def test_a_truncated_pretty_printed_event_is_one_error_not_many() -> None:
    text = json.dumps(json.loads(all_events()[0].read_text()), indent=2)
    items = list(read_items(text[: len(text) // 2]))
    assert len(items) == 1 and isinstance(items[0], InputError)


def test_the_bad_fixtures_all_get_an_error() -> None:
    bad = sorted(p for p in (EVENTS / "bad").iterdir() if p.suffix in (".json", ".jsonl"))
    assert len(bad) >= 5
    for path in bad:
        status, lines = run(["classify", str(path)])
        assert status == 2, path.name
        if path.stem.startswith("mixed"):  # good, bad, good: the good ones are still classified
            assert [("error" in line) for line in lines] == [False, True, False], path.name
        else:
            assert lines and all("error" in line for line in lines), path.name


def test_unclassified_is_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    event = json.loads(all_events()[0].read_text())
    if "detail" in event:
        event["detail"]["statusMessage"] = "A brand-new failure nobody has documented yet"
        event["detail"]["state" if "state" in event["detail"] else "status"] = "FAILED"
    status, lines = run(["classify", "-"], json.dumps(event), monkeypatch)
    assert status == 0
    assert lines[0]["cause"] == "unclassified" and lines[0]["rule"] is None


def test_demo_prints_messages_and_fills_the_outbox(tmp_path: Path) -> None:
    out = io.StringIO()
    assert main(["demo", "--outbox", str(tmp_path / "outbox")], out) == 0
    written = sorted((tmp_path / "outbox").glob("*.json"))
    assert len(written) >= 10
    text = out.getvalue()
    assert "iam:PassRole" in text and "UserErrorMSIMissingPermissions" in text
    documents = [json.loads(p.read_text()) for p in written]
    assert all(doc["classification"]["cause"] != "unclassified" for doc in documents)


def test_respond_dry_run_prints_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPONDER_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    assert main(["respond", "--dry-run", str(all_events()[0])], out) == 0
    assert "cause aws.job.stopped-by-user" in out.getvalue()
    assert not (tmp_path / "outbox").exists()


def test_the_console_script_is_installed() -> None:
    script = shutil.which("backup-responder", path=str(Path(sys.executable).parent))
    assert script, "the package must install the backup-responder console script"
    done = subprocess.run([script, "classify", str(all_events()[0])], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[0]).keys() >= CONTRACT_KEYS


# ---------------------------------------------------------------------------- auto-remediation
VAULT_EVENT = EVENTS / "aws" / "seed003-copy-vault-access-denied.json"
SOURCE, DESTINATION = "111122223333", "444455556666"
VAULT_ARN = f"arn:aws:backup:us-west-2:{DESTINATION}:backup-vault:central-cross-account-vault"
ALLOW_VAULT = "version: 1\nremediation:\n  allow:\n    - cause: aws.vault.access-policy\n" \
              "  approval: {slack_users: [U0123ABCD]}\n"


@pytest.fixture
def no_cloud_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A laptop without AWS or Azure credentials (and nothing that would look for them on the network)."""
    import os

    for name in list(os.environ):
        if name.startswith(("AWS_", "AZURE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no az, pwsh or azd to ask


@pytest.fixture
def remediation_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "responder.yaml"
    path.write_text(ALLOW_VAULT)
    monkeypatch.setenv("RESPONDER_CONFIG", str(path))
    monkeypatch.setenv("RESPONDER_STATE", str(tmp_path / "state.sqlite"))
    monkeypatch.delenv("RESPONDER_OUTBOX", raising=False)
    return path


def test_respond_dry_run_remediation_without_credentials_shows_the_planned_change(
        no_cloud_credentials: None, remediation_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPONDER_AUTO_REMEDIATE", "dry-run")
    out = io.StringIO()
    assert main(["respond", str(VAULT_EVENT)], out) == 0
    text = out.getvalue()
    assert "Auto-remediation: dry-run" in text
    assert "Dry run: would add backup:CopyIntoBackupVault for account 111122223333 to the access policy of " \
           "vault central-cross-account-vault" in text
    assert "could not be read (there are no AWS credentials on this machine)" in text
    assert f'+        "AWS": "arn:aws:iam::{SOURCE}:root"' in text  # the diff
    assert "Apply fix" not in text  # an approval could never reach this machine's state
    (line,) = [json.loads(x) for x in text.splitlines() if x.startswith('{"cloud"')]
    assert line["remediation"]["action"] == "planned" and line["remediation"]["mode"] == "dry-run"


def test_respond_with_the_switch_on_and_no_credentials_changes_nothing_and_says_why(
        no_cloud_credentials: None, remediation_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPONDER_AUTO_REMEDIATE", "on")
    out = io.StringIO()
    assert main(["respond", str(VAULT_EVENT)], out) == 0
    text = out.getvalue()
    assert "Not applied: add backup:CopyIntoBackupVault for account 111122223333" in text
    assert "refused because there are no AWS credentials on this machine" in text
    (line,) = [json.loads(x) for x in text.splitlines() if x.startswith('{"cloud"')]
    assert line["remediation"]["action"] == "refused" and line["remediation"]["mode"] == "on"


def test_respond_uses_the_cloud_adapter_when_credentials_are_present(
        remediation_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import functions.cli as cli
    from functions.local import local_remediators
    from shared.remediation.changes import Change
    from tests.remediation.fakes import FakeRemediator

    existing = {"Sid": "Keep", "Effect": "Deny", "Principal": "*", "Action": "backup:DeleteRecoveryPoint",
                "Resource": "*"}
    ours = {"Sid": "BackupResponderCopyFrom" + SOURCE, "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{SOURCE}:root"},
            "Action": "backup:CopyIntoBackupVault", "Resource": "*"}
    change = Change(kind="vault-access-policy", cloud="aws", account=DESTINATION, region="us-west-2", target=VAULT_ARN,
                    summary="add backup:CopyIntoBackupVault for account 111122223333 to the access policy",
                    done="added backup:CopyIntoBackupVault for account 111122223333 to the access policy",
                    before={"Version": "2012-10-17", "Statement": [existing]},
                    after={"Version": "2012-10-17", "Statement": [existing, ours]})
    cloud = FakeRemediator(change=change)
    monkeypatch.setattr(cli, "local_remediators", lambda: local_remediators(aws=lambda: cloud))
    monkeypatch.setenv("RESPONDER_AUTO_REMEDIATE", "on")
    out = io.StringIO()
    assert main(["respond", str(VAULT_EVENT)], out) == 0
    assert "Applied: added backup:CopyIntoBackupVault for account 111122223333" in out.getvalue()
    assert cloud.applied == [change]
    # --dry-run sends nothing and changes nothing: the switch is capped at dry-run
    cloud.applied.clear()
    out = io.StringIO()
    assert main(["respond", "--dry-run", str(VAULT_EVENT)], out) == 0
    assert "capped by --dry-run" in out.getvalue() and "Dry run: would add" in out.getvalue()
    assert cloud.applied == []


def test_respond_without_the_switch_runs_no_remediation(remediation_config: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import functions.cli as cli

    monkeypatch.setenv("RESPONDER_AUTO_REMEDIATE", "off")
    monkeypatch.setattr(cli, "local_remediators", lambda: pytest.fail("no adapter is set up when it is off"))
    out = io.StringIO()
    assert main(["respond", "--dry-run", str(VAULT_EVENT)], out) == 0
    assert "Remediation:" not in out.getvalue() and '"remediation"' not in out.getvalue()


def test_the_lazy_adapter_falls_back_to_the_plan_when_it_cannot_read() -> None:
    from functions.local import LazyRemediator
    from shared.remediation.changes import RemediationRefused
    from shared.remediation.offline import AWS_KINDS, OFFLINE_PARAM
    from tests.remediation.conftest import SEED003_VAULT, outcome_of
    from tests.remediation.fakes import FakeRemediator

    denied = FakeRemediator(plan_error=RuntimeError("AccessDenied"))
    lazy = LazyRemediator(AWS_KINDS, lambda: denied)
    change = lazy.plan_change(outcome_of(SEED003_VAULT))
    assert change.params[OFFLINE_PARAM] == "the credentials on this machine could not read it (RuntimeError)"
    with pytest.raises(RemediationRefused):
        lazy.apply(change)  # never applied, whatever the adapter could do
    assert denied.applied == [] and lazy.verify(change) is False
    refusing = LazyRemediator(AWS_KINDS, lambda: FakeRemediator(plan_error=RemediationRefused("a guardrail")))
    with pytest.raises(RemediationRefused, match="a guardrail"):  # a refusal is never turned into a plan
        refusing.plan_change(outcome_of(SEED003_VAULT))


def test_connecting_without_credentials_is_unavailable_and_looks_nowhere(no_cloud_credentials: None) -> None:
    from functions.local import NO_AWS, NO_AZURE, Unavailable, connect_aws, connect_azure

    with pytest.raises(Unavailable) as aws:
        connect_aws()
    assert aws.value.reason == NO_AWS
    with pytest.raises(Unavailable) as azure:
        connect_azure()
    assert azure.value.reason == NO_AZURE


def test_connecting_with_aws_credentials_acts_in_their_account(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import mock_aws

    from functions.aws.remediate import AwsRemediator
    from functions.local import connect_aws

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-west-2", "MOTO_ACCOUNT_ID": DESTINATION,
                        "REMEDIATION_ROLE_NAME": "BackupResponderRemediation"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        remediator = connect_aws()
    assert isinstance(remediator, AwsRemediator)
    assert remediator.clients.home_account == DESTINATION  # type: ignore[attr-defined]
    assert remediator.clients.member_role_name == "BackupResponderRemediation"  # type: ignore[attr-defined]


def test_demo_shows_a_dry_run_decision_without_any_cloud_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import functions.local as adapters

    monkeypatch.setenv("RESPONDER_AUTO_REMEDIATE", "on")  # the demo never goes further than dry-run
    monkeypatch.delenv("RESPONDER_CONFIG", raising=False)
    monkeypatch.setattr(adapters, "connect_aws", lambda *a: pytest.fail("the demo calls no cloud"))
    monkeypatch.setattr(adapters, "connect_azure", lambda *a: pytest.fail("the demo calls no cloud"))
    out = io.StringIO()
    assert main(["demo", "--outbox", str(tmp_path / "outbox")], out) == 0
    assert "Dry run: would add backup:CopyIntoBackupVault" in out.getvalue()
    documents = [json.loads(p.read_text()) for p in (tmp_path / "outbox").glob("*.json")]
    decisions = [d["remediation"] for d in documents if d.get("remediation")]
    assert decisions and {d["mode"] for d in decisions} == {"dry-run"}
    assert "applied" not in {d["action"] for d in decisions}
    (vault,) = [d for d in documents if d["classification"]["cause"] == "aws.vault.access-policy"]
    blocks = json.dumps(vault["payloads"]["slack"]["json"]["blocks"])
    assert vault["remediation"]["approval_id"] in blocks and "remediation_apply" in blocks


def test_config_check_reports_the_remediation_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "remediation-aws-pass-role.yaml"
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/x")
    monkeypatch.setenv("RESPONDER_AUTO_REMEDIATE", "dry-run")
    out = io.StringIO()
    assert main(["config", "check", str(example)], out) == 0
    text = out.getvalue()
    assert "remediation allow-list" in text
    assert "  aws.iam.pass-role: accounts 111122223333 (restarts the job)" in text
    assert "approvers: 1 Slack user(s), 0 Teams user(s)" in text
    assert "auto-remediation here: dry-run" in text
    plain = Path(__file__).resolve().parents[1] / "examples" / "slack-webhook.yaml"
    out = io.StringIO()
    assert main(["config", "check", str(plain)], out) == 0
    assert "remediation: allows nothing" in out.getvalue()


HOSTILE_LINES: list[tuple[bytes, str]] = [
    (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 64 levels"),
    (b'{"source": "aws.backup", "detail-type": "Backup Job State Change", '
     b'"detail": {"state": "FAILED", "statusMessage": "Access \\ud800 denied"}}',
     "lone surrogate in the text at detail.statusMessage"),
    (b'{"source": "aws.backup", "detail-type": "Backup \xff Job State Change", "detail": {}}',
     "the input is not UTF-8: byte 0xff at line"),
    (b'{"source": "aws.backup", "detail-type": "Backup Job State Change", "detail": {"backupSizeInBytes": NaN}}',
     "NaN at detail.backupSizeInBytes is not a JSON number"),
    (b'{"source": "aws.ec2", "source": "aws.backup", "detail-type": "Backup Job State Change", "detail": {}}',
     'duplicate key "source"'),
    # repeated keys that a line read the fast way (shared.untrusted.read_plain) must also see
    (b'{"source" : "aws.ec2", "source": "aws.backup", "detail-type": "Backup Job State Change", "detail": {}}',
     'duplicate key "source"'),
    (b'{"source": "aws.backup", "detail-type": "Backup Job State Change", '
     b'"detail": {"state": "COMPLETED", "state": "FAILED"}}', 'duplicate key "state" in the object at detail'),
    (b'{"source": "aws.' + b"x" * 1_000_000 + b'"}', "(1000004 characters)"),
]


@pytest.mark.parametrize("command", [["classify"], ["respond", "--dry-run", "--offline"]], ids=" ".join)
def test_hostile_items_each_get_a_bounded_error_and_the_rest_are_handled(
        command: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    good = json.dumps(json.loads((EVENTS / "aws/copy-job-failed.json").read_text())).encode()
    data = b"\n".join([good, *(line for line, _ in HOSTILE_LINES), good]) + b"\n"
    status, output, errors = run_cli(command, data, monkeypatch)
    assert status == 2 and errors == ""
    lines = [json.loads(line) for line in output.decode("utf-8").splitlines() if line.startswith("{")]
    assert [("error" in line) for line in lines] == [False] + [True] * len(HOSTILE_LINES) + [False]
    for line, (_, reason) in zip(lines[1:], HOSTILE_LINES, strict=False):
        assert reason in line["error"] and len(line["error"]) <= MAX_ERROR_CHARS
    assert lines[0]["cause"] == lines[-1]["cause"] != "unclassified"


def test_the_console_script_never_prints_a_traceback_for_bad_input() -> None:
    script = shutil.which("backup-responder", path=str(Path(sys.executable).parent))
    assert script is not None
    data = b"\n".join(line for line, _ in HOSTILE_LINES) + b"\n"
    done = subprocess.run([script, "classify", "-"], input=data, capture_output=True, check=False)
    assert done.returncode == 2 and done.stderr == b""
    assert len(done.stdout.decode("utf-8").splitlines()) == len(HOSTILE_LINES)
