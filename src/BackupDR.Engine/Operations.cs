using BackupDR.Engine.Aws;
using BackupDR.Engine.Catalog;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine;

/// <summary>Entry points for hosts that do not need the runners' finer control.</summary>
public static class Operations
{
    /// <summary>
    /// Checks the backup at <paramref name="uri"/>. At <see cref="IntegrityLevel.Live"/>, once the backup
    /// passes as at Full, every item is compared with <paramref name="liveTableName"/>.
    /// </summary>
    /// <param name="read">Which exports of a folder of native exports make the chain (null: the latest, no gaps allowed).</param>
    public static async Task<IntegrityReport> CheckIntegrityAsync(string uri, IntegrityLevel level, AwsOptions aws, IOperationHost host, CancellationToken cancellationToken,
        string? liveTableName = null, ReadOptions? read = null)
    {
        if (level == IntegrityLevel.Live && string.IsNullOrWhiteSpace(liveTableName))
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"{Say.Level("Live")} compares the backup with a table: name it with {Say.CompareTable}.", uri);
        }
        if (level != IntegrityLevel.Live && liveTableName is not null)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"{Say.CompareTable} is used only with {Say.Level("Live")} (this check is {level}). Add {Say.Level("Live")} to compare the backup with '{liveTableName}'.", uri);
        }
        AwsClientFactory.ValidateRegion(aws.Region);
        var location = BackupLocation.Parse(uri);
        var factory = new AwsClientFactory(aws);
        using var folder = BackupFolder.Open(location, factory);
        try
        {
            var (report, loaded) = await new IntegrityChecker(folder, host, read).CheckAsync(level, cancellationToken).ConfigureAwait(false);
            if (level == IntegrityLevel.Live && report.IsValid && loaded is not null)
            {
                if (loaded.Records != Format.RecordKind.Item || loaded.Stages.Count > 0)
                {
                    throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                        $"{Say.Level("Live")} compares a table with a backup of its items; {uri} is {(loaded.Stages.Count > 0 ? "a chain of exports" : "an incremental export")}, which holds changes. " +
                        $"Check it at {Say.Level("Full")}, or restore it into a new table and compare that.", uri);
                }
                using var dynamo = factory.CreateDynamoDB();
                if (!loaded.KeySchemaRecorded && await Tables.TableSchema.TryDescribeAsync(dynamo, liveTableName!, cancellationToken).ConfigureAwait(false) is { } table)
                {
                    loaded.Table = Tables.KeySchemas.FromTable(table, loaded.Table);   // the export records no key: the table's is compared by
                }
                var live = await new LiveComparer(dynamo, loaded, host).CompareAsync(liveTableName!, cancellationToken).ConfigureAwait(false);
                report.Live = live;
                AddDifferences(report, live);
            }
            return report;
        }
        catch (Exception e)
        {
            throw AwsErrors.Translate(e, uri);
        }
    }

    private static void AddDifferences(IntegrityReport report, LiveComparison live)
    {
        static string Keys(List<string> keys, long count) => string.Join("; ", keys) + (count > keys.Count ? "; …" : "");
        if (live.Missing > 0)
        {
            report.Add(ProblemCodes.TableItemMissing, null, $"{live.Missing:N0} backup item(s) are not in table '{live.TableName}': {Keys(live.MissingKeys, live.Missing)}");
        }
        if (live.Extra > 0)
        {
            report.Add(ProblemCodes.TableItemExtra, null, $"{live.Extra:N0} item(s) of table '{live.TableName}' are not in the backup: {Keys(live.ExtraKeys, live.Extra)}");
        }
        if (live.Different > 0)
        {
            report.Add(ProblemCodes.TableItemDifferent, null, $"{live.Different:N0} item(s) of table '{live.TableName}' differ from the backup's: {Keys(live.DifferentKeys, live.Different)}");
        }
    }

    /// <summary>The backups under a target (<c>s3://bucket/prefix</c> or a folder), oldest first per table.</summary>
    public static async Task<IReadOnlyList<BackupInfo>> ListBackupsAsync(string uri, string? tableName, AwsOptions aws, CancellationToken cancellationToken)
    {
        AwsClientFactory.ValidateRegion(aws.Region);
        var location = BackupLocation.Parse(uri);
        using var folder = BackupFolder.Open(location, new AwsClientFactory(aws));
        try
        {
            await folder.Store.EnsureAvailableAsync(cancellationToken).ConfigureAwait(false);
            var list = new List<BackupInfo>();
            await foreach (var backup in new BackupCatalog(folder).ListAsync(tableName, cancellationToken).ConfigureAwait(false)) list.Add(backup);
            return list;
        }
        catch (Exception e)
        {
            throw AwsErrors.Translate(e, uri);
        }
    }

    /// <summary>
    /// Removes one backup, given its own URI (<c>s3://bucket/prefix/table/backup-id/</c>): the commit
    /// marker first, then every object, then any pending multipart upload under it.
    /// </summary>
    public static async Task<RemovedBackup> RemoveBackupAsync(string backupUri, AwsOptions aws, CancellationToken cancellationToken)
    {
        AwsClientFactory.ValidateRegion(aws.Region);
        var location = BackupLocation.Parse(backupUri);
        var (parentUri, tableName, backupId) = SplitBackupUri(location, backupUri);
        using var parent = BackupFolder.Open(BackupLocation.Parse(parentUri), new AwsClientFactory(aws));
        try
        {
            var catalog = new BackupCatalog(parent);
            BackupInfo? found = null;
            await foreach (var backup in catalog.ListAsync(tableName, cancellationToken).ConfigureAwait(false))
            {
                if (backup.BackupId == backupId) found = backup;
            }
            if (found is null)
            {
                throw new BackupDRException(ErrorIds.BackupNotFound, ErrorKind.ObjectNotFound,
                    $"There is no backup at {backupUri}: nothing was removed. Pick one from {Say.ListBackups}.", backupUri);
            }
            return await catalog.RemoveAsync(found, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            throw AwsErrors.Translate(e, backupUri);
        }
    }

    /// <summary>
    /// Applies a retention policy under a target (<c>s3://bucket/prefix</c> or a folder), to one table or
    /// all: the backups it removes are listed first and <paramref name="confirm"/> is asked once with the
    /// list; declined, nothing is removed. Each removal is as <see cref="RemoveBackupAsync"/> does it.
    /// </summary>
    public static async Task<IReadOnlyList<RemovedBackup>> ApplyRetentionAsync(string targetUri, string? tableName, RetentionPolicy policy, AwsOptions aws,
        Func<IReadOnlyList<BackupInfo>, Task<bool>> confirm, TimeProvider time, CancellationToken cancellationToken)
    {
        policy.Validate();
        AwsClientFactory.ValidateRegion(aws.Region);
        var location = BackupLocation.Parse(targetUri);
        using var folder = BackupFolder.Open(location, new AwsClientFactory(aws));
        try
        {
            await folder.Store.EnsureAvailableAsync(cancellationToken).ConfigureAwait(false);
            var catalog = new BackupCatalog(folder);
            var all = new List<BackupInfo>();
            await foreach (var backup in catalog.ListAsync(tableName, cancellationToken).ConfigureAwait(false)) all.Add(backup);
            var doomed = policy.Select(all, time.GetUtcNow());
            if (doomed.Count == 0 || !await confirm(doomed).ConfigureAwait(false)) return [];
            var removed = new List<RemovedBackup>(doomed.Count);
            foreach (var backup in doomed) removed.Add(await catalog.RemoveAsync(backup, cancellationToken).ConfigureAwait(false));
            return removed;
        }
        catch (Exception e)
        {
            throw AwsErrors.Translate(e, targetUri);
        }
    }

    /// <summary>Copies a committed, verified backup to another target (docs/cmdlets/Copy-DynamoBackup.md).</summary>
    public static Task<CopyResult> CopyBackupAsync(CopyRequest request, IOperationHost host, CancellationToken cancellationToken) =>
        BackupCopier.CopyAsync(request, host, cancellationToken);

    // ".../<table>/<backup id>/" → (the target above the table, table, id)
    private static (string ParentUri, string TableName, string BackupId) SplitBackupUri(BackupLocation location, string uri)
    {
        string path = location.IsS3 ? location.Prefix.TrimEnd('/') : location.LocalRoot!.TrimEnd('/', Path.DirectorySeparatorChar);
        char separator = location.IsS3 ? '/' : Path.DirectorySeparatorChar;
        string[] parts = path.Split(separator);
        if (parts.Length < 2 || !Format.BackupFormat.IsBackupId(parts[^1]) || parts[^2].Length == 0)
        {
            throw new BackupDRException(ErrorIds.InvalidBackupUri, ErrorKind.InvalidArgument,
                $"'{uri}' is not the URI of one backup (…/<table>/<backup id>/). Give a backup's Uri as {Say.ListBackups} shows it; nothing was removed.", uri);
        }
        string parent = string.Join(separator, parts[..^2]);
        string parentUri = location.IsS3 ? $"s3://{location.Bucket}/{parent}{(parent.Length > 0 ? "/" : "")}" : (parent.Length == 0 ? separator.ToString() : parent);
        return (parentUri, parts[^2], parts[^1]);
    }
}
