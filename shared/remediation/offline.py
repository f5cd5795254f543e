"""Planning a fix from the catalog's plan alone, where the resource cannot be read: the CLI on a
machine without cloud credentials, and the demo.

The change it plans is what the plan adds (the statements of the plan's policy document, or its
role assignments) against a current document it could not read, and its notes say so. The engine's
guardrails check it like any other change. It never changes anything: ``apply`` refuses, so in mode
``on`` the message says that the fix was not made, and why.
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.models import Outcome, Plan
from shared.parse.aws import arn_parts
from shared.remediation import policy
from shared.remediation.changes import Applied, Change, RemediationRefused

AWS_KINDS = frozenset({"iam-pass-role", "vault-access-policy", "kms-key-policy"})
AZURE_KINDS = frozenset({"azure-role-assignment"})
#: Marks a change planned without reading the resource (its value: why): it is never applied.
OFFLINE_PARAM = "planned_offline"
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
#: What each kind changes, as the notes name it.
_DOCUMENT = {"iam-pass-role": "inline policy", "vault-access-policy": "access policy",
             "kms-key-policy": "key policy", "azure-role-assignment": "role assignments"}


def _policy_document(plan: Plan) -> dict[str, Any] | None:
    """The plan's policy document (its first JSON snippet with statements)."""
    for snippet in plan.snippets:
        if snippet.kind.lower() != "json":
            continue
        try:
            document = json.loads(snippet.body)
        except ValueError:
            continue
        if isinstance(document, dict) and policy.statements(document):
            return document
    return None


def _guid(role_definition_id: str) -> str:
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


class PlanOnlyRemediator:
    """A ``Remediator`` that plans from the plan and never applies (see the module docstring).

    ``why``: why the resource cannot be read here, e.g. "there are no AWS credentials on this machine"."""

    def __init__(self, kinds: frozenset[str], why: str) -> None:
        self.kinds = kinds
        self.why = why

    def plan_change(self, outcome: Outcome) -> Change:
        plan = outcome.plan
        kind = plan.auto_fix if plan is not None else "none"
        if plan is None or kind not in self.kinds:
            raise RemediationRefused(f"{kind} cannot be planned here ({self.why})", needs_person=False)
        change = self._roles(outcome, plan) if kind == "azure-role-assignment" else self._statements(outcome, plan)
        unknown = sorted(set(_PLACEHOLDER.findall(json.dumps([change.target, change.after]))))
        if unknown:
            raise RemediationRefused(f"not known from the event: {', '.join(unknown)}, and {self.why} to look it "
                                     "up, so no change is planned (the fix steps say where to find it)",
                                     needs_person=False)
        return change

    def apply(self, change: Change) -> Applied:
        why = str(change.params.get(OFFLINE_PARAM) or self.why)
        raise RemediationRefused(f"{why}: the current {_DOCUMENT.get(change.kind, 'document')} of "
                                 f"{change.target} cannot be read, so nothing is changed here (make the change by "
                                 "hand with the fix steps, or where the credentials are)", needs_person=False)

    def verify(self, change: Change) -> bool:
        return False

    def _note(self, kind: str, target: str) -> str:
        return (f"The current {_DOCUMENT[kind]} of {target} could not be read ({self.why}): the diff shows only "
                "what the plan adds; the real change keeps everything that is there.")

    def _statements(self, outcome: Outcome, plan: Plan) -> Change:
        f, kind = outcome.failure, plan.auto_fix
        document = _policy_document(plan)
        if document is None:
            raise RemediationRefused("the plan has no policy document to show", needs_person=False)
        statements = policy.statements(document)
        if kind == "iam-pass-role":
            added = [st for st in statements if "iam:PassRole" in policy.actions(st)]
            target = f.facts.get("role_arn") or "{role_arn}"
            role = f.facts.get("role_name") or target.rsplit("/", 1)[-1]
            passed = ", ".join(str(st.get("Resource", "")).rsplit("/", 1)[-1] for st in added)
            account, what = f.account_id, f"iam:PassRole on role {passed} to role {role}"
        elif kind == "vault-access-policy":
            added = [st for st in statements if "backup:CopyIntoBackupVault" in policy.actions(st)]
            target = f.facts.get("destination_vault_arn") or "{destination_vault_arn}"
            vault = f.facts.get("destination_vault_name") or target.rsplit(":", 1)[-1]
            source = f.facts.get("source_account_id") or f.account_id
            account = f.facts.get("destination_account_id") or arn_parts(target).get("account")
            what = f"backup:CopyIntoBackupVault for account {source} to the access policy of vault {vault}"
        else:  # kms-key-policy: the statements that name the destination account, for it alone
            destination = f.facts.get("destination_account_id") or "{destination_account_id}"
            root = f"arn:{f.facts.get('partition') or 'aws'}:iam::{destination}:root"
            added = [{**st, "Principal": {"AWS": root}} for st in statements if root in policy.principals(st)]
            target = f.facts.get("kms_key_arn") or "{kms_key_arn}"
            account, what = f.account_id, f"the use and grant statements for account {destination} to the key " \
                                          f"policy of {target}"
        if not added:
            raise RemediationRefused("the plan's policy document has no statement this fix adds", needs_person=False)
        return Change(kind=kind, cloud="aws", account=account, region=f.region, target=target,
                      summary=f"add {what}", done=f"added {what}", before=None,
                      after={"Version": document.get("Version", "2012-10-17"), "Statement": added},
                      params={OFFLINE_PARAM: self.why}, notes=[self._note(kind, target)])

    def _roles(self, outcome: Outcome, plan: Plan) -> Change:
        f = outcome.failure
        if not plan.role_assignments:
            raise RemediationRefused("the catalog names no role to assign for this failure", needs_person=False)
        if any("<" in ra.scope for ra in plan.role_assignments):
            raise RemediationRefused(f"the scope is not known from the event, and {self.why} to look it up",
                                     needs_person=False)
        wanted = [{"role": ra.role, "role_definition_id": _guid(ra.role_definition_id), "scope": ra.scope,
                   "principal_id": ra.principal_id, "principal_type": "ServicePrincipal"}
                  for ra in plan.role_assignments]
        roles = "; ".join(f"{w['role']} on {w['scope']}" for w in wanted)
        who = f"the Backup vault {f.vault_name}'s identity ({wanted[0]['principal_id']})" if f.vault_name \
            else f"the identity {wanted[0]['principal_id']}"
        return Change(kind="azure-role-assignment", cloud="azure", account=(f.account_id or "").lower(),
                      region=f.region, target=wanted[0]["scope"], summary=f"assign {roles} to {who}",
                      done=f"assigned {roles} to {who}", before=None, after=wanted, params={OFFLINE_PARAM: self.why},
                      notes=[self._note("azure-role-assignment", wanted[0]["scope"])])
