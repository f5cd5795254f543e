"""AWS Lambda entry point, subscribed by the EventBridge rule in ``template.yaml`` to failed Backup,
Copy and Restore Job State Change events. Thin: Powertools around one call into ``App``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.aws.app import App
from functions.aws.observe import logger, metrics, tracer

app = App()


@logger.inject_lambda_context  # the correlation id is the event's id, set by App once it is known to be text
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """One EventBridge event; ``EventError`` (the reason in its message) for a malformed one."""
    return app.handle(event, context)
