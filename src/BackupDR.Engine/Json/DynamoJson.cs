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

    private static readonly KeyAttribute[] NoKeys = [];

    /// <summary>Parses one export record line, <c>{"Item":{...}}</c>. Throws InvalidDataException when malformed.</summary>
    public static Dictionary<string, AttributeValue> ReadRecord(ReadOnlySpan<byte> line)
    {
        var build = new BuildInto(new ItemBuilder());
        new ItemWalker(NoKeys).WalkRecord(line, ref build);
        return build.Builder.Result!;
    }

    /// <summary>Parses a DynamoDB JSON item object (attribute name → typed value).</summary>
    public static Dictionary<string, AttributeValue> ReadItem(ReadOnlySpan<byte> json)
    {
        var build = new BuildInto(new ItemBuilder());
        new ItemWalker(NoKeys).WalkItem(json, ref build);
        return build.Builder.Result!;
    }

    /// <summary>Builds AttributeValues from what <see cref="ItemWalker"/> checked.</summary>
    private readonly struct BuildInto(ItemBuilder builder) : IItemSink
    {
        public ItemBuilder Builder => builder;
        public void BeginMap() => builder.BeginMap();
        public void Attribute(ReadOnlySpan<byte> name) => builder.Attribute(name);
        public void EndMap() => builder.EndContainer();
        public void BeginValue(string type) => builder.BeginValue(type);
        public void EndValue() => builder.EndValue();
        public void BeginArray() => builder.BeginArray();
        public void EndArray() => builder.EndContainer();
        public void Scalar(string type, ref Utf8JsonReader r, scoped ReadOnlySpan<byte> binary) =>
            builder.Scalar(type is "B" or "BS" ? null : r.GetString(), binary);
        public void Boolean(bool value) => builder.Boolean(value);
    }

    private sealed class ItemBuilder
    {
        // Open containers (a map with the name of the attribute being read, or a list) and values, innermost last.
        private readonly List<object> _open = [];
        private readonly List<string?> _pendingNames = [];

        public Dictionary<string, AttributeValue>? Result { get; private set; }

        public void BeginMap()
        {
            var map = new Dictionary<string, AttributeValue>(StringComparer.Ordinal);
            if (_open.Count > 0) ((AttributeValue)_open[^1]).M = map;
            _open.Add(map);
            _pendingNames.Add(null);
        }

        public void Attribute(ReadOnlySpan<byte> name) => _pendingNames[^1] = System.Text.Encoding.UTF8.GetString(name);

        public void BeginArray()
        {
            var value = (AttributeValue)_open[^1];
            object list = value.IsLSet ? value.L : value.SS ?? value.NS ?? (object?)value.BS ?? throw new InvalidOperationException("an array outside L or a set");
            _open.Add(list);
            _pendingNames.Add(null);
        }

        public void EndContainer()
        {
            var done = _open[^1];
            _open.RemoveAt(_open.Count - 1);
            _pendingNames.RemoveAt(_pendingNames.Count - 1);
            if (_open.Count == 0) Result = (Dictionary<string, AttributeValue>)done;
        }

        public void BeginValue(string type)
        {
            var value = new AttributeValue();
            switch (type)
            {
                case "M": value.IsMSet = true; break;
                case "L": value.L = []; value.IsLSet = true; break;
                case "SS": value.SS = []; break;
                case "NS": value.NS = []; break;
                case "BS": value.BS = []; break;
            }
            _open.Add(value);
            _pendingNames.Add(type);   // a value's slot holds its type
        }

        public void EndValue()
        {
            var value = (AttributeValue)_open[^1];
            _open.RemoveAt(_open.Count - 1);
            _pendingNames.RemoveAt(_pendingNames.Count - 1);
            switch (_open[^1])
            {
                case Dictionary<string, AttributeValue> map: map[_pendingNames[^1]!] = value; break;
                case List<AttributeValue> list: list.Add(value); break;
            }
        }

        public void Scalar(string? text, ReadOnlySpan<byte> binary)
        {
            switch (_open[^1])
            {
                case AttributeValue value when _pendingNames[^1] == "S": value.S = text; break;
                case AttributeValue value when _pendingNames[^1] == "N": value.N = text; break;
                case AttributeValue value: value.B = new MemoryStream(binary.ToArray()); break;
                case List<string> strings: strings.Add(text!); break;
                case List<MemoryStream> binaries: binaries.Add(new MemoryStream(binary.ToArray())); break;
            }
        }

        public void Boolean(bool b)
        {
            var value = (AttributeValue)_open[^1];
            if (_pendingNames[^1] == "NULL") value.NULL = true;
            else value.BOOL = b;
        }
    }

}
