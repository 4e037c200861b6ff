#!/usr/bin/env pwsh
<#
.SYNOPSIS
    BackupDR's build front door: the same commands locally and in CI.
.DESCRIPTION
    build    Builds the module into out/BackupDR (cmdlets at the top, engine + AWS SDK in deps/, help, formats).
    test     build, then starts the local emulators, runs the xunit and Pester suites, stops the emulators,
             and prints one line 'N passed, N failed'. Exits non-zero on any failure.
    demo     build, then starts the emulators and backs a sample table up, verifies it, restores it and
             proves the copy equal; stops the emulators.
    package  build, then packs out/BackupDR as out/BackupDR.<version>.nupkg (PSResourceGet: Install-PSResource installs it).
    lambda   publishes the Lambda host (src/BackupDR.Lambda) NativeAOT for each -Architecture and zips its
             `bootstrap` into out/lambda/backupdr-lambda-<arch>.zip (executable bit kept, fixed timestamps, so
             the same build gives the same SHA-256), for Deploy-BackupFunctions.
    bench    builds the benchmark driver, starts the emulators and measures BackupDR against the raw
             SDK ceilings, the engine alone, the capacity caps and memory at scale (bench/Invoke-Bench.ps1).
             Prints a table and writes bench/results/<timestamp>.json. Takes about 10 minutes with the defaults.
             -BenchSteps scale-out (not in the defaults): Lambda fan-out with 1, 2 and 4 workers on the local Lambda plane.
.EXAMPLE
    dotnet tool restore; dotnet pwsh ./build.ps1 test
.EXAMPLE
    dotnet pwsh ./build.ps1 bench -Items 100000 -ItemSize 1000 -Parallelism 4 -ScaleItems 10000,1000000
