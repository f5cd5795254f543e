"""The StateStore contract (tests/support/state_contract.py) and the idempotency contract
(tests/support/idempotency_contract.py), run against every state store: the memory store, SQLite,
DynamoDB (moto) and Table storage (Azurite, started once per session)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from shared.state import MemoryStore
from tests.support.clock import FakeClock
from tests.support.idempotency_contract import IdempotencyContract
from tests.support.state_contract import StateStoreContract, StoreUnderTest


@contextmanager
def memory(clock: FakeClock, request: pytest.FixtureRequest) -> Iterator[StoreUnderTest]:
    state = MemoryStore(clock)
    yield StoreUnderTest(state, clock, peer=lambda: state)


@contextmanager
def sqlite(clock: FakeClock, request: pytest.FixtureRequest) -> Iterator[StoreUnderTest]:
    from shared.state_sqlite import SqliteStore

    path: Path = request.getfixturevalue("tmp_path") / "state.sqlite"
    # each peer its own connection, as each process has
    yield StoreUnderTest(SqliteStore(path, clock), clock, peer=lambda: SqliteStore(path, clock))


#: The item writes of moto's DynamoDB, which DynamoDB makes atomic and moto does not (two threads
#: updating one item can both read its old value): one at a time here, so that the concurrency
#: tests test the store's requests (one conditional write or one ADD, never a read then a write).
_ITEM_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")


def _atomic_item_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.Lock()
    for name in _ITEM_WRITES:
        write = getattr(DynamoDBBackend, name)

        def one_at_a_time(*args: Any, _write: Any = write, **kwargs: Any) -> Any:
            with lock:
                return _write(*args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, one_at_a_time)


@contextmanager
def dynamodb(clock: FakeClock, request: pytest.FixtureRequest) -> Iterator[StoreUnderTest]:
    import boto3
    from moto import mock_aws

    from functions.aws.state import DynamoStore
    from tests.support.dynamodb import TABLE, create_table

    _atomic_item_writes(request.getfixturevalue("monkeypatch"))
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-west-2")
        create_table(client)
        state = DynamoStore(TABLE, client, clock=clock)
        yield StoreUnderTest(state, clock, peer=lambda: state)  # boto3 clients are shared across threads


@contextmanager
def table_storage(clock: FakeClock, request: pytest.FixtureRequest) -> Iterator[StoreUnderTest]:
    from functions.azure.state import TableStore

    azurite = request.getfixturevalue("azurite")
    name = azurite.table().table_name  # a fresh table per test
    # each peer its own client, as each Functions worker has
    yield StoreUnderTest(TableStore(azurite.table(name), clock), clock,
                         peer=lambda: TableStore(azurite.table(name), clock))


STORES: dict[str, Callable[[FakeClock, pytest.FixtureRequest], AbstractContextManager[StoreUnderTest]]] = {
    "memory": memory, "sqlite": sqlite, "dynamodb": dynamodb, "table-storage": table_storage,
}


@pytest.fixture(params=list(STORES))
def store(request: pytest.FixtureRequest) -> Iterator[StoreUnderTest]:
    with STORES[request.param](FakeClock(), request) as under_test:
        yield under_test


class TestStateStore(StateStoreContract):
    pass


class TestIdempotency(IdempotencyContract):
    pass
