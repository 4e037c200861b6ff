using System.Buffers;
using System.Diagnostics;
using System.Threading.Channels;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Capacity;
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
    private const long BytesPerSegment = 128L << 20;
    private const int MaxAutoSegments = 32;

    private readonly IAmazonDynamoDB _dynamo;
    private readonly DynamoWireClient _scanner;
    private readonly BackupFolder _target;
    private readonly IOperationHost _host;

    internal BackupRunner(IAmazonDynamoDB dynamo, DynamoWireClient scanner, BackupFolder target, IOperationHost host)
    {
        _dynamo = dynamo;
        _scanner = scanner;
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
        foreach (string name in request.TableNames) TableSchema.ValidateName(name);
        var aws = new AwsClientFactory(request.Aws);
        AwsClientFactory.ValidateRegion(request.Aws.Region);
        using var dynamo = aws.CreateDynamoDB();
        using var target = BackupFolder.Open(request.Target, aws);
        request.Pipeline.Validate();
        if (request.MaxReadCapacityUnits < 0 || double.IsNaN(request.MaxReadCapacityUnits) || double.IsInfinity(request.MaxReadCapacityUnits))
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, $"{Say.Option("max-read-capacity-units")} must be a positive number (or 0 for no cap).", null);
        }
        if (request.Engine is BackupEngine.Export or BackupEngine.Auto && request.Segments > 0)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, $"{Say.Option("segments")} is the Scan engine's: DynamoDB's export reads the table its own way.", null);
        }
        if (request.Engine is BackupEngine.Scan or BackupEngine.Lambda && (request.ExportTime is not null || request.EnablePointInTimeRecovery || request.Incremental))
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"{Say.Option("export-time")}, {Say.Option("enable-point-in-time-recovery")} and {Say.Option("incremental")} are the Export engine's: add {Say.Option("engine", "Export")}.", null);
        }
        if (request.Engine == BackupEngine.Export && !request.Target.IsS3)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                "DynamoDB's export writes to S3 only: back up to a bucket, or use the Scan engine for a folder.", null);
        }
        if (request.Engine == BackupEngine.Lambda && (request.Invoker is null || !request.Target.IsS3 || request.Segments is < 1 or > BackupSlice.MaxSegments))
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"The Lambda engine fans a backup out to the deployed backup function: it needs a bucket target and {Say.Option("segments")} of 1 to {BackupSlice.MaxSegments} (one invocation each).", null);
        }
        if (request.Slice is { } slice && (slice.TotalSegments is < 1 or > BackupSlice.MaxSegments || slice.Segment < 0 || slice.Segment >= slice.TotalSegments || !BackupFormat.IsBackupId(slice.BackupId)))
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, $"A fan-out share is segment 0 to {BackupSlice.MaxSegments - 1} of at most {BackupSlice.MaxSegments}, of a backup id.", null);
        }
        using var scanner = DynamoWireClient.For(dynamo, aws);
        var runner = new BackupRunner(dynamo, scanner, target, host);
        await runner.BackupTablesAsync(request, completed, cancellationToken).ConfigureAwait(false);
    }

    public async Task BackupTablesAsync(BackupRequest request, Action<BackupResult> completed, CancellationToken cancellationToken)
    {
        // Check everything before writing anything: every table exists, the target is usable.
        var tables = new List<TableDescription>();
        foreach (string name in request.TableNames.Distinct(StringComparer.Ordinal))
        {
            try
            {
                tables.Add(await TableSchema.DescribeAsync(_dynamo, name, cancellationToken).ConfigureAwait(false));
            }
            catch (Exception e) when (e is not BackupDRException)
            {
                throw NotBackedUp(AwsErrors.Translate(e, name), name, "before it started");
            }
        }
        try
        {
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

    /// <summary>
    /// The Auto engine's threshold: below it a scan is quicker than an export's fixed minutes of setup and cheap in
    /// read capacity (10 GiB is ~2.6 M RCU-seconds eventually consistent); above it the export's zero RCU and
    /// unbounded scale win (docs/performance.md).
    /// </summary>
    public const long AutoExportMinBytes = 10L * 1024 * 1024 * 1024;

    /// <summary>The Auto engine's choice for one table, and why (said to the host and kept in the result).</summary>
    private async Task<(BackupEngine Engine, string Why)> ChooseAsync(TableDescription table, BackupRequest request, CancellationToken cancellationToken)
    {
        if (!request.Target.IsS3) return (BackupEngine.Scan, "the target is a folder, and only a scan writes there");
        long size = table.TableSizeBytes ?? 0;
        long threshold = request.AutoExportMinBytes;
        if (size < threshold) return (BackupEngine.Scan, $"the table is {size / 1048576.0:N0} MiB, under the {threshold / 1073741824.0:N0} GiB past which an export is worth its setup time");
        try
        {
            var pitr = (await _dynamo.DescribeContinuousBackupsAsync(new DescribeContinuousBackupsRequest { TableName = table.TableName }, cancellationToken).ConfigureAwait(false))
                .ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus;
            if (pitr != PointInTimeRecoveryStatus.ENABLED)
            {
                return (BackupEngine.Scan, $"the table is {size / 1073741824.0:N1} GiB but has point-in-time recovery off, which an export needs (turning it on would let the next backup export)");
            }
        }
        catch (AmazonDynamoDBException e)
        {
            return (BackupEngine.Scan, $"its point-in-time recovery could not be read ({e.ErrorCode})");
        }
        return (BackupEngine.Export, $"the table is {size / 1073741824.0:N1} GiB with point-in-time recovery on: DynamoDB's export reads it without read capacity");
    }

    private async Task<BackupResult> BackupTableAsync(TableDescription table, BackupRequest request, CancellationToken cancellationToken)
    {
        string? reason = null;
        var engine = request.Engine;
        if (engine == BackupEngine.Auto)
        {
            (engine, reason) = await ChooseAsync(table, request, cancellationToken).ConfigureAwait(false);
            _host.Verbose($"Engine for '{table.TableName}': {engine}, because {reason}.");
            if (engine == BackupEngine.Scan && (request.ExportTime is not null || request.Incremental))
            {
                throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                    $"A backup of '{table.TableName}' at {request.ExportTime:u} needs DynamoDB's export, but the Auto engine chose a scan: {reason}.", table.TableName);
            }
        }
        var result = await BackupOneAsync(table, request, engine, cancellationToken).ConfigureAwait(false);
        result.EngineReason = reason;
        return result;
    }

    private async Task<BackupResult> BackupOneAsync(TableDescription table, BackupRequest request, BackupEngine engine, CancellationToken cancellationToken)
    {
        if (request.Slice is { } slice) return await SliceAsync(table, request, slice, cancellationToken).ConfigureAwait(false);
        var start = DateTimeOffset.UtcNow;
        string backupId = BackupFormat.NewBackupId(start);
        var folder = _target.Child(table.TableName).Child(backupId);
        var started = new BackupStart(table.TableName, backupId, folder.Uri, start);
        if (request.Observer is { } observer)
        {
            try { await observer.StartedAsync(started, cancellationToken).ConfigureAwait(false); }
            catch (Exception e) when (e is not OutOfMemoryException) { _host.Verbose($"The backup's observer failed at its start ({e.Message}); the backup goes on."); }
        }
        if (engine == BackupEngine.Lambda)
        {
            try
            {
                return await new FanOutBackup(_dynamo, _host).RunAsync(table, request, started, folder, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                throw await FailedAsync(e, table.TableName, folder, started, request, "what the workers wrote was removed", removeWhenStopped: true).ConfigureAwait(false);
            }
        }
        int segments = request.Segments > 0 ? request.Segments : AutoSegments(table);
        if (engine == BackupEngine.Export)
        {
            try
            {
                return await new ExportBackup(_dynamo, _target, _host).RunAsync(table, request, started, folder, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // A stopped wait leaves DynamoDB's export running into the folder: nothing is removed under it.
                throw await FailedAsync(e, table.TableName, folder, started, request, "what the export wrote there was removed", removeWhenStopped: false).ConfigureAwait(false);
            }
        }
        _host.Verbose($"Backing up '{table.TableName}' to {folder.Uri} with {segments} scan segment(s) and {EncoderCount(request, segments)} encoder(s).");
        try
        {
            // The description (TTL, tags: a few more calls) is read while the scan runs.
            var capture = TableSchema.CaptureAsync(_dynamo, table, _host, cancellationToken);
            var progress = new ScanProgress(table.TableName, table.ItemCount ?? 0, _host);
            // Eventually consistent reads cost half a unit per 4 KB: a guess of 1 KB items until DynamoDB says.
            var capacity = new CapacityLimiter(request.MaxReadCapacityUnits, request.ConsistentRead ? 0.25 : 0.125, request.Time);
            List<DataFileEntry> files;
            using (var ticker = progress.StartTicking(cancellationToken))
            {
                try
                {
                    files = await RunPipelineAsync(table, folder, segments, request, progress, capacity, cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    await capture.ContinueWith(t => t.Exception, TaskScheduler.Default).ConfigureAwait(false);   // observed, not reported twice
                    throw;
                }
            }
            progress.Complete();
            _host.Verbose($"Scanned {files.Sum(f => f.ItemCount)} items of '{table.TableName}' into {files.Count} data file(s).");

            var tableDoc = await capture.ConfigureAwait(false);
            var summary = new ManifestSummary
            {
                BackupId = backupId, TableName = table.TableName, TableArn = table.TableArn, StartTime = start, EndTime = DateTimeOffset.UtcNow,
                Segments = segments, Writer = "BackupDR " + EngineInfo.Version,
            };
            var marker = await BackupCommit.WriteAsync(folder, summary, files, tableDoc, async () =>
            {
                try
                {
                    await AbortPendingUploadsAsync(folder, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // Not a reason to fail a complete backup: a leftover upload holds no part of it.
                    _host.Warning($"Could not check {folder.Uri} for abandoned multipart uploads ({e.Message}). A bucket lifecycle rule that aborts incomplete uploads removes any.");
                }
            }, cancellationToken).ConfigureAwait(false);
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
                ConsumedReadCapacityUnits = capacity.ServiceReportsCapacity ? capacity.Consumed : null,
                SummarySha256 = marker.ManifestSummarySha256,
            };
        }
        catch (Exception e)
        {
            throw await FailedAsync(e, table.TableName, folder, started, request, "its partial files were removed", removeWhenStopped: true).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A backup that failed, whichever engine: what it wrote is removed (unless it was stopped while something else
    /// still writes there), the observer hears of it, and the error names the table that has no new backup.
    /// </summary>
    private async Task<BackupDRException> FailedAsync(Exception e, string tableName, BackupFolder folder, BackupStart started, BackupRequest request, string removed, bool removeWhenStopped)
    {
        var error = AwsErrors.Translate(e, tableName);
        bool stopped = error.ErrorId == ErrorIds.OperationCancelled;
        if (!stopped || removeWhenStopped) await RemovePartialBackupAsync(folder, _host).ConfigureAwait(false);
        var thrown = stopped ? error : NotBackedUp(error, tableName, $"at {folder.Uri} ({removed})");
        if (request.Observer is { } observer)
        {
            try { await observer.FailedAsync(started, thrown).ConfigureAwait(false); }
            catch (Exception oe) when (oe is not OutOfMemoryException) { _host.Verbose($"The backup's observer failed ({oe.Message})."); }
        }
        return thrown;
    }

    /// <summary>The same error, saying which table has no new backup: nothing was committed for it.</summary>
    private static BackupDRException NotBackedUp(BackupDRException error, string tableName, string where) =>
        new(error.ErrorId, error.Kind, $"{error.Message.TrimEnd()} No backup of table '{tableName}' was committed {where}.", error.Target ?? tableName, error.InnerException ?? error);

    private static int AutoSegments(TableDescription table)
    {
        long bytes = table.TableSizeBytes ?? 0;
        return (int)Math.Clamp((bytes + BytesPerSegment - 1) / BytesPerSegment, 1, MaxAutoSegments);
    }

    /// <summary>
    /// A fan-out worker's share: its segment scanned into its own streams' data files in the backup's folder
    /// (what an earlier attempt of the same share left there is removed first), their entries returned.
    /// </summary>
    private async Task<BackupResult> SliceAsync(TableDescription table, BackupRequest request, BackupSlice slice, CancellationToken cancellationToken)
    {
        var folder = _target.Child(table.TableName).Child(slice.BackupId);
        var mine = new List<string>();
        await foreach (var obj in folder.Store.ListAsync(folder.Key(BackupFormat.DataFolder), cancellationToken).ConfigureAwait(false))
        {
            string name = obj.Key[folder.Prefix.Length..];
            if (slice.Owns(name))
            {
                mine.Add(obj.Key);
            }
        }
        foreach (string key in mine) await folder.Store.DeleteAsync(key, cancellationToken).ConfigureAwait(false);
        var start = DateTimeOffset.UtcNow;
        var progress = new ScanProgress(table.TableName, (table.ItemCount ?? 0) / Math.Max(1, slice.TotalSegments), _host);
        var capacity = new CapacityLimiter(request.MaxReadCapacityUnits, request.ConsistentRead ? 0.25 : 0.125, request.Time);
        List<DataFileEntry> files;
        using (var ticker = progress.StartTicking(cancellationToken))
        {
            files = await RunPipelineAsync(table, folder, 1, request, progress, capacity, cancellationToken, slice).ConfigureAwait(false);
        }
        progress.Complete();
        return new BackupResult
        {
            BackupId = slice.BackupId, TableName = table.TableName, Uri = folder.Uri, ItemCount = files.Sum(f => f.ItemCount), SizeBytes = files.Sum(f => f.SizeBytes),
            UncompressedSizeBytes = files.Sum(f => f.UncompressedSizeBytes), DataFileCount = files.Count, Segments = 1, StartTime = start, EndTime = DateTimeOffset.UtcNow,
            Status = "Slice", DataFiles = files, Engine = BackupEngine.Lambda,
        };
    }

    /// <summary>
    /// The pipeline: one scanner per segment fetches pages into a shared bounded queue; a few
    /// encoders (no more than the cores) drain it, each into its own data files, each file uploading
    /// its parts while the next fills. When the queue is full the scanners wait, when the uploads are
    /// busy the encoders wait: memory is set by the pipeline options and the number of encoders.
    /// </summary>
    private async Task<List<DataFileEntry>> RunPipelineAsync(TableDescription table, BackupFolder folder, int segments,
        BackupRequest request, ScanProgress progress, CapacityLimiter capacity, CancellationToken cancellationToken, BackupSlice? slice = null)
    {
        int encoders = Math.Min(EncoderCount(request, segments), slice is null ? int.MaxValue : BackupSlice.StreamsPerWorker);
        var pages = Channel.CreateBounded<ScanPage>(new BoundedChannelOptions(encoders * request.Pipeline.ScanQueuePages)
        {
            SingleReader = encoders == 1,
            SingleWriter = segments == 1,
            FullMode = BoundedChannelFullMode.Wait,
        });
        int scannersLeft = segments;
        // Pages held in memory: those queued plus one being encoded per encoder. A scanner whose page
        // has no room waits with the response still in the socket.
        using var pageSlots = new SemaphoreSlim(encoders * (request.Pipeline.ScanQueuePages + 1));
        // Every part buffer of this backup: each encoder fills one while its previous parts upload.
        var partBuffers = new BoundedBufferPool(DataFileWriter.PartBufferSize(request.Pipeline.PartSizeBytes),
            encoders * (request.Pipeline.PartsInFlight + 1) + 1);
        var garbage = new GarbageBudget(request.Pipeline.GarbageBudgetBytes);
        try
        {
            var results = await Parallel.RunAllOrNoneAsync(segments + encoders, async (worker, token) =>
            {
                if (worker < segments)
                {
                    try
                    {
                        await ScanIntoAsync(table.TableName, slice?.Segment ?? worker, slice?.TotalSegments ?? segments, request.ConsistentRead, capacity, pages.Writer, pageSlots, token).ConfigureAwait(false);
                    }
                    finally
                    {
                        if (Interlocked.Decrement(ref scannersLeft) == 0) pages.Writer.TryComplete();
                    }
                    return [];
                }
                var walker = new Json.ItemWalker(KeysOf(table));
                return await EncodeAsync(folder, (slice?.StreamBase ?? 0) + worker - segments, request, progress, pages.Reader, partBuffers, walker, garbage, token).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
            return results.SelectMany(f => f).OrderBy(f => f.DataFile, StringComparer.Ordinal).ToList();
        }
        finally
        {
            // Pages left behind by a failure go back to the pool.
            pages.Writer.TryComplete();
            while (pages.Reader.TryRead(out var left)) left.Dispose();
        }
    }

    /// <summary>
    /// One encoder per two processors by default: an encoder turns about 130 MB of DynamoDB JSON a
    /// second into gzip on one core (docs/performance.md), several times what a Scan segment delivers,
    /// and the other cores are left to the HTTP and TLS work of scanning and uploading.
    /// </summary>
    private static int EncoderCount(BackupRequest request, int segments) =>
        Math.Clamp(request.Pipeline.Encoders > 0 ? request.Pipeline.Encoders : Environment.ProcessorCount / 2, 1, segments);

    private async Task ScanIntoAsync(string tableName, int segment, int totalSegments, bool consistentRead, CapacityLimiter capacity,
        ChannelWriter<ScanPage> pages, SemaphoreSlim pageSlots, CancellationToken cancellationToken)
    {
        byte[]? startKey = null;
        do
        {
            // Under a cap, pages are kept to a fraction of a second's worth, so the rate holds smoothly.
            int? limit = capacity.PageLimit(totalSegments);
            double reserved = await capacity.AcquireAsync(capacity.Estimate(limit ?? 1000), cancellationToken).ConfigureAwait(false);
            ScanPage page;
            try
            {
                page = await _scanner.ScanAsync(new ScanPageRequest(tableName, segment, totalSegments, consistentRead, limit, startKey, capacity.IsCapped, pageSlots), cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                capacity.Release(reserved);
                throw;
            }
            capacity.Settle(reserved, page.ConsumedCapacityUnits, page.ScannedCount);
            startKey = page.LastEvaluatedKey;
            if (page.Count > 0)
            {
                try
                {
                    await pages.WriteAsync(page, cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    page.Dispose();
                    throw;
                }
            }
            else
            {
                page.Dispose();
            }
        }
        while (startKey is not null);
    }

    /// <summary>The table's key attributes and their types: every item the backup writes must carry them.</summary>
    private static Json.KeyAttribute[] KeysOf(TableDescription table) => (table.KeySchema ?? [])
        .Select(k => new Json.KeyAttribute(k.AttributeName, table.AttributeDefinitions?.FirstOrDefault(a => a.AttributeName == k.AttributeName)?.AttributeType?.Value))
        .ToArray();

    private static async Task<List<DataFileEntry>> EncodeAsync(BackupFolder folder, int stream, BackupRequest request, ScanProgress progress,
        ChannelReader<ScanPage> pages, ArrayPool<byte> partBuffers, Json.ItemWalker walker, GarbageBudget garbage, CancellationToken cancellationToken)
    {
        var files = new List<DataFileEntry>();
        DataFileWriter? writer = null;
        int sequence = 0;
        try
        {
            await foreach (var page in pages.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                using (page)
                {
                    garbage.Check();
                    var cursor = new ScanPageCursor();
                    bool exhausted = false;
                    while (!exhausted)
                    {
                        writer ??= new DataFileWriter(folder, BackupFormat.DataFileKey(stream, sequence++), partBuffers, walker, request.Pipeline.PartSizeBytes, request.Pipeline.PartsInFlight);
                        long items = writer.ItemCount, bytes = writer.UncompressedBytes;
                        exhausted = writer.WriteScanItems(page, cursor, request.MaxDataFileBytes);
                        progress.Add(writer.ItemCount - items, writer.UncompressedBytes - bytes);
                        if (writer.UncompressedBytes >= request.MaxDataFileBytes)
                        {
                            files.Add(await writer.CompleteAsync(cancellationToken).ConfigureAwait(false));
                            await writer.DisposeAsync().ConfigureAwait(false);
                            writer = null;
                        }
                        else
                        {
                            await writer.ShipFullPartsAsync(cancellationToken).ConfigureAwait(false);
                        }
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

    /// <summary>
    /// Aborts every upload left pending under the backup's folder. After a backup its own uploads are
    /// all completed; one left over is an InitiateMultipartUpload whose answer was lost and retried.
    /// </summary>
    private static async Task AbortPendingUploadsAsync(BackupFolder folder, CancellationToken cancellationToken)
    {
        await foreach (var upload in folder.Store.ListPendingUploadsAsync(folder.Prefix, cancellationToken).ConfigureAwait(false))
        {
            await folder.Store.AbortUploadAsync(upload, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Best effort, within 30 s: every object and pending upload of a backup that failed. What remains has no commit marker, so it is never valid.</summary>
    internal static async Task RemovePartialBackupAsync(BackupFolder folder, IOperationHost host)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await foreach (var obj in folder.Store.ListAsync(folder.Prefix, timeout.Token).ConfigureAwait(false))
            {
                await folder.Store.DeleteAsync(obj.Key, timeout.Token).ConfigureAwait(false);
            }
            await AbortPendingUploadsAsync(folder, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            host.Warning($"The incomplete backup at {folder.Uri} could not be fully removed ({e.Message}). It has no commit marker, so it will never be treated as valid.");
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
