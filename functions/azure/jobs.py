"""Azure Backup's job history, read live for ``backup-responder report`` through Azure Resource
Graph: one query over ``RecoveryServicesResources`` finds the failed jobs of Recovery Services
vaults and Backup vaults in every subscription the identity can read, page by page
(``$skipToken``). Resource Graph throttles per user (``x-ms-user-quota-remaining``); azure-core's
retry policy honours its 429 and ``Retry-After``.

Each page comes back as ``az graph query`` prints it (``{"data": [...]}``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from functions.azure.enrich import ArmClient

RESOURCE_GRAPH_PATH = "/providers/Microsoft.ResourceGraph/resources"
#: Resource Graph's stable API version (azure-rest-api-specs, resourcegraph, 2022-10-01).
API_RESOURCE_GRAPH = "2022-10-01"
#: Rows per page: Resource Graph returns at most 1000.
PAGE_SIZE = 1000
#: The failed and partly failed jobs of both vault kinds, newest first.
QUERY = """RecoveryServicesResources
| where type in~ ('microsoft.recoveryservices/vaults/backupjobs', 'microsoft.dataprotection/backupvaults/backupjobs')
| where properties.status in~ ('Failed', 'CompletedWithWarnings')
{since}| order by todatetime(properties.startTime) desc"""


def query_for(since: datetime | None) -> str:
    when = f"| where todatetime(properties.startTime) >= datetime({since.isoformat()})\n" if since else ""
    return QUERY.format(since=when)


def job_pages(client: ArmClient, since: datetime | None,
              say: Callable[[str], None] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, page)`` for every page of the query's answer."""
    options: dict[str, Any] = {"resultFormat": "objectArray", "$top": PAGE_SIZE}
    count, number = 0, 0
    while True:
        number += 1
        body = client.post(RESOURCE_GRAPH_PATH, API_RESOURCE_GRAPH, {"query": query_for(since), "options": options})
        rows = body.get("data") or []
        count += len(rows)
        yield f"azure:resource-graph:page {number}", {"data": rows}
        token = body.get("$skipToken")
        if not token:
            break
        options = {**options, "$skipToken": token}
    if say is not None:
        say(f"Azure Resource Graph: {count} failed jobs read")
