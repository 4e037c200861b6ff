using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Format;
using BackupDR.Engine.Json;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;
using static BackupDR.Engine.Tests.TestItems;

using static BackupDR.Engine.Tests.ForeignFixtures;

namespace BackupDR.Engine.Tests;

/// <summary>
/// DynamoDB's own exports (full and incremental, alone and as a chain), laid out as the AWS
/// documentation describes, validated by their own rules and restored through the engine's one path.
/// </summary>
public sealed class NativeExportTests(LocalServices services) : IClassFixture<LocalServices>
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 30, 8, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset T1 = T0.AddHours(2);
    private static readonly DateTimeOffset T2 = T1.AddHours(3);

    private readonly string _checkpoints = Folder("bdr-native-cp");

    /// <summary>A store (folder or bucket) holding exports under "prod/", and the URI of its AWSDynamoDB folder.</summary>
    private async Task<(NativeExportFixture Fixture, IBackupStore Store, string Root)> WorldAsync(bool inS3)
    {
        if (inS3)
        {
            string bucket = await services.CreateBucketAsync();
            var s3 = new S3BackupStore(new AwsClientFactory(new()).CreateS3(), bucket);
            return (new NativeExportFixture(s3, "prod/", bucket), s3, $"s3://{bucket}/prod/AWSDynamoDB/");
        }
        string folder = Folder("bdr-native");
        var local = new LocalBackupStore(folder);
        return (new NativeExportFixture(local, "prod/"), local, Path.Combine(folder, "prod", "AWSDynamoDB"));
    }

    private static string Uri(string root, string id) => root.StartsWith("s3://", StringComparison.Ordinal) ? root + id + "/" : Path.Combine(root, id);

    private static Dictionary<string, AttributeValue> Key(Dictionary<string, AttributeValue> item) => new() { ["pk"] = item["pk"], ["sk"] = item["sk"] };

    private static string KeyText(Dictionary<string, AttributeValue> item) => ItemCanonical.Of(Key(item));

    /// <summary>
    /// The story the exports tell: a full export of 300 items (every type), then a window with inserts,
    /// updates that change every attribute type, and deletes, then an empty window. Returns the state
    /// after each export.
    /// </summary>
    private static (List<Dictionary<string, AttributeValue>> Full, List<Change> Window, Dictionary<string, string> AfterFull, Dictionary<string, string> AfterWindow) Story()
    {
        var full = Random(31, 290).Concat(FidelitySet().Where(i => i["pk"].S != "large")).ToList();
        var state = full.ToDictionary(KeyText, i => i);
        var afterFull = state.ToDictionary(p => p.Key, p => ItemCanonical.Of(p.Value));
        var window = new List<Change>();
        // Inserts.
        foreach (var item in Random(32, 40)) window.Add(new Change(Key(item), item, null));
        // Updates: each changes one attribute of each type, and one changes every type at once.
        var updated = full.Take(20).ToList();
        AttributeValue[] values =
        [
            S("changed"), N("-1.2345678901234567890123456789012345678E+125"), B([0, 1, 2, 255]), new() { BOOL = false }, new() { NULL = true },
            new() { SS = ["x", "y"] }, new() { NS = ["1", "-0.5", "9.9999999999999999999999999999999999999E+125"] }, new() { BS = [new MemoryStream([9]), new MemoryStream([])] },
            new() { L = [S("l"), N("2")], IsLSet = true }, new() { M = new() { ["deep"] = new() { M = new() { ["x"] = N("3") }, IsMSet = true } }, IsMSet = true },
        ];
        for (int i = 0; i < updated.Count; i++)
        {
            var old = updated[i];
            var now = new Dictionary<string, AttributeValue>(old) { ["changed" + (i % values.Length)] = values[i % values.Length] };
            if (i == updated.Count - 1) for (int v = 0; v < values.Length; v++) now["all" + v] = values[v];
            window.Add(new Change(Key(old), now, old));
        }
        // Deletes.
        foreach (var old in full.Skip(20).Take(25)) window.Add(new Change(Key(old), null, old));

        foreach (var change in window)
        {
            if (change.NewImage is null) state.Remove(KeyText(change.Keys));
            else state[KeyText(change.Keys)] = change.NewImage;
        }
        return (full, window, afterFull, state.ToDictionary(p => p.Key, p => ItemCanonical.Of(p.Value)));
    }

    private async Task<(string Root, string Full, string Empty, string Window, Dictionary<string, string> AfterFull, Dictionary<string, string> AfterWindow, int Records)> ChainAsync(bool inS3, bool gap = false)
    {
        var (fixture, _, root) = await WorldAsync(inS3);
        var story = Story();
        string full = await fixture.WriteFullAsync("orders", T0, story.Full);
        fixture.ChecksumSidecars = true;   // the documented sidecar name for the incrementals
        string empty = await fixture.WriteIncrementalAsync("orders", T0, T1, []);
        string window = await fixture.WriteIncrementalAsync("orders", gap ? T1.AddMinutes(15) : T1, T2, story.Window);
        return (root, full, empty, window, story.AfterFull, story.AfterWindow, story.Full.Count + story.Window.Count);
    }

    private Task<RestoreResult> RestoreAsync(string uri, string table, bool keySchema = true, bool allowGaps = false, DateTimeOffset? pointInTime = null, bool revert = false,
        IOperationHost? host = null) =>
        RestoreRunner.RunAsync(new RestoreRequest
        {
            Uri = uri, TableName = table, CheckpointUri = _checkpoints, AllowGaps = allowGaps, PointInTime = pointInTime, Revert = revert,
            KeySchema = keySchema ? [new KeyAttribute("pk", "S"), new KeyAttribute("sk", "N")] : null,
        }, host ?? NullOperationHost.Instance, CancellationToken.None);


    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_chain_validates_by_its_own_rules_and_restores_to_the_state_it_describes(bool inS3)
    {
        var chain = await ChainAsync(inS3);
        foreach (var (id, records) in new[] { (chain.Full, chain.AfterFull.Count), (chain.Empty, 0), (chain.Window, chain.Records - chain.AfterFull.Count) })
        {
            foreach (var level in new[] { IntegrityLevel.Quick, IntegrityLevel.Full })
            {
                var one = await CheckAsync(Uri(chain.Root, id), level);
                Assert.True(one.IsValid, string.Join("; ", one.Problems));
                Assert.Equal(SourceFormat.NativeExport, one.Format);
                Assert.Equal(id, one.BackupId);
                Assert.Equal(level == IntegrityLevel.Full ? records : -1, one.ItemsVerified);
            }
        }
        var report = await CheckAsync(chain.Root, IntegrityLevel.Full);
        Assert.True(report.IsValid, string.Join("; ", report.Problems));
        Assert.Equal(SourceFormat.NativeExportChain, report.Format);
        Assert.Equal(chain.Records, report.ItemsVerified);
        Assert.Equal(7, report.FilesChecked);

        string table = LocalServices.UniqueName("chain");
        var result = await RestoreAsync(chain.Root, table);
        Assert.Equal(SourceFormat.NativeExportChain, result.Format);
        Assert.True(result.TableCreated);
        Assert.Equal(25, result.ItemsDeleted);
        Assert.Equal(chain.Records - 25, result.ItemsWritten);
        var restored = await services.ReadTableAsync(table);
        Assert.Equal(chain.AfterWindow.Count, restored.Count);
        foreach (var (key, item) in chain.AfterWindow) Assert.Equal(item, restored[key]);
    }

    [Fact]
    public async Task A_chain_with_a_gap_is_refused_before_anything_is_written_and_restored_across_it_with_AllowGaps()
    {
        var chain = await ChainAsync(inS3: false, gap: true);
        string table = LocalServices.UniqueName("gap");
        var refused = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(chain.Root, table));
        Assert.Equal(ErrorIds.ExportChainGap, refused.ErrorId);
        Assert.Contains(chain.Empty, refused.Message);
        Assert.Contains(chain.Window, refused.Message);
        Assert.Contains("10:00:00.000Z to 2026-11-30 10:15:00.000Z", refused.Message);
        Assert.False(await services.TableExistsAsync(table));
        var report = await CheckAsync(chain.Root, IntegrityLevel.Quick);
        Assert.Equal(ProblemCodes.ExportChainGap, Assert.Single(report.Problems).Code);

        var host = new RecordingHost();
        await RestoreAsync(chain.Root, table, allowGaps: true, host: host);
        Assert.Contains(host.Warnings, w => w.Contains("accepted", StringComparison.Ordinal));
        Assert.Equal(chain.AfterWindow, await services.ReadTableAsync(table));
        var accepted = await CheckAsync(chain.Root, IntegrityLevel.Quick, new ReadOptions(AllowGaps: true));
        Assert.True(accepted.IsValid);
        Assert.Contains(accepted.Limits, l => l.StartsWith("A gap was accepted", StringComparison.Ordinal));
    }

    [Fact]
    public async Task PointInTime_stops_the_chain_at_the_last_export_ending_at_or_before_it()
    {
        var chain = await ChainAsync(inS3: false);
        string table = LocalServices.UniqueName("pit");
        await RestoreAsync(chain.Root, table, pointInTime: T2.AddSeconds(-1));
        Assert.Equal(chain.AfterFull, await services.ReadTableAsync(table));
        var before = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(chain.Root, LocalServices.UniqueName("pit"), pointInTime: T0.AddSeconds(-1)));
        Assert.True(before.ErrorId == ErrorIds.BackupIntegrityFailed, before.ErrorId + ": " + before.Message);
        Assert.Contains("no finished full export at or before", before.Message);
    }

    [Fact]
    public async Task An_incremental_export_is_applied_to_a_table_and_its_window_reverted()
    {
        var chain = await ChainAsync(inS3: false);
        string table = LocalServices.UniqueName("rev");
        await RestoreAsync(chain.Root, table, pointInTime: T1);
        Assert.Equal(chain.AfterFull, await services.ReadTableAsync(table));

        // Applying the window: no mode, the key from the table, asked once with the counts.
        var host = new RecordingHost();
        var applied = await RestoreAsync(Uri(chain.Root, chain.Window), table, keySchema: false, host: host);
        Assert.Equal(SourceFormat.NativeExport, applied.Format);
        Assert.Equal(25, applied.ItemsDeleted);
        Assert.Contains("putting 60 item(s) (over any item with the same key) and deleting 25", Assert.Single(host.Questions));
        Assert.Equal(chain.AfterWindow, await services.ReadTableAsync(table));

        // Reverting it: inserts deleted, updated and deleted items put back as they were.
        var reverted = await RestoreAsync(Uri(chain.Root, chain.Window), table, keySchema: false, revert: true);
        Assert.Equal(40, reverted.ItemsDeleted);
        Assert.Equal(45, reverted.ItemsWritten);
        Assert.Equal(chain.AfterFull, await services.ReadTableAsync(table));

        // Not confirmed: nothing changes.
        var no = new RecordingHost { Answer = false };
        var refused = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(Uri(chain.Root, chain.Window), table, keySchema: false, host: no));
        Assert.Equal(ErrorIds.NotConfirmed, refused.ErrorId);
        Assert.Equal(chain.AfterFull, await services.ReadTableAsync(table));

        // Into a table that does not exist: an incremental holds changes, not a table.
        var missing = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(Uri(chain.Root, chain.Window), LocalServices.UniqueName("none")));
        Assert.Equal(ErrorIds.TableNotFound, missing.ErrorId);
    }

    [Fact]
    public async Task Revert_needs_the_old_images()
    {
        var (fixture, _, root) = await WorldAsync(inS3: false);
        var story = Story();
        string id = await fixture.WriteIncrementalAsync("orders", T0, T1, story.Window, view: "NEW_IMAGE");
        Assert.True((await CheckAsync(Uri(root, id), IntegrityLevel.Full)).IsValid);
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, story.Full.Take(5));
        var refused = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(Uri(root, id), table, keySchema: false, revert: true));
        Assert.Equal(ErrorIds.InvalidArgument, refused.ErrorId);
        Assert.Contains("NEW_AND_OLD_IMAGES", refused.Message);
        Assert.Equal(5, (await services.ReadTableAsync(table)).Count);
    }

    [Fact]
    public async Task A_new_table_needs_a_key_schema_and_the_source_table_is_offered()
    {
        var (fixture, _, root) = await WorldAsync(inS3: false);
        string source = await services.CreateTableAsync();
        string id = await fixture.WriteFullAsync(source, T0, Random(5, 30));
        string table = LocalServices.UniqueName("nokey");
        var refused = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(Uri(root, id), table, keySchema: false));
        Assert.Equal(ErrorIds.KeySchemaRequired, refused.ErrorId);
        Assert.Contains("pk:S,sk:N", refused.Message);
        Assert.False(await services.TableExistsAsync(table));
        var result = await RestoreAsync(Uri(root, id), table);
        Assert.Equal(30, result.ItemsWritten);
        Assert.Equal(SourceFormat.NativeExport, result.Format);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Damage_is_found_as_it_is_in_BackupDRs_own_format(bool inS3)
    {
        var (fixture, store, root) = await WorldAsync(inS3);
        var items = Random(9, 120);

        // A flipped bit: Quick sees the file, Full its MD5.
        string flipped = await fixture.WriteFullAsync("orders", T0, items);
        string file = (await fixture.DataFileKeysAsync(flipped))[1];
        byte[] bytes = (await store.TryReadAllAsync(file, 1 << 24, CancellationToken.None))!;
        bytes[bytes.Length / 2] ^= 0x10;
        await store.PutAsync(file, bytes, CancellationToken.None);
        Assert.True((await CheckAsync(Uri(root, flipped), IntegrityLevel.Quick)).IsValid);
        Assert.Contains((await CheckAsync(Uri(root, flipped), IntegrityLevel.Full)).Problems, p => p.Code is ProblemCodes.ChecksumMismatch or ProblemCodes.CorruptData);

        // A missing file.
        string missing = await fixture.WriteFullAsync("orders", T0, items);
        await store.DeleteAsync((await fixture.DataFileKeysAsync(missing))[0], CancellationToken.None);
        Assert.Contains((await CheckAsync(Uri(root, missing), IntegrityLevel.Quick)).Problems, p => p.Code == ProblemCodes.MissingDataFile);

        // A lying count, re-chained to its sidecar: the summary disagrees; made to agree, Full counts the lines.
        string lying = await fixture.WriteFullAsync("orders", T0, items);
        await fixture.ForgeFilesAsync(lying, text => new System.Text.RegularExpressions.Regex("\"itemCount\":40").Replace(text, "\"itemCount\":41", 1));
        Assert.Contains((await CheckAsync(Uri(root, lying), IntegrityLevel.Quick)).Problems, p => p.Code == ProblemCodes.CountMismatch);
        await fixture.ForgeSummaryAsync(lying, text => text.Replace("\"itemCount\":120", "\"itemCount\":121"));
        Assert.True((await CheckAsync(Uri(root, lying), IntegrityLevel.Quick)).IsValid);
        Assert.Contains((await CheckAsync(Uri(root, lying), IntegrityLevel.Full)).Problems, p => p.Code == ProblemCodes.CountMismatch);

        // A summary edited without its sidecar.
        string edited = await fixture.WriteFullAsync("orders", T0, items);
        string summaryKey = fixture.Root + edited + "/manifest-summary.json";
        string summary = System.Text.Encoding.UTF8.GetString((await store.TryReadAllAsync(summaryKey, 1 << 20, CancellationToken.None))!);
        await store.PutAsync(summaryKey, System.Text.Encoding.UTF8.GetBytes(summary.Replace("\"itemCount\":120", "\"itemCount\":12")), CancellationToken.None);
        Assert.Equal(ProblemCodes.ManifestChecksumMismatch, Assert.Single((await CheckAsync(Uri(root, edited), IntegrityLevel.Quick)).Problems).Code);

        // Each is refused by a restore, before a table exists.
        foreach (var id in new[] { flipped, missing, lying, edited })
        {
            string table = LocalServices.UniqueName("damaged");
            var e = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(Uri(root, id), table));
            Assert.True(e.ErrorId == ErrorIds.BackupIntegrityFailed, e.ErrorId + ": " + e.Message);
            Assert.False(await services.TableExistsAsync(table));
        }
    }

    [Fact]
    public async Task An_export_that_never_finished_is_not_trusted()
    {
        var (_, store, root) = await WorldAsync(inS3: false);
        string id = "01764489600000-0badcafe";
        await store.PutAsync($"prod/AWSDynamoDB/{id}/_started", [], CancellationToken.None);
        var report = await CheckAsync(Uri(root, id), IntegrityLevel.Quick);
        Assert.Equal(SourceFormat.NativeExport, report.Format);
        Assert.False(report.IsCommitted);
        Assert.Contains("never finished", Assert.Single(report.Problems).Message);
        var e = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(Uri(root, id), LocalServices.UniqueName("unfinished")));
        Assert.Equal(ErrorIds.BackupNotCommitted, e.ErrorId);
    }

    [Theory]
    [InlineData("another export's file")]
    [InlineData("a key that climbs out")]
    [InlineData("a manifest elsewhere")]
    [InlineData("more lines than items")]
    [InlineData("a link out")]
    public async Task A_forged_export_names_a_problem_and_reads_nothing_outside(string forgery)
    {
        var (fixture, store, root) = await WorldAsync(inS3: false);
        var items = Random(11, 60);
        string other = await fixture.WriteFullAsync("orders", T0, items);
        string id = await fixture.WriteFullAsync("orders", T0.AddHours(1), items);
        string expected = ProblemCodes.InvalidManifest;
        switch (forgery)
        {
            case "another export's file":
                string theirs = (await fixture.DataFileKeysAsync(other))[0];
                await fixture.ForgeFilesAsync(id, text =>
                {
                    var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                    lines[0] = System.Text.RegularExpressions.Regex.Replace(lines[0], "\"dataFileS3Key\":\"[^\"]*\"", $"\"dataFileS3Key\":\"prod/{theirs}\"");
                    return string.Join('\n', lines) + "\n";
                });
                break;
            case "a key that climbs out":
                await fixture.ForgeFilesAsync(id, text => text.Replace($"AWSDynamoDB/{id}/data/", $"AWSDynamoDB/{id}/data/../../{other}/data/"));
                break;
            case "a manifest elsewhere":
                await fixture.ForgeSummaryAsync(id, text => text.Replace($"AWSDynamoDB/{id}/manifest-files.json", $"AWSDynamoDB/{other}/manifest-files.json"));
                break;
            case "more lines than items":
                string file = (await fixture.DataFileKeysAsync(id))[0];
                var lines = new List<byte[]>();
                for (int i = 0; i < 100_000; i++) lines.Add([]);
                await store.PutAsync(file, NativeExportFixture.Gzip(lines), CancellationToken.None);   // a flood of blank lines; its MD5 no longer matches either
                expected = ProblemCodes.CountMismatch;
                break;
            case "a link out":
                string target = (await fixture.DataFileKeysAsync(id))[0];
                string path = Path.Combine(((LocalBackupStore)store).Root, target);
                File.Delete(path);
                File.CreateSymbolicLink(path, Path.Combine(((LocalBackupStore)store).Root, (await fixture.DataFileKeysAsync(other))[0]));
                expected = ProblemCodes.CorruptData;
                break;
        }
        var report = await CheckAsync(Uri(root, id), IntegrityLevel.Full);
        Assert.Contains(report.Problems, p => p.Code == expected);
        Assert.True(report.ItemsVerified < items.Count * 2);
        string table = LocalServices.UniqueName("forged");
        var e = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(Uri(root, id), table));
        Assert.Equal(ErrorIds.BackupIntegrityFailed, e.ErrorId);
        Assert.False(await services.TableExistsAsync(table));
    }

    /// <summary>
    /// Import from S3 compatibility: BackupDR's data files, named by a manifest in DynamoDB's own export
    /// layout, pass the native-export reader — which refuses any record that is not exactly
    /// <c>{"Item":{…}}</c> in DynamoDB JSON — at Full, item for item.
    /// </summary>
    [Fact]
    public async Task BackupDRs_data_files_are_read_as_a_native_DynamoDB_JSON_export()
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, Random(41, 500).Concat(FidelitySet()));
        string target = Folder("bdr-native-own");
        var results = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [table], Target = BackupLocation.ForFolder(target), Segments = 2, MaxDataFileBytes = 64 * 1024 },
            NullOperationHost.Instance, results.Add, CancellationToken.None);
        var backup = new LocalBackupStore(results[0].Uri);
        var ours = new List<(string Key, byte[] Bytes)>();
        await foreach (var obj in backup.ListAsync("data/", CancellationToken.None)) ours.Add((obj.Key, (await backup.TryReadAllAsync(obj.Key, 1 << 26, CancellationToken.None))!));
        Assert.True(ours.Count > 1);

        var (fixture, store, root) = await WorldAsync(inS3: false);
        string id = await fixture.WriteFullAsync(table, T0, []);
        var counts = new Dictionary<string, int>();
        foreach (var (key, bytes) in ours)
        {
            using var gz = new System.IO.Compression.GZipStream(new MemoryStream(bytes), System.IO.Compression.CompressionMode.Decompress);
            using var text = new StreamReader(gz);
            counts[key] = (await text.ReadToEndAsync()).Count(c => c == '\n');
            await store.PutAsync($"{fixture.Root}{id}/{key.Replace("data/", "data/own", StringComparison.Ordinal).Replace(".json.gz", "", StringComparison.Ordinal).Replace("-", "_", StringComparison.Ordinal)}.json.gz", bytes, CancellationToken.None);
        }
        foreach (var empty in await fixture.DataFileKeysAsync(id)) await store.DeleteAsync(empty, CancellationToken.None);
        await fixture.ForgeFilesAsync(id, _ => string.Concat(ours.Select(o =>
            System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["itemCount"] = counts[o.Key],
                ["md5Checksum"] = Convert.ToBase64String(System.Security.Cryptography.MD5.HashData(o.Bytes)),
                ["etag"] = "0-1",
                ["dataFileS3Key"] = $"prod/AWSDynamoDB/{id}/{o.Key.Replace("data/", "data/own", StringComparison.Ordinal).Replace(".json.gz", "", StringComparison.Ordinal).Replace("-", "_", StringComparison.Ordinal)}.json.gz",
            }) + "\n")));
        await fixture.ForgeSummaryAsync(id, text => text.Replace("\"itemCount\":0", $"\"itemCount\":{counts.Values.Sum()}"));

        var report = await CheckAsync(Uri(root, id), IntegrityLevel.Full);
        Assert.True(report.IsValid, string.Join("; ", report.Problems));
        Assert.Equal(results[0].ItemCount, report.ItemsVerified);
    }

    [Fact]
    public async Task A_chain_is_not_built_around_an_export_it_cannot_read_but_one_still_running_is_left_out()
    {
        var chain = await ChainAsync(inS3: false);
        string root = chain.Root;
        // An export still running: left out, and said so.
        Directory.CreateDirectory(Path.Combine(root, "01799999999999-00000001"));
        await File.WriteAllBytesAsync(Path.Combine(root, "01799999999999-00000001", "_started"), []);
        var running = await CheckAsync(root, IntegrityLevel.Quick);
        Assert.True(running.IsValid, string.Join("; ", running.Problems));
        Assert.Contains(running.Limits, l => l.Contains("01799999999999-00000001", StringComparison.Ordinal) && l.Contains("not finished", StringComparison.Ordinal));

        // The last window's summary edited without its sidecar: the chain would end an export early, so it is refused.
        string summary = Path.Combine(root, chain.Window, "manifest-summary.json");
        await File.WriteAllTextAsync(summary, (await File.ReadAllTextAsync(summary)).Replace("\"itemCount\":85", "\"itemCount\":84", StringComparison.Ordinal));
        var damaged = await CheckAsync(root, IntegrityLevel.Quick);
        Assert.Contains(damaged.Problems, p => p.Code == ProblemCodes.ManifestChecksumMismatch && p.File!.StartsWith(chain.Window, StringComparison.Ordinal));
        string table = LocalServices.UniqueName("chain-damaged");
        var e = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(root, table));
        Assert.Equal(ErrorIds.BackupIntegrityFailed, e.ErrorId);
        Assert.False(await services.TableExistsAsync(table));
    }
}
