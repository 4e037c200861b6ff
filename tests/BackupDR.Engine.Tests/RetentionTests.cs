using BackupDR.Engine.Aws;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Catalog;
using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;
using Microsoft.Extensions.Time.Testing;

namespace BackupDR.Engine.Tests;

/// <summary>Retention keeps exactly what it says: per table, never the newest committed backup, incomplete ones only when a committed one is newer.</summary>
public sealed class RetentionTests(LocalServices services) : IClassFixture<LocalServices>
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);

    private static BackupInfo Backup(string table, double daysAgo, bool committed = true) => new()
    {
        Uri = $"/b/{table}/{Id(daysAgo)}", TableName = table, BackupId = Id(daysAgo), StartTime = Now.AddDays(-daysAgo),
        Status = committed ? BackupStatus.Committed : BackupStatus.Incomplete,
    };

    private static string Id(double daysAgo) => BackupFormat.NewBackupId(Now.AddDays(-daysAgo))[..19] + "-0000000" + ((int)(daysAgo * 24) % 10);

    private static string[] Removed(RetentionPolicy policy, params BackupInfo[] backups) =>
        policy.Select(backups, Now).Select(b => $"{b.TableName}@{(Now - b.StartTime!.Value).TotalDays}{(b.Status == BackupStatus.Incomplete ? "i" : "")}").ToArray();

    [Fact]
    public void KeepLast_keeps_that_many_committed_per_table_and_removes_incomplete_ones_older_than_the_newest()
    {
        var backups = new[]
        {
            Backup("a", 1), Backup("a", 2), Backup("a", 3), Backup("a", 4), Backup("a", 5, committed: false), Backup("a", 0, committed: false),
            Backup("b", 1), Backup("b", 9),
            Backup("c", 3, committed: false),
        };
        Assert.Equal(["a@5i", "a@4", "a@3"], Removed(new RetentionPolicy(KeepLast: 2), backups));
        Assert.Equal(["b@9", "a@5i", "a@4", "a@3", "a@2"], Removed(new RetentionPolicy(KeepLast: 1), backups));
    }

    /// <summary>An incomplete backup younger than a day may be DynamoDB still exporting into it (a later, smaller backup committed first): it is left.</summary>
    [Fact]
    public void An_incomplete_backup_started_within_the_last_day_is_left_even_behind_a_newer_committed_one()
    {
        var backups = new[] { Backup("a", 0.5, committed: false), Backup("a", 0.25), Backup("a", 1.5, committed: false), Backup("a", 2) };
        Assert.Equal(["a@2", "a@1.5i"], Removed(new RetentionPolicy(KeepLast: 1), backups));
    }

    [Fact]
    public void OlderThan_never_removes_a_tables_newest_committed_backup()
    {
        var backups = new[] { Backup("a", 10), Backup("a", 20), Backup("b", 40), Backup("b", 3, committed: false) };
        Assert.Equal(["a@20"], Removed(new RetentionPolicy(OlderThan: TimeSpan.FromDays(7)), backups));
        Assert.Equal(["a@20"], Removed(new RetentionPolicy(KeepLast: 1, OlderThan: TimeSpan.FromDays(15)), backups));
        Assert.Empty(Removed(new RetentionPolicy(KeepLast: 5, OlderThan: TimeSpan.FromDays(1)), backups));
    }

    [Theory]
    [InlineData(0, null)]
    [InlineData(null, -1.0)]
    [InlineData(null, null)]
    public void A_policy_that_keeps_nothing_or_says_nothing_is_refused(int? keepLast, double? days)
    {
        var policy = new RetentionPolicy(keepLast, days is { } d ? TimeSpan.FromDays(d) : null);
        Assert.Equal(ErrorIds.InvalidArgument, Assert.Throws<BackupDRException>(() => policy.Validate()).ErrorId);
    }

    [Fact]
    public async Task Retention_under_a_target_removes_what_the_policy_lists_after_asking_once()
    {
        string target = ForeignFixtures.Folder("bdr-retention");
        var tables = new[] { await services.CreateTableAsync(), await services.CreateTableAsync() };
        foreach (var table in tables) await services.PutItemsAsync(table, TestItems.Random(3, 10));
        var ids = new Dictionary<string, List<string>>();
        for (int round = 0; round < 3; round++)
        {
            var results = new List<BackupResult>();
            await BackupRunner.RunAsync(new BackupRequest { TableNames = tables, Target = BackupLocation.ForFolder(target) }, NullOperationHost.Instance, results.Add, CancellationToken.None);
            foreach (var r in results) (ids.TryGetValue(r.TableName, out var l) ? l : ids[r.TableName] = []).Add(r.BackupId);
        }
        // An incomplete backup older than the newest committed one, started two days ago (a backup that died): it goes too.
        string dead = Path.Combine(target, tables[0], BackupFormat.NewBackupId(DateTimeOffset.UtcNow.AddDays(-2)));
        Directory.CreateDirectory(Path.Combine(dead, "data"));
        await File.WriteAllTextAsync(Path.Combine(dead, "data", "s000-f0000.json.gz"), "partial");

        IReadOnlyList<BackupInfo>? asked = null;
        var declined = await Operations.ApplyRetentionAsync(target, null, new RetentionPolicy(KeepLast: 1), new AwsOptions(),
            doomed => { asked = doomed; return Task.FromResult(false); }, TimeProvider.System, CancellationToken.None);
        Assert.Empty(declined);
        Assert.Equal(5, asked!.Count);   // two older committed backups of each table, and the dead one
        Assert.Equal(7, (await Operations.ListBackupsAsync(target, null, new AwsOptions(), CancellationToken.None)).Count);

        int questions = 0;
        var removed = await Operations.ApplyRetentionAsync(target, tables[1], new RetentionPolicy(KeepLast: 2), new AwsOptions(),
            _ => { questions++; return Task.FromResult(true); }, TimeProvider.System, CancellationToken.None);
        Assert.Equal(1, questions);
        Assert.Equal([ids[tables[1]][0]], removed.Select(r => r.BackupId));
        var left = await Operations.ListBackupsAsync(target, null, new AwsOptions(), CancellationToken.None);
        Assert.Equal(ids[tables[1]].Skip(1), left.Where(b => b.TableName == tables[1]).Select(b => b.BackupId));
        Assert.Equal(4, left.Count(b => b.TableName == tables[0]));

        // Ten days later, "older than a week" leaves each table its newest committed backup only.
        var later = new FakeTimeProvider(DateTimeOffset.UtcNow.AddDays(10));
        await Operations.ApplyRetentionAsync(target, null, new RetentionPolicy(OlderThan: TimeSpan.FromDays(7)), new AwsOptions(), _ => Task.FromResult(true), later, CancellationToken.None);
        var final = await Operations.ListBackupsAsync(target, null, new AwsOptions(), CancellationToken.None);
        Assert.Equal([ids[tables[0]][^1], ids[tables[1]][^1]], final.OrderBy(b => b.TableName == tables[0] ? 0 : 1).Select(b => b.BackupId));
        Assert.All(final, b => Assert.Equal(BackupStatus.Committed, b.Status));
    }
}
