// The Azure side of backup-responder: a Python Function App (Flex Consumption, system-assigned
// identity) that receives Azure Backup job-failure alerts from an action group, its storage and
// Application Insights, the action group (Azure Function receiver or Secure Webhook, common alert
// schema), an alert processing rule routing the Backup alerts of Recovery Services vaults and
// Backup vaults in the given scopes to it, a key vault for the chat webhook secrets (read through
// Key Vault references), least-privilege role assignments for the app's identity, and, when asked,
// the settings of auto-remediation and of approving fixes from chat (Slack signing secret and the
// Teams link secret, also as Key Vault references).
//
// Deploy: az deployment group create -g <rg> -f infra/azure/main.bicep -p infra/azure/main.parameters.json
// (docs/azure.md has the whole procedure).

targetScope = 'resourceGroup'

@description('Azure region of the Function App, its storage, Application Insights and key vault.')
param location string = resourceGroup().location

@description('Prefix of every resource name (lower-case letters and digits, 3-11 characters).')
@minLength(3)
@maxLength(11)
param namePrefix string = 'bkresp'

@description('Scopes (subscription or resource group ids) whose Backup alerts go to the responder.')
param alertScopes array = [
  subscription().id
]

@description('What the responder may change: off (default), dry-run (plan and report only) or on (apply the role assignments the configuration allows).')
@allowed([
  'off'
  'dry-run'
  'on'
])
param autoRemediate string = 'off'

@description('With autoRemediate=on: the principal (object) ids of the vaults\' managed identities the responder may grant roles to. Empty: any service principal, but only the backup roles.')
param remediationPrincipalIds array = []

@description('With autoRemediate=on (or dry-run with chatApproval): the names of the resource groups in this subscription where the responder may assign the backup roles (the protected resources\' groups, their key vaults, restore containers, snapshot groups). A role assignment condition cannot limit the scope, so the constrained role administrator is held on these groups only. Empty: nowhere, and fixes are planned and reported but not written.')
param remediationResourceGroups array = []

@description('RESPONDER_CONFIG: the configuration file (routes, sinks, and the remediation allow-list without which nothing is ever changed), as a path in the published app relative to its root, e.g. responder.yaml next to function_app.py. Empty: the webhook settings alone, and no fix is allowed.')
param responderConfig string = ''

@description('RESPONDER_REPORT_SCHEDULE: when the weekly failure report is posted (NCRONTAB, UTC), if the configuration has a `report` section (docs/delivery.md); without one the timer does nothing. The setting must exist: the function app reads it when it starts.')
param reportSchedule string = '0 0 8 * * 1'

@description('Chat approval of planned fixes ("Apply fix" in Slack and Teams, docs/remediation.md): stores the Slack signing secret and the approval link secret in the key vault, gives the app their Key Vault references, and with autoRemediate=dry-run grants the constrained role administrator so that an approved fix can be applied. Off: the approval routes refuse every request.')
param chatApproval bool = false

@description('With chatApproval: the Slack app\'s signing secret (Basic Information, App Credentials). Empty: no approval from Slack.')
@secure()
param slackSigningSecret string = ''

@description('With chatApproval: the key that signs the "Apply fix" links of Teams cards (e.g. openssl rand -hex 32; keep it across deployments, or the links of fixes still waiting stop working). Empty: no approval from Teams.')
@secure()
param approvalLinkSecret string = ''

@description('With chatApproval: set true only once App Service Authentication (Microsoft Entra) is on for the Function App (docs/azure.md); the Teams approval page trusts the signed-in user it reports and answers 404 until then.')
param teamsApprovalEasyAuth bool = false

@description('With chatApproval: the base URL of the app\'s functions in the Teams approval links. Empty: https://<function app>.azurewebsites.net/api.')
param approvalBaseUrl string = ''

@description('Teams Workflows webhook URL (stored in the key vault; the app reads it through a Key Vault reference). Empty: no Teams.')
@secure()
param teamsWebhookUrl string = ''

@description('Slack incoming webhook URL (stored in the key vault). Empty: no Slack.')
@secure()
param slackWebhookUrl string = ''

@description('Secure Webhook: the Microsoft Entra app registration (its Application ID URI) the action group requests tokens for. Empty: the action group calls the function with its function key only.')
param secureWebhookIdentifierUri string = ''

