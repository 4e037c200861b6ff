using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace BackupDR.Engine.Format;

/// <summary>
/// What the original backup Lambda (the seed's v2.0 format) had already lost of an attribute before
/// BackupDR read the file: one entry per attribute and kind, with how many values and one example.
/// </summary>
/// <param name="Attribute">The item's top-level attribute the values are in (nested values are reported under it).</param>
/// <param name="Kind">
/// <c>ThroughFloat</c>: a top-level number with 16 or more significant digits, or one the float carried
/// out of DynamoDB's range — the seed turned every top-level number into a binary float, which keeps 15
/// digits exactly; the rest are the float's, not the original's (and 9.99…9E+125 became 1e+126, which
/// DynamoDB cannot store). <c>NumberAsString</c>: a string inside a list or map that is a number's text — the
/// seed wrote nested numbers with str(), so it was a number, or a string that looks like one.
/// <c>SetAsString</c>: a string that is a Python set's text (<c>{'a', 'b'}</c>, <c>{Decimal('1')}</c>,
/// <c>{Binary(b'…')}</c>) — the seed wrote string, number and binary sets with str().
/// </param>
public sealed record SeedLoss(string Attribute, string Kind, long Count, string Example);

/// <summary>
/// The seed's v2.0 backup file (docs/format.md §11): <c>{table_name, backup_timestamp, item_count, data,
/// checksum, version}</c>, written by <c>json.dumps(backup, indent=2, default=str)</c>, with
/// <c>checksum = sha256(json.dumps(data, sort_keys=True, default=str))</c> in hex. Items are plain JSON
/// (boto3's resource layer, then the seed's conversions).
/// </summary>
internal static class SeedV2
{
    public const string Version = "2.0";
    public const long MaxFileBytes = 16L * 1024 * 1024 * 1024;

    private static readonly Regex NumberText = new(@"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$", RegexOptions.CultureInvariant);
    private static readonly Regex SetText = new(
        @"^\{(?:(?:'(?:[^'\\]|\\.)*'|""(?:[^""\\]|\\.)*""|Decimal\('[^']*'\)|Binary\(b'(?:[^'\\]|\\.)*'\)|Binary\(b""(?:[^""\\]|\\.)*""\))(?:, (?!\})|(?=\})))+\}$",
        RegexOptions.CultureInvariant);

