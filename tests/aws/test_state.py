"""The DynamoDB state store behaves exactly as the StateStore protocol (and MemoryStore) says, on moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions.aws.state import KEY_PREFIX, DynamoStore
from shared.state import MemoryStore, StateStore
from tests.support.idempotency_contract import Clock as ContractClock
from tests.support.idempotency_contract import IdempotencyContract

TABLE = "backup-responder-state"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def create_table(client: Any, name: str = TABLE) -> None:
    """The table template.yaml creates: key ``id`` (S), TTL on ``expiration``."""
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    client.update_time_to_live(TableName=name, TimeToLiveSpecification={"AttributeName": "expiration",
                                                                        "Enabled": True})


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[tuple[StateStore, Clock]]:
    clock = Clock()
    if request.param == "memory":
        yield MemoryStore(clock=clock), clock
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-west-2")
        create_table(client)
        yield DynamoStore(TABLE, client, clock=clock), clock


def test_put_get_round_trip_keeps_types(store: tuple[StateStore, Clock]) -> None:
    s, _ = store
    item = {"count": 3, "ratio": 0.5, "name": "x", "nested": {"a": [1, "b", 2.25]}, "flag": True}
    s.put("k1", item)
    assert s.get("k1") == item
    assert s.get("absent") is None


def test_put_replaces(store: tuple[StateStore, Clock]) -> None:
    s, _ = store
    s.put("k", {"a": 1})
    s.put("k", {"b": 2})
    assert s.get("k") == {"b": 2}


def test_items_expire_even_before_dynamodb_deletes_them(store: tuple[StateStore, Clock]) -> None:
    s, clock = store
    s.put("k", {"a": 1}, ttl_seconds=60)
    clock.now += 59
    assert s.get("k") == {"a": 1}
    clock.now += 1
    assert s.get("k") is None


def test_add_only_when_absent_or_expired(store: tuple[StateStore, Clock]) -> None:
    s, clock = store
    assert s.add("dedup", {"first": 1}, ttl_seconds=10) is True
    assert s.add("dedup", {"second": 2}, ttl_seconds=10) is False
    assert s.get("dedup") == {"first": 1}
    clock.now += 10
    assert s.add("dedup", {"third": 3}, ttl_seconds=10) is True
    assert s.get("dedup") == {"third": 3}


def test_add_without_ttl_never_expires(store: tuple[StateStore, Clock]) -> None:
    s, clock = store
    assert s.add("forever", {"v": 1}) is True
    clock.now += 10**9
    assert s.add("forever", {"v": 2}) is False


def test_increment_creates_adds_and_restarts_after_expiry(store: tuple[StateStore, Clock]) -> None:
    s, clock = store
    assert s.increment("storm", "n", ttl_seconds=30) == 1
    assert s.increment("storm", "n", 4, ttl_seconds=30) == 5
    clock.now += 20
    assert s.increment("storm", "n", ttl_seconds=30) == 6  # the first call's expiry holds
    clock.now += 10
    assert s.increment("storm", "n", ttl_seconds=30) == 1  # expired: a fresh counter
    assert s.get("storm") == {"n": 1}


def test_increment_keeps_other_fields(store: tuple[StateStore, Clock]) -> None:
    s, _ = store
    s.put("mapping", {"ticket": "ABC-1"})
    assert s.increment("mapping", "updates") == 1
    assert s.get("mapping") == {"ticket": "ABC-1", "updates": 1}


def test_delete(store: tuple[StateStore, Clock]) -> None:
    s, _ = store
    s.put("k", {"a": 1})
    s.delete("k")
    s.delete("never-there")
    assert s.get("k") is None


@mock_aws
def test_dynamodb_layout_shares_the_table_with_idempotency() -> None:
    client = boto3.client("dynamodb", region_name="us-west-2")
    create_table(client)
    clock = Clock()
    DynamoStore(TABLE, client, clock=clock).put("storm:aws.iam.pass-role", {"n": 2}, ttl_seconds=100)
    raw = client.scan(TableName=TABLE)["Items"]
    assert raw == [{"id": {"S": KEY_PREFIX + "storm:aws.iam.pass-role"}, "f_n": {"N": "2"},
                    "expiration": {"N": str(int(clock.now) + 100)}}]


def test_any_field_name_even_the_tables_own(store: tuple[StateStore, Clock]) -> None:
    s, clock = store
    s.put("k", {"id": "ticket-1", "expiration": 5, "pk": "x"}, ttl_seconds=60)
    assert s.increment("k", "id_count") == 1
    assert s.increment("k", "expiration", 2) == 7
    assert s.get("k") == {"id": "ticket-1", "expiration": 7, "pk": "x", "id_count": 1}
    clock.now += 60
    assert s.get("k") is None


class TestDynamoIdempotency(IdempotencyContract):
    """The idempotency contract (tests/support) on DynamoDB: claims are conditional puts."""

    @pytest.fixture
    def store(self) -> Iterator[tuple[StateStore, ContractClock]]:
        clock = ContractClock()
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-west-2")
            create_table(client)
            yield DynamoStore(TABLE, client, clock=clock), clock
