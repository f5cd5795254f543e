"""Guardrails: what automation must never do, and how much it may do.

- Some fixes need a person whatever the configuration says (network settings, SQL grants, the
  Entra admin, credentials, trust policies): ``manual_reason``.
- A decoded authorization message with an explicit Deny, or naming a principal or resource outside
  the account the failure belongs to, stops automation: ``check_decoded``.
- A change must only add: it may not remove or narrow any existing statement or role assignment,
  it must be made where the failure says it should, and with specific resources: ``check_change``.
- ``RateLimiter``: at most N changes per hour overall and M per resource within a window.
- ``CircuitBreaker``: a fix applied for a resource, then the same failure again, stops automation
  for that resource until a person resets it.

Counters and markers live behind the ``StateStore`` protocol, so they hold across Lambda
containers and Function instances.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from msgspec import Struct, field

from shared.models import Failure, Finding
from shared.parse.aws import arn_parts
from shared.remediation import policy
from shared.remediation.changes import Change, RemediationRefused
from shared.remediation.config import SUBSCRIPTIONS_FACT, Limits, listed
from shared.remediation.scope import ScopeError, parse_scope
from shared.state import StateStore

PREFIX = "remediation:"

#: Causes that are never fixed automatically, whatever the catalog or the configuration says, and
#: why (shown in the message). They change who can reach a system, identities or data access
#: inside a database, which a person must decide.
NEVER_AUTOMATE: dict[str, str] = {
    "azure.postgres.network-line-of-sight": "it changes the server's network settings (firewall, 'Allow access to "
                                            "Azure services', public access), which decide who can reach the "
                                            "database; the server's owner must make that change",
    "azure.vm.no-network": "it changes outbound network rules of the VM (NSG, proxy, firewall); the network's "
                           "owner must make that change",
    "azure.postgres.entra-admin-missing": "setting a Microsoft Entra admin and creating database users are "
                                          "identity decisions for the server's owner",
    "azure.postgres.db-permissions": "it needs SQL GRANTs inside the database, made by the database's owner",
    "azure.sql.permissions": "it needs SQL logins or sysadmin membership, granted by the SQL administrator",
    "azure.postgres.secret-invalid": "it concerns database credentials, which the responder never reads or writes",
    "aws.iam.role-trust": "a trust policy decides who may assume a role; a person must review that change",
}
#: Words in a cause that always mean "a person decides" (network and database-level access).
_NEVER_WORDS = ("network", "firewall", "sql.permissions", "db-permissions", "entra-admin")

#: Azure built-in roles that are never assigned automatically (they can grant further access).
PRIVILEGED_AZURE_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
}
#: Roles whose documented scope is a resource group (the snapshot resource group of disk backup,
#: the target resource group of a disk restore); every other role is assigned on one resource.
RESOURCE_GROUP_ROLES = {
    "7efff54f-a5b4-42b5-a1c5-5411624893ce",  # Disk Snapshot Contributor
    "b50d9833-a0cb-478e-945f-707fcc997c13",  # Disk Restore Operator
}
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def manual_reason(cause: str) -> str | None:
    """Why this cause is never automated, or None when it may be."""
    if cause in NEVER_AUTOMATE:
        return NEVER_AUTOMATE[cause]
    if any(word in cause for word in _NEVER_WORDS):
        return "it changes network or database-level access, which a person must decide"
    return None


def check_decoded(failure: Failure, finding: Finding) -> None:
    """Refuse when the decoded authorization message shows an explicit Deny, or a principal or
    resource outside the account the failure belongs to."""
    decoded = failure.decoded
    if finding.explicit_deny or (decoded is not None and decoded.explicit_deny):
        raise RemediationRefused("the decoded authorization message shows an explicit Deny: an Allow cannot "
                                 "fix it, and the policy that denies is not the responder's to change")
    if decoded is None:
        return
    account = failure.account_id
    for label, arn in (("principal", decoded.principal_arn), ("resource", decoded.resource)):
        other = arn_parts(arn).get("account")
        if other and account and other != account:
            raise RemediationRefused(f"the decoded authorization message names a {label} in account {other}, "
                                     f"outside account {account} that the failure belongs to")


def _added_statements(change: Change) -> list[dict[str, Any]]:
    before = policy.statements(change.before)
    return [st for st in policy.statements(change.after) if st not in before]


def check_change(change: Change, failure: Failure) -> None:
    """Refuse a change that removes or narrows anything, is made outside the failure's own account
    or subscription (or, for a copy, its destination), or grants more than one specific thing."""
    if change.kind == "azure-role-assignment":
        _check_role_assignments(change, failure)
        return
    lost = policy.keeps_everything(change.before, change.after)
    if lost:
        raise RemediationRefused("the change would remove or narrow existing permissions: " + ", ".join(lost))
    allowed = {failure.account_id}
    if change.kind == "vault-access-policy":
        allowed = {failure.facts.get("destination_account_id")}
    if not change.account or change.account not in allowed:
        raise RemediationRefused(f"the change would be made in account {change.account}, not in the account "
                                 "the failure names for this fix")
    added = _added_statements(change)
    if not added:
        raise RemediationRefused("the change adds nothing")
    for statement in added:
        if statement.get("Effect") != "Allow" or "NotAction" in statement or "NotResource" in statement:
            raise RemediationRefused("the change may only add plain Allow statements")
        if change.kind == "iam-pass-role":
            if statement.get("Action") != "iam:PassRole" or "Principal" in statement:
                raise RemediationRefused("the role's policy may only gain iam:PassRole")
            resources = statement.get("Resource")
            if not isinstance(resources, str) or any(ch in resources for ch in "*?") or ":role/" not in resources:
                raise RemediationRefused(f"iam:PassRole must name one role ARN, not {resources!r}")
            if arn_parts(resources).get("account") != failure.account_id:
                raise RemediationRefused(f"the role to pass ({resources}) is outside account {failure.account_id}")
        if change.kind in ("vault-access-policy", "kms-key-policy") and "*" in policy.principals(statement) \
                and not statement.get("Condition"):
            raise RemediationRefused("a statement for every principal ('*') without a condition is never added")
        _check_principals(change.kind, statement, failure)


def _check_principals(kind: str, statement: dict[str, Any], failure: Failure) -> None:
    """Resource policies gain exactly the account the failure names: the destination account on the
    source key, the source account (or the organization, by condition) on the destination vault."""
    named = policy.principals(statement)
    if kind == "kms-key-policy":
        wanted = failure.facts.get("destination_account_id")
        if not named or any(arn_parts(p).get("account") != wanted or not p.endswith(":root") for p in named):
            raise RemediationRefused(f"the key policy may only gain the destination account {wanted}, not {named}")
    elif kind == "vault-access-policy":
        source = failure.facts.get("source_account_id") or failure.account_id
        organization = (((statement.get("Condition") or {}).get("StringEquals") or {}).get("aws:PrincipalOrgID"))
        if named == ["*"] and organization:
            return
        if not named or any(arn_parts(p).get("account") != source or not p.endswith(":root") for p in named):
            raise RemediationRefused(f"the vault policy may only gain the source account {source}, not {named}")


def _check_role_assignments(change: Change, failure: Failure) -> None:
    before = change.before or []
    after = change.after or []
    if any(item not in after for item in before):
        raise RemediationRefused("the change would remove an existing role assignment")
    added = [item for item in after if item not in before]
    if not added:
        raise RemediationRefused("the change adds nothing")
    allowed = allowed_subscriptions(failure)
    for item in added:
        text = str(item.get("scope", ""))
        try:
            scope = parse_scope(text)
        except ScopeError as exc:
            raise RemediationRefused(f"the scope {text[:300]!r} is refused: {exc}") from exc
        if scope.subscription not in allowed:
            raise RemediationRefused(f"the scope {scope.id} is in subscription {scope.subscription}, which is neither "
                                     "the Backup vault's subscription nor one the allow-list entry names")
        role = str(item.get("role_definition_id", "")).rsplit("/", 1)[-1].lower()
        if role in PRIVILEGED_AZURE_ROLES:
            raise RemediationRefused(f"the role {PRIVILEGED_AZURE_ROLES[role]} is never assigned automatically")
        if scope.is_resource_group and role not in RESOURCE_GROUP_ROLES:
            raise RemediationRefused(f"the role {item.get('role') or role} would be assigned on a whole resource "
                                     "group; it is assigned only on the one resource")
        if not _GUID.match(str(item.get("principal_id", ""))):
            raise RemediationRefused("the principal is not a managed identity's object id")
        if item.get("principal_type") != "ServicePrincipal":
            raise RemediationRefused("only the vault's managed identity (a service principal) is given roles")


def allowed_subscriptions(failure: Failure) -> set[str]:
    """Where role assignments may be written: the Backup vault's subscription (its id is parsed
    canonically here; the remediator confirms the vault in Resource Manager) and the subscriptions
    the allow-list entry names. Never "the failure's subscription": it is read from the same
    untrusted id as the scope."""
    allowed = {s.lower() for s in listed(failure, SUBSCRIPTIONS_FACT)}
    with contextlib.suppress(ScopeError):  # no vault id, or a crafted one: no subscription from it
        allowed.add(parse_scope(failure.vault_id or "").subscription)
    return allowed


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def resource_key(failure: Failure) -> str:
    """The failed resource as the circuit breaker knows it."""
    resource = failure.resource_id or failure.vault_id or failure.resource_name or "-"
    return f"{failure.cloud}|{failure.account_id or '-'}|{resource}"


def event_key(failure: Failure) -> str:
    """One delivery of one failure (a redelivery has the same key)."""
    return f"{failure.cloud}|{failure.event_id or failure.job_id or '-'}|{failure.state or '-'}"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="seconds")


class Reservation(Struct):
    """Counted changes; ``release`` gives them back when nothing was changed after all."""

    state: StateStore
    keys: list[str] = field(default_factory=list)

    def release(self) -> None:
        for key in self.keys:
            self.state.increment(key, "count", -1)
        self.keys.clear()


class RateLimiter(Struct):
    state: StateStore
    limits: Limits
    clock: Callable[[], float] = time.time

    def reserve(self, target: str) -> Reservation:
        """Count one change to ``target``; ``RemediationRefused`` when a limit is reached."""
        now = self.clock()
        reservation = Reservation(self.state)
        hour_key = f"{PREFIX}rate:hour:{int(now // 3600)}"
        if self.state.increment(hour_key, "count", 1, ttl_seconds=2 * 3600) > self.limits.max_changes_per_hour:
            self.state.increment(hour_key, "count", -1)
            raise RemediationRefused(f"the limit of {self.limits.max_changes_per_hour} automatic changes per "
                                     "hour is reached")
        reservation.keys.append(hour_key)
        window = self.limits.resource_window_hours * 3600
        resource = f"{PREFIX}rate:resource:{_digest(target)}:{int(now // window)}"
        if self.state.increment(resource, "count", 1, ttl_seconds=2 * window) > self.limits.max_changes_per_resource:
            self.state.increment(resource, "count", -1)
            reservation.release()
            raise RemediationRefused(f"the limit of {self.limits.max_changes_per_resource} automatic change(s) to "
                                     f"{target} per {self.limits.resource_window_hours} h is reached")
        reservation.keys.append(resource)
        return reservation


class CircuitBreaker(Struct):
    state: StateStore
    limits: Limits
    clock: Callable[[], float] = time.time

    @staticmethod
    def _open_key(failure: Failure) -> str:
        return f"{PREFIX}breaker:{_digest(resource_key(failure))}"

    @staticmethod
    def _applied_key(failure: Failure, cause: str) -> str:
        return f"{PREFIX}applied:{_digest(resource_key(failure) + '|' + cause)}"

    def check(self, failure: Failure, cause: str) -> None:
        """Refuse when the breaker is open for the failed resource, or open it now because a fix
        for the same cause was applied and the job failed again."""
        opened = self.state.get(self._open_key(failure))
        if opened:
            raise RemediationRefused(f"automation is stopped for {opened.get('resource')} since {opened.get('since')} "
                                     f"({opened.get('reason')}); a person must look and reset it")
        applied = self.state.get(self._applied_key(failure, cause))
        if applied and applied.get("event") != event_key(failure):
            reason = (f"the same fix ({applied.get('change')}) was applied at {applied.get('time')} and the job "
                      f"failed again with {cause}")
            self.state.put(self._open_key(failure), {"resource": resource_key(failure).split("|", 2)[2],
                                                     "since": _iso(self.clock()), "reason": reason, "cause": cause})
            raise RemediationRefused(f"{reason}: automation is stopped for this resource and a person must look")

    def record_applied(self, failure: Failure, cause: str, change: Change) -> None:
        self.state.put(self._applied_key(failure, cause),
                       {"event": event_key(failure), "change": change.done, "time": _iso(self.clock())},
                       ttl_seconds=self.limits.circuit_breaker_hours * 3600)

    def is_open(self, failure: Failure) -> bool:
        return self.state.get(self._open_key(failure)) is not None

    def reset(self, failure: Failure, cause: str) -> None:
        """A person looked: automation may act on this resource again."""
        self.state.delete(self._open_key(failure))
        self.state.delete(self._applied_key(failure, cause))
