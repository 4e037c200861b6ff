using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Format;
using BackupDR.Engine.Json;
using BackupDR.Engine.Tables;

namespace BackupDR.Engine.Validation;

/// <summary>A backup compared item by item with a live table (<c>Test-BackupIntegrity -Level Live</c>).</summary>
public sealed class LiveComparison
{
    public required string TableName { get; init; }
    public long BackupItems { get; set; }
    public long TableItems { get; set; }

    /// <summary>In the backup, not in the table.</summary>
    public long Missing { get; set; }

    /// <summary>In the table, not in the backup.</summary>
    public long Extra { get; set; }

    /// <summary>In both, with different attributes (numbers compared by value, sets in any order).</summary>
    public long Different { get; set; }

    public bool IsEqual => Missing == 0 && Extra == 0 && Different == 0;

    /// <summary>Up to 5 keys of each kind, as DynamoDB JSON.</summary>
    public List<string> MissingKeys { get; } = [];
    public List<string> ExtraKeys { get; } = [];
    public List<string> DifferentKeys { get; } = [];
}

/// <summary>
/// Compares a verified backup with a table: a 128-bit hash of every backup item's key and of its
/// canonical content (about 50 bytes an item in memory), then a consistent parallel Scan of the table.
/// </summary>
internal sealed class LiveComparer(IAmazonDynamoDB dynamo, LoadedBackup backup, IOperationHost host, int segments = 4)
{
    private const int Samples = 5;
    private readonly string[] _keyNames = backup.Table.KeySchema.Select(k => k.AttributeName).ToArray();

    public async Task<LiveComparison> CompareAsync(string tableName, CancellationToken cancellationToken)
    {
        var live = await TableSchema.TryDescribeAsync(dynamo, tableName, cancellationToken).ConfigureAwait(false)
            ?? throw new BackupDRException(ErrorIds.TableNotFound, ErrorKind.ObjectNotFound,
                $"Table '{tableName}' does not exist, so it cannot be compared with the backup. Check the name and {Say.Region}.", tableName);
        string? mismatch = TableSchema.DescribeKeyMismatch(backup.Table, live);
        if (mismatch is not null)
        {
            throw new BackupDRException(ErrorIds.KeySchemaMismatch, ErrorKind.InvalidData,
                $"Table '{tableName}' cannot be compared with the backup: {mismatch}.", tableName);
        }

        var expected = new Dictionary<UInt128, UInt128>();
        await ForEachBackupItemAsync((key, item) =>
        {
            lock (expected) expected[key] = ItemHash.Of(item);
            return true;
        }, cancellationToken).ConfigureAwait(false);
        var result = new LiveComparison { TableName = tableName, BackupItems = expected.Count };

        await Parallel.RunAllOrNoneAsync(segments, async (segment, token) =>
        {
            var request = new ScanRequest { TableName = tableName, Segment = segment, TotalSegments = segments, ConsistentRead = true };
            do
            {
                var page = await dynamo.ScanAsync(request, token).ConfigureAwait(false);
                foreach (var item in page.Items ?? [])
                {
                    var key = ItemHash.OfKey(item, _keyNames);
                    var content = ItemHash.Of(item);
                    lock (result)
                    {
                        result.TableItems++;
                        if (!expected.Remove(key, out var want))
                        {
                            result.Extra++;
                            if (result.ExtraKeys.Count < Samples) result.ExtraKeys.Add(KeyText(item));
                        }
                        else if (want != content)
                        {
                            result.Different++;
                            if (result.DifferentKeys.Count < Samples) result.DifferentKeys.Add(KeyText(item));
                        }
                    }
                }
                host.Progress(new OperationProgress(4, $"Comparing with table {tableName}", $"{result.TableItems:N0} items scanned", -1));
                request.ExclusiveStartKey = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
            }
            while (request.ExclusiveStartKey is not null);
            return 0;
        }, cancellationToken).ConfigureAwait(false);
        host.Progress(new OperationProgress(4, $"Comparing with table {tableName}", "done", 100, Completed: true));

        result.Missing = expected.Count;
        if (expected.Count > 0)
        {
            // Only hashes are kept: the keys to name come from one more pass, stopping at the first few.
            await ForEachBackupItemAsync((key, item) =>
            {
                lock (result)
                {
                    if (expected.ContainsKey(key) && result.MissingKeys.Count < Samples) result.MissingKeys.Add(KeyText(item));
                    return result.MissingKeys.Count < Samples;
                }
            }, cancellationToken).ConfigureAwait(false);
        }
        return result;
    }

    private string KeyText(Dictionary<string, AttributeValue> item) =>
        DynamoJson.ItemToString(_keyNames.Where(item.ContainsKey).ToDictionary(k => k, k => item[k], StringComparer.Ordinal));

    /// <summary>Every item of the backup (already verified), with its key hash; <paramref name="visit"/> returns false to stop early.</summary>
    private async Task ForEachBackupItemAsync(Func<UInt128, Dictionary<string, AttributeValue>, bool> visit, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            await System.Threading.Tasks.Parallel.ForEachAsync(backup.Files, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = stop.Token },
                async (file, token) =>
                {
                    var reader = await DataFileReader.OpenAsync(backup, file, token).ConfigureAwait(false);
                    await using (reader.ConfigureAwait(false))
                    {
                        while (await reader.NextLineAsync(token).ConfigureAwait(false) is { } line)
                        {
                            var item = DynamoJson.ReadRecord(line.Span);
                            if (!visit(ItemHash.OfKey(item, _keyNames), item))
                            {
                                await stop.CancelAsync().ConfigureAwait(false);
                                return;
                            }
                        }
                    }
                }).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // stopped early on purpose
        }
    }
}
