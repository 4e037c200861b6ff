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
/// <param name="ProjectKeys">When given, only these attributes (the key) are returned.</param>
internal sealed record ScanPageRequest(string TableName, int Segment, int TotalSegments, bool ConsistentRead, int? Limit, byte[]? ExclusiveStartKey,
    bool ReturnConsumedCapacity, SemaphoreSlim? PageSlots = null, IReadOnlyList<string>? ProjectKeys = null);

/// <summary>
/// What one BatchWriteItem call returned: the requests DynamoDB did not carry out (the items of puts,
/// the keys of deletes, as DynamoDB JSON), and the capacity it reports.
/// </summary>
internal sealed record BatchWriteOutcome(IReadOnlyList<ReadOnlyMemory<byte>> Unprocessed, double? ConsumedCapacityUnits);

/// <summary>The item writes a restore makes, on items and keys that are already DynamoDB JSON. A seam for tests.</summary>
internal interface IRestoreClient
{
    /// <param name="items">Each item as a DynamoDB JSON object (attribute name → typed value), checked by the caller.</param>
    Task<BatchWriteOutcome> BatchWriteAsync(string tableName, IReadOnlyList<ReadOnlyMemory<byte>> items, bool returnConsumedCapacity, CancellationToken cancellationToken);

    /// <summary>BatchWriteItem deletes. <paramref name="keys"/>: each a key as DynamoDB JSON.</summary>
    Task<BatchWriteOutcome> BatchDeleteAsync(string tableName, IReadOnlyList<ReadOnlyMemory<byte>> keys, bool returnConsumedCapacity, CancellationToken cancellationToken);

    /// <summary>
    /// The items of up to 100 keys that are in the table (consistent reads), as DynamoDB JSON: only the
    /// attributes in <paramref name="projection"/> (the key names, to learn which keys exist), or whole when null.
    /// </summary>
    Task<IReadOnlyList<ReadOnlyMemory<byte>>> FindItemsAsync(string tableName, IReadOnlyList<ReadOnlyMemory<byte>> keys, IReadOnlyList<string>? projection, CancellationToken cancellationToken);

    /// <summary>PutItem only if no item has the key (attribute_not_exists): false when one does.</summary>
    Task<bool> PutIfAbsentAsync(string tableName, ReadOnlyMemory<byte> item, string hashKeyName, CancellationToken cancellationToken);
}

/// <summary>
/// Scan and BatchWriteItem over DynamoDB's JSON protocol directly, signed with the SDK's SigV4
/// signer and the SDK's credentials and endpoint. The SDK builds (or marshals) an AttributeValue for
/// every value of every item; a backup only copies Scan's items into the export format, and a
/// restore sends the export's items back as they are, so items stay bytes here (docs/performance.md
/// has the measurements). Everything else — the credential chain, endpoint resolution
/// (AWS_ENDPOINT_URL_DYNAMODB, regions, FIPS) — stays the SDK's.
/// </summary>
/// <remarks>
/// Retries, with capped exponential backoff and jitter: throttling, 5xx, a dropped or truncated
/// response and a CRC-32 mismatch (x-amz-crc32, as the SDK checks it). Puts are idempotent, so a
/// BatchWriteItem whose response was lost is safe to send again. Other errors surface as the SDK's
/// exception types, so error translation is the same as for SDK calls.
/// </remarks>
internal sealed partial class DynamoWireClient : IRestoreClient, IDisposable
{
    private const string ScanTarget = "DynamoDB_20120810.Scan";
    private const string BatchWriteTarget = "DynamoDB_20120810.BatchWriteItem";
    private const string ContentType = "application/x-amz-json-1.0";
    private static readonly string UserAgent = "BackupDR/" + EngineInfo.Version;

    private readonly HttpClient _http;
    private readonly Uri _endpoint;
    private readonly AWSCredentials _credentials;
    private readonly RegionEndpoint _signingRegion;
    private readonly RetryPolicy _retry;
    private readonly TimeSpan _attemptTimeout;

