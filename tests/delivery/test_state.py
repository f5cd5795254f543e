"""What only the SQLite store does: its data outlives the process. The StateStore and idempotency
contracts run on it (and on the memory store) in tests/test_state_stores.py."""

from __future__ import annotations

from pathlib import Path

from shared.state_sqlite import SqliteStore


def test_sqlite_persists_across_instances(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "s.sqlite").put("k", {"v": 1})
    assert SqliteStore(tmp_path / "s.sqlite").get("k") == {"v": 1}
