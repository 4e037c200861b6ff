using System.Diagnostics;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Capacity;
using BackupDR.Engine.Json;

namespace BackupDR.Engine.Restore;

/// <summary>
/// Writes batches of up to 25 items with BatchWriteItem. UnprocessedItems are retried with capped,
/// jittered exponential backoff; what is still unwritten after the last attempt fails the run,
/// naming the items' keys.
/// </summary>
internal sealed class BatchWriter(IAmazonDynamoDB dynamo, string tableName, IReadOnlyList<string> keyNames, RetryPolicy retry, CapacityLimiter capacity)
{
    public const int MaxBatch = 25;
    private long _firstRequest;
    private long _lastResponse;

    /// <summary>From the first request sent to the last response received.</summary>
    public TimeSpan ActiveTime => _firstRequest == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(_firstRequest, Interlocked.Read(ref _lastResponse));

    public async Task WriteAsync(List<Dictionary<string, AttributeValue>> items, CancellationToken cancellationToken)
    {
        var pending = items.Select(i => new WriteRequest { PutRequest = new PutRequest { Item = i } }).ToList();
        for (int attempt = 1; ; attempt++)
        {
            double reserved = await capacity.AcquireAsync(capacity.Estimate(pending.Count), cancellationToken).ConfigureAwait(false);
            Interlocked.CompareExchange(ref _firstRequest, Stopwatch.GetTimestamp(), 0);
            BatchWriteItemResponse response;
            try
            {
                response = await dynamo.BatchWriteItemAsync(new BatchWriteItemRequest
                {
                    RequestItems = new Dictionary<string, List<WriteRequest>> { [tableName] = pending },
                    ReturnConsumedCapacity = capacity.IsCapped ? ReturnConsumedCapacity.TOTAL : ReturnConsumedCapacity.NONE,
                }, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                capacity.Release(reserved);
                throw;
            }
            Interlocked.Exchange(ref _lastResponse, Stopwatch.GetTimestamp());
            var left = response.UnprocessedItems is not null && response.UnprocessedItems.TryGetValue(tableName, out var l) ? l : null;
            int leftCount = left?.Count ?? 0;
            double? reported = response.ConsumedCapacity?.Where(c => c.TableName == tableName).Sum(c => c.CapacityUnits ?? 0);
            if (response.ConsumedCapacity is null or { Count: 0 }) reported = null;
            capacity.Settle(reserved, reported, pending.Count - leftCount);
            if (leftCount == 0)
            {
                return;
            }
            pending = left!;
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
