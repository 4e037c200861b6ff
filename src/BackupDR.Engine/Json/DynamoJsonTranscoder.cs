using System.Text.Json;

namespace BackupDR.Engine.Json;

/// <summary>
/// Copies DynamoDB JSON from a reader to a writer token by token, checking it against the typed-value
/// rules of docs/format.md §3 on the way. Strings are unescaped and re-escaped, numbers stay text,
/// nothing is materialised as objects: this is how Scan responses become export records without the
/// cost of building an AttributeValue for every value.
/// </summary>
internal static class DynamoJsonTranscoder
{
    /// <summary>Copies the item object the reader is positioned on (its StartObject) and leaves the reader on its EndObject.</summary>
    public static void CopyItem(ref Utf8JsonReader r, Utf8JsonWriter w) => CopyAttributes(ref r, w, "an item");

    /// <summary>An object of attribute name → typed value: an item, or the value of an M.</summary>
    private static void CopyAttributes(ref Utf8JsonReader r, Utf8JsonWriter w, string what)
    {
        Expect(ref r, JsonTokenType.StartObject, what);
        w.WriteStartObject();
        while (Next(ref r) == JsonTokenType.PropertyName)
        {
            CopyPropertyName(ref r, w);
            Next(ref r);
            CopyValue(ref r, w);
        }
        Expect(ref r, JsonTokenType.EndObject, "the end of " + what);
        w.WriteEndObject();
    }

    private static void CopyValue(ref Utf8JsonReader r, Utf8JsonWriter w)
    {
        Expect(ref r, JsonTokenType.StartObject, "a typed value");
        w.WriteStartObject();
        if (Next(ref r) != JsonTokenType.PropertyName) throw new InvalidDataException("a typed value has no type");
        ReadOnlySpan<byte> type = r.ValueIsEscaped ? System.Text.Encoding.UTF8.GetBytes(r.GetString()!) : r.ValueSpan;
        w.WritePropertyName(type);
        Next(ref r);
        if (type.SequenceEqual("S"u8) || type.SequenceEqual("N"u8) || type.SequenceEqual("B"u8))
        {
            CopyString(ref r, w);
        }
        else if (type.SequenceEqual("SS"u8) || type.SequenceEqual("NS"u8) || type.SequenceEqual("BS"u8))
        {
            Expect(ref r, JsonTokenType.StartArray, "a set");
            w.WriteStartArray();
            int count = 0;
            while (Next(ref r) != JsonTokenType.EndArray)
            {
                CopyString(ref r, w);
                count++;
            }
            if (count == 0) throw new InvalidDataException("a set is empty");
            w.WriteEndArray();
        }
        else if (type.SequenceEqual("BOOL"u8) || type.SequenceEqual("NULL"u8))
        {
            if (r.TokenType is not (JsonTokenType.True or JsonTokenType.False)) throw new InvalidDataException("BOOL/NULL is not true or false");
            w.WriteBooleanValue(r.TokenType == JsonTokenType.True);
        }
        else if (type.SequenceEqual("L"u8))
        {
            Expect(ref r, JsonTokenType.StartArray, "a list");
            w.WriteStartArray();
            while (Next(ref r) != JsonTokenType.EndArray) CopyValue(ref r, w);
            w.WriteEndArray();
        }
        else if (type.SequenceEqual("M"u8))
        {
            CopyAttributes(ref r, w, "a map");
        }
        else
        {
            throw new InvalidDataException($"unknown attribute type '{System.Text.Encoding.UTF8.GetString(type)}'");
        }
        if (Next(ref r) != JsonTokenType.EndObject) throw new InvalidDataException("a typed value has more than one type");
        w.WriteEndObject();
    }

    private static void CopyPropertyName(ref Utf8JsonReader r, Utf8JsonWriter w)
    {
        if (r.ValueIsEscaped) w.WritePropertyName(r.GetString()!);
        else w.WritePropertyName(r.ValueSpan);
    }

    private static void CopyString(ref Utf8JsonReader r, Utf8JsonWriter w)
    {
        Expect(ref r, JsonTokenType.String, "a string");
        if (r.ValueIsEscaped) w.WriteStringValue(r.GetString());
        else w.WriteStringValue(r.ValueSpan);
    }

    private static JsonTokenType Next(ref Utf8JsonReader r)
    {
        if (!r.Read()) throw new InvalidDataException("the JSON ends early");
        return r.TokenType;
    }

    private static void Expect(ref Utf8JsonReader r, JsonTokenType type, string what)
    {
        if (r.TokenType != type) throw new InvalidDataException($"expected {what}, found {r.TokenType}");
    }
}
