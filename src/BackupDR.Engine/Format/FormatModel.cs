using System.Text.Json;
using System.Text.Json.Serialization;

namespace BackupDR.Engine.Format;

/// <summary>manifest-summary.json (docs/format.md §4.1).</summary>
public sealed class ManifestSummary
{
    public string Format { get; set; } = BackupFormat.FormatName;
    public int FormatVersion { get; set; } = BackupFormat.ScanVersion;
    public string BackupId { get; set; } = "";
    public string TableName { get; set; } = "";
    public string? TableArn { get; set; }
    public DateTimeOffset StartTime { get; set; }
    public DateTimeOffset EndTime { get; set; }
    public string OutputFormat { get; set; } = "DYNAMODB_JSON";
    public string Compression { get; set; } = "GZIP";
    public string ExportType { get; set; } = "FULL_EXPORT";
    public long ItemCount { get; set; }
    public int DataFileCount { get; set; }
    public long SizeBytes { get; set; }
    public long UncompressedSizeBytes { get; set; }
    public int Segments { get; set; }
    public string ManifestFilesKey { get; set; } = BackupFormat.ManifestFilesKey;
    public string ManifestFilesSha256 { get; set; } = "";
    public string TableDescriptionKey { get; set; } = BackupFormat.TableDescriptionKey;
    public string TableDescriptionSha256 { get; set; } = "";
    public string? Writer { get; set; }

    /// <summary>Format version 2: "Export" when DynamoDB's Export to S3 wrote the data files (§13); null: BackupDR's own scan.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Engine { get; set; }

    /// <summary>Format version 2, engine Export: the export and the point in time it holds the table at.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ExportArn { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? ExportTime { get; set; }

    /// <summary>Format version 2, an incremental export (exportType INCREMENTAL_EXPORT): the backup it continues, and its window (from, to] and view.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? BaseBackupId { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? ExportFromTime { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? ExportToTime { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? OutputView { get; set; }
}

/// <summary>One line of manifest-files.json (docs/format.md §4.2).</summary>
public sealed class DataFileEntry
{
    public string DataFile { get; set; } = "";
    public long ItemCount { get; set; }
    public long SizeBytes { get; set; }
    public long UncompressedSizeBytes { get; set; }
    public string Sha256Checksum { get; set; } = "";
    public string Md5Checksum { get; set; } = "";
}

/// <summary>The _committed marker (docs/format.md §6).</summary>
public sealed class CommitMarker
{
    public string Format { get; set; } = BackupFormat.FormatName;
    public int FormatVersion { get; set; } = BackupFormat.ScanVersion;
    public string BackupId { get; set; } = "";
    public DateTimeOffset CommittedAt { get; set; }
    public long ItemCount { get; set; }
    public string ManifestSummarySha256 { get; set; } = "";

    /// <summary>Format version 2, an incremental backup: the backup it continues (so a listing knows the chain without reading summaries).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? BaseBackupId { get; set; }

    /// <summary>Format version 2, engine Export: the point in time the backup holds the table at (its summary's exportTime, or an incremental's exportToTime), so a listing shows it.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? PointInTime { get; set; }
}

/// <summary>table.json (docs/format.md §5): enough to re-create the table as it was.</summary>
public sealed class TableDescriptionDoc
{
    public string TableName { get; set; } = "";
    public string? TableArn { get; set; }
    public List<KeyElement> KeySchema { get; set; } = [];
    public List<AttributeDefinitionDoc> AttributeDefinitions { get; set; } = [];
    public string BillingMode { get; set; } = "PAY_PER_REQUEST";
    public ThroughputDoc? ProvisionedThroughput { get; set; }
    public List<IndexDoc> GlobalSecondaryIndexes { get; set; } = [];
    public List<IndexDoc> LocalSecondaryIndexes { get; set; } = [];
    public StreamDoc? StreamSpecification { get; set; }
    public SseDoc? SseDescription { get; set; }
    public string? TableClass { get; set; }
    public bool? DeletionProtectionEnabled { get; set; }
    public TtlDoc? TimeToLive { get; set; }

    /// <summary>Point-in-time recovery (continuous backups) as DescribeContinuousBackups reported it; null when it could not be read.</summary>
    public PitrDoc? PointInTimeRecovery { get; set; }
    public Dictionary<string, string> Tags { get; set; } = [];
    public long? ItemCountAtBackup { get; set; }

