# The engines past one machine, through the cmdlets: DynamoDB's Export to S3 as a backup, DynamoDB's Import from S3
# as a restore (docs/format.md §13, docs/restore.md).
BeforeAll {
    Import-Module $env:BACKUPDR_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot '../emulators/DynamoWire.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../emulators/LocalServices.psm1') -Force
    if (-not $env:AWS_ENDPOINT_URL_DYNAMODB) { throw 'Run through ./build.ps1 test: the local emulators are not started.' }
    $unique = [guid]::NewGuid().ToString('N').Substring(0, 8)
    $script:source = "engines-$unique"
    New-WireTable $source
    Add-WireItems $source (1..300 | ForEach-Object { "{`"pk`":{`"S`":`"k$_`"},`"sk`":{`"N`":`"$_.25`"},`"big`":{`"N`":`"12345678901234567890123456789012345678`"},`"b`":{`"B`":`"AAEC/w==`"},`"s`":{`"SS`":[`"x`",`"y`"]}}" })
    $script:bucket = "engines-$unique"
    New-LocalBucket $bucket
}

Describe 'Invoke-DynamoBackup -Engine Export' {
    It 'is refused without point-in-time recovery, then backs up through DynamoDB''s export into a backup every cmdlet reads' {
        { Invoke-DynamoBackup -TableName $source -Bucket $bucket -Engine Export -ErrorAction Stop } |
            Should -Throw -ErrorId 'PointInTimeRecoveryDisabled,BackupDR.PowerShell.InvokeDynamoBackupCommand'
        @(Get-DynamoBackup -Uri "s3://$bucket" -TableName $source) | Should -BeNullOrEmpty

        $script:exported = Invoke-DynamoBackup -TableName $source -Bucket $bucket -Engine Export -EnablePointInTimeRecovery
        $exported.Engine | Should -Be 'Export'
        $exported.ExportArn | Should -Match "table/$source/export/\d{14}-[0-9a-f]{8}$"
        $exported.ItemCount | Should -Be 300
        (Test-BackupIntegrity -Uri $exported.Uri -Level Full).IsValid | Should -BeTrue
        (Get-DynamoBackup -Uri "s3://$bucket" -TableName $source).Status | Should -Be 'Committed'
        $null = Restore-DynamoTable -Uri $exported.Uri -TableName "$source-fromexport"
        Get-WireItems "$source-fromexport" | Should -Be (Get-WireItems $source)
        { Invoke-DynamoBackup -TableName $source -Path $TestDrive -Engine Export -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidArgument,BackupDR.PowerShell.InvokeDynamoBackupCommand'
    }

    It 'chains incremental backups, and restores the table''s folder to a chosen point: the backup that reaches it, with its chain' {
        $chained = "$source-chain"
        New-WireTable $chained
        Add-WireItems $chained (1..50 | ForEach-Object { "{`"pk`":{`"S`":`"k$_`"},`"sk`":{`"N`":`"$_`"}}" })
        $full = Invoke-DynamoBackup -TableName $chained -Bucket $bucket -Engine Export -EnablePointInTimeRecovery
        Add-WireItems $chained (51..70 | ForEach-Object { "{`"pk`":{`"S`":`"k$_`"},`"sk`":{`"N`":`"$_`"}}" })
        Start-Sleep -Milliseconds 2100      # the local endpoint's shortest incremental window (AWS: 15 minutes)
        $first = Invoke-DynamoBackup -TableName $chained -Bucket $bucket -Engine Export -Incremental
        $first.BaseBackupId | Should -Be $full.BackupId
        $atFirst = Get-WireItems $chained
        Add-WireItems $chained (71..80 | ForEach-Object { "{`"pk`":{`"S`":`"k$_`"},`"sk`":{`"N`":`"$_`"}}" })
        Start-Sleep -Milliseconds 2100
        $second = Invoke-DynamoBackup -TableName $chained -Bucket $bucket -Engine Export -Incremental
        $second.BaseBackupId | Should -Be $first.BackupId
        (Test-BackupIntegrity -Uri $second.Uri -Level Full).IsValid | Should -BeTrue

        $point = $first.ExportTime.AddMilliseconds(500)
        $restored = Restore-DynamoTable -Uri "s3://$bucket/$chained/" -TableName "$chained-atpoint" -PointInTime $point.UtcDateTime
        $restored.BackupId | Should -Be $first.BackupId
        $restored.PointInTime | Should -Be $first.ExportTime
        Get-WireItems "$chained-atpoint" | Should -Be $atFirst
        { Restore-DynamoTable -Uri "s3://$bucket/$chained/" -TableName "$chained-never" -PointInTime $full.ExportTime.AddMinutes(-5).UtcDateTime -ErrorAction Stop } |
            Should -Throw -ErrorId 'PointInTimeNotCovered,BackupDR.PowerShell.RestoreDynamoTableCommand'
        Test-WireTable "$chained-never" | Should -BeFalse
    }
}

Describe 'Restore-DynamoTable -Engine Import' {
    It 'creates a new table through DynamoDB''s import from a scan backup and from an export backup, equal to the source' {
        $scan = Invoke-DynamoBackup -TableName $source -Bucket $bucket
        foreach ($backup in $scan, $exported) {
            $target = "$source-imported-$($backup.BackupId.Substring(0, 8))-$([guid]::NewGuid().ToString('N').Substring(0, 4))"
            $result = Restore-DynamoTable -Uri $backup.Uri -TableName $target -Engine Import
            $result.Engine | Should -Be 'Import'
            $result.ItemsWritten | Should -Be 300
            Get-WireItems $target | Should -Be (Get-WireItems $source)
        }
        { Restore-DynamoTable -Uri $scan.Uri -TableName $source -Engine Import -ErrorAction Stop } |
            Should -Throw -ErrorId 'TargetTableNotEmpty,BackupDR.PowerShell.RestoreDynamoTableCommand'
    }
}

