using System.Collections.Concurrent;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Capacity;
using BackupDR.Engine.Format;
using BackupDR.Engine.Json;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Tests;

/// <summary>Records the key of every item each BatchWriteItem call carries, then lets dynalite write it.</summary>
internal sealed class CountingBatchWrites(IRestoreClient inner) : PassThroughRestoreClient(inner)
{
    public ConcurrentBag<string> WrittenKeys { get; } = [];

    public override async Task<BatchWriteOutcome> BatchWriteAsync(string tableName, IReadOnlyList<ReadOnlyMemory<byte>> items, bool returnConsumedCapacity, CancellationToken cancellationToken)
    {
        var outcome = await Inner.BatchWriteAsync(tableName, items, returnConsumedCapacity, cancellationToken);
        Assert.Empty(outcome.Unprocessed);   // dynalite never throttles; a retry would count an item twice here
        foreach (var json in items)
        {
            var item = DynamoJson.ReadItem(json.Span);
            WrittenKeys.Add(item["pk"].S + "|" + item["sk"].N);
        }
        return outcome;
    }
}

/// <summary>
/// The parallel paths move every item exactly once — across scan segments, encoders, data files
/// and writers — including with queues of one and the smallest parts, where every hand-off waits.
/// </summary>
public sealed class PipelineTests(LocalServices services) : IClassFixture<LocalServices>
{
    private const int ItemCount = 2500;

    private static readonly PipelineOptions Tiny = new()
    {
        Encoders = 3,
        ScanQueuePages = 1,
        PartSizeBytes = 1024,
        PartsInFlight = 1,
        RestoreQueueBatches = 1,
        RestoreReaders = 3,
        // A gen0 collection after every page and batch: the workers' state survives any number of them.
        GarbageBudgetBytes = 1,
    };

