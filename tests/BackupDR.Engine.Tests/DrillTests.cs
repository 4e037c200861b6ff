using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Drill;
using BackupDR.Engine.Storage;
using Microsoft.Extensions.Time.Testing;

namespace BackupDR.Engine.Tests;

/// <summary>DR drills: a verdict with RPO and RTO, the scratch table always removed, a drill never touching a table it did not create.</summary>
public sealed class DrillTests(LocalServices services) : IClassFixture<LocalServices>
{
    private readonly string _target = ForeignFixtures.Folder("bdr-drill");

    private async Task<(string Table, BackupResult Backup)> BackedUpAsync(int count, int seed)
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(seed, count));
        var results = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [table], Target = BackupLocation.ForFolder(_target), Segments = 2, MaxDataFileBytes = 64 * 1024 },
            NullOperationHost.Instance, results.Add, CancellationToken.None);
        return (table, results[0]);
    }

    private Task<DrillReport> DrillAsync(string table, TimeSpan? maxRpo = null, TimeSpan? maxRto = null, bool compareLive = false, string? scratch = null,
        TimeProvider? time = null, string? backupUri = null) =>
        DrillRunner.RunAsync(new DrillRequest
        {
            TableName = table, TargetUri = backupUri is null ? _target : null, BackupUri = backupUri, MaxRpo = maxRpo, MaxRto = maxRto, CompareLive = compareLive,
            ScratchTableName = scratch, CheckpointUri = ForeignFixtures.Folder("bdr-drill-cp"), Time = time ?? TimeProvider.System,
        }, NullOperationHost.Instance, CancellationToken.None);

    [Fact]
    public async Task A_drill_of_a_good_backup_passes_with_RPO_and_RTO_measured_and_leaves_no_scratch_table()
    {
        var (table, backup) = await BackedUpAsync(400, 61);
        await BackedUpAsync(0, 0);   // another table's backup beside it is not picked
        var report = await DrillAsync(table, maxRpo: TimeSpan.FromHours(1), maxRto: TimeSpan.FromMinutes(10));
        Assert.True(report.Passed, string.Join("; ", report.Failures));
        Assert.Equal(backup.BackupId, report.BackupId);
        Assert.Equal(400, report.ItemsRestored);
        Assert.Equal(400, report.ItemsVerified);
        Assert.NotNull(report.BackupTime);
        Assert.InRange(report.Rpo!.Value, TimeSpan.Zero, TimeSpan.FromMinutes(10));
        Assert.True(report.Rto > TimeSpan.Zero && report.Rto == report.RestoreDuration + report.VerifyDuration);
        Assert.Equal(["Restore", "Verify", "MaxRpo", "MaxRto"], report.Checks.Select(c => c.Name));
        Assert.True(report.ScratchTableRemoved);
        Assert.StartsWith(table + "-drill-", report.ScratchTableName, StringComparison.Ordinal);
        Assert.False(await services.TableExistsAsync(report.ScratchTableName));

        string md = Path.Combine(_target, "drill.md");
        DrillReportWriter.Write(report, md);
        string text = await File.ReadAllTextAsync(md);
        Assert.StartsWith($"# DR drill of {table}: PASSED", text, StringComparison.Ordinal);
        Assert.Contains("| Verify | passed |", text);
        string json = Path.Combine(_target, "drill.json");
        DrillReportWriter.Write(report, json);
        using var parsed = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(json));
        Assert.True(parsed.RootElement.GetProperty("passed").GetBoolean());
        Assert.Equal(400, parsed.RootElement.GetProperty("itemsVerified").GetInt64());
        string html = Path.Combine(_target, "drill.html");
        DrillReportWriter.Write(WithMarkup(report), html);
        Assert.Contains("&lt;script&gt;", await File.ReadAllTextAsync(html));
    }

    private static DrillReport WithMarkup(DrillReport report)
    {
        report.Checks.Add(new DrillCheck("Note", true, "<script>alert(1)</script>"));
        return report;
    }

    [Fact]
    public async Task A_drill_of_a_damaged_latest_backup_fails_and_leaves_no_scratch_table()
    {
        var (table, backup) = await BackedUpAsync(300, 62);
        string file = Directory.EnumerateFiles(Path.Combine(backup.Uri, "data")).First();
        byte[] bytes = await File.ReadAllBytesAsync(file);
        bytes[bytes.Length / 2] ^= 0x40;
        await File.WriteAllBytesAsync(file, bytes);
        var report = await DrillAsync(table);
        Assert.False(report.Passed);
        var restore = Assert.Single(report.Checks);
        Assert.Equal("Restore", restore.Name);
        Assert.StartsWith("BackupIntegrityFailed", restore.Detail, StringComparison.Ordinal);
        Assert.False(await services.TableExistsAsync(report.ScratchTableName));
    }

    [Fact]
    public async Task A_stale_backup_fails_the_drill_by_its_RPO_and_the_scratch_table_still_goes()
    {
        var (table, _) = await BackedUpAsync(50, 63);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow.AddDays(2));   // the drill runs two days after the backup
        var report = await DrillAsync(table, maxRpo: TimeSpan.FromDays(1), time: clock);
        Assert.False(report.Passed);
        Assert.Equal("MaxRpo", Assert.Single(report.Checks, c => !c.Passed).Name);
        Assert.InRange(report.Rpo!.Value, TimeSpan.FromDays(1.9), TimeSpan.FromDays(2.1));
        Assert.True(report.ScratchTableRemoved);
        Assert.False(await services.TableExistsAsync(report.ScratchTableName));
    }

    [Fact]
    public async Task A_drill_never_restores_into_or_removes_a_table_it_did_not_create()
    {
        var (table, _) = await BackedUpAsync(20, 64);
        string existing = await services.CreateTableAsync();
        await services.PutItemsAsync(existing, TestItems.Random(65, 5));
        var e = await Assert.ThrowsAsync<BackupDRException>(() => DrillAsync(table, scratch: existing));
        Assert.Equal(ErrorIds.InvalidArgument, e.ErrorId);
        Assert.Equal(5, (await services.ReadTableAsync(existing)).Count);
        var same = await Assert.ThrowsAsync<BackupDRException>(() => DrillAsync(table, scratch: table));
        Assert.Equal(ErrorIds.InvalidArgument, same.ErrorId);
    }

    [Fact]
    public async Task Comparing_with_the_live_table_reports_what_changed_since_the_backup_without_failing()
    {
        var (table, backup) = await BackedUpAsync(100, 66);
        await services.PutItemsAsync(table, TestItems.Random(67, 3));
        var first = (await services.DynamoDB.ScanAsync(new ScanRequest { TableName = table, Limit = 1 })).Items[0];
        await services.DynamoDB.DeleteItemAsync(new DeleteItemRequest { TableName = table, Key = new() { ["pk"] = first["pk"], ["sk"] = first["sk"] } });
        var report = await DrillAsync(table, compareLive: true, backupUri: backup.Uri);
        Assert.True(report.Passed, string.Join("; ", report.Failures));
        Assert.Equal(backup.BackupId, report.BackupId);
        Assert.Equal(3, report.Live!.Extra);
        Assert.Equal(1, report.Live.Missing);
        Assert.Contains(report.Checks, c => c.Name == "CompareLive" && c.Detail.Contains("1 item(s) missing, 3 added", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_table_without_a_committed_backup_fails_its_drill()
    {
        string table = await services.CreateTableAsync();
        var report = await DrillAsync(table);
        Assert.False(report.Passed);
        Assert.Equal("Backup", Assert.Single(report.Checks).Name);
        Assert.False(report.ScratchTableRemoved);
        Assert.False(await services.TableExistsAsync(report.ScratchTableName));
    }
}
