"""Azure Resource Manager scopes from untrusted text: parsed into segments and rebuilt canonically.

A scope in a role assignment comes from the alert (``linkedResourceId``) or the enrichment. The
HTTP layer normalises a path before ARM sees it, so ``…/providers/../../..`` becomes the
subscription, and ARM decodes ``%2e%2e`` and ``%2F`` on its side: a text that looks like one
resource can name a wider scope. ``parse_scope`` accepts only what ARM documents as a resource
group or resource id (``/subscriptions/{guid}/resourceGroups/{name}[/providers/{Namespace}/{type}/
{name}[/{type}/{name}]…]``), with no ``.``/``..`` or empty segments, no percent-encoding, no
characters a name cannot hold, and its canonical form equal to the text (case aside). Anything else
is a ``ScopeError`` that says why.
"""

from __future__ import annotations

import re

from msgspec import Struct

#: ARM ids are far shorter; a longer text is not one (and is not worth parsing).
MAX_SCOPE_CHARS = 2048
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
#: Resource group names: letters, digits, underscores, parentheses, hyphens and periods, not ending
#: in a period (ARM naming rules for Microsoft.Resources/resourceGroups).
_RESOURCE_GROUP = re.compile(r"^[\w().-]*[\w()-]$")
_NAMESPACE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)+$")
_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
#: A resource name: no separator, escape, query, fragment, quote or white space, and not dots alone.
_NAME = re.compile(r"^[^/\\%?#{}<>\"'`;\s]+$")
_DOTS = re.compile(r"^\.+$")


class ScopeError(ValueError):
    """A text that is not one canonical resource group or resource id (the text says why)."""


class ArmScope(Struct, frozen=True):
    subscription: str
    resource_group: str
    #: ``Microsoft.DBforPostgreSQL``; None for a resource group.
    namespace: str | None = None
    #: The type and name of each level: (("servers", "pg-orders-prod"),) or
    #: (("storageAccounts", "st"), ("blobServices", "default"), ("containers", "c")).
    levels: tuple[tuple[str, str], ...] = ()

    @property
    def id(self) -> str:
        """The canonical id: ARM's spelling of the keywords, the names as given."""
        text = f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
        if self.namespace:
            text += f"/providers/{self.namespace}" + "".join(f"/{kind}/{name}" for kind, name in self.levels)
        return text

    @property
    def is_resource_group(self) -> bool:
        return self.namespace is None

    @property
    def resource_type(self) -> str:
        """``microsoft.dbforpostgresql/servers``, ``microsoft.storage/storageaccounts/blobservices/containers``,
        ``resourcegroups`` (lower case: ARM's types are case-insensitive)."""
        if self.namespace is None:
            return "resourcegroups"
        return "/".join([self.namespace, *(kind for kind, _ in self.levels)]).lower()

    def same(self, other: str | None) -> bool:
        """True when ``other`` is this scope (ARM compares ids case-insensitively)."""
        return bool(other) and str(other).lower() == self.id.lower()


def _name(segment: str, what: str) -> str:
    if not _NAME.match(segment) or _DOTS.match(segment):
        raise ScopeError(f"the {what} {segment!r} is not a resource name")
    return segment


def parse_scope(text: str) -> ArmScope:
    """The scope ``text`` names, or ``ScopeError``: a resource group or one resource, canonical."""
    if not isinstance(text, str) or not text:
        raise ScopeError("the scope is empty")
    if len(text) > MAX_SCOPE_CHARS:
        raise ScopeError(f"the scope is longer than {MAX_SCOPE_CHARS} characters")
    if "%" in text:
        raise ScopeError("the scope holds percent-encoded characters, which ARM ids never do")
    segments = text.split("/")
    if segments[0] != "":
        raise ScopeError("the scope does not start with /subscriptions/")
    parts = segments[1:]
    if any(part in (".", "..") for part in parts):
        raise ScopeError("the scope holds a '.' or '..' segment, which would move it to another scope")
    if any(part == "" for part in parts):
        raise ScopeError("the scope holds an empty segment (a '//' or a trailing '/')")
    if len(parts) < 4 or parts[0].lower() != "subscriptions" or parts[2].lower() != "resourcegroups":
        raise ScopeError("the scope is not a resource group or a resource of one (/subscriptions/…/resourceGroups/…)")
    if not _GUID.match(parts[1]):
        raise ScopeError(f"the subscription {parts[1]!r} is not a subscription id")
    if not _RESOURCE_GROUP.match(parts[3]) or _DOTS.match(parts[3]):
        raise ScopeError(f"the resource group {parts[3]!r} is not a resource group name")
    scope = ArmScope(subscription=parts[1].lower(), resource_group=parts[3])
    rest = parts[4:]
    if rest:
        if rest[0].lower() != "providers" or len(rest) < 4 or len(rest) % 2:
            raise ScopeError("the scope is not one resource (/providers/{namespace}/{type}/{name}[/{type}/{name}]…)")
        if not _NAMESPACE.match(rest[1]):
            raise ScopeError(f"{rest[1]!r} is not a resource provider namespace")
        levels = []
        for kind, name in zip(rest[2::2], rest[3::2], strict=True):
            if not _TYPE.match(kind) or kind.lower() == "providers":
                raise ScopeError(f"{kind!r} is not a resource type (extension resources are not scopes here)")
            levels.append((kind, _name(name, "name")))
        scope = ArmScope(scope.subscription, scope.resource_group, rest[1], tuple(levels))
    if not scope.same(text):
        raise ScopeError("the scope is not in its canonical form")
    return scope
