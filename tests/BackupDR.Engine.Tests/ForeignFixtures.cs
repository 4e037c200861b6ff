using System.Diagnostics;
using System.Text.Json;
using BackupDR.Engine.Json;

namespace BackupDR.Engine.Tests;

/// <summary>
/// Fixtures written by the other tool's own rules: Python scripts in tests/fixtures that do what the
/// original backup Lambda and dynamodump do (their json.dumps, their conversions), and write beside
/// each fixture the items a lossless restore must produce, computed in Python.
/// </summary>
internal static class ForeignFixtures
{
    /// <summary>A new empty folder under the temporary folder.</summary>
    public static string Folder(string name)
    {
        string path = Path.Combine(Path.GetTempPath(), name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Test-BackupIntegrity's engine call, with the default AWS options.</summary>
    public static Task<Validation.IntegrityReport> CheckAsync(string uri, Validation.IntegrityLevel level, Validation.ReadOptions? read = null) =>
        Operations.CheckIntegrityAsync(uri, level, new Aws.AwsOptions(), NullOperationHost.Instance, CancellationToken.None, read: read);

    private static string Script(string name) => Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../fixtures", name));

    public static void Run(string script, params string[] arguments)
    {
        var start = new ProcessStartInfo("python3") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add(Script(script));
        foreach (string a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{script} failed ({process.ExitCode}): {errors}");
    }

    /// <summary>A seed v2.0 file: the seed's every-kind items, then <paramref name="bulk"/> more; returns its path.</summary>
    public static string Seed(string folder, string table, int bulk, bool outOfRange = false)
    {
        string path = Path.Combine(folder, $"{table}-backup-2025-06-01-12-30-00.json");
        Run("seed_v2.py", path, table, bulk.ToString(System.Globalization.CultureInfo.InvariantCulture), outOfRange ? "huge" : "");
        return path;
    }

    /// <summary>A dynamodump folder &lt;dump&gt;/&lt;table&gt;; returns it.</summary>
    public static string Dump(string dump, string table, int items, int perPage)
    {
        Run("dynamodump.py", dump, table, items.ToString(System.Globalization.CultureInfo.InvariantCulture), perPage.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return Path.Combine(dump, table);
    }

    /// <summary>The expected items (a JSON array in DynamoDB JSON), keyed as <see cref="LocalServices.ReadTableAsync"/> keys a table (pk + sk), as canonical text.</summary>
    public static Dictionary<string, string> Expected(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        var result = new Dictionary<string, string>();
        foreach (var element in document.RootElement.EnumerateArray())
        {
            var item = DynamoJson.ReadItem(System.Text.Encoding.UTF8.GetBytes(element.GetRawText()));
            result.Add(ItemCanonical.Of(new() { ["pk"] = item["pk"], ["sk"] = item["sk"] }), ItemCanonical.Of(item));
        }
        return result;
    }
}
