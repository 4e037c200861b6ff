using System.Buffers;
using System.Buffers.Text;
using System.Text;
using System.Text.Json;

namespace BackupDR.Engine.Json;

/// <summary>
/// Checks export records (<c>{"Item":{...}}</c>, docs/format.md §3) as strictly as
/// <see cref="DynamoJson.ReadRecord"/> does — one typed member per value, known types, numbers that
/// are numbers, base64 that decodes, non-empty sets, no attribute named twice, the key attributes
/// present — without building objects. A restore sends the record's Item bytes to DynamoDB as they
/// are, so checking is all it needs; Full validation uses the same checks.
/// </summary>
/// <remarks>One instance per thread: it keeps scratch buffers between records.</remarks>
internal sealed class RecordValidator
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 256 };

    private readonly byte[][] _keyNames;
    private readonly byte[][] _keyPrefixes;
    private readonly Range[] _keyValues;

    // Attribute names of the maps being read, innermost last: a name is compared with the names
    // before it in its own map. Stored unescaped, so "a" and "\u0061" are the same name.
    private byte[] _names = new byte[4096];
    private int _namesLength;
    private readonly List<(int Start, int Length, int Hash)> _entries = [];
    private byte[] _scratch = new byte[1024];

    public RecordValidator(IReadOnlyList<string> keyNames)
    {
        _keyNames = keyNames.Select(Encoding.UTF8.GetBytes).ToArray();
        _keyPrefixes = keyNames.Select((name, i) => KeyPrefix(name, first: i == 0)).ToArray();
        _keyValues = new Range[keyNames.Count];
    }

    /// <summary><c>{"name":</c> or <c>,"name":</c>, the name escaped as the backup's writer escapes it.</summary>
    private static byte[] KeyPrefix(string name, bool first)
    {
        var output = new ArrayBufferWriter<byte>();
        output.Write(first ? "{"u8 : ","u8);
        using (var w = new Utf8JsonWriter(output, DynamoJson.WriterOptions))
        {
            w.WriteStringValue(name);
        }
        output.Write(":"u8);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Checks one record line. Returns where its Item object lies in <paramref name="line"/>, and the
    /// item's primary key as DynamoDB JSON (<c>{"pk":{"S":"a"},"sk":{"N":"1"}}</c>) when
    /// <paramref name="withKey"/> is set. Throws InvalidDataException saying what is wrong.
    /// </summary>
    public Range Check(ReadOnlySpan<byte> line, bool withKey, out string? key)
    {
        Array.Fill(_keyValues, default);
        _namesLength = 0;
        _entries.Clear();
        var r = new Utf8JsonReader(line, ReaderOptions);
        Range? item = null;
        try
        {
            Expect(ref r, JsonTokenType.StartObject, "a record object");
            while (Next(ref r) != JsonTokenType.EndObject)
            {
                if (r.TokenType != JsonTokenType.PropertyName) throw Malformed("expected a property");
                if (!r.ValueTextEquals("Item"u8))
                {
                    throw Malformed($"unexpected member '{r.GetString()}' (a full-export record has only \"Item\")");
                }
                if (item is not null) throw Malformed("\"Item\" appears twice");
                Expect(ref r, JsonTokenType.StartObject, "an item object");
                int start = (int)r.TokenStartIndex;
                CheckMap(ref r, topLevel: true);
                item = start..(int)r.BytesConsumed;
            }
            if (r.Read()) throw Malformed("text after the record");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: the reader's answer to text it cannot decode, such as an escaped lone surrogate.
            throw new InvalidDataException("Not valid JSON: " + e.Message, e);
        }
        if (item is null) throw Malformed("no \"Item\" member");
        for (int i = 0; i < _keyValues.Length; i++)
        {
            if (_keyValues[i].Equals(default(Range)))
            {
                throw new InvalidDataException($"the item has no key attribute '{Encoding.UTF8.GetString(_keyNames[i])}'");
            }
        }
        key = withKey ? KeyText(line) : null;
        return item.Value;
    }

    private string KeyText(ReadOnlySpan<byte> line)
    {
        int length = 1;
        for (int i = 0; i < _keyValues.Length; i++) length += _keyPrefixes[i].Length + line[_keyValues[i]].Length;
        Span<byte> text = length <= 512 ? stackalloc byte[length] : new byte[length];
        int at = 0;
        for (int i = 0; i < _keyValues.Length; i++)
        {
            _keyPrefixes[i].CopyTo(text[at..]);
            at += _keyPrefixes[i].Length;
            line[_keyValues[i]].CopyTo(text[at..]);
            at += line[_keyValues[i]].Length;
        }
        text[at] = (byte)'}';
        return Encoding.UTF8.GetString(text);
    }

    // On the map's StartObject; returns on its EndObject.
    private void CheckMap(ref Utf8JsonReader r, bool topLevel)
    {
        int frame = _entries.Count;
        int namesMark = _namesLength;
        while (Next(ref r) != JsonTokenType.EndObject)
        {
            if (r.TokenType != JsonTokenType.PropertyName) throw Malformed("expected an attribute name");
            AddName(ref r, frame);
            int keyIndex = -1;
            if (topLevel)
            {
                for (int i = 0; i < _keyNames.Length; i++)
                {
                    if (r.ValueTextEquals(_keyNames[i])) keyIndex = i;
                }
            }
            Expect(ref r, JsonTokenType.StartObject, "a typed value");
            int start = (int)r.TokenStartIndex;
            CheckValue(ref r);
            if (keyIndex >= 0) _keyValues[keyIndex] = start..(int)r.BytesConsumed;
        }
        _entries.RemoveRange(frame, _entries.Count - frame);
        _namesLength = namesMark;
    }

    private void AddName(ref Utf8JsonReader r, int frame)
    {
        ReadOnlySpan<byte> name;
        if (r.ValueIsEscaped)
        {
            if (_scratch.Length < r.ValueSpan.Length) _scratch = new byte[r.ValueSpan.Length * 2];
            name = _scratch.AsSpan(0, r.CopyString(_scratch));
        }
        else
        {
            name = r.ValueSpan;
        }
        var hasher = new HashCode();
        hasher.AddBytes(name);
        int hash = hasher.ToHashCode();
        for (int i = frame; i < _entries.Count; i++)
        {
            var e = _entries[i];
            if (e.Hash == hash && _names.AsSpan(e.Start, e.Length).SequenceEqual(name))
            {
                throw Malformed($"attribute '{Encoding.UTF8.GetString(name)}' appears twice");
            }
        }
        if (_names.Length - _namesLength < name.Length) Array.Resize(ref _names, Math.Max(_names.Length * 2, _namesLength + name.Length));
        name.CopyTo(_names.AsSpan(_namesLength));
        _entries.Add((_namesLength, name.Length, hash));
        _namesLength += name.Length;
    }

    // On the typed value's StartObject; returns on its EndObject.
    private void CheckValue(ref Utf8JsonReader r)
    {
        if (Next(ref r) != JsonTokenType.PropertyName) throw Malformed("a typed value needs exactly one type member");
        if (r.ValueTextEquals("S"u8))
        {
            Expect(ref r, JsonTokenType.String, "S to be a string");
            CheckText(ref r);
        }
        else if (r.ValueTextEquals("N"u8))
        {
            Expect(ref r, JsonTokenType.String, "N to be a string");
            CheckNumber(ref r);
        }
        else if (r.ValueTextEquals("M"u8))
        {
            Expect(ref r, JsonTokenType.StartObject, "M to be an object");
            CheckMap(ref r, topLevel: false);
        }
        else if (r.ValueTextEquals("L"u8))
        {
            Expect(ref r, JsonTokenType.StartArray, "L to be an array");
            while (Next(ref r) != JsonTokenType.EndArray)
            {
                if (r.TokenType != JsonTokenType.StartObject) throw Malformed("L elements must be typed values");
                CheckValue(ref r);
            }
        }
        else if (r.ValueTextEquals("B"u8))
        {
            Expect(ref r, JsonTokenType.String, "B to be a base64 string");
            CheckBase64(ref r);
        }
        else if (r.ValueTextEquals("BOOL"u8))
        {
            if (Next(ref r) is not (JsonTokenType.True or JsonTokenType.False)) throw Malformed("BOOL must be true or false");
        }
        else if (r.ValueTextEquals("NULL"u8))
        {
            if (Next(ref r) != JsonTokenType.True) throw Malformed("NULL must be true");
        }
        else if (r.ValueTextEquals("SS"u8) || r.ValueTextEquals("NS"u8) || r.ValueTextEquals("BS"u8))
        {
            char kind = r.ValueTextEquals("SS"u8) ? 'S' : r.ValueTextEquals("NS"u8) ? 'N' : 'B';
            Expect(ref r, JsonTokenType.StartArray, "a set to be an array");
            int count = 0;
            while (Next(ref r) != JsonTokenType.EndArray)
            {
                if (r.TokenType != JsonTokenType.String) throw Malformed(kind == 'B' ? "BS elements must be base64 strings" : "set elements must be strings");
                if (kind == 'N') CheckNumber(ref r);
                else if (kind == 'B') CheckBase64(ref r);
                else CheckText(ref r);
                count++;
            }
            if (count == 0) throw Malformed($"{kind}S must not be empty");
        }
        else
        {
            throw Malformed($"unknown type '{r.GetString()}'");
        }
        if (Next(ref r) != JsonTokenType.EndObject) throw Malformed("a typed value has more than one member");
    }

    /// <summary>
    /// A string DynamoDB can hold: UTF-8 text. The reader checks unescaped bytes as it reads; an escaped
    /// string is decoded here, which refuses an escaped lone surrogate (no UTF-8 text has one).
    /// </summary>
    private static void CheckText(ref Utf8JsonReader r)
    {
        if (!r.ValueIsEscaped) return;
        try
        {
            r.GetString();
        }
        catch (InvalidOperationException e)
        {
            throw Malformed($"a string is not valid text ({e.Message})");
        }
    }

    private static void CheckNumber(ref Utf8JsonReader r)
    {
        bool ok = r.ValueIsEscaped ? DynamoNumber.IsWellFormed(Encoding.UTF8.GetBytes(r.GetString()!)) : DynamoNumber.IsWellFormed(r.ValueSpan);
        if (!ok) throw Malformed($"'{r.GetString()}' is not a number");
    }

    private void CheckBase64(ref Utf8JsonReader r)
    {
        ReadOnlySpan<byte> text = r.ValueIsEscaped ? Encoding.UTF8.GetBytes(r.GetString()!) : r.ValueSpan;
        int needed = Base64.GetMaxDecodedFromUtf8Length(text.Length);
        if (_scratch.Length < needed) _scratch = new byte[Math.Max(needed, _scratch.Length * 2)];
        if (Base64.DecodeFromUtf8(text, _scratch, out int consumed, out _) != OperationStatus.Done || consumed != text.Length)
        {
            throw Malformed("binary value is not valid base64");
        }
    }

    private static JsonTokenType Next(ref Utf8JsonReader r)
    {
        if (!r.Read()) throw Malformed("unexpected end of record");
        return r.TokenType;
    }

    private static void Expect(ref Utf8JsonReader r, JsonTokenType type, string what)
    {
        if (Next(ref r) != type) throw Malformed($"expected {what}, found {r.TokenType}");
    }

    private static InvalidDataException Malformed(string what) => new("Malformed DynamoDB JSON: " + what + ".");
}
