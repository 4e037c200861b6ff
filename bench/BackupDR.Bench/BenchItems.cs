using System.Text;
using Amazon.DynamoDBv2.Model;

namespace BackupDR.Bench;

/// <summary>
/// Deterministic items of a chosen size, shaped like an application's rows: a string key and a
/// number sort key, prose-like text (so gzip sees realistic redundancy), numbers, a binary, a set,
/// a map and a list. Item i is the same in every process, so a step can re-create what another seeded.
/// </summary>
internal static class BenchItems
{
    private static readonly string[] Words =
    [
        "order", "customer", "shipped", "pending", "invoice", "warehouse", "priority", "express", "returned",
        "discount", "payment", "card", "address", "street", "city", "region", "status", "tracking", "parcel",
        "delivered", "quantity", "price", "tax", "total", "currency", "EUR", "USD", "note", "gift", "wrap",
        "fragile", "signature", "required", "weekend", "backorder", "supplier", "batch", "lot", "serial", "model",
    ];

    public static Dictionary<string, AttributeValue> Create(long i, int targetBytes)
    {
        var random = new Random(unchecked((int)(i * 2654435761L)));
        var item = new Dictionary<string, AttributeValue>(10)
        {
            ["pk"] = new() { S = $"customer#{i % 100_003:D6}#{i:D9}" },
            ["sk"] = new() { N = i.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            ["amount"] = new() { N = $"{random.Next(0, 1_000_000)}.{random.Next(0, 100):D2}" },
            ["exact"] = new() { N = "12345678901234567890123456789012345." + (i % 1000).ToString("D3") },
            ["active"] = new() { BOOL = (i & 1) == 0 },
            ["blob"] = new() { B = new MemoryStream(Bytes(random, 48)) },
            ["tags"] = new() { SS = [Words[random.Next(Words.Length)] + "-a", Words[random.Next(Words.Length)] + "-b"] },
            ["address"] = new()
            {
                M = new()
                {
                    ["street"] = new() { S = $"{random.Next(1, 999)} {Words[random.Next(Words.Length)]} street" },
                    ["zip"] = new() { N = random.Next(10000, 99999).ToString(System.Globalization.CultureInfo.InvariantCulture) },
                    ["lines"] = new() { L = [new() { S = Words[random.Next(Words.Length)] }, new() { NULL = true }], IsLSet = true },
                },
                IsMSet = true,
            },
        };
        int used = ApproximateSize(item);
        item["text"] = new() { S = Prose(random, Math.Max(0, targetBytes - used - 4)) };
        return item;
    }

    /// <summary>DynamoDB's size rule, roughly: names plus values (numbers count about half their digits).</summary>
    public static int ApproximateSize(Dictionary<string, AttributeValue> item)
    {
        int size = 0;
        foreach (var (name, value) in item) size += Encoding.UTF8.GetByteCount(name) + ValueSize(value);
        return size;
    }

    private static int ValueSize(AttributeValue v)
    {
        if (v.S is not null) return Encoding.UTF8.GetByteCount(v.S);
        if (v.N is not null) return v.N.Length / 2 + 1;
        if (v.B is not null) return (int)v.B.Length;
        if (v.SS is { Count: > 0 }) return v.SS.Sum(Encoding.UTF8.GetByteCount);
        if (v.M is { Count: > 0 }) return 3 + v.M.Sum(kv => Encoding.UTF8.GetByteCount(kv.Key) + 1 + ValueSize(kv.Value));
        if (v.L is { Count: > 0 }) return 3 + v.L.Sum(x => 1 + ValueSize(x));
        return 1;
    }

    private static byte[] Bytes(Random random, int n)
    {
        var b = new byte[n];
        random.NextBytes(b);
        return b;
    }

    private static string Prose(Random random, int length)
    {
        var text = new StringBuilder(length + 16);
        while (text.Length < length)
        {
            text.Append(Words[random.Next(Words.Length)]);
            if (random.Next(8) == 0) text.Append(random.Next(0, 100000));
            text.Append(' ');
        }
        return text.ToString(0, length);
    }
}
