using System.Buffers;
using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Json;
using Xunit;

namespace BackupDR.Engine.Tests;

/// <summary>
/// A restore sends each record's Item bytes to DynamoDB as they are, after ItemWalker's checks; Full
/// validation, the backup's copy and the object parser walk the same grammar. The walker must accept
/// every DynamoDB value, refuse what DynamoDB would, and hand over exactly the item and its key.
/// </summary>
public class ItemWalkerTests
{
    private static readonly KeyAttribute[] Keys = [new("pk"), new("sk")];

    private static (Range Item, string Key) Check(ItemWalker walker, ReadOnlySpan<byte> line)
    {
        var check = new CheckOnly();
        var range = walker.WalkRecord(line, ref check);
        return (range, walker.KeyText(line));
    }

    private static byte[] Record(Dictionary<string, AttributeValue> item)
    {
        var output = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(output, DynamoJson.WriterOptions)) DynamoJson.WriteRecord(w, item);
        return output.WrittenSpan.ToArray();
    }

    private static byte[] Item(Dictionary<string, AttributeValue> item)
    {
        var output = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(output, DynamoJson.WriterOptions)) DynamoJson.WriteItem(w, item);
        return output.WrittenSpan.ToArray();
    }

    [Fact]
    public void Valid_records_yield_their_item_bytes_and_key()
    {
        var walker = new ItemWalker(Keys);
        var items = TestItems.Random(11, 400);
        foreach (var item in items)
        {
            byte[] line = Record(item);
            var (range, key) = Check(walker, line);
            Assert.Equal(Item(item), line[range]);
            Assert.Equal(DynamoJson.ItemToString(new() { ["pk"] = item["pk"], ["sk"] = item["sk"] }), key);
        }
        // Every type, extreme numbers, all byte values, deep nesting, escapes, a 400 KB item: accepted.
        foreach (var item in TestItems.FidelitySet())
        {
            byte[] line = Record(item);
            Assert.Equal(Item(item), line[Check(walker, line).Item]);
        }
    }

    [Theory]
    [InlineData("{\"Item\":{\"pk\":{\"N\":1.5},\"sk\":{\"N\":\"1\"}}}")]                    // number as a JSON number
    [InlineData("{\"Item\":{\"pk\":{\"N\":\"1e\"},\"sk\":{\"N\":\"1\"}}}")]                 // empty exponent
    [InlineData("{\"Item\":{\"pk\":{\"N\":\"12a\"},\"sk\":{\"N\":\"1\"}}}")]                // not a number
    [InlineData("{\"Item\":{\"pk\":{\"N\":\"1.2.3\"},\"sk\":{\"N\":\"1\"}}}")]              // two points
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"NS\":[\"1\",\"x\"]}}}")]         // bad number in a set
    [InlineData("{\"Item\":{\"pk\":{\"B\":\"a$==\"},\"sk\":{\"N\":\"1\"}}}")]               // not base64
    [InlineData("{\"Item\":{\"pk\":{\"B\":\"abc\"},\"sk\":{\"N\":\"1\"}}}")]                // base64 without padding
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"x\":{\"BS\":[\"!\"]}}}")]
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"x\":{\"X\":\"1\"}}}")]     // unknown type
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"x\":{\"S\":\"1\",\"N\":\"1\"}}}")]
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"x\":{}}}")]             // no type
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"x\":{\"SS\":[]}}}")]    // empty set
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"x\":{\"SS\":[1]}}}")]
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"x\":{\"BOOL\":\"true\"}}}")]
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"x\":{\"NULL\":false}}}")]
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"x\":{\"L\":[{\"S\":\"x\"},\"y\"]}}}")]
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"x\":\"plain\"}}")]
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"x\":{\"S\":\"1\"},\"x\":{\"S\":\"2\"}}}")]      // a name twice
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"x\":{\"S\":\"1\"},\"\\u0078\":{\"S\":\"2\"}}}")] // the same, escaped
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"m\":{\"M\":{\"y\":{\"S\":\"1\"},\"y\":{\"S\":\"2\"}}}}}")]
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}},\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}}}")]
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}},\"Keys\":{}}")]         // a member other than Item
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}}} x")]                   // text after the record
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}}")]                      // cut short
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\\uDDD1\"},\"sk\":{\"N\":\"1\"}}}")]             // a lone surrogate (found by a flipped bit)
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"\\uD800x\":{\"S\":\"1\"}}}")] // one in an attribute name
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"123456789012345678901234567890123456789\"}}}")]     // 39 significant digits: DynamoDB refuses it
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"x\":{\"N\":\"1E-131\"}}}")]                 // below DynamoDB's smallest magnitude
    [InlineData("{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"x\":{\"NS\":[\"1\",\"1E+126\"]}}}")]      // above its largest
    [InlineData("{}")]                                                                         // no Item
    [InlineData("[]")]
    public void Malformed_records_are_refused_as_the_object_parser_refuses_them(string record)
    {
        byte[] line = Encoding.UTF8.GetBytes(record);
        Assert.Throws<InvalidDataException>(() => DynamoJson.ReadRecord(line));
        Assert.Throws<InvalidDataException>(() => Check(new ItemWalker(Keys), line));
    }

    [Fact]
    public void A_record_without_a_key_attribute_is_refused_naming_it()
    {
        byte[] line = "{\"Item\":{\"pk\":{\"S\":\"a\"},\"m\":{\"M\":{\"sk\":{\"N\":\"1\"}}}}}"u8.ToArray();
        var error = Assert.Throws<InvalidDataException>(() => Check(new ItemWalker(Keys), line));
        Assert.Contains("no key attribute 'sk'", error.Message);   // a nested 'sk' is not the key
    }

    [Fact]
    public void Names_repeat_freely_across_maps_and_the_walker_is_reusable_after_a_failure()
    {
        var walker = new ItemWalker(Keys);
        Assert.Throws<InvalidDataException>(() => Check(walker,
            "{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"a\":{\"M\":{\"x\":{\"S\":\"1\"},\"x\":{\"S\":\"1\"}}}}}"u8));
        byte[] line = "{\"Item\":{\"pk\":{\"S\":\"a\\\"b\"},\"sk\":{\"N\":\"-1.5E+3\"},\"a\":{\"M\":{\"a\":{\"M\":{\"a\":{\"S\":\"x\"}}}}},\"b\":{\"L\":[{\"M\":{\"a\":{\"NULL\":true}}},{\"M\":{\"a\":{\"NULL\":true}}}]}}}"u8.ToArray();
        var (range, key) = Check(walker, line);
        Assert.Equal("{\"pk\":{\"S\":\"a\\\"b\"},\"sk\":{\"N\":\"-1.5E+3\"}}", key);
        Assert.Equal(DynamoJson.ReadRecord(line).Count, DynamoJson.ReadItem(line.AsSpan()[range]).Count);
    }

    [Fact]
    public void BatchWriteItem_responses_yield_unprocessed_items_and_capacity()
    {
        byte[] body = Encoding.UTF8.GetBytes(
            "{\"ConsumedCapacity\":[{\"CapacityUnits\":23.0,\"TableName\":\"t1\"}]," +
            "\"UnprocessedItems\":{\"t1\":[{\"PutRequest\":{\"Item\":{\"pk\":{\"S\":\"a\"},\"n\":{\"N\":\"1\"}}}}," +
            "{\"PutRequest\":{\"Item\":{\"pk\":{\"S\":\"b\"},\"l\":{\"L\":[]}}}}]}}");
        var outcome = DynamoWireClient.ParseBatchWrite(body, "t1");
        Assert.Equal(23.0, outcome.ConsumedCapacityUnits);
        Assert.Equal(["{\"pk\":{\"S\":\"a\"},\"n\":{\"N\":\"1\"}}", "{\"pk\":{\"S\":\"b\"},\"l\":{\"L\":[]}}"],
            outcome.Unprocessed.Select(u => Encoding.UTF8.GetString(u.Span)));

        var done = DynamoWireClient.ParseBatchWrite("{\"UnprocessedItems\":{}}"u8, "t1");
        Assert.Empty(done.Unprocessed);
        Assert.Null(done.ConsumedCapacityUnits);
        Assert.Throws<InvalidDataException>(() => DynamoWireClient.ParseBatchWrite("{\"UnprocessedItems\":{\"other\":[]}}"u8, "t1"));
        Assert.Throws<InvalidDataException>(() => DynamoWireClient.ParseBatchWrite(
            "{\"UnprocessedItems\":{\"t1\":[{\"DeleteRequest\":{\"Key\":{}}}]}}"u8, "t1"));
    }

    [Theory]
    [InlineData("0E+999")]
    [InlineData("0.000000000000000000000000000000000000000000000000000")]
    [InlineData("1E-130")]
    [InlineData("-9.9999999999999999999999999999999999999E+125")]
    [InlineData("100000000000000000000000000000000000000000000000000000")]   // 1 significant digit, 1E+53
    [InlineData("0.00000000000000000000000000000000000000000000012345678901234567890123456789012345678")]
    public void Numbers_DynamoDB_stores_pass(string number) => Assert.Null(DynamoNumber.StorableProblem(Encoding.UTF8.GetBytes(number)));

    [Theory]
    [InlineData("{\"Metadata\":{\"WriteTimestampMicros\":{\"N\":\"1\"}},\"Keys\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}},\"NewImage\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"x\":{\"S\":\"y\"}}}", true, false)]
    [InlineData("{\"Keys\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1.0\"}},\"OldImage\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}}}", false, true)]
    [InlineData("{\"Keys\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}}}", false, false)]
    public void Change_records_give_their_images(string record, bool hasNew, bool hasOld)
    {
        byte[] line = Encoding.UTF8.GetBytes(record);
        var check = new CheckOnly();
        var change = new ItemWalker(Keys).WalkChange(line, ref check);
        Assert.Equal(hasNew, change.NewImage is not null);
        Assert.Equal(hasOld, change.OldImage is not null);
        Assert.Equal("{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}}", Encoding.UTF8.GetString(line[change.Keys]).Replace("1.0", "1"));
    }

    [Theory]
    [InlineData("{\"Keys\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}},\"NewImage\":{\"pk\":{\"S\":\"b\"},\"sk\":{\"N\":\"1\"}}}")]    // the image is another item
    [InlineData("{\"Keys\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"},\"x\":{\"S\":\"1\"}}}")]                                        // Keys holds more than the key
    [InlineData("{\"NewImage\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}}}")]                                                           // no Keys
    [InlineData("{\"Keys\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}},\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}}}")]      // a full export's member
    [InlineData("{\"Keys\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}},\"Keys\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}}}")]      // Keys twice
    [InlineData("{\"Metadata\":[],\"Keys\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}}}")]                                              // Metadata not an object
    [InlineData("{\"Keys\":{\"pk\":{\"S\":\"a\"}},\"NewImage\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}}}")]                         // Keys lacks the sort key
    public void Malformed_change_records_are_refused(string record)
    {
        byte[] line = Encoding.UTF8.GetBytes(record);
        var check = new CheckOnly();
        Assert.Throws<InvalidDataException>(() => new ItemWalker(Keys).WalkChange(line, ref check));
    }
}
