"""The live inputs of ``backup-responder report``: with no PATH, the job history of every cloud this
machine's credentials reach (the AWS default credential chain; ``az login`` or the Azure
environment variables, as ``functions.local`` finds them). A cloud without its SDK or credentials
is skipped, said once on standard error; a call that fails is an error of the report (exit 2),
never a traceback; with no cloud at all, the report says so.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from functions import local
from shared.notify.types import ConfigError
from shared.redact import error_text

#: A page of jobs, or why a list could not be read.
Page = tuple[str, dict[str, Any] | str]


def aws_pages(regions: list[str], organization: bool, since: datetime | None,
              say: Callable[[str], None]) -> Iterator[Page]:
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        from functions.aws import jobs
    except ImportError as exc:
        raise local.Unavailable(local.NO_AWS_SDK) from exc
    if boto3.session.Session().get_credentials() is None:
        raise local.Unavailable(local.NO_AWS)
    for client in jobs.backup_clients(regions):
        region = client.meta.region_name
        say(f"AWS {region}: listing backup, copy and restore jobs{' of the organization' if organization else ''}")
        try:
            yield from jobs.job_pages(client, since, organization, say)
        except (BotoCoreError, ClientError) as exc:
            yield f"aws:{region}", f"could not list the jobs: {error_text(exc)}"


def azure_pages(since: datetime | None, say: Callable[[str], None]) -> Iterator[Page]:
    try:
        from azure.core.exceptions import AzureError

        from functions.azure import jobs
        from functions.azure.enrich import ARM_ENDPOINT, ArmClient, ArmError
    except ImportError as exc:
        raise local.Unavailable(local.NO_AZURE_SDK) from exc
    client = ArmClient(local.azure_credential(), endpoint=os.environ.get("RESPONDER_ARM_ENDPOINT") or ARM_ENDPOINT)
    say("Azure: querying Resource Graph for the failed backup jobs of every subscription this identity reads")
    try:
        yield from jobs.job_pages(client, since, say)
    except (AzureError, ArmError) as exc:
        yield "azure:resource-graph", f"could not query Resource Graph: {error_text(exc)}"


def live_pages(regions: list[str], organization: bool, since: datetime | None,
               say: Callable[[str], None]) -> Iterator[Page]:
    """Every page of both clouds; ``ConfigError`` when neither can be read."""
    clouds: dict[str, Callable[[], Iterator[Page]]] = {
        "AWS": lambda: aws_pages(regions, organization, since, say),
        "Azure": lambda: azure_pages(since, say),
    }
    reached = 0
    for cloud, pages in clouds.items():
        try:
            yield from pages()
            reached += 1
        except local.Unavailable as exc:
            say(f"{cloud} skipped: {exc.reason}")
    if not reached:
        raise ConfigError("no PATH was given and no cloud could be read from here: give files, or - for "
                          "standard input")
