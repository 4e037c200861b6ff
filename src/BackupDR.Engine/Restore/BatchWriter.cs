using System.Diagnostics;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Capacity;
using BackupDR.Engine.Json;

namespace BackupDR.Engine.Restore;

/// <summary>
/// Writes batches of up to 25 items (each already checked DynamoDB JSON) with BatchWriteItem puts, or
/// deletes batches of keys. UnprocessedItems are retried with capped, jittered exponential backoff;
/// what is still not done after the last attempt fails the run, naming the items' keys.
/// </summary>
internal sealed class BatchWriter(IRestoreClient client, string tableName, IReadOnlyList<string> keyNames, RetryPolicy retry, CapacityLimiter capacity)
{
    public const int MaxBatch = 25;
    private long _firstRequest;
    private long _lastResponse;

    /// <summary>From the first request sent to the last response received.</summary>
    public TimeSpan ActiveTime => _firstRequest == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(_firstRequest, Interlocked.Read(ref _lastResponse));

    public Task WriteAsync(IReadOnlyList<ReadOnlyMemory<byte>> items, CancellationToken cancellationToken) =>
        SendAsync(items, deletes: false, cancellationToken);

    /// <param name="keys">Each a key as DynamoDB JSON.</param>
    public Task DeleteAsync(IReadOnlyList<ReadOnlyMemory<byte>> keys, CancellationToken cancellationToken) =>
        SendAsync(keys, deletes: true, cancellationToken);

    private async Task SendAsync(IReadOnlyList<ReadOnlyMemory<byte>> items, bool deletes, CancellationToken cancellationToken)
    {
        string what = deletes ? "deleted from" : "written to";
        var pending = items;
        long started = Stopwatch.GetTimestamp();
        for (int attempt = 1; ; attempt++)
        {
            double reserved = await capacity.AcquireAsync(capacity.Estimate(pending.Count), cancellationToken).ConfigureAwait(false);
            Interlocked.CompareExchange(ref _firstRequest, Stopwatch.GetTimestamp(), 0);
            BatchWriteOutcome outcome;
            try
            {
                outcome = deletes
                    ? await client.BatchDeleteAsync(tableName, pending, capacity.IsCapped, cancellationToken).ConfigureAwait(false)
                    : await client.BatchWriteAsync(tableName, pending, capacity.IsCapped, cancellationToken).ConfigureAwait(false);
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
                    $"DynamoDB returned {leftCount} unprocessed items for a batch of {pending.Count} {what} '{tableName}'; the restore cannot tell what was done. Run the restore again with {Say.Resume}.",
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
                    $"{pending.Count} item(s) could not be {what} '{tableName}' after {attempt} attempts in {Stopwatch.GetElapsedTime(started).TotalSeconds:N0} s (DynamoDB kept returning them as unprocessed). " +
                    $"Keys: {string.Join("; ", keys)}{(pending.Count > 10 ? "; …" : "")}. The table is incomplete: raise its write capacity and run the restore again with {Say.Resume}.",
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
