"""Property: whatever event the Lambda runtime hands over (real fixtures mutated by
``tests.support.fuzz``: not an object, nested 100,000 levels deep, lone surrogates, wrong types,
NaN, huge text), ``lambda_handler`` either handles it or raises ``EventError``, the project's
error for a bad event, with a bounded reason; never AttributeError, RecursionError and the like.
Lambda then retries the ``EventError`` and keeps the event in the failed-events queue
(``test_handler.test_a_malformed_event_is_kept_not_dropped``)."""

from __future__ import annotations

import os
import uuid

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SSMProvider
from hypothesis import given

from functions.aws import handler
from functions.aws.app import App
from functions.aws.secrets import ParameterSecrets
from shared.parse import EventError
from tests.aws.conftest import LambdaContext, World, sdk_session
from tests.support.dynamodb import create_table
from tests.support.fuzz import FUZZ_SETTINGS, Mutant, error_problems, mutants, verdict


@pytest.fixture
def session(world: World) -> boto3.session.Session:
    """One boto3 session for every example: each container's clients are new, the SDK's loaded
    service models are not (loading them again is most of a new session's cost)."""
    return sdk_session()


@pytest.fixture
def secrets(session: boto3.session.Session) -> ParameterSecrets:
    """The webhook's SSM reference, resolved once and then cached, as in a warm container."""
    return ParameterSecrets(ssm=SSMProvider(boto3_client=session.client("ssm")))


@FUZZ_SETTINGS
@given(mutant=mutants())
def test_the_handler_handles_or_refuses_every_event_clearly(world: World, session: boto3.session.Session,
                                                            secrets: ParameterSecrets, mutant: Mutant) -> None:
    # A fresh idempotency table and container per example, so that each one runs the whole pipeline.
    table = f"fuzz-{uuid.uuid4().hex[:12]}"
    create_table(session.client("dynamodb"), table)
    handler.app = App(env={**os.environ, "STATE_TABLE": table}, session=session, secrets=secrets,
                      clock=world.clock)
    with verdict("lambda handler", mutant) as problems:
        try:
            result = handler.lambda_handler(mutant.event(), LambdaContext())
        except EventError as exc:
            problems += error_problems(str(exc))
        else:
            if not isinstance(result, dict):
                problems.append(f"returned {type(result).__name__}")
