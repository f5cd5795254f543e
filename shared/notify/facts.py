"""Rendering an outcome for people: plain text for the console, and the neutral JSON document the
outbox keeps. Chat and ticket renderers build on the same ``Outcome``."""

from __future__ import annotations

from urllib.parse import quote

from shared.models import Outcome

CLOUD_NAMES = {"aws": "AWS", "azure": "Azure"}


def what_failed(outcome: Outcome) -> list[tuple[str, str]]:
    """The facts a reader needs to find the failed job, as (label, value) pairs."""
    f = outcome.failure
    rows = [
        ("Job", " ".join(p for p in (CLOUD_NAMES[f.cloud], f.job_type or "", "job", f.job_id or "") if p)),
        ("State", f.state or ""),
        ("Resource", " ".join(p for p in (f.resource_type or "", f.resource_id or f.resource_name or "") if p)),
        ("Vault", f.vault_id or f.vault_name or ""),
        ("Account" if f.cloud == "aws" else "Subscription", f.account_id or ""),
        ("Region", f.region or ""),
        ("Time", f.time.isoformat() if f.time else ""),
        ("Code", outcome.finding.code or ""),
    ]
    if f.job_type == "copy" and f.facts.get("destination_vault_arn"):
        rows.insert(4, ("Destination", f.facts["destination_vault_arn"]))
    return [(label, value) for label, value in rows if value]


#: Links shown as buttons must be https and short enough for every sink (Slack: 3000 characters).
MAX_LINK_CHARS = 3000


def _aws_console(region: str | None, fragment: str) -> str | None:
    if not region:
        return None
    return f"https://{region}.console.aws.amazon.com/backup/home?region={region}#/{fragment}"


def links(outcome: Outcome, docs: int = 2) -> list[tuple[str, str]]:
    """The console pages of the job, the resource and the vault, and the documentation, as
    (label, url) pairs: https only, in that order, without duplicates."""
    f = outcome.failure
    found: list[tuple[str, str | None]] = [("Open job", f.links.get("job"))]
    resource = f.links.get("resource")
    if resource is None and f.cloud == "aws" and f.resource_id and f.resource_id.startswith("arn:"):
        resource = _aws_console(f.region, "resources/" + quote(f.resource_id, safe=""))
    found.append(("Open resource", resource))
    vault = f.links.get("vault")
    if vault is None and f.cloud == "aws" and f.vault_name:
        vault = _aws_console(f.region, "backupvaults/details/" + quote(f.vault_name, safe=""))
    found.append(("Open vault", vault))
    if "alert" in f.links:
        found.append(("Open alert", f.links["alert"]))
    if outcome.plan is not None:
        found += [("Documentation" if i == 0 else f"Documentation {i + 1}", url)
                  for i, url in enumerate(outcome.plan.docs[:docs])]
    seen: set[str] = set()
    result = []
    for label, url in found:
        if url and url.startswith("https://") and len(url) <= MAX_LINK_CHARS and url not in seen:
            seen.add(url)
            result.append((label, url))
    return result
