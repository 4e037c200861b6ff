using System.Security.Cryptography;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Format;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;
using Xunit.Abstractions;

namespace BackupDR.Engine.Tests;

/// <summary>
/// The hostile-input matrix for backup folders (docs/integrity.md has the table): backups forged as
/// someone with write access to the bucket or the disk could — every hash re-chained, so only what
/// BackupDR checks as it reads stands between them and a write. Each case, in S3 and on disk where it
/// applies: Full validation names the problem; a restore refuses with its error id and creates no
/// table; nothing outside the backup changed; and where the forgery points outside, what it points at
/// is valid, so following it would have made the forgery pass.
/// </summary>
public sealed class HostileBackupTests(LocalServices services, ITestOutputHelper output) : IClassFixture<LocalServices>
{
    private static readonly string[] Lines = [.. ForgedBackup.Items(3)];

    private static ForgedBackup.DataFile Data(int items = 3, long? claimedItems = null, long? claimedUncompressed = null, string key = "data/s000-f0000.json.gz") =>
        ForgedBackup.Gzipped(key, ForgedBackup.Lines(ForgedBackup.Items(items)), claimedItems, claimedUncompressed);

    private static string Sha(byte[] bytes) => BackupFormat.Sha256Base64(bytes);

    private sealed record Case(string Name, bool Local, bool S3, string Problem, string RestoreError, Func<HostileWorld, Task<string>> Forge);

