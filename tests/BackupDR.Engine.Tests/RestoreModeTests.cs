using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Json;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Tests;

/// <summary>Fails every BatchWriteItem after the first <paramref name="allowed"/>, as a restore killed mid-way would stop.</summary>
internal sealed class FailingAfter(IRestoreClient inner, int allowed) : PassThroughRestoreClient(inner)
{
    private int _calls;
    public int Calls => _calls;

    public override Task<BatchWriteOutcome> BatchWriteAsync(string tableName, IReadOnlyList<ReadOnlyMemory<byte>> items, bool returnConsumedCapacity, CancellationToken cancellationToken) =>
        Interlocked.Increment(ref _calls) > allowed
            ? throw new HttpRequestException("the connection was reset (injected)")
            : Inner.BatchWriteAsync(tableName, items, returnConsumedCapacity, cancellationToken);
}

/// <summary>Restore into an existing table: New, Upsert, MissingOnly, Exact; and resuming an interrupted restore.</summary>
public sealed class RestoreModeTests(LocalServices services) : IClassFixture<LocalServices>
{
    private readonly string _checkpoints = TempFolder();

    private static string TempFolder()
    {
        string path = Path.Combine(Path.GetTempPath(), "bdr-modes-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(path);
        return path;
    }

    private async Task<(string Table, string Uri)> BackedUpTableAsync(int count, int seed)
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(seed, count));
        var results = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [table], Target = BackupLocation.ForFolder(TempFolder()), Segments = 2, MaxDataFileBytes = 64 * 1024 },
            NullOperationHost.Instance, results.Add, CancellationToken.None);
        return (table, results[0].Uri);
    }

    private Task<RestoreResult> RestoreAsync(string uri, string table, RestoreMode? mode, IOperationHost? host = null, bool resume = false) =>
        RestoreRunner.RunAsync(new RestoreRequest { Uri = uri, TableName = table, Mode = mode, Resume = resume, CheckpointUri = _checkpoints },
            host ?? NullOperationHost.Instance, CancellationToken.None);

    /// <summary>A copy of the source table, then: some items changed, some deleted, some added that the backup does not hold.</summary>
    private async Task<(string Target, Dictionary<string, string> Changed, int Deleted, int Extra)> DriftedCopyAsync(string source, string uri)
    {
        string target = LocalServices.UniqueName("drift");
        await RestoreAsync(uri, target, RestoreMode.New);
        var items = (await services.DynamoDB.ScanAsync(new ScanRequest { TableName = target })).Items;
        var changed = new Dictionary<string, string>();
        foreach (var item in items.Take(10))
        {
            item["drift"] = new AttributeValue { S = "changed after the backup" };
            await services.DynamoDB.PutItemAsync(new PutItemRequest { TableName = target, Item = item });
            changed[ItemCanonical.Of(new() { ["pk"] = item["pk"], ["sk"] = item["sk"] })] = ItemCanonical.Of(item);
        }
        foreach (var item in items.Skip(10).Take(7))
        {
            await services.DynamoDB.DeleteItemAsync(new DeleteItemRequest { TableName = target, Key = new() { ["pk"] = item["pk"], ["sk"] = item["sk"] } });
        }
        await services.PutItemsAsync(target, Enumerable.Range(0, 5).Select(i => new Dictionary<string, AttributeValue>
        {
            ["pk"] = new() { S = $"extra-{i}" },
            ["sk"] = new() { N = "1" },
        }));
        return (target, changed, 7, 5);
    }

    [Fact]
    public async Task Upsert_writes_every_backup_item_and_keeps_the_others()
    {
        var (source, uri) = await BackedUpTableAsync(150, 301);
        var (target, _, _, extra) = await DriftedCopyAsync(source, uri);

        var result = await RestoreAsync(uri, target, RestoreMode.Upsert);

        Assert.Equal(150, result.ItemsWritten);
        var expected = await services.ReadTableAsync(source);
        var actual = await services.ReadTableAsync(target);
        Assert.Equal(150 + extra, actual.Count);
        Assert.All(expected, e => Assert.Equal(e.Value, actual[e.Key]));   // changed items are replaced, deleted ones are back
    }

    [Fact]
    public async Task MissingOnly_writes_only_absent_keys_and_never_overwrites()
    {
        var (source, uri) = await BackedUpTableAsync(150, 302);
        var (target, changed, deleted, extra) = await DriftedCopyAsync(source, uri);

        var result = await RestoreAsync(uri, target, RestoreMode.MissingOnly);

        Assert.Equal(deleted, result.ItemsWritten);
        Assert.Equal(150 - deleted, result.ItemsSkipped);
        var expected = await services.ReadTableAsync(source);
        var actual = await services.ReadTableAsync(target);
        Assert.Equal(150 + extra, actual.Count);
        foreach (var (key, value) in expected)
        {
            Assert.Equal(changed.TryGetValue(key, out var kept) ? kept : value, actual[key]);   // a changed item keeps its change
        }
    }

    [Fact]
    public async Task Exact_leaves_the_table_equal_to_the_backup()
    {
        var (source, uri) = await BackedUpTableAsync(150, 303);
        var (target, _, _, extra) = await DriftedCopyAsync(source, uri);
        var host = new RecordingHost();

        var result = await RestoreAsync(uri, target, RestoreMode.Exact, host);

        Assert.Equal(150, result.ItemsWritten);
        Assert.Equal(extra, result.ItemsDeleted);
        Assert.Equal(await services.ReadTableAsync(source), await services.ReadTableAsync(target));
        var question = Assert.Single(host.Confirmations);
        Assert.Contains($"Delete {extra} item(s) that are not in the backup", question);
    }

    [Fact]
    public async Task Exact_keeps_the_extra_items_when_the_deletion_is_declined()
    {
        var (source, uri) = await BackedUpTableAsync(60, 304);
        var (target, _, _, extra) = await DriftedCopyAsync(source, uri);
        var host = new RecordingHost { Answer = false };

        var result = await RestoreAsync(uri, target, RestoreMode.Exact, host);

        Assert.Equal(0, result.ItemsDeleted);
        Assert.Equal(extra, result.ExtraItemsKept);
        Assert.Equal(60 + extra, (await services.ReadTableAsync(target)).Count);
        Assert.Contains(host.Warnings, w => w.Contains("deletion was declined", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_interrupted_restore_resumes_from_its_checkpoint_and_writes_every_item()
    {
        var (source, uri) = await BackedUpTableAsync(1200, 305);
        string target = LocalServices.UniqueName("resume");
        using var wire = DynamoWireClient.For(services.DynamoDB, new AwsClientFactory(new()));
        var failing = new FailingAfter(wire, allowed: 20);
        var request = new RestoreRequest { Uri = uri, TableName = target, Parallelism = 2, CheckpointUri = _checkpoints };
        var fast = new RetryPolicy(2, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(2));

        using (var folder = BackupFolder.Open(BackupLocation.Parse(uri), new AwsClientFactory(new())))
        {
            var error = await Assert.ThrowsAsync<BackupDRException>(() => new RestoreRunner(services.DynamoDB, failing, NullOperationHost.Instance, fast)
                .RestoreAsync(folder, request, CancellationToken.None));
            Assert.Contains("-Resume", error.Message);
        }
        Assert.Single(Directory.GetFiles(_checkpoints, $"{target}-*.json"));
        int partial = (await services.ReadTableAsync(target)).Count;
        Assert.InRange(partial, 1, 1199);

        // Without -Resume a New restore refuses the half-written table, and says how to finish it.
        var refused = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(uri, target, null));
        Assert.Equal(ErrorIds.TargetTableNotEmpty, refused.ErrorId);
        Assert.Contains("-Resume", refused.Message);

        var counting = new CountingBatchWrites(wire);
        RestoreResult resumed;
        using (var folder = BackupFolder.Open(BackupLocation.Parse(uri), new AwsClientFactory(new())))
        {
            resumed = await new RestoreRunner(services.DynamoDB, counting, NullOperationHost.Instance)
                .RestoreAsync(folder, new RestoreRequest { Uri = uri, TableName = target, Resume = true, CheckpointUri = _checkpoints }, CancellationToken.None);
        }
        Assert.True(resumed.Resumed);
        Assert.Equal(1200, resumed.ItemsWritten);
        Assert.True(counting.WrittenKeys.Count < 1200, $"the resume wrote {counting.WrittenKeys.Count} items again: it should skip what the checkpoint holds");
        Assert.Equal(await services.ReadTableAsync(source), await services.ReadTableAsync(target));
        Assert.Empty(Directory.GetFiles(_checkpoints, $"{target}-*.json"));   // done: the checkpoint is gone
    }

    [Fact]
    public async Task Resume_refuses_what_it_cannot_resume_and_writes_nothing()
    {
        var (_, uri) = await BackedUpTableAsync(30, 306);

        // -Resume with nothing recorded and nothing written: nothing to lose, so the restore just runs ...
        string done = LocalServices.UniqueName("fresh");
        var fresh = await RestoreAsync(uri, done, null, resume: true);
        Assert.False(fresh.Resumed);
        Assert.Equal(30, fresh.ItemsWritten);
        // ... but a table that holds items and has no checkpoint may hold a restore recorded elsewhere.
        var none = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(uri, done, RestoreMode.Upsert, resume: true));
        Assert.Equal(ErrorIds.CheckpointNotFound, none.ErrorId);

        string target = LocalServices.UniqueName("noresume");

        // A checkpoint left by an interrupted Upsert: -Mode Exact would be another restore.
        using var wire = DynamoWireClient.For(services.DynamoDB, new AwsClientFactory(new()));
        var fast = new RetryPolicy(1, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1));
        using (var folder = BackupFolder.Open(BackupLocation.Parse(uri), new AwsClientFactory(new())))
        {
            await Assert.ThrowsAsync<BackupDRException>(() => new RestoreRunner(services.DynamoDB, new FailingAfter(wire, 0), NullOperationHost.Instance, fast)
                .RestoreAsync(folder, new RestoreRequest { Uri = uri, TableName = target, Mode = RestoreMode.Upsert, CheckpointUri = _checkpoints }, CancellationToken.None));
        }
        var conflict = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(uri, target, RestoreMode.Exact, resume: true));
        Assert.Equal(ErrorIds.InvalidArgument, conflict.ErrorId);

        // A checkpoint of another state of the backup.
        string file = Assert.Single(Directory.GetFiles(_checkpoints, $"{target}-*.json"));
        File.WriteAllText(file, File.ReadAllText(file).Replace("\"manifestSummarySha256\": \"", "\"manifestSummarySha256\": \"X", StringComparison.Ordinal));
        var mismatch = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(uri, target, null, resume: true));
        Assert.Equal(ErrorIds.CheckpointMismatch, mismatch.ErrorId);

        File.WriteAllText(file, "{ not json");
        var invalid = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(uri, target, null, resume: true));
        Assert.Equal(ErrorIds.CheckpointInvalid, invalid.ErrorId);
        Assert.Empty(await services.ReadTableAsync(target));
    }
}
