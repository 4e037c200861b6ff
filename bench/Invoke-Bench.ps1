#!/usr/bin/env pwsh
<#
.SYNOPSIS
    BackupDR's benchmark: ceilings, BackupDR's own steps, the engine off the network, memory at scale.
.DESCRIPTION
    Starts the local emulators, then runs every step in its own process of bench/BackupDR.Bench (so
    each step's peak RSS is its own) and compares, within this one run:
      1. the raw ceilings: an SDK parallel Scan that only counts items, and SDK BatchWriteItem writers
         sending pre-built requests, with the same segments and parallelism as BackupDR;
      2. BackupDR backup, Full validation, and restore into a new table;
      3. the engine alone: encode and decode, MB of DynamoDB JSON per CPU-second;
      4. capacity caps: a restore held to -CapWcu write units per second (and a backup to -CapRcu read units);
      5. peak RSS of backup and restore at each of -ScaleItems.
    Prints a table and writes it, with every raw measurement, to bench/results/<timestamp>.json.
    Each throughput pair is run -Rounds times, alternating, and the best of each side is compared:
    the machine is shared, and the best run is the least disturbed one on both sides.
#>
param(
    [Parameter(Mandatory)] [string] $BenchDll,
    [int] $Items = 100000,
    [int] $ItemSize = 1000,
    [int] $Parallelism = 4,
    [int] $Segments = 4,
    [int] $Rounds = 3,
    # Comma-separated (a -File argument cannot be an array).
    [string] $ScaleItems = '10000,1000000',
    [double] $CapWcu = 100,
    [double] $CapRcu = 20,
    [int] $CapItems = 1500,
    # Comma-separated: which parts to run (throughput, engine, caps, scale, lambda, scale-out); all but scale-out by default.
    [string] $Steps = 'throughput,engine,caps,scale,lambda',
    # scale-out: the items of the fanned-out table, and the worker counts compared.
    [int] $ScaleOutItems = 20000,
    [string] $ScaleOutWorkers = '1,2,4',
    # The Lambda package (./build.ps1 lambda) whose bootstrap's cold start is measured.
    [string] $LambdaPackage = '',
    [int] $LambdaRounds = 5,
    [string] $ResultsFolder = (Join-Path $PSScriptRoot 'results')
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

Import-Module (Join-Path $PSScriptRoot '../tests/emulators/LocalServices.psm1') -Force
$runId = [DateTime]::UtcNow.ToString('yyyyMMddTHHmmssZ')
[int[]] $scaleCounts = @($ScaleItems -split ',' | Where-Object { $_.Trim() } | ForEach-Object { [int]$_ })
[string[]] $stepSet = @($Steps -split ',' | ForEach-Object { $_.Trim().ToLowerInvariant() } | Where-Object { $_ })
foreach ($name in $stepSet) { if ($name -notin 'throughput', 'engine', 'caps', 'scale', 'lambda', 'scale-out') { throw "-Steps: unknown step '$name' (throughput, engine, caps, scale, lambda, scale-out)." } }
if ('scale-out' -in $stepSet -and -not (Test-Path $LambdaPackage)) { throw "-Steps scale-out needs -LambdaPackage (./build.ps1 lambda builds it); '$LambdaPackage' does not exist." }
if ('scale' -in $stepSet -and 'throughput' -notin $stepSet) { throw '-Steps: scale needs throughput (its warm-up and its table).' }
if ('lambda' -in $stepSet -and -not (Test-Path $LambdaPackage)) { throw "-Steps lambda needs -LambdaPackage (./build.ps1 lambda builds it); '$LambdaPackage' does not exist." }
$measurements = [System.Collections.Generic.List[object]]::new()

function Invoke-Step([string] $Label, [string[]] $Arguments) {
    Write-Host ("  {0,-28} {1}" -f $Label, ($Arguments -join ' '))
    $output = & dotnet $BenchDll @Arguments
    if ($LASTEXITCODE -ne 0) { throw "Benchmark step '$Label' failed (exit $LASTEXITCODE)." }
    $result = ($output | Select-Object -Last 1) | ConvertFrom-Json
    $result | Add-Member -NotePropertyName label -NotePropertyValue $Label
    $measurements.Add($result)
    $result
}

function Select-Fastest([object[]] $Results) { $Results | Sort-Object seconds | Select-Object -First 1 }

# The Lambda step's functions report like deployed ones: to SNS and CloudWatch endpoints that answer.
$services = Start-LocalServices -DynamoHeapMB 12288 -AwsApis:('lambda' -in $stepSet -or 'scale-out' -in $stepSet)
$saved = Use-LocalServicesEnvironment $services
try {
    $bucket = "bench-$($runId.ToLowerInvariant())"
    New-LocalBucket -Name $bucket
    Write-Host "Local services: DynamoDB $($services.DynamoDbEndpoint), S3 $($services.S3Endpoint) (PIDs $($services.ProcessIds -join ', '))"

    $scan = @(); $backup = @(); $validate = @(); $write = @(); $restore = @()
    if ('throughput' -in $stepSet) {
        # 1 + 2: throughput at -Items, same segments / parallelism on both sides.
        Write-Host "Throughput: $Items items of ~$ItemSize bytes, $Segments segments, $Parallelism writers, best of $Rounds rounds"
        Invoke-Step 'seed (not measured)' @('raw-write', '--table', 'tp-source', '--items', $Items, '--item-size', $ItemSize, '--parallelism', $Parallelism) | Out-Null
        for ($round = 1; $round -le $Rounds; $round++) {
            $scan += Invoke-Step "raw scan #$round" @('raw-scan', '--table', 'tp-source', '--segments', $Segments)
            $b = Invoke-Step "backup #$round" @('backup', '--table', 'tp-source', '--target', "s3://$bucket/tp", '--segments', $Segments)
            $backup += $b
            $validate += Invoke-Step "validate (Full) #$round" @('validate', '--uri', $b.uri)
            $write += Invoke-Step "raw write #$round" @('raw-write', '--table', "tp-write-$round", '--items', $Items, '--item-size', $ItemSize, '--parallelism', $Parallelism, '--prebuilt')
            $restore += Invoke-Step "restore #$round" @('restore', '--uri', $b.uri, '--table', "tp-restore-$round", '--parallelism', $Parallelism)
            Invoke-Step 'drop tables (not measured)' @('delete-table', '--table', "tp-write-$round") | Out-Null
            Invoke-Step 'drop tables (not measured)' @('delete-table', '--table', "tp-restore-$round") | Out-Null
        }
        Invoke-Step 'drop tables (not measured)' @('delete-table', '--table', 'tp-source') | Out-Null
    }

    # 3: the engine alone.
    $codec = $null
    if ('engine' -in $stepSet) {
        Write-Host 'Engine alone (one thread, no network)'
        $codec = Invoke-Step 'encode / decode' @('engine', '--items', 30000, '--item-size', $ItemSize, '--rounds', 5)
    }

    # 4: capacity caps.
    $capBackup = $null; $capRestore = $null
    if ('caps' -in $stepSet) {
        Write-Host "Capacity caps: restore at $CapWcu WCU/s, backup at $CapRcu RCU/s ($CapItems items of ~900 bytes: one write unit each)"
        Invoke-Step 'seed (not measured)' @('raw-write', '--table', 'cap-source', '--items', $CapItems, '--item-size', 900, '--parallelism', $Parallelism) | Out-Null
        $capBackup = Invoke-Step 'backup, capped' @('backup', '--table', 'cap-source', '--target', "s3://$bucket/cap", '--segments', $Segments, '--max-rcu', $CapRcu)
        $capRestore = Invoke-Step 'restore, capped' @('restore', '--uri', $capBackup.uri, '--table', 'cap-restore', '--parallelism', $Parallelism, '--max-wcu', $CapWcu)
    }

    # 5: memory at scale.
    $scale = @()
    if ('scale' -in $stepSet) {
        $largestScale = ($scaleCounts | Measure-Object -Maximum).Maximum
        foreach ($n in $scaleCounts) {
            Write-Host "Memory at $n items"
            Invoke-Step 'seed (not measured)' @('raw-write', '--table', "scale-$n", '--items', $n, '--item-size', $ItemSize, '--parallelism', $Parallelism) | Out-Null
            $sb = Invoke-Step "backup $n" @('backup', '--table', "scale-$n", '--target', "s3://$bucket/scale", '--segments', $Segments)
            # At the largest size, once more with collections left to the GC alone: what the garbage budget saves.
            $sbFree = if ($n -eq $largestScale) {
                Invoke-Step "backup $n, no garbage budget" @('backup', '--table', "scale-$n", '--target', "s3://$bucket/scale-free", '--segments', $Segments, '--garbage-budget', 0)
            }
            Invoke-Step 'drop tables (not measured)' @('delete-table', '--table', "scale-$n") | Out-Null
            $sr = Invoke-Step "restore $n" @('restore', '--uri', $sb.uri, '--table', "scale-$n-restore", '--parallelism', $Parallelism)
            Invoke-Step 'drop tables (not measured)' @('delete-table', '--table', "scale-$n-restore") | Out-Null
            $scale += [pscustomobject]@{ Items = $n; Backup = $sb; Restore = $sr; BackupNoBudget = $sbFree }
        }
    }

    # 6: the Lambda package and the bootstrap's cold start (a fresh process each round: process start to
    # its first Runtime API request, and to its answer for a Quick validation of a real backup).
    $lambdaResult = $null
    if ('lambda' -in $stepSet) {
        Write-Host "Lambda: the package, and the bootstrap's cold start ($LambdaRounds fresh processes)"
        Invoke-Step 'seed (not measured)' @('raw-write', '--table', 'lambda-source', '--items', 1000, '--item-size', $ItemSize, '--parallelism', $Parallelism) | Out-Null
        $lambdaBackup = Invoke-Step 'backup (not measured)' @('backup', '--table', 'lambda-source', '--target', "s3://$bucket/lambda", '--segments', 1)
        $lambdaEvent = @{ uri = $lambdaBackup.uri; level = 'Quick' } | ConvertTo-Json -Compress
        $lambdaResult = Invoke-Step 'cold start' @('lambda-cold-start', '--package', $LambdaPackage, '--handler', 'validation', '--event', $lambdaEvent, '--rounds', $LambdaRounds)
    }

    # 7: Lambda fan-out (the deployed bootstrap on the local Lambda plane): the same table backed up and restored by
    # 1, 2 and 4 workers; what counts is the ratio to one worker on this machine (docs/performance.md).
    $scaleOut = @()
    if ('scale-out' -in $stepSet) {
        Write-Host "Scale-out: $ScaleOutItems items through 1..n invocations of the deployed functions"
        Invoke-Step 'deploy (not measured)' @('deploy', '--package', (Resolve-Path $LambdaPackage).Path, '--bucket', $bucket, '--prefix', 'backupdr') | Out-Null
        Invoke-Step 'seed (not measured)' @('raw-write', '--table', 'fanout-source', '--items', $ScaleOutItems, '--item-size', $ItemSize, '--parallelism', $Parallelism) | Out-Null
        foreach ($w in @($ScaleOutWorkers -split ',' | ForEach-Object { [int]$_.Trim() })) {
            $fb = Invoke-Step "fan-out backup, $w" @('backup', '--table', 'fanout-source', '--target', "s3://$bucket/backupdr", '--engine', 'lambda', '--function', 'bench-backup', '--segments', $w)
            $fr = Invoke-Step "fan-out restore, $w" @('restore', '--uri', $fb.uri, '--table', "fanout-restore-$w", '--engine', 'lambda', '--function', 'bench-recovery', '--workers', $w)
            Invoke-Step 'drop tables (not measured)' @('delete-table', '--table', "fanout-restore-$w") | Out-Null
            $scaleOut += [pscustomobject]@{ Workers = $w; Backup = $fb; Restore = $fr }
        }
    }
} finally {
    Use-LocalServicesEnvironment $services -Restore $saved | Out-Null
    Stop-LocalServices $services
    Write-Host "Stopped the local services (PIDs $($services.ProcessIds -join ', '))."
}

# The table (the parts that ran).
function Row([string] $Step, $Result, $Ceiling, [double] $BytesPerItem) {
    $itemsPerSecond = $Result.items / $Result.seconds
    [pscustomobject]@{
        Step         = $Step
        Items        = $Result.items
        Seconds      = [math]::Round($Result.seconds, 2)
        'Items/s'    = [long][math]::Round($itemsPerSecond)
        'MB/s'       = [math]::Round($itemsPerSecond * $BytesPerItem / 1e6, 1)
        'vs ceiling' = if ($Ceiling) { [math]::Round(($Ceiling.seconds / $Result.seconds), 3) } else { $null }
        'Peak RSS MB' = [long][math]::Round($Result.peakRssBytes / 1MB)
    }
}
$rows = @()
$checks = [ordered]@{}
if ('throughput' -in $stepSet) {
    $bestScan = Select-Fastest $scan; $bestBackup = Select-Fastest $backup; $bestValidate = Select-Fastest $validate
    $bestWrite = Select-Fastest $write; $bestRestore = Select-Fastest $restore
    $bytesPerItem = $bestBackup.jsonBytes / [double]$bestBackup.items
    $rows += @(
        Row 'ceiling: SDK Scan, count only' $bestScan $null $bytesPerItem
        Row 'BackupDR backup' $bestBackup $bestScan $bytesPerItem
        Row 'BackupDR validate (Full)' $bestValidate $null $bytesPerItem
        Row 'ceiling: SDK BatchWriteItem' $bestWrite $null $bytesPerItem
        Row 'BackupDR restore' $bestRestore $bestWrite $bytesPerItem
    )
    $checks['backup >= 0.9 x raw Scan'] = @(($bestScan.seconds / $bestBackup.seconds), 0.9, 'ratio')
    $checks['restore >= 0.9 x raw BatchWriteItem'] = @(($bestWrite.seconds / $bestRestore.seconds), 0.9, 'ratio')
    foreach ($s in $scale) {
        $rows += Row "backup, $($s.Items) items" $s.Backup $null $bytesPerItem
        if ($s.BackupNoBudget) { $rows += Row "backup, $($s.Items) items, no garbage budget" $s.BackupNoBudget $null $bytesPerItem }
        $rows += Row "restore, $($s.Items) items" $s.Restore $null $bytesPerItem
    }
}
if ($scaleOut) {
    $one = $scaleOut | Where-Object Workers -eq 1 | Select-Object -First 1
    $perItem = $scaleOut[0].Backup.jsonBytes / [double]$scaleOut[0].Backup.items
    foreach ($s in $scaleOut) {
        # 'vs ceiling' here: the speed-up over one worker.
        $rows += Row "fan-out backup, $($s.Workers) worker(s)" $s.Backup $(if ($one) { $one.Backup }) $perItem
        $rows += Row "fan-out restore, $($s.Workers) worker(s)" $s.Restore $(if ($one) { $one.Restore }) $perItem
    }
}
if ($codec) {
    $checks['encode >= 100 MB/s per core'] = @($codec.encodeMBPerCpuSecond, 100, 'MB/s')
    $checks['decode >= 100 MB/s per core'] = @($codec.decodeMBPerCpuSecond, 100, 'MB/s')
}
if ($capRestore) {
    $capMeasured = $capRestore.consumedCapacityUnits / $capRestore.writeSeconds
    $capReadMeasured = if ($capBackup.consumedCapacityUnits) { $capBackup.consumedCapacityUnits / $capBackup.seconds } else { 0 }
    $checks["restore cap $CapWcu WCU/s within 10 %"] = @($capMeasured, $CapWcu, 'WCU/s')
}
if (@($scale).Count -ge 2) {
    $smallest = $scale | Sort-Object Items | Select-Object -First 1
    $largest = $scale | Sort-Object Items | Select-Object -Last 1
    $checks["backup RSS $($largest.Items) <= 1.5 x $($smallest.Items)"] = @(($largest.Backup.peakRssBytes / $smallest.Backup.peakRssBytes), 1.5, 'x')
    $checks["restore RSS $($largest.Items) <= 1.5 x $($smallest.Items)"] = @(($largest.Restore.peakRssBytes / $smallest.Restore.peakRssBytes), 1.5, 'x')
}
$verdicts = foreach ($name in $checks.Keys) {
    $value, $target, $unit = $checks[$name]
    $ok = switch -Wildcard ($name) {
        '*within 10 %' { [math]::Abs($value - $target) -le 0.1 * $target }
        '*RSS*' { $value -le $target }
        default { $value -ge $target }
    }
    [pscustomobject]@{ Check = $name; Measured = [math]::Round($value, 3); Unit = $unit; Result = if ($ok) { 'met' } else { 'NOT MET' } }
}

Write-Host ''
if ($rows) { $rows | Format-Table -AutoSize | Out-String -Width 200 | Write-Host }
if ($codec) {
    Write-Host ("Engine alone, one thread: encode {0:N0} MB/s per core, decode {1:N0} MB/s per core ({2:N1} MB of DynamoDB JSON, gzip ratio {3:N2})" -f `
        $codec.encodeMBPerCpuSecond, $codec.decodeMBPerCpuSecond, ($codec.jsonBytes / 1e6), ($codec.jsonBytes / $codec.storedBytes))
}
if ($capRestore) {
    Write-Host ("Capacity: restore consumed {0:N0} WCU in {1:N2} s of writing = {2:N1} WCU/s (cap {3}); backup consumed {4:N0} RCU in {5:N2} s = {6:N1} RCU/s (cap {7})" -f `
        $capRestore.consumedCapacityUnits, $capRestore.writeSeconds, $capMeasured, $CapWcu, $capBackup.consumedCapacityUnits, $capBackup.seconds, $capReadMeasured, $CapRcu)
}
if ($lambdaResult) {
    Write-Host ("Lambda: package {0:N2} MB ({1}), bootstrap {2:N1} MB; cold start (process start -> first response, Quick validation of a real backup): median {3:N0} ms of {4} ({5} ms); init (process start -> first Runtime API request) {6:N0} ms; reports not sent: {7}" -f `
        ($lambdaResult.packageBytes / 1MB), (Split-Path -Leaf $LambdaPackage), ($lambdaResult.bootstrapBytes / 1MB), $lambdaResult.firstResponseMs, $lambdaResult.rounds,
        (@($lambdaResult.firstResponseMsAll) -join ', '), $lambdaResult.initMs, $lambdaResult.reportFailures)
}
if ($verdicts) { $verdicts | Format-Table -AutoSize | Out-String -Width 200 | Write-Host }

New-Item -ItemType Directory -Force -Path $ResultsFolder | Out-Null
$file = Join-Path $ResultsFolder "$runId.json"
[ordered]@{
    runId       = $runId
    machine     = [ordered]@{ processors = [Environment]::ProcessorCount; os = [System.Runtime.InteropServices.RuntimeInformation]::OSDescription; dotnet = [Environment]::Version.ToString() }
    options     = [ordered]@{ items = $Items; itemSize = $ItemSize; parallelism = $Parallelism; segments = $Segments; rounds = $Rounds; scaleItems = $scaleCounts; capWcu = $CapWcu; capRcu = $CapRcu; capItems = $CapItems; steps = $stepSet }
    table       = $rows
    checks      = $verdicts
    steps       = $measurements
} | ConvertTo-Json -Depth 6 | Set-Content -Path $file
Write-Host "Wrote $file"
