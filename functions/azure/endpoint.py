"""The HTTP endpoint behind route ``backup-alert``: authenticate, deduplicate, respond.

What the action group gets back decides whether it tries again. It retries on 408, 429, 503 and
504 (and on no answer), then pauses, so:

- 200: handled (delivered, skipped because it is not a failure, or a duplicate of one handled);
- 400: permanently bad input (not JSON, not the common alert schema, no alert): the reason is in
  the body and retrying cannot help;
- 401: not from our action group (Secure Webhook token missing or invalid): logged, not processed;
- 503: a transient failure (a sink, Table storage, the identity provider's keys, or the same
  alert being handled right now) or a sink's refusal: the action group retries and the alert is
  not lost (the body lists the sinks that failed, and which of them refused).

Delivery is at least once, so every alert is claimed in the state store under its
``essentials.alertId`` and ``monitorCondition`` (a Fired and its later Resolved share the id)
before it is processed; a claim that is done answers 200 without a second message.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import azure.functions as func
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError
from msgspec import Struct, field

from functions.azure.auth import AuthError, KeysUnavailable, SecureWebhookValidator
from functions.azure.state import StateError
from shared.parse import EventError
from shared.pipeline import Enricher
from shared.redact import error_text, quiet_sdk_loggers, redact
from shared.responder import DeliveryFailed, Report, Responder, failures
from shared.sinks.http import SYSTEM_CLOCK, Clock
from shared.state import StateStore
from shared.untrusted import NotJson, bounded, check_event, printable, read_json

if TYPE_CHECKING:  # the weekly report's and remediation's parts are imported only when they run
    from functions.azure.enrich import ArmClient
    from shared.remediation.changes import Remediator
    from shared.report.digest import ReportRun

log = logging.getLogger("backup_responder.azure")

#: The clouds whose failures this function handles: it loads only their part of the catalog.
CLOUDS = ("azure",)
#: The largest alert accepted. Common-alert-schema payloads are a few KB; Azure Monitor caps
#: action payloads far below this, so anything bigger is not an alert.
MAX_BODY_BYTES = 256 * 1024
#: How long a handled alert id is remembered (duplicates arrive within minutes; a day's margin).
DONE_TTL_SECONDS = 3 * 24 * 3600
#: How long a claim protects an alert being processed. A claim older than this belonged to an
#: instance that died mid-way, and a retry may take it over.
LEASE_SECONDS = 120
#: The longest the sinks may take (pacing, retries after 429/5xx) before the request gives up with
#: a 503 and lets the action group retry; the receipts the responder keeps stop double posts.
DELIVERY_DEADLINE_SECONDS = 15.0
#: What a 503 asks the caller to wait before trying again.
RETRY_AFTER_SECONDS = 30
_PREFIX = "azure-alert:"


def _json(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> func.HttpResponse:
    # printable: a lone surrogate from the input becomes its JSON escape, so the body is always UTF-8.
    return func.HttpResponse(printable(json.dumps(body, ensure_ascii=False, default=str)), status_code=status,
                             mimetype="application/json", headers=dict(headers or {}))


def _retry_later(reason: str, failed: Sequence[Mapping[str, Any]] = ()) -> func.HttpResponse:
    body: dict[str, Any] = {"status": "retry", "error": reason}
    if failed:
        body["failed"] = list(failed)
    return _json(503, body, {"Retry-After": str(RETRY_AFTER_SECONDS)})


def claim_key(raw: Any) -> str | None:
    """The idempotency key of an alert: its alertId and monitor condition, or None without an id."""
    if not isinstance(raw, Mapping):
        return None
    essentials = (raw.get("data") or {}).get("essentials") if isinstance(raw.get("data"), Mapping) else None
    if not isinstance(essentials, Mapping):
        return None
    alert_id = essentials.get("alertId")
    if not isinstance(alert_id, str) or not alert_id.strip():
        return None
    condition = str(essentials.get("monitorCondition") or "Fired").strip().lower()
    return f"{_PREFIX}{alert_id.strip().lower()}:{condition}"


class AlertEndpoint(Struct):
    """One instance per Function App worker; ``handle`` serves one request."""

    responder: Responder
    state: StateStore
    validator: SecureWebhookValidator | None = None
    clock: Callable[[], float] = field(default=time.time)
    #: Resource Manager for the weekly report's Resource Graph query (only with a ``report`` section).
    graph: ArmClient | None = None

    def send_report(self) -> ReportRun | None:
        """The weekly report: the failed jobs of the last ``report.since`` in every subscription the
        identity reads (Resource Graph), posted once per period; None without a ``report`` section.
        A query that fails raises (nothing half-read is posted)."""
        from functions.azure import jobs
        from shared.report.digest import send_scheduled_report

        graph = self.graph
        if graph is None or self.responder.config.report is None:
            return None
        return send_scheduled_report(self.responder, lambda since: jobs.job_pages(graph, since))

    def handle(self, req: func.HttpRequest) -> func.HttpResponse:
        started = time.monotonic()
        response = self._handle(req)
        log.info("backup-alert answered %s in %.0f ms", response.status_code, (time.monotonic() - started) * 1000)
        return response

    def _handle(self, req: func.HttpRequest) -> func.HttpResponse:
        if self.validator is not None:
            try:
                claims = self.validator.validate(req.headers.get("Authorization"))
            except AuthError as exc:
                log.warning("rejected backup-alert request (401): %s", exc)
                return _json(401, {"error": "unauthorized"}, {"WWW-Authenticate": "Bearer"})
            except KeysUnavailable as exc:
                log.error("cannot verify the Secure Webhook token, signing keys unavailable: %s", exc)
                return _retry_later("cannot verify the token right now")
            log.debug("Secure Webhook token accepted for application %s", claims.get("appid") or claims.get("azp"))

        body = req.get_body() or b""
        if len(body) > MAX_BODY_BYTES:
            return self._bad(f"request body is {len(body)} bytes; an alert is at most {MAX_BODY_BYTES}")
        if not body.strip():
            return self._bad("empty request body: expected an Azure Monitor alert in the common alert schema")
        try:
            # Before anything reads it (the claim's key, the responder): bounded and valid Unicode.
            raw = check_event(read_json(body))
        except NotJson as exc:
            return self._bad(f"request body is not valid JSON: {exc}")
        except EventError as exc:
            return self._bad(str(exc))

        key = claim_key(raw)
        token = secrets.token_hex(8)
        if key is not None:
            try:
                verdict = self._claim(key, token)
            except (AzureError, StateError) as exc:
                log.error("state store unavailable while claiming %s: %s", key, error_text(exc))
                return _retry_later("state store unavailable")
            if verdict == "done":
                log.info("duplicate alert %s: already handled, not delivered again", key)
                return _json(200, {"status": "duplicate"})
            if verdict == "busy":
                log.info("alert %s is being handled by another request; asking the caller to retry", key)
                return _retry_later("the same alert is being handled right now")

        try:
            report = self.responder.handle(raw, deadline=DELIVERY_DEADLINE_SECONDS)
        except EventError as exc:
            self._release(key, token)
            return self._bad(str(exc))
        except DeliveryFailed as exc:
            # Kept, never marked done, whether the failure is transient or a permanent refusal (a
            # revoked webhook, Slack's channel_not_found, a Teams body that reports an error): the
            # action group retries, as Lambda retries and then dead-letters the same case. The sinks
            # that succeeded hold receipts, so a retry posts only where it failed.
            self._release(key, token)
            failed = failures(exc.report)
            log.error("delivery failed%s, asking the action group to retry: %s",
                      " (refused permanently: fix the sink; see config check)" if any(f["refused"] for f in failed)
                      else "", redact(str(exc)))
            return _retry_later("delivery to a sink failed", failed)
        except (AzureError, StateError) as exc:
            self._release(key, token)
            log.error("transient Azure error while handling the alert: %s", error_text(exc))
            return _retry_later("a dependency is unavailable")
        except Exception:
            self._release(key, token)
            log.exception("unexpected error while handling the alert")
            raise

        summary = self._summary(report)
        if key is not None:
            try:
                self.state.put(key, {"status": "done", "at": self.clock(), "cause": summary.get("cause")},
                               ttl_seconds=DONE_TTL_SECONDS)
            except (AzureError, StateError) as exc:  # delivered already: a retry would duplicate, so 200
                log.error("could not record alert %s as handled: %s", key, error_text(exc))
        return _json(200, summary)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _bad(reason: str) -> func.HttpResponse:
        reason = bounded(reason)
        log.warning("rejected backup-alert payload (400): %s", reason)
        return _json(400, {"error": reason})

    def _claim(self, key: str, token: str) -> str:
        """'new' when this request owns the alert now, 'done' when it was handled, 'busy' when
        another request holds a live claim on it."""
        claim = {"status": "processing", "token": token, "lease_until": self.clock() + LEASE_SECONDS}
        for _ in range(3):
            if self.state.add(key, claim, ttl_seconds=DONE_TTL_SECONDS):
                return "new"
            current = self.state.get(key)
            if current is None:
                continue  # released in between
            if current.get("status") == "done":
                return "done"
            if float(current.get("lease_until") or 0) > self.clock():
                return "busy"
            # An abandoned claim: remove it and compete for a fresh one (``add`` is atomic).
            log.warning("taking over the abandoned claim on %s", key)
            self.state.delete(key)
        return "busy"

    def _release(self, key: str | None, token: str) -> None:
        """Give the alert back so the action group's retry can process it."""
        if key is None:
            return
        try:
            current = self.state.get(key)
            if current is not None and current.get("token") == token:
                self.state.delete(key)
        except (AzureError, StateError) as exc:  # the lease runs out on its own
            log.error("could not release the claim on %s: %s", key, error_text(exc))

    @staticmethod
    def _summary(report: Report) -> dict[str, Any]:
        outcome = report.outcome
        body: dict[str, Any] = {
            "status": "skipped" if report.skipped else "delivered",
            "cause": outcome.finding.cause,
            "rule": outcome.finding.rule,
            "code": outcome.finding.code,
            "recovered": outcome.failure.recovered,
            "deliveries": [{"sink": d.sink, "ok": d.ok} for d in report.deliveries],
        }
        if report.skipped:
            body["reason"] = report.skipped
        return body


