using BackupDR.Engine.Aws;
using BackupDR.Engine.Format;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

using static BackupDR.Engine.Tests.ForeignFixtures;

namespace BackupDR.Engine.Tests;

/// <summary>
/// dynamodump table folders, written by Python exactly as dynamodump writes them
/// (tests/fixtures/dynamodump.py): validated for what can be proven without a checksum, and restored —
/// binary sets included, which dynamodump's own restore corrupts (it base64-decodes only top-level B).
/// </summary>
public sealed class DumpBackupTests(LocalServices services) : IClassFixture<LocalServices>
{
    private readonly string _checkpoints = Folder("bdr-dump-cp");

    private Task<RestoreResult> RestoreAsync(string uri, string table) =>
        RestoreRunner.RunAsync(new RestoreRequest { Uri = uri, TableName = table, CheckpointUri = _checkpoints }, NullOperationHost.Instance, CancellationToken.None);


    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_dump_of_5000_items_with_binary_sets_is_restored_identical_to_its_source(bool inS3)
    {
        string dump = Folder("bdr-dump");
        string folder = ForeignFixtures.Dump(dump, "users", items: 5000, perPage: 700);
        string uri = folder;
        if (inS3)
        {
            string bucket = await services.CreateBucketAsync();
            var s3 = new S3BackupStore(new AwsClientFactory(new()).CreateS3(), bucket);
            foreach (var file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
            {
                await s3.PutAsync("dumps/users/" + Path.GetRelativePath(folder, file).Replace('\\', '/'), await File.ReadAllBytesAsync(file), CancellationToken.None);
            }
            uri = $"s3://{bucket}/dumps/users/";
        }
        foreach (var level in new[] { IntegrityLevel.Quick, IntegrityLevel.Full })
        {
            var report = await CheckAsync(uri, level);
            Assert.True(report.IsValid, string.Join("; ", report.Problems));
            Assert.Equal(SourceFormat.Dynamodump, report.Format);
            Assert.Equal("users", report.TableName);
            Assert.Equal(5000, report.ExpectedItemCount);
            Assert.Equal(8, report.FilesChecked);
            Assert.Equal(level == IntegrityLevel.Full ? 5000 : -1, report.ItemsVerified);
            Assert.Contains(report.Limits, l => l.StartsWith("dynamodump records no checksums", StringComparison.Ordinal));
        }

        // A new table from schema.json: its key, on demand as the schema says.
        string table = LocalServices.UniqueName("dump");
        var result = await RestoreAsync(uri, table);
        Assert.Equal(SourceFormat.Dynamodump, result.Format);
        Assert.True(result.TableCreated);
        Assert.Equal(5000, result.ItemsWritten);
        var expected = ForeignFixtures.Expected(Path.Combine(dump, "users.expected.json"));
        var restored = await services.ReadTableAsync(table);
        Assert.Equal(expected.Count, restored.Count);
        foreach (var (key, item) in expected) Assert.Equal(item, restored[key]);
        Assert.Equal(5000, restored.Values.Count(v => v.Contains("BS[", StringComparison.Ordinal)));   // every item holds a binary set
    }

    [Theory]
    [InlineData("a page in the middle is missing", ProblemCodes.MissingDataFile, true)]
    [InlineData("the last page is missing", ProblemCodes.MissingDataFile, true)]
    [InlineData("a page's Count lies", ProblemCodes.CountMismatch, true)]
    [InlineData("a flipped bit breaks an item's base64", ProblemCodes.InvalidItem, false)]
    [InlineData("an object that is not part of a dump", ProblemCodes.UnexpectedObject, true)]
    [InlineData("schema.json is gone", ProblemCodes.MissingManifest, true)]
    [InlineData("a page is a link to another dump's page", ProblemCodes.CorruptData, true)]
    public async Task Damage_a_dump_can_show_is_found(string damage, string code, bool quickSees)
    {
        string dump = Folder("bdr-dump-damage");
        string folder = ForeignFixtures.Dump(dump, "users", items: 300, perPage: 100);
        string data = Path.Combine(folder, "data");
        switch (damage)
        {
            case "a page in the middle is missing":
                File.Delete(Path.Combine(data, "0002.json"));
                break;
            case "the last page is missing":
                File.Delete(Path.Combine(data, "0003.json"));
                break;
            case "a page's Count lies":
                string page = Path.Combine(data, "0002.json");
                await File.WriteAllTextAsync(page, (await File.ReadAllTextAsync(page)).Replace("\"Count\": 100", "\"Count\": 99", StringComparison.Ordinal));
                break;
            case "a flipped bit breaks an item's base64":
                string first = Path.Combine(data, "0001.json");
                string text = await File.ReadAllTextAsync(first);
                int at = text.IndexOf("\"B\": \"", StringComparison.Ordinal) + 6;
                await File.WriteAllTextAsync(first, text[..at] + "!" + text[(at + 1)..]);
                break;
            case "an object that is not part of a dump":
                await File.WriteAllTextAsync(Path.Combine(folder, "notes.txt"), "hello");
                break;
            case "schema.json is gone":
                File.Delete(Path.Combine(folder, "schema.json"));
                break;
            case "a page is a link to another dump's page":
                string other = ForeignFixtures.Dump(Folder("bdr-dump-other"), "users", items: 300, perPage: 100);
                File.Delete(Path.Combine(data, "0002.json"));
                File.CreateSymbolicLink(Path.Combine(data, "0002.json"), Path.Combine(other, "data", "0002.json"));
                break;
        }
        var quick = await CheckAsync(folder, IntegrityLevel.Quick);
        Assert.Equal(quickSees, quick.Problems.Any(p => p.Code == code));
        var full = await CheckAsync(folder, IntegrityLevel.Full);
        Assert.Contains(full.Problems, p => p.Code == code);
        string table = LocalServices.UniqueName("dump-damage");
        var e = await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(folder, table));
        Assert.Equal(ErrorIds.BackupIntegrityFailed, e.ErrorId);
        Assert.False(await services.TableExistsAsync(table));
    }

