using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Json;

namespace BackupDR.Engine.Restore;

/// <summary>
/// The second half of an Exact restore: finds the table's items whose key is not in the backup, asks
/// the host before deleting them, and deletes them. Two key-only scans — one to count (so the
/// question names how many), one to delete — because the host may decline, and because nothing is
/// deleted until every backup item is written.
/// </summary>
internal sealed class ExtraItemRemover(IAmazonDynamoDB dynamo, BatchWriter writer, string tableName, IReadOnlyList<string> keyNames,
    IReadOnlySet<UInt128> backupKeys, int segments, IOperationHost host)
{
    public sealed record Outcome(long Deleted, long Kept);

    public async Task<Outcome> RunAsync(CancellationToken cancellationToken)
    {
        var samples = new List<string>();
        long extra = 0;
        await ScanExtrasAsync((keys, _) =>
        {
            lock (samples)
            {
                extra += keys.Count;
                samples.AddRange(keys.Take(Math.Max(0, 3 - samples.Count)).Select(DynamoJson.ItemToString));
            }
            return Task.CompletedTask;
        }, cancellationToken).ConfigureAwait(false);
        if (extra == 0)
        {
            host.Verbose($"Table '{tableName}' holds no item that is not in the backup.");
            return new Outcome(0, 0);
        }
        string action = $"Delete {extra:N0} item(s) that are not in the backup (e.g. {string.Join(", ", samples)})";
        if (!await host.ConfirmAsync($"table '{tableName}'", action, cancellationToken).ConfigureAwait(false))
        {
            host.Warning($"Table '{tableName}' keeps {extra:N0} item(s) that are not in the backup: their deletion was declined. The restore's other items are all written.");
            return new Outcome(0, extra);
        }
        long deleted = 0;
        await ScanExtrasAsync(async (keys, token) =>
        {
            foreach (var chunk in keys.Chunk(BatchWriter.MaxBatch))
            {
                var json = chunk.Select(k => (ReadOnlyMemory<byte>)System.Text.Encoding.UTF8.GetBytes(DynamoJson.ItemToString(k))).ToList();
                await writer.DeleteAsync(json, token).ConfigureAwait(false);
                Interlocked.Add(ref deleted, chunk.Length);
            }
        }, cancellationToken).ConfigureAwait(false);
        host.Verbose($"Deleted {deleted:N0} item(s) from '{tableName}' that are not in the backup.");
        return new Outcome(deleted, 0);
    }

    /// <summary>A parallel, key-only Scan; <paramref name="onExtras"/> gets each page's keys that are not in the backup.</summary>
    private Task ScanExtrasAsync(Func<List<Dictionary<string, AttributeValue>>, CancellationToken, Task> onExtras, CancellationToken cancellationToken) =>
        Parallel.RunAllOrNoneAsync(segments, async (segment, token) =>
        {
            var request = new ScanRequest
            {
                TableName = tableName,
                Segment = segment,
                TotalSegments = segments,
                ConsistentRead = true,
                ProjectionExpression = string.Join(",", keyNames.Select((_, i) => "#k" + i)),
                ExpressionAttributeNames = keyNames.Select((name, i) => (name, i)).ToDictionary(p => "#k" + p.i, p => p.name),
            };
            do
            {
                var page = await dynamo.ScanAsync(request, token).ConfigureAwait(false);
                var extras = (page.Items ?? []).Where(item => !backupKeys.Contains(ItemHash.OfKey(item, keyNames))).ToList();
                if (extras.Count > 0) await onExtras(extras, token).ConfigureAwait(false);
                request.ExclusiveStartKey = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
            }
            while (request.ExclusiveStartKey is not null);
            return 0;
        }, cancellationToken);
}
