"""The Powertools Logger, Tracer and Metrics the AWS entry point shares with its adapters.

Configured by the environment that ``template.yaml`` sets: ``POWERTOOLS_SERVICE_NAME``,
``POWERTOOLS_METRICS_NAMESPACE``, ``POWERTOOLS_LOG_LEVEL``, ``POWERTOOLS_TRACE_DISABLED``; tracing
is off outside Lambda. With tracing off there is no Powertools ``Tracer`` at all: building one
imports the X-Ray SDK whatever its setting (about a third of the handler's cold import).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

from shared.sinks.http import Observe, ignore_status, unobserved

SERVICE = "backup-responder"
CORE_LOGGER = "backup_responder"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "BackupResponder"

F = TypeVar("F", bound=Callable[..., Any])
#: What the X-Ray SDK patches when tracing is on: botocore, so that every AWS call (STS, Backup,
#: DynamoDB, the secrets) is a subsegment. Not http.client: its patch records each request's URL,
#: and a Slack webhook's path is its secret; each delivery attempt is a subsegment of its own instead
#: (``delivery_attempts``), named for its destination.
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

    #: The X-Ray recorder (None when tracing is off).
    @property
    def provider(self) -> Any: ...


class NoTracer:
    """What the code asks of the Tracer, doing nothing: the stand-in when tracing is off."""

    provider = None

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


def delivery_attempts(tracing: Tracing) -> Observe:
    """Each delivery attempt as a ``remote`` subsegment named for its destination (``slack oncall``),
    with the request's label (``POST webhook``, never the URL) and the answer's status, from which
    X-Ray sets the error, throttle and fault flags. An attempt that raised is a fault, and only the
    exception's type is recorded: its text can quote a URL. With tracing off, nothing is watched."""
    recorder = tracing.provider
    if recorder is None:
        return unobserved

    @contextlib.contextmanager
    def observe(service: str, label: str) -> Iterator[Callable[[int], None]]:
        subsegment = recorder.begin_subsegment(service, namespace="remote")
        if subsegment is None:  # no segment to hang it on (outside an invocation)
            yield ignore_status
            return
        subsegment.put_annotation("request", label)
        try:
            yield lambda status: subsegment.put_http_meta("status", status)
        except BaseException as exc:
            subsegment.add_fault_flag()
            subsegment.put_annotation("exception", type(exc).__name__)
            raise
        finally:
            recorder.end_subsegment()

    return observe


logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE)
tracer = build_tracer()
metrics = Metrics(namespace=NAMESPACE)
# The core logs through the standard "backup_responder" logger: give it the same JSON format and
# correlation id as the handler's own lines.
logging.getLogger(CORE_LOGGER)
copy_config_to_registered_loggers(source_logger=logger, include={CORE_LOGGER})
