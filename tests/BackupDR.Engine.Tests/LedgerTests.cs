using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Ledger;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Tests;

/// <summary>The ledger hears of a backup as it runs: Started when it begins, Committed when it commits, Failed when it fails (its partial files removed).</summary>
public sealed class LedgerTests(LocalServices services) : IClassFixture<LocalServices>
{
    /// <summary>Cancels the run as soon as the backup's start is recorded: the backup fails mid-way.</summary>
    private sealed class StopAfterStart(IBackupObserver inner, CancellationTokenSource stop) : IBackupObserver
    {
        public async Task StartedAsync(BackupStart backup, CancellationToken cancellationToken)
        {
            await inner.StartedAsync(backup, cancellationToken);
            stop.Cancel();
        }

        public Task FailedAsync(BackupStart backup, BackupDRException error) => inner.FailedAsync(backup, error);
    }

    private async Task<string?> StatusAsync(string ledger, string table, string backupId) =>
        (await services.DynamoDB.GetItemAsync(new GetItemRequest
        {
            TableName = ledger, ConsistentRead = true,
            Key = new() { ["TableName"] = new AttributeValue { S = table }, ["Key"] = new AttributeValue { S = backupId } },
        })).Item?.GetValueOrDefault("Status")?.S;

    [Fact]
    public async Task A_backup_is_Started_then_Committed_or_Failed_and_the_ledger_can_itself_be_backed_up()
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(908, 400));
        string bucket = await services.CreateBucketAsync();
        var ledger = new LedgerOptions(LocalServices.UniqueName("ledger-runs"));
        var target = BackupLocation.ForBucket(bucket, "runs");

        // A run that is stopped once its start is recorded.
        var observer = new LedgerWriter.BackupObserver(ledger, new AwsOptions(), NullOperationHost.Instance);
        using var stop = new CancellationTokenSource();
        var starts = new List<BackupStart>();
        var recording = new StopAfterStart(new Recorder(observer, starts), stop);
        await Assert.ThrowsAsync<BackupDRException>(() => BackupRunner.RunAsync(
            new BackupRequest { TableNames = [table], Target = target, Observer = recording }, NullOperationHost.Instance, _ => { }, stop.Token));
        Assert.Empty(observer.Failures);
        var failed = Assert.Single(starts);
        Assert.Equal("Failed", await StatusAsync(ledger.TableName, table, failed.BackupId));

        // A run that finishes: Started, then Committed when the host records the result.
        var results = new List<BackupResult>();
        starts.Clear();
        var second = new Recorder(new LedgerWriter.BackupObserver(ledger, new AwsOptions(), NullOperationHost.Instance), starts, ledger.TableName, services, table);
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [table], Target = target, Observer = second }, NullOperationHost.Instance, results.Add, CancellationToken.None);
        Assert.Equal("Started", second.StatusSeenAtStart);
        Assert.Empty(await LedgerWriter.WriteAsync(ledger, [LedgerWriter.ForBackup(results[0], new AwsOptions())], NullOperationHost.Instance));
        Assert.Equal("Committed", await StatusAsync(ledger.TableName, table, results[0].BackupId));

        // A sync leaves the failed run Failed (its files are gone, as BackupDR removed them), and never revives it.
        var sync = await LedgerSync.SyncAsync($"s3://{bucket}/runs", ledger, new AwsOptions(), NullOperationHost.Instance, CancellationToken.None);
        Assert.Equal(0, sync.MarkedMissing);
        Assert.Equal("Failed", await StatusAsync(ledger.TableName, table, failed.BackupId));

        // The ledger is a table like any other: BackupDR backs it up, and the backup verifies in full.
        var ledgerBackup = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [ledger.TableName], Target = target }, NullOperationHost.Instance, ledgerBackup.Add, CancellationToken.None);
        Assert.True(ledgerBackup[0].ItemCount >= 2);
        var check = await Operations.CheckIntegrityAsync(ledgerBackup[0].Uri, Validation.IntegrityLevel.Full, new AwsOptions(), NullOperationHost.Instance, CancellationToken.None);
        Assert.True(check.IsValid, string.Join("; ", check.Problems));
    }

    /// <summary>Passes the events on, keeping the starts (and, optionally, the ledger's status just after the start was recorded).</summary>
    private sealed class Recorder(IBackupObserver inner, List<BackupStart> starts, string? ledger = null, LocalServices? services = null, string? table = null) : IBackupObserver
    {
        public string? StatusSeenAtStart { get; private set; }

        public async Task StartedAsync(BackupStart backup, CancellationToken cancellationToken)
        {
            starts.Add(backup);
            await inner.StartedAsync(backup, cancellationToken);
            if (ledger is not null)
            {
                StatusSeenAtStart = (await services!.DynamoDB.GetItemAsync(new GetItemRequest
                {
                    TableName = ledger, ConsistentRead = true,
                    Key = new() { ["TableName"] = new AttributeValue { S = table }, ["Key"] = new AttributeValue { S = backup.BackupId } },
                }, cancellationToken)).Item?.GetValueOrDefault("Status")?.S;
            }
        }

        public Task FailedAsync(BackupStart backup, BackupDRException error) => inner.FailedAsync(backup, error);
    }
}
