"""The lines a message shows about remediation: what was done, what would be done, or why not.

``headline`` is the one place that words a decision; ``shared.notify.compose`` puts it into every
message (and the diff as a code block where the sink has one).
"""

from __future__ import annotations

from shared.models import RemediationSummary

#: The diff shown in a message is cut after this many lines (the audit trail keeps all of it).
MAX_DIFF_LINES = 60


def headline(summary: RemediationSummary) -> str | None:
    """One line: "Applied: …", "Dry run: would …", "Not applied: … because …" (None: nothing to say)."""
    s = summary
    by = f" (approved by {s.actor})" if s.actor != "auto" else ""
    if s.action == "applied":
        text = f"Applied{by}: {s.done or s.change or s.kind}"
        if s.restarted_job_id:
            text += f"; job restarted as {s.restarted_job_id}"
        elif s.restart_error:
            text += f"; the job was not restarted: {s.restart_error}"
        return text
    if s.action == "planned":
        if s.needs_person and s.reason:  # a risk: a person decides, in any mode
            return f"Planned: {s.change}; {s.reason}"
        if s.mode == "dry-run":
            return f"Dry run: would {s.change}"
        return f"Planned: {s.change}; waiting for approval in chat"
    if s.action == "failed":
        return f"Not applied: {s.change or s.kind or 'the fix'} failed because {s.reason}"
    if s.action == "refused":
        if s.change:
            return f"Not applied: {s.change}, refused because {s.reason}"
        return f"Not applied because {s.reason}"
    if s.action == "suppressed":
        return f"Not applied because {s.reason}"
    if s.action == "notified" and s.mode != "off" and s.reason and s.reason.startswith("never automated"):
        return f"Not applied: {s.reason}"
    return None


def diff_lines(summary: RemediationSummary, limit: int = MAX_DIFF_LINES) -> list[str]:
    """The change as diff lines (policy documents) or role assignments, cut at ``limit``."""
    if not summary.diff or summary.action not in ("planned", "applied"):
        return []
    lines = summary.diff.splitlines()
    if len(lines) > limit:
        lines = [*lines[:limit], f"… ({len(lines) - limit} more lines in the audit trail)"]
    return lines
