using Amazon.DynamoDBv2.Model;
using Amazon.S3.Model;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Catalog;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Tests;

/// <summary>
/// The Export engine (docs/format.md §13): DynamoDB's export written into the backup's folder, verified by its own
/// rules, wrapped as a BackupDR backup that every reader reads — validated Full, listed, restored equal to the table
/// at the export's point; refused without PITR; its data files as much part of it as a scan backup's.
/// </summary>
public sealed class ExportEngineTests(LocalServices services) : IClassFixture<LocalServices>
{
    private static Task<IntegrityReport> CheckAsync(string uri, IntegrityLevel level, DateTimeOffset? point = null) =>
        Operations.CheckIntegrityAsync(uri, level, new Aws.AwsOptions(), NullOperationHost.Instance, CancellationToken.None, read: new ReadOptions(point));

    private static async Task<BackupResult> BackUpAsync(string table, string bucket, DateTimeOffset? at = null, bool enable = false)
    {
        var results = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest
        {
            TableNames = [table], Target = BackupLocation.ForBucket(bucket, "x"), Engine = BackupEngine.Export, ExportTime = at, EnablePointInTimeRecovery = enable,
        }, NullOperationHost.Instance, results.Add, CancellationToken.None);
        return results.Single();
    }

    [Fact]
    public async Task An_export_backup_validates_Full_lists_and_restores_equal_to_the_table_at_its_point()
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(970, 1500));
        string bucket = await services.CreateBucketAsync();

        // PITR off: refused, nothing written.
        var off = await Assert.ThrowsAsync<BackupDRException>(() => BackUpAsync(table, bucket));
        Assert.Equal(ErrorIds.PointInTimeRecoveryDisabled, off.ErrorId);
        Assert.Contains("update-continuous-backups", off.Message);
        Assert.Empty((await services.S3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket })).S3Objects ?? []);

        // Asked to, the backup turns PITR on; then a point, then changes after it.
        var first = await BackUpAsync(table, bucket, enable: true);
        Assert.Equal(BackupEngine.Export, first.Engine);
        Assert.Equal(1500, first.ItemCount);
        var atPoint = await services.ReadTableAsync(table);
        await Task.Delay(30);
        var point = DateTimeOffset.UtcNow;
        await Task.Delay(30);
        await services.PutItemsAsync(table, TestItems.Random(971, 100));
        await services.DynamoDB.DeleteItemAsync(new DeleteItemRequest { TableName = table, Key = new() { ["pk"] = TestItems.Random(970, 1)[0]["pk"], ["sk"] = TestItems.Random(970, 1)[0]["sk"] } });

        var past = await BackUpAsync(table, bucket, at: point);
        Assert.Equal(1500, past.ItemCount);
        Assert.NotNull(past.ExportArn);
        var full = await CheckAsync(past.Uri, IntegrityLevel.Full);
        Assert.True(full.IsValid, string.Join("; ", full.Problems));
        Assert.Equal(Format.SourceFormat.BackupDR, full.Format);
        Assert.Equal(1500, full.ItemsVerified);
        var listed = await Operations.ListBackupsAsync($"s3://{bucket}/x", table, new Aws.AwsOptions(), CancellationToken.None);
        Assert.Equal(2, listed.Count(b => b.Status == BackupStatus.Committed));
        Assert.Equal(past.ExportTime, listed.Single(b => b.BackupId == past.BackupId).PointInTime);   // from the marker: a listing shows the point
        string restored = LocalServices.UniqueName("from-export");
        await RestoreRunner.RunAsync(new Restore.RestoreRequest { Uri = past.Uri, TableName = restored, CheckpointUri = ForeignFixtures.Folder("bdr-export-engine-cp") }, NullOperationHost.Instance, CancellationToken.None);
        Assert.Equal(atPoint, await services.ReadTableAsync(restored));

        // The export's files are part of the backup: one removed is found; an object added is not part of it.
        string prefix = past.Uri[$"s3://{bucket}/".Length..];
        var objects = (await services.S3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = prefix })).S3Objects;
        Assert.Contains(objects, o => o.Key.Contains("/AWSDynamoDB/", StringComparison.Ordinal) && o.Key.EndsWith("manifest-summary.md5", StringComparison.Ordinal));
        var data = objects.First(o => o.Key.Contains("/data/", StringComparison.Ordinal) && o.Key.EndsWith(".json.gz", StringComparison.Ordinal));
        await services.S3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = prefix + "AWSDynamoDB/extra.json", ContentBody = "{}" });
        await services.S3.DeleteObjectAsync(bucket, data.Key);
        var damaged = await CheckAsync(past.Uri, IntegrityLevel.Quick);
        Assert.Contains(damaged.Problems, p => p.Code == ProblemCodes.MissingDataFile);
        Assert.Contains(damaged.Problems, p => p.Code == ProblemCodes.UnexpectedObject && p.File!.Contains("extra.json", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_Export_engine_refuses_a_folder_and_the_Scan_engines_options_before_anything_is_done()
    {
        string table = await services.CreateTableAsync();
        var folder = await Assert.ThrowsAsync<BackupDRException>(() => BackupRunner.RunAsync(new BackupRequest
        {
            TableNames = [table], Target = BackupLocation.ForFolder(ForeignFixtures.Folder("bdr-export-folder")), Engine = BackupEngine.Export,
        }, NullOperationHost.Instance, _ => { }, CancellationToken.None));
        Assert.Equal(ErrorIds.InvalidArgument, folder.ErrorId);
        string bucket = await services.CreateBucketAsync();
        var scanWithTime = await Assert.ThrowsAsync<BackupDRException>(() => BackupRunner.RunAsync(new BackupRequest
        {
            TableNames = [table], Target = BackupLocation.ForBucket(bucket, "x"), ExportTime = DateTimeOffset.UtcNow,
        }, NullOperationHost.Instance, _ => { }, CancellationToken.None));
        Assert.Equal(ErrorIds.InvalidArgument, scanWithTime.ErrorId);
    }

    /// <summary>Forged version-2 summaries: the engine's claims are checked, never followed — data keys of another export or outside one, an engine that is not one, version 1 with an engine.</summary>
    [Theory]
    [InlineData("data files of another export", "AWSDynamoDB/01796253503459-aaaaaaaa/data/abc.json.gz", "Export", 2, "arn:aws:dynamodb:us-east-1:000000000000:table/t/export/01796253503459-9f970c89")]
    [InlineData("a data file that climbs out", "AWSDynamoDB/01796253503459-9f970c89/data/../../../x.json.gz", "Export", 2, "arn:aws:dynamodb:us-east-1:000000000000:table/t/export/01796253503459-9f970c89")]
    [InlineData("a scan backup's data file with an export engine", "data/s000-f0000.json.gz", "Export", 2, "arn:aws:dynamodb:us-east-1:000000000000:table/t/export/01796253503459-9f970c89")]
    [InlineData("an engine BackupDR does not know", "data/s000-f0000.json.gz", "Magic", 2, null)]
    [InlineData("version 1 claiming the export engine", "AWSDynamoDB/01796253503459-9f970c89/data/abc.json.gz", "Export", 1, "arn:aws:dynamodb:us-east-1:000000000000:table/t/export/01796253503459-9f970c89")]
    [InlineData("an ARN that is not an export's", "AWSDynamoDB/01796253503459-9f970c89/data/abc.json.gz", "Export", 2, "arn:aws:s3:::bucket/01796253503459-9f970c89")]
    public async Task Forged_export_summaries_are_InvalidManifest(string what, string dataKey, string engine, int version, string? arn)
    {
        _ = what;
        var files = new[] { ForgedBackup.Gzipped(dataKey.Contains("..", StringComparison.Ordinal) ? "data/s000-f0000.json.gz" : dataKey, ForgedBackup.Lines(ForgedBackup.Items(5))) };
        byte[]? filesJson = null;
        if (dataKey.Contains("..", StringComparison.Ordinal))
        {
            filesJson = Format.BackupFormat.Serialize(files.Select(f => new Format.DataFileEntry
            {
                DataFile = dataKey, ItemCount = f.Items, SizeBytes = f.Stored.Length, UncompressedSizeBytes = f.Uncompressed, Sha256Checksum = "x", Md5Checksum = "x",
            }));
        }
        string folder = await ForgedBackup.LocalAsync("t-forged", files, s => { s.Engine = engine; s.FormatVersion = version; s.ExportArn = arn; }, filesJson: filesJson);
        var report = await CheckAsync(folder, IntegrityLevel.Quick);
        Assert.False(report.IsValid);
        Assert.Contains(report.Problems, p => p.Code == ProblemCodes.InvalidManifest);
    }

    /// <summary>
    /// -PointInTime among a table folder's backups: the export backup whose point is the latest at or before it;
    /// a time before every point is PointInTimeNotCovered naming the earliest; a scan backup has no point; and an
    /// unreadable or mislabelled summary among the candidates is a named problem, never a silently earlier choice.
    /// </summary>
    [Fact]
    public async Task A_point_in_time_chooses_among_a_table_folders_export_backups_and_unreadable_candidates_are_problems()
    {
        const string exportId = "01796253503459-9f970c89";
        var now = DateTimeOffset.UtcNow;
        string root = Path.Combine(Path.GetTempPath(), "bdr-points-" + Guid.NewGuid().ToString("N")[..8]);
        string tableFolder = Path.Combine(root, "t-points");
        var store = new LocalBackupStore(tableFolder);
        var files = new[] { ForgedBackup.Gzipped($"AWSDynamoDB/{exportId}/data/abc.json.gz", ForgedBackup.Lines(ForgedBackup.Items(5))) };
        async Task<string> ExportAsync(DateTimeOffset started, DateTimeOffset point)
        {
            string id = Format.BackupFormat.NewBackupId(started);
            await ForgedBackup.WriteAsync(store, id + "/", "t-points", files, s =>
            {
                (s.Engine, s.FormatVersion, s.ExportArn, s.ExportType) = ("Export", 2, $"arn:aws:dynamodb:us-east-1:000000000000:table/t-points/export/{exportId}", "FULL_EXPORT");
                s.ExportTime = point;
            }, backupId: id);
            return id;
        }
        string older = await ExportAsync(now.AddHours(-2), now.AddHours(-2));
        string newer = await ExportAsync(now.AddHours(-1), now.AddHours(-1));
        string scan = await ForgedBackup.WriteAsync(store, Format.BackupFormat.NewBackupId(now.AddMinutes(-30)) + "/", "t-points", [ForgedBackup.Gzipped("data/s000-f0000.json.gz", ForgedBackup.Lines(ForgedBackup.Items(5)))]);

        var between = await CheckAsync(tableFolder, IntegrityLevel.Full, now.AddMinutes(-90));
        Assert.True(between.IsValid, string.Join("; ", between.Problems));
        Assert.Equal(older, between.BackupId);
        Assert.Contains(between.Limits, l => l.Contains(older, StringComparison.Ordinal));
        Assert.Equal(newer, (await CheckAsync(tableFolder, IntegrityLevel.Quick, now)).BackupId);
        var before = await Assert.ThrowsAsync<BackupDRException>(() => CheckAsync(tableFolder, IntegrityLevel.Quick, now.AddHours(-3)));
        Assert.Equal(ErrorIds.PointInTimeNotCovered, before.ErrorId);
        Assert.Contains($"{now.AddHours(-2):u}", before.Message);
        var scanPoint = await Assert.ThrowsAsync<BackupDRException>(() => CheckAsync(Path.Combine(tableFolder, scan), IntegrityLevel.Quick, now));
        Assert.Equal(ErrorIds.InvalidArgument, scanPoint.ErrorId);
        Assert.Contains("no single point", scanPoint.Message);

        // A newer committed backup whose summary cannot be read, or names another backup: which point it holds is unknown.
        string unreadable = Format.BackupFormat.NewBackupId(now);
        await store.PutAsync($"{unreadable}/{Format.BackupFormat.CommitMarkerKey}", "{}"u8.ToArray(), CancellationToken.None);
        await store.PutAsync($"{unreadable}/{Format.BackupFormat.ManifestSummaryKey}", "not json"u8.ToArray(), CancellationToken.None);
        var unknown = await CheckAsync(tableFolder, IntegrityLevel.Quick, now.AddMinutes(1));
        Assert.Contains(unknown.Problems, p => p.Code == ProblemCodes.InvalidManifest && p.File!.StartsWith(unreadable, StringComparison.Ordinal));
        Assert.Null(unknown.BackupId);
        await store.PutAsync($"{unreadable}/{Format.BackupFormat.ManifestSummaryKey}", await File.ReadAllBytesAsync(Path.Combine(tableFolder, newer, Format.BackupFormat.ManifestSummaryKey)), CancellationToken.None);
        var mislabelled = await CheckAsync(tableFolder, IntegrityLevel.Quick, now.AddMinutes(1));
        Assert.Contains(mislabelled.Problems, p => p.Code == ProblemCodes.BackupIdMismatch);

        // Only scan backups: none holds a point.
        string scansOnly = Path.Combine(root, "t-scans");
        await ForgedBackup.WriteAsync(new LocalBackupStore(scansOnly), Format.BackupFormat.NewBackupId(now) + "/", "t-scans", [ForgedBackup.Gzipped("data/s000-f0000.json.gz", ForgedBackup.Lines(ForgedBackup.Items(5)))]);
        var none = await Assert.ThrowsAsync<BackupDRException>(() => CheckAsync(scansOnly, IntegrityLevel.Quick, now));
        Assert.Equal(ErrorIds.PointInTimeNotCovered, none.ErrorId);
        Assert.Contains("scan backup", none.Message);
    }

    private static Task<RestoreResult> ImportAsync(string uri, string table, RestoreMode? mode = null) =>
        RestoreRunner.RunAsync(new Restore.RestoreRequest { Uri = uri, TableName = table, Engine = RestoreEngine.Import, Mode = mode }, NullOperationHost.Instance, CancellationToken.None);

    /// <summary>Restore by DynamoDB's Import from S3: a scan backup with a global index and an export backup, each into a new table equal to its source, indexes and all; the figures are the import's.</summary>
    [Fact]
    public async Task Import_restores_scan_and_export_backups_into_new_tables_equal_to_the_source_with_their_indexes()
    {
        string table = LocalServices.UniqueName("gsi");
        await services.DynamoDB.CreateTableAsync(new CreateTableRequest
        {
            TableName = table, BillingMode = Amazon.DynamoDBv2.BillingMode.PAY_PER_REQUEST,
            KeySchema = [new("pk", Amazon.DynamoDBv2.KeyType.HASH), new("sk", Amazon.DynamoDBv2.KeyType.RANGE)],
            AttributeDefinitions = [new("pk", Amazon.DynamoDBv2.ScalarAttributeType.S), new("sk", Amazon.DynamoDBv2.ScalarAttributeType.N), new("g", Amazon.DynamoDBv2.ScalarAttributeType.S)],
            GlobalSecondaryIndexes = [new GlobalSecondaryIndex
            {
                IndexName = "by-g", KeySchema = [new("g", Amazon.DynamoDBv2.KeyType.HASH)], Projection = new Projection { ProjectionType = Amazon.DynamoDBv2.ProjectionType.ALL },
            }],
        });
        await Tables.TableSchema.WaitUntilActiveAsync(services.DynamoDB, table, TimeSpan.FromMinutes(1), CancellationToken.None);
        var items = TestItems.Random(980, 900);
        foreach (var (item, i) in items.Select((x, i) => (x, i))) item["g"] = new AttributeValue { S = $"group-{i % 7}" };
        await services.PutItemsAsync(table, items);
        string bucket = await services.CreateBucketAsync();
        var scan = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [table], Target = BackupLocation.ForBucket(bucket, "x"), MaxDataFileBytes = 32 * 1024 }, NullOperationHost.Instance, scan.Add, CancellationToken.None);
        var export = await BackUpAsync(table, bucket, enable: true);
        var source = await services.ReadTableAsync(table);

        foreach (var backup in new[] { scan[0], export })
        {
            string target = LocalServices.UniqueName("imported");
            var result = await ImportAsync(backup.Uri, target);
            Assert.Equal(RestoreEngine.Import, result.Engine);
            Assert.NotNull(result.ImportArn);
            Assert.Equal(900, result.ItemsWritten);
            Assert.True(result.TableCreated);
            Assert.Equal(source, await services.ReadTableAsync(target));
            var described = await Tables.TableSchema.DescribeAsync(services.DynamoDB, target, CancellationToken.None);
            Assert.Equal("by-g", Assert.Single(described.GlobalSecondaryIndexes).IndexName);
            var live = await Operations.CheckIntegrityAsync(backup.Uri, IntegrityLevel.Live, new Aws.AwsOptions(), NullOperationHost.Instance, CancellationToken.None, target);
            Assert.True(live.IsValid, string.Join("; ", live.Problems));
        }

        // Only a new table: an existing one, another mode; no local indexes; no folder.
        var exists = await Assert.ThrowsAsync<BackupDRException>(() => ImportAsync(scan[0].Uri, table));
        Assert.Equal(ErrorIds.TargetTableNotEmpty, exists.ErrorId);
        Assert.Equal(ErrorIds.InvalidArgument, (await Assert.ThrowsAsync<BackupDRException>(() => ImportAsync(scan[0].Uri, LocalServices.UniqueName("u"), RestoreMode.Upsert))).ErrorId);
        string withLsi = await services.CreateTableAsync(withIndexes: true);
        await services.PutItemsAsync(withLsi, TestItems.Random(981, 10));
        var lsi = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [withLsi], Target = BackupLocation.ForBucket(bucket, "x") }, NullOperationHost.Instance, lsi.Add, CancellationToken.None);
        var local = await Assert.ThrowsAsync<BackupDRException>(() => ImportAsync(lsi[0].Uri, LocalServices.UniqueName("lsi")));
        Assert.Contains("local secondary indexes", local.Message);
        var folderBackup = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [withLsi], Target = BackupLocation.ForFolder(ForeignFixtures.Folder("bdr-import-folder")) }, NullOperationHost.Instance, folderBackup.Add, CancellationToken.None);
        Assert.Equal(ErrorIds.InvalidArgument, (await Assert.ThrowsAsync<BackupDRException>(() => ImportAsync(folderBackup[0].Uri, LocalServices.UniqueName("f")))).ErrorId);
    }

    /// <summary>The Auto engine says why it chose: a folder or a small table is scanned; a table past the threshold with PITR on is exported, one with PITR off scanned.</summary>
    [Fact]
    public async Task Auto_chooses_by_target_size_and_PITR_and_says_why()
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(990, 50));
        string bucket = await services.CreateBucketAsync();
        async Task<BackupResult> AutoAsync(BackupLocation target, long threshold)
        {
            var results = new List<BackupResult>();
            await BackupRunner.RunAsync(new BackupRequest { TableNames = [table], Target = target, Engine = BackupEngine.Auto, AutoExportMinBytes = threshold },
                NullOperationHost.Instance, results.Add, CancellationToken.None);
            return results.Single();
        }
        var small = await AutoAsync(BackupLocation.ForBucket(bucket, "auto"), BackupRunner.AutoExportMinBytes);
        Assert.Equal(BackupEngine.Scan, small.Engine);
        Assert.Contains("under the 10 GiB", small.EngineReason);
        var folder = await AutoAsync(BackupLocation.ForFolder(ForeignFixtures.Folder("bdr-auto")), 0);
        Assert.Equal(BackupEngine.Scan, folder.Engine);
        Assert.Contains("folder", folder.EngineReason);
        var noPitr = await AutoAsync(BackupLocation.ForBucket(bucket, "auto"), 0);
        Assert.Equal(BackupEngine.Scan, noPitr.Engine);
        Assert.Contains("point-in-time recovery off", noPitr.EngineReason);
        await services.DynamoDB.UpdateContinuousBackupsAsync(new UpdateContinuousBackupsRequest
        {
            TableName = table, PointInTimeRecoverySpecification = new PointInTimeRecoverySpecification { PointInTimeRecoveryEnabled = true },
        });
        var exported = await AutoAsync(BackupLocation.ForBucket(bucket, "auto"), 0);
        Assert.Equal(BackupEngine.Export, exported.Engine);
        Assert.Contains("without read capacity", exported.EngineReason);
        Assert.True((await CheckAsync(exported.Uri, IntegrityLevel.Full)).IsValid);
    }

    /// <summary>
    /// Incremental backups: a full export backup, then two incrementals each continuing the last; each validates
    /// Full as its chain; each restores to the table as it was at its point; retention keeping one keeps its chain;
    /// a missing base is ExportChainGap.
    /// </summary>
    [Fact]
    public async Task An_incremental_chain_validates_restores_to_each_point_and_survives_retention()
    {
        string table = await services.CreateTableAsync();
        var all = TestItems.Random(995, 400);
        await services.PutItemsAsync(table, all);
        string bucket = await services.CreateBucketAsync();
        async Task<BackupResult> IncrementalAsync()
        {
            await Task.Delay(2100);   // the local endpoint's shortest incremental window (AWS: 15 minutes)
            var results = new List<BackupResult>();
            await BackupRunner.RunAsync(new BackupRequest { TableNames = [table], Target = BackupLocation.ForBucket(bucket, "x"), Engine = BackupEngine.Export, Incremental = true },
                NullOperationHost.Instance, results.Add, CancellationToken.None);
            return results.Single();
        }
        var noBase = await Assert.ThrowsAsync<BackupDRException>(() => BackupRunner.RunAsync(new BackupRequest
        {
            TableNames = [table], Target = BackupLocation.ForBucket(bucket, "x"), Engine = BackupEngine.Export, Incremental = true, EnablePointInTimeRecovery = true,
        }, NullOperationHost.Instance, _ => { }, CancellationToken.None));
        Assert.Contains("make a full one first", noBase.Message);

        var full = await BackUpAsync(table, bucket, enable: true);
        await services.PutItemsAsync(table, TestItems.Random(996, 50));
        foreach (var item in all.Take(30))
        {
            await services.DynamoDB.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = table, Key = new() { ["pk"] = item["pk"], ["sk"] = item["sk"] },
                UpdateExpression = "SET v2 = :v", ExpressionAttributeValues = new() { [":v"] = new AttributeValue { S = "changed" } },
            });
        }
        var first = await IncrementalAsync();
        var atFirst = await services.ReadTableAsync(table);
        Assert.Equal(full.BackupId, first.BaseBackupId);
        Assert.Equal(80, first.ItemCount);   // 50 new + 30 updated: change records
        foreach (var item in all.Skip(100).Take(20)) await services.DynamoDB.DeleteItemAsync(new DeleteItemRequest { TableName = table, Key = new() { ["pk"] = item["pk"], ["sk"] = item["sk"] } });
        var second = await IncrementalAsync();
        var atSecond = await services.ReadTableAsync(table);
        Assert.Equal(first.BackupId, second.BaseBackupId);

        foreach (var (backup, state) in new[] { (first, atFirst), (second, atSecond) })
        {
            var check = await CheckAsync(backup.Uri, IntegrityLevel.Full);
            Assert.True(check.IsValid, string.Join("; ", check.Problems));
            string target = LocalServices.UniqueName("chain");
            await RestoreRunner.RunAsync(new Restore.RestoreRequest { Uri = backup.Uri, TableName = target, CheckpointUri = ForeignFixtures.Folder("bdr-chain-cp") }, NullOperationHost.Instance, CancellationToken.None);
            Assert.Equal(state, await services.ReadTableAsync(target));
        }

        // A chosen point: from the table's folder, or down the chain from its latest backup, the latest backup at or before it.
        string tableFolder = $"s3://{bucket}/x/{table}/";
        var between = first.ExportTime!.Value.AddMilliseconds(500);
        Assert.True(between < second.ExportTime);
        RestoreResult? restoredAtPoint = null;
        foreach (string uri in new[] { tableFolder, second.Uri })
        {
            string target = LocalServices.UniqueName("at-point");
            var atPoint = restoredAtPoint = await RestoreRunner.RunAsync(new Restore.RestoreRequest { Uri = uri, TableName = target, PointInTime = between, CheckpointUri = ForeignFixtures.Folder("bdr-chain-cp") },
                NullOperationHost.Instance, CancellationToken.None);
            Assert.Equal(first.BackupId, atPoint.BackupId);
            Assert.Equal(first.ExportTime, atPoint.PointInTime);
            Assert.Equal(first.Uri, atPoint.BackupUri);
            Assert.Equal(first.SummarySha256, atPoint.SummarySha256);   // the incremental's own summary: its ledger records are bound to it
            Assert.Equal(first.Uri, Ledger.LedgerWriter.ForRestore(atPoint, "test", new Aws.AwsOptions())!.BackupUri);   // recorded beside the backup restored, not the folder given
            Assert.Equal(atFirst, await services.ReadTableAsync(target));
        }
        // Recorded in a ledger, the restore of the incremental counts for that backup (its record is bound to its own summary).
        var ledger = new Ledger.LedgerOptions(LocalServices.UniqueName("ledger-chain"));
        Assert.Empty(await Ledger.LedgerWriter.WriteAsync(ledger, [Ledger.LedgerWriter.ForRestore(restoredAtPoint!, "test", new Aws.AwsOptions())!], NullOperationHost.Instance));
        var synced = await Ledger.LedgerSync.SyncAsync($"s3://{bucket}/x", ledger, new Aws.AwsOptions(), NullOperationHost.Instance, CancellationToken.None);
        Assert.Empty(synced.Skipped);
        var joined = await Ledger.LedgerSync.JoinAsync($"s3://{bucket}/x", await Operations.ListBackupsAsync($"s3://{bucket}/x", table, new Aws.AwsOptions(), CancellationToken.None),
            table, ledger, NullOperationHost.Instance, CancellationToken.None);
        Assert.NotNull(joined.Single(b => b.BackupId == first.BackupId).LastRestoreAt);
        var latest = await CheckAsync(tableFolder, IntegrityLevel.Full, DateTimeOffset.UtcNow);
        Assert.True(latest.IsValid, string.Join("; ", latest.Problems));
        Assert.Equal(second.BackupId, latest.BackupId);
        Assert.Equal(second.Uri, latest.BackupUri);
        Assert.Equal(second.Uri, Ledger.LedgerWriter.ForValidation(latest, "test", new Aws.AwsOptions(), DateTimeOffset.UtcNow)!.BackupUri);
        var tooEarly = await Assert.ThrowsAsync<BackupDRException>(() => CheckAsync(tableFolder, IntegrityLevel.Quick, full.ExportTime!.Value.AddMilliseconds(-1)));
        Assert.Equal(ErrorIds.PointInTimeNotCovered, tooEarly.ErrorId);
        Assert.Contains($"{full.ExportTime:u}", tooEarly.Message);

        // Keeping the last one keeps what it continues.
        string root = $"s3://{bucket}/x";
        var removed = await Operations.ApplyRetentionAsync(root, table, new RetentionPolicy(KeepLast: 1), new Aws.AwsOptions(), _ => Task.FromResult(true), TimeProvider.System, CancellationToken.None);
        Assert.Empty(removed);
        Assert.True((await CheckAsync(second.Uri, IntegrityLevel.Quick)).IsValid);

        // Its base gone, an incremental cannot be restored: a named gap, not a silent partial table.
        await Operations.RemoveBackupAsync(first.Uri, new Aws.AwsOptions(), CancellationToken.None);
        var broken = await CheckAsync(second.Uri, IntegrityLevel.Quick);
        Assert.Contains(broken.Problems, p => p.Code == ProblemCodes.ExportChainGap);
        string nowhere = LocalServices.UniqueName("broken");
        await Assert.ThrowsAsync<BackupDRException>(() => RestoreRunner.RunAsync(new Restore.RestoreRequest { Uri = second.Uri, TableName = nowhere, CheckpointUri = ForeignFixtures.Folder("bdr-chain-cp") }, NullOperationHost.Instance, CancellationToken.None));
        Assert.False(await services.TableExistsAsync(nowhere));
    }

    /// <summary>Forged incremental summaries: a base that is not older (a loop), no window, a window backwards, an unknown view — InvalidManifest, and no base is followed.</summary>
    [Theory]
    [InlineData("a base newer than the backup")]
    [InlineData("no window")]
    [InlineData("a window backwards")]
    [InlineData("an unknown view")]
    public async Task Forged_incremental_summaries_are_InvalidManifest(string what)
    {
        const string arn = "arn:aws:dynamodb:us-east-1:000000000000:table/t/export/01796253503459-9f970c89";
        var files = new[] { ForgedBackup.Gzipped("AWSDynamoDB/data/abc.json.gz", ForgedBackup.Lines(ForgedBackup.Items(3))) };
        string folder = await ForgedBackup.LocalAsync("t-forged", files, s =>
        {
            (s.Engine, s.FormatVersion, s.ExportArn, s.ExportType, s.OutputView) = ("Export", 2, arn, "INCREMENTAL_EXPORT", "NEW_AND_OLD_IMAGES");
            (s.ExportFromTime, s.ExportToTime) = (DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow);
            s.BaseBackupId = "20000101T000000000Z-00000000";
            switch (what)
            {
                case "a base newer than the backup": s.BaseBackupId = "29991231T235959999Z-ffffffff"; break;
                case "no window": s.ExportFromTime = null; break;
                case "a window backwards": (s.ExportFromTime, s.ExportToTime) = (s.ExportToTime, s.ExportFromTime); break;
                case "an unknown view": s.OutputView = "EVERYTHING"; break;
            }
        });
        var report = await CheckAsync(folder, IntegrityLevel.Quick);
        Assert.Contains(report.Problems, p => p.Code == ProblemCodes.InvalidManifest);
        Assert.DoesNotContain(report.Problems, p => p.Code == ProblemCodes.ExportChainGap);   // refused before any base was looked for
    }
}
