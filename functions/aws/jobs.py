"""AWS Backup's job history, read live for ``backup-responder report`` and the weekly report: ``ListBackupJobs``,
``ListCopyJobs`` and ``ListRestoreJobs`` through botocore's paginators, from ``since`` on, in each
Region asked for. Throttling is botocore's: the clients retry in its ``standard`` mode
(``functions.aws.accounts.CLIENT_CONFIG``), with backoff, before an error reaches here.

Each page comes back as the AWS CLI prints it (``{"BackupJobs": [...]}``), so the report reads a
live page and a saved file the same way (``shared.report.sources``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

#: Operation (as the paginator names it) -> the list key of its answer.
LISTS: dict[str, str] = {
    "list_backup_jobs": "BackupJobs",
    "list_copy_jobs": "CopyJobs",
    "list_restore_jobs": "RestoreJobs",
}
#: ``ByAccountId`` for every account of the organization. The API reference (and botocore's model)
#: documents ``*``, from the management account or a delegated administrator for AWS Backup.
ORGANIZATION_ACCOUNTS = "*"
#: Jobs per page: the most the API accepts (MaxResults 1..1000).
PAGE_SIZE = 1000


def job_pages(client: Any, since: datetime | None, organization: bool,
              say: Callable[[str], None] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, page)`` for every page of the three lists in the client's Region; ``say`` hears
    the progress (on standard error)."""
    region = client.meta.region_name
    params: dict[str, Any] = {"PaginationConfig": {"PageSize": PAGE_SIZE}}
    if since is not None:
        params["ByCreatedAfter"] = since
    if organization:
        params["ByAccountId"] = ORGANIZATION_ACCOUNTS
    for operation, key in LISTS.items():
        count = 0
        for number, page in enumerate(client.get_paginator(operation).paginate(**params), 1):
            count += len(page.get(key) or [])
            yield f"aws:{region}:{key}:page {number}", {key: page.get(key) or []}
        if say is not None:
            say(f"AWS {region}: {count} {key[:-4].lower()} jobs read")


def backup_clients(regions: list[str], session: Any = None) -> list[Any]:
    """A Backup client per Region of ``session`` (a new one by default; its own Region when none is
    asked for)."""
    import boto3

    from functions.aws.accounts import CLIENT_CONFIG

    session = session or boto3.session.Session()
    return [session.client("backup", region_name=region, config=CLIENT_CONFIG)
            for region in (regions or [session.region_name])]
