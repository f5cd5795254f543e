"""TableStore against Azurite: the StateStore protocol, TTLs, and atomicity under concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from functions.azure.state import TableStore
from shared.state import StateStore
from tests.azure.conftest import Azurite
from tests.support.idempotency_contract import Clock as ContractClock
from tests.support.idempotency_contract import IdempotencyContract

ALERT_KEY = ("azure-alert:/subscriptions/11112222-bbbb-3333-cccc-4444dddd5555/providers/"
             "microsoft.alertsmanagement/alerts/efb68fef-d19a-e3e8-e5df-28fb36d4e020:fired")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_is_a_state_store(table_store: TableStore) -> None:
    store: StateStore = table_store  # mypy checks the protocol; the run checks it is usable as one
    assert store.get("nothing") is None


def test_put_get_delete_round_trip_with_keys_table_storage_forbids(table_store: TableStore) -> None:
    item = {"status": "done", "count": 3, "nested": {"ids": ["a", "b"]}, "text": "한국어 日本語"}
    table_store.put(ALERT_KEY, item)
    assert table_store.get(ALERT_KEY) == item
    table_store.put("a#b?c\\d/e", {"x": 1})
    assert table_store.get("a#b?c\\d/e") == {"x": 1}
    table_store.delete(ALERT_KEY)
    assert table_store.get(ALERT_KEY) is None
    table_store.delete(ALERT_KEY)  # deleting what is gone is fine


def test_put_replaces_the_whole_item(table_store: TableStore) -> None:
    table_store.put("k", {"a": 1, "b": 2})
    table_store.put("k", {"a": 5})
    assert table_store.get("k") == {"a": 5}


def test_add_only_when_absent(table_store: TableStore) -> None:
    assert table_store.add("k", {"owner": "first"}) is True
    assert table_store.add("k", {"owner": "second"}) is False
    assert table_store.get("k") == {"owner": "first"}


def test_ttl_expires_items_and_add_takes_over_an_expired_one(azurite: Azurite) -> None:
    clock = Clock()
    store = TableStore(azurite.table(), clock=clock)
    store.put("p", {"v": 1}, ttl_seconds=60)
    assert store.add("a", {"owner": "first"}, ttl_seconds=60) is True
    clock.now += 59
    assert store.get("p") == {"v": 1}
    assert store.add("a", {"owner": "second"}, ttl_seconds=60) is False
    clock.now += 2
    assert store.get("p") is None
    assert store.add("a", {"owner": "second"}, ttl_seconds=60) is True
    assert store.get("a") == {"owner": "second"}


def test_increment_creates_counts_and_keeps_the_window(azurite: Azurite) -> None:
    clock = Clock()
    store = TableStore(azurite.table(), clock=clock)
    assert store.increment("c", "n", ttl_seconds=100) == 1
    assert store.increment("c", "n", 4, ttl_seconds=100) == 5
    assert store.increment("c", "other") == 1
    assert store.get("c") == {"n": 5, "other": 1}
    clock.now += 50  # a live counter keeps its original expiry: another increment does not extend it
    assert store.increment("c", "n", ttl_seconds=100) == 6
    clock.now += 51
    assert store.get("c") is None
    assert store.increment("c", "n", ttl_seconds=100) == 1


def test_concurrent_increments_lose_no_update(azurite: Azurite) -> None:
    """Many writers on one counter: the ETag-conditioned replace retries the losers."""
    table = azurite.table()
    stores = [TableStore(azurite.table(table.table_name)) for _ in range(6)]
    stores[0].put("hot", {})
    per_writer = 8

    def work(store: TableStore) -> None:
        for _ in range(per_writer):
            store.increment("hot", "n")

    with ThreadPoolExecutor(len(stores)) as pool:
        list(pool.map(work, stores))
    assert stores[0].get("hot") == {"n": len(stores) * per_writer}


def test_concurrent_add_has_exactly_one_winner(azurite: Azurite) -> None:
    table = azurite.table()
    stores = [TableStore(azurite.table(table.table_name)) for _ in range(8)]
    stores[0].put("warm-up", {})
    barrier = threading.Barrier(len(stores))

    def claim(index: int) -> bool:
        barrier.wait()
        return stores[index].add("claim", {"owner": index}, ttl_seconds=60)

    with ThreadPoolExecutor(len(stores)) as pool:
        results = list(pool.map(claim, range(len(stores))))
    assert results.count(True) == 1
    winner = results.index(True)
    assert stores[0].get("claim") == {"owner": winner}


def test_from_env_prefers_the_connection_settings(azurite: Azurite) -> None:
    store = TableStore.from_env({"AzureWebJobsStorage": azurite.connection_string,
                                 "RESPONDER_TABLE_NAME": "fromenv"})
    store.put("k", {"v": 1})
    assert TableStore.from_env({"RESPONDER_TABLE_CONNECTION": azurite.connection_string,
                                "RESPONDER_TABLE_NAME": "fromenv"}).get("k") == {"v": 1}


def test_from_env_without_storage_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="RESPONDER_TABLE_ENDPOINT"):
        TableStore.from_env({})


def test_a_table_scoped_role_that_cannot_create_tables_is_not_an_error() -> None:
    """infra/azure grants Storage Table Data Contributor on the table only: creating it is 403."""
    from azure.core.exceptions import HttpResponseError

    class Table:
        def create_table(self) -> None:
            error = HttpResponseError("This request is not authorized to perform this operation.")
            error.status_code = 403
            raise error

        def get_entity(self, partition_key: str, row_key: str) -> None:
            from azure.core.exceptions import ResourceNotFoundError
            raise ResourceNotFoundError("not found")

    assert TableStore(Table()).get("k") is None  # type: ignore[arg-type]


class TestTableIdempotency(IdempotencyContract):
    """The idempotency contract (tests/support) on Table storage (Azurite): claims are inserts."""

    @pytest.fixture
    def store(self, azurite: Azurite) -> tuple[StateStore, ContractClock]:
        clock = ContractClock()
        self.azurite = azurite
        return TableStore(azurite.table(), clock), clock

    def peer(self, state: StateStore, clock: ContractClock) -> StateStore:
        assert isinstance(state, TableStore)
        return TableStore(self.azurite.table(state._table.table_name), clock)
