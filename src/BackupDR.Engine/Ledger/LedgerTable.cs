using System.Globalization;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;

namespace BackupDR.Engine.Ledger;

/// <summary>
/// The ledger: a DynamoDB table (on-demand) keyed by the backed-up table's name (<c>TableName</c>, hash) and
/// <c>Key</c> (range): the backup id for a backup's entry, <c>&lt;backup id&gt;#&lt;record name&gt;</c> for each of its
/// records, so one Query reads a table's entries with their records in time order. No index: every question
/// is about one table, or about all (a Scan of a small table). Created on first use. Writes are idempotent:
/// a record is its own key; an entry's "latest" fields move only forward (conditional updates).
/// </summary>
public sealed class LedgerTable(IAmazonDynamoDB dynamo, string name)
{
    public string Name => name;
    private const string Hash = "TableName", Range = "Key";

    /// <summary>Ledger tables this process found usable (by endpoint, region and name): a run records several times, and each need not describe the table again.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> s_usable = new(StringComparer.Ordinal);

    private string UsableKey => $"{dynamo.Config.ServiceURL}|{dynamo.Config.RegionEndpoint?.SystemName}|{name}";

    /// <summary>
    /// Creates the table when it does not exist and waits until it is ACTIVE; a table of that name with other keys is
    /// refused. Once found usable, the same table is not described again by this process (a table deleted since makes
    /// the writes fail, which is reported as any ledger failure).
    /// </summary>
    public async Task EnsureAsync(IOperationHost host, CancellationToken cancellationToken)
    {
        if (s_usable.ContainsKey(UsableKey)) return;
        var existing = await Tables.TableSchema.TryDescribeAsync(dynamo, name, cancellationToken).ConfigureAwait(false);
        if (existing is null)
        {
            host.Verbose($"Creating the ledger table '{name}' (on-demand; keys {Hash}, {Range}).");
            try
            {
                await dynamo.CreateTableAsync(new CreateTableRequest
                {
                    TableName = name,
                    BillingMode = BillingMode.PAY_PER_REQUEST,
                    AttributeDefinitions = [new AttributeDefinition(Hash, ScalarAttributeType.S), new AttributeDefinition(Range, ScalarAttributeType.S)],
                    KeySchema = [new KeySchemaElement(Hash, KeyType.HASH), new KeySchemaElement(Range, KeyType.RANGE)],
                    Tags = [new Tag { Key = "backupdr:ledger", Value = "1" }],
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (ResourceInUseException)
            {
                // Created meanwhile by another run: wait for it like our own.
            }
            var wait = TimeSpan.FromMilliseconds(100);
            var until = DateTimeOffset.UtcNow.AddMinutes(3);
            while ((existing = await Tables.TableSchema.TryDescribeAsync(dynamo, name, cancellationToken).ConfigureAwait(false))?.TableStatus != TableStatus.ACTIVE)
            {
                if (DateTimeOffset.UtcNow > until) throw Invalid($"The ledger table '{name}' did not become ACTIVE within 3 minutes (it is {existing?.TableStatus?.Value ?? "not there"}).");
                await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                wait = TimeSpan.FromMilliseconds(Math.Min(wait.TotalMilliseconds * 2, 2000));
            }
        }
        var keys = existing.KeySchema ?? [];
        if (keys.Count != 2 || keys.Single(k => k.KeyType == KeyType.HASH).AttributeName != Hash || keys.Single(k => k.KeyType == KeyType.RANGE).AttributeName != Range)
        {
            throw Invalid($"Table '{name}' exists but is not a BackupDR ledger: its keys are {string.Join(", ", keys.Select(k => $"{k.AttributeName} ({k.KeyType})"))}, " +
                          $"not {Hash} (HASH), {Range} (RANGE). Name another ledger table.");
        }
        s_usable[UsableKey] = true;
    }

    private BackupDRException Invalid(string message) => new(ErrorIds.LedgerInvalid, ErrorKind.InvalidData, message, name);

    // ---- writes

    public Task PutRecordAsync(LedgerRecord record, CancellationToken cancellationToken) =>
        dynamo.PutItemAsync(new PutItemRequest
        {
            TableName = name,
            Item = new Dictionary<string, AttributeValue>
            {
                [Hash] = S(record.TableName), [Range] = S($"{record.BackupId}#{record.Name}"), ["Kind"] = S(record.Kind.ToString()),
                ["Time"] = S(Iso(record.Time)), ["Passed"] = new AttributeValue { BOOL = record.Passed }, ["Record"] = S(Encoding.UTF8.GetString(record.ToBytes())),
            },
        }, cancellationToken);

    /// <summary>The whole entry, as computed from the backup and its records (Sync).</summary>
    public Task PutEntryAsync(LedgerEntry entry, CancellationToken cancellationToken) =>
        dynamo.PutItemAsync(new PutItemRequest { TableName = name, Item = ToItem(entry) }, cancellationToken);

    /// <summary>A backup's facts (after a backup, or when a host first meets a backup): its status and what its marker says; the records' fields are kept.</summary>
    public async Task UpsertFactsAsync(LedgerEntry entry, CancellationToken cancellationToken)
    {
        var item = ToItem(entry);
        var values = new Dictionary<string, AttributeValue>();
        var sets = new List<string>();
        var names = new Dictionary<string, string>();
        int i = 0;
        foreach (string field in new[] { "Status", "Uri", "ItemCount", "StartTime", "CommittedAt", "SummarySha256" })
        {
            if (!item.TryGetValue(field, out var value)) continue;
            names[$"#f{i}"] = field;
            values[$":v{i}"] = value;
            sets.Add($"#f{i} = :v{i}");
            i++;
        }
        await dynamo.UpdateItemAsync(new UpdateItemRequest
        {
            TableName = name, Key = KeyOf(entry.TableName, entry.BackupId),
            UpdateExpression = "SET " + string.Join(", ", sets), ExpressionAttributeNames = names, ExpressionAttributeValues = values,
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The entry's latest fields, moved forward by the record: read, apply, write back only if the entry did not
    /// change meanwhile (optimistic; retried a few times). No entry, or another content: nothing changes.
    /// </summary>
    public async Task ApplyAsync(LedgerRecord record, CancellationToken cancellationToken)
    {
        for (int attempt = 0; attempt < 5; attempt++)
        {
            var got = await dynamo.GetItemAsync(new GetItemRequest { TableName = name, Key = KeyOf(record.TableName, record.BackupId), ConsistentRead = true }, cancellationToken).ConfigureAwait(false);
            if (got.Item is not { Count: > 0 } item || FromItem(item) is not { } entry || !entry.Apply(record)) return;
            var next = ToItem(entry);
            try
            {
                await dynamo.PutItemAsync(new PutItemRequest
                {
                    TableName = name, Item = next,
                    ConditionExpression = item.TryGetValue("Revision", out var revision) ? "Revision = :r" : "attribute_not_exists(Revision)",
                    ExpressionAttributeValues = item.TryGetValue("Revision", out var r) ? new Dictionary<string, AttributeValue> { [":r"] = r } : null,
                }, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (ConditionalCheckFailedException)
            {
                // Another writer moved it: read again.
            }
        }
    }

    public Task MarkAsync(string table, string backupId, LedgerStatus status, CancellationToken cancellationToken) =>
        dynamo.UpdateItemAsync(new UpdateItemRequest
        {
            TableName = name, Key = KeyOf(table, backupId),
            UpdateExpression = "SET #s = :s", ExpressionAttributeNames = new Dictionary<string, string> { ["#s"] = "Status" },
            ExpressionAttributeValues = new Dictionary<string, AttributeValue> { [":s"] = S(status.ToString()) },
        }, cancellationToken);

    // ---- reads

    /// <summary>The entries and records of one table (or of every table), bounded; items that are not a ledger's are passed to <paramref name="skipped"/>.</summary>
    public async Task<(List<LedgerEntry> Entries, List<LedgerRecord> Records)> ReadAsync(string? table, Action<string> skipped, CancellationToken cancellationToken)
    {
        var entries = new List<LedgerEntry>();
        var records = new List<LedgerRecord>();
        Dictionary<string, AttributeValue>? start = null;
        int seen = 0;
        do
        {
            List<Dictionary<string, AttributeValue>> items;
            if (table is null)
            {
                var page = await dynamo.ScanAsync(new ScanRequest { TableName = name, ExclusiveStartKey = start, ConsistentRead = true }, cancellationToken).ConfigureAwait(false);
                (items, start) = (page.Items ?? [], page.LastEvaluatedKey is { Count: > 0 } k ? k : null);
            }
            else
            {
                var page = await dynamo.QueryAsync(new QueryRequest
                {
                    TableName = name, KeyConditionExpression = "#h = :h", ExpressionAttributeNames = new Dictionary<string, string> { ["#h"] = Hash },
                    ExpressionAttributeValues = new Dictionary<string, AttributeValue> { [":h"] = S(table) }, ExclusiveStartKey = start, ConsistentRead = true,
                }, cancellationToken).ConfigureAwait(false);
                (items, start) = (page.Items ?? [], page.LastEvaluatedKey is { Count: > 0 } k ? k : null);
            }
            foreach (var item in items)
            {
                if (++seen > 1_000_000) throw Invalid($"The ledger table '{name}' holds more than 1,000,000 items{(table is null ? "" : $" for '{table}'")}; read it a table at a time.");
                string? t = item.GetValueOrDefault(Hash)?.S, key = item.GetValueOrDefault(Range)?.S;
                if (t is null || key is null) { skipped("an item without TableName and Key"); continue; }
                int hash = key.IndexOf('#', StringComparison.Ordinal);
                if (hash < 0)
                {
                    if (FromItem(item) is { } entry) entries.Add(entry);
                    else skipped($"'{t}' / '{Storage.UnsafeKeyException.Printable(key)}': not a ledger entry");
                    continue;
                }
                string backupId = key[..hash];
                string text = item.GetValueOrDefault("Record")?.S ?? "";
                var record = LedgerRecord.Parse(Encoding.UTF8.GetBytes(text), t, backupId, out string? problem);
                if (record is null || record.Name != key[(hash + 1)..]) { skipped($"'{t}' / '{Storage.UnsafeKeyException.Printable(key)}': {problem ?? "its key is not its content's"}"); continue; }
                records.Add(record);
            }
        }
        while (start is not null);
        return (entries, records);
    }

    // ---- items

    private static AttributeValue S(string value) => new() { S = value };
    private static AttributeValue N(double value) => new() { N = value.ToString("R", CultureInfo.InvariantCulture) };
    private static string Iso(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static Dictionary<string, AttributeValue> KeyOf(string table, string backupId) => new() { [Hash] = S(table), [Range] = S(backupId) };

    private static Dictionary<string, AttributeValue> ToItem(LedgerEntry e)
    {
        var item = KeyOf(e.TableName, e.BackupId);
        item["Status"] = S(e.Status.ToString());
        item["Revision"] = S(Guid.NewGuid().ToString("N"));
        void Text(string field, string? value) { if (value is not null) item[field] = S(value); }
        void Time(string field, DateTimeOffset? value) { if (value is { } v) item[field] = S(Iso(v)); }
        void Number(string field, double? value) { if (value is { } v) item[field] = N(v); }
        void Bool(string field, bool? value) { if (value is { } v) item[field] = new AttributeValue { BOOL = v }; }
        Text("Uri", e.Uri); Number("ItemCount", e.ItemCount); Time("StartTime", e.StartTime); Time("CommittedAt", e.CommittedAt); Text("SummarySha256", e.SummarySha256);
        Time("LastValidationAt", e.LastValidationAt); Text("LastValidationLevel", e.LastValidationLevel); Bool("LastValidationPassed", e.LastValidationPassed);
        Time("LastFullValidationAt", e.LastFullValidationAt); Time("LastRestoreAt", e.LastRestoreAt); Text("LastRestoreTarget", e.LastRestoreTarget);
        Time("LastDrillAt", e.LastDrillAt); Bool("LastDrillPassed", e.LastDrillPassed); Number("LastDrillRtoSeconds", e.LastDrillRtoSeconds);
        Time("LastCopyAt", e.LastCopyAt); Text("LastCopyUri", e.LastCopyUri);
        return item;
    }

    /// <summary>An entry as read; null when the item is not one (a bad status, a malformed time or number).</summary>
    private static LedgerEntry? FromItem(Dictionary<string, AttributeValue> item)
    {
        string? Text(string field) => item.GetValueOrDefault(field)?.S;
        bool bad = false;
        DateTimeOffset? Time(string field)
        {
            if (Text(field) is not { } t) return null;
            if (DateTimeOffset.TryParseExact(t, "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var v)) return v.ToUniversalTime();
            bad = true;
            return null;
        }
        double? Number(string field)
        {
            if (item.GetValueOrDefault(field)?.N is not { } n) return null;
            if (double.TryParse(n, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v) && v >= 0) return v;
            bad = true;
            return null;
        }
        bool? Bool(string field) => item.GetValueOrDefault(field) is { IsBOOLSet: true } b ? b.BOOL : null;
        if (!Enum.TryParse<LedgerStatus>(Text("Status"), out var status) || !Enum.IsDefined(status)) return null;
        string backupId = Text(Range)!;
        if (!Format.BackupFormat.IsBackupId(backupId)) return null;
        var entry = new LedgerEntry
        {
            TableName = Text(Hash)!, BackupId = backupId, Status = status, Uri = Text("Uri"), ItemCount = Number("ItemCount") is { } c ? (long)c : null,
            StartTime = Time("StartTime"), CommittedAt = Time("CommittedAt"), SummarySha256 = Text("SummarySha256"),
            LastValidationAt = Time("LastValidationAt"), LastValidationLevel = Text("LastValidationLevel"), LastValidationPassed = Bool("LastValidationPassed"),
            LastFullValidationAt = Time("LastFullValidationAt"), LastRestoreAt = Time("LastRestoreAt"), LastRestoreTarget = Text("LastRestoreTarget"),
            LastDrillAt = Time("LastDrillAt"), LastDrillPassed = Bool("LastDrillPassed"), LastDrillRtoSeconds = Number("LastDrillRtoSeconds"),
            LastCopyAt = Time("LastCopyAt"), LastCopyUri = Text("LastCopyUri"),
        };
        return bad ? null : entry;
    }
}