@description('Secure Webhook: the object id of that app registration (the action group\'s webhook receiver needs it).')
param secureWebhookAppObjectId string = ''

@description('Secure Webhook: the client (application) id of that app registration; v2 tokens carry it as audience.')
param secureWebhookClientId string = ''

@description('Backup vaults (Microsoft.DataProtection) this template manages, to turn on Azure Monitor alerts for all job failures: [{ name, location, storageType }].')
param managedBackupVaults array = []

@description('Recovery Services vaults this template manages, to turn on Azure Monitor alerts for all job failures: [{ name, location }].')
param managedRecoveryServicesVaults array = []

@description('Expiry of the webhook secrets (seconds since the epoch); default one year from the deployment. Rotate before it.')
param secretExpiry int = dateTimeToEpoch(dateTimeAdd(utcNow(), 'P1Y'))

@description('Python version of the Function App (the project needs 3.11 or later).')
@allowed([
  '3.11'
  '3.12'
])
param pythonVersion string = '3.11'

@description('Upper bound of Flex Consumption instances (alerts are few; this caps cost and ARM call rate).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

var suffix = uniqueString(resourceGroup().id, namePrefix)
var storageName = take('${namePrefix}st${suffix}', 24)
var functionAppName = '${namePrefix}-func-${suffix}'
var keyVaultName = take('${namePrefix}-kv-${suffix}', 24)
var stateTableName = 'responderstate'
var deploymentContainerName = 'app-package'
var useSecureWebhook = !empty(secureWebhookIdentifierUri)
var secureWebhookAudience = join(filter([secureWebhookIdentifierUri, secureWebhookClientId], a => !empty(a)), ',')
var useSlackApproval = chatApproval && !empty(slackSigningSecret)
var useTeamsApproval = chatApproval && !empty(approvalLinkSecret)
var approvalApiBaseUrl = empty(approvalBaseUrl) ? 'https://${functionAppName}.azurewebsites.net/api' : approvalBaseUrl
// Role assignments are written with autoRemediate=on, and by an approver's "Apply fix" in dry-run.
var allowRoleAssignments = (autoRemediate == 'on') || ((autoRemediate == 'dry-run') && chatApproval)

// Built-in role definition ids (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// ---------------------------------------------------------------------------------- observability
resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${namePrefix}-log-${suffix}'
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${namePrefix}-appi-${suffix}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

// ---------------------------------------------------------------------------------- storage
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: the Flex Consumption app reaches its storage without a virtual network in this template; restricting the network needs VNet integration and private endpoints (docs/azure.md, Hardening)
  // checkov:skip=CKV_AZURE_59: the public endpoint stays for the app without VNet integration; shared keys are disabled and every access is by Microsoft Entra identity
  // checkov:skip=CKV_AZURE_206: it holds the re-deployable app package and short-lived idempotency state; geo-replication would add cost, not recovery
  // checkov:skip=CKV_AZURE_43: the name is computed (take of prefix, 'st' and uniqueString): lower-case letters and digits, at most 24
  name: storageName
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource stateTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: stateTableName
}

// ---------------------------------------------------------------------------------- secrets
resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: Key Vault references of an app without VNet integration need the public endpoint; access is RBAC only, per secret
  // checkov:skip=CKV_AZURE_189: Key Vault references need the public endpoint without VNet integration; RBAC per secret guards it
  name: keyVaultName
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource teamsSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(teamsWebhookUrl)) {
  // checkov:skip=CKV_AZURE_41: exp is set (secretExpiry); checkov does not read the properties of a conditional resource
  // checkov:skip=CKV_AZURE_114: contentType is set; same reason
  parent: keyVault
  name: 'teams-webhook-url'
  properties: {
    value: teamsWebhookUrl
    contentType: 'text/uri-list'
    attributes: {
      exp: secretExpiry
    }
  }
}

resource slackSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(slackWebhookUrl)) {
  // checkov:skip=CKV_AZURE_41: exp is set (secretExpiry); checkov does not read the properties of a conditional resource
  // checkov:skip=CKV_AZURE_114: contentType is set; same reason
  parent: keyVault
  name: 'slack-webhook-url'
  properties: {
    value: slackWebhookUrl
    contentType: 'text/uri-list'
    attributes: {
      exp: secretExpiry
    }
  }
}

