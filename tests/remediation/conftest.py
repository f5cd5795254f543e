"""Helpers for the remediation tests: outcomes from the real fixtures through the real pipeline
(with a stand-in for the STS decoder and for enrichment where the tests need their facts), a
client provider that hands out moto or Stubber clients per service and account, an engine on the
fake clock."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from shared.models import Failure, Outcome
from shared.pipeline import Pipeline
from shared.remediation.config import RemediationConfig, parse_remediation
from shared.remediation.engine import RemediationEngine
from shared.state import MemoryStore
from tests.conftest import load_event
from tests.support.clock import FakeClock

SOURCE = "111122223333"
DESTINATION = "444455556666"
REGION = "us-west-2"
SUBSCRIPTION = "11112222-bbbb-3333-cccc-4444dddd5555"
VAULT_PRINCIPAL = "a8b24f84-f43c-45b3-aa54-e3f6d54d31a6"

SEED003_KMS = "aws/seed003-copy-source-kms-key-access.json"
SEED003_VAULT = "aws/seed003-copy-vault-access-denied.json"
SEED004 = "aws/seed004-restore-ec2-not-authorized-encoded.json"
SEED000_READER = "azure/seed000-pgsql-backup-usererrormsimissingpermissions.json"
SEED000_CONTAINER = "azure/seed000-pgsql-restore-usererrorcontainernotaccessible.json"
SEED000_NETWORK = "azure/seed000-pgsql-backup-usererrormissingnetworksecuritypermissions.json"

#: The decoded form of seed 004's message, as the re:Post article documents it (the fixture's
#: token is synthetic, so a stand-in decoder returns this document).
SEED004_DECODED: dict[str, Any] = {
    "allowed": False,
    "explicitDeny": False,
    "matchedStatements": {"items": []},
    "failures": {"items": []},
    "context": {
        "principal": {
            "id": "AROAAAAAAAAAA:AWSBackup-AWSBackupDefaultServiceRole",
            "arn": f"arn:aws:sts::{SOURCE}:assumed-role/AWSBackupDefaultServiceRole/AWSBackup-AWSBackupDefaultServiceRole",
        },
        "action": "iam:PassRole",
        "resource": f"arn:aws:iam::{SOURCE}:role/AmazonSSMRoleForInstancesQuickSetup",
        "conditions": {"items": [{"key": "iam:PassedToService",
                                  "values": {"items": [{"value": "ec2.amazonaws.com"}]}}]},
    },
}


class StaticDecoder:
    """Stands in for STS DecodeAuthorizationMessage."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.calls = 0

    def decode(self, failure: Failure) -> str:
        self.calls += 1
        return json.dumps(self.document)


@dataclass
class FactsEnricher:
    """Stands in for enrichment: adds the facts the real enrichers read from the provider."""

    facts: dict[str, str]
    name: str = "add the enriched facts"

    def enrich(self, failure: Failure) -> Failure:
        return failure.model_copy(update={"facts": {**failure.facts, **self.facts}})


def pipeline(decoded: Mapping[str, Any] | None = None, facts: Mapping[str, str] | None = None) -> Pipeline:
    return Pipeline(enrichers=[FactsEnricher(dict(facts))] if facts else (),
                    decoder=StaticDecoder(decoded) if decoded is not None else None)


def outcome_of(name: str, decoded: Mapping[str, Any] | None = None,
               facts: Mapping[str, str] | None = None) -> Outcome:
    """A fixture event through the real pipeline (parse, enrich, decode, classify, plan)."""
    return pipeline(decoded, facts).process(load_event(name))


def config(**data: Any) -> RemediationConfig:
    return parse_remediation(data)


@dataclass
class Clients:
    """A ``ClientProvider``: ``(service, account)`` or ``service`` → client; every call recorded."""

    by_key: dict[tuple[str, str | None], Any] = field(default_factory=dict)
    calls: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    def add(self, service: str, client: Any, account: str | None = None) -> Clients:
        self.by_key[(service, account)] = client
        return self

    def client(self, service: str, account_id: str | None = None, region: str | None = None) -> Any:
        self.calls.append((service, account_id, region))
        client = self.by_key.get((service, account_id)) or self.by_key.get((service, None))
        if client is None:
            raise AssertionError(f"no {service} client for account {account_id}")
        return client


class RecoveryPointUnreadable:
    """AWS Backup refusing DescribeRecoveryPoint to the remediator (the copy events name their
    recovery point): the KMS fix then works on the key that enrichment found (``kms_key_arn``)."""

    def describe_recovery_point(self, **params: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}},
                          "DescribeRecoveryPoint")


def aws_client(service: str, region: str = REGION) -> Any:
    """A real boto3 client (moto answers when ``mock_aws`` is active; Stubber otherwise)."""
    return boto3.client(service, region_name=region, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def organizations_cannot_be_asked(account: str = DESTINATION) -> Any:
    """AWS Organizations as a member account sees it: DescribeAccount is refused (only the management
    account or a delegated administrator may call it)."""
    client = aws_client("organizations", "us-east-1")
    stub = Stubber(client)
    stub.add_client_error("describe_account", "AccessDeniedException", "You don't have permissions to access this "
                          "resource.", expected_params={"AccountId": account})
    stub.activate()
    return client


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in the source account, with fake credentials and no real endpoint reachable."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION,
                        "MOTO_ACCOUNT_ID": SOURCE}.items():
        monkeypatch.setenv(name, value)
    yield


def engine(cfg: RemediationConfig, switch: str = "on", remediators: Any = (), state: MemoryStore | None = None,
           clock: FakeClock | None = None) -> RemediationEngine:
    clock = clock or FakeClock()
    return RemediationEngine(config=cfg, switch=switch,  # type: ignore[arg-type]
                             state=state or MemoryStore(clock=clock), remediators=remediators,
                             clock=clock, sleep=lambda _: None)
