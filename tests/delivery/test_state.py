"""The StateStore protocol, for the memory store and the SQLite store: TTLs, atomic add and
increment under concurrency, persistence across instances (SQLite)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.state import MemoryStore, StateStore
from shared.state_sqlite import SqliteStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Factory = Callable[[Clock, Path], StateStore]
STORES: dict[str, Factory] = {
    "memory": lambda clock, tmp: MemoryStore(clock),
    "sqlite": lambda clock, tmp: SqliteStore(tmp / "state.sqlite", clock),
}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[StateStore, Clock]:
    clock = Clock()
    return STORES[request.param](clock, tmp_path), clock


def test_put_get_delete(store: tuple[StateStore, Clock]) -> None:
    state, _ = store
    assert state.get("k") is None
    state.put("k", {"a": 1, "b": "x", "c": [1, 2]})
    assert state.get("k") == {"a": 1, "b": "x", "c": [1, 2]}
    state.delete("k")
    assert state.get("k") is None


def test_ttl_expires(store: tuple[StateStore, Clock]) -> None:
    state, clock = store
    state.put("k", {"a": 1}, ttl_seconds=10)
    clock.now += 9
    assert state.get("k") == {"a": 1}
    clock.now += 2
    assert state.get("k") is None
    assert state.add("k", {"a": 2}, ttl_seconds=10)  # an expired item can be added again


def test_add_only_once(store: tuple[StateStore, Clock]) -> None:
    state, _ = store
    assert state.add("k", {"n": 1})
    assert not state.add("k", {"n": 2})
    assert state.get("k") == {"n": 1}


def test_increment_creates_and_keeps_ttl(store: tuple[StateStore, Clock]) -> None:
    state, clock = store
    assert state.increment("c", "n", 1, ttl_seconds=10) == 1
    assert state.increment("c", "n", 5, ttl_seconds=10) == 6
    assert state.increment("c", "m", -1) == -1
    clock.now += 11
    assert state.get("c") is None
    assert state.increment("c", "n") == 1


def test_concurrent_add_and_increment_are_atomic(store: tuple[StateStore, Clock]) -> None:
    state, _ = store
    wins: list[bool] = []

    def work() -> None:
        for _ in range(50):
            state.increment("counter", "n")
        wins.append(state.add("once", {"x": 1}))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state.get("counter") == {"n": 400}
    assert wins.count(True) == 1


def test_sqlite_persists_across_instances(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "s.sqlite").put("k", {"v": 1})
    assert SqliteStore(tmp_path / "s.sqlite").get("k") == {"v": 1}
