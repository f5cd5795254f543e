"""A DynamoDB ``shared.state.StateStore``.

One table serves both the responder's state (dedup counters, ticket mappings, audit records) and
Powertools idempotency: partition key ``id`` (string) and TTL attribute ``expiration`` (epoch
seconds), the names Powertools uses by default. State keys are stored as ``state#<key>`` so they
never meet an idempotency record. An item's fields are top-level attributes (DynamoDB's atomic
``ADD`` works on top-level numbers only) named ``f_<field>``, so any field name is allowed, ``id``
included.

DynamoDB deletes expired items lazily (typically within days), so every read and every condition
also checks ``expiration`` itself: an expired item is absent, exactly as in ``MemoryStore``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from shared.state import Item

KEY_ATTR = "id"
TTL_ATTR = "expiration"
KEY_PREFIX = "state#"
FIELD_PREFIX = "f_"
#: How often ``increment`` retries when another writer recreated an expired item at the same time.
MAX_RACE_RETRIES = 5

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    """Python values as DynamoDB accepts them (floats as Decimal, recursively)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    """DynamoDB values back as plain Python (Decimal as int or float, sets as sorted lists)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_from_dynamo(v) for v in value)
    return value


def _conditional_failed(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


class DynamoStore:
    """``StateStore`` on a DynamoDB table (``client`` is a boto3 DynamoDB client)."""

    def __init__(self, table_name: str, client: Any, clock: Callable[[], float] = time.time) -> None:
        self.table_name = table_name
        self.client = client
        self._clock = clock

    def _key(self, key: str) -> dict[str, Any]:
        return {KEY_ATTR: {"S": KEY_PREFIX + key}}

    def _now(self) -> int:
        return int(self._clock())

    def _record(self, key: str, item: Item, ttl_seconds: int | None) -> dict[str, Any]:
        record = {FIELD_PREFIX + name: _serializer.serialize(_to_dynamo(value)) for name, value in item.items()}
        record.update(self._key(key))
        if ttl_seconds:
            record[TTL_ATTR] = {"N": str(self._now() + int(ttl_seconds))}
        return record

    def get(self, key: str) -> Item | None:
        response = self.client.get_item(TableName=self.table_name, Key=self._key(key), ConsistentRead=True)
        raw = response.get("Item")
        if not raw:
            return None
        data = {name: _deserializer.deserialize(value) for name, value in raw.items()}
        expires = data.get(TTL_ATTR)
        if expires is not None and int(expires) <= self._now():
            return None
        return {name[len(FIELD_PREFIX):]: _from_dynamo(value) for name, value in data.items()
                if name.startswith(FIELD_PREFIX)}

    def put(self, key: str, item: Item, ttl_seconds: int | None = None) -> None:
        self.client.put_item(TableName=self.table_name, Item=self._record(key, item, ttl_seconds))

    def add(self, key: str, item: Item, ttl_seconds: int | None = None) -> bool:
        try:
            self.client.put_item(
                TableName=self.table_name, Item=self._record(key, item, ttl_seconds),
                ConditionExpression="attribute_not_exists(#id) OR #exp <= :now",
                ExpressionAttributeNames={"#id": KEY_ATTR, "#exp": TTL_ATTR},
                ExpressionAttributeValues={":now": {"N": str(self._now())}},
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def increment(self, key: str, field: str, amount: int = 1, ttl_seconds: int | None = None) -> int:
        for _ in range(MAX_RACE_RETRIES):
            try:  # the live item: add to it, keep its expiry
                response = self.client.update_item(
                    TableName=self.table_name, Key=self._key(key),
                    UpdateExpression="ADD #f :amount",
                    ConditionExpression="attribute_exists(#id) AND (attribute_not_exists(#exp) OR #exp > :now)",
                    ExpressionAttributeNames={"#id": KEY_ATTR, "#exp": TTL_ATTR, "#f": FIELD_PREFIX + field},
                    ExpressionAttributeValues={":amount": {"N": str(int(amount))},
                                               ":now": {"N": str(self._now())}},
                    ReturnValues="UPDATED_NEW",
                )
                return int(_deserializer.deserialize(response["Attributes"][FIELD_PREFIX + field]))
            except ClientError as exc:
                if not _conditional_failed(exc):
                    raise
            # absent or expired: create it fresh, with this call's TTL (as MemoryStore does)
            if self.add(key, {field: int(amount)}, ttl_seconds):
                return int(amount)
        raise RuntimeError(f"increment of {key!r} kept racing with other writers")

    def delete(self, key: str) -> None:
        self.client.delete_item(TableName=self.table_name, Key=self._key(key))
