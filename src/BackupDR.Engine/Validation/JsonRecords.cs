using System.Buffers;
using System.Text.Json;
using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Validation;

/// <summary>
/// A data file that is one JSON document holding an array of items (a seed backup file's <c>data</c>, a
/// dynamodump page's <c>Items</c>), read as records <c>{"Item":{…}}</c> one item at a time. The stored
/// bytes are hashed and bounded by the entry's size as they stream; items are counted against the
/// entry's item count (when known) and bounded by the line bound.
/// </summary>
internal abstract class JsonRecords : IRecordReader
{
    private readonly DataFileEntry _file;
    private readonly DataFileReader.HashingReadStream _raw;
    private readonly ArrayBufferWriter<byte> _line = new(4096);
    private bool _ended;

    protected JsonRecords(Stream stored, DataFileEntry file, string arrayName)
    {
        _file = file;
        _raw = new DataFileReader.HashingReadStream(stored, file);
        Document = new JsonElementStream(_raw, arrayName, BackupFormat.MaxLineBytes);
    }

    protected JsonElementStream Document { get; }

    public long LineNumber => Document.Count;

    public async ValueTask<ReadOnlyMemory<byte>?> NextLineAsync(CancellationToken cancellationToken)
    {
        if (_ended) return null;
        var element = await Document.NextAsync(cancellationToken).ConfigureAwait(false);
        if (element is null)
        {
            _ended = true;
            Ended();
            return null;
        }
        if (_file.ItemCount >= 0 && Document.Count > _file.ItemCount)
        {
            throw new DataFileException(ProblemCodes.CountMismatch, $"holds more than the {_file.ItemCount:N0} items it held when it was first read (reading stopped at item {Document.Count:N0})");
        }
        _line.Clear();
        WriteRecord(element.Value, _line);
        return _line.WrittenMemory;
    }

    /// <summary>Writes the element as a record line <c>{"Item":{…}}</c> in DynamoDB JSON (which the caller then checks).</summary>
    protected abstract void WriteRecord(ReadOnlyMemory<byte> element, IBufferWriter<byte> line);

    /// <summary>The document was read to its end: the members around the array can be checked.</summary>
    protected virtual void Ended()
    {
    }

    public async Task<(string Sha256, string Md5, long Size)> FinishAsync(CancellationToken cancellationToken)
    {
        byte[] sink = new byte[81920];
        while (await _raw.ReadAsync(sink, cancellationToken).ConfigureAwait(false) > 0) { }
        return _raw.Finish();
    }

    public ValueTask DisposeAsync() => _raw.DisposeAsync();

    /// <summary>A top-level member as a whole number, or null when it is missing or is not one.</summary>
    protected long? WholeNumber(string member)
    {
        if (!Document.Members.TryGetValue(member, out var raw)) return null;
        var reader = new Utf8JsonReader(raw);
        return reader.Read() && reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long n) ? n : null;
    }

    /// <summary>A top-level member as a string, or null when it is missing or is not one.</summary>
    protected string? Text(string member)
    {
        if (!Document.Members.TryGetValue(member, out var raw)) return null;
        var reader = new Utf8JsonReader(raw);
        try
        {
            return reader.Read() && reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }
}

/// <summary>
/// A dynamodump page, <c>data/NNNN.json</c>: one low-level Scan response, <c>{"Items":[…],"Count":…,
/// "ScannedCount":…,"LastEvaluatedKey":…}</c>, its items already in DynamoDB JSON (binary as base64).
/// At its end, the items must number what its <c>Count</c> says.
/// </summary>
internal sealed class DumpRecords : JsonRecords
{
    private DumpRecords(Stream stored, DataFileEntry file) : base(stored, file, "Items")
    {
    }

    public static async Task<DumpRecords> OpenAsync(BackupFolder folder, DataFileEntry file, CancellationToken ct) =>
        new(await folder.Store.OpenReadAsync(folder.Key(file.DataFile), ct).ConfigureAwait(false), file);

    /// <summary>True when the page says the scan went on after it (it has a LastEvaluatedKey).</summary>
    public bool Continues => Document.Members.ContainsKey("LastEvaluatedKey");

    protected override void WriteRecord(ReadOnlyMemory<byte> element, IBufferWriter<byte> line)
    {
        line.Write("{\"Item\":"u8);
        line.Write(element.Span);
        line.Write("}"u8);
    }

    protected override void Ended()
    {
        if (!Document.HasArray) throw new DataFileException(ProblemCodes.CorruptData, "has no \"Items\" array: it is not a Scan page");
        long? count = WholeNumber("Count");
        if (count is null) throw new DataFileException(ProblemCodes.CorruptData, "has no \"Count\": it is not a Scan page");
        if (count != Document.Count) throw new DataFileException(ProblemCodes.CountMismatch, $"holds {Document.Count:N0} items, but its Count says {count:N0}");
    }
}
