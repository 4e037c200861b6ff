using BackupDR.Engine.Aws;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Catalog;
using BackupDR.Engine.Drill;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Ledger;

/// <summary>Where a host records its runs: the ledger table (created on first use), in the account and region of <see cref="Aws"/>.</summary>
public sealed record LedgerOptions(string TableName)
{
    public AwsOptions Aws { get; init; } = new();

    public void Validate() => Tables.TableSchema.ValidateName(TableName);
}

/// <summary>One thing to record: a backup's facts, or a record of something done with it, and where its backup is (for the journal).</summary>
public sealed record LedgerWrite(string BackupUri, AwsOptions BackupAws, LedgerEntry? Facts, LedgerRecord? Record);

/// <summary>
/// Records what a run did, after the run: each record into its target's journal (beside the backups, the
/// truth the ledger is rebuilt from), then into the ledger table with the entry's latest fields moved; each
/// backup's facts into its entry. Never throws for what it could not write: the run's work is done, and
/// what was not recorded comes back as messages for LedgerNotWritten.
/// </summary>
public static class LedgerWriter
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    public static async Task<List<string>> WriteAsync(LedgerOptions ledger, IReadOnlyList<LedgerWrite> writes, IOperationHost host)
    {
        var failures = new List<string>();
        if (writes.Count == 0) return failures;
        using var deadline = new CancellationTokenSource(Deadline);
        var token = deadline.Token;
        LedgerTable? table = null;
        try
        {
            using var dynamo = new AwsClientFactory(ledger.Aws).CreateDynamoDB();
            table = new LedgerTable(dynamo, ledger.TableName);
            try
            {
                await table.EnsureAsync(host, token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failures.Add($"The ledger table '{ledger.TableName}' could not be used: {Message(e, ledger.TableName)}");
                table = null;
            }
            foreach (var write in writes)
            {
                string what = write.Record is { } r ? $"the {r.Kind.ToString().ToLowerInvariant()} of backup {r.BackupId} of '{r.TableName}'" : $"backup {write.Facts!.BackupId} of '{write.Facts.TableName}'";
                if (write.Record is { } record)
                {
                    try
                    {
                        using var journalFolder = JournalOf(write.BackupUri, write.BackupAws, out var root);
                        await new RecordJournal(root).AddAsync(record, token).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        failures.Add($"{what} was not added to the journal beside the backups: {Message(e, write.BackupUri)}");
                    }
                }
                if (table is null) continue;
                try
                {
                    if (write.Facts is { } facts) await table.UpsertFactsAsync(facts, token).ConfigureAwait(false);
                    if (write.Record is { } rec)
                    {
                        await table.PutRecordAsync(rec, token).ConfigureAwait(false);
                        await table.ApplyAsync(rec, token).ConfigureAwait(false);
                    }
                    host.Verbose($"Recorded {what} in the ledger '{ledger.TableName}'.");
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    failures.Add($"{what} was not recorded in the ledger '{ledger.TableName}': {Message(e, ledger.TableName)}");
                }
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            failures.Add($"Nothing was recorded in the ledger '{ledger.TableName}': {Message(e, ledger.TableName)}");
        }
        return failures;
    }

    private static string Message(Exception e, string target) => e is BackupDRException b ? b.Message : AwsErrors.Translate(e, target).Message;

    /// <summary>The target a backup is in (two folders up from it): its journal's place. Dispose the returned folder.</summary>
    internal static BackupFolder JournalOf(string backupUri, AwsOptions aws, out BackupFolder root)
    {
        var backup = BackupFolder.Open(BackupLocation.Parse(backupUri), new AwsClientFactory(aws));
        root = backup.SplitParent().Parent.SplitParent().Parent;
        return backup;
    }

    // ---- what each run records

    public static LedgerWrite ForBackup(BackupResult result, AwsOptions aws) => new(result.Uri, aws, new LedgerEntry
    {
        TableName = result.TableName, BackupId = result.BackupId, Uri = result.Uri, Status = LedgerStatus.Committed, ItemCount = result.ItemCount,
        StartTime = Format.BackupFormat.StartOf(result.BackupId), CommittedAt = result.EndTime, SummarySha256 = result.SummarySha256,
    }, null);

    public static LedgerWrite? ForValidation(IntegrityReport report, string host, AwsOptions aws, DateTimeOffset at) =>
        report.Format != Format.SourceFormat.BackupDR || report.BackupId is null || report.TableName is null || report.SummarySha256 is null ? null
        : new(report.BackupUri ?? report.Uri, aws, null, new LedgerRecord
        {
            Kind = RecordKind.Validation, Time = at, TableName = report.TableName, BackupId = report.BackupId, SummarySha256 = report.SummarySha256, Host = host,
            Passed = report.IsValid && report.IsCommitted, Level = report.Level.ToString(), Items = Math.Max(0, report.ItemsVerified), DurationSeconds = LedgerRecord.Seconds(report.Duration),
            Problems = LedgerRecord.Short(report.IsCommitted ? report.Problems.Select(p => p.ToString()) : ["MissingCommitMarker: the backup never finished", .. report.Problems.Select(p => p.ToString())]),
        });

    public static LedgerWrite? ForRestore(RestoreResult result, string host, AwsOptions backupAws) =>
        result.Format != Format.SourceFormat.BackupDR || result.BackupId is null || result.SourceTableName is null || result.SummarySha256 is null ? null
        : new(result.BackupUri ?? result.SourceUri, backupAws, null, new LedgerRecord
        {
            Kind = RecordKind.Restore, Time = result.EndTime, TableName = result.SourceTableName, BackupId = result.BackupId, SummarySha256 = result.SummarySha256, Host = host,
            Passed = true, Items = result.ItemsWritten, DurationSeconds = LedgerRecord.Seconds(result.Duration), Target = result.TableName, Mode = result.Mode.ToString(),
        });

    public static LedgerWrite? ForDrill(DrillReport report, string host, AwsOptions aws) =>
        report.BackupUri is null || report.BackupId is null || report.SummarySha256 is null ? null
        : new(report.BackupUri, aws, null, new LedgerRecord
        {
            Kind = RecordKind.Drill, Time = report.EndTime, TableName = report.TableName, BackupId = report.BackupId, SummarySha256 = report.SummarySha256, Host = host,
            Passed = report.Passed, Items = report.ItemsVerified, DurationSeconds = LedgerRecord.Seconds(report.EndTime - report.StartTime), Target = report.ScratchTableName,
            RpoSeconds = report.Rpo is { } rpo ? LedgerRecord.Seconds(rpo) : null, RtoSeconds = LedgerRecord.Seconds(report.Rto), Problems = LedgerRecord.Short(report.Failures),
        });

    public static LedgerWrite? ForCopy(CopyResult result, string host, AwsOptions sourceAws) =>
        result.SummarySha256 is null ? null
        : new(result.SourceUri, sourceAws, null, new LedgerRecord
        {
            Kind = RecordKind.Copy, Time = DateTimeOffset.UtcNow, TableName = result.TableName, BackupId = result.BackupId, SummarySha256 = result.SummarySha256, Host = host,
            Passed = true, Items = result.ItemCount, DurationSeconds = LedgerRecord.Seconds(result.Duration), Target = result.Uri,
        });

    /// <summary>Records each backup's start (Started) and failure (Failed) as the backup runs; what could not be recorded is in <see cref="Failures"/>.</summary>
    public sealed class BackupObserver(LedgerOptions ledger, AwsOptions aws, IOperationHost host) : IBackupObserver
    {
        public List<string> Failures { get; } = [];

        public async Task StartedAsync(BackupStart backup, CancellationToken cancellationToken)
        {
            var entry = new LedgerEntry { TableName = backup.TableName, BackupId = backup.BackupId, Uri = backup.Uri, Status = LedgerStatus.Started, StartTime = Format.BackupFormat.StartOf(backup.BackupId) };
            var failures = await WriteAsync(ledger, [new LedgerWrite(backup.Uri, aws, entry, null)], host).ConfigureAwait(false);
            lock (Failures) Failures.AddRange(failures);
        }

        public async Task FailedAsync(BackupStart backup, BackupDRException error)
        {
            var entry = new LedgerEntry { TableName = backup.TableName, BackupId = backup.BackupId, Uri = backup.Uri, Status = LedgerStatus.Failed, StartTime = Format.BackupFormat.StartOf(backup.BackupId) };
            var failures = await WriteAsync(ledger, [new LedgerWrite(backup.Uri, aws, entry, null)], host).ConfigureAwait(false);
            lock (Failures) Failures.AddRange(failures);
        }
    }

    /// <summary>A backup removed by BackupDR: its entry says so.</summary>
    public static async Task<List<string>> MarkRemovedAsync(LedgerOptions ledger, IEnumerable<RemovedBackup> removed, IOperationHost host)
    {
        var failures = new List<string>();
        using var deadline = new CancellationTokenSource(Deadline);
        try
        {
            using var dynamo = new AwsClientFactory(ledger.Aws).CreateDynamoDB();
            var table = new LedgerTable(dynamo, ledger.TableName);
            await table.EnsureAsync(host, deadline.Token).ConfigureAwait(false);
            foreach (var r in removed) await table.MarkAsync(r.TableName, r.BackupId, LedgerStatus.Removed, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            failures.Add($"The removal was not recorded in the ledger '{ledger.TableName}': {Message(e, ledger.TableName)}");
        }
        return failures;
    }
}
