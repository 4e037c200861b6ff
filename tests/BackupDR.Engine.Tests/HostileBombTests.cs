using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json.Nodes;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Validation;
using Xunit.Abstractions;

namespace BackupDR.Engine.Tests;

/// <summary>
/// Gzip bombs in a forged backup (hashes re-chained, manifest claiming the decompressed size): a file of
/// about a megabyte that decompresses to a gibibyte, as one line or as a flood of blank lines. Full
/// validation runs in a process of its own, so its peak resident memory is its alone: it must stay under
/// <see cref="PeakBound"/> and stop within seconds, naming the file. A restore refuses the same backups
/// without creating its table.
/// </summary>
public sealed class HostileBombTests(LocalServices services, ITestOutputHelper output) : IClassFixture<LocalServices>
{
    /// <summary>What a validation may hold at its peak, whatever the file: the runtime, the SDK and one bounded line per reader.</summary>
    private const long PeakBound = 256L << 20;

    private const long Gibibyte = 1L << 30;

    /// <summary>A gibibyte of one byte, gzipped as it streams (about a megabyte).</summary>
    private static byte[] Bomb(byte fill, byte last)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            byte[] chunk = new byte[1 << 20];
            Array.Fill(chunk, fill);
            for (long written = 0; written < Gibibyte - chunk.Length; written += chunk.Length) gzip.Write(chunk);
            chunk[^1] = last;
            gzip.Write(chunk);
        }
        return output.ToArray();
    }

    public static TheoryData<string, byte, string> Bombs() => new()
    {
        { "one line of a gibibyte", (byte)'x', "longer than 8 MiB" },
        { "a gibibyte of blank lines", (byte)'\n', "lines that are not valid records" },
    };

    [Theory]
    [MemberData(nameof(Bombs))]
    public async Task A_gzip_bomb_is_refused_in_bounded_memory_and_time(string name, byte fill, string says)
    {
        byte[] bomb = Bomb(fill, (byte)'\n');
        var file = new ForgedBackup.DataFile("data/s000-f0000.json.gz", bomb, Items: fill == '\n' ? Gibibyte : 1, Uncompressed: Gibibyte);
        string uri = await ForgedBackup.LocalAsync("bomb", [file]);

        var (exit, result) = await RunValidationAsync(uri);
        long peak = (long)result["PeakRssBytes"]!;
        output.WriteLine($"{name}: a {bomb.Length / 1e6:N2} MB file decompressing to 1 GiB; validation took {(double)result["Seconds"]!:N2} s " +
                         $"({(double)result["CpuSeconds"]!:N2} s of CPU), peak RSS {peak / 1048576.0:N0} MiB; problems: {string.Join(" | ", result["Problems"]!.AsArray())}");
        Assert.Equal(0, exit);
        Assert.False((bool)result["IsValid"]!);
        Assert.Contains(result["Problems"]!.AsArray(), p => ((string)p!).StartsWith("CorruptData [data/s000-f0000.json.gz]", StringComparison.Ordinal) && ((string)p!).Contains(says, StringComparison.Ordinal));
        Assert.InRange(peak, 1, PeakBound);

        string table = LocalServices.UniqueName("bomb");
        var error = await Assert.ThrowsAsync<BackupDRException>(() => RestoreRunner.RunAsync(
            new RestoreRequest { Uri = uri, TableName = table, CheckpointUri = Path.Combine(Path.GetTempPath(), "bdr-bomb-checkpoints") },
            NullOperationHost.Instance, CancellationToken.None));
        Assert.Equal(ErrorIds.BackupIntegrityFailed, error.ErrorId);
        Assert.Contains("CorruptData [data/s000-f0000.json.gz]", error.Message);
        Assert.False(await services.TableExistsAsync(table));
    }

    /// <summary>
    /// The foreign readers under the same bound: a DynamoDB export whose data file is the one-line bomb (the
    /// export records no sizes, so the line bound and the item count are what stop it), and a seed backup
    /// file holding one item of half a gibibyte (it is not compressed: the element bound stops it).
    /// </summary>
    [Theory]
    [InlineData("a DynamoDB export's data file")]
    [InlineData("a seed backup file's item")]
    public async Task A_foreign_bomb_is_refused_in_bounded_memory(string where)
    {
        string folder = Path.Combine(Path.GetTempPath(), "bdr-foreign-bomb-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        string uri, says;
        if (where == "a DynamoDB export's data file")
        {
            var store = new Storage.LocalBackupStore(folder);
            var fixture = new NativeExportFixture(store, "");
            string id = await fixture.WriteFullAsync("orders", DateTimeOffset.UtcNow.AddHours(-1), TestItems.Random(3, 30));
            await store.PutAsync((await fixture.DataFileKeysAsync(id))[0], Bomb((byte)'x', (byte)'\n'), CancellationToken.None);
            uri = Path.Combine(folder, "AWSDynamoDB", id);
            says = "longer than 8 MiB";
        }
        else
        {
            uri = Path.Combine(folder, "orders-backup-2025-01-01-00-00-00.json");
            await using (var file = File.Create(uri))
            {
                await file.WriteAsync("{\"table_name\": \"orders\", \"data\": [{\"pk\": \""u8.ToArray());
                byte[] chunk = new byte[1 << 20];
                Array.Fill(chunk, (byte)'x');
                for (int i = 0; i < 512; i++) await file.WriteAsync(chunk);
                await file.WriteAsync("\"}], \"item_count\": 1, \"checksum\": \"0\", \"version\": \"2.0\"}"u8.ToArray());
            }
            says = "longer than 8 MiB";
        }
        var (exit, result) = await RunValidationAsync(uri);
        long peak = (long)result["PeakRssBytes"]!;
        output.WriteLine($"{where}: validation took {(double)result["Seconds"]!:N2} s, peak RSS {peak / 1048576.0:N0} MiB; problems: {string.Join(" | ", result["Problems"]!.AsArray())}");
        Assert.Equal(0, exit);
        Assert.False((bool)result["IsValid"]!);
        Assert.Contains(result["Problems"]!.AsArray(), p => ((string)p!).StartsWith("CorruptData", StringComparison.Ordinal) && ((string)p!).Contains(says, StringComparison.Ordinal));
        Assert.InRange(peak, 1, PeakBound);
        Directory.Delete(folder, recursive: true);
    }

    /// <summary>Full validation in BackupDR.TestHost, which prints its report, time and peak RSS as JSON.</summary>
    private static async Task<(int Exit, JsonObject Result)> RunValidationAsync(string uri)
    {
        var bin = new DirectoryInfo(AppContext.BaseDirectory);
        string host = Path.GetFullPath(Path.Combine(bin.FullName, "../../../../BackupDR.TestHost/bin", bin.Parent!.Name, "net10.0/BackupDR.TestHost.dll"));
        var start = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(host);
        start.ArgumentList.Add("validate");
        start.ArgumentList.Add(uri);
        using var process = Process.Start(start)!;
        await process.StandardInput.WriteLineAsync("go");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        string text = await stdout;
        Assert.True(text.Trim().Length > 0, "the validation printed nothing: " + await stderr);
        return (process.ExitCode, JsonNode.Parse(text.Trim().Split('\n')[^1])!.AsObject());
    }
}
