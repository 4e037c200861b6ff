using System.Buffers;
using System.Text;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Json;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Tests;

/// <summary>
/// One grammar of DynamoDB JSON: the same items through the backup (a Scan page copied into a data
/// file), Full validation and a restore get the same verdict. The corpus holds every case the three
/// readers BackupDR had before ItemWalker disagreed on, and the limits DynamoDB itself enforces.
/// </summary>
public sealed class GrammarCorpusTests(LocalServices services) : IClassFixture<LocalServices>
{
    private const string Key = "\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}";

    private static string Deep(int wraps)
    {
        string value = "{\"S\":\"leaf\"}";
        for (int i = 0; i < wraps; i++) value = i % 2 == 0 ? $"{{\"M\":{{\"x\":{value}}}}}" : $"{{\"L\":[{value}]}}";
        return value;
    }

    /// <summary>Name, the item's bytes, whether DynamoDB (and so BackupDR) accepts it.</summary>
    public static TheoryData<string, byte[], bool> Corpus()
    {
        static byte[] B(string json) => Encoding.UTF8.GetBytes(json);
        var data = new TheoryData<string, byte[], bool>
        {
            { "plain", B($"{{{Key},\"v\":{{\"S\":\"x\"}}}}"), true },
            { "every type", B($"{{{Key},\"s\":{{\"S\":\"\"}},\"b\":{{\"B\":\"\"}},\"n\":{{\"N\":\"-1.5E-130\"}},\"bo\":{{\"BOOL\":false}},\"nu\":{{\"NULL\":true}}," +
                              "\"ss\":{\"SS\":[\"a\",\"\"]},\"ns\":{\"NS\":[\"1\",\"2\"]},\"bs\":{\"BS\":[\"AA==\"]},\"l\":{\"L\":[]},\"m\":{\"M\":{}}}"), true },
            { "escaped text and names", B($"{{{Key},\"\\u00e9\":{{\"S\":\"\\ud83d\\ude00 \\u0000\"}}}}"), true },
            { "31 levels of nesting below the attribute (32 in all)", B($"{{{Key},\"d\":{Deep(31)}}}"), true },
            // Where the backup's copy, Full validation and the restore used to disagree:
            { "NULL false", B($"{{{Key},\"x\":{{\"NULL\":false}}}}"), false },
            { "N that is not a number", B($"{{{Key},\"x\":{{\"N\":\"abc\"}}}}"), false },
            { "B that is not base64", B($"{{{Key},\"x\":{{\"B\":\"!!\"}}}}"), false },
            { "an attribute named twice", B($"{{{Key},\"x\":{{\"S\":\"1\"}},\"x\":{{\"S\":\"2\"}}}}"), false },
            { "invalid UTF-8 in a string", [.. B($"{{{Key},\"x\":{{\"S\":\""), 0xC3, 0x28, .. B("\"}}")], false },
            { "invalid UTF-8 in a name", [.. B($"{{{Key},\""), 0xFF, .. B("\":{\"S\":\"1\"}}")], false },
            { "an escaped lone surrogate", B($"{{{Key},\"x\":{{\"S\":\"\\ud800\"}}}}"), false },
            { "32 levels of nesting below the attribute (33 in all)", B($"{{{Key},\"d\":{Deep(32)}}}"), false },
            { "no sort key", B("{\"pk\":{\"S\":\"a\"},\"x\":{\"S\":\"1\"}}"), false },
            { "a key of the wrong type", B("{\"pk\":{\"N\":\"1\"},\"sk\":{\"N\":\"1\"}}"), false },
            { "an empty key", B("{\"pk\":{\"S\":\"\"},\"sk\":{\"N\":\"1\"}}"), false },
            { "a set as a key", B("{\"pk\":{\"SS\":[\"a\"]},\"sk\":{\"N\":\"1\"}}"), false },
            { "an empty set", B($"{{{Key},\"x\":{{\"SS\":[]}}}}"), false },
            { "an unknown type", B($"{{{Key},\"x\":{{\"X\":\"1\"}}}}"), false },
            { "two types", B($"{{{Key},\"x\":{{\"S\":\"1\",\"N\":\"1\"}}}}"), false },
        };
        return data;
    }

    [Theory]
    [MemberData(nameof(Corpus))]
    public async Task Backup_validation_and_restore_give_the_same_verdict(string name, byte[] item, bool valid)
    {
        bool backedUp = BackupAccepts(item);
        var files = new[] { ForgedBackup.Gzipped("data/s000-f0000.json.gz", [.. "{\"Item\":"u8, .. item, .. "}\n"u8]) };
        string uri = await ForgedBackup.LocalAsync("corpus", files);
        using (var folder = BackupFolder.Open(BackupLocation.Parse(uri), new AwsClientFactory(new())))
        {
            var (report, _) = await new IntegrityChecker(folder, NullOperationHost.Instance).CheckAsync(IntegrityLevel.Full, CancellationToken.None);
            Assert.True(report.IsValid == valid, $"{name}: Full validation says {(report.IsValid ? "valid" : string.Join("; ", report.Problems))}");
            if (!valid) Assert.Contains(report.Problems, p => p.Code == ProblemCodes.InvalidItem);
        }
        string table = LocalServices.UniqueName("corpus");
        bool restored;
        try
        {
            var result = await RestoreRunner.RunAsync(new RestoreRequest { Uri = uri, TableName = table, CheckpointUri = Path.Combine(uri, "..", "..", "checkpoints") },
                NullOperationHost.Instance, CancellationToken.None);
            restored = result.ItemsWritten == 1;
        }
        catch (BackupDRException e) when (e.ErrorId == ErrorIds.BackupIntegrityFailed)
        {
            restored = false;
            Assert.False(await services.TableExistsAsync(table), $"{name}: a refused restore created the table");
        }

        Assert.True(backedUp == valid, $"{name}: the backup {(backedUp ? "accepted" : "refused")} it");
        Assert.True(restored == valid, $"{name}: the restore {(restored ? "wrote" : "refused")} it");
    }

    private sealed class NoPool : ArrayPool<byte>
    {
        public override byte[] Rent(int minimumLength) => new byte[minimumLength];
        public override void Return(byte[] array, bool clearArray = false) { }
    }

    /// <summary>The backup's path: a Scan page holding the item, copied into a data file.</summary>
    private static bool BackupAccepts(byte[] item)
    {
        byte[] body = [.. "{\"Count\":1,\"Items\":["u8, .. item, .. "],\"ScannedCount\":1}"u8];
        int start = Array.IndexOf(body, (byte)'[');
        using var page = new ScanPage(body, body.Length, new NoPool(), null) { Items = start..(body.Length - "],\"ScannedCount\":1}".Length + 1), Count = 1 };
        var store = new LocalBackupStore(Path.Combine(Path.GetTempPath(), "bdr-corpus-" + Guid.NewGuid().ToString("N")[..8]));
        var walker = new ItemWalker([new KeyAttribute("pk", "S"), new KeyAttribute("sk", "N")]);
        var writer = new DataFileWriter(new BackupFolder(store, ""), "data/s000-f0000.json.gz", ArrayPool<byte>.Shared, walker);
        try
        {
            writer.WriteScanItems(page, new ScanPageCursor(), long.MaxValue);
            return true;
        }
        catch (InvalidDataException)
        {
            return false;
        }
        finally
        {
            writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }
}
