// The responder's access to the subscription it watches, least privilege:
// - a custom role with read actions only: Backup vaults, their jobs and backup instances, Recovery
//   Services vaults and their jobs, the VMs and disks whose encryption keys a fix names, the
//   resource list used to find a key vault or storage account by name, and (to plan a fix in
//   dry-run) resource tags and role assignments;
// - with auto-remediation on (or dry-run with chat approval, where an approver applies the fix),
//   Role Based Access Control Administrator, constrained by a condition: it may create assignments
//   of the backup roles only, to service principals only (and only to the listed vault identities
//   when any are given), and it may delete no role assignment at all: the responder only ever
//   adds access, so a stolen identity cannot remove anyone's access either.

targetScope = 'subscription'

@description('Object id of the Function App\'s system-assigned identity.')
param principalId string

@description('Display name of the custom reader role (unique in the tenant).')
param roleName string

@description('Grant the constrained Role Based Access Control Administrator role (auto-remediation on, or dry-run with chat approval).')
param allowRoleAssignments bool = false

@description('Principal ids the responder may grant backup roles to (the vaults\' identities). Empty: any service principal.')
param remediationPrincipalIds array = []

// The built-in roles the catalog's fixes assign (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var backupRoles = [
  'acdd72a7-3385-48ef-bd42-f606fba81ae7' // Reader (vault identity on a PostgreSQL server)
  '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User (database credentials secret)
  'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor (restore-as-files container)
  '3e5e47e6-65f7-47ef-90b5-e5dd4d455f24' // Disk Backup Reader
  '7efff54f-a5b4-42b5-a1c5-5411624893ce' // Disk Snapshot Contributor
  'b50d9833-a0cb-478e-945f-707fcc997c13' // Disk Restore Operator
  'e5e2a7ff-d759-4cd2-bb51-3152d37e2eb1' // Storage Account Backup Contributor
  'c088a766-074b-43ba-90d4-1fb21feae531' // PostgreSQL Flexible Server Long Term Retention Backup Role
]
var rbacAdministrator = 'f58310d9-a9f6-439a-9e8d-f62e7b41a168'
var roleList = join(backupRoles, ', ')
var principalClause = empty(remediationPrincipalIds) ? '' : ' AND @Request[Microsoft.Authorization/roleAssignments:PrincipalId] ForAnyOfAnyValues:GuidEquals {${join(remediationPrincipalIds, ', ')}}'
var writeCondition = '((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/write\'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${roleList}} AND @Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {\'ServicePrincipal\'}${principalClause}))'
// Deletes: the action alone, with no expression that could make it true, so every delete is denied.
var deleteCondition = '(!(ActionMatches{\'Microsoft.Authorization/roleAssignments/delete\'}))'

resource readerRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, roleName)
  properties: {
    roleName: roleName
    description: 'Reads Azure Backup jobs, vaults, backup instances, the resources their fixes name, their tags and role assignments. No data access, no writes.'
    type: 'CustomRole'
    assignableScopes: [
      subscription().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.DataProtection/backupVaults/read'
          'Microsoft.DataProtection/backupVaults/backupJobs/read'
          'Microsoft.DataProtection/backupVaults/backupInstances/read'
          'Microsoft.RecoveryServices/vaults/read'
          'Microsoft.RecoveryServices/vaults/backupJobs/read'
          'Microsoft.Compute/virtualMachines/read'
          'Microsoft.Compute/disks/read'
          'Microsoft.Resources/subscriptions/resources/read'
          'Microsoft.Resources/tags/read' // the allow-list's tags (remediation.allow[].tags)
          'Microsoft.Authorization/roleAssignments/read' // planning a fix: the identity's current assignments
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

resource readerAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, readerRole.id)
  properties: {
    roleDefinitionId: readerRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'backup-responder: read failed jobs and the vault identity'
  }
}

resource remediationAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (allowRoleAssignments) {
  name: guid(subscription().id, principalId, rbacAdministrator)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', rbacAdministrator)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'backup-responder auto-remediation: may assign only the backup roles to service principals, and remove nothing'
    conditionVersion: '2.0'
    condition: '${writeCondition} AND ${deleteCondition}'
  }
}

output readerRoleId string = readerRole.id
