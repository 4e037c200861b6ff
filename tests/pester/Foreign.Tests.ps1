# The backups users already have, through the cmdlets: DynamoDB exports, the original backup Lambda's
# files and dynamodump folders, each written by Python with that tool's own rules (tests/fixtures).
BeforeAll {
    Import-Module $env:BACKUPDR_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot '../emulators/DynamoWire.psm1') -Force
    if (-not $env:AWS_ENDPOINT_URL_DYNAMODB) { throw 'Run through ./build.ps1 test: the local emulators are not started.' }
    $script:fixtures = Join-Path $PSScriptRoot '../fixtures'
    $script:work = Join-Path ([System.IO.Path]::GetTempPath()) ('pester-foreign-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
    New-Item -ItemType Directory -Path $work | Out-Null

    function Invoke-Fixture([string] $Script, [string[]] $Arguments) {
        & python3 (Join-Path $fixtures $Script) @Arguments
        if ($LASTEXITCODE -ne 0) { throw "$Script failed ($LASTEXITCODE)" }
    }
    function New-TableName { 'pester-foreign-' + [guid]::NewGuid().ToString('N').Substring(0, 10) }
    function Get-ExpectedItems([string] $Path) {
        (Get-Content -Raw $Path | ConvertFrom-Json -AsHashtable) | ForEach-Object { ConvertTo-CanonicalJson $_ } | Sort-Object
    }
}
AfterAll { Remove-Item -Recurse -Force -ErrorAction SilentlyContinue $work }

Describe 'DynamoDB exports' {
    BeforeAll {
        $script:exports = Join-Path $work 'exports'
        Invoke-Fixture 'native_export.py' @($exports, 'orders', '50')
        $script:chain = Join-Path $exports 'AWSDynamoDB'
        $script:window = Get-ChildItem $chain -Directory | Where-Object Name -Match '^\d{14}-' | Sort-Object Name | Select-Object -Last 1
    }

    It 'proves a chain by its own rules, and restores it as of its end and as of a point in time' {
        $report = Test-BackupIntegrity -Uri $chain -Level Full
        $report.IsValid | Should -BeTrue
        $report.Format | Should -Be 'NativeExportChain'
        $report.ItemsVerified | Should -Be 75
        $report.Limits | Should -Not -BeNullOrEmpty

        $latest = New-TableName
        $result = Restore-DynamoTable -Uri $chain -TableName $latest -KeySchema pk:S, sk:N
        $result.Format | Should -Be 'NativeExportChain'
        $result.ItemsDeleted | Should -Be 5
        (Get-WireItems $latest) -join "`n" | Should -BeExactly ((Get-ExpectedItems (Join-Path $exports 'expected-T2.json')) -join "`n")

        $earlier = New-TableName
        Restore-DynamoTable -Uri $chain -TableName $earlier -KeySchema 'pk:S,sk:N' -PointInTime '2026-11-30T10:00:00Z' | Out-Null
        (Get-WireItems $earlier) -join "`n" | Should -BeExactly ((Get-ExpectedItems (Join-Path $exports 'expected-T1.json')) -join "`n")
    }

    It 'undoes an incremental window with -Revert, and asks first' {
        $table = New-TableName
        Restore-DynamoTable -Uri $chain -TableName $table -KeySchema pk:S, sk:N | Out-Null
        $before = Get-WireItems $table
        # A script that cannot answer the question changes nothing.
        { Restore-DynamoTable -Uri $window.FullName -TableName $table -Revert -ErrorAction Stop } |
            Should -Throw -ErrorId 'NotConfirmed,BackupDR.PowerShell.RestoreDynamoTableCommand'
        (Get-WireItems $table) -join "`n" | Should -BeExactly ($before -join "`n")
        $reverted = Restore-DynamoTable -Uri $window.FullName -TableName $table -Revert -Force
        $reverted.ItemsDeleted | Should -Be 10
        (Get-WireItems $table) -join "`n" | Should -BeExactly ((Get-ExpectedItems (Join-Path $exports 'expected-T1.json')) -join "`n")
    }

    It 'names a missing data file and refuses to restore' {
        $copy = Join-Path $work 'damaged-exports'
        Copy-Item -Recurse $exports $copy
        Get-ChildItem (Join-Path $copy 'AWSDynamoDB/data') -File | Select-Object -First 1 | Remove-Item
        $report = Test-BackupIntegrity -Uri (Join-Path $copy 'AWSDynamoDB') -Level Quick -ErrorAction SilentlyContinue -ErrorVariable failed
        $report.IsValid | Should -BeFalse
        $report.Problems.Code | Should -Contain 'MissingDataFile'
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'BackupIntegrityFailed,*'
        $table = New-TableName
        { Restore-DynamoTable -Uri (Join-Path $copy 'AWSDynamoDB') -TableName $table -KeySchema pk:S, sk:N -ErrorAction Stop } |
            Should -Throw -ErrorId 'BackupIntegrityFailed,BackupDR.PowerShell.RestoreDynamoTableCommand'
        Test-WireTable $table | Should -BeFalse
    }
}

Describe "The original backup Lambda's files" {
    BeforeAll {
        $script:seed = Join-Path $work 'orders-backup-2025-06-01-12-30-00.json'
        Invoke-Fixture 'seed_v2.py' @($seed, 'orders', '40', '')
    }

    It 'proves a file by its own checksum and names what the seed lost' {
        $report = Test-BackupIntegrity -Uri $seed -Level Full
        $report.IsValid | Should -BeTrue
        $report.Format | Should -Be 'SeedV2'
        $report.ItemsVerified | Should -Be 45
        ($report.Losses | Where-Object { $_.Attribute -eq 'big' }).Kind | Should -Be 'ThroughFloat'
        ($report.Losses | Where-Object { $_.Attribute -eq 'tags' }).Kind | Should -Be 'SetAsString'
    }

    It 'needs a key schema for a new table, and restores with one' {
        $table = New-TableName
        { Restore-DynamoTable -Uri $seed -TableName $table -ErrorAction Stop } |
            Should -Throw -ErrorId 'KeySchemaRequired,BackupDR.PowerShell.RestoreDynamoTableCommand'
        { Restore-DynamoTable -Uri $seed -TableName $table -KeySchema pk:X -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidArgument,BackupDR.PowerShell.RestoreDynamoTableCommand'
        Test-WireTable $table | Should -BeFalse
        $result = Restore-DynamoTable -Uri $seed -TableName $table -KeySchema pk:S, sk:N
        $result.ItemsWritten | Should -Be 45
        $result.Losses.Attribute | Should -Contain 'pi'
        @(Get-WireItems $table).Count | Should -Be 45
    }
}

Describe 'dynamodump folders' {
    It 'proves what a dump can show and restores it into a table made from its schema' {
        Invoke-Fixture 'dynamodump.py' @((Join-Path $work 'dump'), 'users', '250', '100')
        $folder = Join-Path $work 'dump/users'
        $report = Test-BackupIntegrity -Uri $folder -Level Full
        $report.IsValid | Should -BeTrue
        $report.Format | Should -Be 'Dynamodump'
        $report.ItemsVerified | Should -Be 250
        $table = New-TableName
        $result = Restore-DynamoTable -Uri $folder -TableName $table
        $result.TableCreated | Should -BeTrue
        $result.ItemsWritten | Should -Be 250
        @(Get-WireItems $table | Where-Object { $_ -match '"BS":' }).Count | Should -Be 250
    }
}
