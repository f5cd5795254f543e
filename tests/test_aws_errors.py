"""shared/catalog/aws_errors.json: AWS error codes from the providers' own sources, and the script that writes it."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import botocore
import pytest

from tests.support.tools import load_tool

ROOT = Path(__file__).resolve().parent.parent
DATA_FILE = ROOT / "shared" / "catalog" / "aws_errors.json"
SCRIPT = ROOT / "tools" / "extract_aws_errors.py"
EC2_TSV = ROOT / "tools" / "aws_ec2_error_codes.tsv"
FAMILIES = {"quota", "not-found", "invalid-state", "throttled", "conflict", "already-exists", "access-denied",
            "kms", "transient", "invalid-parameter", "unsupported"}
HTML_TAG = re.compile(r"<[a-zA-Z/][^>]*>|&[a-z]+;|&#\d+;")


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    with DATA_FILE.open(encoding="utf-8") as file:
        loaded: dict[str, Any] = json.load(file)
    return loaded


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_tool("extract_aws_errors")


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The script's output for the installed botocore, written into a temporary directory."""
    output = tmp_path_factory.mktemp("aws_errors") / "aws_errors.json"
    subprocess.run([sys.executable, str(SCRIPT), "--output", str(output)], check=True, capture_output=True)
    return {"text": output.read_text(encoding="utf-8"), "data": json.loads(output.read_text(encoding="utf-8"))}


