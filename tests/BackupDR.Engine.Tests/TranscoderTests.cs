using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Json;
using Xunit;

namespace BackupDR.Engine.Tests;

/// <summary>
/// The backup copies Scan responses into export records through ItemWalker without building
/// AttributeValues. What it writes must be byte for byte what the object path writes, whatever
/// escaping the service used.
/// </summary>
public class TranscoderTests
{
    [Fact]
    public void Crc32_matches_the_standard_check_value()
    {
        Assert.Equal(0xCBF43926u, Crc32.Compute("123456789"u8));
        Assert.Equal(0u, Crc32.Compute([]));
        // Long input exercises the 8-byte path and the tail.
        var data = Enumerable.Range(0, 1003).Select(i => (byte)(i * 7)).ToArray();
        uint bitwise = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            bitwise ^= b;
            for (int k = 0; k < 8; k++) bitwise = (bitwise & 1) != 0 ? 0xEDB88320 ^ (bitwise >> 1) : bitwise >> 1;
        }
        Assert.Equal(~bitwise, Crc32.Compute(data));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Transcoded_records_equal_the_object_path(bool serviceEscapesEverything)
    {
        var items = TestItems.FidelitySet().Concat(TestItems.Random(7, 300)).ToList();
        // The service's rendering: either compact UTF-8, or every non-ASCII character as \uXXXX.
        var serviceOptions = new JsonWriterOptions { Encoder = serviceEscapesEverything ? JavaScriptEncoder.Default : JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        var response = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(response, serviceOptions))
        {
            w.WriteStartObject();
            w.WriteNumber("Count", items.Count);
            w.WriteStartArray("Items");
            foreach (var item in items) DynamoJson.WriteItem(w, item);
            w.WriteEndArray();
            w.WriteEndObject();
        }

        var reader = new Utf8JsonReader(response.WrittenSpan, new JsonReaderOptions { MaxDepth = 256 });
        reader.Read(); reader.Read(); reader.Read(); reader.Read(); reader.Read();   // { Count n Items [
        Assert.Equal(JsonTokenType.StartArray, reader.TokenType);
        foreach (var item in items)
        {
            Assert.True(reader.Read());
            var transcoded = new ArrayBufferWriter<byte>();
            using (var w = new Utf8JsonWriter(transcoded, DynamoJson.WriterOptions))
            {
                w.WriteStartObject();
                w.WritePropertyName("Item");
                var copy = new CopyTo(w);
                new ItemWalker(Array.Empty<KeyAttribute>()).WalkItem(ref reader, ref copy);
                w.WriteEndObject();
            }
            var direct = new ArrayBufferWriter<byte>();
            using (var w = new Utf8JsonWriter(direct, DynamoJson.WriterOptions)) DynamoJson.WriteRecord(w, item);
            Assert.Equal(Encoding.UTF8.GetString(direct.WrittenSpan), Encoding.UTF8.GetString(transcoded.WrittenSpan));
        }
        Assert.True(reader.Read());
        Assert.Equal(JsonTokenType.EndArray, reader.TokenType);
    }

    [Theory]
    [InlineData("{\"a\":{\"N\":1.5}}")]                 // number as a JSON number
    [InlineData("{\"a\":{\"X\":\"1\"}}")]               // unknown type
    [InlineData("{\"a\":{\"S\":\"1\",\"N\":\"1\"}}")]   // two types
    [InlineData("{\"a\":{}}")]                          // no type
    [InlineData("{\"a\":{\"SS\":[]}}")]                 // empty set
    [InlineData("{\"a\":{\"SS\":[1]}}")]                // set of numbers
    [InlineData("{\"a\":{\"BOOL\":\"true\"}}")]         // BOOL as text
    [InlineData("{\"a\":{\"L\":[{\"S\":\"x\"},\"y\"]}}")] // bare value in a list
    [InlineData("{\"a\":\"plain\"}")]                    // untyped value
    public void Malformed_service_items_are_rejected(string json)
    {
        Assert.Throws<InvalidDataException>(() =>
        {
            var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json));
            reader.Read();
            using var w = new Utf8JsonWriter(new ArrayBufferWriter<byte>(), DynamoJson.WriterOptions);
            var copy = new CopyTo(w);
            new ItemWalker(Array.Empty<KeyAttribute>()).WalkItem(ref reader, ref copy);
        });
    }
}
