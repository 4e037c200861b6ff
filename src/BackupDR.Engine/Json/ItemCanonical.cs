using System.Text;
using Amazon.DynamoDBv2.Model;

namespace BackupDR.Engine.Json;

/// <summary>
/// A canonical text of an item, equal for two items exactly when DynamoDB considers them the same
/// value: attribute order, set order and number spelling (1.50 vs 1.5) do not matter.
/// </summary>
public static class ItemCanonical
{
    public static string Of(Dictionary<string, AttributeValue> item)
    {
        var text = new StringBuilder();
        AppendMap(text, item);
        return text.ToString();
    }

    private static void AppendMap(StringBuilder text, Dictionary<string, AttributeValue> map)
    {
        text.Append('{');
        foreach (var (name, value) in map.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            AppendString(text, name);
            text.Append(':');
            Append(text, value);
            text.Append(',');
        }
        text.Append('}');
    }

    private static void Append(StringBuilder text, AttributeValue v)
    {
        if (v.S is not null) { text.Append("S"); AppendString(text, v.S); }
        else if (v.N is not null) text.Append("N").Append(DynamoNumber.Canonical(v.N));
        else if (v.B is not null) text.Append("B").Append(Convert.ToBase64String(v.B.ToArray()));
        else if (v.BOOL is bool b) text.Append(b ? "T" : "F");
        else if (v.NULL is true) text.Append("NULL");
        else if (v.SS is { Count: > 0 }) AppendSet(text, "SS", v.SS.Select(s => { var t = new StringBuilder(); AppendString(t, s); return t.ToString(); }));
        else if (v.NS is { Count: > 0 }) AppendSet(text, "NS", v.NS.Select(DynamoNumber.Canonical));
        else if (v.BS is { Count: > 0 }) AppendSet(text, "BS", v.BS.Select(m => Convert.ToBase64String(m.ToArray())));
        else if (v.M is not null || v.IsMSet) { text.Append('M'); AppendMap(text, v.M ?? []); }
        else if (v.L is not null || v.IsLSet)
        {
            text.Append("L[");
            foreach (var child in v.L ?? []) { Append(text, child); text.Append(','); }
            text.Append(']');
        }
        else throw new InvalidDataException("An attribute value has no type.");
    }

    private static void AppendSet(StringBuilder text, string type, IEnumerable<string> elements)
    {
        text.Append(type).Append('[');
        foreach (string e in elements.Order(StringComparer.Ordinal)) text.Append(e).Append(',');
        text.Append(']');
    }

    private static void AppendString(StringBuilder text, string s) => text.Append('"').Append(s.Replace("\\", "\\\\").Replace("\"", "\\\"")).Append('"');
}
