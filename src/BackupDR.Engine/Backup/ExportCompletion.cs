using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Tables;

namespace BackupDR.Engine.Backup;

/// <summary>
/// Finishes export backups whose run did not wait (<see cref="BackupRequest.DetachExport"/>): a backup folder with
/// DynamoDB's export in it and no commit marker. The export is asked of DynamoDB — never taken from the folder, which
/// anyone who can write the bucket could have written — and must be this backup's: its client token the backup id, its
/// bucket and prefix the backup's folder, its table the folder's table. Still running, it is left (or waited for, up to
/// a limit); failed, what it wrote is removed and the backup fails; completed, it is verified and committed as any
/// export backup (docs/format.md §13).
/// </summary>
public static class ExportCompletion
{
    public sealed class Outcome
    {
        /// <summary>Backups committed now.</summary>
        public List<BackupResult> Committed { get; } = [];

        /// <summary>Exports still running (Status "Exporting"): a later run finishes them.</summary>
        public List<BackupResult> Exporting { get; } = [];

        /// <summary>Backups that cannot be finished, each naming its folder and why.</summary>
        public List<BackupDRException> Failed { get; } = [];
    }

    /// <summary>How many unfinished backups of one table a run looks at; more is not a schedule's doing.</summary>
    public const int MaxPending = 100;

