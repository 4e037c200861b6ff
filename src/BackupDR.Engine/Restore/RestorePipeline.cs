using System.Text;
using System.Threading.Channels;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Capacity;
using BackupDR.Engine.Format;
using BackupDR.Engine.Json;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Restore;

/// <summary>
/// Items <see cref="First"/> .. First + Count - 1 of a data file, with their keys as DynamoDB JSON.
/// <see cref="Claimed"/>: a checkpoint says they are already in the table, which is verified, not trusted.
/// </summary>
/// <see cref="Deletes"/>: <see cref="Items"/> are keys to delete (an incremental export's deletes), not items to put.
internal sealed record ItemBatch(string File, long First, List<ReadOnlyMemory<byte>> Items, List<string> Keys, bool Claimed, bool Deletes = false);

/// <summary>What an incremental export's records do to the table: their window applied, or undone.</summary>
internal enum ChangeDirection
{
    /// <summary>A record with a new image puts it; one without deletes its key.</summary>
    Apply,

    /// <summary>A record with an old image puts it back; one with only a new image (an insert) deletes its key.</summary>
    Revert,
}

/// <summary>
/// The restore's streaming middle: readers decompress and check every line of every data file and
/// batch its items; writers send each batch the way the mode asks and report it to the progress
/// tracker. Items a resumed restore's checkpoint counts as done are read back from the table instead
/// (consistent BatchGetItem) and written again when missing or different: a checkpoint, which anyone
/// who can write where it is kept could forge, never makes a restore report an item it did not write.
/// Bounded queues between readers and writers: memory is set by the pipeline options, not by the
/// backup's size.
/// </summary>
internal sealed class RestorePipeline(
    LoadedBackup backup,
    string tableName,
    RestoreMode mode,
    IRestoreClient client,
    BatchWriter writer,
    CapacityLimiter capacity,
    ProgressTracker tracker,
    IOperationHost host,
    ChangeDirection direction = ChangeDirection.Apply)
{
    private readonly string[] _keyNames = backup.Table.KeySchema.Select(k => k.AttributeName).ToArray();
    private long _itemsDoneThisRun;
    private long _verified;
    private long _repaired;

    /// <summary>Items the checkpoint counted as done that were found in the table as the backup holds them.</summary>
    public long ItemsVerified => Interlocked.Read(ref _verified);

    /// <summary>Items the checkpoint counted as done that were missing or different, and were written again.</summary>
    public long ItemsRepaired => Interlocked.Read(ref _repaired);

    /// <summary>
    /// Reads every data file and writes (or, where the checkpoint counts it as done, verifies) every
    /// item. <paramref name="fileFinished"/> runs once per file, when its last batch is acknowledged.
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
                    long n = Interlocked.Add(ref _itemsDoneThisRun, batch.Items.Count);   // verified on resume or written
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
        if (batch.Deletes)
        {
            await DeleteBatchAsync(batch, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (batch.Claimed)
        {
            await VerifyClaimedAsync(batch, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (mode != RestoreMode.MissingOnly)
        {
            await writer.WriteAsync(batch.Items, cancellationToken).ConfigureAwait(false);
            tracker.Complete(batch.File, batch.First, batch.Items.Count, written: batch.Items.Count, skipped: 0);
            return;
        }
        // MissingOnly: one consistent BatchGetItem finds the keys already there; each of the others is a
        // conditional put, so an item someone writes meanwhile is never overwritten by the backup's.
        var keys = batch.Keys.Select(k => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(k)).ToList();
        var found = await client.FindItemsAsync(tableName, keys, _keyNames, cancellationToken).ConfigureAwait(false);
        var present = found.Select(f => ItemHash.Of(f.Span)).ToHashSet();
        var candidates = Enumerable.Range(0, batch.Items.Count).Where(i => !present.Contains(ItemHash.Of(keys[i].Span))).ToList();
        long written = await PutIfAbsentAsync(batch, candidates, cancellationToken).ConfigureAwait(false);
        tracker.Complete(batch.File, batch.First, batch.Items.Count, written, batch.Items.Count - written);
    }

    /// <summary>
    /// An incremental export's deletes. Where a checkpoint counts them as done, the keys are looked up
    /// (consistent) and any still in the table deleted again.
    /// </summary>
    private async Task DeleteBatchAsync(ItemBatch batch, CancellationToken cancellationToken)
    {
        if (!batch.Claimed)
        {
            await writer.DeleteAsync(batch.Items, cancellationToken).ConfigureAwait(false);
            tracker.Complete(batch.File, batch.First, batch.Items.Count, written: 0, skipped: 0, deleted: batch.Items.Count);
            return;
        }
        var found = await client.FindItemsAsync(tableName, batch.Items, _keyNames, cancellationToken).ConfigureAwait(false);
        if (found.Count > 0) await writer.DeleteAsync(found, cancellationToken).ConfigureAwait(false);
        Interlocked.Add(ref _repaired, found.Count);
        Interlocked.Add(ref _verified, batch.Items.Count - found.Count);
    }

    /// <summary>Conditional puts (attribute_not_exists) of the batch's items at <paramref name="indexes"/>; returns how many were written.</summary>
    private async Task<long> PutIfAbsentAsync(ItemBatch batch, List<int> indexes, CancellationToken cancellationToken)
    {
        if (indexes.Count == 0) return 0;
        double reserved = await capacity.AcquireAsync(capacity.Estimate(indexes.Count), cancellationToken).ConfigureAwait(false);
        bool[] outcomes;
        try
        {
            outcomes = await Task.WhenAll(indexes.Select(i => client.PutIfAbsentAsync(tableName, batch.Items[i], _keyNames[0], cancellationToken))).ConfigureAwait(false);
        }
        catch
        {
            capacity.Release(reserved);
            throw;
        }
        capacity.Settle(reserved, null, indexes.Count);
        return outcomes.Count(w => w);
    }

    /// <summary>
    /// Items a checkpoint counts as done: read back whole (consistent), and written again when missing,
    /// or — except in MissingOnly, which never overwrites — when the table's item differs from the backup's.
    /// </summary>
    private async Task VerifyClaimedAsync(ItemBatch batch, CancellationToken cancellationToken)
    {
        var keys = batch.Keys.Select(k => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(k)).ToList();
        var found = await client.FindItemsAsync(tableName, keys, null, cancellationToken).ConfigureAwait(false);
        var inTable = new Dictionary<UInt128, UInt128>();
        foreach (var item in found)
        {
            var parsed = DynamoJson.ReadItem(item.Span);
            inTable[ItemHash.OfKey(parsed, _keyNames)] = ItemHash.Of(parsed);
        }
        var missing = new List<int>();
        var different = new List<int>();
        for (int i = 0; i < batch.Items.Count; i++)
        {
            if (!inTable.TryGetValue(ItemHash.Of(keys[i].Span), out var content)) missing.Add(i);
            else if (content != ItemHash.Of(batch.Items[i].Span)) different.Add(i);
        }
        long repaired;
        if (mode == RestoreMode.MissingOnly)
        {
            repaired = await PutIfAbsentAsync(batch, missing, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var again = missing.Concat(different).Order().Select(i => batch.Items[i]).ToList();
            if (again.Count > 0) await writer.WriteAsync(again, cancellationToken).ConfigureAwait(false);
            repaired = again.Count;
        }
        Interlocked.Add(ref _repaired, repaired);
        Interlocked.Add(ref _verified, batch.Items.Count - missing.Count - different.Count);
    }

    private async Task ReadFileAsync(DataFileEntry file, ChannelWriter<ItemBatch> batches, Action<string> batchQueued, CancellationToken cancellationToken)
    {
        long claimed = tracker.StartOf(file.DataFile).Items;
        var reader = await DataFileReader.OpenAsync(backup, file, cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            // Items go to DynamoDB as the bytes the backup holds, after the same checks as Full validation (ItemWalker).
            var walker = new ItemWalker(backup.Table.KeyAttributes());
            var check = new CheckOnly();
            ItemBatch? batch = null;
            var keysInBatch = new HashSet<string>(StringComparer.Ordinal);
            long index = -1;
            while (await ReadLineAsync(reader, file, cancellationToken).ConfigureAwait(false) is { } line)
            {
                Range item;
                string key;
                bool delete = false;
                try
                {
                    if (backup.Records == RecordKind.Change)
                    {
                        var change = walker.WalkChange(line.Span, ref check);
                        (item, delete) = direction == ChangeDirection.Apply
                            ? change.NewImage is { } put ? (put, false) : (change.Keys, true)
                            : change.OldImage is { } old ? (old, false) : change.NewImage is not null ? (change.Keys, true)
                            : throw new InvalidDataException("the record has neither image, so the item's state before the window is unknown");
                    }
                    else
                    {
                        item = walker.WalkRecord(line.Span, ref check);
                    }
                    key = walker.KeyText(line.Span);
                }
                catch (InvalidDataException e)
                {
                    throw PartlyWritten(file, $"line {reader.LineNumber} is not a valid record ({e.Message})");
                }
                index++;
                bool isClaimed = index < claimed;   // done before the restore was interrupted, says the checkpoint
                // BatchWriteItem rejects a batch that names one key twice; a repeated key starts a new batch. Puts and deletes go in batches of their own.
                if (batch is not null && (batch.Items.Count == BatchWriter.MaxBatch || batch.Claimed != isClaimed || batch.Deletes != delete || !keysInBatch.Add(key)))
                {
                    batchQueued(file.DataFile);
                    await batches.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
                    batch = null;
                }
                if (batch is null)
                {
                    batch = new ItemBatch(file.DataFile, index, new List<ReadOnlyMemory<byte>>(BatchWriter.MaxBatch), new List<string>(BatchWriter.MaxBatch), isClaimed, delete);
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
            string sha256, md5;
            try
            {
                (sha256, md5, _) = await reader.FinishAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (DataFileException e)
            {
                throw PartlyWritten(file, "it " + e.Message);
            }
            if (backup.Md5Only ? md5 != file.Md5Checksum : sha256 != file.Sha256Checksum)
            {
                throw PartlyWritten(file, $"its {(backup.Md5Only ? "MD5" : "SHA-256")} no longer matches the manifest");
            }
            if (index + 1 != file.ItemCount)
            {
                throw PartlyWritten(file, $"it holds {index + 1} items, the manifest says {file.ItemCount}");
            }
        }
    }

    private async ValueTask<ReadOnlyMemory<byte>?> ReadLineAsync(IRecordReader reader, DataFileEntry file, CancellationToken cancellationToken)
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
            $"{file.DataFile} was verified before the restore began, but {problem} as it was being restored: it changed meanwhile. " +
            "The target table may be partly written; verify the backup again before trusting it.", backup.Folder.Uri);
}
