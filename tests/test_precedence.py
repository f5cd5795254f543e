"""Codes from every form the providers write, precedence by specificity, the generic layers."""

from __future__ import annotations

import io
import json
import random
import time
from pathlib import Path

import pytest

from functions.cli import main
from shared.catalog import Catalog, default_catalog
from shared.catalog.knowledge import family_of_name
from shared.classify import Classifier
from shared.models import Failure
from shared.parse import parse_event
from shared.parse.codes import codes_in
from tests.conftest import load_event


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier()


def aws_failure(classifier: Classifier, message: str | None, job_type: str = "backup",
                resource_type: str | None = "EBS", state: str = "FAILED") -> Failure:
    event = load_event("aws/backup-job-failed.json" if job_type == "backup" else "aws/copy-job-failed.json")
    detail = event["detail"]
    detail["state"] = state
    detail.pop("statusMessage", None)
    if message is not None:
        detail["statusMessage"] = message
    if resource_type:
        detail["resourceType"] = resource_type
    return parse_event(event, classifier.catalog.codes, classifier.catalog.aws_codes)


# ------------------------------------------------------------------------------------- code forms
@pytest.mark.parametrize(("text", "code"), [
    ("An error occurred (InvalidSnapshot.NotFound) when calling the CopySnapshot operation: gone", "InvalidSnapshot.NotFound"),
    ("Snapshots can't be shared. (Service: AmazonEC2; Status Code: 400; Error Code: InvalidParameter; Request ID: 1)",
     "InvalidParameter"),
    ("스냅샷은 공유할 수 없습니다. (서비스: AmazonEC2; 상태 코드: 400; 오류 코드: InvalidParameter; 요청 ID: )", "InvalidParameter"),
    ("Client.InvalidVolume.NotFound: The volume 'vol-1' does not exist.", "InvalidVolume.NotFound"),
    ("KMSInvalidStateException: arn:aws:kms:us-east-1:111122223333:key/1 is pending deletion", "KMSInvalidStateException"),
    ("com.amazonaws.services.kms.model.DisabledException: key disabled", "DisabledException"),
    ('"{\\"code\\":\\"AuthorizationFailed\\",\\"message\\":\\"The client does not have authorization\\"}"',
     "AuthorizationFailed"),
    ("<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>", "AccessDenied"),
    ("Inner error code: ResourceGroupNotFound. Resource group not found.", "ResourceGroupNotFound"),
    ("AccessDenied: Access Denied", "AccessDenied"),
])
def test_a_code_is_found_in_every_form_providers_write(text: str, code: str) -> None:
    assert codes_in(text)[:1] == [code]


@pytest.mark.parametrize("text", ["Error: the job failed. Note: retry later.", "Status Code: 400",
                                  "arn:aws:iam::111122223333:role/Service.Role failed",
                                  "see docs.aws.amazon.com/Foo.Bar"])
def test_words_that_only_look_like_codes_are_not_codes(text: str) -> None:
    assert codes_in(text) == []


def test_a_bare_code_is_taken_only_when_the_provider_knowledge_knows_it(classifier: Classifier) -> None:
    text = "the InvalidSnapshot.NotFound error was returned"
    assert codes_in(text) == []
    assert codes_in(text, classifier.catalog.aws_codes.__contains__) == ["InvalidSnapshot.NotFound"]


def test_the_relayed_code_reaches_the_failure_in_documented_spelling(classifier: Classifier) -> None:
    failure = aws_failure(classifier, "An error occurred (invalidsnapshot.notfound) when calling the CopySnapshot "
                                      "operation: The snapshot 'snap-1' does not exist.")
    assert failure.code == "InvalidSnapshot.NotFound"


# ----------------------------------------------------------------------------------- precedence
def test_a_kms_message_that_says_the_key_cannot_be_found_is_a_kms_failure(classifier: Classifier) -> None:
    failure = aws_failure(classifier, "An error occurred (KMSKeyNotAccessibleFault) when calling the CopyDBSnapshot "
                                      "operation: The target KMS key [None] does not exist, is not enabled or you "
                                      "do not have permissions to access it.", resource_type="RDS")
    assert classifier.classify(failure).cause == "aws.kms.key-access"


@pytest.mark.parametrize(("message", "cause"), [
    ("You are not authorized to perform this operation. Encoded authorization failure message: abc",
     "aws.iam.pass-role"),
    ("UnauthorizedOperation: You are not authorized to perform this operation.\n\tstatus code: 403, request id: 1",
     "aws.iam.pass-role"),
    ("UnauthorizedOperation: You are not authorized to perform this operation. User: arn:aws:sts::111122223333:"
     "assumed-role/restore/1 is not authorized to perform: ec2:CreateTags on resource: arn:aws:ec2:us-east-1:"
     "111122223333:instance/* with an explicit deny in a service control policy. Encoded authorization failure "
     "message: abc", "aws.iam.role-permissions"),
])
def test_the_ec2_restore_guess_gives_way_to_an_action_the_message_names(classifier: Classifier, message: str,
                                                                         cause: str) -> None:
    event = load_event("aws/seed004-restore-ec2-not-authorized-encoded.json")
    event["detail"]["statusMessage"] = message
    failure = parse_event(event, classifier.catalog.codes, classifier.catalog.aws_codes)
    assert classifier.classify(failure).cause == cause


def test_the_answer_does_not_depend_on_the_order_of_the_rules() -> None:
    catalog = default_catalog()
    rules = list(catalog.rules[:len(catalog.rules) - len(catalog.knowledge.documented_rules())])
    random.Random(7).shuffle(rules)
    shuffled = Classifier(Catalog(rules))
    original = Classifier(catalog)
    for name in ("aws/seed003-copy-source-kms-key-access.json", "aws/seed004-restore-ec2-not-authorized-encoded.json",
                 "azure/seed000-pgsql-backup-usererrormsimissingpermissions.json", "aws/backup-job-expired-window.json"):
        failure = parse_event(load_event(name), catalog.codes, catalog.aws_codes)
        assert shuffled.classify(failure) == original.classify(failure), name


