"""The cloud remediators the command line uses on a laptop: the AWS and Azure adapters when
credentials are found, else the plan-only planner (``shared.remediation.offline``), so that
``respond`` with ``RESPONDER_AUTO_REMEDIATE=dry-run`` still shows the change the plan makes.

The CLI is an entry point beside the Lambda and the Azure Function (DESIGN.md: "it wires the same
pipeline for a laptop ... the cloud adapters when credentials are present"), so it lives with them
in ``functions/`` and ``shared`` stays free of SDKs. The adapters are reached lazily, when the first
failure needs a fix, so that importing this module imports no SDK and looks up no credential.

- AWS: the default credential chain (``AWS_PROFILE``, environment, SSO...); STS ``GetCallerIdentity``
  names the account they act in. Other accounts are reached through ``REMEDIATION_ROLE_NAME`` as in
  the Lambda; without it, a failure of another account is planned from the plan only.
- Azure: ``DefaultAzureCredential`` without the managed identity (a laptop has none, and probing
  for it waits on the network): ``az login``, or ``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID`` and
  ``AZURE_CLIENT_SECRET``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from shared.decode import DecodeError
from shared.models import Failure, Outcome
from shared.pipeline import Enricher
from shared.remediation.changes import Applied, Change, JobRestarter, RemediationRefused, Remediator, TagReader
from shared.remediation.engine import error_text
from shared.remediation.offline import AWS_KINDS, AZURE_KINDS, OFFLINE_PARAM, PlanOnlyRemediator

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from functions.aws.accounts import AccountClients

log = logging.getLogger("backup_responder.cli")
T = TypeVar("T")

#: The token scope of Azure Resource Manager (role assignments).
ARM_SCOPE = "https://management.azure.com/.default"
NO_AWS = "there are no AWS credentials on this machine"
NO_AZURE = "there are no Azure credentials on this machine"
NO_AWS_SDK = "the AWS SDK is not installed here (pip install 'backup-responder[aws]')"
NO_AZURE_SDK = "the Azure SDKs are not installed here (pip install 'backup-responder[azure]')"
#: As in the Lambda (``functions.aws.app``): the read-only role assumed in other accounts.
ENV_MEMBER_ROLE = "MEMBER_ROLE_NAME"


class Unavailable(Exception):
    """The cloud cannot be reached from here; ``reason`` says why, in words for the message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _aws_identity() -> tuple[Any, str, str]:
    """This machine's boto3 session, the account its credentials act in, and the partition;
    ``Unavailable`` without the SDK or working credentials (one STS ``GetCallerIdentity``)."""
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        from functions.aws.accounts import CLIENT_CONFIG
    except ImportError as exc:
        raise Unavailable(NO_AWS_SDK) from exc
    from shared.parse.aws import arn_parts

    session = boto3.session.Session()
    if session.get_credentials() is None:
        raise Unavailable(NO_AWS)
    try:
        identity = session.client("sts", region_name=session.region_name, config=CLIENT_CONFIG).get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        raise Unavailable(f"the AWS credentials on this machine do not work (STS: {error_text(exc)})") from exc
    return session, str(identity["Account"]), arn_parts(identity.get("Arn")).get("partition") or "aws"


def connect_aws(env: Mapping[str, str] | None = None) -> Remediator:
    """The AWS remediator with this machine's credentials; ``Unavailable`` without them."""
    try:
        from functions.aws.remediate import AwsRemediator, remediation_clients
    except ImportError as exc:
        raise Unavailable(NO_AWS_SDK) from exc
    session, account, partition = _aws_identity()
    clients = remediation_clients(env, account, session.region_name, partition, session)
    log.info("auto-remediation acts with this machine's AWS credentials in account %s", account)
    return AwsRemediator(clients)


def connect_aws_readers(env: Mapping[str, str] | None = None) -> AccountClients:
    """The clients the Lambda reads with (``functions.aws.app``), with this machine's credentials:
    their account is the home account, other accounts through ``MEMBER_ROLE_NAME`` as in the
    Lambda (without it, STS is asked in the home account only)."""
    from functions.aws.accounts import AccountClients

    env = os.environ if env is None else env
    session, account, partition = _aws_identity()
    return AccountClients(account, env.get(ENV_MEMBER_ROLE), session.region_name, partition, session)


