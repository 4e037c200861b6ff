using System.Text;
using System.Text.RegularExpressions;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Tests;

/// <summary>
/// Every kind of damage a backup can suffer, on S3 and on disk: Full validation catches all of it,
/// Quick catches what metadata alone can show, and a restore refuses it before writing anything.
/// docs/integrity.md holds the same table; a test keeps the two equal.
/// </summary>
public sealed partial class CorruptionMatrixTests(LocalServices services) : IClassFixture<LocalServices>
{
    /// <summary>A damaged backup A, with an intact backup B (of another table) to take parts from.</summary>
    private sealed record Damage(IBackupStore Store, string A, string B)
    {
        public async Task<byte[]> ReadAsync(string key) => (await Store.TryReadAllAsync(key, long.MaxValue, CancellationToken.None))!;
        public Task WriteAsync(string key, byte[] bytes) => Store.PutAsync(key, bytes, CancellationToken.None);
        public Task DeleteAsync(string key) => Store.DeleteAsync(key, CancellationToken.None);

        public async Task<List<string>> DataFilesAsync(string backup)
        {
            var keys = new List<string>();
            await foreach (var o in Store.ListAsync(backup + "data/", CancellationToken.None)) keys.Add(o.Key);
            keys.Sort(StringComparer.Ordinal);
            return keys;
        }

        public async Task EditAsync(string key, Func<string, string> edit)
        {
            string before = Encoding.UTF8.GetString(await ReadAsync(key));
            string after = edit(before);
            Assert.NotEqual(before, after);
            await WriteAsync(key, Encoding.UTF8.GetBytes(after));
        }
    }

    private sealed record Case(string Name, bool QuickCatches, string[] Codes, Func<Damage, Task> Apply);

