using BackupDR.Engine.Aws;
using BackupDR.Engine.Catalog;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Ledger;

/// <summary>What Sync-DynamoBackupLedger did.</summary>
public sealed class LedgerSyncResult
{
    public required string Uri { get; init; }
    public required string LedgerTableName { get; init; }
    public int Tables { get; set; }

    /// <summary>Entries written: one per backup found under the target.</summary>
    public int Entries { get; set; }

    /// <summary>Records found in the target's journal and indexed.</summary>
    public int Records { get; set; }

    /// <summary>Entries of backups that are no longer under the target, marked Missing (those BackupDR removed stay Removed).</summary>
    public int MarkedMissing { get; set; }

    /// <summary>What was found and not trusted: records or ledger items that are not what they claim, with why.</summary>
    public List<string> Skipped { get; } = [];
}

/// <summary>
/// Rebuilds the ledger from what is under a target: each backup's entry from the backup itself (its commit
/// marker), with the journal's records about that backup's content applied in time order — the same
/// entries the hosts write as they go. Entries of backups that are gone are marked Missing, never trusted.
/// </summary>
public static class LedgerSync
{
    public static async Task<LedgerSyncResult> SyncAsync(string targetUri, LedgerOptions ledger, AwsOptions aws, IOperationHost host, CancellationToken cancellationToken)
    {
        ledger.Validate();
        using var target = BackupFolder.Open(BackupLocation.Parse(targetUri), new AwsClientFactory(aws));
        var result = new LedgerSyncResult { Uri = target.Uri, LedgerTableName = ledger.TableName };
        try
        {
            await target.Store.EnsureAvailableAsync(cancellationToken).ConfigureAwait(false);
            var backups = new List<BackupInfo>();
            await foreach (var b in new BackupCatalog(target).ListAsync(null, cancellationToken).ConfigureAwait(false)) backups.Add(b);
            var journal = new RecordJournal(target);
            var tables = backups.Select(b => b.TableName).Concat(await journal.TablesAsync(cancellationToken).ConfigureAwait(false)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();

            using var dynamo = new AwsClientFactory(ledger.Aws).CreateDynamoDB();
            var table = new LedgerTable(dynamo, ledger.TableName);
            await table.EnsureAsync(host, cancellationToken).ConfigureAwait(false);
            foreach (string name in tables)
            {
                result.Tables++;
                var records = await journal.ReadAsync(name, result.Skipped.Add, cancellationToken).ConfigureAwait(false);
                foreach (var record in records) await table.PutRecordAsync(record, cancellationToken).ConfigureAwait(false);
                result.Records += records.Count;
                var found = new HashSet<string>(StringComparer.Ordinal);
                foreach (var backup in backups.Where(b => b.TableName == name))
                {
                    var entry = LedgerEntry.From(backup);
                    foreach (var record in records) entry.Apply(record);
                    await table.PutEntryAsync(entry, cancellationToken).ConfigureAwait(false);
                    found.Add(backup.BackupId);
                    result.Entries++;
                }
                var (entries, _) = await table.ReadAsync(name, result.Skipped.Add, cancellationToken).ConfigureAwait(false);
                foreach (var gone in entries.Where(e => !found.Contains(e.BackupId) && e.Status is not (LedgerStatus.Removed or LedgerStatus.Missing or LedgerStatus.Failed) && IsUnder(e.Uri, target)))
                {
                    await table.MarkAsync(name, gone.BackupId, LedgerStatus.Missing, cancellationToken).ConfigureAwait(false);
                    host.Warning($"The ledger's entry for backup {gone.BackupId} of '{name}' names {gone.Uri}, which is no longer there: marked Missing.");
                    result.MarkedMissing++;
                }
            }
            foreach (string skipped in result.Skipped) host.Warning($"Not trusted, not indexed: {skipped}.");
            return result;
        }
        catch (Exception e) when (e is not BackupDRException)
        {
            throw AwsErrors.Translate(e, targetUri);
        }
    }

    /// <summary>
    /// The backups as listed (the truth) with the ledger's history of each joined in: only an entry about the
    /// same content (its summary's SHA-256) lends its fields. Entries of this target whose backup is not
    /// listed are named to <paramref name="host"/>, never output.
    /// </summary>
    public static async Task<IReadOnlyList<BackupInfo>> JoinAsync(string targetUri, IReadOnlyList<BackupInfo> backups, string? tableName, LedgerOptions ledger,
        IOperationHost host, CancellationToken cancellationToken)
    {
        ledger.Validate();
        using var dynamo = new AwsClientFactory(ledger.Aws).CreateDynamoDB();
        var table = new LedgerTable(dynamo, ledger.TableName);
        try
        {
            await table.EnsureAsync(host, cancellationToken).ConfigureAwait(false);
            var (entries, _) = await table.ReadAsync(tableName, s => host.Warning($"Not trusted in the ledger: {s}."), cancellationToken).ConfigureAwait(false);
            var byKey = entries.ToDictionary(e => (e.TableName, e.BackupId));
            foreach (var backup in backups)
            {
                if (!byKey.Remove((backup.TableName, backup.BackupId), out var entry) || entry.SummarySha256 is null || entry.SummarySha256 != backup.SummarySha256) continue;
                backup.LastValidationAt = entry.LastValidationAt;
                backup.LastValidationLevel = entry.LastValidationLevel;
                backup.LastValidationPassed = entry.LastValidationPassed;
                backup.LastFullValidationAt = entry.LastFullValidationAt;
                backup.LastDrillAt = entry.LastDrillAt;
                backup.LastDrillPassed = entry.LastDrillPassed;
                backup.LastRestoreAt = entry.LastRestoreAt;
            }
            var gone = byKey.Values.Where(e => e.Status is LedgerStatus.Committed or LedgerStatus.Incomplete or LedgerStatus.Started && IsUnder(e.Uri, targetUri)).ToList();
            if (gone.Count > 0)
            {
                host.Warning($"The ledger has {gone.Count} entr{(gone.Count == 1 ? "y" : "ies")} of backups no longer under {targetUri} (e.g. {gone[0].TableName}/{gone[0].BackupId}); a sync of the ledger marks them Missing.");
            }
            return backups;
        }
        catch (Exception e) when (e is not BackupDRException)
        {
            throw AwsErrors.Translate(e, ledger.TableName);
        }
    }

    /// <summary>True when the entry's backup is a folder of this target (one ledger may index several targets).</summary>
    internal static bool IsUnder(string? uri, BackupFolder target) => IsUnder(uri, target.Uri);

    internal static bool IsUnder(string? uri, string targetUri)
    {
        if (uri is null) return false;
        string root = targetUri.TrimEnd('/', Path.DirectorySeparatorChar);
        return uri.StartsWith(root + "/", StringComparison.Ordinal) || uri.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal);
    }
}
