// Turns on the Azure Monitor alerts for all job failures (the built-in "Backup Failure" and
// "Restore Failure" alerts the responder receives) on vaults this template manages, and the
// vaults' system-assigned identity that Azure Backup uses to reach the protected resources.
// A vault declared here is created or updated in full: list only vaults whose definition this
// template owns. For vaults managed elsewhere, set the same property in their own template, or
// run the az commands in docs/azure.md.

@description('Backup vaults: [{ name, location, storageType (LocallyRedundant | GeoRedundant | ZoneRedundant) }].')
param backupVaults array = []

@description('Recovery Services vaults: [{ name, location }].')
param recoveryServicesVaults array = []

resource dataProtectionVaults 'Microsoft.DataProtection/backupVaults@2024-04-01' = [for vault in backupVaults: {
  name: vault.name
  location: vault.location
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    storageSettings: [
      {
        datastoreType: 'VaultStore'
        type: vault.?storageType ?? 'LocallyRedundant'
      }
    ]
    monitoringSettings: {
      azureMonitorAlertSettings: {
        alertsForAllJobFailures: 'Enabled'
      }
    }
  }
}]

resource recoveryVaults 'Microsoft.RecoveryServices/vaults@2024-04-01' = [for vault in recoveryServicesVaults: {
  name: vault.name
  location: vault.location
  sku: {
    name: 'RS0'
    tier: 'Standard'
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    publicNetworkAccess: 'Enabled'
    monitoringSettings: {
      azureMonitorAlertSettings: {
        alertsForAllJobFailures: 'Enabled'
      }
      classicAlertSettings: {
        alertsForCriticalOperations: 'Disabled'
      }
    }
  }
}]

output backupVaultPrincipalIds array = [for (vault, i) in backupVaults: dataProtectionVaults[i].identity.principalId]
output recoveryServicesVaultPrincipalIds array = [for (vault, i) in recoveryServicesVaults: recoveryVaults[i].identity.principalId]
