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
/// verified in full, the target's key schema must match, and a non-empty target needs a mode that
/// says what to do with its items. Progress is checkpointed, so an interrupted restore resumes.
/// </summary>
public sealed class RestoreRunner
{
    private readonly IAmazonDynamoDB dynamo;
    private readonly IRestoreClient writes;
    private readonly IOperationHost host;
    private readonly RetryPolicy _retry;

    /// <param name="dynamo">Describes, creates and probes the target table.</param>
    /// <param name="writes">Sends the items (BatchWriteItem over the wire protocol; a seam for tests).</param>
    internal RestoreRunner(IAmazonDynamoDB dynamo, IRestoreClient writes, IOperationHost host, RetryPolicy? retry = null)
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
        TableSchema.ValidateName(request.TableName);
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
        using var checkpoints = OpenCheckpoints(request);
        await checkpoints.EnsureAvailableAsync(cancellationToken).ConfigureAwait(false);
        var backup = await VerifyAsync(folder, request.Force, cancellationToken).ConfigureAwait(false);
        string target = TargetIdentity();
        string checkpointKey = checkpoints.KeyFor(folder.Uri, request.TableName, target);
        var previous = await checkpoints.LoadAsync(checkpointKey, cancellationToken).ConfigureAwait(false);
        var existing = await TableSchema.TryDescribeAsync(dynamo, request.TableName, cancellationToken).ConfigureAwait(false);
        if (existing is not null) CheckKeySchema(backup, existing, request.TableName);
        bool resumed = request.Resume && previous is not null;
        RestoreCheckpoint checkpoint;
        if (resumed)
        {
            checkpoint = ResumeFrom(previous!, backup, request, checkpoints.UriOf(checkpointKey));
        }
        else
        {
            checkpoint = new RestoreCheckpoint
            {
                BackupUri = folder.Uri, BackupId = backup.Summary.BackupId, ManifestSummarySha256 = backup.SummarySha256,
                TableName = request.TableName, Target = target, Mode = request.Mode ?? RestoreMode.New, StartedAt = start,
            };
            // -Resume with nothing recorded: a missing or empty target has nothing to lose, so the restore
            // simply starts; one that holds items may hold a restore recorded elsewhere.
            bool checkItems = existing is not null && (request.Resume || checkpoint.Mode == RestoreMode.New);
            if (checkItems && await HasItemsAsync(request.TableName, cancellationToken).ConfigureAwait(false))
            {
                if (request.Resume)
                {
                    throw new BackupDRException(ErrorIds.CheckpointNotFound, ErrorKind.ObjectNotFound,
                        $"There is no checkpoint of a restore of {folder.Uri} into '{request.TableName}' at {checkpoints.UriOf(checkpointKey)}, and the table already holds items. " +
                        "If the restore used another -CheckpointUri, pass it; otherwise restore without -Resume, with -Mode Upsert, MissingOnly or Exact.", request.TableName);
                }
                string hint = previous is not null
                    ? $"An interrupted restore of this backup into it was found ({checkpoints.UriOf(checkpointKey)}): add -Resume to finish it. Otherwise restore into a new table, "
                    : "Restore into a new table, ";
                throw new BackupDRException(ErrorIds.TargetTableNotEmpty, ErrorKind.ResourceExists,
                    $"Table '{request.TableName}' already holds items. {hint}or choose -Mode Upsert (write every backup item over it), MissingOnly (write only the keys it lacks) or Exact (make it equal to the backup).",
                    request.TableName);
            }
        }
        var mode = checkpoint.Mode;

        // The checkpoint exists before anything is written, table creation included: a restore killed
        // from here on can always be resumed.
        await checkpoints.SaveAsync(checkpointKey, checkpoint, cancellationToken).ConfigureAwait(false);
        bool created = existing is null;
        if (created) await CreateTableAsync(backup, request.TableName, cancellationToken).ConfigureAwait(false);
        if (existing is not null && existing.TableStatus != TableStatus.ACTIVE)
        {
            await TableSchema.WaitUntilActiveAsync(dynamo, request.TableName, TimeSpan.FromMinutes(30), cancellationToken).ConfigureAwait(false);
        }

