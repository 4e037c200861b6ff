# SigV4-signed requests from PowerShell, for tests that call AWS APIs with no BackupDR cmdlet (Lambda
# Invoke, SQS) on the local endpoints. aws-local.js checks these signatures: a wrong one fails.
# Test infrastructure only: never shipped in the module.
Set-StrictMode -Version Latest

function Get-Sha256Hex([byte[]] $Data) { [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($Data)).ToLowerInvariant() }
function Get-Hmac([byte[]] $Key, [string] $Text) { [System.Security.Cryptography.HMACSHA256]::HashData($Key, [System.Text.Encoding]::UTF8.GetBytes($Text)) }
function ConvertTo-Rfc3986([string] $Text) { [uri]::EscapeDataString($Text) }

function Invoke-SignedAwsRequest {
    <# Sends a SigV4-signed request; returns @{ Status; Headers; Body (string) } and never throws on HTTP errors. #>
    param(
        [Parameter(Mandatory)] [string] $Service,
        [Parameter(Mandatory)] [string] $Method,
        [Parameter(Mandatory)] [uri] $Uri,
        [string] $Body = '',
        [string] $ContentType = 'application/json',
        [hashtable] $Headers = @{},
        [string] $Region = 'us-east-1',
        [string] $AccessKey = $env:AWS_ACCESS_KEY_ID,
        [string] $SecretKey = $env:AWS_SECRET_ACCESS_KEY
    )
    $bytes = [System.Text.Encoding]::UTF8.GetBytes($Body)
    $now = [DateTime]::UtcNow
    $amzDate = $now.ToString("yyyyMMdd'T'HHmmss'Z'")
    $day = $now.ToString('yyyyMMdd')
    $payloadHash = Get-Sha256Hex $bytes
    $signedHeaders = [ordered]@{}
    $all = @{ 'host' = $Uri.Authority; 'x-amz-date' = $amzDate; 'x-amz-content-sha256' = $payloadHash; 'content-type' = $ContentType }
    foreach ($key in $Headers.Keys) { $all[$key.ToLowerInvariant()] = [string]$Headers[$key] }
    foreach ($key in ($all.Keys | Sort-Object)) { $signedHeaders[$key] = $all[$key].Trim() }
    $names = $signedHeaders.Keys -join ';'
    $canonicalHeaders = ($signedHeaders.Keys | ForEach-Object { "${_}:$($signedHeaders[$_])`n" }) -join ''
    $query = if ($Uri.Query.Length -gt 1) {
        ($Uri.Query.Substring(1).Split('&') | ForEach-Object { $k, $v = $_.Split('=', 2); "$(ConvertTo-Rfc3986 ([uri]::UnescapeDataString($k)))=$(ConvertTo-Rfc3986 ([uri]::UnescapeDataString("$v")))" } | Sort-Object) -join '&'
    } else { '' }
    # Services other than S3 encode each path segment twice in the canonical request.
    $path = ($Uri.AbsolutePath.Split('/') | ForEach-Object { ConvertTo-Rfc3986 (ConvertTo-Rfc3986 ([uri]::UnescapeDataString($_))) }) -join '/'
    $canonical = "$Method`n$path`n$query`n$canonicalHeaders`n$names`n$payloadHash"
    $scope = "$day/$Region/$Service/aws4_request"
    $toSign = "AWS4-HMAC-SHA256`n$amzDate`n$scope`n$(Get-Sha256Hex ([System.Text.Encoding]::UTF8.GetBytes($canonical)))"
    $key = Get-Hmac (Get-Hmac (Get-Hmac (Get-Hmac ([System.Text.Encoding]::UTF8.GetBytes("AWS4$SecretKey")) $day) $Region) $Service) 'aws4_request'
    $signature = [Convert]::ToHexString((Get-Hmac $key $toSign)).ToLowerInvariant()
    $requestHeaders = @{
        'X-Amz-Date' = $amzDate; 'X-Amz-Content-SHA256' = $payloadHash
        'Authorization' = "AWS4-HMAC-SHA256 Credential=$AccessKey/$scope, SignedHeaders=$names, Signature=$signature"
    }
    foreach ($key in $Headers.Keys) { $requestHeaders[$key] = $Headers[$key] }
    $response = Invoke-WebRequest -SkipHeaderValidation -SkipHttpErrorCheck -Method $Method -Uri $Uri -Headers $requestHeaders -ContentType $ContentType -Body $bytes
    @{ Status = [int]$response.StatusCode; Headers = $response.Headers; Body = [System.Text.Encoding]::UTF8.GetString($response.RawContentStream.ToArray()) }
}

function Invoke-LocalLambda {
    <# Invokes a function (RequestResponse, or Event with -Asynchronous) through the local Lambda API; returns Status, FunctionError and Payload. #>
    param([Parameter(Mandatory)] [string] $FunctionName, [string] $Qualifier, [Parameter(Mandatory)] [string] $Event, [switch] $Asynchronous,
        [string] $Endpoint = $env:AWS_ENDPOINT_URL_LAMBDA)
    $uri = "$Endpoint/2015-03-31/functions/$FunctionName/invocations" + $(if ($Qualifier) { "?Qualifier=$Qualifier" } else { '' })
    $type = if ($Asynchronous) { 'Event' } else { 'RequestResponse' }
    $r = Invoke-SignedAwsRequest -Service lambda -Method POST -Uri $uri -Body $Event -Headers @{ 'X-Amz-Invocation-Type' = $type }
    $functionError = if ($r.Headers.ContainsKey('X-Amz-Function-Error')) { "$($r.Headers['X-Amz-Function-Error'])" } else { $null }
    [pscustomobject]@{ Status = $r.Status; FunctionError = $functionError; Payload = $(if ($r.Body) { $r.Body | ConvertFrom-Json } else { $null }) }
}

Export-ModuleMember -Function Invoke-SignedAwsRequest, Invoke-LocalLambda
