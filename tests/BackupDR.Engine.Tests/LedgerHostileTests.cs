using System.Text;
using Amazon.DynamoDBv2.Model;
using Amazon.S3.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Catalog;
using BackupDR.Engine.Ledger;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Tests;

/// <summary>
/// The ledger is an index, never the proof: a journal record or a ledger item — written by anyone able to
/// write the bucket or the ledger table — never makes a backup look present, committed or validated when
/// the backup itself says otherwise.
/// </summary>
public sealed class LedgerHostileTests(LocalServices services) : IClassFixture<LocalServices>
{
    private sealed class Warnings : IOperationHost
    {
        public List<string> Lines { get; } = [];
        public void Progress(OperationProgress progress) { }
        public void Verbose(string message) { }
        public void Warning(string message) { lock (Lines) Lines.Add(message); }
        public Task<bool> ConfirmAsync(string target, string action, CancellationToken cancellationToken) => Task.FromResult(true);
        public Task<bool> ConfirmDangerAsync(string target, string question, CancellationToken cancellationToken) => Task.FromResult(false);
    }

    private async Task<(string Table, string Bucket, BackupResult Backup)> BackedUpAsync(int count)
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(77, count));
        string bucket = await services.CreateBucketAsync();
        var results = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [table], Target = BackupLocation.ForBucket(bucket, "b"), MaxDataFileBytes = 16 * 1024 },
            NullOperationHost.Instance, results.Add, CancellationToken.None);
        return (table, bucket, results[0]);
    }

    private static Task<IReadOnlyList<ComplianceRow>> ComplianceAsync(string bucket, string table, LedgerOptions? ledger, IOperationHost? host = null) =>
        ComplianceChecker.CheckAsync(new ComplianceRequest
        {
            TargetUri = $"s3://{bucket}/b", TableNames = [table], MaxValidationAge = TimeSpan.FromDays(1), Ledger = ledger,
        }, host ?? NullOperationHost.Instance, CancellationToken.None);

    private static string Codes(ComplianceRow row) => string.Join(",", row.Reasons.Select(r => r.Split(':')[0]));

    private static LedgerRecord Validation(BackupResult backup, string sha, DateTimeOffset? at = null) => new()
    {
        Kind = RecordKind.Validation, Time = at ?? DateTimeOffset.UtcNow, TableName = backup.TableName, BackupId = backup.BackupId, SummarySha256 = sha,
        Host = "forger", Passed = true, Level = "Full", Items = backup.ItemCount,
    };

    private async Task PutJournalAsync(string bucket, string key, string body) =>
        await services.S3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = key, ContentBody = body });

    [Fact]
    public async Task Forged_journal_records_do_not_make_a_backup_validated()
    {
        var (table, bucket, backup) = await BackedUpAsync(120);
        string dir = $"b/{RecordJournal.FolderName}/{table}/{backup.BackupId}/";
        // 1. About other content (a summary hash that is not this backup's), correctly named.
        var otherContent = Validation(backup, Convert.ToBase64String(new byte[32]));
        await PutJournalAsync(bucket, dir + otherContent.Name + ".json", Encoding.UTF8.GetString(otherContent.ToBytes()));
        // 2. The right content, edited after it was named (its name no longer matches what it says).
        var genuine = Validation(backup, backup.SummarySha256!);
        await PutJournalAsync(bucket, dir + Validation(backup, backup.SummarySha256!, DateTimeOffset.UtcNow.AddSeconds(-5)).Name + ".json",
            Encoding.UTF8.GetString(genuine.ToBytes()));
        // 3. Naming another backup than the folder it is in; 4. too large; 5. not JSON; 6. a kind BackupDR does not write.
        await PutJournalAsync(bucket, dir + "20990101T000000000Z-validation-00000000.json", genuine.ToJson().ToJsonString().Replace(backup.BackupId, "20200101T000000000Z-00000000"));
        await PutJournalAsync(bucket, dir + "big.json", new string(' ', LedgerRecord.MaxBytes + 1));
        await PutJournalAsync(bucket, dir + "x.json", "{\"format\":");
        await PutJournalAsync(bucket, dir + "k.json", genuine.ToJson().ToJsonString().Replace("\"Validation\"", "\"Blessing\""));

        var warnings = new Warnings();
        var row = Assert.Single(await ComplianceAsync(bucket, table, null, warnings));
        Assert.False(row.Compliant);
        Assert.Equal("NotValidated", Codes(row));
        Assert.Null(row.LastFullValidation);
        Assert.Equal(5, warnings.Lines.Count(l => l.StartsWith("Not trusted", StringComparison.Ordinal)));
        Assert.Contains(warnings.Lines, l => l.Contains("its name is not its content's", StringComparison.Ordinal));
        Assert.Contains(warnings.Lines, l => l.Contains("another table or backup", StringComparison.Ordinal));

        // Sync indexes none of the untrusted ones, and the entry it writes is not validated.
        string ledgerName = LocalServices.UniqueName("ledger-forged");
        var sync = await LedgerSync.SyncAsync($"s3://{bucket}/b", new LedgerOptions(ledgerName), new AwsOptions(), NullOperationHost.Instance, CancellationToken.None);
        Assert.Equal(1, sync.Records);   // the well-formed record about other content: indexed, but it applies to no entry
        Assert.Equal(5, sync.Skipped.Count);
        var withLedger = Assert.Single(await ComplianceAsync(bucket, table, new LedgerOptions(ledgerName)));
        Assert.Equal("NotValidated", Codes(withLedger));
        var listed = await LedgerSync.JoinAsync($"s3://{bucket}/b", await Operations.ListBackupsAsync($"s3://{bucket}/b", table, new AwsOptions(), CancellationToken.None),
            table, new LedgerOptions(ledgerName), NullOperationHost.Instance, CancellationToken.None);
        Assert.Null(Assert.Single(listed).LastFullValidationAt);
    }

    [Fact]
    public async Task Forged_ledger_items_do_not_make_a_backup_present_committed_or_validated()
    {
        var (table, bucket, backup) = await BackedUpAsync(60);
        string ledgerName = LocalServices.UniqueName("ledger-items");
        var ledger = new LedgerOptions(ledgerName);
        await LedgerSync.SyncAsync($"s3://{bucket}/b", ledger, new AwsOptions(), NullOperationHost.Instance, CancellationToken.None);
        var dynamo = services.DynamoDB;
        // A newer "committed" backup that does not exist, with a Full validation of it and an entry saying so.
        string ghost = "20991231T235959000Z-0badf00d";
        await dynamo.PutItemAsync(new PutItemRequest
        {
            TableName = ledgerName,
            Item = new Dictionary<string, AttributeValue>
            {
                ["TableName"] = new() { S = table }, ["Key"] = new() { S = ghost }, ["Status"] = new() { S = "Committed" },
                ["Uri"] = new() { S = $"s3://{bucket}/b/{table}/{ghost}/" }, ["SummarySha256"] = new() { S = backup.SummarySha256 }, ["LastFullValidationAt"] = new() { S = "2099-12-31T23:59:59.000Z" },
            },
        });
        // A Full validation record of the real backup, in the ledger only, about other content.
        var other = Validation(backup, Convert.ToBase64String(new byte[32]));
        await new LedgerTable(dynamo, ledgerName).PutRecordAsync(other, CancellationToken.None);
        // And one whose item key does not match its content (edited in place).
        var genuine = Validation(backup, backup.SummarySha256!);
        await dynamo.PutItemAsync(new PutItemRequest
        {
            TableName = ledgerName,
            Item = new Dictionary<string, AttributeValue>
            {
                ["TableName"] = new() { S = table }, ["Key"] = new() { S = $"{backup.BackupId}#20200101T000000000Z-validation-00000000" },
                ["Record"] = new() { S = Encoding.UTF8.GetString(genuine.ToBytes()) },
            },
        });
        var warnings = new Warnings();
        var row = Assert.Single(await ComplianceAsync(bucket, table, ledger, warnings));
        Assert.Equal(backup.BackupId, row.LatestBackupId);   // the ghost is passed over: the backup says it is not there
        Assert.Equal("NotValidated", Codes(row));
        Assert.Contains(warnings.Lines, l => l.Contains(ghost, StringComparison.Ordinal) && l.Contains("not there", StringComparison.Ordinal));
        Assert.Contains(warnings.Lines, l => l.Contains("its key is not its content's", StringComparison.Ordinal));
        // The same row from the backups themselves.
        Assert.Equal(Codes(row), Codes(Assert.Single(await ComplianceAsync(bucket, table, null))));

        // A sync marks the ghost Missing; it is never listed.
        await LedgerSync.SyncAsync($"s3://{bucket}/b", ledger, new AwsOptions(), NullOperationHost.Instance, CancellationToken.None);
        var item = await dynamo.GetItemAsync(new GetItemRequest { TableName = ledgerName, Key = new() { ["TableName"] = new() { S = table }, ["Key"] = new() { S = ghost } } });
        Assert.Equal("Missing", item.Item["Status"].S);
    }

    [Fact]
    public async Task A_genuine_Full_validation_does_not_hide_a_backup_damaged_since()
    {
        var (table, bucket, backup) = await BackedUpAsync(300);
        var report = await Operations.CheckIntegrityAsync(backup.Uri, IntegrityLevel.Full, new AwsOptions(), NullOperationHost.Instance, CancellationToken.None);
        var write = LedgerWriter.ForValidation(report, "test", new AwsOptions(), DateTimeOffset.UtcNow)!;
        Assert.Empty(await LedgerWriter.WriteAsync(new LedgerOptions(LocalServices.UniqueName("ledger-damaged")), [write], NullOperationHost.Instance));
        Assert.True(Assert.Single(await ComplianceAsync(bucket, table, null)).Compliant);

        // A data file goes missing after the validation.
        var objects = await services.S3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = $"b/{table}/{backup.BackupId}/data/" });
        await services.S3.DeleteObjectAsync(bucket, objects.S3Objects[0].Key);
        var row = Assert.Single(await ComplianceAsync(bucket, table, null));
        Assert.False(row.Compliant);
        Assert.Equal("BackupDamaged", Codes(row));
        Assert.NotNull(row.LastFullValidation);   // on record, and not enough
    }
}
