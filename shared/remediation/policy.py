"""IAM-style policy documents (IAM role policies, Backup vault access policies, KMS key policies):
reading statements, merging new ones in without touching the others, and checking that a change
never removes or narrows anything."""

from __future__ import annotations

import copy
import fnmatch
import json
from collections.abc import Iterable, Sequence
from typing import Any

VERSION = "2012-10-17"


class PolicyError(ValueError):
    """A document that is not a policy (not JSON, no statements of the right shape)."""


def load(text: str | dict[str, Any] | None) -> dict[str, Any] | None:
    """A policy document from its JSON text (None or empty text: no policy)."""
    if text is None or text == "":
        return None
    if isinstance(text, dict):
        return text
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise PolicyError(f"the policy is not valid JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise PolicyError("the policy is not a JSON object")
    statements(document)  # validates the shape
    return document


def dump(document: dict[str, Any]) -> str:
    """The text sent to the provider: compact but readable (spaces count toward size limits)."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=True)


def statements(document: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The statements of a document (a single statement object counts as a list of one)."""
    if document is None:
        return []
    raw = document.get("Statement", [])
    items = [raw] if isinstance(raw, dict) else raw
    if not isinstance(items, list) or not all(isinstance(s, dict) for s in items):
        raise PolicyError("the policy's Statement is not a list of objects")
    return list(items)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def principals(statement: dict[str, Any]) -> list[str]:
    """The AWS principals a statement names (``"*"`` for ``Principal: "*"``)."""
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if isinstance(principal, dict):
        return [str(p) for p in _as_list(principal.get("AWS"))]
    return []


def actions(statement: dict[str, Any]) -> list[str]:
    return [str(a) for a in _as_list(statement.get("Action"))]


def _action_covered(patterns: Iterable[str], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)


def allows(document: dict[str, Any] | None, principal: str, wanted: Sequence[str],
           condition: dict[str, Any] | None = None, resource: str = "*") -> bool:
    """True when Allow statements of the document together grant ``principal`` every action in
    ``wanted`` on ``resource``, without a condition other than ``condition`` (conservative: a
    statement with another condition, a NotAction or a NotPrincipal does not count)."""
    remaining = set(wanted)
    for st in statements(document):
        if st.get("Effect") != "Allow" or "NotAction" in st or "NotPrincipal" in st or "NotResource" in st:
            continue
        if principal not in principals(st):
            continue
        if st.get("Condition") and st.get("Condition") != condition:
            continue
        resources = [str(r) for r in _as_list(st.get("Resource"))] or ["*"]
        if "*" not in resources and resource not in resources:
            continue
        remaining = {a for a in remaining if not _action_covered(actions(st), a)}
    return not remaining


def denies(document: dict[str, Any] | None, principal: str, wanted: Sequence[str]) -> bool:
    """True when a Deny statement names the principal (or everyone) for one of the actions."""
    for st in statements(document):
        if st.get("Effect") != "Deny":
            continue
        named = principals(st)
        if ("*" in named or principal in named) and any(_action_covered(actions(st), a) for a in wanted):
            return True
    return False


def merged(document: dict[str, Any] | None, new: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The document with ``new`` statements appended (those already present, equal, are not
    added twice). Every existing statement and key is kept exactly as it was."""
    result: dict[str, Any] = copy.deepcopy(document) if document else {"Version": VERSION}
    current = statements(result)
    taken = {st.get("Sid") for st in current if st.get("Sid")}
    for statement in new:
        if statement in current:
            continue
        if statement.get("Sid") in taken:
            raise PolicyError(f"the policy already has a different statement with Sid {statement['Sid']!r}")
        current.append(copy.deepcopy(statement))
    result["Statement"] = current
    return result


def keeps_everything(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """What ``after`` removed or changed of ``before`` (empty: it only adds). Used to refuse any
    change that would remove or narrow an existing permission."""
    if before is None:
        return []
    if after is None:
        return ["the whole policy"]
    problems = [f"top-level {key!r}" for key, value in before.items()
                if key != "Statement" and after.get(key) != value]
    kept = statements(after)
    problems += [f"statement {st.get('Sid') or json.dumps(st, sort_keys=True)[:80]}"
                 for st in statements(before) if st not in kept]
    return problems


#: IAM actions that let whoever holds them grant themselves (or anyone) more: a role that holds one
#: of them is as powerful as an administrator once passed (IAM, "Security best practices":
#: privilege escalation through policy and role changes).
IAM_WRITE_ACTIONS = (
    "iam:AddRoleToInstanceProfile", "iam:AddUserToGroup", "iam:AttachGroupPolicy", "iam:AttachRolePolicy",
    "iam:AttachUserPolicy", "iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:CreatePolicy",
    "iam:CreatePolicyVersion", "iam:CreateRole", "iam:CreateUser", "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy", "iam:DeleteUserPermissionsBoundary", "iam:DetachRolePolicy", "iam:PassRole",
    "iam:PutGroupPolicy", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy", "iam:PutUserPermissionsBoundary",
    "iam:PutUserPolicy", "iam:SetDefaultPolicyVersion", "iam:UpdateAssumeRolePolicy", "iam:UpdateLoginProfile",
    "iam:UpdateRole",
)
#: Any IAM action named without a wildcard whose verb writes (``iam:CreateServiceLinkedRole``...).
_IAM_WRITE_VERBS = ("iam:add", "iam:attach", "iam:create", "iam:delete", "iam:detach", "iam:pass", "iam:put",
                    "iam:remove", "iam:set", "iam:update", "iam:upload")
#: Action patterns that mean "everything" (or every IAM action).
_EVERYTHING = ("*", "*:*", "iam:*")


ADMINISTRATOR_LEVEL = "administrator-level"
IAM_WRITE = "IAM write"


def powers(document: dict[str, Any] | None) -> list[tuple[str, str]]:
    """What an identity policy grants that makes its holder powerful, as (``ADMINISTRATOR_LEVEL`` or
    ``IAM_WRITE``, what): ``Action: *``, ``iam:*``, an Allow with ``NotAction``; an action that changes
    policies, roles or users, or passes roles. Conservative: a condition does not make it harmless."""
    found: list[tuple[str, str]] = []
    for st in statements(document):
        if st.get("Effect") != "Allow":
            continue
        if "NotAction" in st:
            found.append((ADMINISTRATOR_LEVEL, "an Allow with NotAction"))
            continue
        for action in actions(st):
            lowered = action.lower()
            if lowered in _EVERYTHING:
                found.append((ADMINISTRATOR_LEVEL, f"Action {action}"))
            elif any(fnmatch.fnmatchcase(w.lower(), lowered) for w in IAM_WRITE_ACTIONS) \
                    or lowered.startswith(_IAM_WRITE_VERBS):
                found.append((IAM_WRITE, action))
    return found
