using System.Text;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Format;
using BackupDR.Engine.Json;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

using static BackupDR.Engine.Tests.ForeignFixtures;

namespace BackupDR.Engine.Tests;

/// <summary>
/// The original backup Lambda's v2.0 files, written by Python exactly as the seed wrote them
/// (tests/fixtures/seed_v2.py): proven by the seed's own checksum rule, restored through the one
/// restore path, with what the seed had already lost reported attribute by attribute.
/// </summary>
public sealed class SeedBackupTests(LocalServices services) : IClassFixture<LocalServices>
{
    private readonly string _checkpoints = Folder("bdr-seed-cp");

    private static readonly KeyAttribute[] Key = [new("pk", "S"), new("sk", "N")];

    private Task<RestoreResult> RestoreAsync(string uri, string table, bool keySchema = true) =>
        RestoreRunner.RunAsync(new RestoreRequest { Uri = uri, TableName = table, CheckpointUri = _checkpoints, KeySchema = keySchema ? Key : null },
            NullOperationHost.Instance, CancellationToken.None);


    /// <summary>What the seed lost of the every-kind items, attribute by attribute (the bulk items lose their "labels" sets and nested numbers).</summary>
    private static readonly (string Attribute, string Kind, string Example)[] ExpectedLosses =
    [
        ("big", "ThroughFloat", "1.2345678901234568e+37"),
        ("blobs", "SetAsString", "{Binary(b'\\x00\\x01\\xff')}"),
        ("history", "NumberAsString", "1"),
        ("labels", "SetAsString", ""),
        ("meta", "NumberAsString", ""),
        ("pi", "ThroughFloat", "3.141592653589793"),
        ("profile", "NumberAsString", "42"),
        ("profile", "SetAsString", "{'en'}"),
        ("scores", "SetAsString", "{Decimal('2.5')}"),
        ("tags", "SetAsString", "{'red'}"),
    ];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_seed_file_is_proven_by_its_own_rule_and_restored_with_what_the_seed_lost_named(bool inS3)
    {
        string folder = Folder("bdr-seed");
        string path = ForeignFixtures.Seed(folder, "orders", bulk: 400);
        string uri = path;
        if (inS3)
        {
            string bucket = await services.CreateBucketAsync();
            var s3 = new S3BackupStore(new AwsClientFactory(new()).CreateS3(), bucket);
            await s3.PutAsync("dynamodb-backups/" + Path.GetFileName(path), await File.ReadAllBytesAsync(path), CancellationToken.None);
            uri = $"s3://{bucket}/dynamodb-backups/{Path.GetFileName(path)}";
        }
        foreach (var level in new[] { IntegrityLevel.Quick, IntegrityLevel.Full })
        {
            var report = await CheckAsync(uri, level);
            Assert.True(report.IsValid, string.Join("; ", report.Problems));
            Assert.Equal(SourceFormat.SeedV2, report.Format);
            Assert.Equal("orders", report.TableName);
            Assert.Equal(405, report.ExpectedItemCount);
            Assert.Equal(level == IntegrityLevel.Full ? 405 : -1, report.ItemsVerified);
            AssertLosses(report.Losses);
        }

        string table = LocalServices.UniqueName("seed");
        var result = await RestoreAsync(uri, table);
        Assert.Equal(SourceFormat.SeedV2, result.Format);
        Assert.Equal(405, result.ItemsWritten);
        AssertLosses(result.Losses);
        var expected = ForeignFixtures.Expected(path + ".expected.json");
        var restored = await services.ReadTableAsync(table);
        Assert.Equal(expected.Count, restored.Count);
        foreach (var (key, item) in expected) Assert.Equal(item, restored[key]);
    }

    private static void AssertLosses(IReadOnlyList<SeedLoss> losses)
    {
        Assert.Equal(ExpectedLosses.Select(l => (l.Attribute, l.Kind)), losses.Select(l => (l.Attribute, l.Kind)));
        foreach (var (attribute, kind, example) in ExpectedLosses.Where(l => l.Example.Length > 0))
        {
            Assert.Equal(example, losses.Single(l => l.Attribute == attribute && l.Kind == kind).Example);
        }
        Assert.Equal(1, losses.Single(l => l.Attribute == "big").Count);
        Assert.Equal(3, losses.Single(l => l.Attribute == "history").Count);   // "1", "2.50" and, in the inner list, "4"
        Assert.Equal(58, losses.Single(l => l.Attribute == "labels").Count);   // every 7th of 400 bulk items
        Assert.Equal(400, losses.Single(l => l.Attribute == "meta").Count);
    }