#>
param(
    [ValidateSet('build', 'test', 'demo', 'package', 'bench', 'lambda')]
    [string] $Task = 'build',
    # lambda only: the architectures to build the bootstrap for, comma-separated: x86_64 (needs nothing
    # extra) and arm64 (cross-compiles with clang and Debian's aarch64 toolchain, installed when missing).
    [string] $Architecture = 'x86_64',
    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',
    # bench only: items and item size (DynamoDB bytes) for the throughput comparison, writers and scan segments on both sides.
    [int] $Items = 100000,
    [int] $ItemSize = 1000,
    [int] $Parallelism = 4,
    [int] $Segments = 4,
    [int] $Rounds = 3,
    # bench only: table sizes at which backup and restore peak RSS are measured, comma-separated
    # (a string: from a shell, pwsh -File would read 10000,1000000 as the number 100001000000).
    [string] $ScaleItems = '10000,1000000',
    # bench only: which parts to run, comma-separated (throughput, engine, caps, scale, lambda, scale-out).
    [string] $BenchSteps = 'throughput,engine,caps,scale,lambda',
    # test only: run part of the suites. -Filter is an xunit filter expression (dotnet test --filter, e.g.
    # 'FullyQualifiedName~FaultMatrix'); -PesterFilter a Pester full-name wildcard ('*Remove-DynamoBackup*').
    # With either one set, the other suite runs only if it is set too.
    [string] $Filter = '',
    [string] $PesterFilter = ''
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$Root = $PSScriptRoot
$Out = Join-Path $Root 'out'
$ModuleOut = Join-Path $Out 'BackupDR'
$Tools = Join-Path $Root '.tools'
$PesterVersion = '5.9.1'
# An older AWSSDK.Core, loaded first by a test to prove BackupDR's dependency isolation.
$CompatAwsCoreVersion = '3.7.501.1'

function Invoke-Native {
    # Runs an external command (first argument) and fails the build when it fails. A plain function:
    # its arguments pass through untouched (-o, -c ...).
    $command, $arguments = $args
    & $command @arguments
    if ($LASTEXITCODE -ne 0) { throw "'$command $($arguments -join ' ')' failed with exit code $LASTEXITCODE." }
}

function Invoke-ChildPwsh {
    # A fresh pwsh process from the same installation (the dotnet tool): what users and CI run.
    Invoke-Native dotnet (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive @args
}

function Get-ProjectVersion {
    ([xml](Get-Content -Raw (Join-Path $Root 'Directory.Build.props'))).Project.PropertyGroup.VersionPrefix | Where-Object { $_ } | Select-Object -First 1
}

function Invoke-Build {
    if (Test-Path $ModuleOut) { Remove-Item -Recurse -Force $ModuleOut }
    Invoke-Native dotnet publish (Join-Path $Root 'src/BackupDR.Engine') -c $Configuration -o (Join-Path $ModuleOut 'deps') --nologo -v q
    Invoke-Native dotnet publish (Join-Path $Root 'src/BackupDR.PowerShell') -c $Configuration -o $ModuleOut --nologo -v q

    $version = Get-ProjectVersion
    $manifest = (Get-Content -Raw (Join-Path $Root 'BackupDR.psd1')) -replace "ModuleVersion\s*=\s*'[^']*'", "ModuleVersion        = '$version'"
    Set-Content -Path (Join-Path $ModuleOut 'BackupDR.psd1') -Value $manifest -NoNewline
    Copy-Item (Join-Path $Root 'src/BackupDR.PowerShell/BackupDR.format.ps1xml') $ModuleOut
    Copy-Item (Join-Path $Root 'LICENSE') $ModuleOut
    Get-ChildItem $ModuleOut -Filter '*.deps.json' | Remove-Item

    Invoke-ChildPwsh -File (Join-Path $Root 'build/New-MamlHelp.ps1') -ModuleManifest (Join-Path $ModuleOut 'BackupDR.psd1') `
        -DocsFolder (Join-Path $Root 'docs/cmdlets') -OutFile (Join-Path $ModuleOut 'en-US/BackupDR.dll-Help.xml')
    Assert-ModuleLayout
    Write-Host "Built BackupDR $version -> $ModuleOut/BackupDR.psd1"
}

function Assert-ModuleLayout {
    # The isolation depends on this layout: only the cmdlet assembly at the top, everything else in deps/.
    $top = Get-ChildItem $ModuleOut -File -Filter '*.dll' | ForEach-Object Name
    if (@($top) -join ',' -ne 'BackupDR.dll') { throw "out/BackupDR must hold only BackupDR.dll at the top; found: $($top -join ', ')" }
    foreach ($required in 'BackupDR.Engine.dll', 'AWSSDK.Core.dll', 'AWSSDK.DynamoDBv2.dll', 'AWSSDK.S3.dll', 'AWSSDK.SecurityToken.dll') {
        if (-not (Test-Path (Join-Path $ModuleOut "deps/$required"))) { throw "out/BackupDR/deps is missing $required" }
    }
    if (Test-Path (Join-Path $ModuleOut 'deps/System.Management.Automation.dll')) { throw 'deps/ must not ship System.Management.Automation.dll' }
    foreach ($required in 'BackupDR.psd1', 'BackupDR.format.ps1xml', 'en-US/BackupDR.dll-Help.xml') {
        if (-not (Test-Path (Join-Path $ModuleOut $required))) { throw "out/BackupDR is missing $required" }
    }
    Test-ModuleManifest (Join-Path $ModuleOut 'BackupDR.psd1') | Out-Null
}

function Install-TestTools {
    # Pester (and the old AWSSDK.Core for the isolation test) come from NuGet, not PSGallery.
    $pesterDest = Join-Path $Tools "Modules/Pester/$PesterVersion"
    $compatDest = Join-Path $Tools "compat/awssdk.core/$CompatAwsCoreVersion"
    if ((Test-Path (Join-Path $pesterDest 'Pester.psd1')) -and (Test-Path (Join-Path $compatDest 'AWSSDK.Core.dll'))) { return }
    $work = Join-Path $Tools 'restore'
    New-Item -ItemType Directory -Force -Path $work | Out-Null
    @"
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework><ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup>
  <ItemGroup>
    <PackageDownload Include="Pester" Version="[$PesterVersion]" />
    <PackageDownload Include="AWSSDK.Core" Version="[$CompatAwsCoreVersion]" />
  </ItemGroup>
</Project>
"@ | Set-Content (Join-Path $work 'tools.csproj')
    # An empty Directory.Build.props/packages file here keeps the repository's settings out of this throwaway project.
    '<Project />' | Set-Content (Join-Path $work 'Directory.Build.props')
    '<Project />' | Set-Content (Join-Path $work 'Directory.Packages.props')
    $packages = Join-Path $work 'packages'
    Invoke-Native dotnet restore (Join-Path $work 'tools.csproj') --packages $packages -v q
    New-Item -ItemType Directory -Force -Path $pesterDest, $compatDest | Out-Null
    Copy-Item -Recurse -Force (Join-Path $packages "pester/$PesterVersion/tools/*") $pesterDest
    Remove-Item -Force -ErrorAction SilentlyContinue (Join-Path $pesterDest 'VERIFICATION.txt')
    Copy-Item -Force (Join-Path $packages "awssdk.core/$CompatAwsCoreVersion/lib/netstandard2.0/AWSSDK.Core.dll") $compatDest
}

function Get-TrxCounts([string] $Folder) {
    $passed = 0; $failed = 0
    foreach ($trx in Get-ChildItem $Folder -Filter '*.trx' -Recurse) {
        $counters = ([xml](Get-Content -Raw $trx.FullName)).TestRun.ResultSummary.Counters
        $passed += [int]$counters.passed
        $failed += [int]$counters.failed + [int]$counters.error + [int]$counters.timeout + [int]$counters.aborted
    }
    [pscustomobject]@{ Passed = $passed; Failed = $failed }
}

function Invoke-Test {
    Invoke-Build
    # The Lambda end-to-end tests deploy the real NativeAOT bootstrap.
    $script:Architecture = 'x86_64'
    Invoke-Lambda
    $env:BACKUPDR_TEST_LAMBDA_PACKAGE = Join-Path $Out 'lambda/backupdr-lambda-x86_64.zip'
    Install-TestTools
    Import-Module (Join-Path $Root 'tests/emulators/LocalServices.psm1') -Force
    $services = Start-LocalServices -FaultProxies -AwsApis
    $saved = Use-LocalServicesEnvironment $services
    $results = Join-Path $Out 'test-results'
    if (Test-Path $results) { Remove-Item -Recurse -Force $results }
    New-Item -ItemType Directory -Force -Path $results | Out-Null
    $xunitOk = $true; $pesterOk = $true
    try {
        Write-Host "Local services: DynamoDB $($services.DynamoDbEndpoint), S3 $($services.S3Endpoint) (PIDs $($services.ProcessIds -join ', '))"
        $partial = $Filter -or $PesterFilter
        if (-not $partial -or $Filter) {
            $filterArgs = if ($Filter) { @('--filter', $Filter) } else { @() }
            & dotnet test (Join-Path $Root 'tests/BackupDR.Engine.Tests') -c $Configuration --nologo --logger 'trx;LogFileName=engine.trx' --logger 'console;verbosity=normal' --results-directory $results @filterArgs
            $xunitOk = $LASTEXITCODE -eq 0
        }
        $env:PSModulePath = (Join-Path $Tools 'Modules') + [IO.Path]::PathSeparator + $env:PSModulePath
        $env:BACKUPDR_COMPAT_AWSCORE = Join-Path $Tools "compat/awssdk.core/$CompatAwsCoreVersion/AWSSDK.Core.dll"
        if (-not $partial -or $PesterFilter) {
            & dotnet (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -File (Join-Path $Root 'tests/pester/Invoke-PesterSuite.ps1') `
                -ModuleManifest (Join-Path $ModuleOut 'BackupDR.psd1') -PesterVersion $PesterVersion -ResultFile (Join-Path $results 'pester.json') -FullNameFilter $PesterFilter
            $pesterOk = $LASTEXITCODE -eq 0
        }
    } finally {
        Use-LocalServicesEnvironment $services -Restore $saved | Out-Null
        Stop-LocalServices $services
    }
    $xunit = Get-TrxCounts $results
    $pesterFile = Join-Path $results 'pester.json'
    $pester = if (Test-Path $pesterFile) { Get-Content -Raw $pesterFile | ConvertFrom-Json }
              elseif ($partial -and -not $PesterFilter) { [pscustomobject]@{ Passed = 0; Failed = 0 } }
              else { [pscustomobject]@{ Passed = 0; Failed = 1 } }
    if (-not $xunitOk -and $xunit.Failed -eq 0) { $xunit.Failed = 1 }   # the run itself failed (build error, crash)
    if (-not $pesterOk -and $pester.Failed -eq 0) { $pester.Failed = 1 }
    Write-Host "xunit: $($xunit.Passed) passed, $($xunit.Failed) failed; pester: $($pester.Passed) passed, $($pester.Failed) failed"
    $passed = $xunit.Passed + $pester.Passed
    $failed = $xunit.Failed + $pester.Failed
    Write-Output "$passed passed, $failed failed"
    if ($failed -gt 0 -or $passed -eq 0) { exit 1 }
}

