using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Amazon.DynamoDBv2.Model;

namespace BackupDR.Engine.Json;

/// <summary>
/// AttributeValue ⇄ DynamoDB JSON, the encoding of DynamoDB's native export (docs/format.md §3).
/// Lossless: N stays text, B/BS are base64, sets stay sets, empty L/M stay empty. Never goes
/// through floats or the SDK's Document model.
/// </summary>
public static class DynamoJson
{
    internal static readonly JsonWriterOptions WriterOptions = new()
    {
        // Escaping only what JSON requires keeps non-ASCII text as UTF-8: smaller files, same values.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
        Indented = false,
    };

    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 256 };

    /// <summary>Writes an item (attribute name → value) as a DynamoDB JSON object.</summary>
    public static void WriteItem(Utf8JsonWriter writer, Dictionary<string, AttributeValue> item)
    {
        writer.WriteStartObject();
        foreach (var (name, value) in item)
        {
            writer.WritePropertyName(name);
            WriteValue(writer, value, name);
        }
        writer.WriteEndObject();
    }

    /// <summary>Writes one export record, <c>{"Item":{...}}</c>, without a line terminator.</summary>
    public static void WriteRecord(Utf8JsonWriter writer, Dictionary<string, AttributeValue> item)
    {
        writer.WriteStartObject();
        writer.WritePropertyName("Item");
        WriteItem(writer, item);
        writer.WriteEndObject();
    }

    /// <summary>The item as a compact DynamoDB JSON string.</summary>
    public static string ItemToString(Dictionary<string, AttributeValue> item)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions)) WriteItem(writer, item);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteValue(Utf8JsonWriter w, AttributeValue v, string path)
    {
        w.WriteStartObject();
        if (v.S is not null) w.WriteString("S", v.S);
        else if (v.N is not null) w.WriteString("N", v.N);
        else if (v.B is not null) w.WriteBase64String("B", Bytes(v.B));
        else if (v.BOOL is bool b) w.WriteBoolean("BOOL", b);
        else if (v.NULL is true) w.WriteBoolean("NULL", true);
        else if (v.SS is { Count: > 0 } ss)
        {
            w.WriteStartArray("SS");
            foreach (var s in ss) w.WriteStringValue(s);
            w.WriteEndArray();
        }
        else if (v.NS is { Count: > 0 } ns)
        {
            w.WriteStartArray("NS");
            foreach (var n in ns) w.WriteStringValue(n);
            w.WriteEndArray();
        }
        else if (v.BS is { Count: > 0 } bs)
        {
            w.WriteStartArray("BS");
            foreach (var m in bs) w.WriteBase64StringValue(Bytes(m));
            w.WriteEndArray();
        }
        else if (v.M is not null || v.IsMSet)
        {
            w.WritePropertyName("M");
            w.WriteStartObject();
            if (v.M is not null)
            {
                foreach (var (name, child) in v.M)
                {
                    w.WritePropertyName(name);
                    WriteValue(w, child, path + "." + name);
                }
            }
            w.WriteEndObject();
        }
        else if (v.L is not null || v.IsLSet)
        {
            w.WriteStartArray("L");
            if (v.L is not null)
            {
                for (int i = 0; i < v.L.Count; i++) WriteValue(w, v.L[i], path + "[" + i + "]");
            }
            w.WriteEndArray();
        }
        else
        {
            throw new InvalidDataException($"Attribute '{path}' has no value of any DynamoDB type.");
        }
        w.WriteEndObject();
    }

    private static ReadOnlySpan<byte> Bytes(MemoryStream stream) =>
        stream.TryGetBuffer(out var segment) ? segment.AsSpan() : stream.ToArray();

    /// <summary>Parses one export record line, <c>{"Item":{...}}</c>. Throws InvalidDataException when malformed.</summary>
    public static Dictionary<string, AttributeValue> ReadRecord(ReadOnlySpan<byte> line)
    {
        var reader = new Utf8JsonReader(line, ReaderOptions);
        try
        {
            Expect(ref reader, JsonTokenType.StartObject);
            Dictionary<string, AttributeValue>? item = null;
            while (Next(ref reader) != JsonTokenType.EndObject)
            {
                if (reader.TokenType != JsonTokenType.PropertyName) throw Malformed("expected a property");
                if (reader.ValueTextEquals("Item"))
                {
                    if (item is not null) throw Malformed("\"Item\" appears twice");
                    Expect(ref reader, JsonTokenType.StartObject);
                    item = ReadMapBody(ref reader);
                }
                else
                {
                    throw Malformed($"unexpected member '{reader.GetString()}' (a full-export record has only \"Item\")");
                }
            }
            if (reader.Read()) throw Malformed("text after the record");
            return item ?? throw Malformed("no \"Item\" member");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: the reader's answer to text it cannot decode, such as an escaped lone surrogate.
            throw new InvalidDataException("Not valid JSON: " + e.Message, e);
        }
    }

    /// <summary>Parses a DynamoDB JSON item object (attribute name → typed value).</summary>
    public static Dictionary<string, AttributeValue> ReadItem(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, ReaderOptions);
        try
        {
            Expect(ref reader, JsonTokenType.StartObject);
            var item = ReadMapBody(ref reader);
            if (reader.Read()) throw Malformed("text after the item");
            return item;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: the reader's answer to text it cannot decode, such as an escaped lone surrogate.
            throw new InvalidDataException("Not valid JSON: " + e.Message, e);
        }
    }

    // Reader positioned on StartObject of a map; returns positioned on its EndObject.
    private static Dictionary<string, AttributeValue> ReadMapBody(ref Utf8JsonReader reader)
    {
        var map = new Dictionary<string, AttributeValue>(StringComparer.Ordinal);
        while (Next(ref reader) != JsonTokenType.EndObject)
        {
            if (reader.TokenType != JsonTokenType.PropertyName) throw Malformed("expected an attribute name");
            string name = reader.GetString()!;
            Expect(ref reader, JsonTokenType.StartObject);
            if (!map.TryAdd(name, ReadValueBody(ref reader))) throw Malformed($"attribute '{name}' appears twice");
        }
        return map;
    }

    // Reader positioned on StartObject of a typed value; returns positioned on its EndObject.
    private static AttributeValue ReadValueBody(ref Utf8JsonReader reader)
    {
        if (Next(ref reader) != JsonTokenType.PropertyName) throw Malformed("a typed value needs exactly one type member");
        string type = reader.GetString()!;
        AttributeValue value;
        switch (type)
        {
            case "S":
                value = new AttributeValue { S = ReadString(ref reader) };
                break;
            case "N":
                value = new AttributeValue { N = ReadNumberText(ref reader) };
                break;
            case "B":
                Expect(ref reader, JsonTokenType.String);
                value = new AttributeValue { B = new MemoryStream(DecodeBase64(ref reader)) };
                break;
            case "BOOL":
                Next(ref reader);
                if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False)) throw Malformed("BOOL must be true or false");
                value = new AttributeValue { BOOL = reader.GetBoolean() };
                break;
            case "NULL":
                if (Next(ref reader) != JsonTokenType.True) throw Malformed("NULL must be true");
                value = new AttributeValue { NULL = true };
                break;
            case "SS":
            {
                var list = new List<string>();
                Expect(ref reader, JsonTokenType.StartArray);
                while (Next(ref reader) != JsonTokenType.EndArray) list.Add(CurrentString(ref reader));
                if (list.Count == 0) throw Malformed("SS must not be empty");
                value = new AttributeValue { SS = list };
                break;
            }
            case "NS":
            {
                var list = new List<string>();
                Expect(ref reader, JsonTokenType.StartArray);
                while (Next(ref reader) != JsonTokenType.EndArray)
                {
                    string n = CurrentString(ref reader);
                    CheckNumber(n);
                    list.Add(n);
                }
                if (list.Count == 0) throw Malformed("NS must not be empty");
                value = new AttributeValue { NS = list };
                break;
            }
            case "BS":
            {
                var list = new List<MemoryStream>();
                Expect(ref reader, JsonTokenType.StartArray);
                while (Next(ref reader) != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.String) throw Malformed("BS elements must be base64 strings");
                    list.Add(new MemoryStream(DecodeBase64(ref reader)));
                }
                if (list.Count == 0) throw Malformed("BS must not be empty");
                value = new AttributeValue { BS = list };
                break;
            }
            case "L":
            {
                var list = new List<AttributeValue>();
                Expect(ref reader, JsonTokenType.StartArray);
                while (Next(ref reader) != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.StartObject) throw Malformed("L elements must be typed values");
                    list.Add(ReadValueBody(ref reader));
                }
                value = new AttributeValue { L = list, IsLSet = true };
                break;
            }
            case "M":
                Expect(ref reader, JsonTokenType.StartObject);
                value = new AttributeValue { M = ReadMapBody(ref reader), IsMSet = true };
                break;
            default:
                throw Malformed($"unknown type '{type}'");
        }
        if (Next(ref reader) != JsonTokenType.EndObject) throw Malformed($"a typed value has more than one member (after '{type}')");
        return value;
    }

    private static string ReadString(ref Utf8JsonReader reader)
    {
        Expect(ref reader, JsonTokenType.String);
        return reader.GetString()!;
    }

    private static string CurrentString(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.String) throw Malformed("set elements must be strings");
        return reader.GetString()!;
    }

    private static string ReadNumberText(ref Utf8JsonReader reader)
    {
        string n = ReadString(ref reader);
        CheckNumber(n);
        return n;
    }

    private static void CheckNumber(string n)
    {
        try { DynamoNumber.Canonical(n); }
        catch (FormatException) { throw Malformed($"'{n}' is not a number"); }
    }

    private static byte[] DecodeBase64(ref Utf8JsonReader reader)
    {
        if (!reader.TryGetBytesFromBase64(out var bytes)) throw Malformed("binary value is not valid base64");
        return bytes;
    }

    private static JsonTokenType Next(ref Utf8JsonReader reader)
    {
        if (!reader.Read()) throw Malformed("unexpected end of record");
        return reader.TokenType;
    }

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType type)
    {
        if (Next(ref reader) != type) throw Malformed($"expected {type}, found {reader.TokenType}");
    }

    private static InvalidDataException Malformed(string what) => new("Malformed DynamoDB JSON: " + what + ".");
}
