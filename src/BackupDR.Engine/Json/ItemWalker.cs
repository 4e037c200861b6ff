using System.Buffers;
using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace BackupDR.Engine.Json;

/// <summary>A primary key attribute: its name and, when known, its type (S, N or B).</summary>
public readonly record struct KeyAttribute(string Name, string? Type = null);

/// <summary>Where an incremental-export record's parts lie in its line; an image is null when the record has none.</summary>
internal readonly record struct ChangeRecord(Range Keys, Range? NewImage, Range? OldImage);

/// <summary>
/// The one grammar of DynamoDB JSON (docs/format.md §3), for every path that reads it: the backup
/// copying Scan responses into data files, Full validation, the restore checking what it sends, and
/// the object parser. It checks everything once and hands what it checked to a sink (copy, build,
/// nothing): one typed member per value, a known type, UTF-8 text without lone surrogates, numbers
/// that are numbers, padded base64, non-empty sets, NULL only <c>true</c>, no attribute named twice in
/// a map, no value deeper than DynamoDB's 32 levels, and the key attributes present at the top, of
/// their type and not empty. Whatever it refuses is an <see cref="InvalidDataException"/> saying why.
/// </summary>
/// <remarks>One instance per thread: it keeps scratch buffers between items.</remarks>
internal sealed class ItemWalker
{
    /// <summary>DynamoDB's limit: the top-level attribute's value is level 1.</summary>
    public const int MaxNesting = 32;

    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 256 };

    private readonly byte[][] _keyNames;
    private readonly string?[] _keyTypes;
    private readonly string[] _keyNameText;
    private readonly Range[] _keyValues;

    // Attribute names of the maps being read, innermost last: a name is compared with the names
    // before it in its own map. Stored unescaped, so "a" and "\u0061" are the same name.
    private byte[] _names = new byte[4096];
    private int _namesLength;
    private readonly List<(int Start, int Length, int Hash)> _entries = [];
    private byte[] _scratch = new byte[1024];
    private byte[] _decoded = new byte[1024];
    private int _lastScalarLength;

    public ItemWalker(IReadOnlyList<KeyAttribute> keys)
    {
        _keyNameText = keys.Select(k => k.Name).ToArray();
        _keyNames = _keyNameText.Select(Encoding.UTF8.GetBytes).ToArray();
        _keyTypes = keys.Select(k => k.Type).ToArray();
        _keyValues = new Range[keys.Count];
    }

    /// <summary>
    /// Checks one export record, <c>{"Item":{...}}</c>, handing the item to <paramref name="sink"/>.
    /// Returns where the item object lies in <paramref name="line"/>.
    /// </summary>
    public Range WalkRecord<TSink>(ReadOnlySpan<byte> line, ref TSink sink) where TSink : IItemSink
    {
        if (line.IsEmpty) throw new InvalidDataException("The line is empty; every line of a data file is one record.");
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
                    throw Malformed($"unexpected member '{Printable(ref r)}' (a full-export record has only \"Item\")");
                }
                if (item is not null) throw Malformed("\"Item\" appears twice");
                Next(ref r);
                int start = (int)r.TokenStartIndex;
                WalkItemCore(ref r, ref sink);
                item = start..(int)r.BytesConsumed;
            }
            if (r.Read()) throw Malformed("text after the record");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: the reader's answer to text it cannot decode.
            throw new InvalidDataException("Not valid JSON: " + e.Message, e);
        }
        return item ?? throw Malformed("no \"Item\" member");
    }

    /// <summary>
    /// Checks one incremental-export record,
    /// <c>{"Metadata":{…},"Keys":{…},"NewImage":{…},"OldImage":{…}}</c> (docs/format.md §10.2): Keys is
    /// the item's primary key and nothing else, each image present is an item carrying that same key,
    /// and Metadata is an object (it is not restored). Each image is handed to <paramref name="sink"/>.
    /// The key attributes are the walker's when it has them; otherwise those Keys names, and every
    /// record must then name the same ones.
    /// </summary>
    public ChangeRecord WalkChange<TSink>(ReadOnlySpan<byte> line, ref TSink sink) where TSink : IItemSink
    {
        if (line.IsEmpty) throw new InvalidDataException("The line is empty; every line of a data file is one record.");
        var r = new Utf8JsonReader(line, ReaderOptions);
        Range? keys = null, newImage = null, oldImage = null;
        bool metadata = false;
        try
        {
            Expect(ref r, JsonTokenType.StartObject, "a record object");
            while (Next(ref r) != JsonTokenType.EndObject)
            {
                if (r.TokenType != JsonTokenType.PropertyName) throw Malformed("expected a property");
                string member = r.ValueTextEquals("Keys"u8) ? "Keys" : r.ValueTextEquals("NewImage"u8) ? "NewImage"
                    : r.ValueTextEquals("OldImage"u8) ? "OldImage" : r.ValueTextEquals("Metadata"u8) ? "Metadata"
                    : throw Malformed($"unexpected member '{Printable(ref r)}' (an incremental-export record has Metadata, Keys, NewImage and OldImage)");
                bool twice = member switch { "Keys" => keys is not null, "NewImage" => newImage is not null, "OldImage" => oldImage is not null, _ => metadata };
                if (twice) throw Malformed($"\"{member}\" appears twice");
                Expect(ref r, JsonTokenType.StartObject, member + " to be an object");
                int start = (int)r.TokenStartIndex;
                if (member == "Metadata")
                {
                    r.Skip();
                    metadata = true;
                    continue;
                }
                if (member == "Keys")
                {
                    var none = new CheckOnly();
                    WalkItemCore(ref r, ref none);
                }
                else
                {
                    WalkItemCore(ref r, ref sink);
                }
                var range = start..(int)r.BytesConsumed;
                if (member == "Keys") keys = range; else if (member == "NewImage") newImage = range; else oldImage = range;
            }
            if (r.Read()) throw Malformed("text after the record");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new InvalidDataException("Not valid JSON: " + e.Message, e);
        }
        if (keys is null) throw Malformed("no \"Keys\" member");
        CheckImageKeys(line, keys.Value, newImage, "NewImage");
        CheckImageKeys(line, keys.Value, oldImage, "OldImage");
        return new ChangeRecord(keys.Value, newImage, oldImage);
    }

    private string[]? _changeKeyNames;

    // Keys holds the key and only the key; each image holds the same key values.
    private void CheckImageKeys(ReadOnlySpan<byte> line, Range keys, Range? image, string member)
    {
        var key = DynamoJson.ReadItem(line[keys]);
        string[] names = _keyNameText.Length > 0 ? _keyNameText : (_changeKeyNames ??= key.Keys.Order(StringComparer.Ordinal).ToArray());
        if (key.Count != names.Length || !names.All(key.ContainsKey))
        {
            throw Malformed($"Keys names {string.Join(", ", key.Keys.Order(StringComparer.Ordinal))}, but the table's key is {string.Join(", ", names)}");
        }
        foreach (var (name, value) in key)
        {
            if (value.S is null && value.N is null && value.B is null) throw Malformed($"key attribute '{name}' in Keys is not S, N or B");
        }
        if (image is null) return;
        var item = DynamoJson.ReadItem(line[image.Value]);
        foreach (var name in names)
        {
            if (!item.TryGetValue(name, out var value) || ItemCanonical.Of(new() { [name] = value }) != ItemCanonical.Of(new() { [name] = key[name] }))
            {
                throw Malformed($"{member} does not carry the key in Keys (attribute '{name}')");
            }
        }
    }

    /// <summary>Checks one item object (attribute name → typed value) that is the whole of <paramref name="json"/>.</summary>
    public void WalkItem<TSink>(ReadOnlySpan<byte> json, ref TSink sink) where TSink : IItemSink
    {
        var r = new Utf8JsonReader(json, ReaderOptions);
        try
        {
            Next(ref r);
            WalkItemCore(ref r, ref sink);
            if (r.Read()) throw Malformed("text after the item");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new InvalidDataException("Not valid JSON: " + e.Message, e);
        }
    }

    /// <summary>Checks the item object the reader is on (its StartObject) and leaves the reader on its EndObject.</summary>
    public void WalkItem<TSink>(ref Utf8JsonReader r, ref TSink sink) where TSink : IItemSink
    {
        try
        {
            WalkItemCore(ref r, ref sink);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new InvalidDataException("Not valid JSON: " + e.Message, e);
        }
    }

    private void WalkItemCore<TSink>(ref Utf8JsonReader r, ref TSink sink) where TSink : IItemSink
    {
        if (r.TokenType != JsonTokenType.StartObject) throw Malformed($"expected an item object, found {r.TokenType}");
        Array.Fill(_keyValues, default);
        _namesLength = 0;
        _entries.Clear();
        WalkMap(ref r, ref sink, level: 1);
        for (int i = 0; i < _keyValues.Length; i++)
        {
            if (_keyValues[i].Equals(default(Range))) throw new InvalidDataException($"the item has no key attribute '{_keyNameText[i]}'");
        }
    }

    /// <summary>
    /// The item's primary key as DynamoDB JSON (<c>{"pk":{"S":"a"},"sk":{"N":"1"}}</c>), from the key
    /// values of the last walk over <paramref name="input"/> (the reader's input, e.g. the record line).
    /// </summary>
    public string KeyText(ReadOnlySpan<byte> input)
    {
        var text = new ArrayBufferWriter<byte>(64);
        text.Write("{"u8);
        for (int i = 0; i < _keyValues.Length; i++)
        {
            if (i > 0) text.Write(","u8);
            using (var w = new Utf8JsonWriter(text, DynamoJson.WriterOptions)) w.WriteStringValue(_keyNames[i]);
            text.Write(":"u8);
            text.Write(input[_keyValues[i]]);
        }
        text.Write("}"u8);
        return Encoding.UTF8.GetString(text.WrittenSpan);
    }

    // On the map's StartObject; returns on its EndObject. Its values are at `level`.
    private void WalkMap<TSink>(ref Utf8JsonReader r, ref TSink sink, int level) where TSink : IItemSink
    {
        sink.BeginMap();
        int frame = _entries.Count;
        int namesMark = _namesLength;
        while (Next(ref r) != JsonTokenType.EndObject)
        {
            if (r.TokenType != JsonTokenType.PropertyName) throw Malformed("expected an attribute name");
            var name = AddName(ref r, frame);
            sink.Attribute(name);
            int keyIndex = -1;
            for (int i = 0; level == 1 && i < _keyNames.Length; i++)
            {
                if (name.SequenceEqual(_keyNames[i])) keyIndex = i;
            }
            Expect(ref r, JsonTokenType.StartObject, "a typed value");
            int start = (int)r.TokenStartIndex;
            string type = WalkValue(ref r, ref sink, level);
            if (keyIndex >= 0)
            {
                CheckKey(keyIndex, type);
                _keyValues[keyIndex] = start..(int)r.BytesConsumed;
            }
        }
        _entries.RemoveRange(frame, _entries.Count - frame);
        _namesLength = namesMark;
        sink.EndMap();
    }

    private void CheckKey(int index, string type)
    {
        if (type is not ("S" or "N" or "B"))
        {
            throw Malformed($"key attribute '{_keyNameText[index]}' is of type {type}; a key is S, N or B");
        }
        if (_keyTypes[index] is { } expected && expected != type)
        {
            throw Malformed($"key attribute '{_keyNameText[index]}' is of type {type}, but the table's key is {expected}");
        }
        if (_lastScalarLength == 0)   // DynamoDB refuses an empty key value
        {
            throw Malformed($"key attribute '{_keyNameText[index]}' is empty");
        }
    }

    private ReadOnlySpan<byte> AddName(ref Utf8JsonReader r, int frame)
    {
        ReadOnlySpan<byte> name;
        if (r.ValueIsEscaped)
        {
            if (_scratch.Length < r.ValueSpan.Length) _scratch = new byte[r.ValueSpan.Length * 2];
            name = _scratch.AsSpan(0, r.CopyString(_scratch));   // refuses a lone surrogate
        }
        else
        {
            name = r.ValueSpan;
            if (!Utf8.IsValid(name)) throw Malformed("an attribute name is not valid UTF-8");
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
        return _names.AsSpan(_namesLength - name.Length, name.Length);
    }

    // On the typed value's StartObject; returns on its EndObject, with the value's type.
    private string WalkValue<TSink>(ref Utf8JsonReader r, ref TSink sink, int level) where TSink : IItemSink
    {
        if (level > MaxNesting) throw Malformed($"a value is nested deeper than DynamoDB's {MaxNesting} levels");
        if (Next(ref r) != JsonTokenType.PropertyName) throw Malformed("a typed value needs exactly one type member");
        string type = TypeOf(ref r);
        sink.BeginValue(type);
        _lastScalarLength = -1;
        switch (type)
        {
            case "S":
                Expect(ref r, JsonTokenType.String, "S to be a string");
                CheckText(ref r);
                _lastScalarLength = r.ValueSpan.Length;
                sink.Scalar(type, ref r, default);
                break;
            case "N":
                Expect(ref r, JsonTokenType.String, "N to be a string");
                CheckNumber(ref r);
                sink.Scalar(type, ref r, default);
                break;
            case "B":
                Expect(ref r, JsonTokenType.String, "B to be a base64 string");
                _lastScalarLength = r.ValueSpan.Length;
                int length = DecodeBase64(ref r);   // first: it may grow the buffer
                sink.Scalar(type, ref r, _decoded.AsSpan(0, length));
                break;
            case "BOOL":
                if (Next(ref r) is not (JsonTokenType.True or JsonTokenType.False)) throw Malformed("BOOL must be true or false");
                sink.Boolean(r.TokenType == JsonTokenType.True);
                break;
            case "NULL":
                if (Next(ref r) != JsonTokenType.True) throw Malformed("NULL must be true");
                sink.Boolean(true);
                break;
            case "M":
                Expect(ref r, JsonTokenType.StartObject, "M to be an object");
                WalkMap(ref r, ref sink, level + 1);
                break;
            case "L":
                Expect(ref r, JsonTokenType.StartArray, "L to be an array");
                sink.BeginArray();
                while (Next(ref r) != JsonTokenType.EndArray)
                {
                    if (r.TokenType != JsonTokenType.StartObject) throw Malformed("L elements must be typed values");
                    WalkValue(ref r, ref sink, level + 1);
                }
                sink.EndArray();
                break;
            default:   // SS, NS, BS
                Expect(ref r, JsonTokenType.StartArray, "a set to be an array");
                sink.BeginArray();
                int count = 0;
                while (Next(ref r) != JsonTokenType.EndArray)
                {
                    if (r.TokenType != JsonTokenType.String) throw Malformed(type == "BS" ? "BS elements must be base64 strings" : "set elements must be strings");
                    if (type == "NS") CheckNumber(ref r);
                    else if (type == "SS") CheckText(ref r);
                    int decoded = type == "BS" ? DecodeBase64(ref r) : 0;
                    sink.Scalar(type, ref r, _decoded.AsSpan(0, decoded));
                    count++;
                }
                if (count == 0) throw Malformed($"{type} must not be empty");
                sink.EndArray();
                break;
        }
        if (Next(ref r) != JsonTokenType.EndObject) throw Malformed($"a typed value has more than one member (after '{type}')");
        sink.EndValue();
        return type;
    }

    private static string TypeOf(ref Utf8JsonReader r)
    {
        if (r.ValueIsEscaped)
        {
            string escaped = r.GetString()!;
            return escaped is "S" or "N" or "B" or "BOOL" or "NULL" or "M" or "L" or "SS" or "NS" or "BS" ? escaped : throw Malformed($"unknown type '{escaped}'");
        }
        var t = r.ValueSpan;
        return t.Length switch
        {
            1 when t[0] == (byte)'S' => "S",
            1 when t[0] == (byte)'N' => "N",
            1 when t[0] == (byte)'B' => "B",
            1 when t[0] == (byte)'M' => "M",
            1 when t[0] == (byte)'L' => "L",
            2 when t.SequenceEqual("SS"u8) => "SS",
            2 when t.SequenceEqual("NS"u8) => "NS",
            2 when t.SequenceEqual("BS"u8) => "BS",
            4 when t.SequenceEqual("BOOL"u8) => "BOOL",
            4 when t.SequenceEqual("NULL"u8) => "NULL",
            _ => throw Malformed($"unknown type '{Printable(ref r)}'"),
        };
    }

    /// <summary>Text DynamoDB can hold: UTF-8, and (escaped) no lone surrogate.</summary>
    private static void CheckText(ref Utf8JsonReader r)
    {
        if (!r.ValueIsEscaped)
        {
            if (!Utf8.IsValid(r.ValueSpan)) throw Malformed("a string is not valid UTF-8");
            return;
        }
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
        ReadOnlySpan<byte> text = r.ValueIsEscaped ? Encoding.UTF8.GetBytes(r.GetString()!) : r.ValueSpan;
        if (!DynamoNumber.IsWellFormed(text)) throw Malformed($"'{Printable(ref r)}' is not a number");
        if (DynamoNumber.StorableProblem(text) is { } problem) throw Malformed($"the number '{Printable(ref r)}' {problem}");
    }

    /// <summary>Decodes a base64 string into the scratch buffer (padding required, no whitespace); returns the length.</summary>
    private int DecodeBase64(ref Utf8JsonReader r)
    {
        ReadOnlySpan<byte> text = r.ValueIsEscaped ? Encoding.UTF8.GetBytes(r.GetString()!) : r.ValueSpan;
        int needed = Base64.GetMaxDecodedFromUtf8Length(text.Length);
        if (_decoded.Length < needed) _decoded = new byte[Math.Max(needed, _decoded.Length * 2)];
        if (Base64.DecodeFromUtf8(text, _decoded, out int consumed, out int written) != OperationStatus.Done || consumed != text.Length)
        {
            throw Malformed("binary value is not valid base64");
        }
        return written;
    }

    private static string Printable(ref Utf8JsonReader r)
    {
        try
        {
            string text = r.GetString() ?? "";
            return text.Length > 40 ? text[..40] + "…" : text;
        }
        catch (InvalidOperationException)
        {
            return "(not valid text)";
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

/// <summary>
/// What a walk does with what it checked. Events come in document order: a map's
/// <see cref="BeginMap"/>, then for each attribute <see cref="Attribute"/> and its value; a value is
/// <see cref="BeginValue"/> (its type), its content, <see cref="EndValue"/>. L and sets are arrays.
/// Implementations are structs, so the walk is specialised for each and costs no virtual calls.
/// </summary>
internal interface IItemSink
{
    void BeginMap();
    void Attribute(ReadOnlySpan<byte> name);
    void EndMap();
    void BeginValue(string type);
    void EndValue();
    void BeginArray();
    void EndArray();

    /// <summary>An S, N or B value or a set element; the reader is on its string. <paramref name="binary"/>: B/BS decoded.</summary>
    void Scalar(string type, ref Utf8JsonReader r, scoped ReadOnlySpan<byte> binary);

    /// <summary>BOOL's value, or NULL (always true).</summary>
    void Boolean(bool value);
}

/// <summary>Checks only.</summary>
internal struct CheckOnly : IItemSink
{
    public readonly void BeginMap() { }
    public readonly void Attribute(ReadOnlySpan<byte> name) { }
    public readonly void EndMap() { }
    public readonly void BeginValue(string type) { }
    public readonly void EndValue() { }
    public readonly void BeginArray() { }
    public readonly void EndArray() { }
    public readonly void Scalar(string type, ref Utf8JsonReader r, scoped ReadOnlySpan<byte> binary) { }
    public readonly void Boolean(bool value) { }
}

/// <summary>Copies what was checked to a writer: strings unescaped and re-escaped by its options, numbers as text.</summary>
internal readonly struct CopyTo(Utf8JsonWriter w) : IItemSink
{
    public void BeginMap() => w.WriteStartObject();
    public void Attribute(ReadOnlySpan<byte> name) => w.WritePropertyName(name);
    public void EndMap() => w.WriteEndObject();

    public void BeginValue(string type)
    {
        w.WriteStartObject();
        w.WritePropertyName(type);
    }

    public void EndValue() => w.WriteEndObject();
    public void BeginArray() => w.WriteStartArray();
    public void EndArray() => w.WriteEndArray();

    public void Scalar(string type, ref Utf8JsonReader r, scoped ReadOnlySpan<byte> binary)
    {
        if (r.ValueIsEscaped) w.WriteStringValue(r.GetString());
        else w.WriteStringValue(r.ValueSpan);
    }

    public void Boolean(bool value) => w.WriteBooleanValue(value);
}
