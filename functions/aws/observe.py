"""The Powertools Logger, Tracer and Metrics the AWS entry point shares with its adapters.

Configured by the environment that ``template.yaml`` sets: ``POWERTOOLS_SERVICE_NAME``,
``POWERTOOLS_METRICS_NAMESPACE``, ``POWERTOOLS_LOG_LEVEL``, ``POWERTOOLS_TRACE_DISABLED``; tracing
is off outside Lambda. With tracing off there is no Powertools ``Tracer`` at all: building one
imports the X-Ray SDK whatever its setting (about a third of the handler's cold import).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

SERVICE = "backup-responder"
CORE_LOGGER = "backup_responder"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "BackupResponder"

F = TypeVar("F", bound=Callable[..., Any])
#: What the X-Ray SDK patches when tracing is on: botocore, so that every AWS call (STS, Backup,
#: DynamoDB, the secrets) is a subsegment. Not http.client: its patch records each request's URL,
#: and a Slack webhook's path is its secret; the sinks' time is in the handler's subsegment.
#: Powertools' default patches every library the SDK supports that is installed, importing each
#: (requests, sqlite3, ...): 45 ms of a cold start, against 20 ms for botocore alone.
TRACED_MODULES = ("botocore",)


def tracing_enabled(env: Mapping[str, str] = os.environ) -> bool:
    """Powertools' own rule (``Tracer._is_tracer_disabled``): tracing is on in Lambda
    (``LAMBDA_TASK_ROOT``) unless ``POWERTOOLS_TRACE_DISABLED`` is true, and off under ``sam local``
    or Chalice's local server."""
    if resolve_truthy_env_var_choice(env=env.get(constants.TRACER_DISABLED_ENV, "false")):
        return False
    in_lambda = bool(env.get(constants.LAMBDA_TASK_ROOT_ENV))
    return in_lambda and not env.get(constants.SAM_LOCAL_ENV) and not env.get(constants.CHALICE_LOCAL_ENV)


class Tracing(Protocol):
    """The part of Powertools' ``Tracer`` this code uses."""

    def capture_lambda_handler(self, lambda_handler: None = None, **options: Any) -> Callable[[F], F]: ...

    def capture_method(self, method: None = None, **options: Any) -> Callable[[F], F]: ...


class NoTracer:
    """What the code asks of the Tracer, doing nothing: the stand-in when tracing is off."""

    def capture_lambda_handler(self, lambda_handler: None = None, **_: Any) -> Callable[[F], F]:
        return _unchanged

    def capture_method(self, method: None = None, **_: Any) -> Callable[[F], F]:
        return _unchanged


def _unchanged(function: F) -> F:
    return function


def build_tracer(env: Mapping[str, str] = os.environ) -> Tracing:
    """A Powertools ``Tracer`` when tracing is on, else a ``NoTracer``."""
    if not tracing_enabled(env):
        return NoTracer()
    from aws_lambda_powertools import Tracer  # imports the X-Ray SDK

    return cast(Tracing, Tracer(service=env.get("POWERTOOLS_SERVICE_NAME") or SERVICE, patch_modules=TRACED_MODULES))


logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE)
tracer = build_tracer()
metrics = Metrics(namespace=NAMESPACE)
# The core logs through the standard "backup_responder" logger: give it the same JSON format and
# correlation id as the handler's own lines.
logging.getLogger(CORE_LOGGER)
copy_config_to_registered_loggers(source_logger=logger, include={CORE_LOGGER})
