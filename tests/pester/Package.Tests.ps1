# Install like any module: the built module packed as a .nupkg, installed with Install-PSResource into a clean
# scope (a fresh HOME: no repository, no module), imported from there, and used for a backup.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../emulators/DynamoWire.psm1') -Force
    if (-not $env:AWS_ENDPOINT_URL_DYNAMODB) { throw 'Run through ./build.ps1 test: the local emulators are not started.' }
}

Describe 'The module as a package' {
    It 'installs from a repository with Install-PSResource into a clean scope, imports, and backs a table up' {
        $table = 'pester-pkg-' + [guid]::NewGuid().ToString('N').Substring(0, 10)
        New-WireTable $table
        Add-WireItems $table (1..12 | ForEach-Object { "{`"pk`":{`"S`":`"p$_`"},`"sk`":{`"N`":`"$_`"}}" })
        $home_ = Join-Path $TestDrive 'home'
        $repository = Join-Path $TestDrive 'repository'
        $backups = Join-Path $TestDrive 'backups'
        # .config and .local/share exist in a real home: without them .NET answers "" for the user's config folder,
        # and NuGet (inside PSResourceGet) writes NuGet/NuGet.Config into the current folder.
        New-Item -ItemType Directory $home_, (Join-Path $home_ '.config'), (Join-Path $home_ '.local/share'), $repository, $backups | Out-Null
        $module = Split-Path $env:BACKUPDR_MODULE
        $script = @"
`$ErrorActionPreference = 'Stop'
Register-PSResourceRepository -Name local -Uri '$repository' -Trusted
Publish-PSResource -Path '$module' -Repository local -SkipDependenciesCheck
Install-PSResource -Name BackupDR -Repository local -Scope CurrentUser -TrustRepository
Import-Module BackupDR
`$m = Get-Module BackupDR
`$r = Invoke-DynamoBackup -TableName '$table' -Path '$backups'
"`$(`$r.ItemCount)|`$(`$m.ModuleBase)|`$((Get-ChildItem '$repository' -Filter *.nupkg).Name)|`$(`$m.ProjectUri)|`$(`$m.LicenseUri)|`$(Test-Path (Join-Path `$m.ModuleBase LICENSE))|`$(`$m.Tags -join ',')"
"@
        $saved = $env:HOME, $env:PSModulePath
        try {
            # A clean scope: another HOME (PSResourceGet's repositories and the CurrentUser modules live under it),
            # and a module path without the built module.
            $env:HOME = $home_
            $env:PSModulePath = ''
            Push-Location $TestDrive
            try { $output = & dotnet (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -Command $script 2>&1 } finally { Pop-Location }
        } finally { $env:HOME, $env:PSModulePath = $saved }
        $LASTEXITCODE | Should -Be 0 -Because ($output -join "`n")
        $items, $base, $package, $project, $license, $licenseFile, $tags = ($output | Select-Object -Last 1) -split '\|'
        $items | Should -Be '12'
        $base | Should -BeLike "$home_*"          # imported from the installed package, not the build folder
        $package | Should -Match '^BackupDR\.\d+\.\d+\.\d+\.nupkg$'
        # What a gallery shows: the project, its licence (the file is in the package), the editions and platforms.
        $project | Should -Be 'https://github.com/backupdr/backupdr'
        $license | Should -Be 'https://github.com/backupdr/backupdr/blob/main/LICENSE'
        $licenseFile | Should -Be 'True'
        foreach ($tag in 'PSEdition_Core', 'Linux', 'Windows', 'MacOS') { $tags -split ',' | Should -Contain $tag }
    }
}
