"""What the Lambda handler calls: the core responder wired with the AWS adapters.

Per container (cold start): the boto3 clients (those that read, through the read-only member role,
and those that remediate, through ``REMEDIATION_ROLE_NAME``), the DynamoDB state store, the
idempotency layer.
Per event: the settings and the responder (its secret references are resolved through the
Powertools cache, so a rotation is picked up), with the remediation engine attached when
``RESPONDER_AUTO_REMEDIATE`` is not ``off`` (when it is, no remediation client is even created),
then ``Responder.handle`` with the Lambda's remaining time as its deadline. Metrics are recorded
from its report.

Failure handling, as Lambda's asynchronous invocation sees it: anything raised here (an event the
core refuses, a secret that cannot be resolved, a sink that failed) fails the invocation, Lambda
retries it (``MaximumRetryAttempts`` in ``template.yaml``) and then sends it to the on-failure
destination queue. The idempotency record of a failed invocation is removed, so the retry runs
in full; a duplicate of an event that was handled returns the stored result and posts nothing.

A malformed event (not a JSON object, nested too deep, text that is not Unicode, not an AWS Backup
event...) raises ``EventError`` with the reason before anything reads it, the idempotency layer
included. It is not retried forever: the two retries fail the same way at once, and the event is
then kept in the failed-events queue, the reason in the record's ``errorMessage``, for a person to
look at; nothing is posted for it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.aws.accounts import CLIENT_CONFIG, AccountClients
from functions.aws.decoder import StsDecoder
from functions.aws.enrich import BackupEnricher
from functions.aws.observe import NAMESPACE, delivery_attempts, logger, metrics, tracer
from functions.aws.secrets import ParameterSecrets
from functions.aws.state import KEY_ATTR, TTL_ATTR, DynamoStore
from shared.decode import Decoder
from shared.models import Failure
from shared.notify.config import ResponderConfig, config_from_settings
from shared.parse import EventError
from shared.parse.aws import arn_parts
from shared.pipeline import Enricher
from shared.redact import error_text, quiet_sdk_loggers
from shared.responder import DeliveryFailed, Report, Responder, failures
from shared.settings import Settings
from shared.sinks.http import SYSTEM_CLOCK, Clock
from shared.state import MemoryStore, StateStore
from shared.untrusted import check_event
from shared.wiring import build_responder

if TYPE_CHECKING:  # the remediation modules are imported only when remediation is on
    from shared.remediation.changes import Remediator

#: The clouds whose failures this function handles: it loads only their part of the catalog.
CLOUDS = ("aws",)
#: The same failure is one job id in one state: a second delivery of it is a duplicate.
IDEMPOTENCY_KEY = "[detail.backupJobId || detail.copyJobId || detail.restoreJobId, detail.state || detail.status]"
IDEMPOTENCY_KEY_PREFIX = "job-state"
#: EventBridge delivers at least once; Lambda keeps an asynchronous event up to 6 hours
#: (MaximumEventAgeInSeconds). A day covers every redelivery of the same state change.
IDEMPOTENCY_SECONDS = 24 * 3600

ENV_TABLE = "STATE_TABLE"
ENV_MEMBER_ROLE = "MEMBER_ROLE_NAME"
#: Seconds of the invocation kept back from the responder's deadline for what follows it: saving
#: the idempotency record (one DynamoDB write), flushing the metrics, the last log line. Delivery
#: keeps its own margin on top (``shared.sinks.http.DEADLINE_MARGIN_SECONDS``).
DEADLINE_SAFETY_SECONDS = 3.0
#: EventBridge's largest event (PutEvents entries are at most 256 KB): anything bigger did not
#: come through the rule, and its fields would not fit the state table's items (400 KB) either.
MAX_EVENT_BYTES = 256 * 1024
#: EventBridge event ids are UUIDs (36 characters); longer ones are not logged as the correlation id.
MAX_CORRELATION_ID_CHARS = 128


class _TracedEnricher:
    """An enricher in its own X-Ray subsegment (its response is not recorded)."""

    def __init__(self, inner: Enricher) -> None:
        self.name = inner.name
        self._enrich: Callable[[Failure], Failure] = tracer.capture_method(capture_response=False)(inner.enrich)

    def enrich(self, failure: Failure) -> Failure:
        return self._enrich(failure)


class _TracedDecoder:
    """The decoder in its own subsegment; the decoded document is privileged and never recorded."""

    def __init__(self, inner: Decoder) -> None:
        self._decode: Callable[[Failure], str] = tracer.capture_method(capture_response=False)(inner.decode)

    def decode(self, failure: Failure) -> str:
        return self._decode(failure)


#: The constant input of the template's WeeklyReportSchedule rule: post the failure report.
WEEKLY_REPORT_EVENT: dict[str, str] = {"backup-responder": "weekly-report"}


def is_weekly_report(event: dict[str, Any]) -> bool:
    return event == WEEKLY_REPORT_EVENT


def is_schedule(event: dict[str, Any]) -> bool:
    """An EventBridge scheduled event (source aws.events, detail-type Scheduled Event)."""
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


def correlation_id(event: Any) -> str | None:
    """The EventBridge event's ``id`` for the log lines (Powertools' EVENT_BRIDGE correlation path),
    only when it is a short text: the event is untrusted, and a log line must stay printable."""
    value = event.get("id") if isinstance(event, dict) else None
    return value if isinstance(value, str) and len(value) <= MAX_CORRELATION_ID_CHARS and value.isprintable() \
        else None


def account_of(context: LambdaContext | None) -> tuple[str | None, str]:
    """The function's own account and partition, from the invoked function ARN."""
    parts = arn_parts(getattr(context, "invoked_function_arn", None))
    return parts.get("account") or None, parts.get("partition") or "aws"


