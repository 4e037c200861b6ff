using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BackupDR.Engine;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Reporting;
using BackupDR.Engine.Storage;

namespace BackupDR.Lambda;

/// <summary>
/// The backup function with the Export engine (BACKUP_ENGINE=Export, or <c>"engine": "export"</c>). An export outlives
/// an invocation, so a scheduled run first finishes the table's earlier exports that have completed, then starts a new
/// export per table and answers at once (<c>exporting</c>); the export's own completion — its manifest-summary.json
/// landing in the bucket, delivered as S3's event (directly or through EventBridge) — finishes that backup: DynamoDB is
/// asked whether the export is this backup's and done, then it is verified and committed. The report (SNS, metrics)
/// and the ledger speak of backups when they commit, not when their export starts; any failure fails the invocation.
/// </summary>
internal sealed class ExportBackups(FunctionSettings settings, LambdaLog log, TimeProvider time)
{
    /// <summary>How long a completion event waits for DynamoDB to call an export COMPLETED after its summary landed.</summary>
    private static readonly TimeSpan CompletionPatience = TimeSpan.FromMinutes(2);

    /// <summary>…/&lt;table&gt;/&lt;backup id&gt;/AWSDynamoDB/&lt;export id&gt;/manifest-summary.json: an export into a backup's folder finished writing.</summary>
    private static readonly Regex CompletedKey = new(@"^(?<folder>.+/[^/]+/[0-9]{8}T[0-9]{9}Z-[0-9a-f]{8})/AWSDynamoDB/[0-9]{14}-[0-9a-f]{8}/manifest-summary\.json$",
        RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));

    /// <summary>
    /// The backup folders whose export finished, from S3's event (records, or one object through EventBridge); every
    /// one confined to BACKUP_ROOT. Null when the event is not S3's; empty when it names no export's summary.
    /// </summary>
    public static List<string>? CompletedFolders(JsonObject e, FunctionSettings settings, LambdaLog log)
    {
        var objects = new List<(string Bucket, string Key)>();
        bool fromS3 = false;
        if (e["Records"] is JsonArray records)
        {
            fromS3 = true;
            foreach (var record in records.OfType<JsonObject>())
            {
                if (record["s3"]?["bucket"]?["name"] is JsonValue b && b.TryGetValue<string>(out var bucket)
                    && record["s3"]?["object"]?["key"] is JsonValue k && k.TryGetValue<string>(out var encoded))
                {
                    objects.Add((bucket, Uri.UnescapeDataString(encoded.Replace('+', ' '))));   // S3 event keys are URL-encoded, '+' for a space
                }
            }
        }
        if (e["source"] is JsonValue source && source.TryGetValue<string>(out var s) && s == "aws.s3" && e["detail"] is JsonObject detail)
        {
            fromS3 = true;
            if (detail["bucket"]?["name"] is JsonValue b && b.TryGetValue<string>(out var bucket) && detail["object"]?["key"] is JsonValue k && k.TryGetValue<string>(out var key))
            {
                objects.Add((bucket, key));
            }
        }
        if (!fromS3) return null;
        var folders = new List<string>();
        foreach (var (bucket, key) in objects)
        {
            if (key.Length > 1024 || CompletedKey.Match(key) is not { Success: true } match)
            {
                log.Verbose($"Ignoring s3://{bucket}/{UnsafeKeyException.Printable(key)}: not an export's summary in a backup's folder.");
                continue;
            }
            folders.Add(settings.ConfinedUri($"s3://{bucket}/{match.Groups["folder"].Value}/"));
        }
        return folders.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>An export's completion: each backup folder named finished (or left, still exporting, for a later run).</summary>
    public async Task<byte[]> CompleteAsync(Invocation invocation, List<string> folders, IBackupObserver? observer, CancellationToken cancellationToken)
    {
        if (folders.Count == 0) return LambdaJson.Response(w => w.WriteString("status", "ignored"));
        using var deadline = Functions.Deadline(invocation, settings.DeadlineMargin, time, cancellationToken);
        var run = new Run();
        foreach (string uri in folders)
        {
            var location = BackupLocation.Parse(uri);
            string[] parts = location.Prefix.TrimEnd('/').Split('/');
            string table = parts[^2];
            run.Tables.Add(table);
            var left = invocation.Deadline - time.GetUtcNow() - settings.DeadlineMargin;
            var wait = left < CompletionPatience ? left / 2 : CompletionPatience;
            await run.FinishAsync(BackupLocation.ForBucket(location.Bucket!, string.Join('/', parts[..^2])), [table], parts[^1], settings, log, wait, observer, deadline.Token).ConfigureAwait(false);
        }
        return await AnswerAsync(run, null, deadline, null).ConfigureAwait(false);
    }

    /// <summary>A scheduled run: the tables' completed exports finished, then a new export started for each.</summary>
    public async Task<byte[]> RunAsync(Invocation invocation, BackupRequest request, CancellationToken cancellationToken)
    {
        using var deadline = Functions.Deadline(invocation, settings.DeadlineMargin, time, cancellationToken);
        var run = new Run();
        run.Tables.AddRange(request.TableNames);
        await run.FinishAsync(request.Target, request.TableNames, null, settings, log, TimeSpan.Zero, request.Observer, deadline.Token).ConfigureAwait(false);
        BackupDRException? startError = null;
        try
        {
            await BackupRunner.RunAsync(request, log, r => { lock (run) run.Exporting.Add(r); }, deadline.Token).ConfigureAwait(false);
        }
        catch (BackupDRException e)
        {
            startError = e;
        }
        foreach (var r in run.Exporting) log.Verbose($"Exporting '{r.TableName}' into {r.Uri} ({r.ExportArn}); its completion commits the backup.");
        return await AnswerAsync(run, startError, deadline, request.Target).ConfigureAwait(false);
    }

    private sealed class Run
    {
        public List<string> Tables { get; } = [];
        public List<BackupResult> Committed { get; } = [];
        public List<BackupResult> Exporting { get; } = [];
        public List<BackupDRException> Failed { get; } = [];

        public async Task FinishAsync(BackupLocation target, IReadOnlyList<string> tables, string? backupId, FunctionSettings settings, LambdaLog log, TimeSpan wait,
            IBackupObserver? observer, CancellationToken ct)
        {
            try
            {
                var outcome = await ExportCompletion.FinishAsync(target, tables, backupId, settings.Aws, log, wait, observer, ct).ConfigureAwait(false);
                Committed.AddRange(outcome.Committed);
                Exporting.AddRange(outcome.Exporting);
                Failed.AddRange(outcome.Failed);
            }
            catch (BackupDRException e)
            {
                Failed.Add(e);
            }
        }
    }

    /// <summary>Reports and records what committed, and answers; any failure (a finish or a start) fails the invocation after that.</summary>
    /// <param name="retainUnder">A scheduled run's target: RETENTION_* is applied there, after a run without failure, to the tables that committed a backup.</param>
    private async Task<byte[]> AnswerAsync(Run run, BackupDRException? startError, InvocationDeadline deadline, BackupLocation? retainUnder)
    {
        var failures = run.Failed.Concat(startError is null ? [] : [startError]).ToList();
        BackupDRException? error = failures.Count switch
        {
            0 => null,
            1 => failures[0],
            _ => new BackupDRException(failures[0].ErrorId, failures[0].Kind, string.Join(" ", failures.Select(f => f.Message)), failures[0].Target),
        };
        var reportFailures = new List<string>();
        if (run.Committed.Count > 0 || error is not null)
        {
            // A report speaks of backups: those committed now, and the tables whose backup failed.
            var started = run.Exporting.Select(r => r.TableName).ToHashSet(StringComparer.Ordinal);
            var reportTables = run.Committed.Select(r => r.TableName)
                .Concat(error is null ? [] : run.Tables.Where(t => !started.Contains(t))).Distinct(StringComparer.Ordinal).ToList();
            var outcome = await ReportedRun.RunAsync<List<BackupResult>>(
                _ => error is null ? Task.FromResult(run.Committed) : Task.FromException<List<BackupResult>>(error),
                (_, e) => RunReport.ForBackup(reportTables, run.Committed, e, settings.Reporting), settings.Reporting, settings.Aws, CancellationToken.None).ConfigureAwait(false);
            reportFailures.AddRange(outcome.Report.Failures);
        }
        reportFailures.AddRange(await Functions.RecordAsync(settings, log, run.Committed.Select(r => Engine.Ledger.LedgerWriter.ForBackup(r, settings.Aws))).ConfigureAwait(false));
        if (error is not null)
        {
            foreach (string f in reportFailures) log.Error(f);
            string summary = $"Committed: {(run.Committed.Count == 0 ? "none" : string.Join(", ", run.Committed.Select(r => $"{r.TableName} ({r.Uri})")))}. " +
                             $"Exporting: {(run.Exporting.Count == 0 ? "none" : string.Join(", ", run.Exporting.Select(r => $"{r.TableName} ({r.Uri})")))}.";
            throw Functions.Failure(error, deadline, settings, summary);
        }
        var removed = retainUnder is null ? null
            : await BackupFunction.RetainAsync(settings, log, time, retainUnder, run.Committed.Select(r => r.TableName).Distinct(StringComparer.Ordinal), reportFailures, deadline.Token).ConfigureAwait(false);
        return LambdaJson.Response(w =>
        {
            w.WriteString("status", "succeeded");
            w.WritePropertyName("results");
            JsonSerializer.Serialize(w, run.Committed, LambdaJsonContext.Default.ListBackupResult);
            if (settings.Retention is not null && removed is not null)
            {
                w.WriteStartArray("removed");
                foreach (string uri in removed) w.WriteStringValue(uri);
                w.WriteEndArray();
            }
            w.WritePropertyName("exporting");
            JsonSerializer.Serialize(w, run.Exporting, LambdaJsonContext.Default.ListBackupResult);
            Functions.WriteReportFailures(w, reportFailures, log);
        });
    }
}
