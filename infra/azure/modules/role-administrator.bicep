// Role Based Access Control Administrator for the responder on one resource group, constrained by
// the condition responder-access.bicep passes (the backup roles only, to service principals only,
// no delete).
//
// Why it is assigned per resource group and not on the subscription: a condition on
// Microsoft.Authorization/roleAssignments/write can test only the request's role definition id,
// principal id and principal type (learn.microsoft.com/azure/role-based-access-control/
// conditions-authorization-actions-attributes); no attribute holds the scope the new assignment is
// written at. So the scope is limited by where this role is held: the resource groups of the
// protected resources, listed in remediationResourceGroups, and nowhere else. An assignment at a
// wider scope (the subscription, another resource group) is refused by Azure itself.

targetScope = 'resourceGroup'

@description('Object id of the Function App\'s system-assigned identity.')
param principalId string

@description('The ABAC condition (version 2.0) that limits the roles, principals and actions.')
param condition string

var rbacAdministrator = 'f58310d9-a9f6-439a-9e8d-f62e7b41a168'

resource remediationAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, rbacAdministrator)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', rbacAdministrator)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'backup-responder auto-remediation: may assign only the backup roles to service principals in this resource group, and remove nothing'
    conditionVersion: '2.0'
    condition: condition
  }
}
