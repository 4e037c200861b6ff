using System.Text;
using Amazon.DynamoDBv2.Model;

namespace BackupDR.Engine.Tests;

/// <summary>Items that exercise every DynamoDB type and edge the backup must carry unchanged.</summary>
internal static class TestItems
{
    public static AttributeValue S(string s) => new() { S = s };
    public static AttributeValue N(string n) => new() { N = n };
    public static AttributeValue B(byte[] b) => new() { B = new MemoryStream(b) };

    public static readonly string[] ExtremeNumbers =
    [
        "12345678901234567890123456789012345678",           // 38 significant digits
        "-1.2345678901234567890123456789012345678E-5",
        "9.9999999999999999999999999999999999999E+125",     // largest positive
        "-9.9999999999999999999999999999999999999E+125",
        "1E-130",                                            // smallest positive
        "-1E-130",
        "0.00000000000000000000000000000000000001",
        "0",
        "-0.5",
        "1.50",
    ];

    public static byte[] AllBytes() => Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();

    /// <summary>The fidelity set of issue #3: one item per edge, keyed pk (S) + sk (N).</summary>
    public static List<Dictionary<string, AttributeValue>> FidelitySet()
    {
        var items = new List<Dictionary<string, AttributeValue>>();
        Dictionary<string, AttributeValue> Item(string pk, int sk, params (string Name, AttributeValue Value)[] attrs)
        {
            var item = new Dictionary<string, AttributeValue> { ["pk"] = S(pk), ["sk"] = N(sk.ToString()) };
            foreach (var (name, value) in attrs) item[name] = value;
            items.Add(item);
            return item;
        }

        for (int i = 0; i < ExtremeNumbers.Length; i++) Item("number", i, ("n", N(ExtremeNumbers[i])));
        Item("binary", 0, ("b", B(AllBytes())), ("empty", B([])));
        Item("sets", 0,
            ("ss", new AttributeValue { SS = ["a", "b", "", "𝄞 clef", "ünïcödé"] }),
            ("ns", new AttributeValue { NS = [.. ExtremeNumbers.Where(n => n != "0" && n != "1.50")] }),
            ("bs", new AttributeValue { BS = [new MemoryStream(AllBytes()), new MemoryStream([0]), new MemoryStream([255, 254])] }));
        Item("scalars", 0, ("t", new AttributeValue { BOOL = true }), ("f", new AttributeValue { BOOL = false }),
            ("null", new AttributeValue { NULL = true }), ("emptyString", S("")),
            ("emptyList", new AttributeValue { L = [], IsLSet = true }), ("emptyMap", new AttributeValue { M = [], IsMSet = true }));
        Item("unicode", 0, ("text", S("héllo \u0000 \u001f \"quoted\" \\ 😀 𝄞 𠜎 \u2028\u2029 日本語")), ("🔑 key name", S("value")));
        Item("nested", 0, ("deep", Nested(31)));
        Item("mixedList", 0, ("l", new AttributeValue
        {
            L = [S("x"), N("1E+2"), B([1, 2]), new AttributeValue { BOOL = false }, new AttributeValue { NULL = true },
                 new AttributeValue { SS = ["q"] }, new AttributeValue { M = new() { ["k"] = N("-0.0001") }, IsMSet = true }],
            IsLSet = true,
        }));
        // Close to the 400 KB item limit: a large string and a large binary.
        Item("large", 0, ("big", S(new string('x', 250_000) + "😀")), ("bin", B(Enumerable.Range(0, 140_000).Select(i => (byte)(i * 31)).ToArray())));
        return items;
    }

    /// <summary>Alternating M and L, <paramref name="depth"/> levels below the attribute (DynamoDB allows 32 in all).</summary>
    public static AttributeValue Nested(int depth)
    {
        AttributeValue value = N("42");
        for (int level = 0; level < depth; level++)
        {
            value = level % 2 == 0
                ? new AttributeValue { M = new() { ["level" + level] = value, ["s"] = S("at " + level) }, IsMSet = true }
                : new AttributeValue { L = [value, N(level.ToString())], IsLSet = true };
        }
        return value;
    }