    // Response buffers come from this client's own bounded pool: the process-wide shared pool would
    // keep a page-sized array per thread and per core, which is memory that grows with the thread count.
    // A Scan page holds at most 1 MB of items, which DynamoDB JSON rarely takes past 2 MiB; a larger
    // body gets a one-off buffer.
    private readonly BoundedBufferPool _pages = new(2 * 1024 * 1024, 16);

    public DynamoWireClient(Uri endpoint, AWSCredentials credentials, RegionEndpoint signingRegion, RetryPolicy? retry = null, TimeSpan? attemptTimeout = null)
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
    public static DynamoWireClient For(IAmazonDynamoDB sdkClient, AwsClientFactory factory)
    {
        var client = (AmazonDynamoDBClient)sdkClient;
        var endpoint = client.DetermineServiceOperationEndpoint(new ScanRequest { TableName = "t" });
        var config = client.Config;
        RegionEndpoint region = config.RegionEndpoint
            ?? (config.AuthenticationRegion is { Length: > 0 } auth ? RegionEndpoint.GetBySystemName(auth) : null)
            ?? FallbackRegionFactory.GetRegionEndpoint()
            ?? throw new AmazonClientException($"No AWS region is configured (RegionEndpoint). Set {Say.Region}, AWS_REGION or a profile's region.");
        var credentials = factory.ProfileCredentials() ?? DefaultAWSCredentialsIdentityResolver.GetCredentials(config);
        string url = endpoint.URL.EndsWith('/') ? endpoint.URL : endpoint.URL + "/";
        return new DynamoWireClient(new Uri(url), credentials, region, factory.Options.Retry, factory.Options.RequestTimeout);
    }

    /// <summary>Raised before each retry with the operation's name (for counting in tests and diagnostics).</summary>
    public event Action<string>? Retried;

    public Task<ScanPage> ScanAsync(ScanPageRequest request, CancellationToken cancellationToken) =>
        SendAsync(ScanTarget, "Scan", request.TableName, ScanBody(request), request.PageSlots, (buffer, length) =>
        {
            var page = new ScanPage(buffer, length, _pages, request.PageSlots);
            try
            {
                ParseScan(page);
                return page;
            }
            catch
            {
                page.Dispose();
                throw;
            }
        }, cancellationToken);

    public Task<BatchWriteOutcome> BatchWriteAsync(string tableName, IReadOnlyList<ReadOnlyMemory<byte>> items, bool returnConsumedCapacity, CancellationToken cancellationToken) =>
        SendBatchWriteAsync(tableName, items, deletes: false, returnConsumedCapacity, cancellationToken);

    public Task<BatchWriteOutcome> BatchDeleteAsync(string tableName, IReadOnlyList<ReadOnlyMemory<byte>> keys, bool returnConsumedCapacity, CancellationToken cancellationToken) =>
        SendBatchWriteAsync(tableName, keys, deletes: true, returnConsumedCapacity, cancellationToken);

    private Task<BatchWriteOutcome> SendBatchWriteAsync(string tableName, IReadOnlyList<ReadOnlyMemory<byte>> items, bool deletes, bool returnConsumedCapacity, CancellationToken cancellationToken) =>
        SendAsync(BatchWriteTarget, "BatchWriteItem", tableName, BatchWriteBody(tableName, items, deletes, returnConsumedCapacity), null, (buffer, length) =>
        {
            try
            {
                return ParseBatchWrite(buffer.AsSpan(0, length), tableName, deletes);
            }
            finally
            {
                _pages.Return(buffer);
            }
        }, cancellationToken);