    /// <summary>The primary key's attributes with their types, as items must carry them.</summary>
    public Json.KeyAttribute[] KeyAttributes() => KeySchema
        .Select(k => new Json.KeyAttribute(k.AttributeName, AttributeDefinitions.FirstOrDefault(a => a.AttributeName == k.AttributeName)?.AttributeType))
        .ToArray();
}

public sealed class KeyElement
{
    public string AttributeName { get; set; } = "";
    public string KeyType { get; set; } = "";
}

public sealed class AttributeDefinitionDoc
{
    public string AttributeName { get; set; } = "";
    public string AttributeType { get; set; } = "";
}

public sealed class ThroughputDoc
{
    public long ReadCapacityUnits { get; set; }
    public long WriteCapacityUnits { get; set; }
}

public sealed class IndexDoc
{
    public string IndexName { get; set; } = "";
    public List<KeyElement> KeySchema { get; set; } = [];
    public ProjectionDoc Projection { get; set; } = new();
    public ThroughputDoc? ProvisionedThroughput { get; set; }
}

public sealed class ProjectionDoc
{
    public string ProjectionType { get; set; } = "ALL";
    public List<string>? NonKeyAttributes { get; set; }
}

public sealed class StreamDoc
{
    public bool StreamEnabled { get; set; }
    public string? StreamViewType { get; set; }
}

public sealed class SseDoc
{
    public string? Status { get; set; }
    public string? SseType { get; set; }
    public string? KmsMasterKeyArn { get; set; }
}

public sealed class PitrDoc
{
    /// <summary>ENABLED or DISABLED.</summary>
    public string? Status { get; set; }
    public int? RecoveryPeriodInDays { get; set; }
}

public sealed class TtlDoc
{
    public string? Status { get; set; }
    public string? AttributeName { get; set; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    WriteIndented = false,
    ReadCommentHandling = JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(ManifestSummary))]
[JsonSerializable(typeof(DataFileEntry))]
[JsonSerializable(typeof(CommitMarker))]
[JsonSerializable(typeof(TableDescriptionDoc))]
internal sealed partial class FormatJsonContext : JsonSerializerContext;

/// <summary>Names, ids and (de)serialisation of the backup format.</summary>
public static class BackupFormat
{
    public const string FormatName = "BackupDR";
    /// <summary>The newest version this BackupDR reads. Scan backups are written as version 1; version 2 adds the Export engine (§13).</summary>
    public const int CurrentVersion = 2;
    public const int ScanVersion = 1;
    public const int ExportVersion = 2;
    public const string ExportEngine = "Export";
    public const string ManifestSummaryKey = "manifest-summary.json";
    public const string ManifestFilesKey = "manifest-files.json";
    public const string TableDescriptionKey = "table.json";
    public const string CommitMarkerKey = "_committed";
    public const string DataFolder = "data/";

    // Bounds on what a reader accepts (docs/format.md §9): a backup is untrusted input, and none of its
    // objects is read past these sizes.
    public const long MaxMarkerBytes = 64 * 1024;
    public const long MaxSummaryBytes = 1024 * 1024;
    public const long MaxTableDescriptionBytes = 1024 * 1024;
    public const long MaxManifestFilesBytes = 64L * 1024 * 1024;
    public const int MaxLineBytes = 8 * 1024 * 1024;