// Chat approval: Slack's signing secret and the key of the Teams links, only with chatApproval (and each
// only when given).
resource slackSigningSecretValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (useSlackApproval) {
  // checkov:skip=CKV_AZURE_41: exp is set (secretExpiry); checkov does not read the properties of a conditional resource
  // checkov:skip=CKV_AZURE_114: contentType is set; same reason
  parent: keyVault
  name: 'slack-signing-secret'
  properties: {
    value: slackSigningSecret
    contentType: 'text/plain'
    attributes: {
      exp: secretExpiry
    }
  }
}

resource approvalLinkSecretValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (useTeamsApproval) {
  // checkov:skip=CKV_AZURE_41: exp is set (secretExpiry); checkov does not read the properties of a conditional resource
  // checkov:skip=CKV_AZURE_114: contentType is set; same reason
  parent: keyVault
  name: 'approval-link-secret'
  properties: {
    value: approvalLinkSecret
    contentType: 'text/plain'
    attributes: {
      exp: secretExpiry
    }
  }
}

// ---------------------------------------------------------------------------------- the Function App
resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy of Flex Consumption depends on the region; alerts are retried by the action group
  name: '${namePrefix}-plan-${suffix}'
  location: location
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

var baseSettings = [
  {
    name: 'AzureWebJobsStorage__accountName'
    value: storage.name
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsights.properties.ConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'Authorization=AAD'
  }
  {
    name: 'RESPONDER_TABLE_ENDPOINT'
    value: storage.properties.primaryEndpoints.table
  }
  {
    name: 'RESPONDER_TABLE_NAME'
    value: stateTableName
  }
  {
    name: 'RESPONDER_AUTO_REMEDIATE'
    value: autoRemediate
  }
  {
    name: 'RESPONDER_REPORT_SCHEDULE'
    value: reportSchedule
  }
  {
    // The Teams approval page trusts X-MS-CLIENT-PRINCIPAL-ID only when App Service Authentication is on.
    name: 'RESPONDER_TEAMS_APPROVAL_EASY_AUTH'
    value: (useTeamsApproval && teamsApprovalEasyAuth) ? 'true' : 'false'
  }
]
var teamsSettings = empty(teamsWebhookUrl) ? [] : [
  {
    name: 'TEAMS_WEBHOOK_URL'
    value: '@Microsoft.KeyVault(VaultName=${keyVault.name};SecretName=teams-webhook-url)'
  }
]
var slackSettings = empty(slackWebhookUrl) ? [] : [
  {
    name: 'SLACK_WEBHOOK_URL'
    value: '@Microsoft.KeyVault(VaultName=${keyVault.name};SecretName=slack-webhook-url)'
  }
]
var configSettings = empty(responderConfig) ? [] : [
  {
    name: 'RESPONDER_CONFIG'
    value: responderConfig
  }
]
var teamsApprovalSettings = useTeamsApproval ? [
  {
    name: 'RESPONDER_APPROVAL_SECRET'
    value: '@Microsoft.KeyVault(VaultName=${keyVault.name};SecretName=approval-link-secret)'
  }
  {
    name: 'RESPONDER_APPROVAL_BASE_URL'
    value: approvalApiBaseUrl
  }
] : []
var slackApprovalSettings = useSlackApproval ? [
  {
    name: 'SLACK_SIGNING_SECRET'
    value: '@Microsoft.KeyVault(VaultName=${keyVault.name};SecretName=slack-signing-secret)'
  }
] : []
var webhookSettings = useSecureWebhook ? [
  {
    name: 'RESPONDER_WEBHOOK_TENANT_ID'
    value: subscription().tenantId
  }
  {
    name: 'RESPONDER_WEBHOOK_AUDIENCE'
    value: secureWebhookAudience
  }
] : []

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: action groups call public HTTPS endpoints; the function key (and the Secure Webhook token when configured) authenticate them
  // checkov:skip=CKV_AZURE_17: action groups cannot present client certificates
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero by design; a lost call is retried by the action group
  // checkov:skip=CKV_AZURE_213: Flex Consumption has no App Service health check; Application Insights alerts on failures instead
  name: functionAppName
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertMode: 'Optional'
    keyVaultReferenceIdentity: 'SystemAssigned'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: concat(baseSettings, configSettings, teamsSettings, slackSettings, slackApprovalSettings, teamsApprovalSettings, webhookSettings)
    }
  }
  dependsOn: [
    deploymentContainer
    stateTable
  ]
}

