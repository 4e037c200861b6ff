using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Amazon;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using Amazon.Runtime.Credentials;
using Amazon.Runtime.Signing;

namespace BackupDR.Engine.Aws;

/// <summary>One page of a Scan, kept as the bytes DynamoDB sent. Return it with <see cref="Dispose"/>.</summary>
internal sealed class ScanPage : IDisposable
{
    private readonly ArrayPool<byte> _pool;
    private readonly SemaphoreSlim? _slot;
    private byte[]? _buffer;

    public ScanPage(byte[] buffer, int length, ArrayPool<byte> pool, SemaphoreSlim? slot)
    {
        _buffer = buffer;
        Length = length;
        _pool = pool;
        _slot = slot;
    }

    public int Length { get; }

    /// <summary>The response body.</summary>
    public ReadOnlySpan<byte> Body => _buffer.AsSpan(0, Length);

    /// <summary>The Items array, '[' to ']', within <see cref="Body"/>.</summary>
    public Range Items { get; set; }

    public int Count { get; set; }
    public int ScannedCount { get; set; }
    public double? ConsumedCapacityUnits { get; set; }

    /// <summary>LastEvaluatedKey as raw DynamoDB JSON; null on the last page.</summary>
    public byte[]? LastEvaluatedKey { get; set; }

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null)
        {
            _pool.Return(buffer);
            _slot?.Release();
        }
    }
}

/// <summary>What one Scan request asks for.</summary>
/// <param name="PageSlots">
/// When given, a slot is taken after the response headers arrive and before the body is read, and
/// released when the page is disposed: pages waiting for the encoders stay in the socket, not in memory.
/// </param>
internal sealed record ScanPageRequest(string TableName, int Segment, int TotalSegments, bool ConsistentRead, int? Limit, byte[]? ExclusiveStartKey,
    bool ReturnConsumedCapacity, SemaphoreSlim? PageSlots = null);

/// <summary>
/// Scan over DynamoDB's JSON protocol directly, signed with the SDK's SigV4 signer and the SDK's
/// credentials and endpoint. The SDK builds an AttributeValue for every value of every item; a backup
/// only needs to copy the items into the export format, so the page is kept as bytes and the
/// encoder transcodes it (docs/performance.md has the measurements). Everything else — the
/// credential chain, endpoint resolution (AWS_ENDPOINT_URL_DYNAMODB, regions, FIPS) — stays the SDK's.
/// </summary>
/// <remarks>
/// Retries, with capped exponential backoff and jitter: throttling, 5xx, a dropped or truncated
/// response and a CRC-32 mismatch (x-amz-crc32, as the SDK checks it). Other errors surface as the
/// SDK's exception types, so error translation is the same as for SDK calls.
/// </remarks>
internal sealed class DynamoScanClient : IDisposable
{
    private const string Target = "DynamoDB_20120810.Scan";
    private const string ContentType = "application/x-amz-json-1.0";
    private static readonly string UserAgent = "BackupDR/" + EngineInfo.Version;

    private readonly HttpClient _http;
    private readonly Uri _endpoint;
    private readonly AWSCredentials _credentials;
    private readonly RegionEndpoint _signingRegion;
    private readonly RetryPolicy _retry;
    private readonly TimeSpan _attemptTimeout;

    // Page buffers come from this client's own bounded pool: the process-wide shared pool would keep
    // a page-sized array per thread and per core, which is memory that grows with the thread count.
    private readonly ArrayPool<byte> _pages = ArrayPool<byte>.Create(64 * 1024 * 1024, 32);