    /// <summary>
    /// Appends one item to the seed's checksum as Python's <c>json.dumps(…, sort_keys=True)</c> writes it:
    /// keys in code-point order, ", " and ": " separators, non-ASCII and control characters as
    /// <c>\uXXXX</c> (lowercase, surrogate pairs beyond the BMP), numbers as the file spells them.
    /// </summary>
    public static void AppendCanonical(JsonElement value, StringBuilder text)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                text.Append('{');
                bool first = true;
                foreach (var property in value.EnumerateObject().OrderBy(p => p.Name, CodePointComparer.Instance))
                {
                    if (!first) text.Append(", ");
                    first = false;
                    AppendString(property.Name, text);
                    text.Append(": ");
                    AppendCanonical(property.Value, text);
                }
                text.Append('}');
                break;
            case JsonValueKind.Array:
                text.Append('[');
                bool firstElement = true;
                foreach (var element in value.EnumerateArray())
                {
                    if (!firstElement) text.Append(", ");
                    firstElement = false;
                    AppendCanonical(element, text);
                }
                text.Append(']');
                break;
            case JsonValueKind.String:
                AppendString(value.GetString()!, text);
                break;
            case JsonValueKind.Number:
                text.Append(value.GetRawText());
                break;
            case JsonValueKind.True:
                text.Append("true");
                break;
            case JsonValueKind.False:
                text.Append("false");
                break;
            default:
                text.Append("null");
                break;
        }
    }

    private static void AppendString(string s, StringBuilder text)
    {
        text.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                case '\b': text.Append("\\b"); break;
                case '\f': text.Append("\\f"); break;
                default:
                    if (c >= ' ' && c <= '~') text.Append(c);
                    else text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));   // UTF-16 units: a pair beyond the BMP
                    break;
            }
        }
        text.Append('"');
    }

    /// <summary>Python orders str keys by code point; .NET's ordinal order is by UTF-16 unit, which differs beyond the BMP.</summary>
    private sealed class CodePointComparer : IComparer<string>
    {
        public static readonly CodePointComparer Instance = new();

        public int Compare(string? x, string? y)
        {
            var a = x!.EnumerateRunes();
            var b = y!.EnumerateRunes();
            while (true)
            {
                bool hasA = a.MoveNext(), hasB = b.MoveNext();
                if (!hasA || !hasB) return hasA ? 1 : hasB ? -1 : 0;
                int d = a.Current.Value.CompareTo(b.Current.Value);
                if (d != 0) return d;
            }
        }
    }

    /// <summary>
    /// Writes a seed item (plain JSON) as a record <c>{"Item":{…}}</c> in DynamoDB JSON: strings S, numbers N
    /// from their text (never through a binary float), booleans BOOL, null NULL, lists L, objects M.
    /// </summary>
    public static void WriteRecord(JsonElement item, IBufferWriter<byte> line)
    {
        using var w = new Utf8JsonWriter(line, Json.DynamoJson.WriterOptions);
        w.WriteStartObject();
        w.WritePropertyName("Item");
        WriteMap(w, item);
        w.WriteEndObject();
    }

    private static void WriteMap(Utf8JsonWriter w, JsonElement map)
    {
        w.WriteStartObject();
        foreach (var property in map.EnumerateObject())
        {
            w.WritePropertyName(property.Name);
            WriteValue(w, property.Value);
        }
        w.WriteEndObject();
    }

    private static void WriteValue(Utf8JsonWriter w, JsonElement value)
    {
        w.WriteStartObject();
        switch (value.ValueKind)
        {
            case JsonValueKind.String: w.WriteString("S", value.GetString()); break;
            case JsonValueKind.Number: w.WriteString("N", value.GetRawText()); break;
            case JsonValueKind.True: w.WriteBoolean("BOOL", true); break;
            case JsonValueKind.False: w.WriteBoolean("BOOL", false); break;
            case JsonValueKind.Null: w.WriteBoolean("NULL", true); break;
            case JsonValueKind.Object:
                w.WritePropertyName("M");
                WriteMap(w, value);
                break;
            case JsonValueKind.Array:
                w.WritePropertyName("L");
                w.WriteStartArray();
                foreach (var element in value.EnumerateArray()) WriteValue(w, element);
                w.WriteEndArray();
                break;
        }
        w.WriteEndObject();
    }

    /// <summary>Counts what the seed had lost in one item, per top-level attribute and kind.</summary>
    public static void Assess(JsonElement item, Dictionary<(string Attribute, string Kind), (long Count, string Example)> losses)
    {
        foreach (var property in item.EnumerateObject()) Assess(property.Name, property.Value, nested: false, losses);
    }

    private static void Assess(string attribute, JsonElement value, bool nested, Dictionary<(string, string), (long, string)> losses)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Number when !nested && (SignificantDigits(value.GetRawText()) >= 16
                                                     || Json.DynamoNumber.StorableProblem(System.Text.Encoding.UTF8.GetBytes(value.GetRawText())) is not null):
                Note(losses, attribute, "ThroughFloat", value.GetRawText());
                break;
            case JsonValueKind.String:
                string s = value.GetString()!;
                if (s.Length > 1 && s[0] == '{' && SetText.IsMatch(s)) Note(losses, attribute, "SetAsString", s);
                else if (nested && NumberText.IsMatch(s)) Note(losses, attribute, "NumberAsString", s);
                break;
            case JsonValueKind.Object:
                foreach (var p in value.EnumerateObject()) Assess(attribute, p.Value, nested: true, losses);
                break;
            case JsonValueKind.Array:
                foreach (var e in value.EnumerateArray()) Assess(attribute, e, nested: true, losses);
                break;
        }
    }

    private static void Note(Dictionary<(string, string), (long Count, string Example)> losses, string attribute, string kind, string example)
    {
        var key = (attribute, kind);
        losses[key] = losses.TryGetValue(key, out var seen) ? (seen.Count + 1, seen.Example) : (1, example.Length > 80 ? example[..80] + "…" : example);
    }

    /// <summary>Significant digits of a number's text: leading and trailing zeros of the digits do not count.</summary>
    internal static int SignificantDigits(string number)
    {
        int e = number.IndexOfAny(['e', 'E']);
        string digits = (e < 0 ? number : number[..e]).Replace("-", "", StringComparison.Ordinal).Replace(".", "", StringComparison.Ordinal).Trim('0');
        return digits.Length;
    }
}