// ---------------------------------------------------------------------------------- the app's own access
// Storage: the host's blobs (AzureWebJobsStorage with identity, the Flex deployment package) and the
// state table. Scoped to this storage account only.
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionApp.id, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(stateTable.id, functionApp.id, roles.storageTableDataContributor)
  scope: stateTable
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Telemetry with Microsoft Entra authentication (local auth is off on Application Insights).
resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, functionApp.id, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Each secret is readable by the app, and only that secret.
resource teamsSecretUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(teamsWebhookUrl)) {
  name: guid(keyVault.id, 'teams-webhook-url', functionApp.id)
  scope: teamsSecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource slackSecretUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(slackWebhookUrl)) {
  name: guid(keyVault.id, 'slack-webhook-url', functionApp.id)
  scope: slackSecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource slackSigningSecretUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (useSlackApproval) {
  name: guid(keyVault.id, 'slack-signing-secret', functionApp.id)
  scope: slackSigningSecretValue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource approvalLinkSecretUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (useTeamsApproval) {
  name: guid(keyVault.id, 'approval-link-secret', functionApp.id)
  scope: approvalLinkSecretValue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Reading jobs, vaults and the resources a fix names, in this subscription (a custom role with
// read actions only); the constrained role assignment administrator only when fixes are applied.
module access 'modules/responder-access.bicep' = {
  name: 'responder-access-${suffix}'
  scope: subscription()
  params: {
    principalId: functionApp.identity.principalId
    roleName: 'Backup failure responder reader (${functionAppName})'
    allowRoleAssignments: allowRoleAssignments
    remediationPrincipalIds: remediationPrincipalIds
    remediationResourceGroups: remediationResourceGroups
  }
}

// ---------------------------------------------------------------------------------- alert routing
resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${namePrefix}-ag-${suffix}'
  location: 'Global'
  properties: {
    groupShortName: take('${namePrefix}bkp', 12)
    enabled: true
    azureFunctionReceivers: useSecureWebhook ? [] : [
      {
        name: 'backup-responder'
        functionAppResourceId: functionApp.id
        functionName: 'backup_alert'
        httpTriggerUrl: 'https://${functionApp.properties.defaultHostName}/api/backup-alert'
        useCommonAlertSchema: true
      }
    ]
    webhookReceivers: useSecureWebhook ? [
      {
        name: 'backup-responder-secure'
        serviceUri: 'https://${functionApp.properties.defaultHostName}/api/backup-alert?code=${listKeys('${functionApp.id}/host/default', '2024-04-01').functionKeys.default}'
        useCommonAlertSchema: true
        useAadAuth: true
        objectId: secureWebhookAppObjectId
        identifierUri: secureWebhookIdentifierUri
        tenantId: subscription().tenantId
      }
    ] : []
  }
}

resource backupAlertRouting 'Microsoft.AlertsManagement/actionRules@2021-08-08' = {
  name: '${namePrefix}-route-backup-alerts'
  location: 'Global'
  properties: {
    description: 'Send the Azure Backup alerts (job failures and their resolution) of Recovery Services vaults and Backup vaults to the backup failure responder.'
    enabled: true
    scopes: alertScopes
    conditions: [
      {
        field: 'MonitorService'
        operator: 'Equals'
        values: [
          'Azure Backup'
        ]
      }
      {
        field: 'TargetResourceType'
        operator: 'Equals'
        values: [
          'microsoft.recoveryservices/vaults'
          'microsoft.dataprotection/backupvaults'
        ]
      }
    ]
    actions: [
      {
        actionType: 'AddActionGroups'
        actionGroupIds: [
          actionGroup.id
        ]
      }
    ]
  }
}

// ---------------------------------------------------------------------------------- vault settings
module vaultAlerts 'modules/vault-alerts.bicep' = if (!empty(managedBackupVaults) || !empty(managedRecoveryServicesVaults)) {
  name: 'vault-alerts-${suffix}'
  params: {
    backupVaults: managedBackupVaults
    recoveryServicesVaults: managedRecoveryServicesVaults
  }
}

output functionAppName string = functionApp.name
output functionAppPrincipalId string = functionApp.identity.principalId
output backupAlertUrl string = 'https://${functionApp.properties.defaultHostName}/api/backup-alert'
output actionGroupId string = actionGroup.id
output keyVaultName string = keyVault.name
output storageAccountName string = storage.name
