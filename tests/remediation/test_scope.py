"""ARM scopes from untrusted text: only a canonical resource group or resource id is accepted, and
what it names is exactly what the text says (no segment the HTTP layer or ARM would normalise)."""

from __future__ import annotations

import pytest

from shared.remediation.scope import ScopeError, parse_scope

SUB = "11112222-bbbb-3333-cccc-4444dddd5555"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-data-prod"
SERVER = f"{RG}/providers/Microsoft.DBforPostgreSQL/servers/pg-orders-prod"
CONTAINER = f"{RG}/providers/Microsoft.Storage/storageAccounts/st01/blobServices/default/containers/pg-restores"


@pytest.mark.parametrize(("text", "kind"), [
    (RG, "resourcegroups"),
    (SERVER, "microsoft.dbforpostgresql/servers"),
    (SERVER.replace("resourceGroups", "resourcegroups").replace("providers", "PROVIDERS"),
     "microsoft.dbforpostgresql/servers"),
    (CONTAINER, "microsoft.storage/storageaccounts/blobservices/containers"),
    (f"/subscriptions/{SUB}/resourceGroups/rg.with(parens)_1/providers/Microsoft.Compute/disks/vm_OsDisk_1.v2",
     "microsoft.compute/disks"),
])
def test_canonical_ids_are_accepted_as_they_are(text: str, kind: str) -> None:
    scope = parse_scope(text)
    assert scope.resource_type == kind and scope.subscription == SUB
    assert scope.id.lower() == text.lower() and scope.same(text.upper())


@pytest.mark.parametrize(("text", "why"), [
    (f"{RG}/providers/../../..", "'.' or '..'"),
    (f"{SERVER}/./x", "'.' or '..'"),
    (f"{RG}/providers/%2e%2e/%2e%2e", "percent-encoded"),
    (f"{RG}/providers/Microsoft.Storage/storageAccounts/st%2F..", "percent-encoded"),
    (f"{SERVER}/", "empty segment"),
    (f"/subscriptions/{SUB}//resourceGroups/rg", "empty segment"),
    (f"/subscriptions/{SUB}", "not a resource group"),
    (f"/subscriptions/{SUB}/resourceGroups/...", "not a resource group name"),
    (f"/subscriptions/{SUB}/resourceGroups/rg./providers/Microsoft.Compute/disks/d", "not a resource group name"),
    ("/subscriptions/not-a-guid/resourceGroups/rg", "not a subscription id"),
    (f"{RG}/providers/Microsoft.Compute/disks/...", "not a resource name"),
    (f"{RG}/providers/Microsoft.Compute/disks/d\\..\\..", "not a resource name"),
    (f"{RG}/providers/Microsoft.Compute/disks/d?x=1", "not a resource name"),
    (f"{RG}/providers/Microsoft.Compute/disks/d e", "not a resource name"),
    (f"{SERVER}/providers/Microsoft.Authorization/roleAssignments/x", "extension resources"),
    (f"{RG}/providers/Microsoft.Compute/disks", "not one resource"),
    (f"{RG}/providers/Microsoft/disks/d", "namespace"),
    (f"subscriptions/{SUB}/resourceGroups/rg", "does not start"),
    ("", "empty"),
    (RG + "/providers/Microsoft.Compute/disks/" + "d" * 3000, "longer than"),
])
def test_anything_else_is_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(ScopeError, match=why.replace("?", r"\?").replace("(", r"\(")):
        parse_scope(text)
