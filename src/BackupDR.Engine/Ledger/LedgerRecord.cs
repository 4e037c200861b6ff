using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BackupDR.Engine.Format;

namespace BackupDR.Engine.Ledger;

/// <summary>What a record says happened to a backup.</summary>
public enum RecordKind
{
    Validation,
    Restore,
    Drill,
    Copy,
}

/// <summary>
/// One thing done with one backup, by one host: a validation, a restore, a drill or a copy. Written to the
/// target's journal (<c>&lt;target&gt;/backupdr@records/&lt;table&gt;/&lt;backup id&gt;/</c>) and indexed in the
/// ledger table. It names the SHA-256 of the manifest summary it was about, so it counts only for that
/// content: a backup changed since is not the backup that was proved (docs/ledger.md).
/// </summary>
public sealed class LedgerRecord
{
    public required RecordKind Kind { get; init; }
    public required DateTimeOffset Time { get; init; }
    public required string TableName { get; init; }
    public required string BackupId { get; init; }

    /// <summary>The manifest summary's SHA-256 (base64) of the backup the record is about.</summary>
    public required string SummarySha256 { get; init; }

    /// <summary>Who did it: a cmdlet's name, or lambda:&lt;function&gt;.</summary>
    public required string Host { get; init; }
    public required bool Passed { get; init; }

    /// <summary>Validation: Quick, Full or Live.</summary>
    public string? Level { get; init; }

    /// <summary>Items verified (a validation, a drill) or written (a restore).</summary>
    public long Items { get; init; }
    public double DurationSeconds { get; init; }

    /// <summary>Restore: the table written and the mode. Drill: the scratch table. Copy: the copy's URI.</summary>
    public string? Target { get; init; }
    public string? Mode { get; init; }

    /// <summary>Drill: its RPO and RTO in seconds.</summary>
    public double? RpoSeconds { get; init; }
    public double? RtoSeconds { get; init; }

    /// <summary>Why it failed, in short (at most 5 lines of at most 300 characters).</summary>
    public IReadOnlyList<string> Problems { get; init; } = [];

    public const int MaxBytes = 16 * 1024;
    private const string FormatName = "backupdr-record";

    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["format"] = FormatName, ["version"] = 1, ["kind"] = Kind.ToString(), ["time"] = Time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
            ["table"] = TableName, ["backupId"] = BackupId, ["summarySha256"] = SummarySha256, ["host"] = Host, ["passed"] = Passed, ["items"] = Items,
            ["durationSeconds"] = Math.Round(DurationSeconds, 3),
        };
        if (Level is not null) o["level"] = Level;
        if (Target is not null) o["target"] = Target;
        if (Mode is not null) o["mode"] = Mode;
        if (RpoSeconds is { } rpo) o["rpoSeconds"] = Math.Round(rpo, 3);
        if (RtoSeconds is { } rto) o["rtoSeconds"] = Math.Round(rto, 3);
        if (Problems.Count > 0) o["problems"] = new JsonArray(Problems.Select(p => (JsonNode)JsonValue.Create(p)).ToArray());
        return o;
    }

    public byte[] ToBytes() => Encoding.UTF8.GetBytes(ToJson().ToJsonString());

    /// <summary>The record's name in the journal and its sort key in the ledger: time, kind and a digest of its content (so writing it twice writes the same thing).</summary>
    public string Name => $"{Time.UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'", CultureInfo.InvariantCulture)}-{Kind.ToString().ToLowerInvariant()}-{Convert.ToHexString(SHA256.HashData(ToBytes()), 0, 4).ToLowerInvariant()}";

    /// <summary>Seconds as a record keeps them (milliseconds): what is applied to an entry is what the journal holds.</summary>
    public static double Seconds(TimeSpan t) => Math.Round(t.TotalSeconds, 3);

    /// <summary>Problems as a record keeps them: few and short.</summary>
    public static IReadOnlyList<string> Short(IEnumerable<string> problems) =>
        problems.Take(5).Select(p => p.Length > 300 ? p[..297] + "..." : p).ToList();

    /// <summary>
    /// Reads a record written by anyone able to write the bucket: bounded, every field checked, its table and
    /// backup id those of the place it was found at. Null, with the reason, when it is not a record to trust.
    /// </summary>
    public static LedgerRecord? Parse(byte[] bytes, string table, string backupId, out string? problem)
    {
        problem = null;
        if (bytes.Length > MaxBytes) { problem = $"larger than {MaxBytes} bytes"; return null; }
        try
        {
            var o = JsonNode.Parse(bytes, documentOptions: new JsonDocumentOptions { MaxDepth = 4 }) as JsonObject ?? throw new JsonException("not a JSON object");
            string Text(string name, int max) => o[name] is JsonValue v && v.TryGetValue<string>(out var s) && s.Length <= max ? s : throw new JsonException($"\"{name}\" is not a string of at most {max} characters");
            string? Optional(string name, int max) => o[name] is null ? null : Text(name, max);
            double Number(string name) => o[name] is JsonValue v && v.TryGetValue<double>(out var d) && double.IsFinite(d) && d >= 0 ? d : throw new JsonException($"\"{name}\" is not a number of at least 0");
            double? OptionalNumber(string name) => o[name] is null ? null : Number(name);
            if (Optional("format", 64) != FormatName || o["version"]?.ToString() != "1") throw new JsonException("not a version-1 BackupDR record");
            if (!Enum.TryParse<RecordKind>(Text("kind", 16), out var kind) || !Enum.IsDefined(kind)) throw new JsonException("\"kind\" is not one BackupDR writes");
            if (!DateTimeOffset.TryParseExact(Text("time", 32), "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)) throw new JsonException("\"time\" is not a time");
            if (Text("table", 255) != table || Text("backupId", 64) != backupId) throw new JsonException("it names another table or backup than the place it is kept at");
            if (!BackupFormat.IsBackupId(backupId)) throw new JsonException("the backup id is not one");
            if (o["passed"] is not JsonValue p || !p.TryGetValue<bool>(out bool passed)) throw new JsonException("\"passed\" is not true or false");
            var problems = o["problems"] is null ? [] : o["problems"] is JsonArray a && a.Count <= 5
                ? a.Select(n => n is JsonValue v && v.TryGetValue<string>(out var s) && s.Length <= 300 ? s : throw new JsonException("\"problems\" holds something other than short strings")).ToList()
                : throw new JsonException("\"problems\" is not a list of at most 5");
            string? level = Optional("level", 8);
            if (level is not (null or "Quick" or "Full" or "Live")) throw new JsonException("\"level\" is not Quick, Full or Live");
            return new LedgerRecord
            {
                Kind = kind, Time = time.ToUniversalTime(), TableName = table, BackupId = backupId, SummarySha256 = Text("summarySha256", 64), Host = Text("host", 128),
                Passed = passed, Level = level, Items = (long)Math.Min(Number("items"), long.MaxValue / 2), DurationSeconds = Number("durationSeconds"),
                Target = Optional("target", 2048), Mode = Optional("mode", 16), RpoSeconds = OptionalNumber("rpoSeconds"), RtoSeconds = OptionalNumber("rtoSeconds"), Problems = problems,
            };
        }
        catch (JsonException e)
        {
            problem = e.Message;
            return null;
        }
    }
}
