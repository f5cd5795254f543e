"""What a remediator proposes and does: a ``Change`` (before and after), an ``Applied`` result,
and the ``Remediator`` protocol the cloud adapters implement.

A ``Change`` is planned by reading the current state (a policy document, the role assignments at a
scope) and computing the smallest addition that fixes the failure. It carries everything needed to
apply it, so the decision that was shown (dry-run, approval) is the change that is applied.
"""

from __future__ import annotations

import difflib
import json
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from shared.models import Failure, Outcome
from shared.vocab import Cloud, FixKind


class RemediationRefused(Exception):
    """The fix must not be made (a guardrail, a validation, a missing fact); the text says why.

    ``needs_person`` marks refusals that only a person can resolve (the common case)."""

    def __init__(self, reason: str, needs_person: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.needs_person = needs_person


class AlreadyInPlace(RemediationRefused):
    """The permission the fix would add is already there: the failure has another cause."""


class Change(BaseModel):
    """One planned change: where, what, and the documents before and after."""

    model_config = ConfigDict(frozen=True)

    kind: FixKind
    cloud: Cloud
    #: The AWS account or Azure subscription the change is made in.
    account: str | None = None
    region: str | None = None
    #: The resource that is changed: a role ARN, a vault ARN, a key ARN, an ARM scope.
    target: str
    #: "add iam:PassRole on role X to role Y" (what a dry run would do).
    summary: str
    #: "added iam:PassRole on role X to role Y" (what was done).
    done: str
    #: The resource's document before (None: it had none) and after the change.
    before: Any = None
    after: Any = None
    #: Adapter parameters to apply it (role name, policy name, key id, assignment names...).
    params: dict[str, Any] = {}
    #: Notes for the reader (what was checked, what could not be).
    notes: list[str] = []
    #: Why this change is not applied without a person, though it adds only the one permission
    #: (passing a role with administrator-level permissions...). None: no such risk. A person may
    #: still approve it in chat; the message states the risk.
    risk: str | None = None

    def diff(self) -> str:
        """A unified diff of the documents (sorted keys, two-space indent)."""
        return document_diff(self.before, self.after, self.target)


class Applied(BaseModel):
    """What applying a change did."""

    changed: bool = True
    detail: str = ""


def canonical(document: Any) -> str:
    """A document as stable, readable JSON (the form diffs and comparisons use)."""
    if document is None:
        return ""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)


def document_diff(before: Any, after: Any, name: str = "document") -> str:
    lines = difflib.unified_diff(canonical(before).splitlines(), canonical(after).splitlines(),
                                 fromfile=f"{name} (before)", tofile=f"{name} (after)", lineterm="", n=2)
    return "\n".join(lines)


@runtime_checkable
class Remediator(Protocol):
    """A cloud adapter that fixes some kinds of failure (``kinds``: the catalog's ``auto_fix``)."""

    kinds: frozenset[str]

    def plan_change(self, outcome: Outcome) -> Change:
        """The change that fixes this outcome, computed from the resource's current state (read
        only). Raises ``RemediationRefused`` (or ``AlreadyInPlace``) when it must not be made."""
        ...

    def apply(self, change: Change) -> Applied:
        """Make the change (idempotent). Raises ``RemediationRefused`` when the resource changed
        since it was planned or the provider rejected it."""
        ...

    def verify(self, change: Change) -> bool:
        """True when the resource now holds the change."""
        ...


@runtime_checkable
class JobRestarter(Protocol):
    """A remediator that can start the failed job again with its original parameters."""

    def restart(self, outcome: Outcome, change: Change) -> str:
        """Start the job again; the new job's id."""
        ...


@runtime_checkable
class TagReader(Protocol):
    """A remediator that can read the failed resource's tags (for ``tags`` in the allow-list)."""

    def resource_tags(self, failure: Failure) -> dict[str, str] | None:
        """The resource's tags, or None when they cannot be read."""
        ...
