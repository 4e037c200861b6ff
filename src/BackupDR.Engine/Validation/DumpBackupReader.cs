using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Validation;

/// <summary>
/// Reads a dynamodump table folder (docs/format.md §12): <c>schema.json</c> (DescribeTable's answer) and
/// <c>data/0001.json</c>, <c>0002.json</c>, … (each a Scan page). dynamodump records no checksum and no
/// item count beyond each page's own <c>Count</c>, so what can be proven is: the schema describes a
/// table; the pages are numbered from 0001 without a hole; the last page ends the scan (no
/// <c>LastEvaluatedKey</c>); each page holds the items its Count says. Every level reads every page
/// once to learn that (and the stored bytes' SHA-256, which later reads are held to); the report's
/// Limits say what cannot be proven.
/// </summary>
internal sealed class DumpBackupReader(BackupFolder folder, IntegrityReport report)
{
    public const string SchemaKey = "schema.json";
    public const string FirstPageKey = "data/0001.json";
    public const int MaxPages = 1_000_000;
    public const long MaxPageBytes = 64L * 1024 * 1024;

    private static readonly Regex PageName = new("^data/([0-9]{4,9})\\.json$", RegexOptions.CultureInvariant);

    public async Task<LoadedBackup?> LoadAsync(CancellationToken ct)
    {
        byte[]? schemaBytes;
        try
        {
            schemaBytes = await folder.Store.TryReadAllAsync(folder.Key(SchemaKey), BackupFormat.MaxTableDescriptionBytes, ct).ConfigureAwait(false);
        }
        catch (UntrustedInputException e)
        {
            report.Add(ProblemCodes.InvalidManifest, SchemaKey, e.Message);
            return null;
        }
        if (schemaBytes is null)
        {
            report.Add(ProblemCodes.MissingManifest, SchemaKey, "The dump's schema.json is missing.");
            return null;
        }
        TableDescriptionDoc table;
        try
        {
            table = ParseSchema(schemaBytes);
        }
        catch (InvalidDataException e)
        {
            report.Add(ProblemCodes.InvalidManifest, SchemaKey, e.Message);
            return null;
        }
        report.TableName = table.TableName;
        report.BackupId = folder.Name;

        // The pages, from one streamed listing: their numbers must run from 1 without a hole.
        var pages = new SortedDictionary<long, StoredObject>();
        await foreach (var obj in folder.Store.ListAsync(folder.Prefix, ct).ConfigureAwait(false))
        {
            string key = obj.Key[folder.Prefix.Length..];
            var match = PageName.Match(key);
            if (obj.IsLink)
            {
                report.Add(match.Success || key == SchemaKey ? ProblemCodes.CorruptData : ProblemCodes.UnexpectedObject, UnsafeKeyException.Printable(key),
                    "This is a symbolic link: BackupDR does not follow links out of a backup folder.");
            }
            else if (match.Success && long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) is long n && n >= 1
                     && match.Groups[1].Value == n.ToString("D4", CultureInfo.InvariantCulture))
            {
                if (pages.Count >= MaxPages)
                {
                    report.Add(ProblemCodes.InvalidManifest, null, $"The dump has more than {MaxPages:N0} pages; it was not read.");
                    return null;
                }
                pages[n] = obj;
            }
            else if (key != SchemaKey)
            {
                report.Add(ProblemCodes.UnexpectedObject, UnsafeKeyException.Printable(key), "This object is not part of a dynamodump table folder (schema.json, data/NNNN.json).");
            }
        }
        long expected = 1;
        foreach (long n in pages.Keys)
        {
            if (n > expected)
            {
                report.Add(ProblemCodes.MissingDataFile, $"data/{expected:D4}.json",
                    (n - 1 == expected ? "This page is missing" : $"Pages {expected:D4} to {n - 1:D4} are missing") + ": the pages are numbered from 0001 without a hole.");
            }
            expected = n + 1;
        }
        if (pages.Count == 0) report.Add(ProblemCodes.MissingDataFile, "data/0001.json", "The dump has no data pages (dynamodump writes at least one, empty for an empty table).");

