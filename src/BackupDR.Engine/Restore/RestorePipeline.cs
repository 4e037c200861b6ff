using System.Text;
using System.Threading.Channels;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Capacity;
using BackupDR.Engine.Format;
using BackupDR.Engine.Json;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Restore;

/// <summary>Items <see cref="First"/> .. First + Count - 1 of a data file, with their keys as DynamoDB JSON.</summary>
internal sealed record ItemBatch(string File, long First, List<ReadOnlyMemory<byte>> Items, List<string> Keys);

/// <summary>
/// The restore's streaming middle: readers decompress and check every line of every data file and
/// batch the items the checkpoint does not already count as done; writers send each batch the way
/// the mode asks and report it to the progress tracker. Bounded queues between them: memory is set
/// by the pipeline options, not by the backup's size.
/// </summary>
internal sealed class RestorePipeline(
    LoadedBackup backup,
    string tableName,
    RestoreMode mode,
    IRestoreClient client,
    BatchWriter writer,
    CapacityLimiter capacity,
    ProgressTracker tracker,
    IOperationHost host)
{
    private readonly string[] _keyNames = backup.Table.KeySchema.Select(k => k.AttributeName).ToArray();
    private readonly HashSet<UInt128>? _backupKeys = mode == RestoreMode.Exact ? [] : null;
    private long _itemsDoneThisRun;

    /// <summary>Exact: the canonical hash of every key in the backup, filled by <see cref="RunAsync"/>.</summary>
    public IReadOnlySet<UInt128>? BackupKeys => _backupKeys;

    /// <summary>
    /// Reads every data file (also those the checkpoint counts as done: a resumed Exact restore needs
    /// their keys) and writes what is not done. <paramref name="fileFinished"/> runs once per file, when
    /// its last batch is acknowledged.
    /// </summary>
    public async Task RunAsync(int parallelism, PipelineOptions options, Func<string, Task> fileFinished, CancellationToken cancellationToken)
    {
        int queue = options.RestoreQueueBatches > 0 ? options.RestoreQueueBatches : parallelism * 4;
        var batches = Channel.CreateBounded<ItemBatch>(new BoundedChannelOptions(queue)
        {
            SingleReader = false,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
        int readers = Math.Clamp(backup.Files.Count, 1, options.RestoreReaders);
        var fileQueue = new System.Collections.Concurrent.ConcurrentQueue<DataFileEntry>(backup.Files);
        int readersLeft = readers;
        long total = backup.Summary.ItemCount;
        long alreadyDone = tracker.Snapshot().Values.Sum(f => f.Items);
        // A file is finished when its reader is done with it and its last batch is acknowledged.
        var pendingBatches = new Dictionary<string, int>(StringComparer.Ordinal);
        var readFiles = new HashSet<string>(StringComparer.Ordinal);
        var garbage = new GarbageBudget(options.GarbageBudgetBytes);

        async Task BatchDoneAsync(string file)
        {
            bool finished;
            lock (pendingBatches) finished = --pendingBatches[file] == 0 && readFiles.Contains(file);
            if (finished) await fileFinished(file).ConfigureAwait(false);
        }

        await Parallel.RunAllOrNoneAsync(readers + parallelism, async (worker, token) =>
        {
            if (worker < readers)
            {
                try
                {
                    while (fileQueue.TryDequeue(out var file))
                    {
                        lock (pendingBatches) pendingBatches[file.DataFile] = 1;   // the reader's own hold, released below
                        await ReadFileAsync(file, batches.Writer, f => { lock (pendingBatches) pendingBatches[f]++; }, token).ConfigureAwait(false);
                        lock (pendingBatches) readFiles.Add(file.DataFile);
                        await BatchDoneAsync(file.DataFile).ConfigureAwait(false);
                    }
                }
                finally
                {
                    if (Interlocked.Decrement(ref readersLeft) == 0) batches.Writer.TryComplete();
                }
            }
            else
            {
                await foreach (var batch in batches.Reader.ReadAllAsync(token).ConfigureAwait(false))
                {
                    await WriteBatchAsync(batch, token).ConfigureAwait(false);
                    garbage.Check();
                    long n = alreadyDone + Interlocked.Add(ref _itemsDoneThisRun, batch.Items.Count);
                    host.Progress(new OperationProgress(3, $"Restoring into table {tableName}", $"{n:N0} of {total:N0} items",
                        total > 0 ? (int)Math.Min(100, n * 100 / total) : -1));
                    await BatchDoneAsync(batch.File).ConfigureAwait(false);
                }
            }
            return 0;
        }, cancellationToken).ConfigureAwait(false);
        host.Progress(new OperationProgress(3, $"Restoring into table {tableName}", "done", 100, Completed: true));
    }

    private async Task WriteBatchAsync(ItemBatch batch, CancellationToken cancellationToken)
    {
        if (mode != RestoreMode.MissingOnly)
        {
            await writer.WriteAsync(batch.Items, cancellationToken).ConfigureAwait(false);
            tracker.Complete(batch.File, batch.First, batch.Items.Count, written: batch.Items.Count, skipped: 0);
            return;
        }
        // MissingOnly: one consistent BatchGetItem finds the keys already there; each of the others is a
        // conditional put, so an item someone writes meanwhile is never overwritten by the backup's.
        var keys = batch.Keys.Select(k => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(k)).ToList();
        var found = await client.FindKeysAsync(tableName, keys, _keyNames, cancellationToken).ConfigureAwait(false);
        var present = found.Select(f => ItemHash.Of(f.Span)).ToHashSet();
        var candidates = Enumerable.Range(0, batch.Items.Count).Where(i => !present.Contains(ItemHash.Of(keys[i].Span))).ToList();
        long written = 0;
        if (candidates.Count > 0)
        {
            double reserved = await capacity.AcquireAsync(capacity.Estimate(candidates.Count), cancellationToken).ConfigureAwait(false);
            bool[] outcomes;
            try
            {
                outcomes = await Task.WhenAll(candidates.Select(i => client.PutIfAbsentAsync(tableName, batch.Items[i], _keyNames[0], cancellationToken))).ConfigureAwait(false);
            }
            catch
            {
                capacity.Release(reserved);
                throw;
            }
            capacity.Settle(reserved, null, candidates.Count);
            written = outcomes.Count(w => w);
        }
        tracker.Complete(batch.File, batch.First, batch.Items.Count, written, batch.Items.Count - written);
    }

    private async Task ReadFileAsync(DataFileEntry file, ChannelWriter<ItemBatch> batches, Action<string> batchQueued, CancellationToken cancellationToken)
    {
        long skip = tracker.StartOf(file.DataFile).Items;
        var reader = await DataFileReader.OpenAsync(backup.Folder, file, cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            // Items go to DynamoDB as the bytes the backup holds, after the same strict checks as Full validation.
            var validator = new RecordValidator(_keyNames);
            ItemBatch? batch = null;
            var keysInBatch = new HashSet<string>(StringComparer.Ordinal);
            long index = -1;
            while (await ReadLineAsync(reader, file, cancellationToken).ConfigureAwait(false) is { } line)
            {
                Range item;
                string key;
                try
                {
                    item = validator.Check(line.Span, withKey: true, out string? k);
                    key = k!;
                }
                catch (InvalidDataException e)
                {
                    throw PartlyWritten(file, $"line {reader.LineNumber} is not a valid record ({e.Message})");
                }
                index++;
                if (_backupKeys is not null)
                {
                    var hash = ItemHash.Of(Encoding.UTF8.GetBytes(key));
                    lock (_backupKeys) _backupKeys.Add(hash);
                }
                if (index < skip) continue;   // written before the restore was interrupted
                // BatchWriteItem rejects a batch that names one key twice; a repeated key starts a new batch.
                if (batch is not null && (batch.Items.Count == BatchWriter.MaxBatch || !keysInBatch.Add(key)))
                {
                    batchQueued(file.DataFile);
                    await batches.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
                    batch = null;
                }
                if (batch is null)
                {
                    batch = new ItemBatch(file.DataFile, index, new List<ReadOnlyMemory<byte>>(BatchWriter.MaxBatch), new List<string>(BatchWriter.MaxBatch));
                    keysInBatch.Clear();
                    keysInBatch.Add(key);
                }
                batch.Items.Add(line[item].ToArray());
                batch.Keys.Add(key);
            }
            if (batch is not null)
            {
                batchQueued(file.DataFile);
                await batches.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
            }

            // The file was verified before the restore began; it must still be the same file.
            string sha256;
            try
            {
                (sha256, _, _) = await reader.FinishAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (DataFileException e)
            {
                throw PartlyWritten(file, "it " + e.Message);
            }
            if (sha256 != file.Sha256Checksum)
            {
                throw PartlyWritten(file, "it changed while it was being restored (its SHA-256 no longer matches the manifest)");
            }
            if (index + 1 != file.ItemCount)
            {
                throw PartlyWritten(file, $"it holds {index + 1} items, the manifest says {file.ItemCount}");
            }
        }
    }

    private async ValueTask<ReadOnlyMemory<byte>?> ReadLineAsync(DataFileReader reader, DataFileEntry file, CancellationToken cancellationToken)
    {
        try
        {
            return await reader.NextLineAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DataFileException e)
        {
            // Counts and sizes are enforced as the file streams: nothing the manifest does not account for is sent.
            throw PartlyWritten(file, "it " + e.Message);
        }
    }

    private BackupDRException PartlyWritten(DataFileEntry file, string problem) =>
        new(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData,
            $"{file.DataFile} failed while it was being restored: {problem}. The target table may be partly written; " +
            "check the backup with Test-BackupIntegrity -Level Full.", backup.Folder.Uri);
}
