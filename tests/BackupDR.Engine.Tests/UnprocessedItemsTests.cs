using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Tests;

/// <summary>
/// dynalite never returns UnprocessedItems, so this client does what a throttled DynamoDB does: it
/// sends only part of each batch on and hands the rest back as unprocessed.
/// </summary>
internal sealed class WithholdingBatchWrites(IRestoreClient inner, int withholdPerCall, int callsBeforeGivingUp) : PassThroughRestoreClient(inner)
{
    private int _calls;
    public int Calls => _calls;

    public override async Task<BatchWriteOutcome> BatchWriteAsync(string tableName, IReadOnlyList<ReadOnlyMemory<byte>> items, bool returnConsumedCapacity, CancellationToken cancellationToken)
    {
        int call = Interlocked.Increment(ref _calls);
        bool withhold = callsBeforeGivingUp < 0 || call <= callsBeforeGivingUp;
        int keep = withhold ? Math.Max(0, items.Count - withholdPerCall) : items.Count;
        if (keep > 0)
        {
            var sent = await Inner.BatchWriteAsync(tableName, items.Take(keep).ToList(), returnConsumedCapacity, cancellationToken);
            Assert.Empty(sent.Unprocessed);
        }
        return new BatchWriteOutcome(items.Skip(keep).ToList(), null);
    }
}

public sealed class UnprocessedItemsTests(LocalServices services) : IClassFixture<LocalServices>
{
    private async Task<string> BackupAsync(int count, int seed)
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(seed, count));
        string folder = Path.Combine(Path.GetTempPath(), "bdr-unprocessed-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        var results = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [table], Target = BackupLocation.ForFolder(folder) },
            NullOperationHost.Instance, results.Add, CancellationToken.None);
        return results[0].Uri;
    }

    [Fact]
    public async Task Unprocessed_items_are_retried_until_every_item_is_written()
    {
        string uri = await BackupAsync(400, 61);
        using var wire = DynamoWireClient.For(services.DynamoDB, new AwsClientFactory(new()));
        var dynamo = new WithholdingBatchWrites(wire, withholdPerCall: 10, callsBeforeGivingUp: 20);
        string target = LocalServices.UniqueName("retried");
        var folder = BackupFolder.Open(BackupLocation.Parse(uri), new Aws.AwsClientFactory(new()));

        var fast = new RetryPolicy(12, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(5));
        var result = await new RestoreRunner(services.DynamoDB, dynamo, NullOperationHost.Instance, fast).RestoreAsync(folder, new RestoreRequest { Uri = uri, TableName = target }, CancellationToken.None);

        Assert.Equal(400, result.ItemsWritten);
        Assert.True(dynamo.Calls > 16, $"expected retries, saw {dynamo.Calls} calls");   // 16 batches without retries
        Assert.Equal(400, (await services.ReadTableAsync(target)).Count);
    }

    [Fact]
    public async Task Items_that_are_never_accepted_fail_the_restore_and_are_named()
    {
        string uri = await BackupAsync(30, 62);
        using var wire = DynamoWireClient.For(services.DynamoDB, new AwsClientFactory(new()));
        var dynamo = new WithholdingBatchWrites(wire, withholdPerCall: 1, callsBeforeGivingUp: -1);
        var folder = BackupFolder.Open(BackupLocation.Parse(uri), new Aws.AwsClientFactory(new()));

        var fast = new RetryPolicy(4, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(5));
        var error = await Assert.ThrowsAsync<BackupDRException>(() => new RestoreRunner(services.DynamoDB, dynamo, NullOperationHost.Instance, fast)
            .RestoreAsync(folder, new RestoreRequest { Uri = uri, TableName = LocalServices.UniqueName("never"), Parallelism = 1 }, CancellationToken.None));

        Assert.Equal(ErrorIds.ItemsNotWritten, error.ErrorId);
        Assert.Contains("\"pk\":{\"S\":\"r62-", error.Message);   // the unwritten item's key is named
    }
}
