using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace BackupDR.Engine.Format;

/// <summary>Which layout a backup was read as (docs/format.md §10–§12).</summary>
public enum SourceFormat
{
    /// <summary>BackupDR's own format (docs/format.md §1–§9).</summary>
    BackupDR,

    /// <summary>One DynamoDB Export to S3, full or incremental.</summary>
    NativeExport,

    /// <summary>A full native export and the incremental exports that follow it, applied in order.</summary>
    NativeExportChain,

    /// <summary>A single JSON file written by the original backup Lambda (format version 2.0).</summary>
    SeedV2,

    /// <summary>A dynamodump table folder (schema.json and data/NNNN.json).</summary>
    Dynamodump,
}

/// <summary>What a data file's lines hold.</summary>
internal enum RecordKind
{
    /// <summary><c>{"Item":{…}}</c>: an item to put.</summary>
    Item,

    /// <summary><c>{"Metadata","Keys","NewImage","OldImage"}</c>: an item's final state in an incremental export's window.</summary>
    Change,
}

/// <summary>manifest-summary.json of a DynamoDB Export to S3, as far as BackupDR reads it.</summary>
internal sealed record NativeExportSummary(
    string Version,
    string ExportArn,
    string ExportId,
    string TableArn,
    string TableName,
    DateTimeOffset? StartTime,
    DateTimeOffset? EndTime,
    DateTimeOffset? ExportTime,
    DateTimeOffset? ExportFromTime,
    DateTimeOffset? ExportToTime,
    string ManifestFilesS3Key,
    long ItemCount,
    string OutputFormat,
    string ExportType,
    string? OutputView)
{
    public bool IsIncremental => ExportType == NativeExport.Incremental;

    /// <summary>The point in time the export's data reaches: a full export's exportTime, an incremental's exportToTime.</summary>
    public DateTimeOffset? PointInTime => IsIncremental ? ExportToTime : ExportTime;
}

/// <summary>One line of a native export's manifest-files.json.</summary>
internal sealed record NativeExportFile(long ItemCount, string Md5Checksum, string DataFileS3Key);

/// <summary>
/// The layout of DynamoDB's Export to S3 (docs/format.md §10), and the rules by which BackupDR reads
/// it: fixed names, keys that must name this export's own files, bounded sizes.
/// </summary>
public static class NativeExport
{
    public const string Full = "FULL_EXPORT";
    public const string Incremental = "INCREMENTAL_EXPORT";
    public const string NewAndOldImages = "NEW_AND_OLD_IMAGES";
    public const string NewImage = "NEW_IMAGE";
    public const string FullVersion = "2020-06-30";
    public const string IncrementalVersion = "2023-08-01";
    public const string RootFolder = "AWSDynamoDB";
    public const string StartedKey = "_started";
    public const string SummaryKey = "manifest-summary.json";
    public const string FilesKey = "manifest-files.json";
    public const string DataFolder = "data/";

    /// <summary>Checksum sidecars: real exports write <c>.md5</c>, the documentation names <c>.checksum</c>; either is read.</summary>
    internal static readonly string[] SummarySidecars = ["manifest-summary.md5", "manifest-summary.checksum"];
    internal static readonly string[] FilesSidecars = ["manifest-files.md5", "manifest-files.checksum"];

    public const long MaxSidecarBytes = 1024;

    /// <summary>An export id: the export's start in epoch milliseconds, a dash, 8 hex digits.</summary>
    public static readonly Regex ExportId = new("^[0-9]{14}-[0-9a-f]{8}$", RegexOptions.CultureInvariant);

    private static readonly Regex DataFileName = new("^[A-Za-z0-9_-]{1,128}\\.json\\.gz$", RegexOptions.CultureInvariant);
    private static readonly Regex Base64Md5 = new("^[A-Za-z0-9+/]{22}==$", RegexOptions.CultureInvariant);

    internal static bool IsMd5(string text) => Base64Md5.IsMatch(text);

    /// <summary>
    /// The data file's key relative to the AWSDynamoDB folder, or null when <paramref name="s3Key"/> does
    /// not name a data file of this export: <c>…AWSDynamoDB/&lt;export id&gt;/data/&lt;name&gt;.json.gz</c> for a
    /// full export, <c>…AWSDynamoDB/data/&lt;name&gt;.json.gz</c> (the shared folder) for an incremental one.
    /// What comes before <c>AWSDynamoDB/</c> is where the export was first written, and is not read:
    /// the files are read where the export is now.
    /// </summary>
    internal static string? DataFileKey(string s3Key, string exportId, bool incremental)
    {
        string tail = incremental ? $"{RootFolder}/{DataFolder}" : $"{RootFolder}/{exportId}/{DataFolder}";
        int at = s3Key.LastIndexOf(tail, StringComparison.Ordinal);
        if (at < 0 || (at > 0 && s3Key[at - 1] != '/')) return null;
        string name = s3Key[(at + tail.Length)..];
        if (!DataFileName.IsMatch(name)) return null;
        return (incremental ? DataFolder : $"{exportId}/{DataFolder}") + name;
    }