    private static readonly Case[] Cases =
    [
        new("one bit flipped in a data file", false, ["ChecksumMismatch"], async d =>
        {
            string file = (await d.DataFilesAsync(d.A))[0];
            byte[] bytes = await d.ReadAsync(file);
            bytes[bytes.Length / 2] ^= 0x04;
            await d.WriteAsync(file, bytes);
        }),
        new("a truncated data file", true, ["SizeMismatch"], async d =>
        {
            string file = (await d.DataFilesAsync(d.A))[0];
            byte[] bytes = await d.ReadAsync(file);
            await d.WriteAsync(file, bytes[..(bytes.Length / 2)]);
        }),
        new("a missing data file", true, ["MissingDataFile"], async d => await d.DeleteAsync((await d.DataFilesAsync(d.A))[^1])),
        new("an extra file", true, ["UnexpectedObject"], d => d.WriteAsync(d.A + "data/s999-f0000.json.gz", [0x1f, 0x8b, 8, 0])),
        new("an edited item count in manifest-files.json", true, ["ManifestChecksumMismatch"], d =>
            d.EditAsync(d.A + "manifest-files.json", s => ItemCount().Replace(s, m => $"\"itemCount\":{long.Parse(m.Groups[1].Value) + 1}", 1))),
        new("an edited checksum in manifest-files.json", true, ["ManifestChecksumMismatch"], d =>
            d.EditAsync(d.A + "manifest-files.json", s => Sha256().Replace(s, "\"sha256Checksum\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"", 1))),
        new("an edited item count in manifest-summary.json", true, ["ManifestChecksumMismatch"], d =>
            d.EditAsync(d.A + "manifest-summary.json", s => ItemCountSpaced().Replace(s, m => $"\"itemCount\": {long.Parse(m.Groups[1].Value) + 1}", 1))),
        new("an edited item count in the commit marker", true, ["CountMismatch"], d =>
            d.EditAsync(d.A + "_committed", s => ItemCountSpaced().Replace(s, m => $"\"itemCount\": {long.Parse(m.Groups[1].Value) - 1}", 1))),
        new("data files swapped with another backup's", true, ["SizeMismatch", "ChecksumMismatch"], async d =>
        {
            var mine = await d.DataFilesAsync(d.A);
            var theirs = await d.DataFilesAsync(d.B);
            for (int i = 0; i < mine.Count; i++) await d.WriteAsync(mine[i], await d.ReadAsync(theirs[i % theirs.Count]));
        }),
        new("manifest-summary.json from another backup", true, ["ManifestChecksumMismatch", "BackupIdMismatch"], async d =>
            await d.WriteAsync(d.A + "manifest-summary.json", await d.ReadAsync(d.B + "manifest-summary.json"))),
        new("manifest-files.json from another backup", true, ["ManifestChecksumMismatch"], async d =>
            await d.WriteAsync(d.A + "manifest-files.json", await d.ReadAsync(d.B + "manifest-files.json"))),
        new("table.json from another backup", true, ["ManifestChecksumMismatch"], async d =>
            await d.WriteAsync(d.A + "table.json", await d.ReadAsync(d.B + "table.json"))),
        new("a commit marker from another backup", true, ["ManifestChecksumMismatch", "BackupIdMismatch"], async d =>
            await d.WriteAsync(d.A + "_committed", await d.ReadAsync(d.B + "_committed"))),
        new("a deleted commit marker", true, ["MissingCommitMarker"], d => d.DeleteAsync(d.A + "_committed")),
    ];

    [GeneratedRegex("\"itemCount\":(\\d+)")]
    private static partial Regex ItemCount();

    [GeneratedRegex("\"itemCount\": ?(\\d+)")]
    private static partial Regex ItemCountSpaced();

    [GeneratedRegex("\"sha256Checksum\":\"[^\"]+\"")]
    private static partial Regex Sha256();

    public static TheoryData<string, bool> Matrix()
    {
        var data = new TheoryData<string, bool>();
        foreach (var c in Cases)
        {
            data.Add(c.Name, true);
            data.Add(c.Name, false);
        }
        return data;
    }

    private async Task<string> BackupAsync(BackupLocation target, int seed)
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(seed, 400));
        var results = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [table], Target = target, Segments = 2, MaxDataFileBytes = 32 * 1024 },
            NullOperationHost.Instance, results.Add, CancellationToken.None);
        return results[0].Uri;
    }

    /// <summary>A backup's folder as a key prefix in the target's store (the bucket, or the target folder).</summary>
    private static string KeyPrefix(BackupFolder root, string backupUri)
    {
        if (root.Store is LocalBackupStore local)
        {
            return Path.GetRelativePath(local.Root, backupUri).Replace(Path.DirectorySeparatorChar, '/') + "/";
        }
        using var folder = BackupFolder.Open(BackupLocation.Parse(backupUri), new AwsClientFactory(new()));
        return folder.Prefix;
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public async Task Damage_is_caught_by_Full_by_Quick_where_metadata_shows_it_and_refused_by_restore(string name, bool inS3)
    {
        var damage = Cases.Single(c => c.Name == name);
        BackupLocation target = inS3
            ? BackupLocation.ForBucket(await services.CreateBucketAsync(), "corrupt")
            : BackupLocation.ForFolder(Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "bdr-corrupt-" + Guid.NewGuid().ToString("N")[..8])).FullName);
        string a = await BackupAsync(target, 601);
        string b = await BackupAsync(target, 602);
        using (var root = BackupFolder.Open(target, new AwsClientFactory(new())))
        {
            await damage.Apply(new Damage(root.Store, KeyPrefix(root, a), KeyPrefix(root, b)));
        }

        var full = await Operations.CheckIntegrityAsync(a, IntegrityLevel.Full, new AwsOptions(), NullOperationHost.Instance, CancellationToken.None);
        Assert.False(full.IsValid, $"Full missed: {name}");
        Assert.Contains(full.Problems, p => damage.Codes.Contains(p.Code));

        var quick = await Operations.CheckIntegrityAsync(a, IntegrityLevel.Quick, new AwsOptions(), NullOperationHost.Instance, CancellationToken.None);
        if (damage.QuickCatches)
        {
            Assert.False(quick.IsValid, $"Quick missed: {name}");
            Assert.Contains(quick.Problems, p => damage.Codes.Contains(p.Code));
        }
        else
        {
            Assert.True(quick.IsValid, $"Quick was expected not to see '{name}' (docs/integrity.md says so): {string.Join("; ", quick.Problems)}");
        }

        string restoreTarget = LocalServices.UniqueName("corrupt");
        var refused = await Assert.ThrowsAsync<BackupDRException>(() => RestoreRunner.RunAsync(new RestoreRequest { Uri = a, TableName = restoreTarget }, NullOperationHost.Instance, CancellationToken.None));
        Assert.Contains(refused.ErrorId, new[] { ErrorIds.BackupIntegrityFailed, ErrorIds.BackupNotCommitted });
        Assert.False(await services.TableExistsAsync(restoreTarget));
    }

    [Fact]
    public void Docs_integrity_md_shows_the_same_table()
    {
        string docs = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../docs/integrity.md"));
        var rows = File.ReadAllLines(docs)
            .Select(l => l.Split('|', StringSplitOptions.TrimEntries))
            .Where(cells => cells.Length >= 5 && Cases.Any(c => c.Name == cells[1]))
            .ToDictionary(cells => cells[1], cells => (Quick: cells[2], Full: cells[3]));
        foreach (var c in Cases)
        {
            Assert.True(rows.ContainsKey(c.Name), $"docs/integrity.md has no row for '{c.Name}'");
            Assert.Equal(c.QuickCatches ? "yes" : "no", rows[c.Name].Quick);
            Assert.Equal("yes", rows[c.Name].Full);
        }
    }
}
