using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;

namespace BackupDR.Bench;

/// <summary>
/// The ceilings: what the SDK alone achieves against the same service with the same parallelism,
/// doing nothing with the items. BackupDR's steps are compared to these.
/// </summary>
internal static class RawSteps
{
    /// <summary>
    /// Creates the table and writes items 0..N-1 with BatchWriteItem. With --prebuilt (the ceiling
    /// measurement) every request is built before the clock starts; otherwise items are generated
    /// on the fly (seeding tables too large to hold in memory).
    /// </summary>
    public static async Task WriteAsync(Options options, JsonObject result)
    {
        string table = options.Get("table");
        long count = options.Int("items", 100_000);
        int itemSize = options.Int("item-size", 1024);
        int parallelism = options.Int("parallelism", 4);
        bool prebuilt = options.Flag("prebuilt");
        using var dynamo = Program.Dynamo();
        await CreateTableAsync(dynamo, table).ConfigureAwait(false);

        var requests = Channel.CreateBounded<List<WriteRequest>>(prebuilt ? (int)(count / 25 + 1) : parallelism * 4);
        async Task Produce()
        {
            var batch = new List<WriteRequest>(25);
            for (long i = 0; i < count; i++)
            {
                batch.Add(new WriteRequest { PutRequest = new PutRequest { Item = BenchItems.Create(i, itemSize) } });
                if (batch.Count == 25) { await requests.Writer.WriteAsync(batch).ConfigureAwait(false); batch = new List<WriteRequest>(25); }
            }
            if (batch.Count > 0) await requests.Writer.WriteAsync(batch).ConfigureAwait(false);
            requests.Writer.Complete();
        }

        Task producer = Task.Run(Produce);
        if (prebuilt) await producer.ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        long written = 0;
        double consumed = 0;
        object gate = new();
        var writers = Enumerable.Range(0, parallelism).Select(_ => Task.Run(async () =>
        {
            await foreach (var batch in requests.Reader.ReadAllAsync().ConfigureAwait(false))
            {
                var pending = batch;
                while (pending.Count > 0)
                {
                    var response = await dynamo.BatchWriteItemAsync(new BatchWriteItemRequest
                    {
                        RequestItems = new() { [table] = pending },
                    }).ConfigureAwait(false);
                    double units = response.ConsumedCapacity?.Sum(c => c.CapacityUnits ?? 0) ?? 0;
                    int left = response.UnprocessedItems is not null && response.UnprocessedItems.TryGetValue(table, out var l) ? l.Count : 0;
                    Interlocked.Add(ref written, pending.Count - left);
                    lock (gate) consumed += units;
                    pending = left > 0 ? response.UnprocessedItems![table] : [];
                }
            }
        })).ToArray();
        await Task.WhenAll(writers).ConfigureAwait(false);
        await producer.ConfigureAwait(false);
        result["items"] = written;
        result["seconds"] = clock.Elapsed.TotalSeconds;
        result["consumedCapacityUnits"] = consumed;
        result["parallelism"] = parallelism;
    }

    /// <summary>A parallel Scan that only counts items.</summary>
    public static async Task ScanAsync(Options options, JsonObject result)
    {
        string table = options.Get("table");
        int segments = options.Int("segments", 4);
        using var dynamo = Program.Dynamo();
        var clock = Stopwatch.StartNew();
        long items = 0;
        var tasks = Enumerable.Range(0, segments).Select(segment => Task.Run(async () =>
        {
            Dictionary<string, AttributeValue>? start = null;
            do
            {
                var request = new ScanRequest { TableName = table, ExclusiveStartKey = start };
                if (segments > 1) { request.Segment = segment; request.TotalSegments = segments; }
                var page = await dynamo.ScanAsync(request).ConfigureAwait(false);
                Interlocked.Add(ref items, page.Items?.Count ?? 0);
                start = page.LastEvaluatedKey is { Count: > 0 } ? page.LastEvaluatedKey : null;
            }
            while (start is not null);
        })).ToArray();
        await Task.WhenAll(tasks).ConfigureAwait(false);
        result["items"] = items;
        result["seconds"] = clock.Elapsed.TotalSeconds;
        result["segments"] = segments;
    }

    public static async Task DeleteTableAsync(Options options, JsonObject result)
    {
        using var dynamo = Program.Dynamo();
        await dynamo.DeleteTableAsync(options.Get("table")).ConfigureAwait(false);
        result["table"] = options.Get("table");
    }

    private static async Task CreateTableAsync(IAmazonDynamoDB dynamo, string table)
    {
        await dynamo.CreateTableAsync(new CreateTableRequest
        {
            TableName = table,
            BillingMode = BillingMode.PAY_PER_REQUEST,
            AttributeDefinitions = [new("pk", ScalarAttributeType.S), new("sk", ScalarAttributeType.N)],
            KeySchema = [new("pk", KeyType.HASH), new("sk", KeyType.RANGE)],
        }).ConfigureAwait(false);
        for (int i = 0; i < 600; i++)
        {
            var d = await dynamo.DescribeTableAsync(table).ConfigureAwait(false);
            if (d.Table.TableStatus == TableStatus.ACTIVE) return;
            await Task.Delay(50).ConfigureAwait(false);
        }
        throw new TimeoutException($"{table} did not become ACTIVE");
    }
}