    /// <summary>True when <paramref name="s3Key"/> is this export's manifest-files.json: <c>…AWSDynamoDB/&lt;export id&gt;/manifest-files.json</c>.</summary>
    internal static bool IsOwnFilesManifest(string s3Key, string exportId)
    {
        string tail = $"{RootFolder}/{exportId}/{FilesKey}";
        return s3Key == tail || s3Key.EndsWith("/" + tail, StringComparison.Ordinal);
    }

    /// <summary>Parses manifest-summary.json; throws <see cref="InvalidDataException"/> saying what is wrong.</summary>
    internal static NativeExportSummary ParseSummary(byte[] json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{SummaryKey} is not valid JSON: {e.Message}", e);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{SummaryKey} is not a JSON object.");
            string version = Text(root, "version", required: true)!;
            string exportArn = Text(root, "exportArn", required: true)!;
            string exportId = exportArn[(exportArn.LastIndexOf('/') + 1)..];
            if (!exportArn.StartsWith("arn:", StringComparison.Ordinal) || !exportArn.Contains("/export/", StringComparison.Ordinal) || !ExportId.IsMatch(exportId))
            {
                throw new InvalidDataException($"exportArn '{Printable(exportArn)}' is not the ARN of a DynamoDB export (…:table/<table>/export/<export id>).");
            }
            string tableArn = Text(root, "tableArn", required: true)!;
            int table = tableArn.IndexOf(":table/", StringComparison.Ordinal);
            string tableName = table < 0 ? "" : tableArn[(table + 7)..];
            if (tableName.Length == 0 || tableName.Contains('/') || !exportArn.StartsWith(tableArn + "/export/", StringComparison.Ordinal))
            {
                throw new InvalidDataException($"tableArn '{Printable(tableArn)}' is not the ARN of the table the export '{exportId}' is of.");
            }
            string exportType = Text(root, "exportType", required: false) ?? Full;
            if (exportType is not (Full or Incremental)) throw new InvalidDataException($"exportType is '{Printable(exportType)}'; BackupDR reads {Full} and {Incremental}.");
            string? view = Text(root, "outputView", required: false);
            if (exportType == Incremental && view is not (NewAndOldImages or NewImage))
            {
                throw new InvalidDataException($"an incremental export's outputView is '{Printable(view ?? "(none)")}'; it must be {NewAndOldImages} or {NewImage}.");
            }
            long itemCount = root.TryGetProperty("itemCount", out var count) && count.ValueKind == JsonValueKind.Number && count.TryGetInt64(out long n) && n >= 0
                ? n : throw new InvalidDataException("itemCount is missing or not a whole number of at least 0.");
            return new NativeExportSummary(version, exportArn, exportId, tableArn, tableName,
                Time(root, "startTime"), Time(root, "endTime"), Time(root, "exportTime"), Time(root, "exportFromTime"), Time(root, "exportToTime"),
                Text(root, "manifestFilesS3Key", required: true)!, itemCount, Text(root, "outputFormat", required: false) ?? "DYNAMODB_JSON", exportType, view);
        }
    }

    /// <summary>Parses one line of manifest-files.json.</summary>
    internal static NativeExportFile ParseFileLine(ReadOnlySpan<byte> line, int lineNumber)
    {
        try
        {
            using var document = JsonDocument.Parse(line.ToArray(), new JsonDocumentOptions { MaxDepth = 4 });
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{FilesKey} line {lineNumber} is not a JSON object.");
            long items = root.TryGetProperty("itemCount", out var count) && count.ValueKind == JsonValueKind.Number && count.TryGetInt64(out long n) && n >= 0
                ? n : throw new InvalidDataException($"{FilesKey} line {lineNumber}: itemCount is missing or not a whole number of at least 0.");
            string md5 = Text(root, "md5Checksum", required: true)!;
            if (!IsMd5(md5)) throw new InvalidDataException($"{FilesKey} line {lineNumber}: md5Checksum '{Printable(md5)}' is not a base64 MD5.");
            return new NativeExportFile(items, md5, Text(root, "dataFileS3Key", required: true)!);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{FilesKey} line {lineNumber} is not valid JSON: {e.Message}", e);
        }
    }

    private static string? Text(JsonElement root, string name, bool required)
    {
        if (root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String) return value.GetString();
        if (!required && (!root.TryGetProperty(name, out value) || value.ValueKind == JsonValueKind.Null)) return null;
        throw new InvalidDataException($"{name} is missing or not a string.");
    }

    private static DateTimeOffset? Time(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind == JsonValueKind.String
            && DateTimeOffset.TryParse(value.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time))
        {
            return time;
        }
        throw new InvalidDataException($"{name} is not an ISO 8601 time.");
    }

    private static string Printable(string text) => Storage.UnsafeKeyException.Printable(text.Length > 200 ? text[..200] + "…" : text);
}