    /// <summary>Random items (seeded) with every type, for round-trip tests.</summary>
    public static List<Dictionary<string, AttributeValue>> Random(int seed, int count)
    {
        var rng = new Random(seed);
        var items = new List<Dictionary<string, AttributeValue>>(count);
        for (int i = 0; i < count; i++)
        {
            var item = new Dictionary<string, AttributeValue> { ["pk"] = S($"r{seed}-{i:D6}"), ["sk"] = N(RandomNumber(rng)) };
            int attributes = rng.Next(0, 8);
            for (int a = 0; a < attributes; a++) item["a" + a + RandomString(rng, 3)] = RandomValue(rng, 0);
            items.Add(item);
        }
        return items;
    }

    private static AttributeValue RandomValue(Random rng, int depth)
    {
        int kind = rng.Next(depth < 5 ? 11 : 9);
        return kind switch
        {
            0 => S(RandomString(rng, rng.Next(0, 40))),
            1 => N(RandomNumber(rng)),
            2 => B(RandomBytes(rng, rng.Next(0, 64))),
            3 => new AttributeValue { BOOL = rng.Next(2) == 0 },
            4 => new AttributeValue { NULL = true },
            5 => new AttributeValue { SS = Distinct(rng, () => RandomString(rng, rng.Next(0, 12)), s => s) },
            6 => new AttributeValue { NS = Distinct(rng, () => RandomNumber(rng), Json.DynamoNumber.Canonical) },
            7 => new AttributeValue { BS = Distinct(rng, () => RandomBytes(rng, rng.Next(1, 20)), Convert.ToBase64String).Select(b => new MemoryStream(b)).ToList() },
            8 => S(RandomString(rng, rng.Next(1, 5))),
            9 => new AttributeValue { L = Enumerable.Range(0, rng.Next(0, 4)).Select(_ => RandomValue(rng, depth + 1)).ToList(), IsLSet = true },
            _ => new AttributeValue
            {
                M = Enumerable.Range(0, rng.Next(0, 4)).ToDictionary(i => "m" + i + RandomString(rng, 2), _ => RandomValue(rng, depth + 1)),
                IsMSet = true,
            },
        };
    }

    private static List<T> Distinct<T>(Random rng, Func<T> make, Func<T, string> key)
    {
        var seen = new Dictionary<string, T>();
        int n = rng.Next(1, 6);
        for (int i = 0; i < n * 3 && seen.Count < n; i++)
        {
            var v = make();
            seen.TryAdd(key(v), v);
        }
        return [.. seen.Values];
    }

    private static string RandomNumber(Random rng)
    {
        var digits = new StringBuilder();
        int length = rng.Next(1, 39);
        digits.Append((char)('1' + rng.Next(9)));
        for (int i = 1; i < length; i++) digits.Append((char)('0' + rng.Next(10)));
        string sign = rng.Next(4) == 0 ? "-" : "";
        return rng.Next(3) switch
        {
            0 => sign + digits,
            1 => sign + digits.ToString().Insert(rng.Next(1, length + 1), ".").TrimEnd('.'),
            _ => sign + digits[0] + (length > 1 ? "." + digits.ToString(1, length - 1) : "") + "E" + (rng.Next(-120, 100)),
        };
    }

    private static readonly string[] Alphabet = ["a", "Z", "0", " ", "é", "日", "😀", "\"", "\\", "\n", "\t", "\u0001", "𝄞", "ß"];

    private static string RandomString(Random rng, int length)
    {
        var s = new StringBuilder();
        for (int i = 0; i < length; i++) s.Append(Alphabet[rng.Next(Alphabet.Length)]);
        return s.ToString();
    }

    private static byte[] RandomBytes(Random rng, int length)
    {
        var b = new byte[length];
        rng.NextBytes(b);
        return b;
    }
}
