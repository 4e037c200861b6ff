using System.Diagnostics;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Capacity;
using BackupDR.Engine.Json;

namespace BackupDR.Engine.Restore;

/// <summary>
/// Writes batches of up to 25 items (each already checked DynamoDB JSON) with BatchWriteItem.
/// UnprocessedItems are retried with capped, jittered exponential backoff; what is still unwritten
/// after the last attempt fails the run, naming the items' keys.
/// </summary>
internal sealed class BatchWriter(IBatchWriteClient client, string tableName, IReadOnlyList<string> keyNames, RetryPolicy retry, CapacityLimiter capacity)
{
    public const int MaxBatch = 25;
    private long _firstRequest;
    private long _lastResponse;

    /// <summary>From the first request sent to the last response received.</summary>
    public TimeSpan ActiveTime => _firstRequest == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(_firstRequest, Interlocked.Read(ref _lastResponse));

    public async Task WriteAsync(IReadOnlyList<ReadOnlyMemory<byte>> items, CancellationToken cancellationToken)
    {
        var pending = items;
        long started = Stopwatch.GetTimestamp();
        for (int attempt = 1; ; attempt++)
        {
            double reserved = await capacity.AcquireAsync(capacity.Estimate(pending.Count), cancellationToken).ConfigureAwait(false);
            Interlocked.CompareExchange(ref _firstRequest, Stopwatch.GetTimestamp(), 0);
            BatchWriteOutcome outcome;
            try
            {
                outcome = await client.BatchWriteAsync(tableName, pending, capacity.IsCapped, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                capacity.Release(reserved);
                throw;
            }
            Interlocked.Exchange(ref _lastResponse, Stopwatch.GetTimestamp());
            int leftCount = outcome.Unprocessed.Count;
            if (leftCount > pending.Count)
            {
                throw new BackupDRException(ErrorIds.ItemsNotWritten, ErrorKind.WriteError,
                    $"DynamoDB returned {leftCount} unprocessed items for a batch of {pending.Count} written to '{tableName}'; the restore cannot tell what was written. Restore again with -Force.",
                    tableName);
            }
            capacity.Settle(reserved, outcome.ConsumedCapacityUnits, pending.Count - leftCount);
            if (leftCount == 0)
            {
                return;
            }
            pending = outcome.Unprocessed;
            if (retry.NextDelay(attempt, started) is not TimeSpan delay)
            {
                var keys = pending.Take(10).Select(KeyText);
                throw new BackupDRException(ErrorIds.ItemsNotWritten, ErrorKind.WriteError,
                    $"{pending.Count} item(s) could not be written to '{tableName}' after {attempt} attempts in {Stopwatch.GetElapsedTime(started).TotalSeconds:N0} s (DynamoDB kept returning them as unprocessed). " +
                    $"Keys: {string.Join("; ", keys)}{(pending.Count > 10 ? "; …" : "")}. The table is incomplete: raise its write capacity and restore again with -Force.",
                    tableName);
            }
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The item's primary key as DynamoDB JSON, for messages.</summary>
    private string KeyText(ReadOnlyMemory<byte> item)
    {
        try
        {
            var parsed = DynamoJson.ReadItem(item.Span);
            return DynamoJson.ItemToString(keyNames.Where(parsed.ContainsKey).ToDictionary(k => k, k => parsed[k]));
        }
        catch (InvalidDataException)
        {
            return "(an item DynamoDB returned unreadable)";
        }
    }
}
