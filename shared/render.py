"""Rendering an outcome for people: plain text for the console, and the neutral JSON document the
outbox keeps. Chat and ticket renderers build on the same ``Outcome``."""

from __future__ import annotations

import textwrap
from typing import Any
from urllib.parse import quote

from shared.models import Outcome
from shared.remediation.render import remediation_lines

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


def render_text(outcome: Outcome, width: int = 100) -> str:
    """A readable message for a terminal: what failed, why, how to fix it."""
    finding, plan, failure = outcome.finding, outcome.plan, outcome.failure
    lines = [f"[{finding.severity.upper()}] {finding.title}",
             f"cause: {finding.cause}   rule: {finding.rule or '-'}   confidence: {finding.confidence:.2f}"]
    lines += [f"  {label:<12} {value}" for label, value in what_failed(outcome)]
    if failure.message:
        lines.append("  Message      " + textwrap.shorten(failure.message, 600, placeholder=" ..."))
    if failure.decoded is not None:
        d = failure.decoded
        lines.append(f"  Decoded      {d.action} on {d.resource} denied for {d.principal_arn}"
                     + (" (explicit deny)" if d.explicit_deny else ""))
    lines += remediation_lines(outcome)  # "Applied: …", "Dry run: would …", "Not applied: … because …"
    if plan is not None:
        lines += ["", "Why:", *textwrap.wrap(plan.explanation, width, initial_indent="  ",
                                            subsequent_indent="  ")]
        lines += ["", "Fix:"]
        for number, step in enumerate(plan.steps, 1):
            lines += textwrap.wrap(step, width, initial_indent=f"  {number}. ", subsequent_indent="     ")
        for snippet in plan.snippets:
            lines += ["", f"  {snippet.title} ({snippet.kind}):",
                      *("    " + line for line in snippet.body.splitlines())]
        for ra in plan.role_assignments:
            lines.append(f"  Role: {ra.role} ({ra.role_definition_id}) for {ra.principal_id} on {ra.scope}")
        if plan.missing:
            lines += ["", "Not known from the event, fill in: " + ", ".join("{" + m + "}" for m in plan.missing)]
            lines += [f"  {{{name}}}: {how}" for name, how in plan.lookups.items()]
        if plan.auto_fix == "none" and plan.manual_reason:
            lines.append("  Needs a person: " + plan.manual_reason)
        if plan.docs:
            lines += ["", "Docs:", *(f"  {url}" for url in plan.docs)]
    elif failure.failed:
        lines += ["", "No catalog rule matches this failure yet; the raw message is kept above."]
    return "\n".join(lines)


def message_document(outcome: Outcome) -> dict[str, Any]:
    """The neutral JSON document of an outcome (what the outbox writes)."""
    return {
        "classification": outcome.summary(),
        "failure": outcome.failure.model_dump(mode="json", exclude={"encoded_message"}),
        "plan": outcome.plan.model_dump(mode="json") if outcome.plan else None,
        "remediation": outcome.remediation.model_dump(mode="json") if outcome.remediation else None,
        "text": render_text(outcome),
    }


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
