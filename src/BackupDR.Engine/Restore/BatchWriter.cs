using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Json;

namespace BackupDR.Engine.Restore;

/// <summary>How often and how patiently to retry: capped exponential backoff with jitter.</summary>
public sealed record RetryPolicy(int MaxAttempts, TimeSpan BaseDelay, TimeSpan MaxDelay)
{
    public static readonly RetryPolicy Default = new(12, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(5));

    /// <summary>The wait after failed attempt <paramref name="attempt"/> (1-based): half the capped exponential, plus up to as much again at random.</summary>
    public TimeSpan Delay(int attempt)
    {
        double cap = Math.Min(MaxDelay.TotalMilliseconds, BaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30)));
        return TimeSpan.FromMilliseconds(cap / 2 + Random.Shared.NextDouble() * cap / 2);
    }
}

/// <summary>
/// Writes batches of up to 25 items with BatchWriteItem. UnprocessedItems are retried with capped,
/// jittered exponential backoff; what is still unwritten after the last attempt fails the run,
/// naming the items' keys.
/// </summary>
internal sealed class BatchWriter(IAmazonDynamoDB dynamo, string tableName, IReadOnlyList<string> keyNames, RetryPolicy retry)
{
    public const int MaxBatch = 25;

    public async Task WriteAsync(List<Dictionary<string, AttributeValue>> items, CancellationToken cancellationToken)
    {
        var pending = items.Select(i => new WriteRequest { PutRequest = new PutRequest { Item = i } }).ToList();
        for (int attempt = 1; ; attempt++)
        {
            var response = await dynamo.BatchWriteItemAsync(new BatchWriteItemRequest
            {
                RequestItems = new Dictionary<string, List<WriteRequest>> { [tableName] = pending },
            }, cancellationToken).ConfigureAwait(false);
            if (response.UnprocessedItems is null || !response.UnprocessedItems.TryGetValue(tableName, out var left) || left.Count == 0)
            {
                return;
            }
            pending = left;
            if (attempt == retry.MaxAttempts)
            {
                var keys = pending.Take(10).Select(w => KeyText(w.PutRequest.Item));
                throw new BackupDRException(ErrorIds.ItemsNotWritten, ErrorKind.WriteError,
                    $"{pending.Count} item(s) could not be written to '{tableName}' after {retry.MaxAttempts} attempts (DynamoDB kept returning them as unprocessed). " +
                    $"Keys: {string.Join("; ", keys)}{(pending.Count > 10 ? "; …" : "")}. The table is incomplete: raise its write capacity and restore again with -Force.",
                    tableName);
            }
            await Task.Delay(retry.Delay(attempt), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The item's primary key as DynamoDB JSON, for messages and for spotting duplicates in a batch.</summary>
    public string KeyText(Dictionary<string, AttributeValue> item) =>
        DynamoJson.ItemToString(keyNames.Where(item.ContainsKey).ToDictionary(k => k, k => item[k]));
}
