"""The Powertools Logger, Tracer and Metrics the AWS entry point shares with its adapters.

Configured by the environment that ``template.yaml`` sets: ``POWERTOOLS_SERVICE_NAME``,
``POWERTOOLS_METRICS_NAMESPACE``, ``POWERTOOLS_LOG_LEVEL``; tracing is off outside Lambda.
"""

from __future__ import annotations

import logging
import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

SERVICE = "backup-responder"
CORE_LOGGER = "backup_responder"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "BackupResponder"

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE)
tracer = Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE)
metrics = Metrics(namespace=NAMESPACE)
# The core logs through the standard "backup_responder" logger: give it the same JSON format and
# correlation id as the handler's own lines.
logging.getLogger(CORE_LOGGER)
copy_config_to_registered_loggers(source_logger=logger, include={CORE_LOGGER})