    /// <summary>
    /// Sends one request and hands the body of its 200 response (a buffer from <see cref="_pages"/>,
    /// now <paramref name="accept"/>'s to return) to <paramref name="accept"/>, retrying what is worth
    /// retrying — a response that cannot be read included.
    /// </summary>
    private async Task<T> SendAsync<T>(string target, string operation, string tableName, byte[] body, SemaphoreSlim? slots,
        Func<byte[], int, T> accept, CancellationToken cancellationToken)
    {
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        for (int attempt = 1; ; attempt++)
        {
            Exception failure;
            try
            {
                var (buffer, length) = await AttemptAsync(target, body, slots, cancellationToken).ConfigureAwait(false);
                try
                {
                    return accept(buffer, length);
                }
                catch (JsonException e)
                {
                    throw new InvalidDataException($"the {operation} response is not valid JSON: {e.Message}", e);
                }
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
            if (_retry.NextDelay(attempt, started) is not TimeSpan delay)
            {
                throw failure is AmazonServiceException ? failure
                    : new AmazonClientException($"{operation} on '{tableName}' failed after {attempt} attempts: {failure.Message}", failure);
            }
            Retried?.Invoke(operation);
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<(byte[] Buffer, int Length)> AttemptAsync(string target, byte[] body, SemaphoreSlim? slots, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_attemptTimeout);
        var signed = await AWSSigV4Signer.SignAsync(
            new AWSSigningRequest
            {
                HttpMethod = HttpMethod.Post,
                RequestUri = _endpoint,
                Content = body,
                Headers = { ["Content-Type"] = ContentType, ["X-Amz-Target"] = target },
            },
            new AWSSigV4Parameters { Credentials = _credentials, Region = _signingRegion, Service = "dynamodb", SignPayload = true },
            timeout.Token).ConfigureAwait(false);
        using var message = new HttpRequestMessage(HttpMethod.Post, _endpoint) { Content = new ByteArrayContent(body) };
        message.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(ContentType);
        message.Headers.TryAddWithoutValidation("X-Amz-Target", target);
        message.Headers.TryAddWithoutValidation("User-Agent", UserAgent);
        foreach (var (name, value) in signed.Headers)
        {
            if (!name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase) && !name.Equals("Host", StringComparison.OrdinalIgnoreCase))
            {
                message.Headers.TryAddWithoutValidation(name, value);
            }
        }

        using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
        if (slots is not null)
        {
            // Backpressure: wait for room downstream before the body is read (waiting is not the server's fault).
            timeout.CancelAfter(Timeout.InfiniteTimeSpan);
            await slots.WaitAsync(cancellationToken).ConfigureAwait(false);
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
            slots?.Release();
            throw;
        }
        try
        {
            if (response.Headers.TryGetValues("x-amz-crc32", out var values) && uint.TryParse(values.First(), out uint expected)
                && Crc32.Compute(buffer.AsSpan(0, length)) != expected)
            {
                throw new InvalidDataException("the response does not match its x-amz-crc32 checksum");
            }
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw ServiceError(response, buffer.AsSpan(0, length));
            }
            return (buffer, length);
        }
        catch
        {
            _pages.Return(buffer);
            slots?.Release();
            throw;
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
                throw new IOException($"the response was cut short ({length} of {declared} bytes)");
            }
            return (buffer, length);
        }
        catch
        {
            _pages.Return(buffer);
            throw;
        }
    }

    private static byte[] ScanBody(ScanPageRequest request)
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
            if (request.ProjectKeys is { Count: > 0 } keys) WriteProjection(w, keys);
            if (request.ExclusiveStartKey is not null)
            {
                w.WritePropertyName("ExclusiveStartKey");
                w.WriteRawValue(request.ExclusiveStartKey, skipInputValidation: false);
            }
            w.WriteEndObject();
        }
        return output.WrittenSpan.ToArray();
    }

    private static byte[] BatchWriteBody(string tableName, IReadOnlyList<ReadOnlyMemory<byte>> items, bool deletes, bool returnConsumedCapacity)
    {
        int size = 128 + tableName.Length * 6;
        foreach (var item in items) size += item.Length + 32;
        var output = new ArrayBufferWriter<byte>(size);
        using (var w = new Utf8JsonWriter(output, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WritePropertyName("RequestItems");
            w.WriteStartObject();
            w.WriteStartArray(tableName);
            foreach (var item in items)
            {
                w.WriteStartObject();
                w.WritePropertyName(deletes ? "DeleteRequest"u8 : "PutRequest"u8);
                w.WriteStartObject();
                w.WritePropertyName(deletes ? "Key"u8 : "Item"u8);
                w.WriteRawValue(item.Span, skipInputValidation: true);   // checked by the caller (ItemWalker)
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            if (returnConsumedCapacity) w.WriteString("ReturnConsumedCapacity"u8, "TOTAL"u8);
            w.WriteEndObject();
        }
        return output.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Reads a BatchWriteItem response: the puts DynamoDB handed back as unprocessed (each item's
    /// DynamoDB JSON, copied) and the consumed capacity for <paramref name="tableName"/>.
    /// </summary>
    internal static BatchWriteOutcome ParseBatchWrite(ReadOnlySpan<byte> body, string tableName, bool deletes = false)
    {
        var r = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 256 });
        if (!r.Read() || r.TokenType != JsonTokenType.StartObject) throw new InvalidDataException("the BatchWriteItem response is not a JSON object");
        var unprocessed = new List<ReadOnlyMemory<byte>>();
        double? consumed = null;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("UnprocessedItems"u8))
            {
                r.Read();
                if (r.TokenType == JsonTokenType.Null) continue;
                if (r.TokenType != JsonTokenType.StartObject) throw new InvalidDataException("UnprocessedItems is not an object");
                while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
                {
                    string table = r.GetString()!;
                    if (table != tableName) throw new InvalidDataException($"UnprocessedItems names table '{table}', which was not written");
                    r.Read();
                    if (r.TokenType != JsonTokenType.StartArray) throw new InvalidDataException("UnprocessedItems holds no array of requests");
                    while (r.Read() && r.TokenType == JsonTokenType.StartObject)
                    {
                        unprocessed.Add(ReadWriteRequest(ref r, body, deletes));
                    }
                }
            }
            else if (r.ValueTextEquals("ConsumedCapacity"u8))
            {
                r.Read();
                if (r.TokenType != JsonTokenType.StartArray)
                {
                    r.Skip();
                    continue;
                }
                while (r.Read() && r.TokenType == JsonTokenType.StartObject)
                {
                    string? table = null;
                    double? units = null;
                    while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
                    {
                        bool isTable = r.ValueTextEquals("TableName"u8), isUnits = r.ValueTextEquals("CapacityUnits"u8);
                        r.Read();
                        if (isTable && r.TokenType == JsonTokenType.String) table = r.GetString();
                        else if (isUnits && r.TokenType == JsonTokenType.Number) units = r.GetDouble();
                        else r.Skip();
                    }
                    if (units is double u && (table is null || table == tableName)) consumed = (consumed ?? 0) + u;
                }
            }
            else
            {
                r.Read();
                r.Skip();
            }
        }
        if (r.TokenType != JsonTokenType.EndObject) throw new InvalidDataException("the BatchWriteItem response is not a complete JSON object");
        return new BatchWriteOutcome(unprocessed, consumed);
    }

    // On a write request's StartObject ({"PutRequest":{"Item":{...}}} or {"DeleteRequest":{"Key":{...}}});
    // returns on its EndObject.
    private static byte[] ReadWriteRequest(ref Utf8JsonReader r, ReadOnlySpan<byte> body, bool deletes)
    {
        var request = deletes ? "DeleteRequest"u8 : "PutRequest"u8;
        var member = deletes ? "Key"u8 : "Item"u8;
        byte[]? item = null;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (!r.ValueTextEquals(request)) throw new InvalidDataException($"UnprocessedItems holds a '{r.GetString()}', which was not sent");
            r.Read();
            if (r.TokenType != JsonTokenType.StartObject) throw new InvalidDataException("a write request is not an object");
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                bool isItem = r.ValueTextEquals(member);
                r.Read();
                if (isItem && r.TokenType == JsonTokenType.StartObject)
                {
                    int start = (int)r.TokenStartIndex;
                    r.Skip();
                    item = body[start..(int)r.BytesConsumed].ToArray();
                }
                else
                {
                    r.Skip();
                }
            }
        }
        return item ?? throw new InvalidDataException("an unprocessed write request has no item or key");
    }

    /// <summary>Finds the Items array and reads the page's other members.</summary>
    private static void ParseScan(ScanPage page)
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