function Invoke-Demo {
    Invoke-Build
    Import-Module (Join-Path $Root 'tests/emulators/LocalServices.psm1') -Force
    $services = Start-LocalServices
    $saved = Use-LocalServicesEnvironment $services
    try {
        Invoke-ChildPwsh -File (Join-Path $Root 'demo/Demo.ps1') -ModuleManifest (Join-Path $ModuleOut 'BackupDR.psd1')
    } finally {
        Use-LocalServicesEnvironment $services -Restore $saved | Out-Null
        Stop-LocalServices $services
        Write-Host "Stopped the local services (PIDs $($services.ProcessIds -join ', '))."
    }
}

function Invoke-Package {
    # out/BackupDR.<version>.nupkg: what Install-PSResource installs from a repository (a gallery, a file share).
    # PSResourceGet (shipped with PowerShell 7.4+) packs it: published to a repository folder of our own, offline.
    Invoke-Build
    $version = Get-ProjectVersion
    $repository = Join-Path $Out 'package-repository'
    if (Test-Path $repository) { Remove-Item -Recurse -Force $repository }
    New-Item -ItemType Directory -Path $repository | Out-Null
    Invoke-ChildPwsh -Command @"
`$ErrorActionPreference = 'Stop'
`$name = 'backupdr-build-' + [guid]::NewGuid().ToString('N').Substring(0, 8)
Register-PSResourceRepository -Name `$name -Uri '$repository' -Trusted -Force
try { Publish-PSResource -Path '$ModuleOut' -Repository `$name -SkipDependenciesCheck }
finally { Unregister-PSResourceRepository -Name `$name }
"@
    $nupkg = Join-Path $Out "BackupDR.$version.nupkg"
    Move-Item -Force (Join-Path $repository "BackupDR.$version.nupkg") $nupkg
    Remove-Item -Recurse -Force $repository
    Write-Host "Packaged $nupkg"
}

function Install-Arm64Toolchain {
    # NativeAOT for linux-arm64 links with clang and the aarch64 binutils/libc (TOOLCHAIN.md §5).
    if ((Get-Command clang -ErrorAction SilentlyContinue) -and (Test-Path /usr/aarch64-linux-gnu/lib)) { return }
    if (-not (Get-Command apt-get -ErrorAction SilentlyContinue)) { throw 'arm64 needs clang, gcc-aarch64-linux-gnu and libc6-dev-arm64-cross (Debian packages); install them.' }
    $sudo = if ((& id -u) -ne '0') { 'sudo' } else { $null }
    Write-Host 'Installing clang and the aarch64 toolchain (Debian packages) for the arm64 bootstrap...'
    if ($sudo) { Invoke-Native sudo apt-get update -q } else { Invoke-Native apt-get update -q }
    $packages = @('install', '-y', '--no-install-recommends', '-q', 'clang', 'gcc-aarch64-linux-gnu', 'libc6-dev-arm64-cross')
    if ($sudo) { Invoke-Native sudo apt-get @packages } else { Invoke-Native apt-get @packages }
}

function New-LambdaZip([string] $Bootstrap, [string] $Zip) {
    # One entry, `bootstrap`, mode 0755 and a fixed time: the same binary always gives the same zip.
    Add-Type -AssemblyName System.IO.Compression
    if (Test-Path $Zip) { Remove-Item $Zip }
    $stream = [System.IO.File]::Open($Zip, 'CreateNew')
    try {
        $archive = [System.IO.Compression.ZipArchive]::new($stream, [System.IO.Compression.ZipArchiveMode]::Create)
        $entry = $archive.CreateEntry('bootstrap', [System.IO.Compression.CompressionLevel]::Optimal)
        $entry.LastWriteTime = [DateTimeOffset]::new(1980, 1, 1, 0, 0, 0, [TimeSpan]::Zero)
        $entry.ExternalAttributes = 0x81ED -shl 16   # S_IFREG | 0755
        $out = $entry.Open()
        try { $in = [System.IO.File]::OpenRead($Bootstrap); try { $in.CopyTo($out) } finally { $in.Dispose() } } finally { $out.Dispose() }
        $archive.Dispose()
    } finally { $stream.Dispose() }
}

function Invoke-Lambda {
    $project = Join-Path $Root 'src/BackupDR.Lambda'
    foreach ($arch in @($Architecture -split ',' | ForEach-Object { $_.Trim() } | Where-Object { $_ })) {
        if ($arch -notin 'x86_64', 'arm64') { throw "-Architecture takes x86_64 and/or arm64 (comma-separated), not '$arch'." }
        if ($arch -eq 'arm64') { Install-Arm64Toolchain }
        $publish = Join-Path $Out "lambda/$arch"
        Invoke-Native dotnet publish $project -c Release "-p:LambdaArchitecture=$arch" -o $publish --nologo -v q
        $zip = Join-Path $Out "lambda/backupdr-lambda-$arch.zip"
        New-LambdaZip (Join-Path $publish 'bootstrap') $zip
        $sha = [Convert]::ToBase64String([System.Security.Cryptography.SHA256]::HashData([System.IO.File]::ReadAllBytes($zip)))
        Write-Host ("Lambda package {0}: {1:N1} MB (bootstrap {2:N1} MB), SHA-256 {3}" -f $zip, ((Get-Item $zip).Length / 1MB), ((Get-Item (Join-Path $publish 'bootstrap')).Length / 1MB), $sha)
    }
}

function Invoke-Bench {
    $project = Join-Path $Root 'bench/BackupDR.Bench'
    Invoke-Native dotnet build $project -c Release --nologo -v q
    $package = Join-Path $Out 'lambda/backupdr-lambda-x86_64.zip'
    if ($BenchSteps -match 'lambda|scale-out') {
        $script:Architecture = 'x86_64'
        Invoke-Lambda
    }
    Invoke-ChildPwsh -File (Join-Path $Root 'bench/Invoke-Bench.ps1') -BenchDll (Join-Path $project 'bin/Release/net10.0/BackupDR.Bench.dll') `
        -Items $Items -ItemSize $ItemSize -Parallelism $Parallelism -Segments $Segments -Rounds $Rounds -ScaleItems $ScaleItems -Steps $BenchSteps -LambdaPackage $package
}

switch ($Task) {
    'build' { Invoke-Build }
    'test' { Invoke-Test }
    'demo' { Invoke-Demo }
    'package' { Invoke-Package }
    'bench' { Invoke-Bench }
    'lambda' { Invoke-Lambda }
}
