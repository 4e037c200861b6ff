# The ledger end to end through the cmdlets (docs/ledger.md): a backup, a Full validation, a restore and a drill
# recorded; Sync-DynamoBackupLedger rebuilding the same entries from S3; a removal marked; compliance of three
# tables, the same with the ledger and without it.
BeforeAll {
    Import-Module $env:BACKUPDR_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot '../emulators/DynamoWire.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../emulators/LocalServices.psm1') -Force
    if (-not $env:AWS_ENDPOINT_URL_DYNAMODB) { throw 'Run through ./build.ps1 test: the local emulators are not started.' }
    $unique = [guid]::NewGuid().ToString('N').Substring(0, 8)
    function New-SeededTable([string] $Name, [int] $Count) {
        New-WireTable $Name
        Add-WireItems $Name (1..$Count | ForEach-Object { "{`"pk`":{`"S`":`"k$_`"},`"sk`":{`"N`":`"$_`"},`"n`":{`"N`":`"0.$_`"}}" })
    }
    # The ledger's items, each as canonical JSON without its revision (a write stamp), sorted.
    function Get-LedgerItems([string] $Ledger) {
        @(Get-WireItems $Ledger | ForEach-Object {
            $item = $_ | ConvertFrom-Json -AsHashtable
            $item.Remove('Revision')
            ConvertTo-CanonicalJson $item
        } | Sort-Object)
    }
    $script:protected = "ledger-ok-$unique"
    $script:unvalidated = "ledger-nv-$unique"
    $script:unbacked = "ledger-nb-$unique"
    New-SeededTable $protected 60
    New-SeededTable $unvalidated 20
    New-SeededTable $unbacked 10
    $script:bucket = "ledger-$unique"
    New-LocalBucket $bucket
    $script:target = "s3://$bucket"
    $script:ledger = "backup-metadata-$unique"
    $script:tables = @($protected, $unvalidated, $unbacked)
}

