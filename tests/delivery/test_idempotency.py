"""The idempotency contract on the memory and SQLite stores (DynamoDB: tests/aws/test_state.py;
Table storage: tests/azure/test_table_state.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.state import MemoryStore, StateStore
from shared.state_sqlite import SqliteStore
from tests.support.idempotency_contract import Clock, IdempotencyContract


class TestMemoryStore(IdempotencyContract):
    @pytest.fixture
    def store(self) -> tuple[StateStore, Clock]:
        clock = Clock()
        return MemoryStore(clock), clock


class TestSqliteStore(IdempotencyContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> tuple[StateStore, Clock]:
        clock = Clock()
        return SqliteStore(tmp_path / "state.sqlite", clock), clock

    def peer(self, state: StateStore, clock: Clock) -> StateStore:
        assert isinstance(state, SqliteStore)
        return SqliteStore(state.path, clock)  # its own connection, as another process has
