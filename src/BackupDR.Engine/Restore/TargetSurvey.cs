using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Json;

namespace BackupDR.Engine.Restore;

/// <summary>
/// What a restore into a table that holds items would do to them, counted before anything is
/// written: the items it would overwrite (their key is in the backup) and, for Exact, the items it
/// would delete (their key is not). One key-only, consistent, parallel Scan. The keys to delete are
/// kept (as 128-bit hashes), so the deletion afterwards removes exactly what was counted and asked
/// about — never an item written since.
/// </summary>
internal sealed class TargetSurvey(IAmazonDynamoDB dynamo, string tableName, IReadOnlyList<string> keyNames, int segments)
{
    private const int Samples = 3;

    public sealed class Result
    {
        public long TableItems;
        public long Overwrites;
        public long Deletes;

        /// <summary>Exact: the keys counted in <see cref="Deletes"/>.</summary>
        public HashSet<UInt128> ToDelete { get; } = [];

        /// <summary>A few of the keys to delete, as DynamoDB JSON, for the question.</summary>
        public List<string> DeleteSamples { get; } = [];
    }

    public async Task<Result> CountAsync(IReadOnlySet<UInt128> backupKeys, bool deleteExtras, CancellationToken cancellationToken)
    {
        var result = new Result();
        await ScanKeysAsync((keys, _) =>
        {
            lock (result)
            {
                foreach (var key in keys)
                {
                    result.TableItems++;
                    var hash = ItemHash.OfKey(key, keyNames);
                    if (backupKeys.Contains(hash)) result.Overwrites++;
                    else if (deleteExtras)
                    {
                        result.Deletes++;
                        result.ToDelete.Add(hash);
                        if (result.DeleteSamples.Count < Samples) result.DeleteSamples.Add(DynamoJson.ItemToString(key));
                    }
                }
            }
            return Task.CompletedTask;
        }, cancellationToken).ConfigureAwait(false);
        return result;
    }

    /// <summary>Deletes the items whose key hash is in <paramref name="counted"/> and are still there; returns how many.</summary>
    public async Task<long> DeleteAsync(IReadOnlySet<UInt128> counted, BatchWriter writer, CancellationToken cancellationToken)
    {
        long deleted = 0;
        await ScanKeysAsync(async (keys, token) =>
        {
            var doomed = keys.Where(k => counted.Contains(ItemHash.OfKey(k, keyNames))).ToList();
            foreach (var chunk in doomed.Chunk(BatchWriter.MaxBatch))
            {
                var json = chunk.Select(k => (ReadOnlyMemory<byte>)System.Text.Encoding.UTF8.GetBytes(DynamoJson.ItemToString(k))).ToList();
                await writer.DeleteAsync(json, token).ConfigureAwait(false);
                Interlocked.Add(ref deleted, chunk.Length);
            }
        }, cancellationToken).ConfigureAwait(false);
        return deleted;
    }

    /// <summary>A parallel, key-only, consistent Scan; <paramref name="onPage"/> gets each page's keys.</summary>
    private Task ScanKeysAsync(Func<List<Dictionary<string, AttributeValue>>, CancellationToken, Task> onPage, CancellationToken cancellationToken) =>
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
                if (page.Items is { Count: > 0 } items) await onPage(items, token).ConfigureAwait(false);
                request.ExclusiveStartKey = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
            }
            while (request.ExclusiveStartKey is not null);
            return 0;
        }, cancellationToken);
}
