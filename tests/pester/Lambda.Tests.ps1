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
    $script:deploy = @{
        PackagePath = $package; RoleArn = 'arn:aws:iam::000000000000:role/backupdr-functions'; BackupBucket = $bucket
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
        { Deploy-BackupFunctions @deploy -RoleArn 'backupdr-role' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidArgument,BackupDR.PowerShell.DeployBackupFunctionsCommand'
        $noTables = $deploy.Clone(); $noTables.Remove('ScheduleTables')
        { Deploy-BackupFunctions @noTables -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidArgument,BackupDR.PowerShell.DeployBackupFunctionsCommand'
        { Deploy-BackupFunctions @deploy -PackagePath (Join-Path $TestDrive 'none.zip') -ErrorAction Stop } | Should -Throw -ErrorId 'PathNotFound,BackupDR.PowerShell.DeployBackupFunctionsCommand'
    }

    It 'prints the least-privilege policy of the functions'' role' {
        $policy = Get-BackupFunctionPolicy -AccountId 000000000000 -Region us-east-1 -BackupBucket $bucket -TableName $source -TopicArn $ok.Arn, $failed.Arn -MetricNamespace $namespace
        $document = $policy.PolicyDocument | ConvertFrom-Json
        $actions = @($document.Statement.Action)
        $actions | Should -Contain 'dynamodb:Scan'
        $actions | Should -Contain 'dynamodb:BatchWriteItem'
        $actions | Should -Not -Contain 'dynamodb:*'
        ($document.Statement | Where-Object Sid -eq 'ReadTablesForBackup').Resource | Should -Be "arn:aws:dynamodb:us-east-1:000000000000:table/$source"
        ($document.Statement | Where-Object Sid -eq 'PutMetrics').Condition.StringEquals.'cloudwatch:namespace' | Should -Be $namespace
        ($policy.TrustPolicy | ConvertFrom-Json).Statement.Principal.Service | Should -Be 'lambda.amazonaws.com'
    }
}