    private static readonly Case[] Cases =
    [
        new("tableDescriptionKey is an absolute path", true, true, ProblemCodes.InvalidManifest, ErrorIds.BackupIntegrityFailed, async w =>
        {
            byte[] outside = BackupFormat.Serialize(ForgedBackup.Table("stolen"));
            var (_, absolute) = await w.PlantOutsideAsync("table.json", outside);
            var (prefix, _, uri) = w.NewBackup();
            await ForgedBackup.WriteAsync(w.Store, prefix, "hostile", [Data()], s => { s.TableDescriptionKey = absolute; s.TableDescriptionSha256 = Sha(outside); });
            return uri;
        }),
        new("tableDescriptionKey climbs out with ..", true, true, ProblemCodes.InvalidManifest, ErrorIds.BackupIntegrityFailed, async w =>
        {
            byte[] outside = BackupFormat.Serialize(ForgedBackup.Table("stolen"));
            var (relative, _) = await w.PlantOutsideAsync("table.json", outside);
            var (prefix, _, uri) = w.NewBackup();
            await ForgedBackup.WriteAsync(w.Store, prefix, "hostile", [Data()], s => { s.TableDescriptionKey = relative; s.TableDescriptionSha256 = Sha(outside); });
            return uri;
        }),
        new("manifestFilesKey is an absolute path", true, true, ProblemCodes.InvalidManifest, ErrorIds.BackupIntegrityFailed, async w =>
        {
            var (prefix, _, uri) = w.NewBackup();
            var data = Data();
            byte[] files = BackupFormat.Serialize([Entry(data)]);
            var (_, absolute) = await w.PlantOutsideAsync("manifest-files.json", files);
            await ForgedBackup.WriteAsync(w.Store, prefix, "hostile", [data], s => { s.ManifestFilesKey = absolute; s.ManifestFilesSha256 = Sha(files); });
            return uri;
        }),
        new("manifestFilesKey climbs out with ..", true, true, ProblemCodes.InvalidManifest, ErrorIds.BackupIntegrityFailed, async w =>
        {
            var (prefix, _, uri) = w.NewBackup();
            var data = Data();
            byte[] files = BackupFormat.Serialize([Entry(data)]);
            var (relative, _) = await w.PlantOutsideAsync("manifest-files.json", files);
            await ForgedBackup.WriteAsync(w.Store, prefix, "hostile", [data], s => { s.ManifestFilesKey = relative; s.ManifestFilesSha256 = Sha(files); });
            return uri;
        }),
        new("a data file named by .. outside the backup", true, true, ProblemCodes.InvalidManifest, ErrorIds.BackupIntegrityFailed, async w =>
        {
            var data = Data();
            var (relative, _) = await w.PlantOutsideAsync("stolen.json.gz", data.Stored);
            var (prefix, _, uri) = w.NewBackup();
            await ForgedBackup.WriteAsync(w.Store, prefix, "hostile", [data with { Key = relative, Write = false }]);
            return uri;
        }),
        new("a data file named by an absolute path", true, true, ProblemCodes.InvalidManifest, ErrorIds.BackupIntegrityFailed, async w =>
        {
            var data = Data();
            var (_, absolute) = await w.PlantOutsideAsync("stolen.json.gz", data.Stored);
            var (prefix, _, uri) = w.NewBackup();
            await ForgedBackup.WriteAsync(w.Store, prefix, "hostile", [data with { Key = absolute, Write = false }]);
            return uri;
        }),
        new("a data file that is a symbolic link out of the backup", true, false, ProblemCodes.CorruptData, ErrorIds.BackupIntegrityFailed, async w =>
        {
            var data = Data();
            await w.PlantOutsideAsync("stolen.json.gz", data.Stored);
            var (prefix, _, uri) = w.NewBackup();
            await ForgedBackup.WriteAsync(w.Store, prefix, "hostile", [data]);
            string link = Path.Combine(uri, "data", "s000-f0000.json.gz");
            File.Delete(link);
            File.CreateSymbolicLink(link, Path.Combine(w.Root, "outside", "stolen.json.gz"));
            return uri;
        }),
        new("the data folder is a symbolic link out of the backup", true, false, ProblemCodes.UnexpectedObject, ErrorIds.BackupIntegrityFailed, async w =>
        {
            var data = Data();
            await w.PlantOutsideAsync("data/s000-f0000.json.gz", data.Stored);
            var (prefix, _, uri) = w.NewBackup();
            await ForgedBackup.WriteAsync(w.Store, prefix, "hostile", [data]);
            Directory.Delete(Path.Combine(uri, "data"), recursive: true);
            Directory.CreateSymbolicLink(Path.Combine(uri, "data"), Path.Combine(w.Root, "outside", "data"));
            return uri;
        }),
        new("the manifest says 10 items, the file holds 1,000", true, true, ProblemCodes.CountMismatch, ErrorIds.BackupIntegrityFailed, async w =>
        {
            var (prefix, _, uri) = w.NewBackup();
            await ForgedBackup.WriteAsync(w.Store, prefix, "hostile", [Data(items: 1000, claimedItems: 10)]);
            return uri;
        }),
        new("the manifest says 1,000 items, the file holds 10", true, true, ProblemCodes.CountMismatch, ErrorIds.BackupIntegrityFailed, async w =>
        {
            var (prefix, _, uri) = w.NewBackup();
            await ForgedBackup.WriteAsync(w.Store, prefix, "hostile", [Data(items: 10, claimedItems: 1000, claimedUncompressed: 100_000)]);
            return uri;
        }),
        new("the file decompresses to more than the manifest's uncompressedSizeBytes", true, true, ProblemCodes.CorruptData, ErrorIds.BackupIntegrityFailed, async w =>
        {
            var (prefix, _, uri) = w.NewBackup();
            await ForgedBackup.WriteAsync(w.Store, prefix, "hostile", [Data(items: 200, claimedUncompressed: 1000)]);
            return uri;
        }),
        new("a line nested 33 levels deep", true, true, ProblemCodes.InvalidItem, ErrorIds.BackupIntegrityFailed, async w =>
        {
            string deep = "{\"S\":\"leaf\"}";
            for (int i = 0; i < 32; i++) deep = $"{{\"L\":[{deep}]}}";
            var (prefix, _, uri) = w.NewBackup();
            await ForgedBackup.WriteAsync(w.Store, prefix, "hostile",
                [ForgedBackup.Gzipped("data/s000-f0000.json.gz", ForgedBackup.Lines([$"{{\"pk\":{{\"S\":\"a\"}},\"sk\":{{\"N\":\"1\"}},\"d\":{deep}}}"]))]);
            return uri;
        }),
        new("a blank-line flood (a megabyte of newlines)", true, true, ProblemCodes.CorruptData, ErrorIds.BackupIntegrityFailed, async w =>
        {
            byte[] flood = new byte[1 << 20];
            Array.Fill(flood, (byte)'\n');
            var (prefix, _, uri) = w.NewBackup();
            await ForgedBackup.WriteAsync(w.Store, prefix, "hostile", [ForgedBackup.Gzipped("data/s000-f0000.json.gz", flood)]);
            return uri;
        }),
        new("a data file not named as the format names them", true, true, ProblemCodes.InvalidManifest, ErrorIds.BackupIntegrityFailed, async w =>
        {
            var (prefix, _, uri) = w.NewBackup();
            var data = Data();
            await ForgedBackup.WriteAsync(w.Store, prefix, "hostile", [data, data with { Key = "data/../data/s000-f0000.json.gz", Write = false }]);
            return uri;
        }),
        new("an oversized manifest-summary.json (2 MiB)", true, true, ProblemCodes.InvalidManifest, ErrorIds.BackupIntegrityFailed, async w =>
        {
            var (prefix, _, uri) = w.NewBackup();
            await ForgedBackup.WriteAsync(w.Store, prefix, "hostile", [Data()], s => s.Writer = new string('w', 2 << 20));
            return uri;
        }),
        new("an oversized commit marker (1 MiB)", true, true, ProblemCodes.InvalidCommitMarker, ErrorIds.BackupNotCommitted, async w =>
        {
            var (prefix, _, uri) = w.NewBackup();
            await ForgedBackup.WriteAsync(w.Store, prefix, "hostile", [Data()]);
            await w.Store.PutAsync(prefix + BackupFormat.CommitMarkerKey, HostileWorld.Utf8("{\"pad\":\"" + new string('p', 1 << 20) + "\"}"), CancellationToken.None);
            return uri;
        }),
        new("a commit marker naming a base backup its summary does not continue", true, true, ProblemCodes.InvalidCommitMarker, ErrorIds.BackupIntegrityFailed, async w =>
        {
            var (prefix, _, uri) = w.NewBackup();
            await ForgedBackup.WriteAsync(w.Store, prefix, "hostile", [Data()]);
            var marker = BackupFormat.ParseMarker((await w.Store.TryReadAllAsync(prefix + BackupFormat.CommitMarkerKey, 1 << 16, CancellationToken.None))!);
            marker.BaseBackupId = "20000101T000000000Z-00000000";   // retention, which reads markers, would keep that one instead
            await w.Store.PutAsync(prefix + BackupFormat.CommitMarkerKey, BackupFormat.Serialize(marker), CancellationToken.None);
            return uri;
        }),
        new("a commit marker claiming a point in time its summary does not hold", true, true, ProblemCodes.InvalidCommitMarker, ErrorIds.BackupIntegrityFailed, async w =>
        {
            var (prefix, _, uri) = w.NewBackup();
            await ForgedBackup.WriteAsync(w.Store, prefix, "hostile", [Data()]);
            var marker = BackupFormat.ParseMarker((await w.Store.TryReadAllAsync(prefix + BackupFormat.CommitMarkerKey, 1 << 16, CancellationToken.None))!);
            marker.PointInTime = DateTimeOffset.UtcNow;   // a listing would offer a scan backup as a point
            await w.Store.PutAsync(prefix + BackupFormat.CommitMarkerKey, BackupFormat.Serialize(marker), CancellationToken.None);
            return uri;
        }),
        new("an oversized manifest-files.json (65 MiB)", true, false, ProblemCodes.InvalidManifest, ErrorIds.BackupIntegrityFailed, async w =>
        {
            var data = Data();
            byte[] files = new byte[65 << 20];
            byte[] entry = BackupFormat.Serialize([Entry(data)]);
            for (int at = 0; at + entry.Length <= files.Length; at += entry.Length) entry.CopyTo(files, at);
            var (prefix, _, uri) = w.NewBackup();
            await ForgedBackup.WriteAsync(w.Store, prefix, "hostile", [data], filesJson: files);
            return uri;
        }),
    ];

