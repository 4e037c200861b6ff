# Deploy-BackupFunctions against the local Lambda, EventBridge, S3, SNS and CloudWatch endpoints
# (started by ./build.ps1 test), then the deployed NativeAOT bootstrap doing the work end to end.
BeforeAll {
    Import-Module $env:BACKUPDR_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot '../emulators/DynamoWire.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../emulators/LocalServices.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../emulators/AwsSigV4.psm1') -Force
    $script:package = $env:BACKUPDR_TEST_LAMBDA_PACKAGE
    if (-not $package -or -not (Test-Path $package)) { throw 'Run through ./build.ps1 test: it builds the Lambda package (BACKUPDR_TEST_LAMBDA_PACKAGE).' }
    $script:lambda = $env:AWS_ENDPOINT_URL_LAMBDA
    $script:sns = $env:AWS_ENDPOINT_URL_SNS
    $unique = [guid]::NewGuid().ToString('N').Substring(0, 8)

    $script:source = "lambda-src-$unique"
    New-WireTable $source
    Add-WireItems $source (1..40 | ForEach-Object {
        "{`"pk`":{`"S`":`"order-$_`"},`"sk`":{`"N`":`"$_`"},`"total`":{`"N`":`"12345678901234567890123456789012345678`"},`"raw`":{`"B`":`"AAEC/w==`"},`"tags`":{`"SS`":[`"x`",`"y`"]}}"
    })
    $script:bucket = "lambda-bkt-$unique"
    New-LocalBucket $bucket

    function New-Queue([string] $Name) {
        $body = @{ QueueName = $Name } | ConvertTo-Json
        $r = Invoke-SignedAwsRequest -Service sqs -Method POST -Uri "$sns/" -Body $body -ContentType 'application/x-amz-json-1.0' -Headers @{ 'X-Amz-Target' = 'AmazonSQS.CreateQueue' }
        if ($r.Status -ne 200) { throw "CreateQueue: $($r.Body)" }
        "arn:aws:sqs:us-east-1:000000000000:$Name"
    }
    function New-WatchedTopic([string] $Name) {
        $queue = New-Queue $Name
        $topic = [xml](Invoke-SignedAwsRequest -Service sns -Method POST -Uri "$sns/" -ContentType 'application/x-www-form-urlencoded' -Body "Action=CreateTopic&Version=2010-03-31&Name=$Name").Body
        $arn = $topic.SelectSingleNode("//*[local-name()='TopicArn']").InnerText
        $null = Invoke-SignedAwsRequest -Service sns -Method POST -Uri "$sns/" -ContentType 'application/x-www-form-urlencoded' `
            -Body "Action=Subscribe&Version=2010-03-31&TopicArn=$([uri]::EscapeDataString($arn))&Protocol=sqs&Endpoint=$([uri]::EscapeDataString($queue))"
        [pscustomobject]@{ Arn = $arn; Queue = $Name }
    }
    function Get-QueueMessages([string] $Queue) { @((Invoke-RestMethod "$sns/_fauxqs/queues/$Queue").messages.ready | ForEach-Object { $_.body | ConvertFrom-Json }) }
    function Get-Invocations { @((Invoke-RestMethod "$lambda/__local/invocations") | Where-Object { $_.functionName -like "$prefix-*" }) }
    function Wait-Until([scriptblock] $Condition, [string] $What, [int] $Seconds = 90) {
        $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
        while (-not (& $Condition)) {
            if ([DateTime]::UtcNow -gt $deadline) { throw "Timed out after $Seconds s waiting for $What. Invocations: $((Get-Invocations | ConvertTo-Json -Depth 3 -Compress))" }
            Start-Sleep -Milliseconds 250
        }
    }

    $script:prefix = "bdr$unique"
    $script:ok = New-WatchedTopic "lambda-ok-$unique"
    $script:failed = New-WatchedTopic "lambda-failed-$unique"
    $script:dlq = "lambda-dlq-$unique"
    $script:dlqArn = New-Queue $dlq
    $script:namespace = "BackupDR-E2E/$unique"
    $script:roles = @{
        backup = 'arn:aws:iam::000000000000:role/backupdr-backup'; validation = 'arn:aws:iam::000000000000:role/backupdr-validation'
        recovery = 'arn:aws:iam::000000000000:role/backupdr-recovery'
    }
    $script:deploy = @{
        PackagePath = $package; BackupRoleArn = $roles.backup; ValidationRoleArn = $roles.validation; RecoveryRoleArn = $roles.recovery
        RestoreTables = @("$source-recovered"); BackupBucket = $bucket
        FunctionNamePrefix = $prefix; SuccessTopicArn = $ok.Arn; FailureTopicArn = $failed.Arn; MetricNamespace = $namespace
        Schedule = 'rate(1 day)'; ScheduleTables = @($source); FailureDestinationArn = $dlqArn; Region = 'us-east-1'; TimeoutSeconds = 120
    }
}

Describe 'Deploy-BackupFunctions, then the functions end to end' {
    It 'creates the three functions at version 1 behind the alias, wired' {
        $result = @(Deploy-BackupFunctions @deploy)
        $result.Count | Should -Be 3
        $result[0].PSObject.TypeNames[0] | Should -Be 'BackupDR.Engine.Deploy.FunctionDeployment'
        $result.FunctionName | Should -Be @("$prefix-backup", "$prefix-validation", "$prefix-recovery")
        $result | ForEach-Object {
            $_.Applied | Should -BeTrue
            $_.Version | Should -Be '1'
            $_.State | Should -Be 'Active'
            $_.LastUpdateStatus | Should -Be 'Successful'
            $_.Changes[0] | Should -Match '^create function'
        }
        $result[0].Changes -join "`n" | Should -Match 'schedule'
        $result[1].Changes -join "`n" | Should -Match 'S3 trigger'
        $result[2].Changes -join "`n" | Should -Match 'on-failure destination'
        $result[0].CodeSha256 | Should -Be ([Convert]::ToBase64String([System.Security.Cryptography.SHA256]::HashData([System.IO.File]::ReadAllBytes($package))))
    }

    It 'runs each function as its own role' {
        foreach ($kind in 'backup', 'validation', 'recovery') {
            $r = Invoke-SignedAwsRequest -Service lambda -Method GET -Uri "$lambda/2015-03-31/functions/$prefix-$kind/configuration"
            $r.Status | Should -Be 200
            ($r.Body | ConvertFrom-Json).Role | Should -Be $roles[$kind]
        }
        $recovery = (Invoke-SignedAwsRequest -Service lambda -Method GET -Uri "$lambda/2015-03-31/functions/$prefix-recovery/configuration").Body | ConvertFrom-Json
        $recovery.Environment.Variables.RESTORE_TABLES | Should -Be "$source-recovered"
    }

    It 'grants S3 and EventBridge invoke permissions only from the account, with the source named' {
        $policy = (Invoke-SignedAwsRequest -Service lambda -Method GET -Uri "$lambda/2015-03-31/functions/$prefix-validation/policy?Qualifier=live").Body | ConvertFrom-Json
        $statement = @(($policy.Policy | ConvertFrom-Json).Statement)
        $statement.Count | Should -Be 1
        $statement[0].Condition.ArnLike.'AWS:SourceArn' | Should -Be "arn:aws:s3:::$bucket"
        $statement[0].Condition.StringEquals.'AWS:SourceAccount' | Should -Be '000000000000'
    }

    It 'changes nothing when deployed again, and says so' {
        $again = @(Deploy-BackupFunctions @deploy)
        $again | ForEach-Object {
            $_.Changes | Should -BeNullOrEmpty
            $_.Version | Should -Be '1'
            $_.Applied | Should -BeTrue
        }
    }

    It 'backs up on schedule with the seed''s event, validates the committed backup, notifies and records metrics' {
        # The rule's schedule comes due: EventBridge invokes the backup alias with {"tables": [...]}.
        $fired = Invoke-RestMethod -Method Post -Uri "$lambda/__local/events/fire" -ContentType 'application/json' -Body (@{ rule = "$prefix-backup-schedule" } | ConvertTo-Json)
        $fired.invoked | Should -BeTrue
        Wait-Until { @(Get-Invocations | Where-Object { $_.functionName -eq "$prefix-validation" -and $_.ok }).Count -ge 1 } 'the backup, then its validation on the commit marker'
        $backup = @(Get-DynamoBackup -Uri "s3://$bucket/backupdr" -TableName $source)
        $backup.Count | Should -Be 1
        $backup[0].Status | Should -Be 'Committed'
        $backup[0].ItemCount | Should -Be 40
        $script:backupUri = $backup[0].Uri
        (Get-Invocations | Where-Object { $_.functionName -eq "$prefix-backup" }).ok | Should -Be $true
        Wait-Until { @(Get-QueueMessages $ok.Queue).Count -ge 2 } 'two success notifications'
        $subjects = @(Get-QueueMessages $ok.Queue).Subject
        $subjects | Should -Contain "BackupDR succeeded: backup of $source"
        $subjects | Should -Contain "BackupDR succeeded: validation of $source backup $($backup[0].BackupId)"
        $metrics = @((Invoke-RestMethod "$lambda/__local/metrics") | Where-Object namespace -eq $namespace)
        ($metrics | Where-Object { $_.name -eq 'TotalItemsBackedUp' }).value | Should -Be 40
        ($metrics | Where-Object { $_.name -eq 'BackupSuccessRate' }).value | Should -Be 100
        ($metrics | Where-Object { $_.name -eq 'ValidationsPassed' -and -not $_.dimensions.PSObject.Properties['TableName'] }).value | Should -Be 1
    }

    It 'restores with the seed''s recovery event into a new table equal to the source' {
        $target = "$source-recovered"
        $key = $backupUri.Substring("s3://$bucket/".Length) + '_committed'
        $event = @{ table_name = $target; backup_bucket = $bucket; backup_file = $key; batch_size = 25 } | ConvertTo-Json
        $answer = Invoke-LocalLambda -FunctionName "$prefix-recovery" -Qualifier live -Event $event
        $answer.FunctionError | Should -BeNullOrEmpty
        $answer.Payload.statusCode | Should -Be 200
        $answer.Payload.result.itemsWritten | Should -Be 40
        (Get-WireItems $target) -join "`n" | Should -BeExactly ((Get-WireItems $source) -join "`n")
        (Test-BackupIntegrity -Uri $backupUri -Level Live -TableName $target).Live.IsEqual | Should -BeTrue
        $metrics = @((Invoke-RestMethod "$lambda/__local/metrics") | Where-Object namespace -eq $namespace)
        ($metrics | Where-Object { $_.name -eq 'RecoveryValidationRate' }).value | Should -Be 100
        ($metrics | Where-Object { $_.name -eq 'ItemsRestored' -and -not $_.dimensions.PSObject.Properties['TableName'] }).value | Should -Be 40
    }

    It 'updates only the function whose setting changed, and publishes one new version of it' {
        $changed = @(Deploy-BackupFunctions @deploy -BackupTables $source)
        $changed[0].Changes -join "`n" | Should -Match 'update configuration: environment variables BACKUP_TABLES'
        $changed[0].Changes -join "`n" | Should -Not -Match $source   # values are never printed
        $changed[0].Version | Should -Be '2'
        $changed[1].Changes | Should -BeNullOrEmpty
        $changed[1].Version | Should -Be '1'
        $changed[2].Changes | Should -BeNullOrEmpty
        $changed[2].Version | Should -Be '1'
    }

    It 'rolls a change out as a canary, then promotes it' {
        $canary = @(Deploy-BackupFunctions @deploy -BackupTables $source, "$source-recovered" -CanaryPercent 25)
        $canary[0].Version | Should -Be '2'
        $canary[0].CanaryVersion | Should -Be '3'
        $canary[0].CanaryWeight | Should -Be 0.25
        $canary[0].Changes -join "`n" | Should -Match '25 % to version 3'
        $promoted = @(Deploy-BackupFunctions @deploy -BackupTables $source, "$source-recovered")
        $promoted[0].Version | Should -Be '3'
        $promoted[0].CanaryVersion | Should -BeNullOrEmpty
        $promoted[0].Changes | Should -Be 'alias live -> version 3 (canary promoted)'
    }

    It 'sends an asynchronous invocation that keeps failing to the failure destination after two retries' {
        $event = @{ tables = @('no-such-table-e2e') } | ConvertTo-Json
        (Invoke-LocalLambda -FunctionName "$prefix-backup" -Qualifier live -Event $event -Asynchronous).Status | Should -Be 202
        Wait-Until { @(Get-QueueMessages $dlq).Count -ge 1 } 'the failure destination'
        $record = @(Get-QueueMessages $dlq)[0]
        $record.requestContext.condition | Should -Be 'RetriesExhausted'
        $record.requestContext.approximateInvokeCount | Should -Be 3
        $record.responsePayload.errorType | Should -Be 'TableNotFound'
        $record.requestPayload.tables | Should -Be 'no-such-table-e2e'
        @(Get-QueueMessages $failed.Queue | Where-Object Subject -eq 'BackupDR FAILED: backup of no-such-table-e2e').Count | Should -Be 3
    }

    It '-WhatIf prints the plan and changes nothing' {
        $plan = @(Deploy-BackupFunctions @deploy -BackupTables $source, "$source-recovered" -MemorySize 2048 -WhatIf)
        $plan | ForEach-Object {
            $_.Applied | Should -BeFalse
            $_.Changes -join "`n" | Should -Match 'MemorySize 1024 -> 2048'
        }
        $after = @(Deploy-BackupFunctions @deploy -BackupTables $source, "$source-recovered")
        $after | ForEach-Object { $_.Changes | Should -BeNullOrEmpty }
    }

    It 'refuses a package built for another architecture, and bad settings, before calling AWS' {
        { Deploy-BackupFunctions @deploy -Architecture arm64 -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidPackage,BackupDR.PowerShell.DeployBackupFunctionsCommand'
        { Deploy-BackupFunctions @deploy -BackupRoleArn 'backupdr-role' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidArgument,BackupDR.PowerShell.DeployBackupFunctionsCommand'
        $noTables = $deploy.Clone(); $noTables.Remove('ScheduleTables')
        { Deploy-BackupFunctions @noTables -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidArgument,BackupDR.PowerShell.DeployBackupFunctionsCommand'
        { Deploy-BackupFunctions @deploy -PackagePath (Join-Path $TestDrive 'none.zip') -ErrorAction Stop } | Should -Throw -ErrorId 'PathNotFound,BackupDR.PowerShell.DeployBackupFunctionsCommand'
    }

    It 'removes the permissions it no longer needs when the trigger is turned off, and restores them when it is back' {
        $off = @(Deploy-BackupFunctions @deploy -BackupTables $source, "$source-recovered" -NoValidationTrigger)
        $off[1].Changes -join "`n" | Should -Match 'S3 trigger on .*remove it'
        $off[1].Changes -join "`n" | Should -Match 'remove permission backupdr-validate-on-commit'
        (Invoke-SignedAwsRequest -Service lambda -Method GET -Uri "$lambda/2015-03-31/functions/$prefix-validation/policy?Qualifier=live").Status | Should -Be 404
        $back = @(Deploy-BackupFunctions @deploy -BackupTables $source, "$source-recovered")
        $back[1].Changes -join "`n" | Should -Match 'allow s3://'
        @(Deploy-BackupFunctions @deploy -BackupTables $source, "$source-recovered") | ForEach-Object { $_.Changes | Should -BeNullOrEmpty }
    }

    It 'drills on schedule through the recovery function, and unwires the drill when it is no longer asked for' {
        $drilled = @(Deploy-BackupFunctions @deploy -BackupTables $source, "$source-recovered" -DrillSchedule 'rate(7 days)' -DrillTables $source -DrillMaxRpo '1.00:00:00')
        $drilled[2].Changes -join "`n" | Should -Match 'drill schedule'
        $drilled[2].Changes -join "`n" | Should -Match 'environment variables RESTORE_TABLES'
        $recovery = (Invoke-SignedAwsRequest -Service lambda -Method GET -Uri "$lambda/2015-03-31/functions/$prefix-recovery/configuration").Body | ConvertFrom-Json
        $recovery.Environment.Variables.RESTORE_TABLES | Should -Be "$source-recovered,$source-drill-*"
        Invoke-RestMethod -Method Post -Uri "$lambda/__local/reset" | Out-Null
        $fired = Invoke-RestMethod -Method Post -Uri "$lambda/__local/events/fire" -ContentType 'application/json' -Body (@{ rule = "$prefix-recovery-drill" } | ConvertTo-Json)
        $fired.invoked | Should -BeTrue
        Wait-Until { @(Get-Invocations | Where-Object { $_.functionName -eq "$prefix-recovery" }).Count -ge 1 } 'the scheduled drill'
        $drill = @(Get-Invocations | Where-Object { $_.functionName -eq "$prefix-recovery" })[0]
        $drill.ok | Should -BeTrue
        $metrics = @((Invoke-RestMethod "$lambda/__local/metrics") | Where-Object namespace -eq $namespace)
        ($metrics | Where-Object { $_.name -eq 'Passed' }).value | Should -Be 1
        ($metrics | Where-Object { $_.name -eq 'RpoSeconds' }).value | Should -BeGreaterThan 0
        @(Invoke-DynamoWire ListTables @{} | Select-Object -ExpandProperty TableNames | Where-Object { $_ -like "$source-drill-*" }) | Should -BeNullOrEmpty

        $undrilled = @(Deploy-BackupFunctions @deploy -BackupTables $source, "$source-recovered")
        $undrilled[2].Changes -join "`n" | Should -Match 'remove target backupdr-drill-1'
        $undrilled[2].Changes -join "`n" | Should -Match 'remove permission backupdr-drill-schedule'
    }

    It 'replicates each committed backup through EventBridge with -ReplicaBucket (the validation trigger kept), and unwires it when no longer asked for' {
        $replica = "$bucket-replica"
        New-LocalBucket $replica
        $replicating = @{ ReplicaBucket = $replica; ReplicationRoleArn = 'arn:aws:iam::000000000000:role/backupdr-replication'; ReplicaRoleArn = 'arn:aws:iam::111122223333:role/replica-writer' }
        $wired = @(Deploy-BackupFunctions @deploy -BackupTables $source, "$source-recovered" @replicating)
        $wired.Count | Should -Be 4
        $wired[0..2] | ForEach-Object { $_.Changes | Should -BeNullOrEmpty }     # the other three are as they were
        $wired[3].FunctionName | Should -Be "$prefix-replication"
        $changes = $wired[3].Changes -join "`n"
        $changes | Should -Match "s3://${bucket}: send its events to EventBridge"
        $changes | Should -Match "rule $prefix-replication-on-commit"
        $changes | Should -Match 'allow the commit-marker rule'
        $configuration = (Invoke-SignedAwsRequest -Service lambda -Method GET -Uri "$lambda/2015-03-31/functions/$prefix-replication/configuration").Body | ConvertFrom-Json
        $configuration.Handler | Should -Be 'replication'
        $configuration.Role | Should -Be $replicating.ReplicationRoleArn
        $configuration.Environment.Variables.REPLICA_BUCKET | Should -Be $replica
        $configuration.Environment.Variables.REPLICA_ROLE_ARN | Should -Be $replicating.ReplicaRoleArn
        $statement = @(((Invoke-SignedAwsRequest -Service lambda -Method GET -Uri "$lambda/2015-03-31/functions/$prefix-replication/policy?Qualifier=live").Body | ConvertFrom-Json).Policy | ConvertFrom-Json).Statement
        $statement.Condition.ArnLike.'AWS:SourceArn' | Should -Be "arn:aws:events:us-east-1:000000000000:rule/$prefix-replication-on-commit"
        @(Deploy-BackupFunctions @deploy -BackupTables $source, "$source-recovered" @replicating) | ForEach-Object { $_.Changes | Should -BeNullOrEmpty }

        # A scheduled backup: its commit marker fires the validation (S3 notification) and the replication (EventBridge).
        $before = @(Get-DynamoBackup -Uri "s3://$bucket/backupdr" -TableName $source).BackupId
        Invoke-RestMethod -Method Post -Uri "$lambda/__local/reset" | Out-Null
        $null = Invoke-RestMethod -Method Post -Uri "$lambda/__local/events/fire" -ContentType 'application/json' -Body (@{ rule = "$prefix-backup-schedule" } | ConvertTo-Json)
        Wait-Until { @(Get-Invocations | Where-Object { $_.functionName -eq "$prefix-replication" -and $_.ok }).Count -ge 1 -and
                     @(Get-Invocations | Where-Object { $_.functionName -eq "$prefix-validation" -and $_.ok }).Count -ge 1 } 'the new backup''s validation and replication'
        $new = @(Get-DynamoBackup -Uri "s3://$bucket/backupdr" -TableName $source | Where-Object { $_.BackupId -notin $before })
        $new.Count | Should -Be 1
        $copies = @(Get-DynamoBackup -Uri "s3://$replica/backupdr" -TableName $source)
        $copies.Count | Should -Be 1
        $copies[0].BackupId | Should -Be $new[0].BackupId
        $copies[0].Status | Should -Be 'Committed'
        $check = Test-BackupIntegrity -Uri $copies[0].Uri -Level Full
        $check.IsValid | Should -BeTrue
        $check.ItemsVerified | Should -Be 40
        $check.BackupId | Should -Be $new[0].BackupId
        @(Get-Invocations | Where-Object { $_.functionName -eq "$prefix-replication" }).Count | Should -Be 1    # only the commit marker fired it
        # The replica was written as the replica account's role (STS AssumeRole from the function's own credentials).
        @((Invoke-RestMethod "$lambda/__local/assumed").roleArn) | Should -Contain $replicating.ReplicaRoleArn

        $unwired = @(Deploy-BackupFunctions @deploy -BackupTables $source, "$source-recovered")
        $unwired.Count | Should -Be 4
        $unwired[3].Changes -join "`n" | Should -Match "rule $prefix-replication-on-commit: remove its target"
        $unwired[3].Changes -join "`n" | Should -Match 'remove permission backupdr-replicate-on-commit'
        @(Deploy-BackupFunctions @deploy -BackupTables $source, "$source-recovered").Count | Should -Be 3
    }

    It 'records every run in the ledger and answers compliance on schedule, then unwires the schedule' {
        $ledgerName = "$prefix-ledger"
        $ledgered = @{ LedgerTableName = $ledgerName; ComplianceSchedule = 'rate(1 day)'; ComplianceTables = @($source); ComplianceMaxValidationAge = '1.00:00:00' }
        $wired = @(Deploy-BackupFunctions @deploy -BackupTables $source, "$source-recovered" @ledgered)
        $wired.Count | Should -Be 3
        $wired | ForEach-Object { $_.Changes -join "`n" | Should -Match 'environment variables .*LEDGER_TABLE' }
        $wired[1].Changes -join "`n" | Should -Match "compliance schedule $prefix-validation-compliance: rate\(1 day\)"
        Test-WireTable $ledgerName | Should -BeTrue     # created by the deployment: the functions only describe and write it

        # A scheduled backup: the backup function records it, the validation on its commit marker records the proof.
        Invoke-RestMethod -Method Post -Uri "$lambda/__local/reset" | Out-Null
        $null = Invoke-RestMethod -Method Post -Uri "$lambda/__local/events/fire" -ContentType 'application/json' -Body (@{ rule = "$prefix-backup-schedule" } | ConvertTo-Json)
        Wait-Until { @(Get-Invocations | Where-Object { $_.functionName -eq "$prefix-validation" -and $_.ok }).Count -ge 1 } 'the backup and its validation'
        $listed = @(Get-DynamoBackup -Uri "s3://$bucket/backupdr" -TableName $source -LedgerTableName $ledgerName | Sort-Object BackupId)[-1]
        $listed.LastFullValidationAt | Should -Not -BeNullOrEmpty
        $listed.LastValidationPassed | Should -BeTrue

        # The compliance schedule comes due: the validation function answers from the ledger, compliant.
        Invoke-RestMethod -Method Post -Uri "$lambda/__local/reset" | Out-Null
        $fired = Invoke-RestMethod -Method Post -Uri "$lambda/__local/events/fire" -ContentType 'application/json' -Body (@{ rule = "$prefix-validation-compliance" } | ConvertTo-Json)
        $fired.invoked | Should -BeTrue
        Wait-Until { @(Get-Invocations | Where-Object { $_.functionName -eq "$prefix-validation" }).Count -ge 1 } 'the compliance check'
        @(Get-Invocations | Where-Object { $_.functionName -eq "$prefix-validation" })[0].ok | Should -BeTrue
        $metrics = @((Invoke-RestMethod "$lambda/__local/metrics") | Where-Object namespace -eq $namespace)
        ($metrics | Where-Object { $_.name -eq 'TablesChecked' }).value | Should -Be 1
        ($metrics | Where-Object { $_.name -eq 'TablesNonCompliant' }).value | Should -Be 0

        $unwired = @(Deploy-BackupFunctions @deploy -BackupTables $source, "$source-recovered")
        $unwired[1].Changes -join "`n" | Should -Match 'compliance schedule .*remove its target'
        $unwired[1].Changes -join "`n" | Should -Match 'remove permission backupdr-compliance-schedule'
    }

    It 'fans a backup out to four invocations of the deployed backup function and commits it here' {
        Invoke-RestMethod -Method Post -Uri "$lambda/__local/reset" | Out-Null
        $fanned = Invoke-DynamoBackup -TableName $source -Bucket $bucket -Prefix backupdr -Engine Lambda -Segments 4 -FunctionName "$prefix-backup"
        $fanned.Engine | Should -Be 'Lambda'
        $fanned.Segments | Should -Be 4
        $fanned.ItemCount | Should -Be 40
        @(Get-Invocations | Where-Object { $_.functionName -eq "$prefix-backup" -and $_.ok }).Count | Should -Be 4
        (Test-BackupIntegrity -Uri $fanned.Uri -Level Full).IsValid | Should -BeTrue
        $null = Restore-DynamoTable -Uri $fanned.Uri -TableName "$source-recovered-fanout"
        Get-WireItems "$source-recovered-fanout" | Should -Be (Get-WireItems $source)

        # And back through four invocations of the recovery function, into a table RESTORE_TABLES allows.
        $wider = $deploy.Clone(); $wider.RestoreTables = @("$source-recovered*")
        $null = Deploy-BackupFunctions @wider -BackupTables $source, "$source-recovered"
        $restored = Restore-DynamoTable -Uri $fanned.Uri -TableName "$source-recovered-workers" -Engine Lambda -Workers 4 -FunctionName "$prefix-recovery"
        $restored.Engine | Should -Be 'Lambda'
        $restored.ItemsWritten | Should -Be 40
        Get-WireItems "$source-recovered-workers" | Should -Be (Get-WireItems $source)
        $null = Deploy-BackupFunctions @deploy -BackupTables $source, "$source-recovered"
    }

    It 'backs up with DynamoDB''s export on schedule: the export''s completion commits the backup through EventBridge; unwired when the Scan engine is asked for' {
        $null = Invoke-DynamoWire UpdateContinuousBackups @{ TableName = $source; PointInTimeRecoverySpecification = @{ PointInTimeRecoveryEnabled = $true } }
        $wired = @(Deploy-BackupFunctions @deploy -BackupTables $source, "$source-recovered" -BackupEngine Export)
        $wired.Count | Should -Be 3
        $changes = $wired[0].Changes -join "`n"
        $changes | Should -Match 'environment variables .*BACKUP_ENGINE'
        $changes | Should -Match "rule $prefix-backup-on-export"
        $changes | Should -Match 'allow the export rule'
        $wired[1..2] | ForEach-Object { $_.Changes | Should -BeNullOrEmpty }
        @(Deploy-BackupFunctions @deploy -BackupTables $source, "$source-recovered" -BackupEngine Export) | ForEach-Object { $_.Changes | Should -BeNullOrEmpty }

        # The schedule starts the export; its summary landing in the bucket invokes the function again, which commits;
        # the commit marker fires the validation as for any backup.
        $before = @(Get-DynamoBackup -Uri "s3://$bucket/backupdr" -TableName $source).BackupId
        Invoke-RestMethod -Method Post -Uri "$lambda/__local/reset" | Out-Null
        $null = Invoke-RestMethod -Method Post -Uri "$lambda/__local/events/fire" -ContentType 'application/json' -Body (@{ rule = "$prefix-backup-schedule" } | ConvertTo-Json)
        Wait-Until { @(Get-Invocations | Where-Object { $_.functionName -eq "$prefix-validation" -and $_.ok }).Count -ge 1 } 'the export''s completion and the validation of the backup it commits'
        $calls = @(Get-Invocations | Where-Object { $_.functionName -eq "$prefix-backup" })
        $calls.Count | Should -Be 2      # the schedule (starts the export), then the export's summary (commits)
        $calls | ForEach-Object { $_.ok | Should -BeTrue }
        $new = @(Get-DynamoBackup -Uri "s3://$bucket/backupdr" -TableName $source | Where-Object { $_.BackupId -notin $before })
        $new.Count | Should -Be 1
        $new[0].Status | Should -Be 'Committed'
        $check = Test-BackupIntegrity -Uri $new[0].Uri -Level Full
        $check.IsValid | Should -BeTrue
        $check.ItemsVerified | Should -Be 40
        $null = Restore-DynamoTable -Uri $new[0].Uri -TableName "$source-recovered-export"
        Get-WireItems "$source-recovered-export" | Should -Be (Get-WireItems $source)

        $unwired = @(Deploy-BackupFunctions @deploy -BackupTables $source, "$source-recovered")
        $unwired[0].Changes -join "`n" | Should -Match "rule $prefix-backup-on-export: remove its target"
        $unwired[0].Changes -join "`n" | Should -Match 'remove permission backupdr-export-done'
    }

    It 'warns when one role serves all three functions' {
        $shared = $deploy.Clone()
        foreach ($k in 'BackupRoleArn', 'ValidationRoleArn', 'RecoveryRoleArn') { $shared.Remove($k) }
        $shared.RoleArn = 'arn:aws:iam::000000000000:role/backupdr-functions'
        $null = Deploy-BackupFunctions @shared -BackupTables $source, "$source-recovered" -WhatIf -WarningVariable warnings -WarningAction SilentlyContinue
        $warnings -join "`n" | Should -Match 'share a role.*-BackupRoleArn, -ValidationRoleArn, -RecoveryRoleArn'
        $none = $deploy.Clone(); $none.Remove('RecoveryRoleArn')
        { Deploy-BackupFunctions @none -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidArgument,BackupDR.PowerShell.DeployBackupFunctionsCommand'
    }

    It 'prints a least-privilege policy for each function' {
        $policies = @(Get-BackupFunctionPolicy -AccountId 000000000000 -Region us-east-1 -BackupBucket $bucket -TableName $source -RestoreTableName "$source-recovered" -TopicArn $ok.Arn, $failed.Arn -MetricNamespace $namespace)
        $policies.Kind | Should -Be @('backup', 'validation', 'recovery')
        $documents = @{}
        foreach ($p in $policies) { $documents[$p.Kind] = $p.PolicyDocument | ConvertFrom-Json }
        foreach ($d in $documents.Values) {
            @($d.Statement.Action) | Where-Object { $_ -match ':\*$' -or $_ -eq '*' } | Should -BeNullOrEmpty      # no '*' action
            @($d.Statement | Where-Object { @($_.Action) -like 's3:*' }) | ForEach-Object { $_.Condition.StringEquals.'s3:ResourceAccount' | Should -Be '000000000000' }
        }
        $writes = 'dynamodb:BatchWriteItem', 'dynamodb:PutItem', 'dynamodb:CreateTable', 's3:DeleteObject', 's3:PutObject'
        # The validation function, which parses untrusted objects, reads backups and nothing else.
        @($documents.validation.Statement.Action | Where-Object { $_ -in $writes -or $_ -like 'dynamodb:*' }) | Should -BeNullOrEmpty
        ($documents.backup.Statement | Where-Object Sid -eq 'ReadTables').Resource | Should -Be "arn:aws:dynamodb:us-east-1:000000000000:table/$source"
        @($documents.backup.Statement.Action) | Should -Not -Contain 'dynamodb:BatchWriteItem'
        ($documents.recovery.Statement | Where-Object Sid -eq 'WriteRestoreTargets').Resource | Should -Be "arn:aws:dynamodb:us-east-1:000000000000:table/$source-recovered"
        ($documents.backup.Statement | Where-Object Sid -eq 'PutMetrics').Condition.StringEquals.'cloudwatch:namespace' | Should -Be $namespace
        @($documents.backup.Statement.Sid) | Should -Not -Contain 'ReadCommitMarkers'
        $retaining = @(Get-BackupFunctionPolicy -AccountId 000000000000 -Region us-east-1 -BackupBucket $bucket -TableName $source -RestoreTableName "$source-recovered" -Retention)
        $markers = ($retaining[0].PolicyDocument | ConvertFrom-Json).Statement | Where-Object Sid -eq 'ReadCommitMarkers'
        $markers.Action | Should -Be 's3:GetObject'
        $markers.Resource | Should -Be "arn:aws:s3:::$bucket/backupdr/*/_committed"
        @($documents.backup.Statement.Action) | Should -Not -Contain 'dynamodb:ExportTableToPointInTime'   # the Scan engine exports nothing
        $exporting = ($(Get-BackupFunctionPolicy -AccountId 000000000000 -Region us-east-1 -BackupBucket $bucket -TableName $source -RestoreTableName "$source-recovered" -BackupEngine Export)[0].PolicyDocument | ConvertFrom-Json).Statement
        ($exporting | Where-Object Sid -eq 'ExportTables').Resource | Should -Be "arn:aws:dynamodb:us-east-1:000000000000:table/$source"
        ($exporting | Where-Object Sid -eq 'DescribeExports').Resource | Should -Be "arn:aws:dynamodb:us-east-1:000000000000:table/$source/export/*"
        ($exporting | Where-Object Sid -eq 'WriteExports').Action | Should -Be 's3:PutObjectAcl'
        ($exporting | Where-Object Sid -eq 'ReadBackups').Resource | Should -Be "arn:aws:s3:::$bucket/backupdr/*"
        @($documents.recovery.Statement.Action) | Should -Not -Contain 'dynamodb:DeleteTable'   # no drills named: no table is ever removed
        $drilling = @(Get-BackupFunctionPolicy -AccountId 000000000000 -Region us-east-1 -BackupBucket $bucket -RestoreTableName "$source-drill-*" -DrillTableName $source)
        $remove = ($drilling[2].PolicyDocument | ConvertFrom-Json).Statement | Where-Object Sid -eq 'RemoveDrillTables'
        $remove.Resource | Should -Be "arn:aws:dynamodb:us-east-1:000000000000:table/$source-drill-*"
        # Replication into another account through a role there: the function may only assume it; the role holds the replica writes.
        $crossAccount = @(Get-BackupFunctionPolicy -AccountId 000000000000 -Region us-east-1 -BackupBucket $bucket -RestoreTableName "$source-recovered" `
            -ReplicaBucket "$bucket-dr" -ReplicaRoleArn 'arn:aws:iam::111122223333:role/replica-writer')
        $crossAccount.Kind | Should -Be @('backup', 'validation', 'recovery', 'replication', 'replica-writer')
        $replication = $crossAccount[3].PolicyDocument | ConvertFrom-Json
        ($replication.Statement | Where-Object Sid -eq 'AssumeReplicaRole').Resource | Should -Be 'arn:aws:iam::111122223333:role/replica-writer'
        @($replication.Statement.Action) | Should -Not -Contain 's3:PutObject'
        $writer = $crossAccount[4].PolicyDocument | ConvertFrom-Json
        ($writer.Statement | Where-Object Sid -eq 'WriteReplicas').Resource | Should -Be "arn:aws:s3:::$bucket-dr/backupdr/*"
        ($writer.Statement | Where-Object Sid -eq 'WriteReplicas').Condition.StringEquals.'s3:ResourceAccount' | Should -Be '111122223333'
        ($crossAccount[4].TrustPolicy | ConvertFrom-Json).Statement.Principal.AWS | Should -Be "arn:aws:iam::000000000000:role/backupdr-replication"

        # With a ledger: each function only what it uses on that table; the journal beside the backups, never over them.
        $withLedger = @(Get-BackupFunctionPolicy -AccountId 000000000000 -Region us-east-1 -BackupBucket $bucket -RestoreTableName "$source-recovered" -LedgerTableName backup-metadata -Compliance)
        $ledgerArn = 'arn:aws:dynamodb:us-east-1:000000000000:table/backup-metadata'
        $statementOf = { param($i, $sid) (($withLedger[$i].PolicyDocument | ConvertFrom-Json).Statement | Where-Object Sid -eq $sid) }
        (& $statementOf 0 'WriteLedger').Action | Should -Be @('dynamodb:DescribeTable', 'dynamodb:UpdateItem')
        (& $statementOf 0 'WriteLedger').Resource | Should -Be $ledgerArn
        & $statementOf 0 'WriteJournal' | Should -BeNullOrEmpty
        (& $statementOf 1 'WriteLedger').Action | Should -Contain 'dynamodb:Query'
        (& $statementOf 1 'WriteJournal').Resource | Should -Be "arn:aws:s3:::$bucket/backupdr/backupdr@records/*"
        (& $statementOf 1 'ListTables').Action | Should -Be 'dynamodb:ListTables'
        (& $statementOf 2 'WriteLedger').Action | Should -Not -Contain 'dynamodb:Query'
        foreach ($i in 0..2) { @((& $statementOf $i 'WriteLedger').Action) | Should -Not -Contain 'dynamodb:CreateTable' -Because 'the deployment creates the ledger' }

        $trust = $policies[0].TrustPolicy | ConvertFrom-Json
        $trust.Statement.Principal.Service | Should -Be 'lambda.amazonaws.com'
        $trust.Statement.Condition.StringEquals.'aws:SourceAccount' | Should -Be '000000000000'

        # Every table is written only when asked for; without -RestoreTableName, none is.
        $none = @(Get-BackupFunctionPolicy -AccountId 000000000000 -Region us-east-1 -BackupBucket $bucket -WarningAction SilentlyContinue)
        @(($none[2].PolicyDocument | ConvertFrom-Json).Statement.Action) | Should -Not -Contain 'dynamodb:BatchWriteItem'
        $any = @(Get-BackupFunctionPolicy -AccountId 000000000000 -Region us-east-1 -BackupBucket $bucket -RestoreTableName '*')
        (($any[2].PolicyDocument | ConvertFrom-Json).Statement | Where-Object Sid -eq 'WriteRestoreTargets').Resource | Should -Be 'arn:aws:dynamodb:us-east-1:000000000000:table/*'
    }
}
