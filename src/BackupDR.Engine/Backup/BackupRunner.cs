using System.Diagnostics;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Tables;

namespace BackupDR.Engine.Backup;

/// <summary>
/// Backs tables up: parallel segmented Scan, each segment streaming into its own data files, then
/// the manifests, then the commit marker. Memory is per segment (one Scan page, two part buffers),
/// not per table.
/// </summary>
public sealed class BackupRunner
{
    private const long BytesPerSegment = 1L << 30;
    private const int MaxAutoSegments = 16;

    private readonly IAmazonDynamoDB _dynamo;
    private readonly BackupFolder _target;
    private readonly IOperationHost _host;

    public BackupRunner(IAmazonDynamoDB dynamo, BackupFolder target, IOperationHost host)
    {
        _dynamo = dynamo;
        _target = target;
        _host = host;
    }

    /// <summary>Runs a request end to end against AWS.</summary>
    public static async Task RunAsync(BackupRequest request, IOperationHost host, Action<BackupResult> completed, CancellationToken cancellationToken)
    {
        if (request.TableNames.Count == 0 || request.TableNames.Any(string.IsNullOrWhiteSpace))
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, "Table names must not be empty.", null);
        }
        var aws = new AwsClientFactory(request.Aws);
        AwsClientFactory.ValidateRegion(request.Aws.Region);
        using var dynamo = aws.CreateDynamoDB();
        using var target = BackupFolder.Open(request.Target, aws);
        var runner = new BackupRunner(dynamo, target, host);
        await runner.BackupTablesAsync(request, completed, cancellationToken).ConfigureAwait(false);
    }

    public async Task BackupTablesAsync(BackupRequest request, Action<BackupResult> completed, CancellationToken cancellationToken)
    {
        // Check everything before writing anything: every table exists, the target is usable.
        var tables = new List<TableDescription>();
        try
        {
            foreach (string name in request.TableNames.Distinct(StringComparer.Ordinal))
            {
                tables.Add(await TableSchema.DescribeAsync(_dynamo, name, cancellationToken).ConfigureAwait(false));
            }
            await _target.Store.EnsureAvailableAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not BackupDRException)
        {
            throw AwsErrors.Translate(e, _target.Uri);
        }

        foreach (var table in tables)
        {
            completed(await BackupTableAsync(table, request, cancellationToken).ConfigureAwait(false));
        }
    }

    private async Task<BackupResult> BackupTableAsync(TableDescription table, BackupRequest request, CancellationToken cancellationToken)
    {
        var start = DateTimeOffset.UtcNow;
        string backupId = BackupFormat.NewBackupId(start);
        var folder = _target.Child(table.TableName).Child(backupId);
        int segments = request.Segments > 0 ? request.Segments : AutoSegments(table);
        _host.Verbose($"Backing up '{table.TableName}' to {folder.Uri} with {segments} scan segment(s).");

        try
        {
            var tableDoc = await TableSchema.CaptureAsync(_dynamo, table, _host, cancellationToken).ConfigureAwait(false);
            var progress = new ScanProgress(table.TableName, table.ItemCount ?? 0, _host);
            List<DataFileEntry> files;
            using (var ticker = progress.StartTicking(cancellationToken))
            {
                var perSegment = await Parallel.RunAllOrNoneAsync(segments,
                    (s, token) => ScanSegmentAsync(table, folder, s, segments, request, progress, token), cancellationToken).ConfigureAwait(false);
                files = perSegment.SelectMany(f => f).OrderBy(f => f.DataFile, StringComparer.Ordinal).ToList();
            }
            progress.Complete();

            var end = DateTimeOffset.UtcNow;
            byte[] filesJson = BackupFormat.Serialize(files);
            byte[] tableJson = BackupFormat.Serialize(tableDoc);
            var summary = new ManifestSummary
            {
                BackupId = backupId,
                TableName = table.TableName,
                TableArn = table.TableArn,
                StartTime = start,
                EndTime = end,
                ItemCount = files.Sum(f => f.ItemCount),
                DataFileCount = files.Count,
                SizeBytes = files.Sum(f => f.SizeBytes),
                UncompressedSizeBytes = files.Sum(f => f.UncompressedSizeBytes),
                Segments = segments,
                ManifestFilesSha256 = BackupFormat.Sha256Base64(filesJson),
                TableDescriptionSha256 = BackupFormat.Sha256Base64(tableJson),
                Writer = "BackupDR " + EngineInfo.Version,
            };
            byte[] summaryJson = BackupFormat.Serialize(summary);
            await folder.Store.PutAsync(folder.Key(BackupFormat.ManifestFilesKey), filesJson, cancellationToken).ConfigureAwait(false);
            await folder.Store.PutAsync(folder.Key(BackupFormat.TableDescriptionKey), tableJson, cancellationToken).ConfigureAwait(false);
            await folder.Store.PutAsync(folder.Key(BackupFormat.ManifestSummaryKey), summaryJson, cancellationToken).ConfigureAwait(false);

            // Last: the commit marker. Before this the backup is incomplete by definition.
            var marker = new CommitMarker
            {
                BackupId = backupId,
                CommittedAt = DateTimeOffset.UtcNow,
                ItemCount = summary.ItemCount,
                ManifestSummarySha256 = BackupFormat.Sha256Base64(summaryJson),
            };
            await folder.Store.PutAsync(folder.Key(BackupFormat.CommitMarkerKey), BackupFormat.Serialize(marker), cancellationToken).ConfigureAwait(false);
            _host.Verbose($"Committed backup {backupId} of '{table.TableName}': {summary.ItemCount} items in {files.Count} file(s).");

            return new BackupResult
            {
                BackupId = backupId,
                TableName = table.TableName,
                Uri = folder.Uri,
                ItemCount = summary.ItemCount,
                SizeBytes = summary.SizeBytes,
                UncompressedSizeBytes = summary.UncompressedSizeBytes,
                DataFileCount = files.Count,
                Segments = segments,
                StartTime = start,
                EndTime = marker.CommittedAt,
            };
        }
        catch (Exception e)
        {
            await RemovePartialBackupAsync(folder).ConfigureAwait(false);
            throw AwsErrors.Translate(e, table.TableName);
        }
    }

    private static int AutoSegments(TableDescription table)
    {
        long bytes = table.TableSizeBytes ?? 0;
        return (int)Math.Clamp((bytes + BytesPerSegment - 1) / BytesPerSegment, 1, MaxAutoSegments);
    }

    private async Task<List<DataFileEntry>> ScanSegmentAsync(TableDescription table, BackupFolder folder, int segment, int totalSegments,
        BackupRequest request, ScanProgress progress, CancellationToken cancellationToken)
    {
        var files = new List<DataFileEntry>();
        DataFileWriter? writer = null;
        int sequence = 0;
        try
        {
            // The next page is requested while the current one is encoded.
            Task<ScanResponse>? next = ScanPageAsync(table.TableName, segment, totalSegments, null, request.ConsistentRead, cancellationToken);
            while (next is not null)
            {
                var page = await next.ConfigureAwait(false);
                next = page.LastEvaluatedKey is { Count: > 0 } lastKey
                    ? ScanPageAsync(table.TableName, segment, totalSegments, lastKey, request.ConsistentRead, cancellationToken)
                    : null;
                foreach (var item in page.Items ?? [])
                {
                    writer ??= new DataFileWriter(folder, BackupFormat.DataFileKey(segment, sequence++));
                    long before = writer.UncompressedBytes;
                    await writer.WriteAsync(item, cancellationToken).ConfigureAwait(false);
                    progress.Add(1, writer.UncompressedBytes - before);
                    if (writer.UncompressedBytes >= request.MaxDataFileBytes)
                    {
                        files.Add(await writer.CompleteAsync(cancellationToken).ConfigureAwait(false));
                        await writer.DisposeAsync().ConfigureAwait(false);
                        writer = null;
                    }
                }
            }
            if (writer is not null) files.Add(await writer.CompleteAsync(cancellationToken).ConfigureAwait(false));
            return files;
        }
        finally
        {
            if (writer is not null) await writer.DisposeAsync().ConfigureAwait(false);
        }
    }

    private Task<ScanResponse> ScanPageAsync(string tableName, int segment, int totalSegments,
        Dictionary<string, AttributeValue>? startKey, bool consistentRead, CancellationToken cancellationToken)
    {
        var request = new ScanRequest { TableName = tableName, ExclusiveStartKey = startKey, ConsistentRead = consistentRead };
        if (totalSegments > 1)
        {
            request.Segment = segment;
            request.TotalSegments = totalSegments;
        }
        return _dynamo.ScanAsync(request, cancellationToken);
    }

    /// <summary>Best effort: a failed backup leaves no objects behind. What remains has no commit marker, so it is never valid.</summary>
    private async Task RemovePartialBackupAsync(BackupFolder folder)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await foreach (var obj in folder.Store.ListAsync(folder.Prefix, timeout.Token).ConfigureAwait(false))
            {
                await folder.Store.DeleteAsync(obj.Key, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            _host.Warning($"The incomplete backup at {folder.Uri} could not be fully removed ({e.Message}). It has no commit marker, so it will never be treated as valid.");
        }
    }

    /// <summary>Counts items across segments and reports progress a few times a second.</summary>
    private sealed class ScanProgress(string tableName, long estimatedItems, IOperationHost host)
    {
        private static int s_nextActivity;
        private readonly int _activityId = Interlocked.Increment(ref s_nextActivity);
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private long _items;
        private long _bytes;

        public void Add(long items, long bytes)
        {
            Interlocked.Add(ref _items, items);
            Interlocked.Add(ref _bytes, bytes);
        }

        public IDisposable StartTicking(CancellationToken cancellationToken)
        {
            var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            _ = Task.Run(async () =>
            {
                try
                {
                    while (true)
                    {
                        await Task.Delay(250, stop.Token).ConfigureAwait(false);
                        Report(false);
                    }
                }
                catch (OperationCanceledException) { }
            }, CancellationToken.None);
            return new Stopper(stop);
        }

        public void Complete() => Report(true);

        private void Report(bool completed)
        {
            long items = Interlocked.Read(ref _items);
            long bytes = Interlocked.Read(ref _bytes);
            int percent = estimatedItems > 0 ? (int)Math.Min(99, items * 100 / estimatedItems) : -1;
            double seconds = Math.Max(0.001, _clock.Elapsed.TotalSeconds);
            host.Progress(new OperationProgress(_activityId, $"Backing up table {tableName}",
                $"{items:N0} items, {bytes / 1048576.0:N1} MB of JSON, {items / seconds:N0} items/s", completed ? 100 : percent, completed));
        }

        private sealed class Stopper(CancellationTokenSource source) : IDisposable
        {
            public void Dispose()
            {
                source.Cancel();
                source.Dispose();
            }
        }
    }
}
