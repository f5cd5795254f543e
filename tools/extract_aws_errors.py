"""Extracts the error codes of the AWS services that AWS Backup relays into shared/catalog/aws_errors.json.

The sources are the providers' own: every error shape of the botocore service models, the Amazon EC2 API
reference (EC2 has no error shapes in botocore; see aws_ec2_error_codes.tsv), the "Common Errors" pages of
the AWS API references, and botocore's standard retry mode. The project core reads the JSON output and never
imports botocore, which is why the output is committed as data.

    .venv/bin/python tools/extract_aws_errors.py            # rewrite shared/catalog/aws_errors.json
    .venv/bin/python tools/extract_aws_errors.py --check    # exit 1 when the committed file is stale
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import botocore
import botocore.loaders
import botocore.retries.standard

ROOT: Final = Path(__file__).resolve().parent.parent
OUTPUT: Final = ROOT / "shared" / "catalog" / "aws_errors.json"
EC2_CODES: Final = Path(__file__).resolve().parent / "aws_ec2_error_codes.tsv"

# botocore model names of the services AWS Backup protects or calls, whose errors its job messages relay.
SERVICES: Final = (
    "backup", "backup-gateway",                  # AWS Backup itself; its gateway for VMware and Hyper-V
    "ebs", "s3", "s3control",                     # EBS direct APIs; S3 buckets (EC2 comes from the TSV)
    "rds", "docdb", "neptune", "dsql",            # RDS and Aurora; DocumentDB, Neptune; Aurora DSQL
    "dynamodb", "efs", "fsx", "storagegateway",
    "redshift", "redshift-serverless", "timestream-write",
    "kms", "iam", "sts", "organizations",         # keys, roles, cross-account and organization policies
    "cloudformation", "ssm",                      # CloudFormation stacks; SAP HANA on EC2 through SSM
    "resourcegroupstaggingapi",                   # resource assignment by tag
)

# The closed set of families, in the order the rules below try them.
FAMILIES: Final = (
    "kms", "throttled", "access-denied", "not-found", "already-exists", "quota",
    "invalid-state", "conflict", "transient", "unsupported", "invalid-parameter",
)

# Every error of these services is about a key, whatever its name (KMS NotFoundException: the key is gone).
SERVICE_FAMILIES: Final = {"kms": "kms"}

# Ordered rules over the code and the exception name; the first match wins. The order settles the overlaps:
# KMSInvalidStateException is kms, TooManyRequests is throttled before TooMany... is a quota,
# InvalidSnapshot.NotFound is not-found before Invalid... is a bad parameter, ConcurrentSnapshotLimitExceeded
# is a quota before Concurrent... is a conflict, and AWSOrganizationsNotInUse is a state before InUse a conflict.
NAME_RULES: Final[tuple[tuple[str, str], ...]] = (
    ("kms", r"KMS|Kms|CustomerKeyHasBeenRevoked|KeyUnavailable|InvalidKeyUsage|IncorrectKey|InvalidCiphertext"),
    ("throttled", r"Throttl|RequestLimitExceeded|SlowDown|TooManyRequests|ProvisionedThroughputExceeded"
                  r"|RateExceeded|RequestRate|PriorRequestNotComplete"),
    ("access-denied", r"AccessDenied|AccessTo\w*Denied|Unauthorized|NotAuthorized|NoAuthorization|Forbidden"
                      r"|AuthorizationError|AuthFailure|InsufficientPermission|PermissionDenied|MissingPermissions"
                      r"|InsufficientS3BucketPolicy|InvalidClientTokenId|UnrecognizedClient"
                      r"|MissingAuthenticationToken|IncompleteSignature|SignatureDoesNotMatch|OptInRequired"
                      r"|PendingVerification|^Blocked$|NotManagement|CallerIsNot|RejectedClaim"),
    ("not-found", r"NotFound|NoSuch|DoesNotExist|NotExist|\.Unknown$"),
    ("already-exists", r"AlreadyExist|Duplicate|AlreadyOwned|AlreadyInOrganization"),
    ("quota", r"LimitExceeded|QuotaExceeded|TooMany|MaximumNumberOf|MaxNumberOf|CountExceeded|Quota|LimitExceed"
              r"|^(?!Invalid)\w*Limit(Reached)?$|FreeAddresses|AvailableIPs"),
    ("invalid-state", r"InvalidState|IncorrectState|(Invalid|Incorrect)\w*(State|Status)(Fault|Exception)?$"
                      r"|NotInValidState|WrongState|Transition|NotInUse|NotReady|NotEnabled|\.Unavailable$"
                      r"|(Backups|Recovery|Backup)Unavailable|Already(Enabled|Disabled|InState|InStatus|Closed"
                      r"|Migrated)|^Feature(Enabled|Disabled)$|Disabled(Exception)?$|ActiveTier"),
    ("conflict", r"Conflict|InProgress|ConcurrentModification|Concurrent|AlreadyRunning|OperationAborted|InUse"
                 r"|DependencyViolation|Idempoten\w*Mismatch|Locked$|NotEmpty|ConditionalCheckFailed"
                 r"|TransactionCanceled|PreconditionFailed|^Stale|Modified(Exception)?$"),
    ("transient", r"InternalError|InternalFailure|InternalServer|InternalService|ServerInternal|ServiceUnavailable"
                  r"|^Unavailable$|ServiceFailure|Timeout|TimedOut|ExpiredToken|RequestExpired|RetryableError"
                  r"|Insufficient\w*Capacity|CommunicationError"),
    ("unsupported", r"Unsupported|NotSupported|DoesNotSupport|NoLongerSupported|NotAvailable|OperationNotPermitted"
                    r"|NotAllowed"),
    ("invalid-parameter", r"Validation|InvalidParameter|InvalidRequest|InvalidInput|Malformed|^Missing"
                          r"|InvalidArgument|UnknownParameter|UnknownOperation|InvalidAction|InvalidQuery"
                          r"|BadRequest|Mismatch|Incompatible|PolicyViolation|TooLarge|TooLong|SizeExceeded"),
)

# When no name rule decides, the first sentences of the documentation may.
DOC_RULES: Final[tuple[tuple[str, str], ...]] = (
    ("kms", r"\bKMS\b|Key Management Service|\bCMK\b"),
    ("throttled", r"throttl|rate (is )?(too high|exceeded)|too many requests"),
    ("access-denied", r"not (authorized|permitted to)|access (is )?denied|(don't|do not|doesn't|does not) have"
                      r" (the )?(required |sufficient |necessary )?(permission|access)|insufficient permission"
                      r"|authentication failed"),
    ("not-found", r"(does not|doesn't|did not|didn't) exist|not (be )?found|cannot be found|can't be found"
                  r"|could not find|couldn't find|no such|unknown (resource|snapshot|volume|bucket)"),
    ("already-exists", r"already exists|already (been )?(created|registered)"),
    ("quota", r"exceed\w* (the |a |your )?(\w+ ){0,3}(limit|quota)|(limit|quota) (has been |was )?(reached|exceeded)"
              r"|maximum number|reached the (limit|maximum)"),
    ("invalid-state", r"(not|isn't) in (a |an |the )?(valid|correct|appropriate|required|expected) state"
                      r"|(invalid|incorrect|wrong) state|current state"),
    ("conflict", r"conflict|in progress|already (running|being|in use)|concurrent|currently (being|in use|executing)"
                 r"|is in use|while (it's|it is) being"),
    ("transient", r"internal (server )?(error|failure)|temporar|try again later|service is unavailable"
                  r"|timed out|time ?out"),
    ("unsupported", r"not supported|unsupported|isn't supported"),
    ("invalid-parameter", r"not valid|is invalid|malformed|validation|(invalid|missing) (\w+ )?parameter"),
)

# Documentation that opens by listing several possible causes ("The following problems can cause this
# exception: You don't have permission... SSM Agent isn't running...") names no one family: its first item
# is no likelier than the others, so the name decides (SSM's InvalidInstanceId, a node not in a valid state).
LISTS_CAUSES: Final = re.compile(r"^(the following (\w+ ){0,2}can cause|.{0,60}\bone of the following\b)", re.I)

# Last, any other Invalid... name is a bad parameter; a family stays null when nothing decides.
FALLBACK_RULES: Final[tuple[tuple[str, str], ...]] = (("invalid-parameter", r"^Invalid|Invalid[A-Z]"),)

# The "Common Errors" list that every AWS API reference carries (query and JSON protocols), in our own words.
_QUERY: Final = "https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html"
_BACKUP: Final = "https://docs.aws.amazon.com/aws-backup/latest/devguide/CommonErrors.html"
_JSON: Final = "https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/common-errors.html"
COMMON_ERRORS: Final[tuple[tuple[str, int, str, str], ...]] = (
    ("AccessDeniedException", 403, "The caller does not have permission for the action; check its IAM policies.",
     _QUERY),
    ("ExpiredTokenException", 403, "The security token in the request has expired; request a new one and retry.",
     _QUERY),
    ("IncompleteSignature", 403, "The request signature does not conform to AWS standards.", _QUERY),
    ("InternalFailure", 500, "The request failed because of an internal server issue; try again later.", _QUERY),
    ("InvalidAction", 400, "The action or operation requested is not valid; check its spelling.", _BACKUP),
    ("InvalidClientTokenId", 403, "The X.509 certificate or AWS access key ID provided is not on record.", _BACKUP),
    ("InvalidParameterCombination", 400, "Parameters that must not be used together were used together.", _QUERY),
    ("InvalidParameterValue", 400, "A parameter value is not valid; check the parameter's constraints.", _QUERY),
    ("InvalidQueryParameter", 400, "The AWS query string is malformed or does not adhere to AWS standards.", _QUERY),
    ("MalformedHttpRequestException", 400,
     "The request is malformed at the HTTP level, for example a body that cannot be decompressed.", _JSON),
    ("MalformedQueryString", 400, "The query string contains a syntax error.", _QUERY),
    ("MissingAction", 400, "The request lacks the Action parameter.", _QUERY),
    ("MissingAuthenticationToken", 403, "The request must contain a valid AWS access key ID or X.509 certificate.",
     _QUERY),
    ("MissingParameter", 400, "A required parameter of the action is missing from the request.", _QUERY),
    ("NotAuthorized", 401, "The caller does not have permission for the action; check its IAM policies.", _QUERY),
    ("OptInRequired", 403, "The AWS account needs a subscription for the service; enable the service first.",
     _QUERY),
    ("RequestAbortedException", 400, "The request was aborted before a response was returned.", _JSON),
    ("RequestEntityTooLargeException", 413, "The request entity is too large.", _JSON),
    ("RequestExpired", 400, "The request reached the service more than 15 minutes after its date stamp, or its "
     "date stamp is more than 15 minutes in the future.", _QUERY),
    ("RequestTimeoutException", 408, "Reading the request timed out.", _JSON),
    ("ServiceUnavailable", 503, "The service is temporarily unavailable; try again later.", _QUERY),
    ("ThrottlingException", 400, "The request rate is too high; the SDKs retry these requests.", _QUERY),
    ("UnknownOperationException", 404, "The action or operation is not recognized.", _JSON),
    ("UnrecognizedClientException", 403, "The X.509 certificate or AWS access key ID provided is not on record.",
     _JSON),
    ("ValidationError", 400, "The input does not meet the required format or constraints.", _QUERY),
)
RETRY_SOURCE: Final = "botocore.retries.standard (the SDK's standard retry mode)"

_TAG: Final = re.compile(r"<[^>]+>")
_SPACE: Final = re.compile(r"\s+")
_SENTENCE_END: Final = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")
DOC_SENTENCES: Final = 2
DOC_CHARS: Final = 300


def plain_doc(raw: str | None) -> str | None:
    """The first sentences of a documentation string as plain text, at most DOC_CHARS characters."""
    text = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", raw or ""))).strip()
    if not text:
        return None
    text = " ".join(_SENTENCE_END.split(text)[:DOC_SENTENCES])
    if len(text) > DOC_CHARS:
        text = text[: DOC_CHARS - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return text


def family_of(code: str, exception: str | None = None, service: str | None = None,
              doc: str | None = None) -> str | None:
    """The family of an error: by its service, its code or exception name, its documentation, then a fallback."""
    if service in SERVICE_FAMILIES:
        return SERVICE_FAMILIES[service]
    for family, pattern in NAME_RULES:
        if any(re.search(pattern, name) for name in (code, exception) if name):
            return family
    if doc and not LISTS_CAUSES.match(doc):
        for family, pattern in DOC_RULES:
            if re.search(pattern, doc, re.IGNORECASE):
                return family
    for family, pattern in FALLBACK_RULES:
        if any(re.search(pattern, name) for name in (code, exception) if name):
            return family
    return None


def _entry(service: str, code: str, *, exception: str | None = None, status: int | None = None,
           sender_fault: bool | None = None, doc: str | None = None, source: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"service": service, "family": family_of(code, exception, service, doc), "doc": doc}
    optional = {"exception": exception if exception != code else None, "status": status,
                "sender_fault": sender_fault, "source": source}
    entry.update({key: value for key, value in optional.items() if value is not None})
    return entry


def botocore_errors(loader: Any, service: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every error shape of one botocore service model, by wire code."""
    model = loader.load_service_model(service, "service-2")
    for name, shape in model["shapes"].items():
        if not shape.get("exception"):
            continue
        error = shape.get("error", {})
        fault = error.get("senderFault")
        if fault is None and shape.get("fault"):
            fault = False
        code = error.get("code", name)
        yield code, _entry(service, code, exception=name, status=error.get("httpStatusCode"),
                           sender_fault=fault, doc=plain_doc(shape.get("documentation")))