    private static DataFileEntry Entry(ForgedBackup.DataFile data) => new()
    {
        DataFile = data.Key, ItemCount = data.Items, SizeBytes = data.Stored.Length, UncompressedSizeBytes = data.Uncompressed,
        Sha256Checksum = Convert.ToBase64String(SHA256.HashData(data.Stored)), Md5Checksum = Convert.ToBase64String(MD5.HashData(data.Stored)),
    };

    public static TheoryData<string, bool> Matrix()
    {
        var data = new TheoryData<string, bool>();
        foreach (var c in Cases)
        {
            if (c.Local) data.Add(c.Name, false);
            if (c.S3) data.Add(c.Name, true);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public async Task A_forged_backup_is_a_named_problem_refused_before_any_write_and_nothing_outside_changes(string name, bool inS3)
    {
        var hostile = Cases.Single(c => c.Name == name);
        var world = await HostileWorld.CreateAsync(services, inS3);
        string uri = await hostile.Forge(world);
        var before = await world.SnapshotAsync(services);

        IntegrityReport report;
        using (var folder = BackupFolder.Open(BackupLocation.Parse(uri), new AwsClientFactory(new())))
        {
            (report, _) = await new IntegrityChecker(folder, NullOperationHost.Instance).CheckAsync(IntegrityLevel.Full, CancellationToken.None);
        }
        output.WriteLine($"{name} ({(inS3 ? "S3" : "disk")}): {string.Join(" | ", report.Problems)}");
        Assert.False(report.IsValid);
        Assert.Contains(report.Problems, p => p.Code == hostile.Problem);

        string table = LocalServices.UniqueName("hostile");
        var error = await Assert.ThrowsAsync<BackupDRException>(() => RestoreRunner.RunAsync(new RestoreRequest
        {
            Uri = uri, TableName = table, CheckpointUri = Path.Combine(Path.GetTempPath(), "bdr-hostile-checkpoints"),
        }, NullOperationHost.Instance, CancellationToken.None));
        output.WriteLine($"  restore: {error.ErrorId}: {error.Message.Split('\n')[0]}");
        Assert.Equal(hostile.RestoreError, error.ErrorId);
        Assert.False(await services.TableExistsAsync(table), "a refused restore created its table");
        Assert.Equal(before, await world.SnapshotAsync(services));
    }

    [Fact]
    public void Docs_integrity_md_shows_the_same_hostile_table()
    {
        string docs = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../docs/integrity.md"));
        var rows = File.ReadAllLines(docs)
            .Select(l => l.Split('|', StringSplitOptions.TrimEntries))
            .Where(cells => cells.Length >= 6 && Cases.Any(c => c.Name == cells[1]))
            .ToDictionary(cells => cells[1], cells => (Where: cells[2], Problem: cells[3].Trim('`'), Restore: cells[4].Trim('`')));
        foreach (var c in Cases)
        {
            Assert.True(rows.ContainsKey(c.Name), $"docs/integrity.md has no row for '{c.Name}'");
            Assert.Equal(c.Local && c.S3 ? "both" : c.S3 ? "S3" : "disk", rows[c.Name].Where);
            Assert.Equal(c.Problem, rows[c.Name].Problem);
            Assert.Equal(c.RestoreError, rows[c.Name].Restore);
        }
        Assert.Equal(Cases.Length, rows.Count);
    }

    [Fact]
    public async Task Removing_a_local_backup_that_holds_links_removes_the_links_never_what_they_point_at()
    {
        var world = await HostileWorld.CreateAsync(services, inS3: false);
        await world.PlantOutsideAsync("precious/a.txt", HostileWorld.Utf8("keep me"));
        await world.PlantOutsideAsync("precious/b.txt", HostileWorld.Utf8("keep me too"));
        var (prefix, _, uri) = world.NewBackup();
        await ForgedBackup.WriteAsync(world.Store, prefix, "hostile", [Data()]);
        Directory.CreateSymbolicLink(Path.Combine(uri, "data", "folder-link"), Path.Combine(world.Root, "outside", "precious"));
        File.CreateSymbolicLink(Path.Combine(uri, "file-link"), Path.Combine(world.Root, "outside", "precious", "a.txt"));
        var outside = (await world.SnapshotAsync(services)).Where(e => e.Key.StartsWith("outside", StringComparison.Ordinal)).ToList();

        var removed = await Operations.RemoveBackupAsync(uri, new AwsOptions(), CancellationToken.None);

        Assert.Equal(7, removed.ObjectsDeleted);   // marker, 2 manifests, table.json, the data file, 2 links
        Assert.False(Directory.Exists(uri));
        Assert.Equal(outside, (await world.SnapshotAsync(services)).Where(e => e.Key.StartsWith("outside", StringComparison.Ordinal)).ToList());
    }

    [Fact]
    public async Task Local_backups_and_checkpoints_are_private_to_their_user()
    {
        if (OperatingSystem.IsWindows()) return;   // Unix permissions
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(77, 30));
        string target = Path.Combine(Path.GetTempPath(), "bdr-private-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(target);
        var results = new List<Backup.BackupResult>();
        await Backup.BackupRunner.RunAsync(new Backup.BackupRequest { TableNames = [table], Target = BackupLocation.ForFolder(target) }, NullOperationHost.Instance, results.Add, CancellationToken.None);
        foreach (string path in Directory.EnumerateFileSystemEntries(Path.Combine(target, table), "*", SearchOption.AllDirectories).Append(Path.Combine(target, table)))
        {
            var mode = File.GetUnixFileMode(path);
            var expected = Directory.Exists(path) ? UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute : UnixFileMode.UserRead | UnixFileMode.UserWrite;
            Assert.True(mode == expected, $"{path} is {mode}, expected {expected}");
        }
    }
}
