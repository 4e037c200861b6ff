# The built module as users get it: manifest, exports, help held to the code, isolation.
BeforeAll {
    $script:manifestPath = $env:BACKUPDR_MODULE
    Import-Module $manifestPath -Force
    $script:common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
}

Describe 'Module manifest' {
    It 'passes Test-ModuleManifest and exports exactly its cmdlets' {
        $m = Test-ModuleManifest $manifestPath
        $m.Version | Should -Not -Be ([version]'0.0.0')
        $m.CompatiblePSEditions | Should -Be @('Core')
        @($m.ExportedCmdlets.Keys | Sort-Object) | Should -Be @('Copy-DynamoBackup', 'Deploy-BackupFunctions', 'Get-BackupFunctionPolicy', 'Get-DynamoBackup', 'Invoke-DynamoBackup', 'Invoke-DynamoDrill', 'Remove-DynamoBackup', 'Restore-DynamoTable', 'Sync-DynamoBackupLedger', 'Test-BackupIntegrity', 'Test-DynamoBackupCompliance')
        $m.ExportedFunctions.Count | Should -Be 0
        $m.ExportedAliases.Count | Should -Be 0
    }

    It 'keeps the engine and the AWS SDK out of the top folder' {
        $folder = Split-Path $manifestPath
        @(Get-ChildItem $folder -Filter *.dll | ForEach-Object Name) | Should -Be @('BackupDR.dll')
        Join-Path $folder 'deps/AWSSDK.Core.dll' | Should -Exist
    }

    It 'loads the engine in its private load context' {
        # Parsing a URI is engine work, so this loads the engine even with no services at hand.
        { Test-BackupIntegrity -Uri 'https://not-a-backup' } | Should -Throw -ErrorId 'InvalidBackupUri,*'
        $engine = [System.AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'BackupDR.Engine' }
        [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($engine).Name | Should -Be 'BackupDR.Dependencies'
    }
}

Describe 'Help for <_>' -ForEach @('Invoke-DynamoBackup', 'Test-BackupIntegrity', 'Restore-DynamoTable', 'Get-DynamoBackup', 'Remove-DynamoBackup', 'Deploy-BackupFunctions', 'Get-BackupFunctionPolicy') {
    BeforeAll {
        $script:name = $_
        $script:help = Get-Help $name -Full
        $script:command = Get-Command $name
    }
    It 'has a synopsis and a description' {
        $help.Synopsis | Should -Not -BeNullOrEmpty
        $help.Synopsis | Should -Not -Match ([regex]::Escape($name) + '\s+\[')   # not the auto-generated syntax stub
        ($help.description.Text -join ' ').Length | Should -BeGreaterThan 80
    }
    It 'has examples with code and remarks' {
        @($help.Examples.Example).Count | Should -BeGreaterOrEqual 2
        foreach ($example in $help.Examples.Example) {
            $example.code | Should -Match $name.Split('-')[0]
            ($example.remarks.Text -join ' ').Trim() | Should -Not -BeNullOrEmpty
        }
    }
    It 'documents every parameter' {
        $documented = @($help.parameters.parameter | ForEach-Object name)
        foreach ($p in $command.Parameters.Values | Where-Object { $_.Name -notin $common }) {
            $documented | Should -Contain $p.Name
            $entry = $help.parameters.parameter | Where-Object name -eq $p.Name
            ($entry.description.Text -join ' ').Trim() | Should -Not -BeNullOrEmpty -Because "-$($p.Name) needs a description"
        }
    }
}

Describe 'Format views' {
    It 'shows every output type as a table by default' {
        Import-Module $env:BACKUPDR_MODULE -Force
        foreach ($type in 'BackupDR.Engine.Backup.BackupResult', 'BackupDR.Engine.Validation.IntegrityReport', 'BackupDR.Engine.Restore.RestoreResult',
                          'BackupDR.Engine.Catalog.BackupInfo', 'BackupDR.Engine.Catalog.RemovedBackup', 'BackupDR.Engine.Catalog.CopyResult',
                          'BackupDR.Engine.Drill.DrillReport', 'BackupDR.Engine.Deploy.FunctionDeployment') {
            $data = Get-FormatData -TypeName $type
            $data | Should -Not -BeNullOrEmpty -Because "$type needs a view"
            $data.FormatViewDefinition[0].Control.GetType().Name | Should -Be 'TableControl'
        }
    }
}