    private async Task<(string Table, Dictionary<string, string> Source)> SeedAsync(int seed)
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(seed, ItemCount));
        return (table, await services.ReadTableAsync(table));
    }

    private static string TempFolder()
    {
        string path = Path.Combine(Path.GetTempPath(), "bdr-pipe-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Every record of every data file, read back through the strict reader.</summary>
    private static async Task<List<string>> ReadAllKeysAsync(string uri)
    {
        using var folder = BackupFolder.Open(BackupLocation.Parse(uri), new AwsClientFactory(new()));
        var (report, loaded) = await new IntegrityChecker(folder, NullOperationHost.Instance).CheckAsync(IntegrityLevel.Full, CancellationToken.None);
        Assert.True(report.IsValid, string.Join("; ", report.Problems));
        var keys = new List<string>();
        foreach (var file in loaded!.Files)
        {
            var reader = await DataFileReader.OpenAsync(folder, file, CancellationToken.None);
            await using (reader)
            {
                while (await reader.NextLineAsync(CancellationToken.None) is { } line)
                {
                    var item = DynamoJson.ReadRecord(line.Span);
                    keys.Add(ItemCanonical.Of(new() { ["pk"] = item["pk"], ["sk"] = item["sk"] }));
                }
            }
        }
        return keys;
    }

    [Theory]
    [InlineData(1, 0)]       // one segment, no cap
    [InlineData(7, 0)]       // more segments than encoders
    [InlineData(5, 4000)]    // a read cap: small Scan pages (Limit), so files roll over inside pages
    public async Task Backup_writes_every_item_exactly_once_with_the_smallest_queues(int segments, double readCap)
    {
        var (table, source) = await SeedAsync(80 + segments);
        string folder = TempFolder();
        var results = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest
        {
            TableNames = [table],
            Target = BackupLocation.ForFolder(folder),
            Segments = segments,
            MaxDataFileBytes = 40_000,          // many files, each ending mid-page
            MaxReadCapacityUnits = readCap,
            Pipeline = Tiny,
        }, NullOperationHost.Instance, results.Add, CancellationToken.None);
        var backup = Assert.Single(results);

        var keys = await ReadAllKeysAsync(backup.Uri);
        Assert.Equal(ItemCount, keys.Count);
        Assert.Equal(ItemCount, keys.Distinct().Count());
        Assert.Equal(source.Keys.Order(StringComparer.Ordinal), keys.Order(StringComparer.Ordinal));
        Assert.True(backup.DataFileCount > 10, $"expected many data files, got {backup.DataFileCount}");
        if (readCap > 0) Assert.True(backup.ConsumedReadCapacityUnits > 0, "a capped backup reports what it consumed");
        else Assert.Null(backup.ConsumedReadCapacityUnits);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    public async Task Restore_writes_every_item_exactly_once_with_the_smallest_queues(int writers)
    {
        var (table, source) = await SeedAsync(90 + writers);
        string folder = TempFolder();
        var results = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest
        {
            TableNames = [table], Target = BackupLocation.ForFolder(folder), Segments = 4, MaxDataFileBytes = 100_000, Pipeline = Tiny,
        }, NullOperationHost.Instance, results.Add, CancellationToken.None);
        string uri = results[0].Uri;

        var dynamo = services.DynamoDB;
        using var wire = DynamoWireClient.For(dynamo, new AwsClientFactory(new()));
        var counting = new CountingBatchWrites(wire);
        using var backupFolder = BackupFolder.Open(BackupLocation.Parse(uri), new AwsClientFactory(new()));
        string target = LocalServices.UniqueName("pipe-restore");
        var restored = await new RestoreRunner(dynamo, counting, NullOperationHost.Instance).RestoreAsync(backupFolder,
            new RestoreRequest { Uri = uri, TableName = target, Parallelism = writers, Pipeline = Tiny }, CancellationToken.None);

        Assert.Equal(ItemCount, restored.ItemsWritten);
        Assert.Equal(ItemCount, counting.WrittenKeys.Count);
        Assert.Equal(ItemCount, counting.WrittenKeys.Distinct().Count());
        Assert.Equal(source, await services.ReadTableAsync(target));
        Assert.Null(restored.ConsumedWriteCapacityUnits);
    }

    [Fact]
    public void Pipeline_options_out_of_range_are_refused_with_a_stable_id()
    {
        foreach (var bad in new[]
        {
            new PipelineOptions { ScanQueuePages = 0 }, new PipelineOptions { PartSizeBytes = 10 }, new PipelineOptions { PartsInFlight = 0 },
            new PipelineOptions { Encoders = -1 }, new PipelineOptions { RestoreQueueBatches = -1 }, new PipelineOptions { RestoreReaders = 0 },
            new PipelineOptions { GarbageBudgetBytes = -1 },
        })
        {
            var error = Assert.Throws<BackupDRException>(bad.Validate);
            Assert.Equal(ErrorIds.InvalidArgument, error.ErrorId);
        }
    }

    [Fact]
    public void Capacity_limiter_counts_what_the_service_reports_and_learns_item_costs()
    {
        var limiter = new CapacityLimiter(100, 1.0);
        Assert.Equal(25, limiter.Estimate(25));
        limiter.Settle(25, 50, 25);              // items turned out to cost 2 units each
        Assert.Equal(50, limiter.Consumed);
        Assert.True(limiter.ServiceReportsCapacity);
        Assert.True(limiter.Estimate(25) > 25, "the estimate moves towards the reported cost");
        limiter.Settle(10, null, 5);             // no figure from the service: the reservation stands
        Assert.Equal(60, limiter.Consumed);
        Assert.Equal(10_000, new CapacityLimiter(1_000_000, 0.5).PageLimit(1));   // clamped
        Assert.Equal(50, new CapacityLimiter(100, 0.125).PageLimit(4));           // a quarter second of one segment's share
        Assert.Null(new CapacityLimiter(0, 1).PageLimit(4));                      // no cap, no Limit
        Assert.Throws<ArgumentOutOfRangeException>(() => new CapacityLimiter(-1, 1));
    }
}
