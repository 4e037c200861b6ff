# A few DynamoDB operations spoken directly over the wire protocol (JSON 1.0 over HTTP, the
# X-Amz-Target header), for test setup and the demo against the local emulator. dynalite
# accepts any credentials, so the Authorization header is well-formed but unsigned.
# Test infrastructure only: never shipped in the module.
Set-StrictMode -Version Latest
$ErrorActionPreference = "Stop"

function Invoke-DynamoWire {
    param([Parameter(Mandatory)] [string] $Operation, [Parameter(Mandatory)] $Body, [string] $Endpoint = $env:AWS_ENDPOINT_URL_DYNAMODB)
    if (-not $Endpoint) { throw 'AWS_ENDPOINT_URL_DYNAMODB is not set: start the local services first.' }
    $date = [DateTime]::UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'")
    $headers = @{
        'X-Amz-Target'  = "DynamoDB_20120810.$Operation"
        'X-Amz-Date'    = $date
        'Authorization' = "AWS4-HMAC-SHA256 Credential=local/$($date.Substring(0, 8))/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=0000"
    }
    $json = if ($Body -is [string]) { $Body } else { $Body | ConvertTo-Json -Depth 100 -Compress }
    Invoke-RestMethod -SkipHeaderValidation -ErrorAction Stop -Method Post -Uri $Endpoint -Headers $headers -ContentType 'application/x-amz-json-1.0' -Body ([System.Text.Encoding]::UTF8.GetBytes($json))
}

function Test-WireTable {
    <# True when the table exists. #>
    param([Parameter(Mandatory)] [string] $TableName)
    try { Invoke-DynamoWire DescribeTable @{ TableName = $TableName } | Out-Null; $true }
    catch { if ("$($_.ErrorDetails.Message)" -match 'ResourceNotFoundException') { $false } else { throw } }
}

function New-WireTable {
    <# Creates an on-demand table keyed pk (S) + sk (N) and waits until it is ACTIVE. #>
    param([Parameter(Mandatory)] [string] $TableName, [string] $HashKey = 'pk', [string] $HashType = 'S', [string] $RangeKey = 'sk', [string] $RangeType = 'N')
    $keys = @(@{ AttributeName = $HashKey; KeyType = 'HASH' })
    $defs = @(@{ AttributeName = $HashKey; AttributeType = $HashType })
    if ($RangeKey) { $keys += @{ AttributeName = $RangeKey; KeyType = 'RANGE' }; $defs += @{ AttributeName = $RangeKey; AttributeType = $RangeType } }
    Invoke-DynamoWire CreateTable @{ TableName = $TableName; KeySchema = $keys; AttributeDefinitions = $defs; BillingMode = 'PAY_PER_REQUEST' } | Out-Null
    for ($i = 0; $i -lt 100; $i++) {
        if ((Invoke-DynamoWire DescribeTable @{ TableName = $TableName }).Table.TableStatus -eq 'ACTIVE') { return }
        Start-Sleep -Milliseconds 50
    }
    throw "Table $TableName did not become ACTIVE."
}

function Add-WireItems {
    <# Writes items given as DynamoDB JSON strings (one item object each). #>
    param([Parameter(Mandatory)] [string] $TableName, [Parameter(Mandatory)] [string[]] $ItemJson)
    for ($i = 0; $i -lt $ItemJson.Count; $i += 25) {
        $chunk = $ItemJson[$i..([Math]::Min($i + 24, $ItemJson.Count - 1))]
        $requests = ($chunk | ForEach-Object { "{`"PutRequest`":{`"Item`":$_}}" }) -join ','
        $result = Invoke-DynamoWire BatchWriteItem "{`"RequestItems`":{`"$TableName`":[$requests]}}"
        if (@($result.UnprocessedItems.PSObject.Properties).Count -gt 0) { throw 'Unprocessed items while seeding.' }
    }
}

function Get-WireItems {
    <# Every item of a table, as raw DynamoDB JSON strings, sorted by their key text. #>
    param([Parameter(Mandatory)] [string] $TableName)
    $items = [System.Collections.Generic.List[string]]::new()
    $start = $null
    do {
        $request = @{ TableName = $TableName; ConsistentRead = $true }
        if ($start) { $request.ExclusiveStartKey = $start }
        # -AsHashtable keeps attribute names that differ only in case apart.
        $page = Invoke-DynamoWire Scan $request | ConvertTo-Json -Depth 100 -Compress | ConvertFrom-Json -AsHashtable
        foreach ($item in $page.Items) { $items.Add((ConvertTo-CanonicalJson $item)) }
        $start = $page['LastEvaluatedKey']
    } while ($start)
    $items | Sort-Object
}

function ConvertTo-CanonicalJson {
    <# A value's JSON with map keys and set elements sorted, so equal items have equal text. #>
    param($Value)
    if ($Value -is [System.Collections.IDictionary]) {
        $parts = foreach ($key in ($Value.Keys | Sort-Object -CaseSensitive)) {
            $child = $Value[$key]
            if ($key -in 'SS', 'NS', 'BS' -and $Value.Count -eq 1) { $child = @($child | Sort-Object -CaseSensitive) }
            (ConvertTo-Json -InputObject $key -Compress) + ':' + (ConvertTo-CanonicalJson $child)
        }
        return '{' + ($parts -join ',') + '}'
    }
    if ($Value -is [System.Collections.IList]) { return '[' + (($Value | ForEach-Object { ConvertTo-CanonicalJson $_ }) -join ',') + ']' }
    ConvertTo-Json -InputObject $Value -Compress
}

function Get-WireState {
    <# Every table, with the item count of those named by -CountItems (of all if none), one line each: to prove an operation wrote nothing. #>
    param([string[]] $CountItems)
    $start = $null
    do {
        $body = if ($start) { @{ ExclusiveStartTableName = $start } } else { @{} }
        $page = Invoke-DynamoWire ListTables $body
        foreach ($table in $page.TableNames) {
            if ($CountItems -and $table -notin $CountItems) { "table $table"; continue }
            $count = 0; $key = $null
            do {
                $scan = @{ TableName = $table; Select = 'COUNT' }
                if ($key) { $scan.ExclusiveStartKey = $key }
                $result = Invoke-DynamoWire Scan $scan
                $count += $result.Count
                $key = if ($result.PSObject.Properties['LastEvaluatedKey']) { $result.LastEvaluatedKey } else { $null }
            } while ($key)
            "table $table $count"
        }
        $start = if ($page.PSObject.Properties['LastEvaluatedTableName']) { $page.LastEvaluatedTableName } else { $null }
    } while ($start)
}

Export-ModuleMember -Function Invoke-DynamoWire, Test-WireTable, New-WireTable, Add-WireItems, Get-WireItems, ConvertTo-CanonicalJson, Get-WireState