def ec2_errors(path: Path = EC2_CODES) -> Iterator[tuple[str, dict[str, Any]]]:
    """The hand-picked EC2 codes of the EC2 API reference, each with its source."""
    with path.open(encoding="utf-8", newline="") as lines:
        rows = csv.DictReader((line for line in lines if not line.startswith("#")), delimiter="\t")
        for row in rows:
            code = row["code"]
            yield code, _entry("ec2", code, sender_fault=row["fault"] == "client",
                               doc=plain_doc(row["description"]), source=row["source"])


def common_errors(known: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The errors every AWS API shares, and the retryable codes of botocore no service model declares."""
    for code, status, doc, source in COMMON_ERRORS:
        yield code, _entry("common", code, status=status, sender_fault=status < 500, doc=doc, source=source)
    declared = set(known) | {code for code, *_ in COMMON_ERRORS}
    retried = retry_codes()
    for code in sorted(set(retried["throttling"]) | set(retried["transient"])):
        if code not in declared:
            yield code, _entry("common", code, source=RETRY_SOURCE)


def retry_codes() -> dict[str, list[str]]:
    """The codes botocore's standard retry mode retries: as throttling, or as transient errors."""
    standard = botocore.retries.standard
    return {"throttling": sorted(standard.ThrottledRetryableChecker._THROTTLED_ERROR_CODES),
            "transient": sorted(standard.TransientRetryableChecker._TRANSIENT_ERROR_CODES)}


def build(loader: Any = None) -> dict[str, Any]:
    """The whole data file as a dictionary."""
    loader = loader or botocore.loaders.create_loader()
    found: list[tuple[str, dict[str, Any]]] = []
    for service in SERVICES:
        found.extend(botocore_errors(loader, service))
    found.extend(ec2_errors())
    found.extend(common_errors(code for code, _ in found))
    codes: dict[str, list[dict[str, Any]]] = {}
    for code, entry in found:
        codes.setdefault(code, []).append(entry)
    for entries in codes.values():
        entries.sort(key=lambda entry: (entry["service"], entry.get("exception", "")))
    aliases = {entry["exception"]: code for code, entries in codes.items() for entry in entries
               if "exception" in entry}
    return {
        "generated_by": "tools/extract_aws_errors.py",
        "botocore_version": botocore.__version__,
        "services": sorted({entry["service"] for entries in codes.values() for entry in entries}),
        "families": list(FAMILIES),
        "sources": {
            "botocore": "botocore service models (service-2), error shapes",
            "ec2": "tools/aws_ec2_error_codes.tsv, from the Amazon EC2 API reference",
            "common": "Common Errors pages of the AWS API references; " + RETRY_SOURCE,
        },
        "retry": retry_codes(),
        "codes": dict(sorted(codes.items())),
        "aliases": dict(sorted(aliases.items())),
    }


def render(data: dict[str, Any]) -> str:
    """Stable, reviewable JSON: sorted keys, one code or alias a line."""
    lines = ["{"]
    items = sorted(data.items())
    for index, (key, value) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        if key in ("codes", "aliases"):
            lines.append(f"  {json.dumps(key)}: {{")
            members = list(value.items())
            for number, (name, member) in enumerate(members):
                tail = "," if number < len(members) - 1 else ""
                lines.append(f"    {json.dumps(name)}: {json.dumps(member, sort_keys=True, ensure_ascii=False)}{tail}")
            lines.append(f"  }}{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, sort_keys=True, ensure_ascii=False)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the file differs")
    args = parser.parse_args(argv)
    data = build()
    text = render(data)
    output: Path = args.output
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            print(f"{output} is stale: run tools/extract_aws_errors.py", file=sys.stderr)
            return 1
        return 0
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}: {len(data['codes'])} codes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