    /// <summary>
    /// The unfinished export backups of <paramref name="tables"/> under <paramref name="target"/> (or only
    /// <paramref name="backupId"/>), each finished when its export completed; <paramref name="wait"/> is how long a run
    /// polls one still running before leaving it for later.
    /// </summary>
    public static async Task<Outcome> FinishAsync(BackupLocation target, IReadOnlyList<string> tables, string? backupId, AwsOptions aws, IOperationHost host,
        TimeSpan wait, IBackupObserver? observer, CancellationToken ct)
    {
        if (!target.IsS3) throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, "DynamoDB's export writes to S3 only: give a bucket.", null);
        foreach (string table in tables) TableSchema.ValidateName(table);
        if (backupId is not null && !BackupFormat.IsBackupId(backupId))
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, $"'{UnsafeKeyException.Printable(backupId)}' is not a backup id.", null);
        }
        var factory = new AwsClientFactory(aws);
        using var dynamo = factory.CreateDynamoDB();
        using var root = BackupFolder.Open(target, factory);
        var outcome = new Outcome();
        foreach (string table in tables.Distinct(StringComparer.Ordinal))
        {
            // The table's ARN names its exports: described once per table, and only when a backup of it is pending.
            Task<string>? arn = null;
            Task<string> TableArn() => arn ??= DescribeTableArnAsync(dynamo, table, ct);
            foreach (var (id, exportIds) in await PendingAsync(root.Child(table), backupId, ct).ConfigureAwait(false))
            {
                var folder = root.Child(table).Child(id);
                var started = new BackupStart(table, id, folder.Uri, BackupFormat.StartOf(id) ?? DateTimeOffset.UtcNow);
                try
                {
                    if (await FinishOneAsync(dynamo, root, folder, started, exportIds, TableArn, host, wait, observer, ct).ConfigureAwait(false) is { } result)
                    {
                        (result.Status == ExportBackup.ExportingStatus ? outcome.Exporting : outcome.Committed).Add(result);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    outcome.Failed.Add(e as BackupDRException ?? AwsErrors.Translate(e, table));
                }
            }
        }
        return outcome;
    }

    /// <summary>How many backup ids one listing keeps (a table folder's backups, of any kind); past it the listing is not a schedule's doing.</summary>
    private const int MaxListed = 100_000;

    /// <summary>
    /// The table folder's backups without a commit marker that hold an export's folder (AWSDynamoDB/&lt;export id&gt;/),
    /// with those export ids: newest first, at most <see cref="MaxPending"/>, each marker's absence checked again.
    /// </summary>
    private static async Task<List<(string Id, List<string> ExportIds)>> PendingAsync(BackupFolder tableFolder, string? only, CancellationToken ct)
    {
        var committed = new HashSet<string>(StringComparer.Ordinal);
        var exports = new Dictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        string prefix = only is null ? tableFolder.Prefix : tableFolder.Child(only).Prefix;
        await foreach (var obj in tableFolder.Store.ListAsync(prefix, ct).ConfigureAwait(false))
        {
            string[] parts = obj.Key[tableFolder.Prefix.Length..].Split('/');
            if (parts.Length < 2 || !BackupFormat.IsBackupId(parts[0]) || obj.IsLink) continue;
            if (parts.Length == 2 && parts[1] == BackupFormat.CommitMarkerKey)
            {
                if (committed.Count < MaxListed) committed.Add(parts[0]);
            }
            else if (parts.Length >= 4 && parts[1] == "AWSDynamoDB" && Format.NativeExport.ExportId.IsMatch(parts[2]))
            {
                if (!exports.TryGetValue(parts[0], out var ids))
                {
                    if (exports.Count >= MaxListed) continue;
                    exports[parts[0]] = ids = new SortedSet<string>(StringComparer.Ordinal);
                }
                if (ids.Count < 3) ids.Add(parts[2]);
            }
        }
        var pending = new List<(string Id, List<string> ExportIds)>();
        foreach (var (id, ids) in exports.Where(e => !committed.Contains(e.Key)).OrderByDescending(e => e.Key, StringComparer.Ordinal))
        {
            if (await tableFolder.Store.HeadAsync(tableFolder.Child(id).Key(BackupFormat.CommitMarkerKey), ct).ConfigureAwait(false) is not null) continue;
            pending.Add((id, ids.ToList()));
            if (pending.Count == MaxPending) break;
        }
        return pending;
    }

    private static async Task<BackupResult?> FinishOneAsync(IAmazonDynamoDB dynamo, BackupFolder root, BackupFolder folder, BackupStart started, List<string> exportIds, Func<Task<string>> tableArn,
        IOperationHost host, TimeSpan wait, IBackupObserver? observer, CancellationToken ct)
    {
        if (exportIds.Count != 1)
        {
            throw new BackupDRException(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData,
                $"{folder.Uri} holds {exportIds.Count} exports' folders; a backup's export is one. It was left as it is, uncommitted: remove it.", folder.Uri);
        }
        var bucket = ((S3BackupStore)folder.Store).Bucket;
        var export = await DescribeAsync(dynamo, await tableArn().ConfigureAwait(false), started.TableName, exportIds[0], folder, ct).ConfigureAwait(false);
        if (export.ClientToken != started.BackupId || export.S3Bucket != bucket || export.S3Prefix != folder.Prefix.TrimEnd('/')
            || !export.TableArn.EndsWith(":table/" + started.TableName, StringComparison.Ordinal) || export.ExportFormat != ExportFormat.DYNAMODB_JSON)
        {
            throw new BackupDRException(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData,
                $"DynamoDB's export {export.ExportArn} is not the export of backup {started.BackupId} (its client token, bucket, prefix, table or format differ). " +
                $"The folder {folder.Uri} was left as it is, uncommitted: remove it.", folder.Uri);
        }
        var engine = new ExportBackup(dynamo, root, host);
        if (export.ExportStatus == ExportStatus.IN_PROGRESS && wait > TimeSpan.Zero)
        {
            using var patience = CancellationTokenSource.CreateLinkedTokenSource(ct);
            patience.CancelAfter(wait);
            try
            {
                export = await engine.WaitAsync(started.TableName, export, patience.Token).ConfigureAwait(false);
            }
            catch (BackupDRException e) when (e.ErrorId == ErrorIds.OperationCancelled && !ct.IsCancellationRequested)
            {
                export = (await dynamo.DescribeExportAsync(new DescribeExportRequest { ExportArn = export.ExportArn }, ct).ConfigureAwait(false)).ExportDescription;
            }
            catch (BackupDRException e) when (e.ErrorId == ErrorIds.ExportFailed)
            {
                export = (await dynamo.DescribeExportAsync(new DescribeExportRequest { ExportArn = export.ExportArn }, ct).ConfigureAwait(false)).ExportDescription;
            }
        }
        if (export.ExportStatus == ExportStatus.IN_PROGRESS)
        {
            host.Verbose($"DynamoDB's export {export.ExportArn} of '{started.TableName}' is still running; backup {started.BackupId} is finished by a later run.");
            return new BackupResult
            {
                BackupId = started.BackupId, TableName = started.TableName, Uri = folder.Uri, StartTime = started.StartTime, EndTime = DateTimeOffset.UtcNow,
                Status = ExportBackup.ExportingStatus, Engine = BackupEngine.Export, ExportArn = export.ExportArn,
                ExportTime = export.IncrementalExportSpecification?.ExportToTime ?? export.ExportTime,
            };
        }
        try
        {
            if (export.ExportStatus != ExportStatus.COMPLETED)
            {
                throw new BackupDRException(ErrorIds.ExportFailed, ErrorKind.InvalidOperation,
                    $"DynamoDB's export {export.ExportArn} of '{started.TableName}' {export.ExportStatus?.Value ?? "ended"}: {export.FailureCode} {export.FailureMessage}", started.TableName);
            }
            return await engine.FinishAsync(started.TableName, started, folder, export, null, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var error = AwsErrors.Translate(e, started.TableName);
            // The table gone: the export is kept (restorable as DynamoDB's export with its key schema); otherwise the backup is removed.
            bool keep = error.ErrorId is ErrorIds.TableNotFound or ErrorIds.OperationCancelled;
            if (!keep) await BackupRunner.RemovePartialBackupAsync(folder, host).ConfigureAwait(false);
            var thrown = new BackupDRException(error.ErrorId, error.Kind,
                $"{error.Message.TrimEnd()} No backup of table '{started.TableName}' was committed at {folder.Uri}{(keep ? " (the export is kept there)" : " (what the export wrote there was removed)")}.",
                error.Target ?? started.TableName, error);
            if (observer is not null)
            {
                try { await observer.FailedAsync(started, thrown).ConfigureAwait(false); }
                catch (Exception oe) when (oe is not OutOfMemoryException) { host.Verbose($"The backup's observer failed ({oe.Message})."); }
            }
            throw thrown;
        }
    }

    private static async Task<string> DescribeTableArnAsync(IAmazonDynamoDB dynamo, string table, CancellationToken ct) =>
        (await TableSchema.DescribeAsync(dynamo, table, ct).ConfigureAwait(false)).TableArn;

    /// <summary>The export as DynamoDB describes it, by the ARN the table's own ARN and the folder's export id make.</summary>
    private static async Task<ExportDescription> DescribeAsync(IAmazonDynamoDB dynamo, string tableArn, string table, string exportId, BackupFolder folder, CancellationToken ct)
    {
        try
        {
            return (await dynamo.DescribeExportAsync(new DescribeExportRequest { ExportArn = $"{tableArn}/export/{exportId}" }, ct).ConfigureAwait(false)).ExportDescription;
        }
        catch (ExportNotFoundException)
        {
            throw new BackupDRException(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData,
                $"DynamoDB has no export {exportId} of '{table}', yet {folder.Uri} holds its folder. It was left as it is, uncommitted: remove it.", folder.Uri);
        }
    }
}
