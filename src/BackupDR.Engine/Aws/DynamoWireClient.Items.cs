using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using Amazon.DynamoDBv2;

namespace BackupDR.Engine.Aws;

/// <summary>The single-item and key operations a restore into an existing table needs (MissingOnly, a resume's verification).</summary>
internal sealed partial class DynamoWireClient
{
    private const string BatchGetTarget = "DynamoDB_20120810.BatchGetItem";
    private const string PutItemTarget = "DynamoDB_20120810.PutItem";
    private const int MaxBatchGet = 100;

    public async Task<IReadOnlyList<ReadOnlyMemory<byte>>> FindItemsAsync(string tableName, IReadOnlyList<ReadOnlyMemory<byte>> keys,
        IReadOnlyList<string>? projection, CancellationToken cancellationToken)
    {
        if (keys.Count > MaxBatchGet) throw new ArgumentException($"At most {MaxBatchGet} keys per call.", nameof(keys));
        var found = new List<ReadOnlyMemory<byte>>();
        var pending = keys;
        long started = Stopwatch.GetTimestamp();
        for (int attempt = 1; pending.Count > 0; attempt++)
        {
            var (items, unprocessed) = await SendAsync(BatchGetTarget, "BatchGetItem", tableName, BatchGetBody(tableName, pending, projection), null,
                (buffer, length) =>
                {
                    try
                    {
                        return ParseBatchGet(buffer.AsSpan(0, length), tableName);
                    }
                    finally
                    {
                        _pages.Return(buffer);
                    }
                }, cancellationToken).ConfigureAwait(false);
            found.AddRange(items);
            if (unprocessed.Count > pending.Count)
            {
                throw new InvalidDataException($"BatchGetItem returned {unprocessed.Count} unprocessed keys for {pending.Count} asked");
            }
            pending = unprocessed;
            if (pending.Count == 0) break;
            if (_retry.NextDelay(attempt, started) is not TimeSpan delay)
            {
                throw new AmazonDynamoDBException(
                    $"BatchGetItem on '{tableName}' left {pending.Count} keys unprocessed after {attempt} attempts (the table's read capacity is exhausted).");
            }
            Retried?.Invoke("BatchGetItem");
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
        }
        return found;
    }

    public async Task<bool> PutIfAbsentAsync(string tableName, ReadOnlyMemory<byte> item, string hashKeyName, CancellationToken cancellationToken)
    {
        try
        {
            return await SendAsync(PutItemTarget, "PutItem", tableName, PutIfAbsentBody(tableName, item, hashKeyName), null, (buffer, _) =>
            {
                _pages.Return(buffer);
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonDynamoDBException e) when (e.ErrorCode == "ConditionalCheckFailedException")
        {
            return false;
        }
    }

    private static void WriteProjection(Utf8JsonWriter w, IReadOnlyList<string> names)
    {
        w.WriteString("ProjectionExpression", string.Join(",", names.Select((_, i) => "#k" + i)));
        w.WriteStartObject("ExpressionAttributeNames");
        for (int i = 0; i < names.Count; i++) w.WriteString("#k" + i, names[i]);
        w.WriteEndObject();
    }

    private static byte[] BatchGetBody(string tableName, IReadOnlyList<ReadOnlyMemory<byte>> keys, IReadOnlyList<string>? projection)
    {
        var output = new ArrayBufferWriter<byte>(256 + keys.Sum(k => k.Length + 2));
        using (var w = new Utf8JsonWriter(output, RawWriterOptions))
        {
            w.WriteStartObject();
            w.WriteStartObject("RequestItems");
            w.WriteStartObject(tableName);
            w.WriteStartArray("Keys");
            foreach (var key in keys) w.WriteRawValue(key.Span, skipInputValidation: true);   // built by ItemWalker.KeyText
            w.WriteEndArray();
            w.WriteBoolean("ConsistentRead", true);
            if (projection is not null) WriteProjection(w, projection);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return output.WrittenSpan.ToArray();
    }

    private static byte[] PutIfAbsentBody(string tableName, ReadOnlyMemory<byte> item, string hashKeyName)
    {
        var output = new ArrayBufferWriter<byte>(256 + item.Length);
        using (var w = new Utf8JsonWriter(output, RawWriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("TableName", tableName);
            w.WritePropertyName("Item");
            w.WriteRawValue(item.Span, skipInputValidation: true);
            w.WriteString("ConditionExpression", "attribute_not_exists(#h)");
            w.WriteStartObject("ExpressionAttributeNames");
            w.WriteString("#h", hashKeyName);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return output.WrittenSpan.ToArray();
    }

    /// <summary>The items of a BatchGetItem response for <paramref name="tableName"/>, and its UnprocessedKeys.</summary>
    internal static (List<ReadOnlyMemory<byte>> Items, List<ReadOnlyMemory<byte>> Unprocessed) ParseBatchGet(ReadOnlySpan<byte> body, string tableName)
    {
        var items = new List<ReadOnlyMemory<byte>>();
        var unprocessed = new List<ReadOnlyMemory<byte>>();
        var r = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 256 });
        if (!r.Read() || r.TokenType != JsonTokenType.StartObject) throw new InvalidDataException("the BatchGetItem response is not a JSON object");
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            bool responses = r.ValueTextEquals("Responses"u8), left = r.ValueTextEquals("UnprocessedKeys"u8);
            r.Read();
            if ((!responses && !left) || r.TokenType != JsonTokenType.StartObject)
            {
                r.Skip();
                continue;
            }
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                string table = r.GetString()!;
                if (table != tableName) throw new InvalidDataException($"BatchGetItem answered for table '{table}', which was not asked");
                r.Read();
                if (responses)
                {
                    if (r.TokenType != JsonTokenType.StartArray) throw new InvalidDataException("Responses holds no array of items");
                    while (r.Read() && r.TokenType == JsonTokenType.StartObject)
                    {
                        int start = (int)r.TokenStartIndex;
                        r.Skip();
                        items.Add(body[start..(int)r.BytesConsumed].ToArray());
                    }
                }
                else
                {
                    // {"Keys":[...], "ProjectionExpression":..., ...}
                    if (r.TokenType != JsonTokenType.StartObject) throw new InvalidDataException("UnprocessedKeys holds no object");
                    while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
                    {
                        bool isKeys = r.ValueTextEquals("Keys"u8);
                        r.Read();
                        if (!isKeys || r.TokenType != JsonTokenType.StartArray)
                        {
                            r.Skip();
                            continue;
                        }
                        while (r.Read() && r.TokenType == JsonTokenType.StartObject)
                        {
                            int start = (int)r.TokenStartIndex;
                            r.Skip();
                            unprocessed.Add(body[start..(int)r.BytesConsumed].ToArray());
                        }
                    }
                }
            }
        }
        if (r.TokenType != JsonTokenType.EndObject) throw new InvalidDataException("the BatchGetItem response is not a complete JSON object");
        return (items, unprocessed);
    }

    private static readonly JsonWriterOptions RawWriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
