# The cmdlets end to end against the local emulators (started by ./build.ps1 test).
BeforeAll {
    Import-Module $env:BACKUPDR_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot '../emulators/DynamoWire.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../emulators/LocalServices.psm1') -Force
    if (-not $env:AWS_ENDPOINT_URL_DYNAMODB) { throw 'Run through ./build.ps1 test: the local emulators are not started.' }

    function New-SeededTable([int] $Count = 120) {
        $name = 'pester-' + [guid]::NewGuid().ToString('N').Substring(0, 10)
        New-WireTable $name
        $items = 1..$Count | ForEach-Object {
            "{`"pk`":{`"S`":`"item-$_`"},`"sk`":{`"N`":`"$_.5`"},`"big`":{`"N`":`"12345678901234567890123456789012345678`"},`"bin`":{`"B`":`"AAEC/w==`"},`"tags`":{`"SS`":[`"a`",`"b`"]},`"m`":{`"M`":{`"l`":{`"L`":[{`"NULL`":true},{`"BOOL`":false}]}}}}"
        }
        Add-WireItems $name $items
        $name
    }
    $script:work = Join-Path ([System.IO.Path]::GetTempPath()) ('pester-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
    New-Item -ItemType Directory -Path $work | Out-Null
}
AfterAll { Remove-Item -Recurse -Force -ErrorAction SilentlyContinue $work }

Describe 'Invoke-DynamoBackup | Test-BackupIntegrity | Restore-DynamoTable' {
    It 'backs up, proves and restores a table as one pipeline' {
        $source = New-SeededTable 120
        $target = "$source-restored"
        $result = Invoke-DynamoBackup -TableName $source -Path $work -Segments 3 |
            Test-BackupIntegrity -Level Full |
            Restore-DynamoTable -TableName $target
        $result.PSObject.TypeNames[0] | Should -Be 'BackupDR.Engine.Restore.RestoreResult'
        $result.ItemsWritten | Should -Be 120
        $result.TableCreated | Should -BeTrue
        $result.SourceTableName | Should -Be $source
        (Get-WireItems $target) -join "`n" | Should -BeExactly ((Get-WireItems $source) -join "`n")
    }

    It 'outputs the documented backup properties' {
        $source = New-SeededTable 10
        $backup = Invoke-DynamoBackup -TableName $source -Path $work
        $backup.PSObject.TypeNames[0] | Should -Be 'BackupDR.Engine.Backup.BackupResult'
        $backup.ItemCount | Should -Be 10
        $backup.SizeBytes | Should -BeGreaterThan 0
        $backup.Duration | Should -BeOfType [timespan]
        $backup.Uri | Should -Be (Join-Path $work "$source/$($backup.BackupId)")
        $backup.BackupId | Should -Match '^\d{8}T\d{9}Z-[0-9a-f]{8}$'
    }

    It 'writes to S3 when given a bucket' {
        $source = New-SeededTable 30
        $bucket = 'pester-' + [guid]::NewGuid().ToString('N').Substring(0, 10)
        New-LocalBucket $bucket
        $backup = Invoke-DynamoBackup -TableName $source -Bucket $bucket -Prefix 'nightly/'
        $backup.Uri | Should -Be "s3://$bucket/nightly/$source/$($backup.BackupId)/"
        (Test-BackupIntegrity -Uri $backup.Uri -Level Full).IsValid | Should -BeTrue
    }
}

Describe 'Failures are errors with stable ids, and change nothing' {
    It 'refuses a missing table: TableNotFound, nothing written' {
        $folder = Join-Path $work 'missing-table'
        New-Item -ItemType Directory $folder | Out-Null
        { Invoke-DynamoBackup -TableName 'no-such-table-pester' -Path $folder -ErrorAction Stop } |
            Should -Throw -ErrorId 'TableNotFound,BackupDR.PowerShell.InvokeDynamoBackupCommand'
        Get-ChildItem $folder -Recurse | Should -BeNullOrEmpty
    }

    It 'refuses a missing bucket: BucketNotFound' {
        $source = New-SeededTable 1
        { Invoke-DynamoBackup -TableName $source -Bucket 'no-such-bucket-pester' -ErrorAction Stop } |
            Should -Throw -ErrorId 'BucketNotFound,BackupDR.PowerShell.InvokeDynamoBackupCommand'
    }

    It 'refuses a malformed URI: InvalidBackupUri' {
        { Test-BackupIntegrity -Uri 'https://example.com/backup' -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidBackupUri,BackupDR.PowerShell.TestBackupIntegrityCommand'
        { Restore-DynamoTable -Uri 's3://Not_A_Bucket/x' -TableName 'target-table' -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidBackupUri,BackupDR.PowerShell.RestoreDynamoTableCommand'
    }

    It 'refuses a negative capacity cap before doing anything' {
        { Invoke-DynamoBackup -TableName t -Path $work -MaxReadCapacityUnits -1 -ErrorAction Stop } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,BackupDR.PowerShell.InvokeDynamoBackupCommand'
        { Restore-DynamoTable -Uri $work -TableName t -MaxWriteCapacityUnits -5 -ErrorAction Stop } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,BackupDR.PowerShell.RestoreDynamoTableCommand'
    }

    It 'reports the capacity a capped restore consumed' {
        $source = New-SeededTable 60
        $backup = Invoke-DynamoBackup -TableName $source -Path $work -MaxReadCapacityUnits 1000
        $backup.ConsumedReadCapacityUnits | Should -BeGreaterThan 0
        $restored = Restore-DynamoTable -Uri $backup.Uri -TableName "$source-capped" -MaxWriteCapacityUnits 1000
        $restored.ItemsWritten | Should -Be 60
        $restored.ConsumedWriteCapacityUnits | Should -BeGreaterOrEqual 60   # at least one unit per item written
    }

    It 'reports a damaged backup as invalid and as an error; restore writes nothing' {
        $source = New-SeededTable 200
        $backup = Invoke-DynamoBackup -TableName $source -Path $work -Segments 2
        # The last data file, whichever stream wrote it.
        $damaged = (Get-ChildItem (Join-Path $backup.Uri 'data') -Filter '*.json.gz' | Sort-Object Name | Select-Object -Last 1).Name
        $file = Join-Path $backup.Uri "data/$damaged"
        $bytes = [System.IO.File]::ReadAllBytes($file)
        $bytes[[int]($bytes.Length / 2)] = $bytes[[int]($bytes.Length / 2)] -bxor 0x10
        [System.IO.File]::WriteAllBytes($file, $bytes)

        $report = Test-BackupIntegrity -Uri $backup.Uri -Level Full -ErrorVariable problems -ErrorAction SilentlyContinue
        $report.IsValid | Should -BeFalse
        $report.Problems.File | Should -Contain "data/$damaged"
        $problems[0].FullyQualifiedErrorId | Should -Be 'BackupIntegrityFailed,BackupDR.PowerShell.TestBackupIntegrityCommand'
        { Test-BackupIntegrity -Uri $backup.Uri -ErrorAction Stop } | Should -Throw -ErrorId 'BackupIntegrityFailed,*'

        { Restore-DynamoTable -Uri $backup.Uri -TableName "$source-bad" -ErrorAction Stop } |
            Should -Throw -ErrorId 'BackupIntegrityFailed,BackupDR.PowerShell.RestoreDynamoTableCommand'
        Test-WireTable "$source-bad" | Should -BeFalse
    }

    It 'refuses a backup without its commit marker unless -Force' {
        $source = New-SeededTable 5
        $backup = Invoke-DynamoBackup -TableName $source -Path $work
        Remove-Item (Join-Path $backup.Uri '_committed')
        { Restore-DynamoTable -Uri $backup.Uri -TableName "$source-x" -ErrorAction Stop } |
            Should -Throw -ErrorId 'BackupNotCommitted,BackupDR.PowerShell.RestoreDynamoTableCommand'
        (Restore-DynamoTable -Uri $backup.Uri -TableName "$source-x" -Force).ItemsWritten | Should -Be 5
    }

    It 'refuses a non-empty target without a -Mode, and a different key schema in any mode' {
        $source = New-SeededTable 5
        $backup = Invoke-DynamoBackup -TableName $source -Path $work
        $failure = $null
        try { Restore-DynamoTable -Uri $backup.Uri -TableName $source -ErrorAction Stop } catch { $failure = $_ }
        $failure.FullyQualifiedErrorId | Should -Be 'TargetTableNotEmpty,BackupDR.PowerShell.RestoreDynamoTableCommand'
        # The engine names the remedy as an option; the cmdlet phrases it as its own parameter.
        $failure.Exception.Message | Should -Match 'choose -Mode Upsert \('
        $failure.Exception.Message | Should -Not -Match '[⟨⟩]'
        $other = "$source-otherkey"
        New-WireTable $other -HashKey 'id' -RangeKey ''
        { Restore-DynamoTable -Uri $backup.Uri -TableName $other -Mode Upsert -ErrorAction Stop } |
            Should -Throw -ErrorId 'KeySchemaMismatch,BackupDR.PowerShell.RestoreDynamoTableCommand'
        @(Get-WireItems $other).Count | Should -Be 0
    }

    It 'compares a backup with a live table: TableDiffersFromBackup when they differ' {
        $source = New-SeededTable 20
        $backup = Invoke-DynamoBackup -TableName $source -Path $work
        $same = Test-BackupIntegrity -Uri $backup.Uri -Level Live -TableName $source
        $same.IsValid | Should -BeTrue
        $same.Live.TableItems | Should -Be 20
        Add-WireItems $source @('{"pk":{"S":"extra"},"sk":{"N":"1"}}')
        $report = Test-BackupIntegrity -Uri $backup.Uri -Level Live -TableName $source -ErrorVariable problems -ErrorAction SilentlyContinue
        $report.Live.Extra | Should -Be 1
        $report.Live.ExtraKeys | Should -Be '{"pk":{"S":"extra"},"sk":{"N":"1"}}'
        $problems[0].FullyQualifiedErrorId | Should -Be 'TableDiffersFromBackup,BackupDR.PowerShell.TestBackupIntegrityCommand'
        { Test-BackupIntegrity -Uri $backup.Uri -Level Live -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidArgument,BackupDR.PowerShell.TestBackupIntegrityCommand'
    }

    It '-WhatIf writes nothing' {
        $source = New-SeededTable 3
        $folder = Join-Path $work 'whatif'
        New-Item -ItemType Directory $folder | Out-Null
        Invoke-DynamoBackup -TableName $source -Path $folder -WhatIf | Should -BeNullOrEmpty
        Get-ChildItem $folder -Recurse | Should -BeNullOrEmpty
        $backup = Invoke-DynamoBackup -TableName $source -Path $folder
        Restore-DynamoTable -Uri $backup.Uri -TableName "$source-whatif" -WhatIf | Should -BeNullOrEmpty
        Test-WireTable "$source-whatif" | Should -BeFalse
    }
}

Describe 'Get-DynamoBackup | Remove-DynamoBackup' {
    BeforeAll {
        $script:source = New-SeededTable 20
        $script:bucket = 'pester-' + [guid]::NewGuid().ToString('N').Substring(0, 10)
        New-LocalBucket $bucket
        $script:kept = Invoke-DynamoBackup -TableName $source -Bucket $bucket -Prefix 'cat'
        $script:broken = Invoke-DynamoBackup -TableName $source -Bucket $bucket -Prefix 'cat'
        # An interrupted backup: no commit marker, and a multipart upload still pending under it.
        Remove-LocalObject -Bucket $bucket -Key "cat/$source/$($broken.BackupId)/_committed"
    }

    It 'lists committed and incomplete backups with their pending uploads' {
        $prefix = "cat/$source/$($broken.BackupId)/"
        Invoke-DynamoBackup -TableName $source -Bucket $bucket -Prefix 'other' | Out-Null
        $null = New-LocalMultipartUpload -Bucket $bucket -Key "${prefix}data/s000-f0001.json.gz"
        $null = Remove-DynamoBackup -Uri $broken.Uri -WhatIf   # -WhatIf: nothing changes
        $all = @(Get-DynamoBackup -Uri "s3://$bucket/cat")
        $all.Count | Should -Be 2
        $all[0].PSObject.TypeNames[0] | Should -Be 'BackupDR.Engine.Catalog.BackupInfo'
        ($all | Where-Object BackupId -eq $kept.BackupId).Status | Should -Be 'Committed'
        ($all | Where-Object BackupId -eq $kept.BackupId).ItemCount | Should -Be 20
        $incomplete = @(Get-DynamoBackup "s3://$bucket/cat" -TableName $source -Status Incomplete)
        $incomplete.BackupId | Should -Be $broken.BackupId
        $incomplete.PendingUploads | Should -Be 1
        $incomplete.ItemCount | Should -BeNullOrEmpty
    }

    It 'removes incomplete backups and their abandoned uploads, and leaves the rest' {
        $removed = Get-DynamoBackup "s3://$bucket/cat" -Status Incomplete | Remove-DynamoBackup -Force
        $removed.PSObject.TypeNames[0] | Should -Be 'BackupDR.Engine.Catalog.RemovedBackup'
        $removed.UploadsAborted | Should -Be 1
        $removed.ObjectsDeleted | Should -BeGreaterThan 2
        @(Get-LocalMultipartUpload -Bucket $bucket -Prefix 'cat/') | Should -HaveCount 0
        $left = @(Get-DynamoBackup "s3://$bucket/cat")
        $left.BackupId | Should -Be $kept.BackupId
        (Test-BackupIntegrity -Uri $kept.Uri).IsValid | Should -BeTrue
    }

    It 'refuses a URI that is not one backup, removing nothing' {
        { Remove-DynamoBackup -Uri "s3://$bucket/cat/" -Force -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidBackupUri,BackupDR.PowerShell.RemoveDynamoBackupCommand'
        { Remove-DynamoBackup -Uri "s3://$bucket/cat/$source/20200101T000000000Z-00000000/" -Force -ErrorAction Stop } |
            Should -Throw -ErrorId 'BackupNotFound,BackupDR.PowerShell.RemoveDynamoBackupCommand'
        @(Get-DynamoBackup "s3://$bucket/cat").Count | Should -Be 1
    }

    It 'works on a local folder too' {
        $folder = Join-Path $work 'catalog'
        New-Item -ItemType Directory $folder | Out-Null
        $one = Invoke-DynamoBackup -TableName $source -Path $folder
        (Get-DynamoBackup -Uri $folder).Uri | Should -Be $one.Uri
        Remove-DynamoBackup -Uri $one.Uri -Confirm:$false | Out-Null
        @(Get-DynamoBackup -Uri $folder) | Should -HaveCount 0
    }
}

Describe 'Restore-DynamoTable -Mode and -Resume' {
    BeforeAll {
        $script:modeSource = New-SeededTable 30
        $script:modeBackup = Invoke-DynamoBackup -TableName $modeSource -Path $work
        function New-DriftedCopy([string] $Suffix) {
            $copy = "$modeSource-$Suffix"
            Restore-DynamoTable -Uri $modeBackup.Uri -TableName $copy | Out-Null
            Invoke-DynamoWire DeleteItem @{ TableName = $copy; Key = @{ pk = @{ S = 'item-1' }; sk = @{ N = '1.5' } } } | Out-Null
            Add-WireItems $copy @('{"pk":{"S":"item-2"},"sk":{"N":"2.5"},"changed":{"BOOL":true}}', '{"pk":{"S":"extra"},"sk":{"N":"1"}}')
            $copy
        }
    }

    It 'MissingOnly writes back only the missing item and keeps the changed one' {
        $copy = New-DriftedCopy 'missing'
        $result = Restore-DynamoTable -Uri $modeBackup.Uri -TableName $copy -Mode MissingOnly
        $result.Mode | Should -Be 'MissingOnly'
        $result.ItemsWritten | Should -Be 1
        $result.ItemsSkipped | Should -Be 29
        @(Get-WireItems $copy).Count | Should -Be 31
        (Get-WireItems $copy) -join "`n" | Should -Match '"changed"'
    }

    It 'Exact from a script: an unrelated table is left exactly as it was without -Force; with -Force it does what it says and reports the counts' {
        $copy = New-DriftedCopy 'exact'   # not the backup's table: a tired operator's wrong name
        $before = (Get-WireItems $copy) -join "`n"
        { Restore-DynamoTable -Uri $modeBackup.Uri -TableName $copy -Mode Exact -ErrorAction Stop } |
            Should -Throw -ErrorId 'TargetTableMismatch,BackupDR.PowerShell.RestoreDynamoTableCommand'
        (Get-WireItems $copy) -join "`n" | Should -BeExactly $before
        Restore-DynamoTable -Uri $modeBackup.Uri -TableName $copy -Mode Exact -Force -WhatIf | Should -BeNullOrEmpty
        (Get-WireItems $copy) -join "`n" | Should -BeExactly $before
        $result = Restore-DynamoTable -Uri $modeBackup.Uri -TableName $copy -Mode Exact -Force
        $result.ItemsDeleted | Should -Be 1
        $result.ItemsOverwritten | Should -Be 29
        $result.ItemsWritten | Should -Be 30
        (Get-WireItems $copy) -join "`n" | Should -BeExactly ((Get-WireItems $modeSource) -join "`n")
        (Test-BackupIntegrity -Uri $modeBackup.Uri -Level Live -TableName $copy).Live.IsEqual | Should -BeTrue
    }

    It 'Exact into the backup''s own table asks once with the counts; a script that cannot answer changes nothing' {
        $own = New-SeededTable 20
        $ownBackup = Invoke-DynamoBackup -TableName $own -Path $work
        Add-WireItems $own @('{"pk":{"S":"written-since"},"sk":{"N":"1"}}')
        $before = (Get-WireItems $own) -join "`n"
        $failure = $null
        try { Restore-DynamoTable -Uri $ownBackup.Uri -TableName $own -Mode Exact -ErrorAction Stop } catch { $failure = $_ }
        $failure.FullyQualifiedErrorId | Should -Be 'NotConfirmed,BackupDR.PowerShell.RestoreDynamoTableCommand'
        $failure.Exception.Message | Should -Match 'overwritten 20 item\(s\) that share a key with the backup and deleted 1 item\(s\) the backup does not hold'
        (Get-WireItems $own) -join "`n" | Should -BeExactly $before
        $result = Restore-DynamoTable -Uri $ownBackup.Uri -TableName $own -Mode Exact -Force
        $result.ItemsDeleted | Should -Be 1
        @(Get-WireItems $own).Count | Should -Be 20
    }

    It 'Upsert over items the table holds asks too' {
        $copy = New-DriftedCopy 'upsert'
        $before = (Get-WireItems $copy) -join "`n"
        { Restore-DynamoTable -Uri $modeBackup.Uri -TableName $copy -Mode Upsert -ErrorAction Stop } |
            Should -Throw -ErrorId 'NotConfirmed,BackupDR.PowerShell.RestoreDynamoTableCommand'
        (Get-WireItems $copy) -join "`n" | Should -BeExactly $before
        (Restore-DynamoTable -Uri $modeBackup.Uri -TableName $copy -Mode Upsert -Force).ItemsOverwritten | Should -Be 29
    }

    It '-Resume with nothing to resume restores a new table; into a table with items it is CheckpointNotFound' {
        $target = "$modeSource-resumed"
        $result = Restore-DynamoTable -Uri $modeBackup.Uri -TableName $target -Resume
        $result.ItemsWritten | Should -Be 30
        $result.Resumed | Should -BeFalse
        { Restore-DynamoTable -Uri $modeBackup.Uri -TableName $target -Resume -ErrorAction Stop } |
            Should -Throw -ErrorId 'CheckpointNotFound,BackupDR.PowerShell.RestoreDynamoTableCommand'
    }
}

Describe 'Reporting to SNS and CloudWatch' {
    BeforeAll {
        $script:sns = $env:AWS_ENDPOINT_URL_SNS
        $script:cloudwatch = $env:AWS_ENDPOINT_URL_CLOUDWATCH
        # fauxqs speaks SNS and SQS over their wire protocols and does not check signatures.
        $script:auth = { param($service) @{ Authorization = "AWS4-HMAC-SHA256 Credential=S3RVER/20260101/us-east-1/$service/aws4_request, SignedHeaders=host, Signature=0" } }
        function New-WatchedTopic([string] $Name) {
            $unique = "$Name-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
            $topic = [xml](Invoke-WebRequest -Method Post -Uri "$sns/" -Headers (& $auth 'sns') -Body "Action=CreateTopic&Version=2010-03-31&Name=$unique").Content
            $arn = $topic.SelectSingleNode("//*[local-name()='TopicArn']").InnerText
            $headers = (& $auth 'sqs') + @{ 'X-Amz-Target' = 'AmazonSQS.CreateQueue' }
            Invoke-RestMethod -Method Post -Uri "$sns/" -Headers $headers -ContentType 'application/x-amz-json-1.0' -Body (@{ QueueName = $unique } | ConvertTo-Json) | Out-Null
            $endpoint = [uri]::EscapeDataString("arn:aws:sqs:us-east-1:000000000000:$unique")
            Invoke-WebRequest -Method Post -Uri "$sns/" -Headers (& $auth 'sns') -Body "Action=Subscribe&Version=2010-03-31&TopicArn=$([uri]::EscapeDataString($arn))&Protocol=sqs&Endpoint=$endpoint" | Out-Null
            [pscustomobject]@{ Arn = $arn; Queue = $unique }
        }
        function Get-Notifications([string] $Queue) {
            @((Invoke-RestMethod "$sns/_fauxqs/queues/$Queue").messages.ready | ForEach-Object { $_.body | ConvertFrom-Json })
        }
        function Get-Metrics([string] $Namespace) { @((Invoke-RestMethod "$cloudwatch/__local/metrics") | Where-Object namespace -eq $Namespace) }
    }

    It 'publishes the outcome of a backup, a check and a restore, and puts their metrics' {
        $source = New-SeededTable 15
        $topic = New-WatchedTopic 'pester'
        $ns = 'Pester/' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $backup = Invoke-DynamoBackup -TableName $source -Path $work -NotificationTopicArn $topic.Arn -MetricNamespace $ns -ErrorVariable +problems
        $report = Test-BackupIntegrity -Uri $backup.Uri -NotificationTopicArn $topic.Arn -MetricNamespace $ns -ErrorVariable +problems
        $restore = Restore-DynamoTable -Uri $backup.Uri -TableName "$source-notified" -NotificationTopicArn $topic.Arn -MetricNamespace $ns -ErrorVariable +problems
        $problems | Should -BeNullOrEmpty
        $report.IsValid | Should -BeTrue
        $restore.ItemsWritten | Should -Be 15
        $notes = Get-Notifications $topic.Queue
        $notes.Subject | Should -Be @("BackupDR succeeded: backup of $source", "BackupDR succeeded: validation of $source backup $($backup.BackupId)", "BackupDR succeeded: restore into $source-notified")
        ($notes[0].Message | ConvertFrom-Json).results[0].itemCount | Should -Be 15
        ($notes[2].Message | ConvertFrom-Json).results.itemsWritten | Should -Be 15
        $metrics = Get-Metrics $ns
        ($metrics | Where-Object name -eq 'TotalItemsBackedUp').value | Should -Be 15
        ($metrics | Where-Object name -eq 'ItemsVerified').value | Should -Be 15
        ($metrics | Where-Object { $_.name -eq 'ItemsRestored' -and -not $_.dimensions.PSObject.Properties['TableName'] }).value | Should -Be 15
    }

    It 'publishes a failure, then fails with the operation''s own error' {
        $topic = New-WatchedTopic 'pester-failure'
        { Invoke-DynamoBackup -TableName 'no-such-table-reported' -Path $work -NotificationTopicArn $topic.Arn -ErrorAction Stop } |
            Should -Throw -ErrorId 'TableNotFound,BackupDR.PowerShell.InvokeDynamoBackupCommand'
        $note = Get-Notifications $topic.Queue
        $note.Subject | Should -Be 'BackupDR FAILED: backup of no-such-table-reported'
        ($note.Message | ConvertFrom-Json).error.id | Should -Be 'TableNotFound'
    }

    It 'says when a report cannot be sent (ReportNotSent), after the result' {
        $source = New-SeededTable 3
        $missing = 'arn:aws:sns:us-east-1:000000000000:no-such-topic-pester'
        $backup = Invoke-DynamoBackup -TableName $source -Path $work -NotificationTopicArn $missing -ErrorVariable problems -ErrorAction SilentlyContinue
        $backup.ItemCount | Should -Be 3
        $problems[0].FullyQualifiedErrorId | Should -Be 'ReportNotSent,BackupDR.PowerShell.InvokeDynamoBackupCommand'
        "$($problems[0])" | Should -Match 'no-such-topic-pester'
    }
}

Describe 'Dependency isolation' {
    It 'works in a session that loaded an older AWSSDK.Core first' {
        $compat = $env:BACKUPDR_COMPAT_AWSCORE
        $compat | Should -Exist
        $source = New-SeededTable 7
        $script = @"
`$ErrorActionPreference = 'Stop'
Add-Type -Path '$compat'
`$old = [Amazon.Runtime.AWSCredentials].Assembly.GetName().Version
Import-Module '$env:BACKUPDR_MODULE'
`$backup = Invoke-DynamoBackup -TableName '$source' -Path '$work'
`$report = Test-BackupIntegrity -Uri `$backup.Uri -Level Full
"`$old|`$(`$backup.ItemCount)|`$(`$report.IsValid)"
"@
        $output = & dotnet (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -Command $script
        $LASTEXITCODE | Should -Be 0
        @($output)[-1] | Should -Match '^3\.\d+\.\d+\.\d+\|7\|True$'
    }
}

Describe 'Invoke-DynamoDrill' {
    It 'passes on a good backup, writes its report, and leaves no scratch table' {
        $source = New-SeededTable 60
        $target = Join-Path $work 'drill-target'
        New-Item -ItemType Directory $target | Out-Null
        Invoke-DynamoBackup -TableName $source -Path $target | Out-Null
        $path = Join-Path $work 'drill.md'
        $drill = Invoke-DynamoDrill -TableName $source -Uri $target -MaxRpo '01:00:00' -ReportPath $path
        $drill.PSObject.TypeNames[0] | Should -Be 'BackupDR.Engine.Drill.DrillReport'
        $drill.Passed | Should -BeTrue
        $drill.ItemsVerified | Should -Be 60
        $drill.Rpo | Should -BeOfType [timespan]
        $drill.Rto | Should -BeGreaterThan ([timespan]::Zero)
        $drill.ScratchTableRemoved | Should -BeTrue
        Test-WireTable $drill.ScratchTableName | Should -BeFalse
        Get-Content -Raw $path | Should -Match "^# DR drill of $source`: PASSED"
    }

    It 'fails a stale backup with DrillFailed after the report, and leaves no scratch table' {
        $source = New-SeededTable 20
        $target = Join-Path $work 'drill-stale'
        New-Item -ItemType Directory $target | Out-Null
        Invoke-DynamoBackup -TableName $source -Path $target | Out-Null
        Start-Sleep -Milliseconds 50
        $failure = $null
        try { Invoke-DynamoDrill -TableName $source -Uri $target -MaxRpo '00:00:00.001' -ErrorAction Stop -OutVariable drill | Out-Null }
        catch { $failure = $_ }
        $failure.FullyQualifiedErrorId | Should -Be 'DrillFailed,BackupDR.PowerShell.InvokeDynamoDrillCommand'
        $drill.Count | Should -Be 1   # the report comes first
        $drill[0].Passed | Should -BeFalse
        $drill[0].Failures[0] | Should -Match '^MaxRpo: RPO'
        Test-WireTable $drill[0].ScratchTableName | Should -BeFalse
    }

    It 'refuses a report path it cannot write, before creating anything' {
        $source = New-SeededTable 5
        { Invoke-DynamoDrill -TableName $source -Uri $work -ReportPath (Join-Path $work 'drill.txt') -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidArgument,BackupDR.PowerShell.InvokeDynamoDrillCommand'
    }
}

Describe 'Remove-DynamoBackup retention' {
    It 'lists under -WhatIf, and with -Force keeps exactly the newest committed backups' {
        $source = New-SeededTable 5
        $target = Join-Path $work 'retention'
        New-Item -ItemType Directory $target | Out-Null
        $ids = 1..3 | ForEach-Object { (Invoke-DynamoBackup -TableName $source -Path $target).BackupId }
        $none = Remove-DynamoBackup -Uri $target -KeepLast 1 -WhatIf
        $none | Should -BeNullOrEmpty
        @(Get-DynamoBackup -Uri $target -TableName $source).Count | Should -Be 3
        $removed = Remove-DynamoBackup -Uri $target -TableName $source -KeepLast 1 -Force
        @($removed.BackupId) | Should -Be @($ids[0], $ids[1])
        @(Get-DynamoBackup -Uri $target -TableName $source).BackupId | Should -Be $ids[2]
    }

    It 'refuses a policy that keeps nothing, removing nothing' {
        { Remove-DynamoBackup -Uri $work -KeepLast 0 -Force -ErrorAction Stop } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,BackupDR.PowerShell.RemoveDynamoBackupCommand'
    }
}

Describe 'Copy-DynamoBackup' {
    It 'copies a backup to a bucket, verified and committed, and refuses a damaged one' {
        $source = New-SeededTable 40
        $target = Join-Path $work 'copy-source'
        New-Item -ItemType Directory $target | Out-Null
        $backup = Invoke-DynamoBackup -TableName $source -Path $target
        $bucket = 'pester-' + [guid]::NewGuid().ToString('N').Substring(0, 10)
        New-LocalBucket $bucket
        $copy = $backup | Copy-DynamoBackup -Destination "s3://$bucket/dr"
        $copy.Uri | Should -Be "s3://$bucket/dr/$source/$($backup.BackupId)/"
        $report = Test-BackupIntegrity -Uri $copy.Uri -Level Full
        $report.IsValid | Should -BeTrue
        $report.ItemsVerified | Should -Be 40

        $file = Get-ChildItem (Join-Path $backup.Uri 'data') -File | Select-Object -First 1
        $bytes = [IO.File]::ReadAllBytes($file.FullName); $bytes[$bytes.Length - 20] = $bytes[$bytes.Length - 20] -bxor 1; [IO.File]::WriteAllBytes($file.FullName, $bytes)
        { Copy-DynamoBackup -Uri $backup.Uri -Destination "s3://$bucket/second" -ErrorAction Stop } |
            Should -Throw -ErrorId 'BackupIntegrityFailed,BackupDR.PowerShell.CopyDynamoBackupCommand'
        @(Get-DynamoBackup -Uri "s3://$bucket/second") | Should -BeNullOrEmpty
    }
}

Describe 'Restore-DynamoTable reading with another identity' {
    It 'reads the backup as -SourceProfileName and writes the table as the caller' {
        $source = New-SeededTable 15
        $target = Join-Path $work 'source-identity'
        New-Item -ItemType Directory $target | Out-Null
        $bucket = 'pester-' + [guid]::NewGuid().ToString('N').Substring(0, 10)
        New-LocalBucket $bucket
        $backup = Invoke-DynamoBackup -TableName $source -Bucket $bucket
        # A profile that does not exist is refused before anything is written: the source identity is the one used to read.
        $refused = { Restore-DynamoTable -Uri $backup.Uri -TableName "$source-vault" -SourceProfileName 'no-such-vault' -ErrorAction Stop } |
            Should -Throw -ErrorId 'ProfileNotFound,BackupDR.PowerShell.RestoreDynamoTableCommand' -PassThru
        $refused.Exception.Message | Should -Match 'leave out -SourceProfileName'   # the option that named it, not -ProfileName
        Test-WireTable "$source-vault" | Should -BeFalse
        $credentials = Join-Path $work 'vault-credentials'
        Set-Content $credentials "[vault]`naws_access_key_id = S3RVER`naws_secret_access_key = S3RVER`n"
        # The SDK reads the credentials file's location once per process: a child pwsh is started with it.
        $saved = $env:AWS_SHARED_CREDENTIALS_FILE
        try {
            $env:AWS_SHARED_CREDENTIALS_FILE = $credentials
            $script = "Import-Module '$env:BACKUPDR_MODULE'; (Restore-DynamoTable -Uri '$($backup.Uri)' -TableName '$source-vault' -SourceProfileName vault -SourceRegion us-east-1 -ErrorAction Stop).ItemsWritten"
            $written = & dotnet (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -Command $script
        } finally { $env:AWS_SHARED_CREDENTIALS_FILE = $saved }
        $LASTEXITCODE | Should -Be 0
        $written | Select-Object -Last 1 | Should -Be '15'
    }
}