def build_endpoint(env: Mapping[str, str] | None = None, enrichers: Sequence[Enricher] | None = None,
                   state: StateStore | None = None,
                   validator: SecureWebhookValidator | None = None,
                   credential: TokenCredential | None = None, clock: Clock = SYSTEM_CLOCK) -> AlertEndpoint:
    """The endpoint the app settings describe: Table storage state, Azure enrichment with the
    app's managed identity, the sinks of ``shared.wiring.build_responder``, the remediation
    engine of ``RESPONDER_AUTO_REMEDIATE`` and ``RESPONDER_CONFIG`` (``functions.azure.remediate``),
    and the Secure Webhook check when it is configured. Tests pass their own parts; ``credential``
    replaces the managed identity for the Resource Manager calls (enrichment and remediation);
    ``clock`` is delivery's (pacing, retries, deadline)."""
    from functions.azure.auth import SecureWebhookConfig
    from functions.azure.enrich import AzureBackupEnricher
    from functions.azure.state import TableStore
    from shared.settings import Settings
    from shared.wiring import build_responder

    env = os.environ if env is None else env
    quiet_sdk_loggers(env)  # azure-core logs request URLs and headers at DEBUG
    settings = Settings.from_env(env)
    if enrichers is None:
        enricher = AzureBackupEnricher.from_env(env, credential)
        enrichers = [enricher] if enricher is not None else []
    store = state if state is not None else TableStore.from_env(env)
    if validator is None:
        config = SecureWebhookConfig.from_env(env)
        validator = SecureWebhookValidator(config) if config is not None else None
    def remediators() -> Sequence[Remediator]:  # called (and its SDK imported) only when remediation is on
        from functions.azure.remediate import azure_remediators

        return azure_remediators(credential, env)

    responder = build_responder(settings, enrichers=enrichers, state=store, remediators=remediators, clock=clock,
                                clouds=CLOUDS)
    graph = None
    if responder.config.report is not None:  # the weekly report's Resource Graph query
        from functions.azure.enrich import ARM_ENDPOINT, ArmClient, managed_identity

        graph = ArmClient(credential or managed_identity(), env.get("RESPONDER_ARM_ENDPOINT") or ARM_ENDPOINT)
    return AlertEndpoint(responder=responder, state=store, validator=validator, graph=graph)
