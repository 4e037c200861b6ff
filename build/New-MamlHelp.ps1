<#
.SYNOPSIS
    Builds the module's MAML help (en-US/BackupDR.dll-Help.xml) from docs/cmdlets/*.md.
.DESCRIPTION
    platyPS is not obtainable here, so this does its job for our markdown layout: SYNOPSIS, DESCRIPTION,
    PARAMETERS (### -Name), EXAMPLES (### title, a powershell fence, remarks) and OUTPUTS. Syntax,
    types, positions and pipeline input come from the built cmdlets themselves. Fails when a cmdlet
    parameter has no documentation or the docs name a parameter the cmdlet does not have.
    Run in a child pwsh: it imports the built module.
#>
param(
    [Parameter(Mandatory)] [string] $ModuleManifest,
    [Parameter(Mandatory)] [string] $DocsFolder,
    [Parameter(Mandatory)] [string] $OutFile
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
function Esc([string] $text) { [System.Security.SecurityElement]::Escape($text) }
function Paras([string] $text) {
    ($text.Trim() -split "(\r?\n){2,}" | Where-Object { $_.Trim() } | ForEach-Object { "<maml:para>$(Esc (($_ -split '\r?\n' | ForEach-Object Trim) -join ' '))</maml:para>" }) -join ''
}

function Read-CmdletDoc([string] $path) {
    $doc = @{ Synopsis = ''; Description = ''; Parameters = [ordered]@{}; Examples = [System.Collections.Generic.List[object]]::new(); Outputs = [ordered]@{} }
    $section = $null; $sub = $null; $inCode = $false; $buffer = [System.Text.StringBuilder]::new()
    $flush = {
        $text = $buffer.ToString(); [void]$buffer.Clear()
        switch ($section) {
            'SYNOPSIS' { $doc.Synopsis = $text.Trim() }
            'DESCRIPTION' { $doc.Description = $text }
            'PARAMETERS' { if ($sub) { $doc.Parameters[$sub.TrimStart('-')] = $text } }
            'OUTPUTS' { if ($sub) { $doc.Outputs[$sub] = $text } }
            'EXAMPLES' {
                if ($sub) {
                    $code = [regex]::Match($text, '(?s)```powershell\r?\n(.*?)```')
                    if (-not $code.Success) { throw "$path, example '$sub': no powershell code block" }
                    $doc.Examples.Add([pscustomobject]@{ Title = $sub; Code = $code.Groups[1].Value.TrimEnd(); Remarks = $text.Substring($code.Index + $code.Length) })
                }
            }
        }
    }
    foreach ($line in Get-Content -LiteralPath $path) {
        if ($line -match '^```') { $inCode = -not $inCode }
        if (-not $inCode -and $line -match '^## (.+)$') { & $flush; $section = $Matches[1].Trim(); $sub = $null; continue }
        if (-not $inCode -and $line -match '^### (.+)$') { & $flush; $sub = $Matches[1].Trim(); continue }
        if (-not $inCode -and $line -match '^# ') { continue }
        [void]$buffer.AppendLine($line)
    }
    & $flush
    $doc
}

function Get-ParameterXml($command, $parameter, $setParameter, [string] $description) {
    $pipeline = @()
    if ($setParameter.ValueFromPipeline) { $pipeline += 'ByValue' }
    if ($setParameter.ValueFromPipelineByPropertyName) { $pipeline += 'ByPropertyName' }
    $pipelineText = if ($pipeline) { "True ($($pipeline -join ', '))" } else { 'False' }
    $position = if ($setParameter.Position -ge 0) { $setParameter.Position } else { 'named' }
    $type = $parameter.ParameterType
    $typeName = if ($type -eq [System.Management.Automation.SwitchParameter]) { 'SwitchParameter' } else { $type.Name }
    $value = if ($type -eq [System.Management.Automation.SwitchParameter]) { '' } else { "<command:parameterValue required=`"true`">$(Esc $typeName)</command:parameterValue>" }
    $aliases = if ($parameter.Aliases.Count) { $parameter.Aliases -join ', ' } else { 'None' }
    "<command:parameter required=`"$($setParameter.IsMandatory.ToString().ToLower())`" variableLength=`"true`" globbing=`"false`" pipelineInput=`"$pipelineText`" position=`"$position`" aliases=`"$(Esc $aliases)`">" +
    "<maml:name>$(Esc $parameter.Name)</maml:name><maml:description>$(Paras $description)</maml:description>$value" +
    "<dev:type><maml:name>$(Esc $type.FullName)</maml:name></dev:type></command:parameter>"
}

Import-Module $ModuleManifest -Force
$module = Get-Module BackupDR
$xml = [System.Text.StringBuilder]::new()
[void]$xml.AppendLine('<?xml version="1.0" encoding="utf-8"?>')
[void]$xml.AppendLine('<helpItems schema="maml" xmlns="http://msh">')
foreach ($name in ($module.ExportedCmdlets.Keys | Sort-Object)) {
    $command = Get-Command $name -Module BackupDR
    $docPath = Join-Path $DocsFolder "$name.md"
    if (-not (Test-Path $docPath)) { throw "No help for ${name}: write $docPath" }
    $doc = Read-CmdletDoc $docPath
    if (-not $doc.Synopsis) { throw "$docPath has no SYNOPSIS" }
    if ($doc.Examples.Count -eq 0) { throw "$docPath has no EXAMPLES" }
    $own = $command.Parameters.Values | Where-Object { $_.Name -notin $common -or $_.Name -in 'WhatIf', 'Confirm' }
    foreach ($p in $own) { if (-not $doc.Parameters.Contains($p.Name)) { throw "$docPath does not document -$($p.Name)" } }
    foreach ($documented in $doc.Parameters.Keys) { if (-not $command.Parameters.ContainsKey($documented)) { throw "$docPath documents -$documented, which $name does not have" } }

    [void]$xml.Append('<command:command xmlns:maml="http://schemas.microsoft.com/maml/2004/10" xmlns:command="http://schemas.microsoft.com/maml/dev/command/2004/10" xmlns:dev="http://schemas.microsoft.com/maml/dev/2004/10">')
    [void]$xml.Append("<command:details><command:name>$name</command:name><command:verb>$($command.Verb)</command:verb><command:noun>$($command.Noun)</command:noun>")
    [void]$xml.Append("<maml:description>$(Paras $doc.Synopsis)</maml:description></command:details>")
    [void]$xml.Append("<maml:description>$(Paras $doc.Description)</maml:description><command:syntax>")
    foreach ($set in $command.ParameterSets) {
        [void]$xml.Append("<command:syntaxItem><maml:name>$name</maml:name>")
        foreach ($sp in $set.Parameters | Where-Object { $_.Name -notin $common -or $_.Name -in 'WhatIf', 'Confirm' }) {
            [void]$xml.Append((Get-ParameterXml $command $command.Parameters[$sp.Name] $sp $doc.Parameters[$sp.Name]))
        }
        [void]$xml.Append('</command:syntaxItem>')
    }
    [void]$xml.Append('</command:syntax><command:parameters>')
    foreach ($p in $own) {
        $sp = $command.ParameterSets.Parameters | Where-Object Name -eq $p.Name | Select-Object -First 1
        [void]$xml.Append((Get-ParameterXml $command $p $sp $doc.Parameters[$p.Name]))
    }
    [void]$xml.Append('</command:parameters><command:returnValues>')
    foreach ($output in $doc.Outputs.Keys) {
        [void]$xml.Append("<command:returnValue><dev:type><maml:name>$(Esc $output)</maml:name></dev:type><maml:description>$(Paras $doc.Outputs[$output])</maml:description></command:returnValue>")
    }
    [void]$xml.Append('</command:returnValues><command:examples>')
    foreach ($example in $doc.Examples) {
        [void]$xml.Append("<command:example><maml:title>-------------------------- $(Esc $example.Title) --------------------------</maml:title>")
        [void]$xml.Append("<dev:code>$(Esc $example.Code)</dev:code><dev:remarks>$(Paras $example.Remarks)</dev:remarks></command:example>")
    }
    [void]$xml.AppendLine('</command:examples></command:command>')
}
[void]$xml.AppendLine('</helpItems>')
New-Item -ItemType Directory -Force -Path (Split-Path $OutFile) | Out-Null
[System.IO.File]::WriteAllText($OutFile, $xml.ToString())
[xml](Get-Content -Raw $OutFile) | Out-Null   # must be well-formed
