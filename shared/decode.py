"""Reading the document STS ``DecodeAuthorizationMessage`` returns (pure: the STS call itself is an
adapter in ``functions/aws``). Only what the fix needs is kept: the document is privileged."""

from __future__ import annotations

import json
from typing import Any, Protocol

from shared.models import DecodedAuthorization, Failure
from shared.parse.aws import arn_parts


class Decoder(Protocol):
    """Turns an encoded authorization failure message into its decoded JSON text."""

    def decode(self, failure: Failure) -> str: ...


class DecodeError(Exception):
    """The message could not be decoded (truncated, expired, no permission); the text says why."""


def _items(node: Any) -> list[Any]:
    if isinstance(node, dict):
        items = node.get("items", [])
        return items if isinstance(items, list) else []
    return node if isinstance(node, list) else []


def parse_decoded(document: str | dict[str, Any]) -> DecodedAuthorization:
    """The decoded message's principal, action, resource, condition keys and explicit deny."""
    data = json.loads(document) if isinstance(document, str) else document
    if not isinstance(data, dict):
        raise DecodeError("the decoded authorization message is not a JSON object")
    context = data.get("context") or {}
    principal = context.get("principal") or {}
    conditions = [key for item in _items(context.get("conditions"))
                  if isinstance(item, dict) and (key := _text_only(item.get("key")))]
    return DecodedAuthorization(
        allowed=bool(data.get("allowed", False)),
        explicit_deny=bool(data.get("explicitDeny", False)),
        principal_arn=_text_only(principal.get("arn")) if isinstance(principal, dict) else None,
        action=_text_only(context.get("action")),
        resource=_text_only(context.get("resource")),
        condition_keys=conditions,
    )


def _text_only(value: Any) -> str | None:
    """A value the decoded document gives as text; anything else is not taken."""
    return value if isinstance(value, str) and value else None


def apply_decoded(failure: Failure, decoded: DecodedAuthorization) -> Failure:
    """The failure with the decoded facts added: for iam:PassRole, the role to pass; the role that
    was denied (an assumed-role principal names it) when the event did not say."""
    facts = dict(failure.facts)
    if decoded.action and decoded.action.lower() == "iam:passrole" and decoded.resource:
        facts["pass_role_arn"] = decoded.resource
    principal = arn_parts(decoded.principal_arn)
    resource = principal.get("resource", "")
    if resource.startswith("assumed-role/"):
        role_name = resource.split("/")[1]
        facts.setdefault("role_name", role_name)
        facts.setdefault("role_arn", f"arn:{principal['partition']}:iam::{principal['account']}:role/{role_name}")
    return failure.model_copy(update={"decoded": decoded, "facts": facts})


def decode_command(encoded: str | None) -> str:
    """The command a reader can run to decode the message themselves."""
    return ("aws sts decode-authorization-message --encoded-message "
            f"{encoded or '<encoded message>'} --query DecodedMessage --output text | jq .")
