using System.Threading.Channels;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Capacity;
using BackupDR.Engine.Format;
using BackupDR.Engine.Json;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Tables;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Restore;

/// <summary>
/// Restores a backup into a table. Everything is checked before the first write: the backup is
/// verified in full, the target's key schema must match, and a non-empty target needs -Force.
/// </summary>
public sealed class RestoreRunner
{
    private readonly IAmazonDynamoDB dynamo;
    private readonly IBatchWriteClient writes;
    private readonly IOperationHost host;
    private readonly RetryPolicy _retry;

    /// <param name="dynamo">Describes, creates and probes the target table.</param>
    /// <param name="writes">Sends the items (BatchWriteItem over the wire protocol; a seam for tests).</param>
    internal RestoreRunner(IAmazonDynamoDB dynamo, IBatchWriteClient writes, IOperationHost host, RetryPolicy? retry = null)
    {
        this.dynamo = dynamo;
        this.writes = writes;
        this.host = host;
        _retry = retry ?? RetryPolicy.Default;
    }

    public static async Task<RestoreResult> RunAsync(RestoreRequest request, IOperationHost host, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request.TableName))
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, "The target table name must not be empty.", null);
        }
        if (request.Parallelism is < 1 or > 64)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, "Parallelism must be between 1 and 64.", null);
        }
        if (request.MaxWriteCapacityUnits < 0 || double.IsNaN(request.MaxWriteCapacityUnits) || double.IsInfinity(request.MaxWriteCapacityUnits))
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, "MaxWriteCapacityUnits must be a positive number (or 0 for no cap).", null);
        }
        request.Pipeline.Validate();
        AwsClientFactory.ValidateRegion(request.Aws.Region);
        var location = BackupLocation.Parse(request.Uri);
        var aws = new AwsClientFactory(request.Aws);
        using var dynamo = aws.CreateDynamoDB();
        using var wire = DynamoWireClient.For(dynamo, aws);
        using var folder = BackupFolder.Open(location, aws);
        try
        {
            return await new RestoreRunner(dynamo, wire, host, request.Aws.Retry).RestoreAsync(folder, request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            throw AwsErrors.Translate(e, request.TableName);
        }
    }

    public async Task<RestoreResult> RestoreAsync(BackupFolder folder, RestoreRequest request, CancellationToken cancellationToken)
    {
        var start = DateTimeOffset.UtcNow;
        var backup = await VerifyAsync(folder, request.Force, cancellationToken).ConfigureAwait(false);

        var existing = await TableSchema.TryDescribeAsync(dynamo, request.TableName, cancellationToken).ConfigureAwait(false);
        bool created = existing is null;
        if (existing is null)
        {
            host.Verbose($"Creating table '{request.TableName}' from the backup's description.");
            try
            {
                await dynamo.CreateTableAsync(TableSchema.BuildCreateRequest(backup.Table, request.TableName), cancellationToken).ConfigureAwait(false);
            }
            catch (ResourceInUseException)
            {
                // Our CreateTable may have succeeded with its answer lost, and the SDK's retry then finds
                // the table; or someone created it since we looked. Either way it is checked as any
                // existing target is, below, once it is ACTIVE.
                existing = await TableSchema.TryDescribeAsync(dynamo, request.TableName, cancellationToken).ConfigureAwait(false);
            }
            catch (AmazonDynamoDBException e)
            {
                throw new BackupDRException(ErrorIds.TableCreationFailed, ErrorKind.InvalidOperation,
                    $"DynamoDB refused to create table '{request.TableName}' ({e.ErrorCode}): {e.Message}", request.TableName, e);
            }
            await TableSchema.WaitUntilActiveAsync(dynamo, request.TableName, TimeSpan.FromMinutes(30), cancellationToken).ConfigureAwait(false);
        }
        if (existing is not null)
        {
            string? mismatch = TableSchema.DescribeKeyMismatch(backup.Table, existing);
            if (mismatch is not null)
            {
                throw new BackupDRException(ErrorIds.KeySchemaMismatch, ErrorKind.InvalidData,
                    $"Cannot restore into '{request.TableName}': {mismatch}. Restore into a new table name instead.", request.TableName);
            }
            if (!request.Force && await HasItemsAsync(request.TableName, cancellationToken).ConfigureAwait(false))
            {
                throw new BackupDRException(ErrorIds.TargetTableNotEmpty, ErrorKind.ResourceExists,
                    $"Table '{request.TableName}' already holds items. Restore into a new table, or add -Force to write the backup's items over it (items with the same key are replaced, others are kept).",
                    request.TableName);
            }
        }

        // A standard write costs one unit per started KB: a guess of 1 KB items until DynamoDB says.
        var capacity = new CapacityLimiter(request.MaxWriteCapacityUnits, 1.0);
        var keyNames = backup.Table.KeySchema.Select(k => k.AttributeName).ToArray();
        var writer = new BatchWriter(writes, request.TableName, keyNames, _retry, capacity);
        long written = await WriteItemsAsync(backup, request, writer, cancellationToken).ConfigureAwait(false);
        if (written != backup.Summary.ItemCount)
        {
            throw new BackupDRException(ErrorIds.ItemsNotWritten, ErrorKind.WriteError,
                $"{written} items were written to '{request.TableName}' but the backup holds {backup.Summary.ItemCount}.", request.TableName);
        }
        host.Verbose($"Restored {written} items into '{request.TableName}'.");
        return new RestoreResult
        {
            TableName = request.TableName,
            SourceUri = folder.Uri,
            BackupId = backup.Summary.BackupId,
            SourceTableName = backup.Summary.TableName,
            ItemsWritten = written,
            TableCreated = created,
            StartTime = start,
            EndTime = DateTimeOffset.UtcNow,
            ConsumedWriteCapacityUnits = capacity.ServiceReportsCapacity ? capacity.Consumed : null,
            WriteDuration = writer.ActiveTime,
        };
    }

    private async Task<LoadedBackup> VerifyAsync(BackupFolder folder, bool force, CancellationToken cancellationToken)
    {
        // Every stored byte is checked against the committed manifest before the first write; items are
        // parsed strictly as they are written, and each file's count and hash are checked again then.
        host.Verbose($"Verifying {folder.Uri} (every file's size and checksum) before restoring.");
        var (report, loaded) = await new IntegrityChecker(folder, host).CheckAsync(IntegrityLevel.Full, parseItems: false, cancellationToken).ConfigureAwait(false);
        if (!report.IsCommitted && !force)
        {
            throw new BackupDRException(ErrorIds.BackupNotCommitted, ErrorKind.InvalidData,
                $"The backup at {folder.Uri} has no commit marker: it never finished, so it may be missing items. " +
                "Restore a committed backup, or add -Force to restore what this one holds.", folder.Uri);
        }
        var blocking = report.Problems.Where(p => !(force && p.Code == ProblemCodes.MissingCommitMarker)).ToList();
        if (blocking.FirstOrDefault(p => p.Code == ProblemCodes.UnsupportedFormatVersion) is { } version)
        {
            throw new BackupDRException(ErrorIds.UnsupportedFormatVersion, ErrorKind.InvalidData, version.Message, folder.Uri);
        }
        if (blocking.Count > 0 || loaded is null)
        {
            string problems = string.Join(Environment.NewLine, blocking.Take(20).Select(p => "  " + p));
            throw new BackupDRException(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData,
                $"The backup at {folder.Uri} failed verification; nothing was written. Problems:{Environment.NewLine}{problems}", folder.Uri);
        }
        return loaded;
    }

    private async Task<bool> HasItemsAsync(string tableName, CancellationToken cancellationToken)
    {
        var page = await dynamo.ScanAsync(new ScanRequest { TableName = tableName, Limit = 1 }, cancellationToken).ConfigureAwait(false);
        return page.Items is { Count: > 0 } || page.LastEvaluatedKey is { Count: > 0 };
    }

    private async Task<long> WriteItemsAsync(LoadedBackup backup, RestoreRequest request, BatchWriter writer, CancellationToken cancellationToken)
    {
        var keyNames = backup.Table.KeySchema.Select(k => k.AttributeName).ToArray();
        int queue = request.Pipeline.RestoreQueueBatches > 0 ? request.Pipeline.RestoreQueueBatches : request.Parallelism * 4;
        var batches = Channel.CreateBounded<List<ReadOnlyMemory<byte>>>(new BoundedChannelOptions(queue)
        {
            SingleReader = false,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
        long written = 0;
        long total = backup.Summary.ItemCount;
        int readers = Math.Clamp(backup.Files.Count, 1, request.Pipeline.RestoreReaders);
        var fileQueue = new System.Collections.Concurrent.ConcurrentQueue<DataFileEntry>(backup.Files);
        int readersLeft = readers;

        await Parallel.RunAllOrNoneAsync(readers + request.Parallelism, async (worker, token) =>
        {
            if (worker < readers)
            {
                try
                {
                    while (fileQueue.TryDequeue(out var file))
                    {
                        await ReadFileAsync(backup.Folder, file, keyNames, batches.Writer, token).ConfigureAwait(false);
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
                    await writer.WriteAsync(batch, token).ConfigureAwait(false);
                    long n = Interlocked.Add(ref written, batch.Count);
                    host.Progress(new OperationProgress(3, $"Restoring into table {request.TableName}", $"{n:N0} of {total:N0} items",
                        total > 0 ? (int)Math.Min(100, n * 100 / total) : -1));
                }
            }
            return 0;
        }, cancellationToken).ConfigureAwait(false);
        host.Progress(new OperationProgress(3, $"Restoring into table {request.TableName}", "done", 100, Completed: true));
        return written;
    }

    private static async Task ReadFileAsync(BackupFolder folder, DataFileEntry file, string[] keyNames,
        ChannelWriter<List<ReadOnlyMemory<byte>>> batches, CancellationToken cancellationToken)
    {
        var reader = await DataFileReader.OpenAsync(folder, file, cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            // Items go to DynamoDB as the bytes the backup holds, after the same strict checks as Full validation.
            var validator = new RecordValidator(keyNames);
            var batch = new List<ReadOnlyMemory<byte>>(BatchWriter.MaxBatch);
            var keysInBatch = new HashSet<string>(StringComparer.Ordinal);
            long items = 0;
            while (await ReadLineAsync(reader, file, folder, cancellationToken).ConfigureAwait(false) is { } line)
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
                    throw PartlyWritten(folder, file, $"line {reader.LineNumber} is not a valid record ({e.Message})");
                }
                items++;
                // BatchWriteItem rejects a batch that names one key twice; a repeated key starts a new batch.
                if (batch.Count == BatchWriter.MaxBatch || !keysInBatch.Add(key))
                {
                    await batches.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
                    batch = new List<ReadOnlyMemory<byte>>(BatchWriter.MaxBatch);
                    keysInBatch.Clear();
                    keysInBatch.Add(key);
                }
                batch.Add(line[item].ToArray());
            }
            if (batch.Count > 0) await batches.WriteAsync(batch, cancellationToken).ConfigureAwait(false);

            // The file was verified before the restore began; it must still be the same file.
            var (sha256, _, _) = await reader.FinishAsync(cancellationToken).ConfigureAwait(false);
            if (sha256 != file.Sha256Checksum)
            {
                throw PartlyWritten(folder, file, "it changed while it was being restored (its SHA-256 no longer matches the manifest)");
            }
            if (items != file.ItemCount)
            {
                throw PartlyWritten(folder, file, $"it holds {items} items, the manifest says {file.ItemCount}");
            }
        }
    }

    private static async ValueTask<ReadOnlyMemory<byte>?> ReadLineAsync(DataFileReader reader, DataFileEntry file, BackupFolder folder, CancellationToken cancellationToken)
    {
        try
        {
            return await reader.NextLineAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidDataException e)
        {
            throw PartlyWritten(folder, file, $"it cannot be decompressed after line {reader.LineNumber} ({e.Message})");
        }
    }

    private static BackupDRException PartlyWritten(BackupFolder folder, DataFileEntry file, string problem) =>
        new(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData,
            $"{file.DataFile} failed while it was being restored: {problem}. The target table may be partly written; " +
            "check the backup with Test-BackupIntegrity -Level Full, then restore again with -Force.", folder.Uri);
}
