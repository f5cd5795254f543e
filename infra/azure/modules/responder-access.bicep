// The responder's access to the subscription it watches, least privilege:
// - a custom role with read actions only: Backup vaults, their jobs and backup instances, Recovery
//   Services vaults and their jobs, the VMs and disks whose encryption keys a fix names, the
//   resource list used to find a key vault or storage account by name, and (to plan a fix in
//   dry-run) resource tags and role assignments;
// - with auto-remediation on (or dry-run with chat approval, where an approver applies the fix),
//   Role Based Access Control Administrator, constrained by a condition: it may create assignments
//   of the backup roles only, to service principals only (and only to the listed vault identities
//   when any are given), and it may delete no role assignment at all: the responder only ever
//   adds access, so a stolen identity cannot remove anyone's access either. A condition cannot
//   test the scope of the new assignment, so the role is held only on the resource groups listed
//   in remediationResourceGroups (role-administrator.bicep), never on the subscription.

targetScope = 'subscription'

@description('Object id of the Function App\'s system-assigned identity.')
param principalId string

@description('Display name of the custom reader role (unique in the tenant).')
param roleName string

@description('Grant the constrained Role Based Access Control Administrator role (auto-remediation on, or dry-run with chat approval).')
param allowRoleAssignments bool = false

@description('Principal ids the responder may grant backup roles to (the vaults\' identities). Empty: any service principal.')
param remediationPrincipalIds array = []

@description('Names of the resource groups (in this subscription) where the responder may assign the backup roles: those of the protected resources, their key vaults, restore containers and snapshot resource groups. The constrained role administrator is held there only. Empty: nowhere, so fixes are planned and reported but Azure refuses to write them.')
param remediationResourceGroups array = []

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
          // A fix reads the scope it assigns a role on, and the vault, before writing (functions/azure/remediate.py).
          'Microsoft.Resources/subscriptions/resourceGroups/read'
          'Microsoft.DBforPostgreSQL/servers/read'
          'Microsoft.DBforPostgreSQL/flexibleServers/read'
          'Microsoft.DBforMySQL/flexibleServers/read'
          'Microsoft.KeyVault/vaults/read'
          'Microsoft.Storage/storageAccounts/read'
          'Microsoft.Storage/storageAccounts/blobServices/containers/read'
          'Microsoft.ContainerService/managedClusters/read'
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

var rbacCondition = '${writeCondition} AND ${deleteCondition}'
// The resource groups the constrained role administrator is held on (none unless fixes are applied).
var administeredGroups = allowRoleAssignments ? remediationResourceGroups : []

module roleAdministrator 'role-administrator.bicep' = [for group in administeredGroups: {
  name: 'rbac-admin-${uniqueString(subscription().id, group, principalId)}'
  scope: resourceGroup(group)
  params: {
    principalId: principalId
    condition: rbacCondition
  }
}]

output readerRoleId string = readerRole.id