    [Theory]
    [InlineData("an item larger than the line bound", ProblemCodes.CorruptData)]
    [InlineData("nesting past any item's", ProblemCodes.CorruptData)]
    [InlineData("a page larger than any Scan page", ProblemCodes.SizeMismatch)]
    [InlineData("a page not named as dynamodump names them", ProblemCodes.UnexpectedObject)]
    [InlineData("a page numbered a billion", ProblemCodes.MissingDataFile)]
    public async Task A_hostile_dump_names_a_problem_in_bounded_memory_and_writes_nothing(string hostile, string code)
    {
        string folder = ForeignFixtures.Dump(Folder("bdr-dump-hostile"), "users", items: 20, perPage: 10);
        string data = Path.Combine(folder, "data");
        switch (hostile)
        {
            case "an item larger than the line bound":
                await File.WriteAllTextAsync(Path.Combine(data, "0002.json"), "{\"Items\": [{\"pk\": {\"S\": \"" + new string('x', 9 * 1024 * 1024) + "\"}}], \"Count\": 1}");
                break;
            case "nesting past any item's":
                await File.WriteAllTextAsync(Path.Combine(data, "0002.json"), "{\"Items\": [" + string.Concat(Enumerable.Repeat("{\"a\":", 5000)) + "1" + new string('}', 5000) + "], \"Count\": 1}");
                break;
            case "a page larger than any Scan page":
                await using (var page = File.Create(Path.Combine(data, "0002.json")))
                {
                    page.SetLength(DumpBackupReader.MaxPageBytes + 1);
                }
                break;
            case "a page not named as dynamodump names them":
                File.Move(Path.Combine(data, "0002.json"), Path.Combine(data, "2.json"));
                break;
            case "a page numbered a billion":
                File.Move(Path.Combine(data, "0002.json"), Path.Combine(data, "999999999.json"));
                break;
        }
        var report = await CheckAsync(folder, IntegrityLevel.Full);
        Assert.Contains(report.Problems, p => p.Code == code);
        Assert.True(report.ProblemCount <= 3, string.Join("; ", report.Problems));
        string table = LocalServices.UniqueName("dump-hostile");
        await Assert.ThrowsAsync<BackupDRException>(() => RestoreAsync(folder, table));
        Assert.False(await services.TableExistsAsync(table));
    }
}