def test_explain_names_the_winner_first_and_what_matched(classifier: Classifier) -> None:
    failure = aws_failure(classifier, "ThrottlingException: Rate exceeded")
    explained = classifier.explain(failure)
    assert explained["candidates"][0]["rule"] == classifier.classify(failure).rule
    assert explained["candidates"][0]["evidence"]
    assert explained["codes"] == ["ThrottlingException"]


def test_a_wrapper_code_lets_the_description_decide(classifier: Classifier) -> None:
    event = load_event("azure/seed000-pgsql-backup-usererrormsimissingpermissions.json")
    event["data"]["alertContext"]["properties"] = {"errorCode": "PostgreSQLFlexOperationFailedUserError"}
    event["data"]["essentials"]["description"] = "The resource group of the server was deleted by the user."
    event["data"]["essentials"]["originAlertId"] = "1_2_postgresqlflexoperationfailedusererrorlog"
    failure = parse_event(event, classifier.catalog.codes)
    failure = failure.model_copy(update={"resource_type": "postgresql-flex", "code": None,
                                         "codes": ["PostgreSQLFlexOperationFailedUserError"]})
    finding = classifier.classify(failure)
    assert finding.cause == "azure.resource.not-found" and finding.confidence <= 0.6


# --------------------------------------------------------------------------------- last layers
@pytest.mark.parametrize(("message", "cause"), [
    ("SlowDown: Please reduce your request rate.", "aws.service.throttled"),
    ("An error occurred (AddressLimitExceeded) when calling the AllocateAddress operation: too many", "aws.quota.limit-exceeded"),
    ("An error occurred (MaxSpotInstanceCountExceeded) when calling the RunInstances operation: x", "aws.quota.limit-exceeded"),
    ("An error occurred (InvalidClusterSnapshotStateFault) when calling the CopyClusterSnapshot operation: deleting",
     "aws.resource.invalid-state"),
    ("An error occurred (InvalidParameterCombination) when calling the CreateDBSnapshot operation: bad",
     "aws.request.invalid-parameters"),
    ("RequestTimeout: request timed out, try again", "aws.service.transient"),
])
def test_an_unknown_wording_falls_back_to_its_family(classifier: Classifier, message: str, cause: str) -> None:
    finding = classifier.classify(aws_failure(classifier, message))
    assert finding.cause == cause
    assert finding.confidence <= 0.6


def test_a_family_answer_shows_what_the_provider_documents_about_the_code(classifier: Classifier) -> None:
    finding = classifier.classify(aws_failure(classifier, "An error occurred (InvalidSnapshot.NotFound) when "
                                                          "calling the CopySnapshot operation: gone"))
    assert finding.documentation and finding.documentation.startswith("InvalidSnapshot.NotFound (ec2):")


@pytest.mark.parametrize(("code", "family"), [
    ("InvalidParameterDependency", "invalid-parameter"), ("UserErrorSQLPODoesNotExist", "not-found"),
    ("KMSInvalidStateException", "kms"), ("InvalidIPAddress.InUse", "already-exists"),
    ("ResourceInUseException", "conflict"), ("SomethingUnknown", None),
])
def test_a_code_no_document_lists_gets_the_family_its_name_tells(code: str, family: str | None) -> None:
    assert family_of_name(code.removeprefix("UserError")) == family


@pytest.mark.parametrize(("state", "job_type", "cause"), [
    ("EXPIRED", "backup", "aws.backup.window-expired"),
    ("ABORTED", "backup", "aws.job.stopped-by-user"),
    ("PARTIAL", "backup", "aws.job.partial"),
])
def test_a_job_state_without_a_message_gets_its_cause_from_the_state(
        classifier: Classifier, state: str, job_type: str, cause: str) -> None:
    assert classifier.classify(aws_failure(classifier, None, job_type, state=state)).cause == cause


# -------------------------------------------------------------------------------- linear matching
def test_a_megabyte_message_is_classified_in_well_under_a_second(classifier: Classifier) -> None:
    # Not a benchmark: a bound that backtracking cannot meet. With Python's engine, 64 KB of this
    # took 20 s here (a pattern like `(encrypted|\bade\b).*key vault` rescans the rest of the
    # text from every "encrypted").
    message = "encrypted " * 100_000
    for cloud in ("aws", "azure"):
        started = time.process_time()
        classifier.classify(Failure(cloud=cloud, message=message))
        assert time.process_time() - started < 1.0


@pytest.mark.parametrize("region", ["evil.example.com/x", "us-east-1.evil.example.com#", "US-EAST-1", "../../x"])
def test_a_console_link_is_built_only_from_a_real_region_name(classifier: Classifier, region: str) -> None:
    event = load_event("aws/backup-job-failed.json")
    event["region"] = region
    assert "job" not in parse_event(event).links
    event["region"] = "eu-west-1"
    assert parse_event(event).links["job"].startswith("https://eu-west-1.console.aws.amazon.com/")


def test_the_classify_command_explains_on_request(tmp_path: Path) -> None:
    out = io.StringIO()
    path = tmp_path / "e.json"
    path.write_text(json.dumps(load_event("aws/seed003-copy-org-membership.json")))
    assert main(["classify", "--explain", str(path)], out) == 0
    line = json.loads(out.getvalue())
    assert line["explain"]["candidates"][0]["rule"] == line["rule"]
