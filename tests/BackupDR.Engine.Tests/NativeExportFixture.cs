using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Json;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Tests;

/// <summary>One change in an incremental export's window: the item's key, its final image (null: deleted) and, with NEW_AND_OLD_IMAGES, its image before the window.</summary>
internal sealed record Change(Dictionary<string, AttributeValue> Keys, Dictionary<string, AttributeValue>? NewImage, Dictionary<string, AttributeValue>? OldImage);

/// <summary>
/// Writes DynamoDB Export to S3 output exactly as the AWS documentation lays it out (Export to S3 →
/// "DynamoDB table export output format", and the incremental export's shared data folder):
/// <c>&lt;prefix&gt;AWSDynamoDB/&lt;export id&gt;/{_started, manifest-summary.json, manifest-summary.md5,
/// manifest-files.json, manifest-files.md5}</c>; a full export's data files in its own <c>data/</c>, an
/// incremental export's in the shared <c>AWSDynamoDB/data/</c>; gzip JSON Lines; manifest-files lines
/// <c>{itemCount, md5Checksum, etag, dataFileS3Key}</c> with the MD5 of the stored bytes and a multipart
/// ETag that is not one. Summary fields as real exports write them: no exportType on a full export, no
/// exportTime on an incremental one.
/// </summary>
internal sealed class NativeExportFixture(IBackupStore store, string prefix, string bucket = "exports-bucket")
{
    private static readonly string[] Alphabet = ["abcdefghijklmnopqrstuvwxyz234567"];
    private static readonly JsonSerializerOptions Plain = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly Random _rng = new(7);

    public const string Account = "123456789012";

    /// <summary>Keys of the AWSDynamoDB folder in the store: "&lt;prefix&gt;AWSDynamoDB/".</summary>
    public string Root => prefix + "AWSDynamoDB/";

    /// <summary>Which sidecar name the next export gets: real exports write .md5, the documentation .checksum.</summary>
    public bool ChecksumSidecars { get; set; }

    public string TableArn(string table) => $"arn:aws:dynamodb:us-east-1:{Account}:table/{table}";

