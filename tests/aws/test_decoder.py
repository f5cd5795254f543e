"""STS decoding, with botocore's Stubber (moto does not implement DecodeAuthorizationMessage): every
request and response below is validated against the real STS service model."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from functions.aws.accounts import SESSION_NAME, AccountClients
from functions.aws.decoder import StsDecoder, is_truncated
from shared.decode import DecodeError, decode_command
from shared.models import Failure
from shared.parse import parse_event
from shared.pipeline import Pipeline
from tests.aws.conftest import HOME_ACCOUNT, REGION, SEED004_DECODED
from tests.conftest import load_event

MEMBER = "444455556666"
ROLE = "BackupResponderReadOnly"


def seed004(account: str = HOME_ACCOUNT) -> Failure:
    event = load_event("aws/seed004-restore-ec2-not-authorized-encoded.json")
    event["account"] = account
    return parse_event(event)


def clients(home: str = HOME_ACCOUNT, role: str | None = ROLE) -> AccountClients:
    return AccountClients(home, role, REGION, session=boto3.session.Session(region_name=REGION))


def credentials() -> dict[str, Any]:
    return {"AccessKeyId": "ASIAMEMBERKEY0000001", "SecretAccessKey": "s", "SessionToken": "t",
            "Expiration": datetime.now(UTC) + timedelta(hours=1)}


def test_decodes_in_its_own_account_and_feeds_the_classifier() -> None:
    failure = seed004()
    c = clients()
    with Stubber(c.client("sts", HOME_ACCOUNT, REGION)) as sts:
        sts.add_response("decode_authorization_message", {"DecodedMessage": json.dumps(SEED004_DECODED)},
                         {"EncodedMessage": failure.encoded_message})
        outcome = Pipeline(decoder=StsDecoder(c)).assess(Pipeline.decode(failure, StsDecoder(c)))
        sts.assert_no_pending_responses()
    decoded = outcome.failure.decoded
    assert decoded is not None and decoded.action == "iam:PassRole" and not decoded.explicit_deny
    assert outcome.failure.facts["pass_role_arn"] == "arn:aws:iam::111122223333:role/AmazonSSMRoleForInstancesQuickSetup"
    assert outcome.finding.cause == "aws.iam.pass-role"
    assert outcome.finding.confidence >= 0.95
    # the privileged document is not kept: only principal, action, resource and condition keys
    assert "SECRET-STATEMENT" not in outcome.model_dump_json()
    assert decoded.condition_keys == ["aws:Region", "iam:PassedToService"]


def test_assumes_the_member_role_to_decode_another_accounts_message() -> None:
    failure = seed004(MEMBER)
    c = clients()
    with Stubber(c.client("sts")) as home_sts:
        home_sts.add_response("assume_role", {"Credentials": credentials()},
                              {"RoleArn": f"arn:aws:iam::{MEMBER}:role/{ROLE}", "RoleSessionName": SESSION_NAME})
        member_sts = c.client("sts", MEMBER, REGION)
        home_sts.assert_no_pending_responses()
    assert member_sts is not c.client("sts")
    with Stubber(member_sts) as stub:
        stub.add_response("decode_authorization_message", {"DecodedMessage": "{}"},
                          {"EncodedMessage": failure.encoded_message})
        assert StsDecoder(c).decode(failure) == "{}"
        stub.assert_no_pending_responses()
    assert c.client("sts", MEMBER, REGION) is member_sts  # credentials cached for the hour


def test_no_member_role_means_no_decode_in_other_accounts() -> None:
    c = clients(role=None)
    with Stubber(c.client("sts")), pytest.raises(DecodeError, match=f"account {MEMBER}.*MEMBER_ROLE_NAME"):
        StsDecoder(c).decode(seed004(MEMBER))


def test_member_role_refused() -> None:
    c = clients()
    with Stubber(c.client("sts")) as sts:
        sts.add_client_error("assume_role", "AccessDenied", "not authorized", 403)
        with pytest.raises(DecodeError, match=f"could not assume arn:aws:iam::{MEMBER}:role/{ROLE}: AccessDenied"):
            StsDecoder(c).decode(seed004(MEMBER))


@pytest.mark.parametrize(("code", "status", "says"), [
    ("InvalidAuthorizationMessageException", 400, "truncated, altered or expired"),
    ("AccessDenied", 403, "no permission to call sts:DecodeAuthorizationMessage in account 111122223333"),
    ("Throttling", 400, r"refused to decode it in account 111122223333 \(Throttling\)"),
])
def test_sts_errors_become_notes_with_the_command(code: str, status: int, says: str) -> None:
    failure = seed004()
    c = clients()
    with Stubber(c.client("sts")) as sts:
        sts.add_client_error("decode_authorization_message", code, "no", status)
        with pytest.raises(DecodeError, match=says):
            StsDecoder(c).decode(failure)
    with Stubber(c.client("sts")) as sts:
        sts.add_client_error("decode_authorization_message", code, "no", status)
        decoded = Pipeline.decode(failure, StsDecoder(c))
    assert decoded.decoded is None
    note = decoded.notes[-1]
    assert "could not be decoded" in note and decode_command(failure.encoded_message) in note
    assert "in account 111122223333" in note
    # and the pipeline goes on: the message rule still classifies it
    assert Pipeline().assess(decoded).finding.cause == "aws.iam.pass-role"


def test_a_truncated_message_is_not_sent_to_sts() -> None:
    event = load_event("aws/seed004-restore-ec2-not-authorized-encoded.json")
    event["detail"]["statusMessage"] = event["detail"]["statusMessage"][:300] + "..."
    failure = parse_event(event)
    assert failure.encoded_message and is_truncated(failure)
    c = clients()
    with Stubber(c.client("sts")) as sts:  # no response queued: any call would fail the test
        with pytest.raises(DecodeError, match="truncated"):
            StsDecoder(c).decode(failure)
        sts.assert_no_pending_responses()
    assert not is_truncated(seed004())


def test_unreachable_sts_is_a_decode_error() -> None:
    class Down(AccountClients):
        def client(self, service: str, account_id: str | None = None, region: str | None = None) -> Any:
            class Client:
                def decode_authorization_message(self, **_: Any) -> Any:
                    raise EndpointConnectionError(endpoint_url="https://sts.us-west-2.amazonaws.com")
            return Client()

    with pytest.raises(DecodeError, match="could not be reached"):
        StsDecoder(Down(HOME_ACCOUNT, ROLE, REGION)).decode(seed004())


def test_no_encoded_message() -> None:
    failure = seed004().model_copy(update={"encoded_message": None})
    with pytest.raises(DecodeError, match="no encoded"):
        StsDecoder(clients()).decode(failure)