    private static readonly System.Text.RegularExpressions.Regex DataFileName =
        new(@"^data/s[0-9]{3,}-f[0-9]{4,}\.json\.gz$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>A data file's key as the format names it (§2): <c>data/s&lt;seg&gt;-f&lt;file&gt;.json.gz</c>.</summary>
    public static bool IsDataFileKey(string key) => DataFileName.IsMatch(key);

    private static readonly System.Text.RegularExpressions.Regex ExportDataFileName =
        new(@"^AWSDynamoDB/[0-9]{14}-[0-9a-f]{8}/data/[a-z2-7]{1,64}\.json\.gz$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    private static readonly System.Text.RegularExpressions.Regex IncrementalDataFileName =
        new(@"^AWSDynamoDB/data/[a-z2-7]{1,64}\.json\.gz$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>A data file of an incremental backup of the Export engine (§13): <c>AWSDynamoDB/data/&lt;name&gt;.json.gz</c>, the incremental exports' shared folder.</summary>
    public static bool IsIncrementalDataFileKey(string key) => IncrementalDataFileName.IsMatch(key);

    /// <summary>A data file of a backup written by the Export engine (§13): <c>AWSDynamoDB/&lt;export id&gt;/data/&lt;name&gt;.json.gz</c>, of that backup's export.</summary>
    public static bool IsExportDataFileKey(string key, string exportId) => ExportDataFileName.IsMatch(key) && key.StartsWith($"AWSDynamoDB/{exportId}/data/", StringComparison.Ordinal);

    /// <summary>The objects DynamoDB writes beside an export's data files, which a backup of the Export engine keeps (§13).</summary>
    public static IEnumerable<string> ExportMetadataKeys(string exportId) =>
        new[] { "_started", "manifest-summary.json", "manifest-files.json", "manifest-summary.md5", "manifest-files.md5", "manifest-summary.checksum", "manifest-files.checksum" }
            .Select(name => $"AWSDynamoDB/{exportId}/{name}");

    private static readonly JsonSerializerOptions Indented = new(FormatJsonContext.Default.Options) { WriteIndented = true };
    private static readonly FormatJsonContext IndentedContext = new(Indented);

    public static string DataFileKey(int segment, int sequence) => $"data/s{segment:D3}-f{sequence:D4}.json.gz";

    /// <summary>A new backup id: UTC start time to the millisecond, then 8 random hex digits; ids sort by time.</summary>
    public static string NewBackupId(DateTimeOffset startUtc) =>
        startUtc.UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'", System.Globalization.CultureInfo.InvariantCulture)
        + "-" + Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();

    /// <summary>When the backup started, from its id; null when <paramref name="backupId"/> is not one.</summary>
    public static DateTimeOffset? StartOf(string backupId) =>
        IsBackupId(backupId) && DateTimeOffset.TryParseExact(backupId[..19], "yyyyMMdd'T'HHmmssfff'Z'", System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal, out var start) ? start : null;

    public static bool IsBackupId(string text) =>
        System.Text.RegularExpressions.Regex.IsMatch(text, "^[0-9]{8}T[0-9]{9}Z-[0-9a-f]{8}$");

    public static byte[] Serialize(ManifestSummary summary) => JsonSerializer.SerializeToUtf8Bytes(summary, IndentedContext.ManifestSummary);
    public static byte[] Serialize(CommitMarker marker) => JsonSerializer.SerializeToUtf8Bytes(marker, IndentedContext.CommitMarker);
    public static byte[] Serialize(TableDescriptionDoc table) => JsonSerializer.SerializeToUtf8Bytes(table, IndentedContext.TableDescriptionDoc);

    /// <summary>manifest-files.json: one compact JSON object per line.</summary>
    public static byte[] Serialize(IEnumerable<DataFileEntry> files)
    {
        using var buffer = new MemoryStream();
        foreach (var entry in files)
        {
            JsonSerializer.Serialize(buffer, entry, FormatJsonContext.Default.DataFileEntry);
            buffer.WriteByte((byte)'\n');
        }
        return buffer.ToArray();
    }

    public static ManifestSummary ParseSummary(byte[] json) => Parse(json, FormatJsonContext.Default.ManifestSummary, ManifestSummaryKey);
    public static CommitMarker ParseMarker(byte[] json) => Parse(json, FormatJsonContext.Default.CommitMarker, CommitMarkerKey);
    public static TableDescriptionDoc ParseTable(byte[] json) => Parse(json, FormatJsonContext.Default.TableDescriptionDoc, TableDescriptionKey);

    public static List<DataFileEntry> ParseFiles(byte[] jsonLines)
    {
        var result = new List<DataFileEntry>();
        int lineNumber = 0;
        foreach (var range in SplitLines(jsonLines))
        {
            lineNumber++;
            try
            {
                result.Add(JsonSerializer.Deserialize(jsonLines.AsSpan(range), FormatJsonContext.Default.DataFileEntry)
                    ?? throw new InvalidDataException("null entry"));
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{ManifestFilesKey} line {lineNumber} is not valid JSON: {e.Message}", e);
            }
        }
        return result;
    }

    /// <summary>The non-empty lines of a JSON Lines file (a trailing '\r' is JSON whitespace, left to the parser).</summary>
    internal static IEnumerable<Range> SplitLines(byte[] bytes)
    {
        int start = 0;
        for (int i = 0; i <= bytes.Length; i++)
        {
            if (i == bytes.Length || bytes[i] == (byte)'\n')
            {
                if (i > start) yield return new Range(start, i);
                start = i + 1;
            }
        }
    }

    private static T Parse<T>(byte[] json, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, string what)
    {
        try
        {
            return JsonSerializer.Deserialize(json, type) ?? throw new InvalidDataException($"{what} is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{what} is not valid JSON: {e.Message}", e);
        }
    }

    public static string Sha256Base64(ReadOnlySpan<byte> bytes) => Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(bytes));
}
