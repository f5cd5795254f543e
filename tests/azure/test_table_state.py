"""What only the Table storage store does: its settings, and a role scoped to one table. The
StateStore and idempotency contracts run on it (Azurite) in tests/test_state_stores.py."""

from __future__ import annotations

import pytest

from functions.azure.state import TableStore
from tests.support.azurite import Azurite


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
