using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Validation;

/// <summary>
/// A seed v2.0 backup file read as records: each item of <c>data</c> (plain JSON) becomes
/// <c>{"Item":{…}}</c> in DynamoDB JSON, and on the way is added to the seed's own checksum and
/// assessed for what the seed lost. At the end, <see cref="ComputedChecksum"/> is what the seed's rule
/// gives for the items read, next to what the file claims.
/// </summary>
internal sealed class SeedRecords : JsonRecords
{
    private readonly IncrementalHash _checksum = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly StringBuilder _canonical = new();

    private SeedRecords(Stream stored, DataFileEntry file) : base(stored, file, "data")
    {
        _checksum.AppendData("["u8);
    }

    public static async Task<SeedRecords> OpenAsync(BackupFolder folder, DataFileEntry file, CancellationToken ct) =>
        new(await folder.Store.OpenReadAsync(folder.Key(file.DataFile), ct).ConfigureAwait(false), file);

    /// <summary>Per attribute and kind: what the seed had lost.</summary>
    public Dictionary<(string Attribute, string Kind), (long Count, string Example)> Losses { get; } = [];

    /// <summary>The seed's checksum (hex SHA-256) of the items read, once the file has been read to its end.</summary>
    public string? ComputedChecksum { get; private set; }

    public string? ClaimedChecksum => Text("checksum");
    public long? ClaimedItemCount => WholeNumber("item_count");
    public string? Version => Text("version");
    public string? TableName => Text("table_name");
    public string? Timestamp => Text("backup_timestamp");
    public bool HasData => Document.HasArray;

    protected override void WriteRecord(ReadOnlyMemory<byte> element, IBufferWriter<byte> line)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(element, new JsonDocumentOptions { MaxDepth = JsonElementStream.MaxDepth });
        }
        catch (JsonException e)
        {
            throw new DataFileException(ProblemCodes.CorruptData, $"has an item ({LineNumber:N0}) that is not valid JSON ({e.Message})");
        }
        using (document)
        {
            var item = document.RootElement;
            if (item.ValueKind != JsonValueKind.Object) throw new DataFileException(ProblemCodes.CorruptData, $"has an element of \"data\" ({LineNumber:N0}) that is not an item (a JSON object)");
            _canonical.Clear();
            if (LineNumber > 1) _canonical.Append(", ");
            try
            {
                SeedV2.AppendCanonical(item, _canonical);
            }
            catch (InvalidOperationException e)
            {
                throw new DataFileException(ProblemCodes.CorruptData, $"has an item ({LineNumber:N0}) with text that is not valid Unicode ({e.Message})");
            }
            _checksum.AppendData(Encoding.UTF8.GetBytes(_canonical.ToString()));
            SeedV2.Assess(item, Losses);
            SeedV2.WriteRecord(item, line);
        }
    }

    protected override void Ended()
    {
        _checksum.AppendData("]"u8);
        ComputedChecksum = Convert.ToHexString(_checksum.GetHashAndReset()).ToLowerInvariant();
    }
}