        // A standard write costs one unit per started KB: a guess of 1 KB items until DynamoDB says.
        var capacity = new CapacityLimiter(request.MaxWriteCapacityUnits, 1.0);
        var keyNames = backup.Table.KeySchema.Select(k => k.AttributeName).ToArray();
        var writer = new BatchWriter(writes, request.TableName, keyNames, _retry, capacity);
        var tracker = new ProgressTracker(backup.Files.Select(f => f.DataFile), checkpoint.Files);
        var pipeline = new RestorePipeline(backup, request.TableName, mode, writes, writer, capacity, tracker, host);
        await using (var saver = new CheckpointSaver(checkpoints, checkpointKey, checkpoint, tracker, request.CheckpointInterval, host))
        {
            try
            {
                await pipeline.RunAsync(request.Parallelism, request.Pipeline, _ => saver.SaveNowAsync(cancellationToken), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || cancellationToken.IsCancellationRequested)
            {
                await saver.SaveLastAsync().ConfigureAwait(false);
                throw Resumable(e, request, checkpoints.UriOf(checkpointKey));
            }
            await saver.SaveNowAsync(cancellationToken).ConfigureAwait(false);
        }
        var done = tracker.Snapshot();
        long written = done.Values.Sum(f => f.Written), skipped = done.Values.Sum(f => f.Skipped);
        if (written + skipped != backup.Summary.ItemCount)
        {
            throw new BackupDRException(ErrorIds.ItemsNotWritten, ErrorKind.WriteError,
                $"{written + skipped} items were restored into '{request.TableName}' but the backup holds {backup.Summary.ItemCount}. Run the restore again with -Resume.", request.TableName);
        }

        var removed = new ExtraItemRemover.Outcome(0, 0);
        if (mode == RestoreMode.Exact)
        {
            checkpoint.Phase = RestoreCheckpoint.Phases.Deleting;
            checkpoint.Files = done;
            await checkpoints.SaveAsync(checkpointKey, checkpoint, cancellationToken).ConfigureAwait(false);
            removed = await new ExtraItemRemover(dynamo, writer, request.TableName, keyNames, pipeline.BackupKeys!, request.Parallelism, host)
                .RunAsync(cancellationToken).ConfigureAwait(false);
        }
        await checkpoints.DeleteAsync(checkpointKey, cancellationToken).ConfigureAwait(false);
        host.Verbose($"Restored {written + skipped} items into '{request.TableName}' ({mode}: {written} written, {skipped} already there, {removed.Deleted} deleted).");
        return new RestoreResult
        {
            TableName = request.TableName,
            SourceUri = folder.Uri,
            BackupId = backup.Summary.BackupId,
            SourceTableName = backup.Summary.TableName,
            Mode = mode,
            ItemsWritten = written,
            ItemsSkipped = skipped,
            ItemsDeleted = removed.Deleted,
            ExtraItemsKept = removed.Kept,
            Resumed = resumed,
            TableCreated = created,
            StartTime = start,
            EndTime = DateTimeOffset.UtcNow,
            ConsumedWriteCapacityUnits = capacity.ServiceReportsCapacity ? capacity.Consumed : null,
            WriteDuration = writer.ActiveTime,
        };
    }

    private CheckpointStore OpenCheckpoints(RestoreRequest request)
    {
        var location = BackupLocation.Parse(request.CheckpointUri ?? CheckpointStore.DefaultLocation);
        if (!location.IsS3) LocalBackupStore.CreatePrivateFolder(location.LocalRoot!);
        return new CheckpointStore(BackupFolder.Open(location, new AwsClientFactory(request.Aws)));
    }

    /// <summary>The endpoint (or region) of the DynamoDB the table lives in: the same table name elsewhere is another restore.</summary>
    private string TargetIdentity() => dynamo is AmazonDynamoDBClient client
        ? client.DetermineServiceOperationEndpoint(new DescribeTableRequest { TableName = "t" }).URL
        : dynamo.Config.RegionEndpoint?.SystemName ?? "dynamodb";

    private static RestoreCheckpoint ResumeFrom(RestoreCheckpoint previous, LoadedBackup backup, RestoreRequest request, string where)
    {
        if (previous.ManifestSummarySha256 != backup.SummarySha256 || previous.BackupId != backup.Summary.BackupId)
        {
            throw new BackupDRException(ErrorIds.CheckpointMismatch, ErrorKind.InvalidData,
                $"The checkpoint {where} belongs to another state of this backup (its manifest changed since the restore began); nothing was written. " +
                "Restore again without -Resume, with -Mode Upsert: items already written are written again, none is lost.", request.TableName);
        }
        if (request.Mode is RestoreMode asked && asked != previous.Mode)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"-Mode {asked} conflicts with the interrupted restore, which ran as -Mode {previous.Mode}. Resume without -Mode (it continues as {previous.Mode}).", request.TableName);
        }
        return previous;
    }

    private static void CheckKeySchema(LoadedBackup backup, TableDescription existing, string tableName)
    {
        string? mismatch = TableSchema.DescribeKeyMismatch(backup.Table, existing);
        if (mismatch is not null)
        {
            throw new BackupDRException(ErrorIds.KeySchemaMismatch, ErrorKind.InvalidData,
                $"Cannot restore into '{tableName}': {mismatch}. Restore into a new table name instead.", tableName);
        }
    }

    /// <summary>Creates the table from the backup's description and waits until it is ACTIVE.</summary>
    private async Task CreateTableAsync(LoadedBackup backup, string tableName, CancellationToken cancellationToken)
    {
        host.Verbose($"Creating table '{tableName}' from the backup's description.");
        try
        {
            await dynamo.CreateTableAsync(TableSchema.BuildCreateRequest(backup.Table, tableName), cancellationToken).ConfigureAwait(false);
        }
        catch (ResourceInUseException)
        {
            // Our CreateTable may have succeeded with its answer lost, and the SDK's retry then finds the
            // table; or someone created it since we looked. Either way: the same checks as any existing target.
            var found = await TableSchema.TryDescribeAsync(dynamo, tableName, cancellationToken).ConfigureAwait(false);
            if (found is not null) CheckKeySchema(backup, found, tableName);
        }
        catch (AmazonDynamoDBException e)
        {
            throw new BackupDRException(ErrorIds.TableCreationFailed, ErrorKind.InvalidOperation,
                $"DynamoDB refused to create table '{tableName}' ({e.ErrorCode}): {e.Message}", tableName, e);
        }
        await TableSchema.WaitUntilActiveAsync(dynamo, tableName, TimeSpan.FromMinutes(30), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The failure, saying how to finish the restore: nothing done is lost, the checkpoint holds it.</summary>
    private static BackupDRException Resumable(Exception e, RestoreRequest request, string checkpoint)
    {
        var error = AwsErrors.Translate(e, request.TableName);
        string resume = $" The restore can be finished with the same command and -Resume (checkpoint: {checkpoint}).";
        return new BackupDRException(error.ErrorId, error.Kind, error.Message.TrimEnd() + resume, error.Target, error.InnerException ?? e);
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
}
