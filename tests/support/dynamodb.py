"""The responder's DynamoDB state table, as template.yaml creates it, for moto."""

from __future__ import annotations

from typing import Any

#: The table's name in the tests that need only one.
TABLE = "backup-responder-state"


def create_table(client: Any, name: str = TABLE) -> None:
    """The table template.yaml creates: key ``id`` (S), TTL on ``expiration``."""
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    client.update_time_to_live(TableName=name, TimeToLiveSpecification={"AttributeName": "expiration",
                                                                        "Enabled": True})
