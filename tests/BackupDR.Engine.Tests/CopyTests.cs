using BackupDR.Engine.Aws;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Catalog;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Tests;

/// <summary>DR copies: a committed, verified backup copied to another target, verified and committed last; a damaged source copies nothing.</summary>
public sealed class CopyTests(LocalServices services) : IClassFixture<LocalServices>
{
    private async Task<BackupResult> BackedUpAsync(string target, int count)
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(81, count));
        var results = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [table], Target = BackupLocation.Parse(target), Segments = 2, MaxDataFileBytes = 64 * 1024 },
            NullOperationHost.Instance, results.Add, CancellationToken.None);
        return results[0];
    }

    private static Task<CopyResult> CopyAsync(string source, string destination) =>
        Operations.CopyBackupAsync(new CopyRequest { SourceUri = source, DestinationUri = destination }, NullOperationHost.Instance, CancellationToken.None);

    [Fact]
    public async Task A_copy_to_another_bucket_and_to_a_folder_validates_Full_with_the_same_id_and_count()
    {
        string folder = ForeignFixtures.Folder("bdr-copy-src");
        var backup = await BackedUpAsync(folder, 1500);
        string bucket = await services.CreateBucketAsync();
        var copy = await CopyAsync(backup.Uri, $"s3://{bucket}/dr");
        Assert.Equal($"s3://{bucket}/dr/{backup.TableName}/{backup.BackupId}/", copy.Uri);
        Assert.Equal(backup.ItemCount, copy.ItemCount);
        var report = await ForeignFixtures.CheckAsync(copy.Uri, IntegrityLevel.Full);
        Assert.True(report.IsValid, string.Join("; ", report.Problems));
        Assert.Equal(backup.BackupId, report.BackupId);
        Assert.Equal(1500, report.ItemsVerified);
        Assert.Equal(0, copy.ObjectsCopiedInS3);   // from a folder: every byte streamed

        // Bucket to bucket as one identity: S3 copies the objects itself, and the copy is still read back in full.
        string second = await services.CreateBucketAsync();
        var inS3 = await CopyAsync(copy.Uri, $"s3://{second}/dr2");
        Assert.True(inS3.ObjectsCopied > 3);
        Assert.Equal(inS3.ObjectsCopied, inS3.ObjectsCopiedInS3);
        var replica = await ForeignFixtures.CheckAsync(inS3.Uri, IntegrityLevel.Full);
        Assert.True(replica.IsValid, string.Join("; ", replica.Problems));
        Assert.Equal(1500, replica.ItemsVerified);
        Assert.Equal(backup.BackupId, replica.BackupId);

        // And back from the bucket to a folder: the copy of a copy is the same backup.
        string back = ForeignFixtures.Folder("bdr-copy-back");
        var again = await CopyAsync(copy.Uri, back);
        var local = await ForeignFixtures.CheckAsync(again.Uri, IntegrityLevel.Full);
        Assert.True(local.IsValid, string.Join("; ", local.Problems));
        Assert.Equal(backup.BackupId, local.BackupId);

        // A copy never overwrites: the same backup to the same place is refused, the copy intact.
        var twice = await Assert.ThrowsAsync<BackupDRException>(() => CopyAsync(backup.Uri, $"s3://{bucket}/dr"));
        Assert.Equal(ErrorIds.InvalidArgument, twice.ErrorId);
        Assert.True((await ForeignFixtures.CheckAsync(copy.Uri, IntegrityLevel.Full)).IsValid);
    }

    [Fact]
    public async Task A_damaged_or_unfinished_source_is_refused_with_nothing_written()
    {
        string folder = ForeignFixtures.Folder("bdr-copy-bad");
        var backup = await BackedUpAsync(folder, 300);
        string file = Directory.EnumerateFiles(Path.Combine(backup.Uri, "data")).First();
        byte[] bytes = await File.ReadAllBytesAsync(file);
        bytes[^30] ^= 0x01;
        await File.WriteAllBytesAsync(file, bytes);
        string bucket = await services.CreateBucketAsync();
        var e = await Assert.ThrowsAsync<BackupDRException>(() => CopyAsync(backup.Uri, $"s3://{bucket}/dr"));
        Assert.Equal(ErrorIds.BackupIntegrityFailed, e.ErrorId);
        Assert.Empty(await Operations.ListBackupsAsync($"s3://{bucket}/", null, new AwsOptions(), CancellationToken.None));

        var unfinished = await BackedUpAsync(ForeignFixtures.Folder("bdr-copy-unfinished"), 10);
        File.Delete(Path.Combine(unfinished.Uri, "_committed"));
        var u = await Assert.ThrowsAsync<BackupDRException>(() => CopyAsync(unfinished.Uri, $"s3://{bucket}/dr"));
        Assert.Equal(ErrorIds.BackupNotCommitted, u.ErrorId);
        Assert.Empty(await Operations.ListBackupsAsync($"s3://{bucket}/", null, new AwsOptions(), CancellationToken.None));
    }

    /// <summary>A forged backup whose summary names its table "../escape" (hashes re-chained): the copy would land outside its destination. Refused, nothing written.</summary>
    [Fact]
    public async Task A_forged_table_name_cannot_place_a_copy_outside_its_destination()
    {
        string source = await ForgedBackup.LocalAsync("hostile",
            [ForgedBackup.Gzipped("data/s000-f0000.json.gz", ForgedBackup.Lines(ForgedBackup.Items(3)))], s => s.TableName = "../escape");
        string destination = ForeignFixtures.Folder("bdr-copy-forged");
        var e = await Assert.ThrowsAsync<BackupDRException>(() => CopyAsync(source, Path.Combine(destination, "dr")));
        Assert.Equal(ErrorIds.BackupIntegrityFailed, e.ErrorId);
        Assert.Empty(Directory.EnumerateFileSystemEntries(destination));
    }
}
