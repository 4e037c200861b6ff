@{
    # ModuleVersion is stamped by build.ps1 from Directory.Build.props (the one version source).
    RootModule           = 'BackupDR.dll'
    ModuleVersion        = '0.0.0'
    GUID                 = '5b0f3f8e-8d1e-4c1a-9a57-2f4d6f0c8b31'
    Author               = 'BackupDR'
    CompanyName          = 'BackupDR'
    Copyright            = '(c) 2026 BackupDR contributors. MIT License.'
    Description          = 'Back up DynamoDB tables to S3, prove the backups intact, and restore them losslessly.'
    CompatiblePSEditions = @('Core')
    PowerShellVersion    = '7.4'
    FormatsToProcess     = @('BackupDR.format.ps1xml')
    CmdletsToExport      = @('Invoke-DynamoBackup', 'Test-BackupIntegrity', 'Restore-DynamoTable', 'Get-DynamoBackup', 'Remove-DynamoBackup',
                             'Deploy-BackupFunctions', 'Get-BackupFunctionPolicy', 'Invoke-DynamoDrill', 'Copy-DynamoBackup',
                             'Sync-DynamoBackupLedger', 'Test-DynamoBackupCompliance')
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            # The project's public home; LicenseUri is the LICENSE shipped in the package too.
            ProjectUri   = 'https://github.com/backupdr/backupdr'
            LicenseUri   = 'https://github.com/backupdr/backupdr/blob/main/LICENSE'
            Tags         = @('DynamoDB', 'AWS', 'Backup', 'DisasterRecovery', 'S3', 'Lambda', 'PSEdition_Core', 'Linux', 'Windows', 'MacOS')
            ReleaseNotes = 'Reads DynamoDB exports (full, incremental, chains), the original backup Lambda''s files and dynamodump folders; Invoke-DynamoDrill with RPO/RTO; retention (Remove-DynamoBackup -KeepLast/-OlderThan); Copy-DynamoBackup; the replication function.'
        }
    }
}