    public async Task<string> WriteFullAsync(string table, DateTimeOffset exportTime, IReadOnlyList<Dictionary<string, AttributeValue>> items, int files = 3)
    {
        string id = NewId(exportTime);
        var lines = items.Select(item =>
        {
            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer)) DynamoJson.WriteRecord(w, item);
            return buffer.ToArray();
        }).ToList();
        var summary = new Dictionary<string, object?>
        {
            ["version"] = "2020-06-30",
            ["exportArn"] = $"{TableArn(table)}/export/{id}",
            ["startTime"] = Time(exportTime.AddSeconds(1)),
            ["endTime"] = Time(exportTime.AddMinutes(6)),
            ["tableArn"] = TableArn(table),
            ["tableId"] = "12345a12-abcd-123a-ab12-1234abc12345",
            ["exportTime"] = Time(exportTime),
            ["s3Bucket"] = bucket,
            ["s3Prefix"] = prefix.Length == 0 ? null : prefix.TrimEnd('/'),
            ["s3SseAlgorithm"] = "AES256",
            ["s3SseKmsKeyId"] = null,
        };
        await WriteExportAsync(id, summary, lines, files, $"{id}/data/", items.Count);
        return id;
    }

    public async Task<string> WriteIncrementalAsync(string table, DateTimeOffset from, DateTimeOffset to, IReadOnlyList<Change> changes, string view = "NEW_AND_OLD_IMAGES", int files = 2)
    {
        string id = NewId(to.AddMinutes(1));
        long micros = from.ToUnixTimeMilliseconds() * 1000 + 1;
        var lines = changes.Select(change =>
        {
            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WritePropertyName("Metadata");
                w.WriteStartObject();
                w.WritePropertyName("WriteTimestampMicros");
                w.WriteStartObject();
                w.WriteString("N", (micros++).ToString(System.Globalization.CultureInfo.InvariantCulture));
                w.WriteEndObject();
                w.WriteEndObject();
                w.WritePropertyName("Keys");
                DynamoJson.WriteItem(w, change.Keys);
                if (change.NewImage is not null)
                {
                    w.WritePropertyName("NewImage");
                    DynamoJson.WriteItem(w, change.NewImage);
                }
                if (change.OldImage is not null && view == "NEW_AND_OLD_IMAGES")
                {
                    w.WritePropertyName("OldImage");
                    DynamoJson.WriteItem(w, change.OldImage);
                }
                w.WriteEndObject();
            }
            return buffer.ToArray();
        }).ToList();
        var summary = new Dictionary<string, object?>
        {
            ["version"] = "2023-08-01",
            ["exportArn"] = $"{TableArn(table)}/export/{id}",
            ["startTime"] = Time(to.AddMinutes(1)),
            ["endTime"] = Time(to.AddMinutes(6)),
            ["tableArn"] = TableArn(table),
            ["tableId"] = "12345a12-abcd-123a-ab12-1234abc12345",
            ["exportFromTime"] = Time(from),
            ["exportToTime"] = Time(to),
            ["s3Bucket"] = bucket,
            ["s3Prefix"] = prefix.Length == 0 ? null : prefix.TrimEnd('/'),
            ["s3SseAlgorithm"] = "AES256",
            ["s3SseKmsKeyId"] = null,
        };
        await WriteExportAsync(id, summary, lines, files, "data/", changes.Count, incremental: view);
        return id;
    }

    private async Task WriteExportAsync(string id, Dictionary<string, object?> summary, List<byte[]> lines, int files, string dataFolder, int itemCount, string? incremental = null)
    {
        string at = Root + id + "/";
        await store.PutAsync(at + "_started", [], CancellationToken.None);
        // Partitions: at least one file each, an empty one when a partition holds nothing.
        var manifest = new StringBuilder();
        for (int f = 0; f < files; f++)
        {
            var part = lines.Where((_, i) => i % files == f).ToList();
            string name = dataFolder + RandomName() + ".json.gz";
            byte[] gz = Gzip(part);
            await store.PutAsync(Root + name, gz, CancellationToken.None);
            string md5 = Convert.ToBase64String(MD5.HashData(gz));
            string etag = Convert.ToHexString(MD5.HashData(Encoding.UTF8.GetBytes(name))).ToLowerInvariant() + "-1";
            manifest.Append(JsonSerializer.Serialize(new Dictionary<string, object> { ["itemCount"] = part.Count, ["md5Checksum"] = md5, ["etag"] = etag, ["dataFileS3Key"] = prefix + "AWSDynamoDB/" + name }, Plain))
                .Append('\n');
        }
        byte[] filesBytes = Encoding.UTF8.GetBytes(manifest.ToString());
        summary["manifestFilesS3Key"] = prefix + "AWSDynamoDB/" + id + "/manifest-files.json";
        summary["billedSizeBytes"] = incremental is null ? 0 : 10_000_000;
        summary["itemCount"] = itemCount;
        summary["outputFormat"] = "DYNAMODB_JSON";
        if (incremental is not null)
        {
            summary["outputView"] = incremental;
            summary["exportType"] = "INCREMENTAL_EXPORT";
        }
        byte[] summaryBytes = JsonSerializer.SerializeToUtf8Bytes(summary, Plain);
        string sidecar = ChecksumSidecars ? ".checksum" : ".md5";
        await store.PutAsync(at + "manifest-files.json", filesBytes, CancellationToken.None);
        await store.PutAsync(at + "manifest-files" + sidecar, Encoding.ASCII.GetBytes(Convert.ToBase64String(MD5.HashData(filesBytes))), CancellationToken.None);
        await store.PutAsync(at + "manifest-summary.json", summaryBytes, CancellationToken.None);
        await store.PutAsync(at + "manifest-summary" + sidecar, Encoding.ASCII.GetBytes(Convert.ToBase64String(MD5.HashData(summaryBytes))), CancellationToken.None);
    }

    public static byte[] Gzip(IEnumerable<byte[]> lines)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            foreach (var line in lines)
            {
                gzip.Write(line);
                gzip.WriteByte((byte)'\n');
            }
        }
        return output.ToArray();
    }

    /// <summary>Rewrites an export's manifest-files.json (and its sidecar, re-chained to the summary's), as a forger with write access would.</summary>
    public async Task ForgeFilesAsync(string id, Func<string, string> edit)
    {
        string at = Root + id + "/";
        string text = Encoding.UTF8.GetString((await store.TryReadAllAsync(at + "manifest-files.json", 1 << 26, CancellationToken.None))!);
        byte[] files = Encoding.UTF8.GetBytes(edit(text));
        await store.PutAsync(at + "manifest-files.json", files, CancellationToken.None);
        await store.PutAsync(at + "manifest-files.md5", Encoding.ASCII.GetBytes(Convert.ToBase64String(MD5.HashData(files))), CancellationToken.None);
    }

    /// <summary>Rewrites an export's summary and its sidecar.</summary>
    public async Task ForgeSummaryAsync(string id, Func<string, string> edit)
    {
        string at = Root + id + "/";
        string text = Encoding.UTF8.GetString((await store.TryReadAllAsync(at + "manifest-summary.json", 1 << 20, CancellationToken.None))!);
        byte[] summary = Encoding.UTF8.GetBytes(edit(text));
        await store.PutAsync(at + "manifest-summary.json", summary, CancellationToken.None);
        await store.PutAsync(at + "manifest-summary.md5", Encoding.ASCII.GetBytes(Convert.ToBase64String(MD5.HashData(summary))), CancellationToken.None);
    }

    /// <summary>The keys of an export's data files in the store, as its manifest names them.</summary>
    public async Task<List<string>> DataFileKeysAsync(string id)
    {
        string text = Encoding.UTF8.GetString((await store.TryReadAllAsync(Root + id + "/manifest-files.json", 1 << 26, CancellationToken.None))!);
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("dataFileS3Key").GetString()!)
            .Select(k => Root + k[(k.IndexOf("AWSDynamoDB/", StringComparison.Ordinal) + "AWSDynamoDB/".Length)..])
            .ToList();
    }

    private string NewId(DateTimeOffset at) => $"{at.ToUnixTimeMilliseconds():D14}-{_rng.Next():x8}"[..23];

    private string RandomName() => new(Enumerable.Range(0, 26).Select(_ => Alphabet[0][_rng.Next(32)]).ToArray());

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);
}