    public DynamoScanClient(Uri endpoint, AWSCredentials credentials, RegionEndpoint signingRegion, RetryPolicy? retry = null, TimeSpan? attemptTimeout = null)
    {
        _endpoint = endpoint;
        _credentials = credentials;
        _signingRegion = signingRegion;
        _retry = retry ?? RetryPolicy.Default;
        _attemptTimeout = attemptTimeout ?? TimeSpan.FromSeconds(60);
        _http = new HttpClient(new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(10),
        })
        { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>A client for the same endpoint, region and credentials as <paramref name="sdkClient"/>.</summary>
    public static DynamoScanClient For(IAmazonDynamoDB sdkClient, AwsClientFactory factory)
    {
        var client = (AmazonDynamoDBClient)sdkClient;
        var endpoint = client.DetermineServiceOperationEndpoint(new ScanRequest { TableName = "t" });
        var config = client.Config;
        RegionEndpoint region = config.RegionEndpoint
            ?? (config.AuthenticationRegion is { Length: > 0 } auth ? RegionEndpoint.GetBySystemName(auth) : null)
            ?? FallbackRegionFactory.GetRegionEndpoint()
            ?? throw new AmazonClientException("No AWS region is configured (RegionEndpoint). Set -Region, AWS_REGION or a profile's region.");
        var credentials = factory.ProfileCredentials() ?? DefaultAWSCredentialsIdentityResolver.GetCredentials(config);
        string url = endpoint.URL.EndsWith('/') ? endpoint.URL : endpoint.URL + "/";
        return new DynamoScanClient(new Uri(url), credentials, region);
    }

    public async Task<ScanPage> ScanAsync(ScanPageRequest request, CancellationToken cancellationToken)
    {
        byte[] body = RequestBody(request);
        for (int attempt = 1; ; attempt++)
        {
            Exception failure;
            try
            {
                return await AttemptAsync(body, request.PageSlots, cancellationToken).ConfigureAwait(false);
            }
            catch (AmazonDynamoDBException e) when (IsRetryable(e))
            {
                failure = e;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or InvalidDataException
                                      || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                failure = e;
            }
            if (attempt >= _retry.MaxAttempts)
            {
                throw failure is AmazonServiceException ? failure
                    : new AmazonClientException($"Scan of '{request.TableName}' failed after {attempt} attempts: {failure.Message}", failure);
            }
            await Task.Delay(_retry.Delay(attempt), cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<ScanPage> AttemptAsync(byte[] body, SemaphoreSlim? pageSlots, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_attemptTimeout);
        var signed = await AWSSigV4Signer.SignAsync(
            new AWSSigningRequest
            {
                HttpMethod = HttpMethod.Post,
                RequestUri = _endpoint,
                Content = body,
                Headers = { ["Content-Type"] = ContentType, ["X-Amz-Target"] = Target },
            },
            new AWSSigV4Parameters { Credentials = _credentials, Region = _signingRegion, Service = "dynamodb", SignPayload = true },
            timeout.Token).ConfigureAwait(false);
        using var message = new HttpRequestMessage(HttpMethod.Post, _endpoint) { Content = new ByteArrayContent(body) };
        message.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(ContentType);
        message.Headers.TryAddWithoutValidation("X-Amz-Target", Target);
        message.Headers.TryAddWithoutValidation("User-Agent", UserAgent);
        foreach (var (name, value) in signed.Headers)
        {
            if (!name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase) && !name.Equals("Host", StringComparison.OrdinalIgnoreCase))
            {
                message.Headers.TryAddWithoutValidation(name, value);
            }
        }

        using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
        if (pageSlots is not null)
        {
            // Backpressure: wait for room downstream before the body is read (waiting is not the server's fault).
            timeout.CancelAfter(Timeout.InfiniteTimeSpan);
            await pageSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
            timeout.CancelAfter(_attemptTimeout);
        }
        byte[] buffer;
        int length;
        try
        {
            (buffer, length) = await ReadBodyAsync(response, timeout.Token).ConfigureAwait(false);
        }
        catch
        {
            pageSlots?.Release();
            throw;
        }
        bool handedOver = false;
        try
        {
            if (response.Headers.TryGetValues("x-amz-crc32", out var values) && uint.TryParse(values.First(), out uint expected)
                && Crc32.Compute(buffer.AsSpan(0, length)) != expected)
            {
                throw new InvalidDataException("the Scan response does not match its x-amz-crc32 checksum");
            }
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw ServiceError(response, buffer.AsSpan(0, length));
            }
            var page = new ScanPage(buffer, length, _pages, pageSlots);
            handedOver = true;
            try
            {
                Parse(page);
                return page;
            }
            catch
            {
                page.Dispose();
                throw;
            }
        }
        finally
        {
            if (!handedOver)
            {
                _pages.Return(buffer);
                pageSlots?.Release();
            }
        }
    }

    private async Task<(byte[] Buffer, int Length)> ReadBodyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        long? declared = response.Content.Headers.ContentLength;
        byte[] buffer = _pages.Rent((int)Math.Clamp(declared ?? 64 * 1024, 1024, 64 * 1024 * 1024));
        int length = 0;
        try
        {
            using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            while (true)
            {
                if (length == buffer.Length)
                {
                    byte[] larger = _pages.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, length).CopyTo(larger);
                    _pages.Return(buffer);
                    buffer = larger;
                }
                int read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                if (read == 0) break;
                length += read;
            }
            if (declared is not null && length != declared)
            {
                throw new IOException($"the Scan response was cut short ({length} of {declared} bytes)");
            }
            return (buffer, length);
        }
        catch
        {
            _pages.Return(buffer);
            throw;
        }
    }

    private static byte[] RequestBody(ScanPageRequest request)
    {
        var output = new ArrayBufferWriter<byte>(256 + (request.ExclusiveStartKey?.Length ?? 0));
        using (var w = new Utf8JsonWriter(output))
        {
            w.WriteStartObject();
            w.WriteString("TableName", request.TableName);
            if (request.ReturnConsumedCapacity) w.WriteString("ReturnConsumedCapacity", "TOTAL");
            if (request.ConsistentRead) w.WriteBoolean("ConsistentRead", true);
            if (request.TotalSegments > 1)
            {
                w.WriteNumber("Segment", request.Segment);
                w.WriteNumber("TotalSegments", request.TotalSegments);
            }
            if (request.Limit is int limit) w.WriteNumber("Limit", limit);
            if (request.ExclusiveStartKey is not null)
            {
                w.WritePropertyName("ExclusiveStartKey");
                w.WriteRawValue(request.ExclusiveStartKey, skipInputValidation: false);
            }
            w.WriteEndObject();
        }
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Finds the Items array and reads the page's other members.</summary>
    private static void Parse(ScanPage page)
    {
        var body = page.Body;
        var r = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 256 });
        if (!r.Read() || r.TokenType != JsonTokenType.StartObject) throw new InvalidDataException("the Scan response is not a JSON object");
        bool sawItems = false;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            string name = r.GetString()!;
            if (!r.Read()) break;
            switch (name)
            {
                case "Items":
                    if (r.TokenType != JsonTokenType.StartArray) throw new InvalidDataException("Items is not an array");
                    int start = (int)r.TokenStartIndex;
                    r.Skip();
                    page.Items = start..(int)r.BytesConsumed;
                    sawItems = true;
                    break;
                case "Count":
                    page.Count = r.GetInt32();
                    break;
                case "ScannedCount":
                    page.ScannedCount = r.GetInt32();
                    break;
                case "LastEvaluatedKey":
                    int keyStart = (int)r.TokenStartIndex;
                    r.Skip();
                    page.LastEvaluatedKey = body[keyStart..(int)r.BytesConsumed].ToArray();
                    break;
                case "ConsumedCapacity":
                    page.ConsumedCapacityUnits = ReadCapacityUnits(ref r);
                    break;
                default:
                    r.Skip();
                    break;
            }
        }
        if (r.TokenType != JsonTokenType.EndObject) throw new InvalidDataException("the Scan response is not a complete JSON object");
        if (!sawItems) page.Items = 0..0;
    }

    private static double? ReadCapacityUnits(ref Utf8JsonReader r)
    {
        if (r.TokenType != JsonTokenType.StartObject)
        {
            r.Skip();
            return null;
        }
        double? units = null;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            bool isUnits = r.ValueTextEquals("CapacityUnits"u8);
            r.Read();
            if (isUnits && r.TokenType == JsonTokenType.Number) units = r.GetDouble();
            else r.Skip();
        }
        return units;
    }

    private static AmazonDynamoDBException ServiceError(HttpResponseMessage response, ReadOnlySpan<byte> body)
    {
        string code = "UnknownError";
        string message = $"HTTP {(int)response.StatusCode}";
        try
        {
            var r = new Utf8JsonReader(body);
            while (r.Read())
            {
                if (r.TokenType != JsonTokenType.PropertyName || r.CurrentDepth != 1) continue;
                string name = r.GetString()!;
                r.Read();
                if (r.TokenType != JsonTokenType.String) continue;
                if (name == "__type") code = r.GetString()!.Split('#')[^1];
                else if (name.Equals("message", StringComparison.OrdinalIgnoreCase)) message = r.GetString()!;
            }
        }
        catch (JsonException)
        {
            message = Encoding.UTF8.GetString(body[..Math.Min(body.Length, 200)]);
        }
        string? requestId = response.Headers.TryGetValues("x-amzn-RequestId", out var ids) ? ids.FirstOrDefault() : null;
        var errorType = (int)response.StatusCode >= 500 ? ErrorType.Receiver : ErrorType.Sender;
        return code switch
        {
            "ResourceNotFoundException" => new ResourceNotFoundException(message, null, errorType, code, requestId, response.StatusCode),
            "ProvisionedThroughputExceededException" => new ProvisionedThroughputExceededException(message, null, errorType, code, requestId, response.StatusCode),
            "RequestLimitExceeded" => new RequestLimitExceededException(message, null, errorType, code, requestId, response.StatusCode),
            "InternalServerError" => new InternalServerErrorException(message, null, errorType, code, requestId, response.StatusCode),
            _ => new AmazonDynamoDBException(message, null, errorType, code, requestId, response.StatusCode),
        };
    }

    private static bool IsRetryable(AmazonDynamoDBException e) =>
        (int)e.StatusCode >= 500
        || e.ErrorCode is "ProvisionedThroughputExceededException" or "ThrottlingException" or "RequestLimitExceeded"
            or "LimitExceededException" or "TransactionInProgressException";

    public void Dispose() => _http.Dispose();
}
