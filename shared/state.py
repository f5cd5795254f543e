"""The state store protocol: idempotency, dedup counters, ticket mappings and audit records live
behind it. DynamoDB (AWS), Table storage (Azure) and SQLite (CLI) implement it; ``MemoryStore``
serves tests and single-process runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

Item = dict[str, Any]


class StateStore(Protocol):
    def get(self, key: str) -> Item | None:
        """The item under ``key``, or None when absent or expired."""
        ...

    def put(self, key: str, item: Item, ttl_seconds: int | None = None) -> None:
        """Create or replace the item."""
        ...

    def add(self, key: str, item: Item, ttl_seconds: int | None = None) -> bool:
        """Create the item only if absent (or expired), atomically; True if this call created it."""
        ...

    def increment(self, key: str, field: str, amount: int = 1, ttl_seconds: int | None = None) -> int:
        """Atomically add ``amount`` to a numeric field (created at 0); the new value."""
        ...

    def delete(self, key: str) -> None: ...


class MemoryStore:
    """A thread-safe in-process store with TTLs."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._items: dict[str, tuple[Item, float | None]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def _live(self, key: str) -> Item | None:
        entry = self._items.get(key)
        if entry is None:
            return None
        item, expires = entry
        if expires is not None and expires <= self._clock():
            del self._items[key]
            return None
        return item

    def _expiry(self, ttl_seconds: int | None) -> float | None:
        return self._clock() + ttl_seconds if ttl_seconds else None

    def get(self, key: str) -> Item | None:
        with self._lock:
            item = self._live(key)
            return dict(item) if item is not None else None

    def put(self, key: str, item: Item, ttl_seconds: int | None = None) -> None:
        with self._lock:
            self._items[key] = (dict(item), self._expiry(ttl_seconds))

    def add(self, key: str, item: Item, ttl_seconds: int | None = None) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
            self._items[key] = (dict(item), self._expiry(ttl_seconds))
            return True

    def increment(self, key: str, field: str, amount: int = 1, ttl_seconds: int | None = None) -> int:
        with self._lock:
            item = self._live(key)
            if item is None:
                item = {}
                self._items[key] = (item, self._expiry(ttl_seconds))
            item[field] = int(item.get(field, 0)) + amount
            return int(item[field])

    def delete(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)
