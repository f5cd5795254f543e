"""What only the DynamoDB state store does: its item layout, which it shares with Powertools'
idempotency records. The StateStore and idempotency contracts run on it in tests/test_state_stores.py."""

from __future__ import annotations

import boto3
from moto import mock_aws

from functions.aws.state import KEY_PREFIX, DynamoStore
from tests.support.clock import FakeClock
from tests.support.dynamodb import TABLE, create_table


@mock_aws
def test_dynamodb_layout_shares_the_table_with_idempotency() -> None:
    client = boto3.client("dynamodb", region_name="us-west-2")
    create_table(client)
    clock = FakeClock()
    DynamoStore(TABLE, client, clock=clock).put("storm:aws.iam.pass-role", {"n": 2}, ttl_seconds=100)
    raw = client.scan(TableName=TABLE)["Items"]
    assert raw == [{"id": {"S": KEY_PREFIX + "storm:aws.iam.pass-role"}, "f_n": {"N": "2"},
                    "expiration": {"N": str(int(clock()) + 100)}}]