def azure_credential() -> TokenCredential:
    """``DefaultAzureCredential`` without the managed identity, checked with one token request;
    ``Unavailable`` without the SDKs or credentials."""
    try:
        from azure.core.exceptions import ClientAuthenticationError
        from azure.identity import DefaultAzureCredential
    except ImportError as exc:
        raise Unavailable(NO_AZURE_SDK) from exc
    credential = DefaultAzureCredential(exclude_managed_identity_credential=True)
    quiet = logging.getLogger("azure.identity")  # it logs every credential it tried: the reason is enough
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        credential.get_token(ARM_SCOPE)
    except ClientAuthenticationError as exc:
        raise Unavailable(NO_AZURE) from exc
    finally:
        quiet.setLevel(level)
    return credential


def connect_azure(env: Mapping[str, str] | None = None) -> Remediator:
    """The Azure remediator with this machine's credentials; ``Unavailable`` without them."""
    try:
        from functions.azure.remediate import AzureRemediator
    except ImportError as exc:
        raise Unavailable(NO_AZURE_SDK) from exc
    return AzureRemediator(azure_credential())


def connect_azure_enricher(env: Mapping[str, str] | None = None) -> Enricher | None:
    """The Azure Function's enricher (``AzureBackupEnricher.from_env``) with this machine's
    credentials; None when ``RESPONDER_AZURE_ENRICH=off``."""
    try:
        from functions.azure.enrich import AzureBackupEnricher
    except ImportError as exc:
        raise Unavailable(NO_AZURE_SDK) from exc
    return AzureBackupEnricher.from_env(env, azure_credential())


class LazyRemediator:
    """The cloud adapter for ``kinds``, connected when a failure first needs it; the plan-only
    planner when it cannot connect, or when the adapter cannot read the resource (credentials of
    another account, no permission). A change planned from the plan is never applied."""

    def __init__(self, kinds: frozenset[str], connect: Callable[[], Remediator]) -> None:
        self.kinds = kinds
        self.connect = connect
        self._adapter: Remediator | None = None

    @property
    def adapter(self) -> Remediator:
        if self._adapter is None:
            try:
                self._adapter = self.connect()
            except Unavailable as exc:
                log.info("auto-remediation plans from the plan only: %s", exc.reason)
                self._adapter = PlanOnlyRemediator(self.kinds, exc.reason)
            except Exception as exc:  # a broken SDK set-up must not stop the messages
                log.warning("the cloud adapter could not be set up: %s", type(exc).__name__)
                self._adapter = PlanOnlyRemediator(self.kinds, f"the cloud SDK could not be set up here "
                                                               f"({type(exc).__name__})")
        return self._adapter

    def plan_change(self, outcome: Outcome) -> Change:
        adapter = self.adapter
        try:
            return adapter.plan_change(outcome)
        except RemediationRefused:
            raise
        except Exception as exc:
            if isinstance(adapter, PlanOnlyRemediator):
                raise
            why = f"the credentials on this machine could not read it ({error_text(exc)})"
            log.warning("the current state could not be read: %s; planning from the plan only", error_text(exc))
            return PlanOnlyRemediator(self.kinds, why).plan_change(outcome)

    def apply(self, change: Change) -> Applied:
        if change.params.get(OFFLINE_PARAM):  # planned from the plan only: never applied
            return PlanOnlyRemediator(self.kinds, str(change.params[OFFLINE_PARAM])).apply(change)
        return self.adapter.apply(change)

    def verify(self, change: Change) -> bool:
        return not change.params.get(OFFLINE_PARAM) and self.adapter.verify(change)

    def restart(self, outcome: Outcome, change: Change) -> str:
        adapter = self.adapter
        if not isinstance(adapter, JobRestarter):
            raise RemediationRefused("the job is not started again from here", needs_person=False)
        return adapter.restart(outcome, change)

    def resource_tags(self, failure: Failure) -> dict[str, str] | None:
        adapter = self.adapter
        return adapter.resource_tags(failure) if isinstance(adapter, TagReader) else None


