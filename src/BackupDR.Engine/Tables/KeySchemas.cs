using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Format;
using BackupDR.Engine.Json;

namespace BackupDR.Engine.Tables;

/// <summary>
/// A primary key given or learned for a backup that does not record its table (a native export):
/// the partition key, then the sort key if any, each with its type. Written and read as
/// <c>pk:S</c>, <c>pk:S,sk:N</c>.
/// </summary>
public static class KeySchemas
{
    /// <summary>Parses <c>name:TYPE</c> texts, partition key first; throws InvalidArgument saying what is wrong.</summary>
    public static KeyAttribute[] Parse(IEnumerable<string> texts)
    {
        var keys = new List<KeyAttribute>();
        foreach (string text in texts.SelectMany(t => t.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)))
        {
            int colon = text.LastIndexOf(':');
            string name = colon <= 0 ? "" : text[..colon].Trim();
            string type = colon < 0 ? "" : text[(colon + 1)..].Trim().ToUpperInvariant();
            if (name.Length == 0 || type is not ("S" or "N" or "B"))
            {
                throw Invalid($"'{text}' is not a key attribute: write name:TYPE, with TYPE S, N or B (e.g. 'pk:S', 'sk:N').");
            }
            keys.Add(new KeyAttribute(name, type));
        }
        if (keys.Count is < 1 or > 2) throw Invalid($"A key schema has a partition key and at most one sort key; {keys.Count} attributes were given.");
        if (keys.Count == 2 && keys[0].Name == keys[1].Name) throw Invalid($"The partition key and the sort key are both '{keys[0].Name}'.");
        return [.. keys];
    }

    /// <summary>A table description with <paramref name="keys"/> as its key, on-demand, for a backup of <paramref name="source"/>'s table.</summary>
    public static TableDescriptionDoc ToDoc(IReadOnlyList<KeyAttribute> keys, TableDescriptionDoc source) => new()
    {
        TableName = source.TableName,
        TableArn = source.TableArn,
        KeySchema = keys.Select((k, i) => new KeyElement { AttributeName = k.Name, KeyType = i == 0 ? "HASH" : "RANGE" }).ToList(),
        AttributeDefinitions = keys.Select(k => new AttributeDefinitionDoc { AttributeName = k.Name, AttributeType = k.Type! }).ToList(),
        BillingMode = "PAY_PER_REQUEST",
    };

    /// <summary>The key of an existing table, as a description for a backup of <paramref name="source"/>'s table.</summary>
    public static TableDescriptionDoc FromTable(TableDescription table, TableDescriptionDoc source) => ToDoc(
        (table.KeySchema ?? []).OrderBy(k => k.KeyType.Value == "HASH" ? 0 : 1)
            .Select(k => new KeyAttribute(k.AttributeName, table.AttributeDefinitions?.FirstOrDefault(a => a.AttributeName == k.AttributeName)?.AttributeType?.Value))
            .ToList(),
        source);

    /// <summary>"pk (HASH, S), sk (RANGE, N)", for messages.</summary>
    public static string Describe(TableDescriptionDoc doc) => string.Join(", ", doc.KeySchema.Select(k =>
        $"{k.AttributeName} ({k.KeyType}, {doc.AttributeDefinitions.FirstOrDefault(a => a.AttributeName == k.AttributeName)?.AttributeType ?? "?"})"));

    /// <summary>"pk:S,sk:N": the key as it is given.</summary>
    public static string Text(TableDescriptionDoc doc) => string.Join(",", doc.KeySchema.Select(k =>
        $"{k.AttributeName}:{doc.AttributeDefinitions.FirstOrDefault(a => a.AttributeName == k.AttributeName)?.AttributeType}"));

    private static BackupDRException Invalid(string message) => new(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, message, null);
}
