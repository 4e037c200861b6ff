# Bad input across every cmdlet: each case must fail with its stable error id and change nothing —
# no object, upload, table, item or file written or removed anywhere (S3, DynamoDB, disk).
BeforeDiscovery {
    $cmd = @{ Backup = 'BackupDR.PowerShell.InvokeDynamoBackupCommand'; Test = 'BackupDR.PowerShell.TestBackupIntegrityCommand'
        Restore = 'BackupDR.PowerShell.RestoreDynamoTableCommand'; Get = 'BackupDR.PowerShell.GetDynamoBackupCommand'; Remove = 'BackupDR.PowerShell.RemoveDynamoBackupCommand' }
    $script:cases = @(
        # Invoke-DynamoBackup
        @{ Name = 'backup: an empty table name'; Id = "ParameterArgumentValidationError,$($cmd.Backup)"; Run = { Invoke-DynamoBackup -TableName '' -Path $work } }
        @{ Name = 'backup: a table that does not exist'; Id = "TableNotFound,$($cmd.Backup)"; Run = { Invoke-DynamoBackup -TableName 'no-such-table-bad' -Bucket $bucket } }
        @{ Name = 'backup: one missing table among several'; Id = "TableNotFound,$($cmd.Backup)"; Run = { Invoke-DynamoBackup -TableName $source, 'no-such-table-bad' -Bucket $bucket } }
        @{ Name = 'backup: an invalid table name'; Id = "InvalidArgument,$($cmd.Backup)"; Run = { Invoke-DynamoBackup -TableName 'a' -Bucket $bucket } }
        @{ Name = 'backup: a bucket that does not exist'; Id = "BucketNotFound,$($cmd.Backup)"; Run = { Invoke-DynamoBackup -TableName $source -Bucket 'no-such-bucket-bad' } }
        @{ Name = 'backup: an invalid bucket name'; Id = "InvalidArgument,$($cmd.Backup)"; Run = { Invoke-DynamoBackup -TableName $source -Bucket 'Not_A_Bucket' } }
        @{ Name = 'backup: a folder that does not exist'; Id = "PathNotFound,$($cmd.Backup)"; Run = { Invoke-DynamoBackup -TableName $source -Path (Join-Path $work 'no/such/folder') } }
        @{ Name = 'backup: -Bucket and -Path together'; Id = "AmbiguousParameterSet,$($cmd.Backup)"; Run = { Invoke-DynamoBackup -TableName $source -Bucket $bucket -Path $work } }
        @{ Name = 'backup: an unknown region'; Id = "InvalidArgument,$($cmd.Backup)"; Run = { Invoke-DynamoBackup -TableName $source -Bucket $bucket -Region 'mars-north-9' } }
        @{ Name = 'backup: a profile that does not exist'; Id = "ProfileNotFound,$($cmd.Backup)"; Run = { Invoke-DynamoBackup -TableName $source -Bucket $bucket -ProfileName 'no-such-profile-bad' } }
        @{ Name = 'backup: segments out of range'; Id = "ParameterArgumentValidationError,$($cmd.Backup)"; Run = { Invoke-DynamoBackup -TableName $source -Bucket $bucket -Segments 0 } }
        @{ Name = 'backup: segments of the wrong type'; Id = "CannotConvertArgumentNoMessage,$($cmd.Backup)"; Run = { Invoke-DynamoBackup -TableName $source -Bucket $bucket -Segments 'many' } }
        @{ Name = 'backup: a malformed SNS topic ARN'; Id = "InvalidArgument,$($cmd.Backup)"; Run = { Invoke-DynamoBackup -TableName $source -Bucket $bucket -NotificationTopicArn 'arn:aws:sqs:us-east-1:123456789012:not-a-topic' } }
        @{ Name = 'backup: a reserved metric namespace'; Id = "InvalidArgument,$($cmd.Backup)"; Run = { Invoke-DynamoBackup -TableName $source -Bucket $bucket -MetricNamespace 'AWS/DynamoDB' } }
        @{ Name = 'backup: a negative read cap'; Id = "ParameterArgumentValidationError,$($cmd.Backup)"; Run = { Invoke-DynamoBackup -TableName $source -Bucket $bucket -MaxReadCapacityUnits -1 } }
        # Test-BackupIntegrity
        @{ Name = 'test: a malformed URI'; Id = "InvalidBackupUri,$($cmd.Test)"; Run = { Test-BackupIntegrity -Uri 'https://example.com/backup' } }
        @{ Name = 'test: a backup that does not exist'; Id = "BackupNotFound,$($cmd.Test)"; Run = { Test-BackupIntegrity -Uri "s3://$bucket/none/t-x/20200101T000000000Z-00000000/" } }
        @{ Name = 'test: a bucket that does not exist'; Id = "BucketNotFound,$($cmd.Test)"; Run = { Test-BackupIntegrity -Uri 's3://no-such-bucket-bad/x/' } }
        @{ Name = 'test: an unreadable manifest'; Id = "BackupIntegrityFailed,$($cmd.Test)"; Run = { Test-BackupIntegrity -Uri $badManifest } }
        @{ Name = 'test: a future format version'; Id = "BackupIntegrityFailed,$($cmd.Test)"; Run = { Test-BackupIntegrity -Uri $future -Level Quick } }
        @{ Name = 'test: -Level Live without -TableName'; Id = "InvalidArgument,$($cmd.Test)"; Run = { Test-BackupIntegrity -Uri $s3Backup -Level Live } }
        @{ Name = 'test: -TableName without -Level Live'; Id = "InvalidArgument,$($cmd.Test)"; Run = { Test-BackupIntegrity -Uri $s3Backup -TableName $source } }
        @{ Name = 'test: an unknown level'; Id = "ParameterArgumentValidationError,$($cmd.Test)"; Run = { Test-BackupIntegrity -Uri $s3Backup -Level Thorough } }
        @{ Name = 'test: -Level Live against a table that does not exist'; Id = "TableNotFound,$($cmd.Test)"; Run = { Test-BackupIntegrity -Uri $s3Backup -Level Live -TableName 'no-such-table-bad' } }
        # Restore-DynamoTable
        @{ Name = 'restore: a key schema mismatch'; Id = "KeySchemaMismatch,$($cmd.Restore)"; Run = { Restore-DynamoTable -Uri $s3Backup -TableName $otherKeys -Mode Upsert } }
        @{ Name = 'restore: a table that holds items, without -Mode'; Id = "TargetTableNotEmpty,$($cmd.Restore)"; Run = { Restore-DynamoTable -Uri $s3Backup -TableName $source } }
        @{ Name = 'restore: a backup without its commit marker'; Id = "BackupNotCommitted,$($cmd.Restore)"; Run = { Restore-DynamoTable -Uri $notCommitted -TableName 'bad-target-1' } }
        @{ Name = 'restore: a future format version'; Id = "UnsupportedFormatVersion,$($cmd.Restore)"; Run = { Restore-DynamoTable -Uri $future -TableName 'bad-target-2' } }
        @{ Name = 'restore: an unreadable manifest'; Id = "BackupIntegrityFailed,$($cmd.Restore)"; Run = { Restore-DynamoTable -Uri $badManifest -TableName 'bad-target-3' } }
        @{ Name = 'restore: a backup that does not exist'; Id = "BackupNotFound,$($cmd.Restore)"; Run = { Restore-DynamoTable -Uri "s3://$bucket/none/t-x/20200101T000000000Z-00000000/" -TableName 'bad-target-4' } }
        @{ Name = 'restore: an unknown mode'; Id = "ParameterArgumentValidationError,$($cmd.Restore)"; Run = { Restore-DynamoTable -Uri $s3Backup -TableName 'bad-target-5' -Mode Overwrite } }
        @{ Name = 'restore: -Resume into a table with items and no checkpoint'; Id = "CheckpointNotFound,$($cmd.Restore)"; Run = { Restore-DynamoTable -Uri $s3Backup -TableName $source -Resume } }
        @{ Name = 'restore: an invalid target table name'; Id = "InvalidArgument,$($cmd.Restore)"; Run = { Restore-DynamoTable -Uri $s3Backup -TableName 'no spaces allowed' } }
        @{ Name = 'restore: an empty target table name'; Id = "ParameterArgumentValidationError,$($cmd.Restore)"; Run = { Restore-DynamoTable -Uri $s3Backup -TableName '' } }
        @{ Name = 'restore: parallelism out of range'; Id = "ParameterArgumentValidationError,$($cmd.Restore)"; Run = { Restore-DynamoTable -Uri $s3Backup -TableName 'bad-target-6' -Parallelism 0 } }
        @{ Name = 'restore: a checkpoint bucket that does not exist'; Id = "BucketNotFound,$($cmd.Restore)"; Run = { Restore-DynamoTable -Uri $s3Backup -TableName 'bad-target-7' -CheckpointUri 's3://no-such-bucket-bad/checkpoints/' } }
        # Get-DynamoBackup, Remove-DynamoBackup
        @{ Name = 'list: a bucket that does not exist'; Id = "BucketNotFound,$($cmd.Get)"; Run = { Get-DynamoBackup -Uri 's3://no-such-bucket-bad/' } }
        @{ Name = 'list: a malformed URI'; Id = "InvalidBackupUri,$($cmd.Get)"; Run = { Get-DynamoBackup -Uri 'ftp://example.com/x' } }
        @{ Name = 'list: an unknown status'; Id = "ParameterArgumentValidationError,$($cmd.Get)"; Run = { Get-DynamoBackup -Uri "s3://$bucket/" -Status Broken } }
        @{ Name = 'remove: a URI that is not one backup'; Id = "InvalidBackupUri,$($cmd.Remove)"; Run = { Remove-DynamoBackup -Uri "s3://$bucket/bad/" -Force } }
        @{ Name = 'remove: a backup that does not exist'; Id = "BackupNotFound,$($cmd.Remove)"; Run = { Remove-DynamoBackup -Uri "s3://$bucket/bad/$source/20200101T000000000Z-00000000/" -Force } }
    )
}

