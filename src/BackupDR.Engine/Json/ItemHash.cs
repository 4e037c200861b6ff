using System.IO.Hashing;
using System.Text;
using Amazon.DynamoDBv2.Model;

namespace BackupDR.Engine.Json;

/// <summary>
/// 128-bit hashes of an item's or a key's canonical text (<see cref="ItemCanonical"/>): equal for two
/// values DynamoDB considers equal, whatever their attribute order, set order or number spelling. Used
/// to compare a backup with a live table and to know a backup's keys without keeping them.
/// </summary>
internal static class ItemHash
{
    /// <summary>Of a key or an item as DynamoDB JSON (attribute name → typed value).</summary>
    public static UInt128 Of(ReadOnlySpan<byte> json) => Of(DynamoJson.ReadItem(json));

    public static UInt128 Of(Dictionary<string, AttributeValue> item)
    {
        Span<byte> digest = stackalloc byte[16];
        XxHash128.Hash(Encoding.UTF8.GetBytes(ItemCanonical.Of(item)), digest);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt128LittleEndian(digest);
    }

    /// <summary>Of the key attributes of <paramref name="item"/>.</summary>
    public static UInt128 OfKey(Dictionary<string, AttributeValue> item, IReadOnlyList<string> keyNames)
    {
        var key = new Dictionary<string, AttributeValue>(keyNames.Count, StringComparer.Ordinal);
        foreach (string name in keyNames)
        {
            if (item.TryGetValue(name, out var value)) key[name] = value;
        }
        return Of(key);
    }
}
