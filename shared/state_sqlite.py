"""A ``StateStore`` in one SQLite file: the CLI's state between runs (dedup, storms, tickets).

Each operation is one transaction (``BEGIN IMMEDIATE``), so ``add`` and ``increment`` are atomic
across threads and across processes sharing the file. Expired items are ignored and purged.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.state import Item

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    item TEXT NOT NULL,
    expires REAL
);
CREATE INDEX IF NOT EXISTS items_expires ON items(expires);
"""
#: Purge expired rows about once every this many writes.
PURGE_EVERY = 1000


#: How long a process waits for another to finish switching a new file to WAL.
WAL_SWITCH_SECONDS = 30.0


def _use_wal(db: sqlite3.Connection) -> None:
    """Write-ahead logging, set once per file. Switching needs the file to itself, and SQLite's
    busy timeout does not cover it: processes opening a new file together wait their turn."""
    deadline = time.monotonic() + WAL_SWITCH_SECONDS
    while True:
        try:
            if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class SqliteStore:
    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        if self.path != ":memory:":
            _use_wal(self._db)
        self._db.executescript(_SCHEMA)
        self._writes = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._writes += 1
            if self._writes % PURGE_EVERY == 0:
                self._db.execute("DELETE FROM items WHERE expires IS NOT NULL AND expires <= ?", (self._clock(),))

    def _expiry(self, ttl_seconds: int | None) -> float | None:
        return self._clock() + ttl_seconds if ttl_seconds else None

    def _live(self, db: sqlite3.Connection, key: str) -> Item | None:
        row = db.execute("SELECT item, expires FROM items WHERE key = ?", (key,)).fetchone()
        if row is None or (row[1] is not None and row[1] <= self._clock()):
            return None
        value = json.loads(row[0])
        return value if isinstance(value, dict) else None

    def get(self, key: str) -> Item | None:
        with self._lock:
            return self._live(self._db, key)

    def put(self, key: str, item: Item, ttl_seconds: int | None = None) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO items (key, item, expires) VALUES (?, ?, ?)",
                       (key, json.dumps(item, default=str), self._expiry(ttl_seconds)))

    def add(self, key: str, item: Item, ttl_seconds: int | None = None) -> bool:
        with self._tx() as db:
            if self._live(db, key) is not None:
                return False
            db.execute("INSERT OR REPLACE INTO items (key, item, expires) VALUES (?, ?, ?)",
                       (key, json.dumps(item, default=str), self._expiry(ttl_seconds)))
            return True

    def increment(self, key: str, field: str, amount: int = 1, ttl_seconds: int | None = None) -> int:
        with self._tx() as db:
            item = self._live(db, key)
            if item is None:
                item, expires = {}, self._expiry(ttl_seconds)
            else:
                row = db.execute("SELECT expires FROM items WHERE key = ?", (key,)).fetchone()
                expires = row[0]
            item[field] = int(item.get(field, 0)) + amount
            db.execute("INSERT OR REPLACE INTO items (key, item, expires) VALUES (?, ?, ?)",
                       (key, json.dumps(item, default=str), expires))
            return int(item[field])

    def delete(self, key: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM items WHERE key = ?", (key,))