def local_remediators(env: Mapping[str, str] | None = None,
                      aws: Callable[[], Remediator] | None = None,
                      azure: Callable[[], Remediator] | None = None) -> Sequence[Remediator]:
    """The remediators of the CLI (``aws`` and ``azure`` replace the connections, for tests)."""
    return [LazyRemediator(AWS_KINDS, aws or (lambda: connect_aws(env))),
            LazyRemediator(AZURE_KINDS, azure or (lambda: connect_azure(env)))]


def offline_remediators(why: str) -> Sequence[Remediator]:
    """Planners that read nothing and change nothing (the demo)."""
    return [PlanOnlyRemediator(AWS_KINDS, why), PlanOnlyRemediator(AZURE_KINDS, why)]


# ---------------------------------------------------------------------------- enrichment and decoding
class Once(Generic[T]):
    """What ``connect`` gives, asked for once, when a failure first needs it; when it cannot be had,
    ``say`` tells why, once, and ``get`` gives None from then on (the run goes on offline)."""

    def __init__(self, what: str, connect: Callable[[], T | None], say: Callable[[str], None]) -> None:
        self.what, self.connect, self.say = what, connect, say
        self.reason: str | None = None
        self._value: T | None = None
        self._tried = False

    def get(self) -> T | None:
        if not self._tried:
            self._tried = True
            try:
                self._value = self.connect()
            except Unavailable as exc:
                self.reason = exc.reason
            except Exception as exc:  # a broken SDK set-up must not stop the messages
                self.reason = f"the cloud SDK could not be set up here ({type(exc).__name__})"
            if self.reason is not None:
                self.say(f"{self.what} skipped for this run: {self.reason}")
        return self._value


class LocalAwsEnricher:
    """``functions.aws.enrich.BackupEnricher`` with this machine's credentials, connected when an
    AWS failure first needs it."""

    name = "describe the AWS Backup job"

    def __init__(self, clients: Once[AccountClients]) -> None:
        self.clients = clients

    def enrich(self, failure: Failure) -> Failure:
        if failure.cloud != "aws" or not failure.failed:
            return failure
        clients = self.clients.get()
        if clients is None:
            return failure
        from functions.aws.enrich import BackupEnricher

        return BackupEnricher(clients).enrich(failure)


class LocalStsDecoder:
    """``functions.aws.decoder.StsDecoder`` with this machine's credentials; without them the
    message says why it was not decoded, and how to decode it by hand."""

    def __init__(self, clients: Once[AccountClients]) -> None:
        self.clients = clients

    def decode(self, failure: Failure) -> str:
        clients = self.clients.get()
        if clients is None:
            raise DecodeError(self.clients.reason or NO_AWS)
        from functions.aws.decoder import StsDecoder

        return StsDecoder(clients).decode(failure)


class LocalAzureEnricher:
    """``functions.azure.enrich.AzureBackupEnricher`` with this machine's credentials, connected
    when an Azure failure first needs it."""

    name = "read the Azure Backup job, vault and protected resource from Azure Resource Manager"

    def __init__(self, enricher: Once[Enricher]) -> None:
        self.enricher = enricher

    def enrich(self, failure: Failure) -> Failure:
        if failure.cloud != "azure" or not failure.failed or not failure.vault_id:
            return failure
        enricher = self.enricher.get()
        return failure if enricher is None else enricher.enrich(failure)


def local_enrichment(say: Callable[[str], None], env: Mapping[str, str] | None = None,
                     ) -> tuple[list[Enricher], LocalStsDecoder]:
    """The enrichers and the decoder of the cloud entry points (``functions.aws.app``,
    ``functions.azure.endpoint``) with this machine's credentials, each connected on first use;
    ``say`` tells, once per cloud, why one is off (no SDK, no credentials)."""
    aws: Once[AccountClients] = Once("AWS job description and STS decoding", lambda: connect_aws_readers(env), say)
    azure: Once[Enricher] = Once("Azure Resource Manager reads", lambda: connect_azure_enricher(env), say)
    return [LocalAwsEnricher(aws), LocalAzureEnricher(azure)], LocalStsDecoder(aws)
