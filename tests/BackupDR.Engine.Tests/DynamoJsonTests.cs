using System.Buffers;
using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Json;
using Xunit;

namespace BackupDR.Engine.Tests;

public class DynamoJsonTests
{
    private static Dictionary<string, AttributeValue> RoundTrip(Dictionary<string, AttributeValue> item)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, DynamoJson.WriterOptions)) DynamoJson.WriteRecord(writer, item);
        return DynamoJson.ReadRecord(buffer.WrittenSpan);
    }

    [Fact]
    public void Every_fidelity_item_round_trips_exactly()
    {
        foreach (var item in TestItems.FidelitySet())
        {
            var back = RoundTrip(item);
            Assert.Equal(ItemCanonical.Of(item), ItemCanonical.Of(back));
            // N keeps its exact text, not just its value.
            foreach (var (name, value) in item.Where(p => p.Value.N is not null)) Assert.Equal(value.N, back[name].N);
        }
    }

    [Fact]
    public void Binary_with_all_256_byte_values_is_byte_exact()
    {
        var item = new Dictionary<string, AttributeValue> { ["b"] = TestItems.B(TestItems.AllBytes()) };
        Assert.Equal(TestItems.AllBytes(), RoundTrip(item)["b"].B.ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Random_items_round_trip(int seed)
    {
        foreach (var item in TestItems.Random(seed, 400))
        {
            Assert.Equal(ItemCanonical.Of(item), ItemCanonical.Of(RoundTrip(item)));
        }
    }

    [Fact]
    public void Empty_list_and_map_stay_distinct_from_missing()
    {
        var back = RoundTrip(new() { ["l"] = new AttributeValue { L = [], IsLSet = true }, ["m"] = new AttributeValue { M = [], IsMSet = true } });
        Assert.True(back["l"].IsLSet);
        Assert.Empty(back["l"].L);
        Assert.True(back["m"].IsMSet);
        Assert.Empty(back["m"].M);
    }

    [Fact]
    public void Writes_the_native_export_record_shape()
    {
        var item = new Dictionary<string, AttributeValue> { ["pk"] = TestItems.S("1"), ["n"] = TestItems.N("1.50"), ["b"] = TestItems.B([0, 255]) };
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, DynamoJson.WriterOptions)) DynamoJson.WriteRecord(writer, item);
        Assert.Equal("{\"Item\":{\"pk\":{\"S\":\"1\"},\"n\":{\"N\":\"1.50\"},\"b\":{\"B\":\"AP8=\"}}}", Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    [Theory]
    [InlineData("{\"Item\":{\"a\":{\"N\":1.5}}}")]                // number as a JSON number
    [InlineData("{\"Item\":{\"a\":{\"N\":\"abc\"}}}")]            // not a number
    [InlineData("{\"Item\":{\"a\":{\"X\":\"1\"}}}")]              // unknown type
    [InlineData("{\"Item\":{\"a\":{\"S\":\"1\",\"N\":\"1\"}}}")]  // two types
    [InlineData("{\"Item\":{\"a\":{}}}")]                         // no type
    [InlineData("{\"Item\":{\"a\":{\"SS\":[]}}}")]                // empty set
    [InlineData("{\"Item\":{\"a\":{\"B\":\"!!\"}}}")]             // bad base64
    [InlineData("{\"Item\":{\"a\":{\"S\":\"1\"}}")]               // truncated
    [InlineData("{\"Other\":{}}")]                                 // not an export record
    [InlineData("{\"Item\":{\"a\":{\"S\":\"1\"},\"a\":{\"S\":\"2\"}}}")] // duplicate attribute
    public void Malformed_records_are_rejected(string line)
    {
        Assert.Throws<InvalidDataException>(() => DynamoJson.ReadRecord(Encoding.UTF8.GetBytes(line)));
    }

    [Theory]
    [InlineData("1.50", "1.5")]
    [InlineData("100", "1E+2")]
    [InlineData("-0.00012", "-1.2e-4")]
    [InlineData("0", "0.000")]
    public void Numbers_compare_by_value(string a, string b)
    {
        Assert.True(DynamoNumber.AreEqual(a, b));
    }

    [Fact]
    public void Extreme_exponents_compare_by_value()
    {
        Assert.True(DynamoNumber.AreEqual("-1E-130", "-0." + new string('0', 129) + "1"));
        Assert.True(DynamoNumber.AreEqual("9.9999999999999999999999999999999999999E+125", new string('9', 38) + new string('0', 88)));
    }

    [Theory]
    [InlineData("1", "1.0000000000000000000000000000000000001")]
    [InlineData("1E+125", "1E+124")]
    [InlineData("-1", "1")]
    public void Different_numbers_differ(string a, string b)
    {
        Assert.False(DynamoNumber.AreEqual(a, b));
    }
}
