# The pipeline examples (examples/github-actions, examples/azure-pipelines): their PowerShell steps, taken from the
# YAML as written, run one after the other as a CI agent would (each step its own pwsh, one clean HOME per job)
# against the local services, with the module installed from a feed folder holding the built .nupkg.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../emulators/DynamoWire.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../emulators/LocalServices.psm1') -Force
    if (-not $env:AWS_ENDPOINT_URL_DYNAMODB) { throw 'Run through ./build.ps1 test: the local emulators are not started.' }
    $script:examples = Join-Path $PSScriptRoot '../../examples'
    $script:pwshDll = Join-Path $PSHOME 'pwsh.dll'

    function New-CleanHome([string] $Name) {
        $path = Join-Path $TestDrive $Name
        # .config and .local/share exist in a real home (without them NuGet writes its config into the current folder).
        New-Item -ItemType Directory $path, (Join-Path $path '.config'), (Join-Path $path '.local/share') | Out-Null
        $path
    }

    # The pwsh scripts of a workflow: GitHub's `shell: pwsh` + `run: |` steps, Azure's `- pwsh: |` steps, in order.
    function Get-PwshSteps([string] $Path) {
        $lines = Get-Content $Path
        $steps = @()
        for ($i = 0; $i -lt $lines.Count; $i++) {
            $m = [regex]::Match($lines[$i], '^(\s*)(- )?(run|pwsh): \|\s*$')
            if (-not $m.Success) { continue }
            if ($m.Groups[3].Value -eq 'run' -and $lines[$i - 1] -notmatch '^\s*shell: pwsh\s*$') { throw "$Path line $($i + 1): a run step that is not pwsh" }
            $keyIndent = $m.Groups[1].Value.Length + $m.Groups[2].Value.Length
            $block = @()
            for ($j = $i + 1; $j -lt $lines.Count; $j++) {
                if ($lines[$j].Trim().Length -gt 0 -and ($lines[$j].Length - $lines[$j].TrimStart().Length) -le $keyIndent) { break }
                $block += $lines[$j]
            }
            $indent = ($block | Where-Object { $_.Trim() } | Select-Object -First 1) -replace '^(\s*).*$', '$1'
            $steps += , (($block | ForEach-Object { if ($_.StartsWith($indent)) { $_.Substring($indent.Length) } else { $_.TrimStart() } }) -join "`n")
        }
        $steps
    }

    function Invoke-Steps([string[]] $Steps, [hashtable] $Environment, [string] $HomePath) {
        $saved = @{}
        foreach ($k in $Environment.Keys + 'HOME', 'PSModulePath') { $saved[$k] = [Environment]::GetEnvironmentVariable($k) }
        $results = @()
        try {
            foreach ($k in $Environment.Keys) { [Environment]::SetEnvironmentVariable($k, $Environment[$k]) }
            $env:HOME = $HomePath
            $env:PSModulePath = ''
            Push-Location $HomePath
            try {
                foreach ($step in $Steps) {
                    $output = & dotnet $pwshDll -NoProfile -NonInteractive -Command $step 2>&1
                    $results += [pscustomobject]@{ Exit = $LASTEXITCODE; Output = ($output -join "`n") }
                    if ($LASTEXITCODE -ne 0) { break }   # a failed step fails the job
                }
            } finally { Pop-Location }
        } finally {
            foreach ($k in $saved.Keys) { [Environment]::SetEnvironmentVariable($k, $saved[$k]) }
        }
        $results
    }

    # The feed: a folder repository holding the built module as a .nupkg.
    $script:feed = Join-Path $TestDrive 'feed'
    New-Item -ItemType Directory $feed | Out-Null
    $publisher = New-CleanHome 'publisher'
    $module = Split-Path $env:BACKUPDR_MODULE
    $saved = $env:HOME
    try {
        $env:HOME = $publisher
        & dotnet $pwshDll -NoProfile -NonInteractive -Command "`$ErrorActionPreference = 'Stop'; Register-PSResourceRepository -Name feed -Uri '$feed' -Trusted; Publish-PSResource -Path '$module' -Repository feed -SkipDependenciesCheck" | Out-Null
    } finally { $env:HOME = $saved }
    if (-not (Get-ChildItem $feed -Filter *.nupkg)) { throw 'the module could not be packed for the feed' }
}

Describe 'The pipeline examples' {
    It 'runs the <Name> steps: install, back up and verify, drill; and a stale drill fails the job' -ForEach @(
        @{ Name = 'GitHub Actions'; File = 'github-actions/nightly-backup.yml' }
        @{ Name = 'Azure Pipelines'; File = 'azure-pipelines/nightly-backup.yml' }
    ) {
        $steps = @(Get-PwshSteps (Join-Path $examples $File))
        $steps.Count | Should -Be 3
        $tables = 1..2 | ForEach-Object {
            $t = 'pester-ci-' + [guid]::NewGuid().ToString('N').Substring(0, 10)
            New-WireTable $t
            Add-WireItems $t (1..20 | ForEach-Object { "{`"pk`":{`"S`":`"k$_`"},`"sk`":{`"N`":`"$_`"}}" })
            $t
        }
        $bucket = 'pester-ci-' + [guid]::NewGuid().ToString('N').Substring(0, 10)
        New-LocalBucket $bucket
        $environment = @{
            BACKUP_BUCKET = $bucket; BACKUP_PREFIX = 'nightly'; BACKUP_TABLES = $tables -join ','; BACKUPDR_FEED = $feed
            MAX_RPO = '01:00:00'; MAX_RTO = '00:30:00'
        }
        $agent = New-CleanHome ("agent-" + ($Name -replace ' ', ''))
        $run = @(Invoke-Steps $steps $environment $agent)
        $run.Count | Should -Be 3
        foreach ($step in $run) { $step.Exit | Should -Be 0 -Because $step.Output }
        foreach ($t in $tables) {
            Get-Content -Raw (Join-Path $agent "drill-$t.md") | Should -Match "^# DR drill of $t`: PASSED"
        }
        (Invoke-DynamoWire ListTables @{}).TableNames | Where-Object { $_ -like 'pester-ci-*-drill-*' } | Should -BeNullOrEmpty

        # A backup older than the drill's limit fails the drill step, and so the job.
        $environment.MAX_RPO = '00:00:00.001'
        $stale = @(Invoke-Steps $steps[2] $environment $agent)
        $stale[0].Exit | Should -Not -Be 0
        $stale[0].Output | Should -Match "The drill of '.+' failed: MaxRpo"
    }
}