def deadline_of(context: LambdaContext | None) -> float | None:
    """Seconds the responder may use: the invocation's remaining time less ``DEADLINE_SAFETY_SECONDS``
    (None without a Lambda context, e.g. a local run)."""
    if context is None:
        return None
    return max(0.0, context.get_remaining_time_in_millis() / 1000 - DEADLINE_SAFETY_SECONDS)


def summary(report: Report) -> dict[str, Any]:
    """What the invocation returns (and idempotency stores): small, no message text."""
    failure, finding = report.outcome.failure, report.outcome.finding
    return {
        "job_type": failure.job_type, "job_id": failure.job_id, "state": failure.state,
        "account_id": failure.account_id, "cause": finding.cause, "rule": finding.rule,
        "decoded": failure.decoded is not None, "skipped": report.skipped,
        "delivered": {d.sink: d.ok for d in report.deliveries},
    }


def record_metrics(report: Report) -> None:
    """FailuresSeen per cause, notifications sent and failed, decodes."""
    failure = report.outcome.failure
    if failure.failed:
        with single_metric(name="FailuresSeen", unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
            metric.add_dimension(name="Cause", value=report.outcome.finding.cause)
    sent = sum(1 for d in report.deliveries if d.ok)
    if sent:
        metrics.add_metric(name="NotificationsSent", unit=MetricUnit.Count, value=sent)
    if len(report.deliveries) > sent:
        metrics.add_metric(name="NotificationsFailed", unit=MetricUnit.Count, value=len(report.deliveries) - sent)
    if failure.encoded_message:
        name = "Decodes" if failure.decoded is not None else "DecodeFailures"
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


class App:
    """The responder for one Lambda container."""

    def __init__(self, env: Mapping[str, str] | None = None, session: boto3.session.Session | None = None,
                 secrets: ParameterSecrets | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.env = os.environ if env is None else env
        self.clock = clock  # delivery's pacing, retries and deadline (tests pass a manual clock)
        quiet_sdk_loggers(self.env)  # botocore logs decrypted SSM parameters at DEBUG
        self.session = session or boto3.session.Session()
        self.secrets = secrets or ParameterSecrets()
        self.table = self.env.get(ENV_TABLE) or None
        self._clients: AccountClients | None = None
        self._remediation_clients: AccountClients | None = None
        self._dynamodb: Any = None
        self._state: StateStore | None = None
        self._config: ResponderConfig | None = None
        self._idempotency = IdempotencyConfig(event_key_jmespath=IDEMPOTENCY_KEY,
                                              expires_after_seconds=IDEMPOTENCY_SECONDS,
                                              response_hook=self._duplicate)
        self._process_once: Callable[..., dict[str, Any]] | None = None

    def clients(self, context: LambdaContext | None) -> AccountClients:
        if self._clients is None:
            account, partition = account_of(context)
            self._clients = AccountClients(account, self.env.get(ENV_MEMBER_ROLE), self.session.region_name,
                                           partition, self.session)
        return self._clients

    def remediation_clients(self, context: LambdaContext | None) -> AccountClients:
        """The clients that make changes: the function's own role in its account, the write-capable
        ``REMEDIATION_ROLE_NAME`` elsewhere (never the read-only member role). Created on first use."""
        if self._remediation_clients is None:
            from functions.aws.remediate import remediation_clients  # only when remediation is on

            account, partition = account_of(context)
            self._remediation_clients = remediation_clients(self.env, account, self.session.region_name, partition,
                                                            self.session)
        return self._remediation_clients

    def remediators(self, context: LambdaContext | None) -> list[Remediator]:
        """The AWS remediator, built (and its module imported) only when remediation is on."""
        from functions.aws.remediate import AwsRemediator

        return [AwsRemediator(self.remediation_clients(context))]

    def dynamodb(self) -> Any:
        """The one DynamoDB client of the container, for the state store and the idempotency layer
        (a second client would cost a cold start some 20 ms more)."""
        if self._dynamodb is None:
            self._dynamodb = self.session.client("dynamodb", config=CLIENT_CONFIG)
        return self._dynamodb

    def state(self) -> StateStore:
        if self._state is None:
            self._state = DynamoStore(self.table, self.dynamodb()) if self.table else MemoryStore()
        return self._state

    def config(self, settings: Settings) -> ResponderConfig:
        """``RESPONDER_CONFIG`` (or the simple settings), read once per container."""
        if self._config is None:
            self._config = config_from_settings(settings)
        return self._config

    def responder(self, context: LambdaContext | None) -> Responder:
        """The responder for one invocation: the configuration read once, the secrets resolved now (the
        Powertools cache picks up a rotation), the remediation clients created only when it is on."""
        clients = self.clients(context)
        settings = Settings.from_env(self.env)
        return build_responder(settings, config=self.config(settings),
                               enrichers=[_TracedEnricher(BackupEnricher(clients))],
                               decoder=_TracedDecoder(StsDecoder(clients)), state=self.state(),
                               resolvers=self.secrets.resolvers(),
                               remediators=lambda: self.remediators(context),
                               clock=self.clock, observe=delivery_attempts(tracer), clouds=CLOUDS)

    def handle(self, event: Any, context: LambdaContext) -> dict[str, Any]:
        logger.set_correlation_id(correlation_id(event))
        self.refuse_malformed(event)
        if is_schedule(event):  # the template's Digests schedule: not a failure, not idempotent
            return self.flush(context)
        if is_weekly_report(event):  # the WeeklyReportSchedule rule: once per week (``Once``), not idempotent here
            return self.weekly_report(context)
        if not self.table:  # local runs: no table, no idempotency
            return self.process(event=event, context=context)
        if self._process_once is None:
            persistence = DynamoDBPersistenceLayer(
                table_name=self.table, key_attr=KEY_ATTR, expiry_attr=TTL_ATTR,
                boto3_client=self.dynamodb())
            self._process_once = idempotent_function(
                data_keyword_argument="event", persistence_store=persistence, config=self._idempotency,
                key_prefix=IDEMPOTENCY_KEY_PREFIX)(self.process)
        self._idempotency.register_lambda_context(context)
        return self._process_once(event=event, context=context)

    @staticmethod
    def refuse_malformed(event: Any) -> None:
        """``EventError`` for an event that nothing here may read (see the module)."""
        try:
            size = len(json.dumps(check_event(event), ensure_ascii=False, separators=(",", ":")).encode())
            if size > MAX_EVENT_BYTES:
                raise EventError(f"the event is {size} bytes as JSON; EventBridge events are at most "
                                 f"{MAX_EVENT_BYTES}")
        except EventError as exc:
            metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=1)
            logger.error("malformed event refused; it will be retried, then kept in the failed-events queue",
                         extra={"error": str(exc)})
            raise

    def process(self, *, event: dict[str, Any], context: LambdaContext | None) -> dict[str, Any]:
        metrics.add_metric(name="EventsReceived", unit=MetricUnit.Count, value=1)
        try:
            report = self.responder(context).handle(event, deadline=deadline_of(context))
        except Exception as exc:
            metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=1)
            extra: dict[str, Any] = {"error": error_text(exc)}
            if isinstance(exc, DeliveryFailed):  # the same report as the Azure endpoint's 503
                extra["failed"] = failures(exc.report)
            logger.error("event not handled; it will be retried, then kept in the failed-events queue", extra=extra)
            raise
        record_metrics(report)
        result = summary(report)
        logger.info("event handled", extra=result)
        return result

    def flush(self, context: LambdaContext | None) -> dict[str, Any]:
        """Send the digests of closed storms and ended quiet hours; a failure raises (retried)."""
        deliveries = self.responder(context).flush(deadline=deadline_of(context))
        failed = [d for d in deliveries if not d.ok]
        logger.info("digests flushed", extra={"sent": len(deliveries) - len(failed), "failed": len(failed)})
        if failed:
            raise RuntimeError("digest delivery failed: " + ", ".join(f"{d.sink}: {d.detail}" for d in failed))
        return {"flushed": len(deliveries)}

    def weekly_report(self, context: LambdaContext | None) -> dict[str, Any]:
        """Post the failure report of the configuration's ``report`` section (nothing without one):
        the jobs of its Regions (default: the function's) listed live, once per period and sink.
        A list call that fails, or a sink that fails, raises: Lambda retries, and a retry posts only
        where the report is not delivered yet."""
        from functions.aws import jobs  # the list calls and the report's code only for this schedule
        from shared.report.digest import send_scheduled_report

        responder = self.responder(context)
        settings = responder.config.report
        regions = (settings.regions if settings else []) or [self.session.region_name]
        organization = settings.organization if settings else False

        def pages(since: datetime) -> Iterator[tuple[str, dict[str, Any]]]:
            for client in jobs.backup_clients(regions, self.session):
                yield from jobs.job_pages(client, since, organization)

        run = send_scheduled_report(responder, pages, deadline=deadline_of(context))
        if run is None:
            logger.info("weekly report: off (the configuration has no report section)")
            return {"report": "off"}
        failed = run.failed
        sent = len(run.deliveries) - len(failed)
        extra = {"period": run.period, "failed_jobs": run.summary["failed"] if run.summary else None,
                 "sent": sent, "failed": len(failed)}
        logger.info("weekly report", extra=extra)
        if sent:
            metrics.add_metric(name="ReportsSent", unit=MetricUnit.Count, value=sent)
        if failed:
            raise RuntimeError("report delivery failed: " + ", ".join(f"{d.sink}: {d.detail}" for d in failed))
        return {"report": run.period, "failed_jobs": extra["failed_jobs"],
                "delivered": {d.sink: d.ok for d in run.deliveries}}

    @staticmethod
    def _duplicate(response: Any, idempotent_data: DataRecord) -> Any:
        metrics.add_metric(name="DuplicatesIgnored", unit=MetricUnit.Count, value=1)
        logger.info("duplicate delivery of a handled failure: nothing posted",
                    extra={"idempotency_key": idempotent_data.idempotency_key})
        return response
