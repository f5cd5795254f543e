"""The Azure Functions blueprint (Python v2 model): route ``backup-alert``, registered by the root
``function_app.py``. Thin: the request goes straight to ``AlertEndpoint``. A timer sends the digests
of closed storms and ended quiet hours when no further alert arrives to carry them; another posts the
weekly failure report when the configuration has a ``report`` section."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import azure.functions as func

if TYPE_CHECKING:  # imported on the first alert: the worker's start (indexing) loads only the routes
    from functions.azure.endpoint import AlertEndpoint

bp = func.Blueprint()  # type: ignore[no-untyped-call]

_endpoint: AlertEndpoint | None = None
_lock = threading.Lock()


def endpoint() -> AlertEndpoint:
    """The worker's endpoint, built from the app settings on first use (and kept warm)."""
    global _endpoint
    if _endpoint is None:
        from functions.azure.endpoint import build_endpoint

        with _lock:
            if _endpoint is None:
                _endpoint = build_endpoint()
    return _endpoint


def use_endpoint(value: AlertEndpoint | None) -> None:
    """Replace the worker's endpoint (tests); None rebuilds it from the settings on next use."""
    global _endpoint
    with _lock:
        _endpoint = value


@bp.route(route="backup-alert", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def backup_alert(req: func.HttpRequest) -> func.HttpResponse:
    """Action-group POSTs in the common alert schema (``/api/backup-alert``)."""
    return endpoint().handle(req)


#: How often closed storms' digests are sent (docs/delivery.md, "Dedup, storms").
DIGEST_SCHEDULE = "0 */5 * * * *"


@bp.timer_trigger(schedule=DIGEST_SCHEDULE, arg_name="timer", run_on_startup=False)
def send_digests(timer: func.TimerRequest) -> None:
    """Flush the responder; a digest that fails raises, so the next run tries it again."""
    deliveries = endpoint().responder.flush()
    failed = [f"{d.sink}: {d.detail}" for d in deliveries if not d.ok]
    logging.getLogger("backup_responder.azure").info("digests flushed: %d sent, %d failed",
                                                     len(deliveries) - len(failed), len(failed))
    if failed:
        raise RuntimeError("digest delivery failed: " + ", ".join(failed))


#: When the weekly failure report is posted: the app setting ``RESPONDER_REPORT_SCHEDULE`` (NCRONTAB,
#: UTC), which infra/azure/main.bicep sets (Monday 08:00 by default). The host resolves ``%NAME%``.
REPORT_SCHEDULE = "%RESPONDER_REPORT_SCHEDULE%"


@bp.timer_trigger(schedule=REPORT_SCHEDULE, arg_name="timer", run_on_startup=False)
@bp.retry(strategy="exponential_backoff", max_retry_count="5", minimum_interval="00:01:00",
          maximum_interval="00:15:00")
def send_report(timer: func.TimerRequest) -> None:
    """Post the weekly report (nothing without a ``report`` section); a query or a sink that fails
    raises, and the host's retries post it only where it is not delivered yet."""
    log = logging.getLogger("backup_responder.azure")
    run = endpoint().send_report()
    if run is None:
        log.info("weekly report: off (the configuration has no report section)")
        return
    failed = [f"{d.sink}: {d.detail}" for d in run.failed]
    log.info("weekly report %s: %d sent, %d failed", run.period, len(run.deliveries) - len(failed), len(failed))
    if failed:
        raise RuntimeError("report delivery failed: " + ", ".join(failed))
