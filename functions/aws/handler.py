"""AWS Lambda entry point, subscribed by the EventBridge rule in ``template.yaml`` to failed Backup,
Copy and Restore Job State Change events. Thin: Powertools around one call into ``App``."""

from __future__ import annotations

import gc

# The imports below allocate some hundred thousand objects and free almost none: the collector's
# passes over them during a cold start (about a tenth of it, bench/aws_cold_start.py) find nothing.
# It is off while they run; what they built lives as long as the container, so it is then frozen
# out of every later collection.
gc.disable()

from typing import Any  # noqa: E402

from aws_lambda_powertools.utilities.typing import LambdaContext  # noqa: E402

from functions.aws.app import CLOUDS, App  # noqa: E402
from functions.aws.observe import logger, metrics, tracer  # noqa: E402
from shared.catalog import default_catalog  # noqa: E402

app = App()
default_catalog(CLOUDS)  # what the first failure classifies with, loaded while the collector is off
gc.freeze()
gc.enable()


@logger.inject_lambda_context  # the correlation id is the event's id, set by App once it is known to be text
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """One EventBridge event; ``EventError`` (the reason in its message) for a malformed one."""
    return app.handle(event, context)