BeforeAll {
    Import-Module $env:BACKUPDR_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot '../emulators/DynamoWire.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../emulators/LocalServices.psm1') -Force
    if (-not $env:AWS_ENDPOINT_URL_DYNAMODB) { throw 'Run through ./build.ps1 test: the local emulators are not started.' }

    $script:work = Join-Path ([System.IO.Path]::GetTempPath()) ('pester-bad-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
    New-Item -ItemType Directory -Path $work | Out-Null
    $script:source = 'pester-bad-' + [guid]::NewGuid().ToString('N').Substring(0, 8)
    New-WireTable $source
    Add-WireItems $source (1..25 | ForEach-Object { "{`"pk`":{`"S`":`"item-$_`"},`"sk`":{`"N`":`"$_`"},`"n`":{`"N`":`"1234567890123456789012345678901234567.8`"}}" })
    $script:otherKeys = "$source-id"
    New-WireTable $otherKeys -HashKey 'id' -RangeKey ''
    $script:bucket = 'pester-bad-' + [guid]::NewGuid().ToString('N').Substring(0, 8)
    New-LocalBucket $bucket
    $script:s3Backup = (Invoke-DynamoBackup -TableName $source -Bucket $bucket -Prefix 'bad').Uri

    # Damaged local copies of one good backup.
    $local = (Invoke-DynamoBackup -TableName $source -Path $work).Uri
    function Copy-Backup([string] $Name) {
        $copy = Join-Path $work "damaged/$Name/$source/$(Split-Path -Leaf $local)"
        New-Item -ItemType Directory -Force (Split-Path $copy) | Out-Null
        Copy-Item -Recurse $local $copy
        $copy
    }
    $script:notCommitted = Copy-Backup 'not-committed'
    Remove-Item (Join-Path $notCommitted '_committed')
    $script:badManifest = Copy-Backup 'bad-manifest'
    [System.IO.File]::WriteAllText((Join-Path $badManifest 'manifest-summary.json'), '{ this is not json')
    $script:future = Copy-Backup 'future'
    $summaryPath = Join-Path $future 'manifest-summary.json'
    $summary = (Get-Content -Raw $summaryPath) -replace '"formatVersion": ?1', '"formatVersion": 99'
    [System.IO.File]::WriteAllText($summaryPath, $summary)
    # Re-seal the marker, so the only thing wrong is the version.
    $sha = [Convert]::ToBase64String([System.Security.Cryptography.SHA256]::HashData([System.IO.File]::ReadAllBytes($summaryPath)))
    $markerPath = Join-Path $future '_committed'
    [System.IO.File]::WriteAllText($markerPath, ((Get-Content -Raw $markerPath) -replace '"manifestSummarySha256": ?"[^"]*"', "`"manifestSummarySha256`": `"$sha`""))

    function Get-World {
        $files = Get-ChildItem -Recurse -File $work, $env:BACKUPDR_CHECKPOINT_URI -ErrorAction SilentlyContinue | ForEach-Object { "file $($_.FullName) $($_.Length)" }
        # Every table and bucket name (nothing new may appear), and the contents of all that the cases touch.
        (@(Get-LocalS3State -Bucket $bucket) + @(Get-WireState -CountItems $source, $otherKeys) + @($files)) -join "`n"
    }
}

AfterAll { Remove-Item -Recurse -Force -ErrorAction SilentlyContinue $work }

Describe 'Bad input: a stable error id, and nothing written' {
    It '<Name>' -ForEach $cases {
        $before = Get-World
        { $ErrorActionPreference = 'Stop'; & $Run } | Should -Throw -ErrorId $Id
        Get-World | Should -BeExactly $before
    }

    It 'has at least 25 cases' -ForEach @{ Count = $cases.Count } {
        $Count | Should -BeGreaterOrEqual 25
    }
}
