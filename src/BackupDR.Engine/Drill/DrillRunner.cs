using System.Diagnostics;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Catalog;
using BackupDR.Engine.Format;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Tables;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Drill;

/// <summary>
/// A restore test with a verdict (docs/cmdlets/Invoke-DynamoDrill.md): the latest committed backup of a table (or the one
/// named) is restored into a scratch table that did not exist, the scratch table is compared with the
/// backup item by item, and the scratch table is removed — on failure too. RPO is the drill's start
/// minus the backup's point; RTO the restore plus its verification. A drill never touches a table it did
/// not create: an existing scratch name is refused before anything is done.
/// </summary>
public static class DrillRunner
{
    /// <summary>Runs the drill. Its failures are in the report (<see cref="DrillReport.Passed"/>); what is thrown is bad input, found before anything is done.</summary>
    public static async Task<DrillReport> RunAsync(DrillRequest request, IOperationHost host, CancellationToken cancellationToken)
    {
        TableSchema.ValidateName(request.TableName);
        if ((request.TargetUri is null) == (request.BackupUri is null))
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"A drill needs where the table's backups are, or one backup: give {Say.Option("uri")} (the latest committed backup of '{request.TableName}' under it is drilled) or {Say.Option("backup-uri")}, not both.", request.TableName);
        }
        foreach (var (name, limit) in new[] { ("max-rpo", request.MaxRpo), ("max-rto", request.MaxRto) })
        {
            if (limit is { } l && l <= TimeSpan.Zero)
            {
                throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, $"{Say.Option(name)} must be longer than zero.", request.TableName);
            }
        }
        AwsClientFactory.ValidateRegion(request.Aws.Region);
        var now = request.Time.GetUtcNow();
        using var stateFolder = request.Resumable
            ? BackupFolder.Open(BackupLocation.Parse(request.CheckpointUri ?? CheckpointStore.DefaultLocation), new AwsClientFactory(request.Aws))
            : null;
        var state = stateFolder is null ? null : await DrillState.LoadAsync(stateFolder, request, now, host, cancellationToken).ConfigureAwait(false);
        var start = state?.Started ?? now;
        string scratch = state?.ScratchTableName ?? request.ScratchTableName ?? ScratchName(request.TableName, start);
        TableSchema.ValidateName(scratch);
        if (scratch == request.TableName)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, $"The scratch table cannot be the table drilled ('{scratch}').", scratch);
        }

        using var dynamo = new AwsClientFactory(request.Aws).CreateDynamoDB();
        bool scratchExists;
        try
        {
            scratchExists = await TableSchema.TryDescribeAsync(dynamo, scratch, cancellationToken).ConfigureAwait(false) is not null;
        }
        catch (Exception e) when (e is not BackupDRException)
        {
            throw AwsErrors.Translate(e, scratch);
        }
        // A table that exists is refused, unless this drill's own state says an earlier run of it made that table.
        if (scratchExists && state is null)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"Table '{scratch}' already exists: a drill restores only into a table it creates, and removes only that. Name another scratch table, or remove '{scratch}' yourself.", scratch);
        }
        if (state is not null && !scratchExists) state = state with { Phase = DrillState.Restoring };
        if (!await host.ConfirmAsync($"table '{scratch}'", $"Drill: {(state is null ? "restore" : "continue restoring")} a backup of '{request.TableName}' into the new table '{scratch}', verify it, then remove it" +
                                                           (request.KeepTable ? " (kept: the table is left in place)" : ""), cancellationToken).ConfigureAwait(false))
        {
            throw new BackupDRException(ErrorIds.NotConfirmed, ErrorKind.OperationStopped, "The drill was not confirmed: nothing was created.", scratch);
        }

        var report = new DrillReport { TableName = request.TableName, ScratchTableName = scratch, StartTime = start, Runs = (state?.Invocations ?? 0) + 1 };
        if (state is not null) host.Verbose($"Continuing the drill of '{request.TableName}' begun at {start:u} (run {report.Runs}): backup {state.BackupId}, scratch table '{scratch}', {state.Phase} phase.");
        bool created = scratchExists, kept = false;
        try
        {
            created = await DrillAsync(request, scratch, report, state, new DrillHost(host), dynamo, cancellationToken).ConfigureAwait(false) || created;
        }
        catch (Exception e) when (stateFolder is not null && cancellationToken.IsCancellationRequested && report.BackupId is not null
                                  && (e is OperationCanceledException || e is BackupDRException { ErrorId: ErrorIds.OperationCancelled }))
        {
            // Out of time: keep what was done for the next run. Not the drill's token: it is cancelled.
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await new DrillState(request.TableName, scratch, report.BackupId, start, report.Phase, report.RestoreDuration.TotalSeconds, report.VerifyDuration.TotalSeconds,
                report.ItemsRestored, report.Runs).SaveAsync(stateFolder, deadline.Token).ConfigureAwait(false);
            kept = true;
            throw new BackupDRException(ErrorIds.OperationCancelled, ErrorKind.OperationStopped,
                $"The drill of '{request.TableName}' stopped in its {report.Phase} phase (run {report.Runs}); its scratch table '{scratch}' and its state are kept: run the same drill again to continue it.", scratch, e);
        }
        finally
        {
            // The scratch table goes, whatever happened (unless kept): a drill leaves nothing behind. It did
            // not exist when the drill began, so if it exists now, the drill made it.
            if (!kept && !request.KeepTable && (created || await ExistsAsync(dynamo, scratch).ConfigureAwait(false)))
            {
                await RemoveAsync(dynamo, scratch, report, host).ConfigureAwait(false);
            }
            if (!kept && stateFolder is not null && state is not null) await DrillState.RemoveAsync(stateFolder, request.TableName, host).ConfigureAwait(false);
        }
        report.EndTime = request.Time.GetUtcNow();
        report.Passed = report.Checks.Count > 0 && report.Checks.All(c => c.Passed);
        return report;
    }

    /// <summary>The phases; returns true once the scratch table exists (so it is removed).</summary>
    private static async Task<bool> DrillAsync(DrillRequest request, string scratch, DrillReport report, DrillState? state, IOperationHost host, Amazon.DynamoDBv2.IAmazonDynamoDB dynamo, CancellationToken ct)
    {
        // Working time of earlier runs of this drill, and what they found.
        var priorRestore = TimeSpan.FromSeconds(state?.RestoreSeconds ?? 0);
        var priorVerify = TimeSpan.FromSeconds(state?.VerifySeconds ?? 0);
        bool interrupted(Exception e) => request.Resumable && ct.IsCancellationRequested && e is BackupDRException { ErrorId: ErrorIds.OperationCancelled };
        // The backup: the one named, or the latest committed of the table.
        if (request.BackupUri is { } named)
        {
            report.BackupUri = named;
            string id = named.TrimEnd('/', Path.DirectorySeparatorChar).Split('/', Path.DirectorySeparatorChar)[^1];
            report.BackupId = id;
            report.BackupTime = BackupFormat.StartOf(id);
        }
        else
        {
            var backups = await Operations.ListBackupsAsync(request.TargetUri!, request.TableName, request.Aws, ct).ConfigureAwait(false);
            // A continued drill keeps to the backup it began with, even when a newer one has been committed since.
            var latest = backups.Where(b => b.Status == BackupStatus.Committed && (state is null || b.BackupId == state.BackupId)).MaxBy(b => b.BackupId, StringComparer.Ordinal);
            if (latest is null)
            {
                report.Checks.Add(new DrillCheck("Backup", false, state is null
                    ? $"There is no committed backup of '{request.TableName}' under {request.TargetUri}."
                    : $"Backup {state.BackupId} of '{request.TableName}', which this drill began with, is no longer a committed backup under {request.TargetUri}."));
                return false;
            }
            report.BackupUri = latest.Uri;
            report.BackupId = latest.BackupId;
            report.BackupTime = latest.StartTime;
        }
        report.Rpo = report.BackupTime is { } point ? report.StartTime - point : null;
        host.Verbose($"Drilling backup {report.BackupId} of '{request.TableName}' ({report.BackupUri}) into '{scratch}'.");

        // Restore: the backup is verified in full before its first write, as any restore; a continued drill
        // resumes the restore from its checkpoint, or goes straight to verifying when an earlier run finished it.
        var clock = Stopwatch.StartNew();
        bool created = false;
        report.RestoreDuration = priorRestore;
        if (state?.Phase == DrillState.Verifying)
        {
            created = true;
            report.ItemsRestored = state.ItemsRestored;
            report.Checks.Add(new DrillCheck("Restore", true, $"{state.ItemsRestored:N0} items restored into '{scratch}' in {priorRestore.TotalSeconds:N1} s (an earlier run)."));
        }
        else
        {
            try
            {
                var restored = await RestoreRunner.RunAsync(new RestoreRequest
                {
                    Uri = report.BackupUri, TableName = scratch, Mode = state is null ? RestoreMode.New : null, Resume = state is not null, Parallelism = request.Parallelism,
                    CheckpointUri = request.CheckpointUri, KeySchema = request.KeySchema, Aws = request.Aws, Time = request.Time,
                }, host, ct).ConfigureAwait(false);
                created = restored.TableCreated || state is not null;
                report.SummarySha256 = restored.SummarySha256;
                report.ItemsRestored = restored.ItemsWritten;   // a resumed restore counts what earlier runs wrote too
                report.RestoreDuration = priorRestore + clock.Elapsed;
                report.Checks.Add(new DrillCheck("Restore", true, $"{report.ItemsRestored:N0} items restored into '{scratch}' in {report.RestoreDuration.TotalSeconds:N1} s."));
            }
            catch (BackupDRException e)
            {
                report.RestoreDuration = priorRestore + clock.Elapsed;
                if (interrupted(e)) throw;
                created = await TableSchema.TryDescribeAsync(dynamo, scratch, ct).ConfigureAwait(false) is not null;   // it did not exist before the drill
                report.Checks.Add(new DrillCheck("Restore", false, $"{e.ErrorId}: {e.Message}"));
                return created;
            }
        }

        // Verify: the scratch table against the backup, item by item.
        clock.Restart();
        report.Phase = DrillState.Verifying;
        report.VerifyDuration = priorVerify;
        try
        {
            var verified = await Operations.CheckIntegrityAsync(report.BackupUri, IntegrityLevel.Live, request.Aws, host, ct, scratch).ConfigureAwait(false);
            report.VerifyDuration = priorVerify + clock.Elapsed;
            report.SummarySha256 ??= verified.SummarySha256;
            report.ItemsVerified = verified.Live is { } live ? live.BackupItems - live.Missing - live.Different : 0;
            report.Checks.Add(verified.IsValid
                ? new DrillCheck("Verify", true, $"All {report.ItemsVerified:N0} items of the backup are in '{scratch}' as the backup holds them, and nothing else is.")
                : new DrillCheck("Verify", false, string.Join("; ", verified.Problems.Take(5))));
        }
        catch (BackupDRException e)
        {
            report.VerifyDuration = priorVerify + clock.Elapsed;
            if (interrupted(e)) throw;
            report.Checks.Add(new DrillCheck("Verify", false, $"{e.ErrorId}: {e.Message}"));
        }
        report.Rto = report.RestoreDuration + report.VerifyDuration;

        // The live table, for information: it has moved on since the backup, which is the RPO, not a failure.
        if (request.CompareLive)
        {
            clock.Restart();
            try
            {
                var live = await Operations.CheckIntegrityAsync(report.BackupUri, IntegrityLevel.Live, request.Aws, host, ct, request.TableName).ConfigureAwait(false);
                report.Live = live.Live;
                report.CompareLiveDuration = clock.Elapsed;
                report.Checks.Add(live.Live is { } l
                    ? new DrillCheck("CompareLive", true, l.IsEqual
                        ? $"'{request.TableName}' equals the backup."
                        : $"'{request.TableName}' has changed since the backup: {l.Missing:N0} item(s) missing, {l.Extra:N0} added, {l.Different:N0} different.")
                    : new DrillCheck("CompareLive", false, string.Join("; ", live.Problems.Take(5))));
            }
            catch (BackupDRException e)
            {
                report.Checks.Add(new DrillCheck("CompareLive", false, $"{e.ErrorId}: {e.Message}"));
            }
        }

        if (request.MaxRpo is { } maxRpo)
        {
            report.Checks.Add(report.Rpo is { } rpo
                ? new DrillCheck("MaxRpo", rpo <= maxRpo, $"RPO {Span(rpo)} (at most {Span(maxRpo)}).")
                : new DrillCheck("MaxRpo", false, "The backup's point in time is not known, so its RPO cannot be held to a limit."));
        }
        if (request.MaxRto is { } maxRto)
        {
            report.Checks.Add(new DrillCheck("MaxRto", report.Rto <= maxRto, $"RTO {Span(report.Rto)} (at most {Span(maxRto)})."));
        }
        return created;
    }

    private static async Task<bool> ExistsAsync(Amazon.DynamoDBv2.IAmazonDynamoDB dynamo, string table)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        try
        {
            return await TableSchema.TryDescribeAsync(dynamo, table, deadline.Token).ConfigureAwait(false) is not null;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return true;   // cannot tell: try to remove it, and say so if that fails
        }
    }

    private static async Task RemoveAsync(Amazon.DynamoDBv2.IAmazonDynamoDB dynamo, string scratch, DrillReport report, IOperationHost host)
    {
        // Not the drill's token: a cancelled drill still removes what it created.
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await dynamo.DeleteTableAsync(new DeleteTableRequest { TableName = scratch }, deadline.Token).ConfigureAwait(false);
            // Removed means gone: DynamoDB deletes a table in the background (DELETING) before it stops describing it.
            var wait = TimeSpan.FromMilliseconds(50);
            while (await TableSchema.TryDescribeAsync(dynamo, scratch, deadline.Token).ConfigureAwait(false) is not null)
            {
                await Task.Delay(wait, deadline.Token).ConfigureAwait(false);
                wait = TimeSpan.FromMilliseconds(Math.Min(wait.TotalMilliseconds * 2, 5000));
            }
            report.ScratchTableRemoved = true;
            host.Verbose($"Removed the scratch table '{scratch}'.");
        }
        catch (ResourceNotFoundException)
        {
            report.ScratchTableRemoved = true;
        }
        catch (Exception e) when (e is not OperationCanceledException || deadline.IsCancellationRequested)
        {
            report.Checks.Add(new DrillCheck("Cleanup", false, $"The scratch table '{scratch}' could not be removed ({e.Message}); remove it yourself."));
        }
    }

    /// <summary>&lt;table&gt;-drill-&lt;yyyyMMddHHmmss&gt;, within DynamoDB's 255 characters.</summary>
    public static string ScratchName(string table, DateTimeOffset at)
    {
        string suffix = "-drill-" + at.UtcDateTime.ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture);
        return (table.Length + suffix.Length > 255 ? table[..(255 - suffix.Length)] : table) + suffix;
    }

    private static string Span(TimeSpan t) => t.TotalDays >= 1 ? $"{t.TotalDays:N1} d" : t.TotalHours >= 1 ? $"{t.TotalHours:N1} h" : t.TotalMinutes >= 1 ? $"{t.TotalMinutes:N1} min" : $"{t.TotalSeconds:N1} s";

    /// <summary>The drill was confirmed as a whole: its restore into the new scratch table asks nothing more, and never overwrites.</summary>
    private sealed class DrillHost(IOperationHost inner) : IOperationHost
    {
        public void Progress(OperationProgress progress) => inner.Progress(progress);
        public void Verbose(string message) => inner.Verbose(message);
        public void Warning(string message) => inner.Warning(message);
        public Task<bool> ConfirmAsync(string target, string action, CancellationToken cancellationToken) => Task.FromResult(true);
        public Task<bool> ConfirmDangerAsync(string target, string question, CancellationToken cancellationToken) => Task.FromResult(false);
    }
}
