"""``shared.state.StateStore`` on Azure Table storage.

One entity per key. The key itself may hold characters that Table keys forbid (``/``, ``#``, ``?``
appear in alert ids), so the RowKey is the SHA-256 of the key and the key is kept in a property
for people reading the table. Table storage has no TTL: the expiry is a property, an expired
entity counts as absent, and the next writer replaces it. Atomic operations use the service's
own concurrency control: ``add`` is an insert (409 when the entity exists) and ``increment`` is a
read followed by a replace conditioned on the ETag (412 when someone else wrote in between),
retried.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, UpdateMode

from shared.state import Item

#: The table the Function App's Bicep creates (``infra/azure/main.bicep``).
DEFAULT_TABLE = "responderstate"
#: Retries of an optimistic write that lost a race; each loser re-reads after a short random
#: wait that grows with the attempts, so even a burst of writers on one key gets through.
MAX_CONFLICT_RETRIES = 40
#: Upper bound of the random wait after the n-th lost race: n times this, capped at 0.25 s.
CONFLICT_BACKOFF_SECONDS = 0.005
#: Table storage limits a string property to 64 KiB (32K UTF-16 characters); items stay far below.
MAX_ITEM_CHARS = 32_000


class StateError(RuntimeError):
    """The table answered something the store cannot work with (not a missing entity)."""


_RANDOM = random.SystemRandom()


def _backoff(attempt: int) -> None:
    if attempt:
        time.sleep(_RANDOM.uniform(0, min(0.25, CONFLICT_BACKOFF_SECONDS * attempt)))


def _row_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class TableStore:
    """A ``StateStore`` backed by one Azure Table (works against Azurite too)."""

    def __init__(self, table: TableClient, clock: Callable[[], float] = time.time,
                 create_table: bool = True) -> None:
        self._table = table
        self._clock = clock
        self._create_table = create_table
        self._ready = not create_table
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_connection_string(cls, connection_string: str, table_name: str = DEFAULT_TABLE) -> TableStore:
        return cls(TableClient.from_connection_string(connection_string, table_name))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TableStore:
        """The store the Function App is configured for.

        ``RESPONDER_TABLE_ENDPOINT`` (``https://<account>.table.core.windows.net``) uses the app's
        managed identity (``DefaultAzureCredential``, role Storage Table Data Contributor);
        otherwise ``RESPONDER_TABLE_CONNECTION`` or the host's own ``AzureWebJobsStorage``
        connection string. ``RESPONDER_TABLE_NAME`` names the table.
        """
        env = os.environ if env is None else env
        name = env.get("RESPONDER_TABLE_NAME") or DEFAULT_TABLE
        endpoint = env.get("RESPONDER_TABLE_ENDPOINT") or env.get("AzureWebJobsStorage__tableServiceUri")
        if endpoint:
            from azure.identity import DefaultAzureCredential

            return cls(TableClient(endpoint, name, credential=DefaultAzureCredential()))
        connection = env.get("RESPONDER_TABLE_CONNECTION") or env.get("AzureWebJobsStorage")
        if connection:
            return cls.from_connection_string(connection, name)
        raise StateError("no Table storage configured: set RESPONDER_TABLE_ENDPOINT (managed identity) "
                         "or RESPONDER_TABLE_CONNECTION / AzureWebJobsStorage")

    # ------------------------------------------------------------------ helpers
    def _ensure_table(self) -> None:
        if self._ready:
            return
        with self._lock:
            if not self._ready:
                try:
                    self._table.create_table()
                except ResourceExistsError:
                    pass
                except HttpResponseError as exc:
                    # A role scoped to the table itself (as infra/azure grants it) may not create
                    # tables: the table is the template's, carry on and let real calls report.
                    if exc.status_code != 403:
                        raise
                self._ready = True

    def _expired(self, entity: Mapping[str, Any]) -> bool:
        expires = entity.get("ExpiresAt")
        return expires is not None and float(expires) <= self._clock()

    def _entity(self, key: str, item: Item, ttl_seconds: int | None) -> dict[str, Any]:
        body = json.dumps(item, separators=(",", ":"), default=str, ensure_ascii=False)
        if len(body) > MAX_ITEM_CHARS:
            raise StateError(f"item for {key!r} is {len(body)} characters; Table storage keeps at most "
                             f"{MAX_ITEM_CHARS}")
        row = _row_key(key)
        entity: dict[str, Any] = {"PartitionKey": row[:2], "RowKey": row, "Key": key[:1024], "Item": body}
        if ttl_seconds:
            entity["ExpiresAt"] = float(self._clock() + ttl_seconds)
        return entity

    def _read(self, key: str) -> Any | None:
        """The raw entity (expired or not), or None."""
        self._ensure_table()
        row = _row_key(key)
        try:
            return self._table.get_entity(partition_key=row[:2], row_key=row)
        except ResourceNotFoundError:
            return None

    @staticmethod
    def _item(entity: Mapping[str, Any]) -> Item:
        value = json.loads(entity.get("Item") or "{}")
        if not isinstance(value, dict):
            raise StateError("stored item is not a JSON object")
        return value

    @staticmethod
    def _etag(entity: Any) -> str:
        return str(entity.metadata["etag"])

    # ------------------------------------------------------------------ StateStore
    def get(self, key: str) -> Item | None:
        entity = self._read(key)
        if entity is None or self._expired(entity):
            return None
        return self._item(entity)

    def put(self, key: str, item: Item, ttl_seconds: int | None = None) -> None:
        self._ensure_table()
        self._table.upsert_entity(self._entity(key, item, ttl_seconds), mode=UpdateMode.REPLACE)

    def add(self, key: str, item: Item, ttl_seconds: int | None = None) -> bool:
        self._ensure_table()
        for attempt in range(MAX_CONFLICT_RETRIES):
            _backoff(attempt)
            try:
                self._table.create_entity(self._entity(key, item, ttl_seconds))
                return True
            except ResourceExistsError:
                pass
            current = self._read(key)
            if current is None:
                continue  # deleted in between: try the insert again
            if not self._expired(current):
                return False
            try:  # take over the expired entity, unless someone else just did
                self._table.update_entity(self._entity(key, item, ttl_seconds), mode=UpdateMode.REPLACE,
                                          etag=self._etag(current),
                                          match_condition=MatchConditions.IfNotModified)
                return True
            except (ResourceModifiedError, ResourceNotFoundError):
                continue
        raise StateError(f"add {key!r}: gave up after {MAX_CONFLICT_RETRIES} conflicting writes")

    def increment(self, key: str, field: str, amount: int = 1, ttl_seconds: int | None = None) -> int:
        self._ensure_table()
        for attempt in range(MAX_CONFLICT_RETRIES):
            _backoff(attempt)
            current = self._read(key)
            ttl = ttl_seconds
            if current is None or self._expired(current):
                item: Item = {field: amount}
                if current is None:
                    try:
                        self._table.create_entity(self._entity(key, item, ttl))
                        return amount
                    except ResourceExistsError:
                        continue
            else:
                item = self._item(current)
                item[field] = int(item.get(field, 0)) + amount
                # A live counter keeps its expiry: it counts within its window (as MemoryStore does).
                ttl = None
                if current.get("ExpiresAt") is not None:
                    ttl = max(1, int(float(current["ExpiresAt"]) - self._clock()))
            try:
                self._table.update_entity(self._entity(key, item, ttl), mode=UpdateMode.REPLACE,
                                          etag=self._etag(current),
                                          match_condition=MatchConditions.IfNotModified)
                return int(item[field])
            except (ResourceModifiedError, ResourceNotFoundError):
                continue
        raise StateError(f"increment {key!r}: gave up after {MAX_CONFLICT_RETRIES} conflicting writes")

    def delete(self, key: str) -> None:
        self._ensure_table()
        row = _row_key(key)
        with contextlib.suppress(ResourceNotFoundError):
            self._table.delete_entity(partition_key=row[:2], row_key=row)