    [Fact]
    public async Task An_edited_item_count_or_item_is_refused_by_the_seeds_own_rule()
    {
        string folder = Folder("bdr-seed-edit");
        string path = ForeignFixtures.Seed(folder, "orders", bulk: 10);
        string text = await File.ReadAllTextAsync(path);

        string counted = Path.Combine(folder, "counted.json");
        await File.WriteAllTextAsync(counted, text.Replace("\"item_count\": 15,", "\"item_count\": 16,", StringComparison.Ordinal));
        var count = await CheckAsync(counted, IntegrityLevel.Quick);
        Assert.Equal(ProblemCodes.CountMismatch, Assert.Single(count.Problems).Code);

        string edited = Path.Combine(folder, "edited.json");
        await File.WriteAllTextAsync(edited, text.Replace("\"price\": 19.99", "\"price\": 19.98", StringComparison.Ordinal));
        var checksum = await CheckAsync(edited, IntegrityLevel.Full);
        Assert.Equal(ProblemCodes.ChecksumMismatch, Assert.Single(checksum.Problems).Code);

        // A flipped bit (f → g in a string): the seed's checksum no longer holds.
        string flipped = Path.Combine(folder, "flipped.json");
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        bytes[text.IndexOf("fullwidth key", StringComparison.Ordinal)] ^= 0x01;
        await File.WriteAllBytesAsync(flipped, bytes);
        Assert.Equal(ProblemCodes.ChecksumMismatch, Assert.Single((await CheckAsync(flipped, IntegrityLevel.Quick)).Problems).Code);

        // A missing file: nothing to check or restore.
        var missing = await Assert.ThrowsAsync<BackupDRException>(() => CheckAsync(Path.Combine(folder, "gone.json"), IntegrityLevel.Quick));
        Assert.Equal(ErrorIds.BackupNotFound, missing.ErrorId);

        foreach (var file in new[] { counted, edited, flipped })
        {
            string table = LocalServices.UniqueName("seed-edit");
            var e = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(file, table));
            Assert.Equal(ErrorIds.BackupIntegrityFailed, e.ErrorId);
            Assert.False(await services.TableExistsAsync(table));
        }
    }

    [Fact]
    public async Task A_number_the_seeds_float_carried_out_of_range_is_named_and_nothing_is_written()
    {
        string path = ForeignFixtures.Seed(Folder("bdr-seed-huge"), "orders", bulk: 0, outOfRange: true);
        var quick = await CheckAsync(path, IntegrityLevel.Quick);
        Assert.True(quick.IsValid);   // the seed's own rule holds: it checksummed what it had already changed
        Assert.Contains(quick.Losses, l => l.Attribute == "max" && l.Kind == "ThroughFloat" && l.Example == "1e+126");
        var full = await CheckAsync(path, IntegrityLevel.Full);
        var problem = Assert.Single(full.Problems);
        Assert.Equal(ProblemCodes.InvalidItem, problem.Code);
        Assert.Contains("1e+126", problem.Message);
        string table = LocalServices.UniqueName("seed-huge");
        var e = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(path, table));
        Assert.Equal(ErrorIds.BackupIntegrityFailed, e.ErrorId);
        Assert.False(await services.TableExistsAsync(table));
    }

    [Fact]
    public async Task A_seed_file_needs_a_key_schema_for_a_new_table()
    {
        string path = ForeignFixtures.Seed(Folder("bdr-seed-key"), "orders", bulk: 0);
        string table = LocalServices.UniqueName("seed-key");
        var e = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(path, table, keySchema: false));
        Assert.Equal(ErrorIds.KeySchemaRequired, e.ErrorId);
        // Into an existing table with the same key, no key schema is needed.
        string existing = await services.CreateTableAsync();
        var result = await RestoreAsync(path, existing, keySchema: false);
        Assert.Equal(5, result.ItemsWritten);
    }

    [Theory]
    [InlineData("an item larger than the line bound", ProblemCodes.CorruptData)]
    [InlineData("nesting past any item's", ProblemCodes.CorruptData)]
    [InlineData("a document that is not an object", ProblemCodes.CorruptData)]
    [InlineData("a symbolic link", ProblemCodes.CorruptData)]
    [InlineData("cut short", ProblemCodes.CorruptData)]
    public async Task A_hostile_seed_file_names_a_problem_in_bounded_memory_and_writes_nothing(string hostile, string code)
    {
        string folder = Folder("bdr-seed-hostile");
        string path = Path.Combine(folder, "orders-backup-2025-01-01-00-00-00.json");
        switch (hostile)
        {
            case "an item larger than the line bound":
                await File.WriteAllTextAsync(path, "{\"table_name\": \"orders\", \"data\": [{\"pk\": \"" + new string('x', 9 * 1024 * 1024) + "\"}], \"item_count\": 1, \"checksum\": \"0\", \"version\": \"2.0\"}");
                break;
            case "nesting past any item's":
                await File.WriteAllTextAsync(path, "{\"data\": [" + new string('[', 5000) + new string(']', 5000) + "]}");
                break;
            case "a document that is not an object":
                await File.WriteAllTextAsync(path, "[1, 2, 3]");
                break;
            case "a symbolic link":
                string real = ForeignFixtures.Seed(Folder("bdr-seed-real"), "orders", bulk: 0);
                File.CreateSymbolicLink(path, real);
                break;
            case "cut short":
                string whole = await File.ReadAllTextAsync(ForeignFixtures.Seed(Folder("bdr-seed-cut"), "orders", bulk: 20));
                await File.WriteAllTextAsync(path, whole[..(whole.Length / 2)]);
                break;
        }
        var report = await CheckAsync(path, IntegrityLevel.Full);
        Assert.Equal(code, Assert.Single(report.Problems).Code);
        string table = LocalServices.UniqueName("seed-hostile");
        await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(path, table));
        Assert.False(await services.TableExistsAsync(table));
    }

    [Fact]
    public void Python_key_order_is_by_code_point_and_its_escapes_are_reproduced()
    {
        using var document = System.Text.Json.JsonDocument.Parse("{\"\\uff01\": 1, \"\\ud83d\\ude00\": 2, \"~\": 3, \"a\": \"\\u00e9\\u007f\\n\\\"\\\\\\ud834\\udd1e\", \"n\": 1.5e+300}");
        var text = new StringBuilder();
        SeedV2.AppendCanonical(document.RootElement, text);
        // Python: json.dumps({"\uff01": 1, "\U0001F600": 2, "~": 3, "a": "é\x7f\n\"\\𝄞", "n": 1.5e+300}, sort_keys=True)
        Assert.Equal("{\"a\": \"\\u00e9\\u007f\\n\\\"\\\\\\ud834\\udd1e\", \"n\": 1.5e+300, \"~\": 3, \"\\uff01\": 1, \"\\ud83d\\ude00\": 2}", text.ToString());
    }
}
