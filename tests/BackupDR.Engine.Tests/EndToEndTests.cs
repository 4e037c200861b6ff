using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Format;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Tests;

/// <summary>Backup → verify → restore through dynalite and the S3 emulator, as a user runs it.</summary>
public sealed class EndToEndTests(LocalServices services) : IClassFixture<LocalServices>
{
    private static readonly AwsOptions Aws = new();

    private async Task<BackupResult> BackupAsync(string table, BackupLocation target, int segments = 0, long maxFileBytes = 256L << 20)
    {
        var results = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [table], Target = target, Segments = segments, MaxDataFileBytes = maxFileBytes },
            NullOperationHost.Instance, results.Add, CancellationToken.None);
        return Assert.Single(results);
    }

    private static Task<IntegrityReport> CheckAsync(string uri, IntegrityLevel level) =>
        Operations.CheckIntegrityAsync(uri, level, Aws, NullOperationHost.Instance, CancellationToken.None);

    private static Task<RestoreResult> RestoreAsync(string uri, string table, bool force = false) =>
        RestoreRunner.RunAsync(new RestoreRequest { Uri = uri, TableName = table, Force = force }, NullOperationHost.Instance, CancellationToken.None);

    private static string TempFolder()
    {
        string path = Path.Combine(Path.GetTempPath(), "bdr-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(path);
        return path;
    }

    [Fact]
    public async Task Fidelity_table_round_trips_through_S3_item_for_item()
    {
        string source = await services.CreateTableAsync(withIndexes: true);
        var items = TestItems.FidelitySet();
        foreach (var item in items) { item["g"] = TestItems.S("g" + item["pk"].S); item["l"] = TestItems.N("7"); }
        await services.PutItemsAsync(source, items);
        string bucket = await services.CreateBucketAsync();

        var backup = await BackupAsync(source, BackupLocation.ForBucket(bucket, "nightly/prod"), segments: 3);
        Assert.Equal(items.Count, backup.ItemCount);
        Assert.StartsWith($"s3://{bucket}/nightly/prod/{source}/{backup.BackupId}/", backup.Uri);
        Assert.True(BackupFormat.IsBackupId(backup.BackupId));

        var report = await CheckAsync(backup.Uri, IntegrityLevel.Full);
        Assert.True(report.IsValid, string.Join("; ", report.Problems));
        Assert.Equal(items.Count, report.ItemsVerified);

        string target = LocalServices.UniqueName("restored");
        var restore = await RestoreAsync(backup.Uri, target);
        Assert.True(restore.TableCreated);
        Assert.Equal(items.Count, restore.ItemsWritten);

        var expected = await services.ReadTableAsync(source);
        var actual = await services.ReadTableAsync(target);
        Assert.Equal(expected.Count, actual.Count);
        foreach (var (key, item) in expected) Assert.Equal(item, actual[key]);

        // The re-created table has the source's key schema and indexes.
        var created = (await services.DynamoDB.DescribeTableAsync(target)).Table;
        Assert.Equal("by-g", Assert.Single(created.GlobalSecondaryIndexes).IndexName);
        Assert.Equal("by-l", Assert.Single(created.LocalSecondaryIndexes).IndexName);
        Assert.Equal(BillingMode.PAY_PER_REQUEST, created.BillingModeSummary?.BillingMode ?? BillingMode.PAY_PER_REQUEST);
    }

    [Theory]
    [InlineData(11, 1)]
    [InlineData(12, 4)]
    public async Task Random_items_round_trip_through_a_local_folder(int seed, int segments)
    {
        string source = await services.CreateTableAsync();
        var items = TestItems.Random(seed, 1500);
        await services.PutItemsAsync(source, items);
        string folder = TempFolder();

        // A tiny file size forces many data files per segment.
        var backup = await BackupAsync(source, BackupLocation.ForFolder(folder), segments, maxFileBytes: 20_000);
        Assert.True(backup.DataFileCount > segments);
        Assert.Equal(items.Count, backup.ItemCount);
        Assert.True((await CheckAsync(backup.Uri, IntegrityLevel.Full)).IsValid);

        string target = LocalServices.UniqueName("restored");
        await RestoreAsync(backup.Uri, target);
        var expected = items.ToDictionary(i => Json.ItemCanonical.Of(new() { ["pk"] = i["pk"], ["sk"] = i["sk"] }), Json.ItemCanonical.Of);
        var actual = await services.ReadTableAsync(target);
        Assert.Equal(expected.Count, actual.Count);
        foreach (var (key, item) in expected) Assert.Equal(item, actual[key]);
    }

    [Fact]
    public async Task A_flipped_byte_is_named_by_full_check_and_restore_writes_nothing()
    {
        string source = await services.CreateTableAsync();
        await services.PutItemsAsync(source, TestItems.Random(21, 300));
        string bucket = await services.CreateBucketAsync();
        var backup = await BackupAsync(source, BackupLocation.ForBucket(bucket, ""), segments: 2);

        // Flip one byte in the middle of the first data file, keeping its size.
        string key = $"{source}/{backup.BackupId}/data/s000-f0000.json.gz";
        byte[] bytes;
        using (var get = await services.S3.GetObjectAsync(bucket, key))
        using (var buffer = new MemoryStream()) { await get.ResponseStream.CopyToAsync(buffer); bytes = buffer.ToArray(); }
        bytes[bytes.Length / 2] ^= 0x01;
        await services.S3.PutObjectAsync(new Amazon.S3.Model.PutObjectRequest { BucketName = bucket, Key = key, InputStream = new MemoryStream(bytes) });

        var quick = await CheckAsync(backup.Uri, IntegrityLevel.Quick);
        Assert.True(quick.IsValid);   // same size, same manifests: only the data shows it
        var full = await CheckAsync(backup.Uri, IntegrityLevel.Full);
        Assert.False(full.IsValid);
        Assert.Contains(full.Problems, p => p.Code == ProblemCodes.ChecksumMismatch && p.File == "data/s000-f0000.json.gz");

        string target = LocalServices.UniqueName("restored");
        var error = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(backup.Uri, target));
        Assert.Equal(ErrorIds.BackupIntegrityFailed, error.ErrorId);
        Assert.Contains("data/s000-f0000.json.gz", error.Message);
        Assert.False(await services.TableExistsAsync(target));
    }

    [Fact]
    public async Task A_backup_without_commit_marker_is_invalid_and_not_restored_without_force()
    {
        string source = await services.CreateTableAsync();
        await services.PutItemsAsync(source, TestItems.Random(31, 50));
        string folder = TempFolder();
        var backup = await BackupAsync(source, BackupLocation.ForFolder(folder));
        File.Delete(Path.Combine(backup.Uri, BackupFormat.CommitMarkerKey));

        var report = await CheckAsync(backup.Uri, IntegrityLevel.Quick);
        Assert.False(report.IsCommitted);
        Assert.Contains(report.Problems, p => p.Code == ProblemCodes.MissingCommitMarker);

        string target = LocalServices.UniqueName("restored");
        var error = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(backup.Uri, target));
        Assert.Equal(ErrorIds.BackupNotCommitted, error.ErrorId);
        Assert.False(await services.TableExistsAsync(target));

        var forced = await RestoreAsync(backup.Uri, target, force: true);
        Assert.Equal(50, forced.ItemsWritten);
    }

    [Fact]
    public async Task Restore_refuses_a_non_empty_target_and_a_different_key_schema()
    {
        string source = await services.CreateTableAsync();
        await services.PutItemsAsync(source, TestItems.Random(41, 40));
        var backup = await BackupAsync(source, BackupLocation.ForFolder(TempFolder()));

        string occupied = await services.CreateTableAsync();
        var sentinel = new Dictionary<string, AttributeValue> { ["pk"] = TestItems.S("sentinel"), ["sk"] = TestItems.N("1") };
        await services.PutItemsAsync(occupied, [sentinel]);
        var notEmpty = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(backup.Uri, occupied));
        Assert.Equal(ErrorIds.TargetTableNotEmpty, notEmpty.ErrorId);
        Assert.Single(await services.ReadTableAsync(occupied));

        string otherKeys = LocalServices.UniqueName("keys");
        await services.DynamoDB.CreateTableAsync(new CreateTableRequest
        {
            TableName = otherKeys,
            KeySchema = [new("id", KeyType.HASH)],
            AttributeDefinitions = [new("id", ScalarAttributeType.S)],
            BillingMode = BillingMode.PAY_PER_REQUEST,
        });
        await Tables.TableSchema.WaitUntilActiveAsync(services.DynamoDB, otherKeys, TimeSpan.FromMinutes(1), CancellationToken.None);
        var mismatch = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(backup.Uri, otherKeys, force: true));
        Assert.Equal(ErrorIds.KeySchemaMismatch, mismatch.ErrorId);
        Assert.Equal(0, (await services.DynamoDB.ScanAsync(new ScanRequest { TableName = otherKeys })).Count);

        // Upsert writes the backup over the occupied table; its other items stay.
        var forced = await RestoreRunner.RunAsync(new RestoreRequest { Uri = backup.Uri, TableName = occupied, Mode = RestoreMode.Upsert },
            NullOperationHost.Instance, CancellationToken.None);
        Assert.Equal(40, forced.ItemsWritten);
        Assert.Equal(41, (await services.ReadTableAsync(occupied)).Count);
    }

    [Fact]
    public async Task Bad_backup_input_fails_with_stable_ids_and_writes_nothing()
    {
        string bucket = await services.CreateBucketAsync();
        string table = await services.CreateTableAsync();

        var missingTable = await Assert.ThrowsAsync<BackupDRException>(() => BackupAsync("no-such-table-" + Guid.NewGuid().ToString("N")[..6], BackupLocation.ForBucket(bucket, "")));
        Assert.Equal(ErrorIds.TableNotFound, missingTable.ErrorId);

        var missingBucket = await Assert.ThrowsAsync<BackupDRException>(() => BackupAsync(table, BackupLocation.ForBucket("no-such-bucket-" + Guid.NewGuid().ToString("N")[..6], "")));
        Assert.Equal(ErrorIds.BucketNotFound, missingBucket.ErrorId);

        var missingFolder = await Assert.ThrowsAsync<BackupDRException>(() => BackupAsync(table, BackupLocation.ForFolder("/nonexistent/" + Guid.NewGuid().ToString("N"))));
        Assert.Equal(ErrorIds.PathNotFound, missingFolder.ErrorId);

        // A missing table among several: nothing is written for any of them.
        var mixed = await Assert.ThrowsAsync<BackupDRException>(() => BackupRunner.RunAsync(
            new BackupRequest { TableNames = [table, "no-such-table-x1"], Target = BackupLocation.ForBucket(bucket, "") },
            NullOperationHost.Instance, _ => { }, CancellationToken.None));
        Assert.Equal(ErrorIds.TableNotFound, mixed.ErrorId);
        Assert.Equal(0, (await services.S3.ListObjectsV2Async(new Amazon.S3.Model.ListObjectsV2Request { BucketName = bucket })).KeyCount ?? 0);

        foreach (string uri in new[] { "s3:/x/y", "s3://", "s3://Bad_Bucket/x", "https://example.com/b", "relative/path", "s3://bucket-ok//double" })
        {
            var malformed = await Assert.ThrowsAsync<BackupDRException>(() => CheckAsync(uri, IntegrityLevel.Quick));
            Assert.Equal(ErrorIds.InvalidBackupUri, malformed.ErrorId);
        }

        var noBucket = await Assert.ThrowsAsync<BackupDRException>(() => CheckAsync("s3://no-such-bucket-zz9/t/20260101T000000000Z-00000000/", IntegrityLevel.Quick));
        Assert.Equal(ErrorIds.BucketNotFound, noBucket.ErrorId);

        var absent = await Assert.ThrowsAsync<BackupDRException>(() => CheckAsync($"s3://{bucket}/{table}/20260101T000000000Z-00000000/", IntegrityLevel.Quick));
        Assert.Equal(ErrorIds.BackupNotFound, absent.ErrorId);
    }

    [Fact]
    public async Task An_empty_table_backs_up_and_restores()
    {
        string source = await services.CreateTableAsync();
        var backup = await BackupAsync(source, BackupLocation.ForFolder(TempFolder()), segments: 2);
        Assert.Equal(0, backup.ItemCount);
        Assert.True((await CheckAsync(backup.Uri, IntegrityLevel.Full)).IsValid);
        var restore = await RestoreAsync(backup.Uri, LocalServices.UniqueName("restored"));
        Assert.Equal(0, restore.ItemsWritten);
    }
}
