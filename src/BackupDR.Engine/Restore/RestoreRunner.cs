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
/// verified in full (every byte hashed, every item parsed), the target's key schema must match, a
/// non-empty target needs a mode that says what to do with its items, and what that mode would
/// overwrite or delete is counted and asked about once. Progress is checkpointed, so an interrupted
/// restore resumes; what a checkpoint claims is verified against the table, never trusted.
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
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, $"{Say.Option("parallelism")} must be between 1 and 64.", null);
        }
        if (request.MaxWriteCapacityUnits < 0 || double.IsNaN(request.MaxWriteCapacityUnits) || double.IsInfinity(request.MaxWriteCapacityUnits))
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, $"{Say.Option("max-write-capacity-units")} must be a positive number (or 0 for no cap).", null);
        }
        request.Pipeline.Validate();
        AwsClientFactory.ValidateRegion(request.Aws.Region);
        var location = BackupLocation.Parse(request.Uri);
        var aws = new AwsClientFactory(request.Aws);
        if (request.SourceAws is { } sourceAws) AwsClientFactory.ValidateRegion(sourceAws.Region);
        using var dynamo = aws.CreateDynamoDB();
        using var wire = DynamoWireClient.For(dynamo, aws);
        // The backup is read as the source identity when one is given (another account's or region's bucket); the table written as this one.
        using var folder = BackupFolder.Open(location, request.SourceAws is { } source ? new AwsClientFactory(source) : aws);
        try
        {
            if (request.Engine == RestoreEngine.Import) return await new ImportRestore(dynamo, host).RunAsync(folder, request, cancellationToken).ConfigureAwait(false);
            if (request.Engine == RestoreEngine.Lambda) return await new FanOutRestore(dynamo, host).RunAsync(folder, request, cancellationToken).ConfigureAwait(false);
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

        // The backup's metadata, then the target: cheap refusals before the backup is read in full.
        var checker = new IntegrityChecker(folder, host, new ReadOptions(request.PointInTime, request.AllowGaps));
        var report = new IntegrityReport { Uri = folder.Uri, Level = IntegrityLevel.Full };
        host.Verbose($"Verifying {folder.Uri} (every file's size, checksums and items) before restoring.");
        var backup = RefuseUnusable(folder, report, await checker.CheckMetadataAsync(report, cancellationToken).ConfigureAwait(false), request.Force);
        if (request.FileSubset is { } subset) backup = Share(backup, subset, request.TableName);
        var existing = await TableSchema.TryDescribeAsync(dynamo, request.TableName, cancellationToken).ConfigureAwait(false);
        await ResolveKeySchemaAsync(backup, existing, request, cancellationToken).ConfigureAwait(false);
        if (existing is not null) CheckKeySchema(backup, existing, request.TableName);
        var apply = ApplyOf(backup, existing, request);
        string target = TargetIdentity();
        // A fan-out worker's checkpoint is its own: the same backup and table, its files.
        string checkpointKey = checkpoints.KeyFor(request.FileSubset is { } files ? $"{folder.Uri}#{ShareId(files)}" : folder.Uri, request.TableName, target);
        var previous = await checkpoints.LoadAsync(checkpointKey, cancellationToken).ConfigureAwait(false);
        bool resumed = request.Resume && previous is not null;
        RestoreCheckpoint checkpoint;
        if (resumed)
        {
            checkpoint = ResumeFrom(previous!, backup, folder.Uri, request, target, checkpoints.UriOf(checkpointKey));
        }
        else
        {
            checkpoint = new RestoreCheckpoint
            {
                BackupUri = folder.Uri, BackupId = backup.Summary.BackupId, ManifestSummarySha256 = backup.SummarySha256,
                TableName = request.TableName, Target = target, Mode = request.Mode ?? RestoreMode.New, StartedAt = start,
            };
        }
        var mode = checkpoint.Mode;
        if (apply != ApplyKind.Restore && request.Mode is not null)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"An incremental export is applied to the table as it is (its puts and deletes); it takes no mode. Leave out {Say.Mode(request.Mode)}.", request.TableName);
        }
        if ((backup.Format == Format.SourceFormat.NativeExportChain || backup.Stages.Count > 0) && mode != RestoreMode.New)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"A chain of exports is restored into a new or empty table; {Say.Mode(mode)} is not supported for it. Restore into a new table name.", request.TableName);
        }
        if (mode == RestoreMode.Exact && !request.Force && backup.Summary.TableName != request.TableName)
        {
            throw new BackupDRException(ErrorIds.TargetTableMismatch, ErrorKind.InvalidArgument,
                $"The backup is of table '{backup.Summary.TableName}', not '{request.TableName}': an Exact restore would make '{request.TableName}' a copy of another table, " +
                $"deleting what the backup does not hold. Nothing was changed. Check the table name, or add {Say.Force} if that is what you mean.", request.TableName);
        }
        bool hasItems = existing is not null && await HasItemsAsync(request.TableName, cancellationToken).ConfigureAwait(false);
        if (!resumed && hasItems && apply == ApplyKind.Restore && (request.Resume || mode == RestoreMode.New) && request.FileSubset is null)
        {
            throw NotEmpty(folder, request, previous is not null, checkpoints.UriOf(checkpointKey));
        }

        // Every byte and item of the backup, before anything is written; the keys too when the
        // target's items must be counted against them.
        bool survey = hasItems && apply == ApplyKind.Restore && mode is RestoreMode.Upsert or RestoreMode.Exact;
        var backupKeys = survey ? new HashSet<UInt128>() : null;
        await checker.CheckDataAsync(report, backup, parseItems: true,
            backupKeys is null ? null : key => { var hash = ItemHash.Of(System.Text.Encoding.UTF8.GetBytes(key)); lock (backupKeys) backupKeys.Add(hash); },
            cancellationToken).ConfigureAwait(false);
        RefuseUnusable(folder, report, backup, request.Force);

        // What the restore would do to the table's items, asked about once, before the first write.
        var keyNames = backup.Table.KeySchema.Select(k => k.AttributeName).ToArray();
        var counted = survey
            ? await new TargetSurvey(dynamo, request.TableName, keyNames, request.Parallelism).CountAsync(backupKeys!, mode == RestoreMode.Exact, cancellationToken).ConfigureAwait(false)
            : null;
        if (apply == ApplyKind.Restore)
        {
            await ConfirmAsync(folder, backup, request, mode, existing is null, resumed, counted, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await ConfirmChangesAsync(backup, request, apply, checker.Changes, resumed, cancellationToken).ConfigureAwait(false);
        }

        // The checkpoint exists before anything is written, table creation included: a restore killed
        // from here on can always be resumed.
        await checkpoints.SaveAsync(checkpointKey, checkpoint, cancellationToken).ConfigureAwait(false);
        bool created = existing is null;
        if (created)
        {
            await CreateTableAsync(backup, request.TableName, request.KmsKeyId, cancellationToken).ConfigureAwait(false);
            await new TableSettings(dynamo, host).ApplyAsync(backup.Table, request.TableName, cancellationToken).ConfigureAwait(false);
        }
        if (existing is not null && existing.TableStatus != TableStatus.ACTIVE)
        {
            await TableSchema.WaitUntilActiveAsync(dynamo, request.TableName, TimeSpan.FromMinutes(30), cancellationToken).ConfigureAwait(false);
        }

        // A standard write costs one unit per started KB: a guess of 1 KB items until DynamoDB says.
        var capacity = new CapacityLimiter(request.MaxWriteCapacityUnits, 1.0, request.Time);
        var writer = new BatchWriter(writes, request.TableName, keyNames, _retry, capacity);
        var tracker = new ProgressTracker(backup.Files.Select(f => f.DataFile), checkpoint.Files);
        long verifiedClaims = 0, repairedClaims = 0;
        await using (var saver = new CheckpointSaver(checkpoints, checkpointKey, checkpoint, tracker, request.CheckpointInterval, host))
        {
            try
            {
                // A chain's exports strictly one after another: a later export's state of an item wins.
                foreach (var stage in backup.InOrder)
                {
                    var pipeline = new RestorePipeline(stage, request.TableName, mode, writes, writer, capacity, tracker, host,
                        apply == ApplyKind.Revert ? ChangeDirection.Revert : ChangeDirection.Apply);
                    await pipeline.RunAsync(request.Parallelism, request.Pipeline, _ => saver.SaveNowAsync(cancellationToken), cancellationToken).ConfigureAwait(false);
                    verifiedClaims += pipeline.ItemsVerified;
                    repairedClaims += pipeline.ItemsRepaired;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || cancellationToken.IsCancellationRequested)
            {
                await saver.SaveLastAsync().ConfigureAwait(false);
                throw Resumable(e, request, checkpoints.UriOf(checkpointKey));
            }
            await saver.SaveNowAsync(cancellationToken).ConfigureAwait(false);
        }
        var done = tracker.Snapshot();
        long written = done.Values.Sum(f => f.Written), skipped = done.Values.Sum(f => f.Skipped), changeDeletes = done.Values.Sum(f => f.Deleted);
        if (written + skipped + changeDeletes != backup.Summary.ItemCount)
        {
            throw new BackupDRException(ErrorIds.ItemsNotWritten, ErrorKind.WriteError,
                $"{written + skipped + changeDeletes} records were applied to '{request.TableName}' but the backup holds {backup.Summary.ItemCount}. Run the restore again with {Say.Resume}.", request.TableName);
        }

        long deleted = changeDeletes;
        if (counted is { Deletes: > 0 })
        {
            checkpoint.Phase = RestoreCheckpoint.Phases.Deleting;
            checkpoint.Files = done;
            await checkpoints.SaveAsync(checkpointKey, checkpoint, cancellationToken).ConfigureAwait(false);
            deleted += await new TargetSurvey(dynamo, request.TableName, keyNames, request.Parallelism).DeleteAsync(counted.ToDelete, writer, cancellationToken).ConfigureAwait(false);
            host.Verbose($"Deleted {deleted:N0} item(s) from '{request.TableName}' that are not in the backup.");
        }
        await checkpoints.DeleteAsync(checkpointKey, cancellationToken).ConfigureAwait(false);
        host.Verbose($"Restored {written + skipped + changeDeletes} records into '{request.TableName}' ({(apply == ApplyKind.Restore ? mode.ToString() : apply.ToString())}: {written} written, {skipped} already there, {deleted} deleted" +
                     (resumed ? $"; of the records the checkpoint counted, {verifiedClaims} were verified in the table and {repairedClaims} applied again" : "") + ").");
        return new RestoreResult
        {
            TableName = request.TableName,
            SourceUri = folder.Uri,
            BackupUri = backup.Folder.Uri,
            BackupId = backup.Summary.BackupId,
            SourceTableName = backup.Summary.TableName,
            PointInTime = backup.PointInTime,
            SummarySha256 = backup.InOrder[^1].SummarySha256,   // the restored backup's own summary (of a chain, its last backup's), as its records are bound to
            Format = backup.Format,
            Losses = backup.Losses,
            Mode = apply == ApplyKind.Restore ? mode : RestoreMode.Upsert,
            ItemsWritten = written,
            ItemsSkipped = skipped,
            ItemsDeleted = deleted,
            ItemsOverwritten = counted?.Overwrites ?? 0,
            ItemsVerified = verifiedClaims,
            ItemsRepaired = repairedClaims,
            Resumed = resumed,
            TableCreated = created,
            StartTime = start,
            EndTime = DateTimeOffset.UtcNow,
            ConsumedWriteCapacityUnits = capacity.ServiceReportsCapacity ? capacity.Consumed : null,
            WriteDuration = writer.ActiveTime,
        };
    }

    /// <summary>
    /// The one question before the first write: "may I?" (the host's ShouldProcess), then, when the
    /// restore would overwrite or delete items the table already holds and the request did not force
    /// it, "are you sure?" with the counts. Either answered no: nothing is written.
    /// </summary>
    private async Task ConfirmAsync(BackupFolder folder, LoadedBackup backup, RestoreRequest request, RestoreMode mode, bool newTable, bool resumed,
        TargetSurvey.Result? counted, CancellationToken cancellationToken)
    {
        string table = $"table '{request.TableName}'";
        string items = $"{backup.Summary.ItemCount:N0} item(s) of backup {backup.Summary.BackupId} (table '{backup.Summary.TableName}')";
        string effect = counted is null ? "" : Effect(counted);
        string action = (resumed ? "Resume restoring " : "Restore ") + items + (newTable ? " into a new table" : "") + (effect.Length > 0 ? ", which " + effect : "");
        if (!await host.ConfirmAsync(table, action, cancellationToken).ConfigureAwait(false))
        {
            throw NotConfirmed(request, "Nothing was written.");
        }
        if (counted is null || effect.Length == 0 || request.Force) return;
        string samples = counted.DeleteSamples.Count > 0 ? $" Items to delete include {string.Join(", ", counted.DeleteSamples)}." : "";
        string question = $"Table '{request.TableName}' holds {counted.TableItems:N0} item(s). Restoring {items} in {mode} mode {effect}.{samples} Continue?";
        if (!await host.ConfirmDangerAsync(table, question, cancellationToken).ConfigureAwait(false))
        {
            throw NotConfirmed(request, $"Restoring would have {Effect(counted, pastTense: true)} of table '{request.TableName}'; it was not confirmed, so nothing was written. " +
                                         $"Confirm it when asked, or add {Say.Force} to proceed without asking.");
        }

        static string Effect(TargetSurvey.Result counted, bool pastTense = false)
        {
            var parts = new List<string>();
            if (counted.Overwrites > 0) parts.Add($"{(pastTense ? "overwritten" : "overwrites")} {counted.Overwrites:N0} item(s) that share a key with the backup");
            if (counted.Deletes > 0) parts.Add($"{(pastTense ? "deleted" : "deletes")} {counted.Deletes:N0} item(s) the backup does not hold");
            return string.Join(" and ", parts);
        }
    }

    /// <summary>What the restore does with the backup's records.</summary>
    private enum ApplyKind
    {
        /// <summary>Items (a backup, a full export, a chain) restored in a mode.</summary>
        Restore,

        /// <summary>An incremental export's puts and deletes applied to the table.</summary>
        Apply,

        /// <summary>An incremental export's window undone: its inserts deleted, the rest put back as they were.</summary>
        Revert,
    }

    private static ApplyKind ApplyOf(LoadedBackup backup, TableDescription? existing, RestoreRequest request)
    {
        bool incremental = backup.Records == Format.RecordKind.Change && backup.Stages.Count == 0;
        if (request.Revert && !incremental)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"{Say.Revert} undoes one incremental export; {backup.Folder.Uri} holds {(backup.Format == Format.SourceFormat.NativeExportChain ? "a chain of exports" : "no incremental export")}. Give one incremental export's folder.", request.TableName);
        }
        if (!incremental) return ApplyKind.Restore;
        if (existing is null)
        {
            throw new BackupDRException(ErrorIds.TableNotFound, ErrorKind.ObjectNotFound,
                $"Table '{request.TableName}' does not exist. An incremental export holds changes, not a table: apply it to the table it continues, " +
                "or restore the folder of exports (the full export and its incrementals) into a new table. Nothing was written.", request.TableName);
        }
        if (request.Revert && backup.OutputView != Format.NativeExport.NewAndOldImages)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"Export {backup.Summary.BackupId} was taken with {backup.OutputView}: it holds no item's state before its window, so it cannot be undone. " +
                $"{Say.Revert} needs an export taken with {Format.NativeExport.NewAndOldImages}. Nothing was written.", request.TableName);
        }
        return request.Revert ? ApplyKind.Revert : ApplyKind.Apply;
    }

    /// <summary>
    /// A backup that does not record its key schema (a native export) gets the target table's, or the
    /// one the request gives; with neither, the restore cannot proceed, and the message offers the
    /// source table's key when that table still exists. A request's key schema must match what is known.
    /// </summary>
    private async Task ResolveKeySchemaAsync(LoadedBackup backup, TableDescription? existing, RestoreRequest request, CancellationToken cancellationToken)
    {
        TableDescriptionDoc? given = request.KeySchema is { Count: > 0 } keys ? KeySchemas.ToDoc(keys, backup.Table) : null;
        if (backup.KeySchemaRecorded)
        {
            if (given is not null && KeySchemas.Describe(given) != KeySchemas.Describe(backup.Table))
            {
                throw new BackupDRException(ErrorIds.KeySchemaMismatch, ErrorKind.InvalidArgument,
                    $"The backup records its table's key, [{KeySchemas.Describe(backup.Table)}], and {Say.KeySchema} gives [{KeySchemas.Describe(given)}]. Leave {Say.KeySchema} out. Nothing was written.", request.TableName);
            }
            return;
        }
        TableDescriptionDoc resolved;
        if (existing is not null)
        {
            resolved = KeySchemas.FromTable(existing, backup.Table);
            if (given is not null && KeySchemas.Describe(given) != KeySchemas.Describe(resolved))
            {
                throw new BackupDRException(ErrorIds.KeySchemaMismatch, ErrorKind.InvalidData,
                    $"Cannot restore into '{request.TableName}': its key is [{KeySchemas.Describe(resolved)}] but {Say.KeySchema} gives [{KeySchemas.Describe(given)}]. Nothing was written.", request.TableName);
            }
        }
        else if (given is not null)
        {
            resolved = given;
        }
        else
        {
            string offer = "";
            if (backup.Summary.TableName is { Length: > 0 } source)
            {
                try
                {
                    if (await TableSchema.TryDescribeAsync(dynamo, source, cancellationToken).ConfigureAwait(false) is { } sourceTable)
                    {
                        offer = $" Table '{source}', which the backup is of, exists here with the key [{KeySchemas.Describe(KeySchemas.FromTable(sourceTable, backup.Table))}]: " +
                                $"give {Say.Option(Say.Names.KeySchema, KeySchemas.Text(KeySchemas.FromTable(sourceTable, backup.Table)))} to use it.";
                    }
                }
                catch (AmazonDynamoDBException)
                {
                    // Not allowed to describe it, or it is elsewhere: nothing to offer.
                }
            }
            throw new BackupDRException(ErrorIds.KeySchemaRequired, ErrorKind.InvalidArgument,
                $"{backup.Folder.Uri} ({backup.Format}) does not record its table's key schema, and table '{request.TableName}' does not exist. " +
                $"Give the key with {Say.KeySchema} (the partition key, then the sort key if any, each with its type S, N or B), or restore into an existing table with the same key.{offer} Nothing was written.",
                request.TableName);
        }
        backup.Table = resolved;
        foreach (var stage in backup.Stages) stage.Table = resolved;
    }

    /// <summary>
    /// An incremental export changes items an existing table holds: "may I?" with the counts, then,
    /// unless forced, "are you sure?" — the puts overwrite the table's items with the same key, the
    /// deletes remove them.
    /// </summary>
    private async Task ConfirmChangesAsync(LoadedBackup backup, RestoreRequest request, ApplyKind apply, ChangeTally tally, bool resumed, CancellationToken cancellationToken)
    {
        long puts = apply == ApplyKind.Revert ? tally.Updates + tally.Deletes : tally.Inserts + tally.Updates;
        long deletes = apply == ApplyKind.Revert ? tally.Inserts : tally.Deletes;
        string table = $"table '{request.TableName}'";
        string what = apply == ApplyKind.Revert
            ? $"Undo export {backup.Summary.BackupId} (table '{backup.Summary.TableName}', {backup.FromTime:u} to {backup.PointInTime:u})"
            : $"Apply export {backup.Summary.BackupId} (table '{backup.Summary.TableName}', changes from {backup.FromTime:u} to {backup.PointInTime:u})";
        string effect = $"putting {puts:N0} item(s) (over any item with the same key) and deleting {deletes:N0}";
        if (!await host.ConfirmAsync(table, (resumed ? "Resume: " : "") + what + ": " + effect, cancellationToken).ConfigureAwait(false))
        {
            throw NotConfirmed(request, "Nothing was written.");
        }
        if (request.Force || puts + deletes == 0) return;
        if (!await host.ConfirmDangerAsync(table, $"{what} to table '{request.TableName}', {effect}. Continue?", cancellationToken).ConfigureAwait(false))
        {
            throw NotConfirmed(request, $"Applying the export would have put {puts:N0} and deleted {deletes:N0} item(s) of table '{request.TableName}'; it was not confirmed, so nothing was written. " +
                                         $"Confirm it when asked, or add {Say.Force} to proceed without asking.");
        }
    }

    private static BackupDRException NotConfirmed(RestoreRequest request, string message) =>
        new(ErrorIds.NotConfirmed, ErrorKind.OperationStopped, message, request.TableName);

    private static BackupDRException NotEmpty(BackupFolder folder, RestoreRequest request, bool interrupted, string checkpoint)
    {
        if (request.Resume)
        {
            return new BackupDRException(ErrorIds.CheckpointNotFound, ErrorKind.ObjectNotFound,
                $"There is no checkpoint of a restore of {folder.Uri} into '{request.TableName}' at {checkpoint}, and the table already holds items. " +
                $"If the restore used another {Say.CheckpointLocation}, give it; otherwise restore without {Say.Resume}, with {Say.Mode("Upsert")}, MissingOnly or Exact.", request.TableName);
        }
        string hint = interrupted
            ? $"An interrupted restore of this backup into it was found ({checkpoint}): add {Say.Resume} to finish it. Otherwise restore into a new table, "
            : "Restore into a new table, ";
        return new BackupDRException(ErrorIds.TargetTableNotEmpty, ErrorKind.ResourceExists,
            $"Table '{request.TableName}' already holds items. {hint}or choose {Say.Mode("Upsert")} (write every backup item over it), MissingOnly (write only the keys it lacks) or Exact (make it equal to the backup).",
            request.TableName);
    }

    /// <summary>A fan-out worker's share of a backup: only the files named (each must be the backup's), counted as such.</summary>
    private static LoadedBackup Share(LoadedBackup backup, IReadOnlyList<string> files, string table)
    {
        if (backup.Stages.Count > 0 || backup.Format != Format.SourceFormat.BackupDR)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, "A share of a restore is of a single BackupDR backup's data files.", table);
        }
        var wanted = new HashSet<string>(files, StringComparer.Ordinal);
        var mine = backup.Files.Where(f => wanted.Contains(f.DataFile)).ToList();
        if (mine.Count != wanted.Count || wanted.Count == 0)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"A share names {wanted.Count - mine.Count} data file(s) the backup does not list, or none: {string.Join(", ", wanted.Except(mine.Select(f => f.DataFile)).Take(3).Select(Storage.UnsafeKeyException.Printable))}.", table);
        }
        var s = backup.Summary;
        var summary = new Format.ManifestSummary
        {
            FormatVersion = s.FormatVersion, BackupId = s.BackupId, TableName = s.TableName, TableArn = s.TableArn, StartTime = s.StartTime, EndTime = s.EndTime,
            ItemCount = mine.Sum(f => f.ItemCount), DataFileCount = mine.Count, SizeBytes = mine.Sum(f => f.SizeBytes), UncompressedSizeBytes = mine.Sum(f => f.UncompressedSizeBytes),
        };
        return new LoadedBackup
        {
            Folder = backup.Folder, Summary = summary, Files = mine, Table = backup.Table, IsCommitted = backup.IsCommitted, SummarySha256 = backup.SummarySha256, Format = backup.Format,
        };
    }

    internal static string ShareId(IReadOnlyList<string> files) =>
        Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", files.Order(StringComparer.Ordinal)))), 0, 8).ToLowerInvariant();

    private CheckpointStore OpenCheckpoints(RestoreRequest request) =>
        new(BackupFolder.Open(BackupLocation.Parse(request.CheckpointUri ?? CheckpointStore.DefaultLocation), new AwsClientFactory(request.Aws)));

    /// <summary>The endpoint (or region) of the DynamoDB the table lives in: the same table name elsewhere is another restore.</summary>
    private string TargetIdentity() => dynamo is AmazonDynamoDBClient client
        ? client.DetermineServiceOperationEndpoint(new DescribeTableRequest { TableName = "t" }).URL
        : dynamo.Config.RegionEndpoint?.SystemName ?? "dynamodb";

    /// <summary>
    /// The checkpoint of an interrupted restore, if it is one of this backup (its committed state),
    /// into this table at this endpoint, with figures that fit the backup. What it claims is verified
    /// while the restore runs (<see cref="RestorePipeline"/>).
    /// </summary>
    private static RestoreCheckpoint ResumeFrom(RestoreCheckpoint previous, LoadedBackup backup, string backupUri, RestoreRequest request, string target, string where)
    {
        if (previous.ManifestSummarySha256 != backup.SummarySha256 || previous.BackupId != backup.Summary.BackupId
            || previous.BackupUri.TrimEnd('/') != backupUri.TrimEnd('/') || previous.TableName != request.TableName || previous.Target != target)
        {
            throw new BackupDRException(ErrorIds.CheckpointMismatch, ErrorKind.InvalidData,
                $"The checkpoint {where} is not one of a restore of this state of {backupUri} into '{request.TableName}' at {target} (another backup, table or endpoint, " +
                "or the backup's manifest changed since the restore began); nothing was written. " +
                $"Restore again without {Say.Resume}, with {Say.Mode("Upsert")}: items already written are written again, none is lost.", request.TableName);
        }
        var files = backup.Files.ToDictionary(f => f.DataFile, f => f.ItemCount, StringComparer.Ordinal);
        foreach (var (file, progress) in previous.Files)
        {
            if (!files.TryGetValue(file, out long items) || progress.Items < 0 || progress.Items > items || progress.Written < 0 || progress.Skipped < 0
                || progress.Deleted < 0 || progress.Written + progress.Skipped + progress.Deleted != progress.Items)
            {
                throw new BackupDRException(ErrorIds.CheckpointInvalid, ErrorKind.InvalidData,
                    $"The checkpoint {where} records progress that cannot be true of this backup ('{UnsafeKeyException.Printable(file)}': {progress.Items} done, {progress.Written} written, {progress.Skipped} skipped); nothing was written. " +
                    $"Delete it and restore again with {Say.Mode("Upsert")}: items already written are written again, none is lost.", request.TableName);
            }
        }
        if (!Enum.IsDefined(previous.Mode))
        {
            throw new BackupDRException(ErrorIds.CheckpointInvalid, ErrorKind.InvalidData, $"The checkpoint {where} records no restore mode BackupDR knows; nothing was written.", request.TableName);
        }
        if (request.Mode is RestoreMode asked && asked != previous.Mode)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"{Say.Mode(asked)} conflicts with the interrupted restore, which ran with {Say.Mode(previous.Mode)}. Resume without naming a mode (it continues as {previous.Mode}).", request.TableName);
        }
        return previous;
    }

    internal static void CheckKeySchema(LoadedBackup backup, TableDescription existing, string tableName)
    {
        string? mismatch = TableSchema.DescribeKeyMismatch(backup.Table, existing);
        if (mismatch is not null)
        {
            throw new BackupDRException(ErrorIds.KeySchemaMismatch, ErrorKind.InvalidData,
                $"Cannot restore into '{tableName}': {mismatch}. Restore into a new table name instead.", tableName);
        }
    }

    private Task CreateTableAsync(LoadedBackup backup, string tableName, string? kmsKeyId, CancellationToken cancellationToken) =>
        TableCreation.CreateAsync(dynamo, host, backup.Table, tableName, kmsKeyId, found => CheckKeySchema(backup, found, tableName), cancellationToken);

    /// <summary>The failure, saying how to finish the restore: nothing done is lost, the checkpoint holds it.</summary>
    private static BackupDRException Resumable(Exception e, RestoreRequest request, string checkpoint)
    {
        var error = AwsErrors.Translate(e, request.TableName);
        string resume = $" The restore can be finished by running it again with {Say.Resume} (checkpoint: {checkpoint}).";
        return new BackupDRException(error.ErrorId, error.Kind, error.Message.TrimEnd() + resume, error.Target, error.InnerException ?? e);
    }

    /// <summary>
    /// Refuses, before anything is written, a backup that has no commit marker (unless forced), is of a
    /// newer format, or has any problem; returns the loaded backup otherwise.
    /// </summary>
    private static LoadedBackup RefuseUnusable(BackupFolder folder, IntegrityReport report, LoadedBackup? loaded, bool force)
    {
        if (!report.IsCommitted && report.Format != Format.SourceFormat.BackupDR && report.Problems.Any(p => p.Code == ProblemCodes.MissingCommitMarker))
        {
            throw new BackupDRException(ErrorIds.BackupNotCommitted, ErrorKind.InvalidData,
                $"The export at {folder.Uri} never finished (it has _started but no manifest-summary.json), so there is nothing proven to restore; nothing was written. Restore a finished export.", folder.Uri);
        }
        if (!report.IsCommitted && !force && report.Format == Format.SourceFormat.BackupDR)
        {
            throw new BackupDRException(ErrorIds.BackupNotCommitted, ErrorKind.InvalidData,
                $"The backup at {folder.Uri} has no commit marker: it never finished, so it may be missing items. " +
                $"Restore a committed backup, or add {Say.Force} to restore what this one holds.", folder.Uri);
        }
        var blocking = report.Problems.Where(p => !(force && p.Code == ProblemCodes.MissingCommitMarker)).ToList();
        if (blocking.FirstOrDefault(p => p.Code == ProblemCodes.UnsupportedFormatVersion) is { } version)
        {
            throw new BackupDRException(ErrorIds.UnsupportedFormatVersion, ErrorKind.InvalidData, version.Message, folder.Uri);
        }
        if (blocking.FirstOrDefault(p => p.Code == ProblemCodes.ExportChainGap) is { } gap)
        {
            throw new BackupDRException(ErrorIds.ExportChainGap, ErrorKind.InvalidData, gap.Message + " Nothing was written.", folder.Uri);
        }
        if (blocking.Count > 0 || loaded is null)
        {
            string problems = string.Join(Environment.NewLine, blocking.Take(20).Select(p => "  " + p));
            string more = report.ProblemCount > report.Problems.Count ? $"{Environment.NewLine}  … and {report.ProblemCount - report.Problems.Count} more" : "";
            throw new BackupDRException(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData,
                $"The backup at {folder.Uri} failed verification; nothing was written. Problems:{Environment.NewLine}{problems}{more}", folder.Uri);
        }
        return loaded;
    }

    private async Task<bool> HasItemsAsync(string tableName, CancellationToken cancellationToken)
    {
        var page = await dynamo.ScanAsync(new ScanRequest { TableName = tableName, Limit = 1 }, cancellationToken).ConfigureAwait(false);
        return page.Items is { Count: > 0 } || page.LastEvaluatedKey is { Count: > 0 };
    }
}