        // Each page once: its items against its Count, and the last one ends the scan.
        var entries = new List<DataFileEntry>(pages.Count);
        long total = 0;
        bool complete = true;
        foreach (var (n, obj) in pages)
        {
            string key = $"data/{n:D4}.json";
            if (obj.Size > MaxPageBytes)
            {
                report.Add(ProblemCodes.SizeMismatch, key, $"The page is {obj.Size:N0} bytes; a Scan page (1 MB of items) is never near {MaxPageBytes:N0}. It was not read.");
                complete = false;
                continue;
            }
            var entry = new DataFileEntry { DataFile = key, ItemCount = -1, SizeBytes = obj.Size, UncompressedSizeBytes = obj.Size };
            try
            {
                var reader = await DumpRecords.OpenAsync(folder, entry, ct).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    long items = 0;
                    while (await reader.NextLineAsync(ct).ConfigureAwait(false) is not null) items++;
                    var (sha256, md5, _) = await reader.FinishAsync(ct).ConfigureAwait(false);
                    if (n == pages.Keys.Max() && reader.Continues)
                    {
                        report.Add(ProblemCodes.MissingDataFile, key, "The last page says the scan went on (it has a LastEvaluatedKey): the pages after it are missing, or the dump was cut short.");
                    }
                    entry.ItemCount = items;
                    entry.Sha256Checksum = sha256;
                    entry.Md5Checksum = md5;
                    total += items;
                    entries.Add(entry);
                }
            }
            catch (DataFileException e)
            {
                report.Add(e.Code, key, $"The page {e.Message}.");
                complete = false;
            }
            catch (Exception e) when (e is FileNotFoundException or UntrustedInputException)
            {
                report.Add(ProblemCodes.MissingDataFile, key, e.Message);
                complete = false;
            }
        }
        report.FilesChecked = pages.Count;
        report.ExpectedItemCount = total;
        report.IsCommitted = true;
        report.Limits.Add("dynamodump records no checksums: BackupDR proves the schema, that the pages are numbered without a hole, that the last one ends the scan and that each holds the items its Count says, " +
                          "but not that an item was not changed in a way that keeps it valid. Every level reads every page once.");
        if (!complete) return null;
        string state = BackupFormat.Sha256Base64(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", entries.Select(e => e.DataFile + " " + e.Sha256Checksum).Prepend(BackupFormat.Sha256Base64(schemaBytes)))));
        return new LoadedBackup
        {
            Folder = folder,
            Summary = new ManifestSummary
            {
                Format = nameof(SourceFormat.Dynamodump), FormatVersion = 0, BackupId = folder.Name, TableName = table.TableName, TableArn = table.TableArn,
                ItemCount = total, DataFileCount = entries.Count, SizeBytes = entries.Sum(e => e.SizeBytes),
            },
            Files = entries,
            Table = table,
            IsCommitted = true,
            SummarySha256 = state,
            Format = SourceFormat.Dynamodump,
        };
    }

    /// <summary>schema.json: DescribeTable's answer (<c>{"Table":{…}}</c>), as far as re-creating the table needs it.</summary>
    internal static TableDescriptionDoc ParseSchema(byte[] json)
    {
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 });
            var root = document.RootElement;
            var t = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("Table", out var inner) && inner.ValueKind == JsonValueKind.Object
                ? inner : throw new InvalidDataException("schema.json has no \"Table\" object: it is not DescribeTable's answer.");
            var doc = new TableDescriptionDoc
            {
                TableName = Str(t, "TableName") ?? throw new InvalidDataException("schema.json names no TableName."),
                TableArn = Str(t, "TableArn"),
                KeySchema = Keys(t),
                AttributeDefinitions = Array(t, "AttributeDefinitions").Select(a => new AttributeDefinitionDoc
                {
                    AttributeName = Str(a, "AttributeName") ?? "", AttributeType = Str(a, "AttributeType") ?? "",
                }).ToList(),
            };
            if (doc.KeySchema.Count is < 1 or > 2 || doc.KeySchema[0].KeyType != "HASH"
                || doc.KeySchema.Any(k => !doc.AttributeDefinitions.Any(a => a.AttributeName == k.AttributeName && a.AttributeType is "S" or "N" or "B")))
            {
                throw new InvalidDataException("schema.json's KeySchema is not a partition key (and a sort key) with their attribute types.");
            }
            string? billing = t.TryGetProperty("BillingModeSummary", out var b) && b.ValueKind == JsonValueKind.Object ? Str(b, "BillingMode") : null;
            var throughput = Throughput(t);
            doc.BillingMode = billing == "PAY_PER_REQUEST" || throughput is null ? "PAY_PER_REQUEST" : "PROVISIONED";
            doc.ProvisionedThroughput = doc.BillingMode == "PROVISIONED" ? throughput : null;
            doc.GlobalSecondaryIndexes = Array(t, "GlobalSecondaryIndexes").Select(i => Index(i, doc.BillingMode)).ToList();
            doc.LocalSecondaryIndexes = Array(t, "LocalSecondaryIndexes").Select(i => Index(i, doc.BillingMode)).ToList();
            if (t.TryGetProperty("StreamSpecification", out var stream) && stream.ValueKind == JsonValueKind.Object
                && stream.TryGetProperty("StreamEnabled", out var enabled) && enabled.ValueKind == JsonValueKind.True)
            {
                doc.StreamSpecification = new StreamDoc { StreamEnabled = true, StreamViewType = Str(stream, "StreamViewType") };
            }
            if (t.TryGetProperty("TableClassSummary", out var tc) && tc.ValueKind == JsonValueKind.Object) doc.TableClass = Str(tc, "TableClass");
            return doc;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"schema.json is not valid JSON: {e.Message}", e);
        }
    }

    private static IndexDoc Index(JsonElement i, string billing) => new()
    {
        IndexName = Str(i, "IndexName") ?? throw new InvalidDataException("schema.json has an index without IndexName."),
        KeySchema = Keys(i),
        Projection = i.TryGetProperty("Projection", out var p) && p.ValueKind == JsonValueKind.Object
            ? new ProjectionDoc
            {
                ProjectionType = Str(p, "ProjectionType") ?? "ALL",
                NonKeyAttributes = Array(p, "NonKeyAttributes").Where(a => a.ValueKind == JsonValueKind.String).Select(a => a.GetString()!).ToList() is { Count: > 0 } n ? n : null,
            }
            : new ProjectionDoc(),
        ProvisionedThroughput = billing == "PROVISIONED" ? Throughput(i) : null,
    };

    private static List<KeyElement> Keys(JsonElement e) => Array(e, "KeySchema")
        .Select(k => new KeyElement { AttributeName = Str(k, "AttributeName") ?? "", KeyType = Str(k, "KeyType") ?? "" })
        .OrderBy(k => k.KeyType == "HASH" ? 0 : 1).ToList();

    private static ThroughputDoc? Throughput(JsonElement e)
    {
        if (!e.TryGetProperty("ProvisionedThroughput", out var p) || p.ValueKind != JsonValueKind.Object) return null;
        long Units(string name) => p.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long n) ? n : 0;
        long read = Units("ReadCapacityUnits"), write = Units("WriteCapacityUnits");
        return read > 0 || write > 0 ? new ThroughputDoc { ReadCapacityUnits = read, WriteCapacityUnits = write } : null;
    }

    private static IEnumerable<JsonElement> Array(JsonElement e, string name) =>
        e.TryGetProperty(name, out var a) && a.ValueKind == JsonValueKind.Array ? a.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.Object || name == "NonKeyAttributes") : [];

    private static string? Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
