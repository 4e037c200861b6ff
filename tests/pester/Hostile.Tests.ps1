# The hostile-input matrix through the cmdlets (the engine's cases are in tests/BackupDR.Engine.Tests/Hostile*):
# a backup folder forged with its hashes re-chained, as someone with write access to the disk could.
BeforeAll {
    Import-Module $env:BACKUPDR_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot '../emulators/DynamoWire.psm1') -Force
    if (-not $env:AWS_ENDPOINT_URL_DYNAMODB) { throw 'Run through ./build.ps1 test: the local emulators are not started.' }

    $script:work = Join-Path ([System.IO.Path]::GetTempPath()) ('pester-hostile-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
    New-Item -ItemType Directory -Path (Join-Path $work 'outside') -Force | Out-Null
    $script:source = 'pester-hostile-' + [guid]::NewGuid().ToString('N').Substring(0, 8)
    New-WireTable $source
    Add-WireItems $source (1..20 | ForEach-Object { "{`"pk`":{`"S`":`"item-$_`"},`"sk`":{`"N`":`"$_`"}}" })

    function Get-Sha256([byte[]] $Bytes) { [Convert]::ToBase64String([System.Security.Cryptography.SHA256]::HashData($Bytes)) }
    function Get-Outside { Get-ChildItem (Join-Path $work 'outside') -Recurse -File | ForEach-Object { "$($_.FullName):$(Get-Sha256 ([IO.File]::ReadAllBytes($_.FullName)))" } }

    # A real backup, then its summary edited and the chain re-signed: summary hash into the marker.
    function New-ForgedBackup([scriptblock] $EditSummary) {
        $folder = Join-Path $work ([guid]::NewGuid().ToString('N').Substring(0, 8))
        New-Item -ItemType Directory $folder | Out-Null
        $backup = Invoke-DynamoBackup -TableName $source -Path $folder
        $summaryPath = Join-Path $backup.Uri 'manifest-summary.json'
        $summary = Get-Content -Raw $summaryPath | ConvertFrom-Json -DateKind String
        & $EditSummary $summary $backup.Uri
        $bytes = [Text.Encoding]::UTF8.GetBytes(($summary | ConvertTo-Json -Depth 5))
        [IO.File]::WriteAllBytes($summaryPath, $bytes)
        $markerPath = Join-Path $backup.Uri '_committed'
        $marker = Get-Content -Raw $markerPath | ConvertFrom-Json
        $marker.manifestSummarySha256 = Get-Sha256 $bytes
        [IO.File]::WriteAllBytes($markerPath, [Text.Encoding]::UTF8.GetBytes(($marker | ConvertTo-Json)))
        $backup.Uri
    }
}
AfterAll { Remove-Item -Recurse -Force -ErrorAction SilentlyContinue $work }

Describe 'Hostile backups through the cmdlets' {
    It 'a summary naming a table description outside the backup (absolute) is refused by Test-BackupIntegrity and Restore-DynamoTable, and nothing is created' {
        $uri = New-ForgedBackup {
            param($summary, $backupUri)
            # A valid description of another table, outside: following it would make the forgery pass.
            $stolen = [IO.File]::ReadAllBytes((Join-Path $backupUri 'table.json'))
            $outside = Join-Path $work 'outside/table.json'
            [IO.File]::WriteAllBytes($outside, $stolen)
            $summary.tableDescriptionKey = $outside
        }
        $before = Get-Outside
        $failure = $null
        $report = Test-BackupIntegrity -Uri $uri -ErrorVariable failure -ErrorAction SilentlyContinue
        $report.IsValid | Should -BeFalse
        $report.Problems.Code | Should -Contain 'InvalidManifest'
        $failure[0].FullyQualifiedErrorId | Should -Be 'BackupIntegrityFailed,BackupDR.PowerShell.TestBackupIntegrityCommand'
        { Restore-DynamoTable -Uri $uri -TableName "$source-stolen" -ErrorAction Stop } |
            Should -Throw -ErrorId 'BackupIntegrityFailed,BackupDR.PowerShell.RestoreDynamoTableCommand'
        Test-WireTable "$source-stolen" | Should -BeFalse
        Get-Outside | Should -Be $before
    }

    It 'a summary naming manifest-files outside the backup (..) is refused the same way' {
        $uri = New-ForgedBackup {
            param($summary, $backupUri)
            Copy-Item (Join-Path $backupUri 'manifest-files.json') (Join-Path $work 'outside/manifest-files.json')
            $summary.manifestFilesKey = '../../outside/manifest-files.json'
        }
        { Test-BackupIntegrity -Uri $uri -Level Quick -ErrorAction Stop } |
            Should -Throw -ErrorId 'BackupIntegrityFailed,BackupDR.PowerShell.TestBackupIntegrityCommand'
        { Restore-DynamoTable -Uri $uri -TableName "$source-dotdot" -ErrorAction Stop } |
            Should -Throw -ErrorId 'BackupIntegrityFailed,BackupDR.PowerShell.RestoreDynamoTableCommand'
        Test-WireTable "$source-dotdot" | Should -BeFalse
    }

    It 'Remove-DynamoBackup -Force on a backup holding links to another folder removes the links, not that folder''s files' {
        $precious = Join-Path $work 'outside/precious'
        New-Item -ItemType Directory $precious -Force | Out-Null
        'keep me' | Set-Content (Join-Path $precious 'a.txt')
        $folder = Join-Path $work 'linked'
        New-Item -ItemType Directory $folder | Out-Null
        $backup = Invoke-DynamoBackup -TableName $source -Path $folder
        New-Item -ItemType SymbolicLink -Path (Join-Path $backup.Uri 'data/elsewhere') -Target $precious | Out-Null
        $before = Get-Outside
        (Test-BackupIntegrity -Uri $backup.Uri -ErrorAction SilentlyContinue).Problems.Code | Should -Contain 'UnexpectedObject'
        $removed = Remove-DynamoBackup -Uri $backup.Uri -Force
        $removed.ObjectsDeleted | Should -BeGreaterThan 4
        Test-Path $backup.Uri | Should -BeFalse
        Get-Outside | Should -Be $before
        Get-Content (Join-Path $precious 'a.txt') | Should -Be 'keep me'
    }
}