def lookup(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Every entry a relayed name finds: as a wire code, or as an exception name through the aliases."""
    found = list(data["codes"].get(name, []))
    alias = data["aliases"].get(name)
    if alias:
        found += [entry for entry in data["codes"][alias] if entry.get("exception") == name]
    return found


def families_of(data: dict[str, Any], service: str) -> dict[tuple[str, str | None], str | None]:
    return {(code, entry.get("exception")): entry["family"] for code, entries in data["codes"].items()
            for entry in entries if entry["service"] == service}


# --- the committed file is the script's output ---------------------------------------------------------------

def test_the_committed_file_is_current_with_the_script(data: dict[str, Any], regenerated: dict[str, Any]) -> None:
    if data["botocore_version"] == botocore.__version__:
        assert DATA_FILE.read_text(encoding="utf-8") == regenerated["text"], "run tools/extract_aws_errors.py"
        return
    # Another botocore adds and rewords shapes; AWS Backup's own codes and every family must still agree.
    fresh = regenerated["data"]
    assert families_of(fresh, "backup") == families_of(data, "backup")
    for service in ("ec2", "common"):
        assert families_of(fresh, service) == families_of(data, service)
    for code, entries in data["codes"].items():
        for entry in entries:
            same = [e for e in fresh["codes"].get(code, []) if e["service"] == entry["service"]
                    and e.get("exception") == entry.get("exception") and e["doc"] == entry["doc"]]
            assert all(e["family"] == entry["family"] for e in same), (code, entry["service"])


def test_check_mode_fails_on_a_stale_file_and_passes_on_a_fresh_one(tmp_path: Path,
                                                                    regenerated: dict[str, Any]) -> None:
    output = tmp_path / "aws_errors.json"
    output.write_text(regenerated["text"], encoding="utf-8")
    fresh = subprocess.run([sys.executable, str(SCRIPT), "--check", "--output", str(output)], capture_output=True)
    assert fresh.returncode == 0, fresh.stderr
    output.write_text(regenerated["text"].replace('"family": "kms"', '"family": null', 1), encoding="utf-8")
    stale = subprocess.run([sys.executable, str(SCRIPT), "--check", "--output", str(output)],
                           capture_output=True, text=True)
    assert stale.returncode == 1
    assert "stale" in stale.stderr


def test_the_output_is_deterministic_and_small(regenerated: dict[str, Any], script: ModuleType) -> None:
    assert script.render(script.build()) == regenerated["text"]
    assert len(regenerated["text"].encode("utf-8")) < 1_000_000
    codes = list(regenerated["data"]["codes"])
    assert codes == sorted(codes)


# --- the data ---------------------------------------------------------------------------------------------------

def test_every_service_aws_backup_relays_is_covered(data: dict[str, Any]) -> None:
    expected = {"backup", "backup-gateway", "ec2", "ebs", "rds", "docdb", "neptune", "dynamodb", "efs", "fsx", "s3",
                "s3control", "storagegateway", "redshift", "redshift-serverless", "kms", "iam", "sts",
                "organizations", "cloudformation", "ssm", "timestream-write", "resourcegroupstaggingapi", "common"}
    present = {entry["service"] for entries in data["codes"].values() for entry in entries}
    assert expected <= present
    assert present == set(data["services"])
    assert set(data["families"]) == FAMILIES


def test_every_entry_has_a_service_a_known_family_and_plain_short_doc(data: dict[str, Any]) -> None:
    for code, entries in data["codes"].items():
        assert entries, code
        for entry in entries:
            assert entry["service"] in data["services"], code
            assert entry["family"] is None or entry["family"] in FAMILIES, (code, entry["family"])
            doc = entry["doc"]
            assert doc is None or (doc.strip() == doc and not HTML_TAG.search(doc) and "  " not in doc), code
            assert doc is None or len(doc) <= 300, code
            assert entry.get("exception") != code, "an exception name equal to the code is left out"
            assert entry.get("status") is None or 400 <= entry["status"] < 600, code


def test_a_code_occurs_once_per_service(data: dict[str, Any]) -> None:
    for code, entries in data["codes"].items():
        keys = [(entry["service"], entry.get("exception")) for entry in entries]
        assert len(keys) == len(set(keys)), code


def test_a_relayed_wire_code_or_exception_name_finds_the_same_entry(data: dict[str, Any]) -> None:
    by_code = [e for e in lookup(data, "DBInstanceNotFound") if e["service"] == "rds"]
    by_exception = [e for e in lookup(data, "DBInstanceNotFoundFault") if e["service"] == "rds"]
    assert by_code == by_exception
    assert by_code[0]["status"] == 404
    assert by_code[0]["family"] == "not-found"
    # A name can be a code in one service and an exception name in another: both are found.
    services = {e["service"] for e in lookup(data, "LimitExceededException")}
    assert {"iam", "backup", "kms"} <= services


def test_every_alias_resolves_to_an_entry_of_that_exception(data: dict[str, Any]) -> None:
    assert data["aliases"]
    for name, code in data["aliases"].items():
        assert name != code
        assert any(entry.get("exception") == name for entry in data["codes"][code]), name
    exceptions = {e["exception"] for entries in data["codes"].values() for e in entries if "exception" in e}
    assert exceptions == set(data["aliases"])


def test_the_supplementary_codes_carry_their_source(data: dict[str, Any]) -> None:
    with EC2_TSV.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader((line for line in file if not line.startswith("#")), delimiter="\t"))
    ec2 = {code: e for code, entries in data["codes"].items() for e in entries if e["service"] == "ec2"}
    assert set(ec2) == {row["code"] for row in rows}
    assert all(ec2[row["code"]]["source"] == row["source"].strip() for row in rows)
    assert all(row["source"].startswith("https://docs.aws.amazon.com/") for row in rows)
    assert all(row["fault"] in ("client", "server") for row in rows)
    common = [e for entries in data["codes"].values() for e in entries if e["service"] == "common"]
    assert common and all(e["source"] for e in common)
    botocore_entries = [e for entries in data["codes"].values() for e in entries
                        if e["service"] not in ("ec2", "common")]
    assert not any("source" in e for e in botocore_entries)


def test_the_codes_botocore_retries_are_recorded(data: dict[str, Any]) -> None:
    assert "Throttling" in data["retry"]["throttling"]
    assert "RequestTimeout" in data["retry"]["transient"]
    for code in data["retry"]["throttling"] + data["retry"]["transient"]:
        assert code in data["codes"], code


# --- families ------------------------------------------------------------------------------------------------

TRICKY = [
    # (code, service, family): real codes where the order of the table decides
    ("KMSInvalidStateException", "kms", "kms"),                  # kms before invalid-state
    ("KMSKeyNotAccessibleFault", "rds", "kms"),                  # another service's KMS error
    ("InvalidKeyUsageException", "kms", "kms"),                  # Invalid... but a key problem
    ("NotFoundException", "kms", "kms"),                         # every KMS error is about a key
    ("CustomerKeyHasBeenRevoked", "ec2", "kms"),
    ("InvalidSnapshot.NotFound", "ec2", "not-found"),            # not-found before Invalid...
    ("InvalidVolume.NotFound", "ec2", "not-found"),
    ("DBInstanceNotFound", "rds", "not-found"),
    ("NoSuchBucket", "s3", "not-found"),
    ("ResourceNotFoundException", "backup", "not-found"),
    ("InvalidDBInstanceState", "rds", "invalid-state"),          # Invalid...State before Invalid...
    ("InvalidResourceStateException", "backup", "invalid-state"),
    ("IncorrectState", "ec2", "invalid-state"),
    ("AWSOrganizationsNotInUseException", "organizations", "invalid-state"),  # NotInUse before InUse
    ("InvalidAMIID.Unavailable", "ec2", "invalid-state"),
    ("PointInTimeRecoveryUnavailableException", "dynamodb", "invalid-state"),
    ("ThrottlingException", "dynamodb", "throttled"),
    ("RequestLimitExceeded", "ec2", "throttled"),                # throttled before LimitExceeded
    ("TooManyRequestsException", "s3control", "throttled"),      # throttled before TooMany...
    ("ProvisionedThroughputExceededException", "dynamodb", "throttled"),
    ("SlowDown", "common", "throttled"),
    ("Throttling", "common", "throttled"),
    ("SnapshotLimitExceeded", "ec2", "quota"),
    ("ConcurrentSnapshotLimitExceeded", "ec2", "quota"),         # quota before Concurrent...
    ("SnapshotQuotaExceeded", "rds", "quota"),
    ("TooManyTagsException", "s3control", "quota"),
    ("LimitExceededException", "backup", "quota"),
    ("ConcurrentModificationException", "organizations", "conflict"),
    ("ResourceInUseException", "dynamodb", "conflict"),
    ("InvalidSnapshot.InUse", "ec2", "conflict"),                # InUse before Invalid...
    ("ConflictException", "backup", "conflict"),
    ("AlreadyExistsException", "backup", "already-exists"),
    ("InvalidAMIName.Duplicate", "ec2", "already-exists"),       # Duplicate before Invalid...
    ("DBSnapshotAlreadyExists", "rds", "already-exists"),
    ("EntityAlreadyExists", "iam", "already-exists"),
    ("AccessDeniedException", "common", "access-denied"),
    ("AccessDenied", "s3", "access-denied"),
    ("UnauthorizedOperation", "ec2", "access-denied"),
    ("InvalidClientTokenId", "common", "access-denied"),         # credentials before Invalid...
    ("OptInRequired", "common", "access-denied"),
    ("InternalError", "ec2", "transient"),
    ("InternalFailure", "common", "transient"),
    ("ServiceUnavailableException", "backup", "transient"),
    ("ExpiredTokenException", "sts", "transient"),
    ("InsufficientDBInstanceCapacity", "rds", "transient"),
    ("ValidationException", "backup-gateway", "invalid-parameter"),
    ("InvalidParameterValue", "ec2", "invalid-parameter"),
    ("InvalidSnapshotID.Malformed", "ec2", "invalid-parameter"),
    ("MalformedPolicyDocument", "iam", "invalid-parameter"),
    ("MissingParameterValueException", "backup", "invalid-parameter"),
    ("UnsupportedOperation", "ec2", "unsupported"),
    ("StorageTypeNotSupported", "rds", "unsupported"),
    ("DependencyFailureException", "backup", None),              # a relay of another service: not clear
]


@pytest.mark.parametrize(("code", "service", "family"), TRICKY)
def test_tricky_codes_get_the_right_family(data: dict[str, Any], code: str, service: str,
                                           family: str | None) -> None:
    entries = [entry for entry in lookup(data, code) if entry["service"] == service]
    assert entries, f"{code} is not in {service}"
    assert {entry["family"] for entry in entries} == {family}


@pytest.mark.parametrize(("code", "family"), [
    ("KMSThrottlingException", "kms"),           # kms is tried first
    ("TooManyRequests", "throttled"),
    ("TooManyBuckets", "quota"),
    ("InvalidWidget.NotFound", "not-found"),
    ("InvalidWidgetStateFault", "invalid-state"),
    ("InvalidWidgetName", "invalid-parameter"),  # the fallback for Invalid...
])
def test_the_table_order_settles_overlapping_names(script: ModuleType, code: str, family: str) -> None:
    assert script.family_of(code) == family


def test_the_documentation_decides_when_the_name_does_not(script: ModuleType) -> None:
    assert script.family_of("WidgetFault", doc="The specified widget doesn't exist.") == "not-found"
    assert script.family_of("WidgetFault", doc="You can't delete a widget while it's being copied.") == "conflict"
    assert script.family_of("WidgetFault", doc="An error occurred.") is None
    # A name rule wins over the documentation.
    assert script.family_of("WidgetNotFound", doc="The widget is in use.") == "not-found"
    # Documentation that lists several possible causes names none of them: the name decides.
    listed = "The following problems can cause this exception: You don't have permission. The widget is gone."
    assert script.family_of("InvalidWidgetId", doc=listed) == "invalid-parameter"
    assert script.family_of("WidgetFault", doc=listed) is None
    assert script.family_of("WidgetFault", doc="The request was rejected for one of the following reasons: "
                            "the widget doesn't exist.") is None


def test_documentation_becomes_short_plain_text(script: ModuleType) -> None:
    raw = "<p>The <code>Widget</code> &amp; its   parts\n are gone. Restore them. A third sentence.</p>"
    assert script.plain_doc(raw) == "The Widget & its parts are gone. Restore them."
    assert script.plain_doc("<p></p>") is None
    long = script.plain_doc("word " * 200)
    assert len(long) <= 300
    assert long.endswith("…")