Describe 'The ledger' {
    It 'records a backup, a Full validation, a restore and a drill: one entry per backup holding all four' {
        $script:backup = Invoke-DynamoBackup -TableName $protected -Bucket $bucket -LedgerTableName $ledger
        (Test-BackupIntegrity -Uri $backup.Uri -Level Full -LedgerTableName $ledger).IsValid | Should -BeTrue
        (Restore-DynamoTable -Uri $backup.Uri -TableName "$protected-restored" -LedgerTableName $ledger).ItemsWritten | Should -Be 60
        (Invoke-DynamoDrill -TableName $protected -Uri $target -LedgerTableName $ledger).Passed | Should -BeTrue
        $null = Invoke-DynamoBackup -TableName $unvalidated -Bucket $bucket -LedgerTableName $ledger

        $items = @(Invoke-DynamoWire Query @{ TableName = $ledger; KeyConditionExpression = 'TableName = :t'; ExpressionAttributeValues = @{ ':t' = @{ S = $protected } }; ConsistentRead = $true }).Items
        $entry = @($items | Where-Object { $_.Key.S -eq $backup.BackupId })
        $entry.Count | Should -Be 1
        $entry[0].Status.S | Should -Be 'Committed'
        $entry[0].ItemCount.N | Should -Be '60'
        $entry[0].LastValidationLevel.S | Should -Be 'Full'
        $entry[0].LastValidationPassed.BOOL | Should -BeTrue
        $entry[0].LastFullValidationAt.S | Should -Not -BeNullOrEmpty
        $entry[0].LastRestoreTarget.S | Should -Be "$protected-restored"
        $entry[0].LastDrillPassed.BOOL | Should -BeTrue
        [double]$entry[0].LastDrillRtoSeconds.N | Should -BeGreaterThan 0
        $records = @($items | Where-Object { $_.Key.S -like "$($backup.BackupId)#*" })
        @($records.Kind.S | Sort-Object) | Should -Be @('Drill', 'Restore', 'Validation')

        # Get-DynamoBackup joins the ledger's history to what is listed.
        $listed = Get-DynamoBackup -Uri $target -TableName $protected -LedgerTableName $ledger
        $listed.LastFullValidationAt | Should -Not -BeNullOrEmpty
        $listed.LastDrillPassed | Should -BeTrue
        $listed.LastRestoreAt | Should -Not -BeNullOrEmpty
    }

    It 'is rebuilt by Sync-DynamoBackupLedger from S3 into an empty ledger: the same entries and records' {
        $rebuilt = "$ledger-rebuilt"
        $sync = Sync-DynamoBackupLedger -Uri $target -LedgerTableName $rebuilt
        $sync.Entries | Should -Be 2
        $sync.Records | Should -Be 3
        $sync.Skipped | Should -BeNullOrEmpty
        Get-LedgerItems $rebuilt | Should -Be (Get-LedgerItems $ledger)
        # Again: nothing changes.
        $null = Sync-DynamoBackupLedger -Uri $target -LedgerTableName $rebuilt
        Get-LedgerItems $rebuilt | Should -Be (Get-LedgerItems $ledger)
    }

    It 'answers compliance for three tables: exactly one compliant, each reason named, a failure; the same rows with the ledger and without' {
        $limits = @{ Uri = $target; TableName = $tables; MaxAge = '1.00:00:00'; MaxValidationAge = '1.00:00:00'; MaxDrillAge = '7.00:00:00'; MaxRto = '01:00:00' }
        $answers = foreach ($source in 'Backups', 'Ledger') {
            $extra = if ($source -eq 'Ledger') { @{ LedgerTableName = $ledger } } else { @{} }
            $rows = $null
            $failure = $null
            try { Test-DynamoBackupCompliance @limits @extra -OutVariable rows | Out-Null } catch { $failure = $_ }
            $failure | Should -Not -BeNullOrEmpty
            $failure.FullyQualifiedErrorId | Should -Be 'ComplianceFailed,BackupDR.PowerShell.TestDynamoBackupComplianceCommand'
            @($rows).Count | Should -Be 3
            @($rows | Where-Object Compliant).TableName | Should -Be @($protected)
            @($rows).Source | Select-Object -Unique | Should -Be $source
            $byTable = @{}; foreach ($r in $rows) { $byTable[$r.TableName] = @($r.Reasons | ForEach-Object { ($_ -split ':')[0] }) }
            $byTable[$unvalidated] | Should -Be @('NotValidated', 'NeverDrilled')
            $byTable[$unbacked] | Should -Be @('NoBackup', 'NeverDrilled')
            $failure.Exception.Message | Should -Match "$unvalidated.*NotValidated"
            ,@($rows | ForEach-Object { "$($_.TableName)|$($_.Compliant)|$($_.Reasons -join '|')|$($_.LatestBackupId)|$($_.LastFullValidation)|$($_.LastDrill)" })
        }
        $answers[0] | Should -Be $answers[1]
        # Held to the protected table alone, it passes: no error.
        $ok = Test-DynamoBackupCompliance -Uri $target -TableName $protected -MaxValidationAge '1.00:00:00' -MaxDrillAge '7.00:00:00' -LedgerTableName $ledger
        $ok.Compliant | Should -BeTrue
        # An RTO limit the drill did not meet.
        { Test-DynamoBackupCompliance -Uri $target -TableName $protected -MaxRto '00:00:00.001' -ErrorAction Stop } | Should -Throw '*RtoTooLong*'
    }

    It 'marks a removed backup''s entry, and Sync marks one that vanished behind its back Missing' {
        $gone = Invoke-DynamoBackup -TableName $unvalidated -Bucket $bucket -LedgerTableName $ledger
        $null = Remove-DynamoBackup -Uri $gone.Uri -Force -LedgerTableName $ledger
        $entry = (Invoke-DynamoWire GetItem @{ TableName = $ledger; Key = @{ TableName = @{ S = $unvalidated }; Key = @{ S = $gone.BackupId } }; ConsistentRead = $true }).Item
        $entry.Status.S | Should -Be 'Removed'

        $vanished = Invoke-DynamoBackup -TableName $unvalidated -Bucket $bucket -LedgerTableName $ledger
        $null = Remove-DynamoBackup -Uri $vanished.Uri -Force    # no ledger named: the ledger does not know
        $sync = Sync-DynamoBackupLedger -Uri $target -LedgerTableName $ledger -WarningVariable warned -WarningAction SilentlyContinue
        $sync.MarkedMissing | Should -Be 1
        $warned -join "`n" | Should -Match "$($vanished.BackupId).*marked Missing"
        (Invoke-DynamoWire GetItem @{ TableName = $ledger; Key = @{ TableName = @{ S = $unvalidated }; Key = @{ S = $vanished.BackupId } }; ConsistentRead = $true }).Item.Status.S | Should -Be 'Missing'
        (Invoke-DynamoWire GetItem @{ TableName = $ledger; Key = @{ TableName = @{ S = $unvalidated }; Key = @{ S = $gone.BackupId } }; ConsistentRead = $true }).Item.Status.S | Should -Be 'Removed'
    }
}
