<#
.SYNOPSIS
    Runs the Pester suite against the built module (in this child pwsh) and writes the counts as JSON.
#>
param(
    [Parameter(Mandatory)] [string] $ModuleManifest,
    [Parameter(Mandatory)] [string] $PesterVersion,
    [Parameter(Mandatory)] [string] $ResultFile,
    # A Pester full-name wildcard: run only the tests it matches (empty: all).
    [string] $FullNameFilter = ''
)
$ErrorActionPreference = 'Stop'
Import-Module Pester -RequiredVersion $PesterVersion
$env:BACKUPDR_MODULE = (Resolve-Path $ModuleManifest).Path
$config = New-PesterConfiguration
$config.Run.Path = $PSScriptRoot
$config.Run.PassThru = $true
if ($FullNameFilter) { $config.Filter.FullName = $FullNameFilter }
$config.Output.Verbosity = 'Detailed'
$config.Output.RenderMode = 'Plaintext'
$result = Invoke-Pester -Configuration $config
$failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
@{ Passed = $result.PassedCount; Failed = $failed; Skipped = $result.SkippedCount } | ConvertTo-Json | Set-Content $ResultFile
"pester: $($result.PassedCount) passed, $failed failed, $($result.SkippedCount) skipped"
exit [int]($failed -gt 0 -or $result.Result -ne 'Passed')
