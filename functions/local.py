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
from collections.abc import Callable, Mapping, Sequence

from shared.models import Failure, Outcome
from shared.remediation.changes import Applied, Change, JobRestarter, RemediationRefused, Remediator, TagReader
from shared.remediation.engine import error_text
from shared.remediation.offline import AWS_KINDS, AZURE_KINDS, OFFLINE_PARAM, PlanOnlyRemediator

log = logging.getLogger("backup_responder.cli")

#: The token scope of Azure Resource Manager (role assignments).
ARM_SCOPE = "https://management.azure.com/.default"
NO_AWS = "there are no AWS credentials on this machine"
NO_AZURE = "there are no Azure credentials on this machine"


class Unavailable(Exception):
    """The cloud cannot be reached from here; ``reason`` says why, in words for the message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def connect_aws(env: Mapping[str, str] | None = None) -> Remediator:
    """The AWS remediator with this machine's credentials; ``Unavailable`` without them."""
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        from functions.aws.accounts import CLIENT_CONFIG
        from functions.aws.remediate import AwsRemediator, remediation_clients
    except ImportError as exc:
        raise Unavailable("the AWS SDK is not installed here (pip install 'backup-responder[aws]')") from exc
    from shared.parse.aws import arn_parts

    session = boto3.session.Session()
    if session.get_credentials() is None:
        raise Unavailable(NO_AWS)
    try:
        identity = session.client("sts", region_name=session.region_name, config=CLIENT_CONFIG).get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        raise Unavailable(f"the AWS credentials on this machine do not work (STS: {error_text(exc)})") from exc
    partition = arn_parts(identity.get("Arn")).get("partition") or "aws"
    clients = remediation_clients(env, str(identity["Account"]), session.region_name, partition, session)
    log.info("auto-remediation acts with this machine's AWS credentials in account %s", identity["Account"])
    return AwsRemediator(clients)


def connect_azure(env: Mapping[str, str] | None = None) -> Remediator:
    """The Azure remediator with this machine's credentials; ``Unavailable`` without them."""
    try:
        from azure.core.exceptions import ClientAuthenticationError
        from azure.identity import DefaultAzureCredential

        from functions.azure.remediate import AzureRemediator
    except ImportError as exc:
        raise Unavailable("the Azure SDKs are not installed here (pip install 'backup-responder[azure]')") from exc
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
    return AzureRemediator(credential)


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
