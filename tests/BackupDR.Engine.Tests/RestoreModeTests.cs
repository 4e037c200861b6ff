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
        var (changed, deleted, extra) = await DriftAsync(target);
        return (target, changed, deleted, extra);
    }

    /// <summary>Changes 10 items, deletes 7 and adds 5 that the backup does not hold.</summary>
    private async Task<(Dictionary<string, string> Changed, int Deleted, int Extra)> DriftAsync(string table)
    {
        var items = (await services.DynamoDB.ScanAsync(new ScanRequest { TableName = table })).Items;
        var changed = new Dictionary<string, string>();
        foreach (var item in items.Take(10))
        {
            item["drift"] = new AttributeValue { S = "changed after the backup" };
            await services.DynamoDB.PutItemAsync(new PutItemRequest { TableName = table, Item = item });
            changed[ItemCanonical.Of(new() { ["pk"] = item["pk"], ["sk"] = item["sk"] })] = ItemCanonical.Of(item);
        }
        foreach (var item in items.Skip(10).Take(7))
        {
            await services.DynamoDB.DeleteItemAsync(new DeleteItemRequest { TableName = table, Key = new() { ["pk"] = item["pk"], ["sk"] = item["sk"] } });
        }
        await services.PutItemsAsync(table, Enumerable.Range(0, 5).Select(i => new Dictionary<string, AttributeValue>
        {
            ["pk"] = new() { S = $"extra-{i}" },
            ["sk"] = new() { N = "1" },
        }));
        return (changed, 7, 5);
    }

    [Fact]
    public async Task Upsert_writes_every_backup_item_and_keeps_the_others()
    {
        var (source, uri) = await BackedUpTableAsync(150, 301);
        var (target, _, deleted, extra) = await DriftedCopyAsync(source, uri);
        var host = new RecordingHost();

        var result = await RestoreAsync(uri, target, RestoreMode.Upsert, host);

        Assert.Equal(150, result.ItemsWritten);
        Assert.Equal(150 - deleted, result.ItemsOverwritten);
        Assert.Contains($"overwrites {150 - deleted} item(s) that share a key with the backup", Assert.Single(host.Questions));
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
        var host = new RecordingHost();

        var result = await RestoreAsync(uri, target, RestoreMode.MissingOnly, host);

        Assert.Equal(deleted, result.ItemsWritten);
        Assert.Equal(150 - deleted, result.ItemsSkipped);
        Assert.Empty(host.Questions);   // it overwrites and deletes nothing: nothing to be sure about
        var expected = await services.ReadTableAsync(source);
        var actual = await services.ReadTableAsync(target);
        Assert.Equal(150 + extra, actual.Count);
        foreach (var (key, value) in expected)
        {
            Assert.Equal(changed.TryGetValue(key, out var kept) ? kept : value, actual[key]);   // a changed item keeps its change
        }
    }

    [Fact]
    public async Task Exact_counts_and_asks_once_before_writing_then_leaves_the_table_equal_to_the_backup()
    {
        var (source, uri) = await BackedUpTableAsync(150, 303);
        var expected = await services.ReadTableAsync(source);
        var (_, deleted, extra) = await DriftAsync(source);   // the table itself drifted since its backup
        var host = new RecordingHost();

        var result = await RestoreAsync(uri, source, RestoreMode.Exact, host);

        Assert.Equal(150, result.ItemsWritten);
        Assert.Equal(extra, result.ItemsDeleted);
        Assert.Equal(150 - deleted, result.ItemsOverwritten);
        Assert.Equal(expected, await services.ReadTableAsync(source));
        string question = Assert.Single(host.Questions);
        Assert.Contains($"overwrites {150 - deleted} item(s) that share a key with the backup and deletes {extra} item(s) the backup does not hold", question);
        Assert.Contains("extra-", question);   // it names some of what it would delete
    }

    [Fact]
    public async Task Exact_declined_changes_nothing()
    {
        var (source, uri) = await BackedUpTableAsync(60, 304);
        await DriftAsync(source);
        var before = await services.ReadTableAsync(source);
        var host = new RecordingHost { Answer = false };

        var error = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(uri, source, RestoreMode.Exact, host));

        Assert.Equal(ErrorIds.NotConfirmed, error.ErrorId);
        Assert.Contains("nothing was written", error.Message);
        Assert.Single(host.Questions);
        Assert.Equal(before, await services.ReadTableAsync(source));
        Assert.Empty(Directory.GetFiles(_checkpoints, $"{source}-*.json"));   // not even a checkpoint
    }

    [Fact]
    public async Task Exact_refuses_a_table_not_named_as_the_backups_unless_forced()
    {
        var (source, uri) = await BackedUpTableAsync(40, 307);
        var (other, _, _, _) = await DriftedCopyAsync(source, uri);
        var before = await services.ReadTableAsync(other);
        var host = new RecordingHost();

        var refused = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(uri, other, RestoreMode.Exact, host));
        Assert.Equal(ErrorIds.TargetTableMismatch, refused.ErrorId);
        Assert.Equal(before, await services.ReadTableAsync(other));
        Assert.Empty(host.Questions);

        var forced = await RestoreRunner.RunAsync(new RestoreRequest { Uri = uri, TableName = other, Mode = RestoreMode.Exact, Force = true, CheckpointUri = _checkpoints },
            host, CancellationToken.None);
        Assert.Equal(5, forced.ItemsDeleted);
        Assert.Empty(host.Questions);   // forced: not asked
        Assert.Equal(await services.ReadTableAsync(source), await services.ReadTableAsync(other));
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
            Assert.Contains(Say.Resume, error.Message);
        }
        Assert.Single(Directory.GetFiles(_checkpoints, $"{target}-*.json"));
        int partial = (await services.ReadTableAsync(target)).Count;
        Assert.InRange(partial, 1, 1199);

        // Without -Resume a New restore refuses the half-written table, and says how to finish it.
        var refused = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(uri, target, null));
        Assert.Equal(ErrorIds.TargetTableNotEmpty, refused.ErrorId);
        Assert.Contains(Say.Resume, refused.Message);

        var counting = new CountingBatchWrites(wire);
        RestoreResult resumed;
        using (var folder = BackupFolder.Open(BackupLocation.Parse(uri), new AwsClientFactory(new())))
        {
            resumed = await new RestoreRunner(services.DynamoDB, counting, NullOperationHost.Instance)
                .RestoreAsync(folder, new RestoreRequest { Uri = uri, TableName = target, Resume = true, CheckpointUri = _checkpoints }, CancellationToken.None);
        }
        Assert.True(resumed.Resumed);
        Assert.Equal(1200, resumed.ItemsWritten);
        Assert.True(resumed.ItemsVerified > 0, "the items the checkpoint counted are read back from the table");
        Assert.Equal(0, resumed.ItemsRepaired);
        Assert.True(counting.WrittenKeys.Count < 1200, $"the resume wrote {counting.WrittenKeys.Count} items again: it should skip what the checkpoint holds");
        Assert.Equal(await services.ReadTableAsync(source), await services.ReadTableAsync(target));
        Assert.Empty(Directory.GetFiles(_checkpoints, $"{target}-*.json"));   // done: the checkpoint is gone
    }

    [Fact]
    public async Task A_forged_checkpoint_claiming_every_item_done_cannot_make_a_resume_report_items_it_did_not_write()
    {
        var (source, uri) = await BackedUpTableAsync(200, 308);
        string target = LocalServices.UniqueName("forged");
        using var wire = DynamoWireClient.For(services.DynamoDB, new AwsClientFactory(new()));
        var fast = new RetryPolicy(1, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1));
        using (var folder = BackupFolder.Open(BackupLocation.Parse(uri), new AwsClientFactory(new())))
        {
            await Assert.ThrowsAsync<BackupDRException>(() => new RestoreRunner(services.DynamoDB, new FailingAfter(wire, 0), NullOperationHost.Instance, fast)
                .RestoreAsync(folder, new RestoreRequest { Uri = uri, TableName = target, CheckpointUri = _checkpoints }, CancellationToken.None));
        }
        Assert.Empty(await services.ReadTableAsync(target));

        // Whoever can write where checkpoints are kept claims that every item of every file is in the table.
        string file = Assert.Single(Directory.GetFiles(_checkpoints, $"{target}-*.json"));
        var checkpoint = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(file))!.AsObject();
        var files = new System.Text.Json.Nodes.JsonObject();
        foreach (string line in File.ReadAllLines(Path.Combine(uri, "manifest-files.json")))
        {
            var entry = System.Text.Json.Nodes.JsonNode.Parse(line)!;
            long n = (long)entry["itemCount"]!;
            files[(string)entry["dataFile"]!] = new System.Text.Json.Nodes.JsonObject { ["items"] = n, ["written"] = n, ["skipped"] = 0 };
        }
        checkpoint["files"] = files;
        File.WriteAllText(file, checkpoint.ToJsonString());

        var resumed = await RestoreAsync(uri, target, null, resume: true);

        Assert.True(resumed.Resumed);
        Assert.Equal(0, resumed.ItemsVerified);     // none of the claims held
        Assert.Equal(200, resumed.ItemsRepaired);   // so every item was written after all
        Assert.Equal(200, resumed.ItemsWritten);
        Assert.Equal(await services.ReadTableAsync(source), await services.ReadTableAsync(target));
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
