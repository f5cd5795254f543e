"""The ``StateStore`` contract (``shared/state.py``) that every store keeps, written once and run
against each of them by tests/test_state_stores.py: ``MemoryStore``, SQLite (``shared/state_sqlite.py``),
DynamoDB on moto (``functions/aws/state.py``) and Table storage on Azurite (``functions/azure/state.py``).

- ``get`` returns what ``put`` stored, with its types, under any key and any field name; ``put``
  replaces the whole item; ``delete`` removes it, and deleting what is not there is fine;
- an item with a TTL is gone once its TTL has passed (on the store's clock, before any cloud
  sweeper deletes it); one without a TTL never expires;
- ``add`` creates only when the key is absent or expired, and exactly one of many writers at the
  same time wins;
- ``increment`` starts a missing counter at 0, keeps the other fields and the first TTL, starts
  again once that has passed, and loses no update under concurrency.

Each store is a ``StoreUnderTest``: the store, the fake clock it reads, and ``peer()``: another
handle on the same data, as another process or worker opens it (the same object where a store has
no such thing). Store-specific behaviour (SQLite persisting across instances, the DynamoDB item
layout, Table storage's settings) is tested in each store's own module.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from shared.state import StateStore
from tests.support.clock import FakeClock

#: Writers at the same time, and the increments each makes (Azurite answers in milliseconds, not
#: microseconds: enough writers to collide, few enough to stay quick).
WRITERS, INCREMENTS = 6, 8
#: A key with the characters Table storage forbids in its keys, and an Azure alert id's length.
AWKWARD_KEYS = ("a#b?c\\d/e", "azure-alert:/subscriptions/11112222-bbbb-3333-cccc-4444dddd5555/providers/"
                "microsoft.alertsmanagement/alerts/efb68fef-d19a-e3e8-e5df-28fb36d4e020:fired", "ключ 鍵")


@dataclass
class StoreUnderTest:
    state: StateStore
    clock: FakeClock
    peer: Callable[[], StateStore]


class StateStoreContract:
    """The contract; the test module provides the ``store`` fixture (a ``StoreUnderTest``)."""

    def test_put_then_get_keeps_every_type(self, store: StoreUnderTest) -> None:
        item = {"count": 3, "negative": -2, "ratio": 0.5, "name": "x", "text": "한국어 日本語",
                "flag": True, "nested": {"ids": ["a", "b"], "n": [1, "b", 2.25]}}
        store.state.put("k", item)
        assert store.state.get("k") == item
        assert store.state.get("absent") is None

    def test_any_key_works(self, store: StoreUnderTest) -> None:
        for n, key in enumerate(AWKWARD_KEYS):
            store.state.put(key, {"n": n})
        assert [store.state.get(key) for key in AWKWARD_KEYS] == [{"n": n} for n in range(len(AWKWARD_KEYS))]

    def test_any_field_name_even_the_stores_own(self, store: StoreUnderTest) -> None:
        item = {"id": "ticket-1", "expiration": 5, "pk": "x", "key": "k", "item": "i", "expires": 1,
                "PartitionKey": "p", "RowKey": "r", "ExpiresAt": 2}
        store.state.put("k", item, ttl_seconds=60)
        assert store.state.get("k") == item
        assert store.state.increment("k", "expiration", 2) == 7
        store.clock.advance(60)
        assert store.state.get("k") is None  # the item's own "expiration" field is not its TTL

    def test_put_replaces_the_whole_item(self, store: StoreUnderTest) -> None:
        store.state.put("k", {"a": 1, "b": 2})
        store.state.put("k", {"a": 5})
        assert store.state.get("k") == {"a": 5}

    def test_delete_removes_and_deleting_nothing_is_fine(self, store: StoreUnderTest) -> None:
        store.state.put("k", {"a": 1})
        store.state.delete("k")
        assert store.state.get("k") is None
        store.state.delete("k")
        store.state.delete("never-there")

    def test_an_item_expires_when_its_ttl_has_passed(self, store: StoreUnderTest) -> None:
        store.state.put("k", {"a": 1}, ttl_seconds=60)
        store.clock.advance(59)
        assert store.state.get("k") == {"a": 1}
        store.clock.advance(1)
        assert store.state.get("k") is None

    def test_an_item_without_ttl_never_expires(self, store: StoreUnderTest) -> None:
        assert store.state.add("forever", {"v": 1}) is True
        store.state.put("kept", {"v": 1})
        store.clock.advance(10**9)
        assert store.state.add("forever", {"v": 2}) is False
        assert store.state.get("kept") == {"v": 1}

    def test_add_only_when_absent_or_expired(self, store: StoreUnderTest) -> None:
        assert store.state.add("k", {"owner": "first"}, ttl_seconds=10) is True
        assert store.state.add("k", {"owner": "second"}, ttl_seconds=10) is False
        assert store.state.get("k") == {"owner": "first"}
        store.clock.advance(10)
        assert store.state.add("k", {"owner": "third"}, ttl_seconds=10) is True
        assert store.state.get("k") == {"owner": "third"}

    def test_increment_starts_at_zero_and_keeps_the_other_fields(self, store: StoreUnderTest) -> None:
        assert store.state.increment("c", "n") == 1
        assert store.state.increment("c", "n", 4) == 5
        assert store.state.increment("c", "down", -1) == -1
        store.state.put("mapping", {"ticket": "ABC-1"})
        assert store.state.increment("mapping", "updates") == 1
        assert store.state.get("c") == {"n": 5, "down": -1}
        assert store.state.get("mapping") == {"ticket": "ABC-1", "updates": 1}

    def test_increment_keeps_the_first_ttl_then_starts_again(self, store: StoreUnderTest) -> None:
        assert store.state.increment("storm", "n", ttl_seconds=30) == 1
        store.clock.advance(20)
        assert store.state.increment("storm", "n", 4, ttl_seconds=30) == 5  # does not extend the window
        store.clock.advance(10)
        assert store.state.get("storm") is None
        assert store.state.increment("storm", "n", ttl_seconds=30) == 1  # expired: a fresh counter
        assert store.state.get("storm") == {"n": 1}

    def test_concurrent_increments_lose_no_update(self, store: StoreUnderTest) -> None:
        store.state.put("hot", {})
        handles = [store.peer() for _ in range(WRITERS)]

        def work(state: StateStore) -> None:
            for _ in range(INCREMENTS):
                state.increment("hot", "n")

        with ThreadPoolExecutor(WRITERS) as pool:
            list(pool.map(work, handles))
        assert store.state.get("hot") == {"n": WRITERS * INCREMENTS}

    def test_concurrent_adds_have_exactly_one_winner(self, store: StoreUnderTest) -> None:
        store.state.put("warm-up", {})
        handles = [store.peer() for _ in range(WRITERS)]
        barrier = threading.Barrier(WRITERS)

        def claim(index: int) -> bool:
            barrier.wait()
            return handles[index].add("claim", {"owner": index}, ttl_seconds=60)

        with ThreadPoolExecutor(WRITERS) as pool:
            results = list(pool.map(claim, range(WRITERS)))
        assert results.count(True) == 1
        assert store.state.get("claim") == {"owner": results.index(True)}
