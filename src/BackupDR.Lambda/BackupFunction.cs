using System.Text.Json;
using BackupDR.Engine;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Reporting;
using BackupDR.Engine.Storage;

namespace BackupDR.Lambda;

/// <summary>
/// The backup function. The seed's event works unchanged — <c>{"tables": ["app-users", "app-orders"]}</c>
/// — plus <c>bucket</c> (only BACKUP_BUCKET), <c>prefix</c> (BACKUP_PREFIX or below it), <c>segments</c>,
/// <c>consistent_read</c>, <c>max_read_capacity_units</c>. Without <c>tables</c>, BACKUP_TABLES
/// (comma-separated) is used. With RETENTION_KEEP_LAST and/or RETENTION_DAYS, the retention policy is
/// applied to the tables just backed up after a successful run (their newest committed backup, the one
/// just made, is never removed). With BACKUP_ENGINE=Export (or <c>"engine": "export"</c>), see <see cref="ExportBackups"/>:
/// a run starts the exports, and S3's event of an export's summary finishes its backup.
/// </summary>
internal sealed class BackupFunction(FunctionSettings settings, LambdaLog log, TimeProvider time) : IFunction
{
    public async Task<byte[]> HandleAsync(Invocation invocation, CancellationToken cancellationToken)
    {
        var e = LambdaJson.ParseEvent(invocation.Event);
        if (e["fanout"] is System.Text.Json.Nodes.JsonObject share) return await ShareAsync(invocation, share, cancellationToken).ConfigureAwait(false);
        var exports = new ExportBackups(settings, log, time);
        if (ExportBackups.CompletedFolders(e, settings, log) is { } completed)
        {
            return await exports.CompleteAsync(invocation, completed, Observer(), cancellationToken).ConfigureAwait(false);
        }
        var tables = LambdaJson.Strings(e, "tables")
            ?? Environment.GetEnvironmentVariable("BACKUP_TABLES")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        if (tables is not { Count: > 0 })
        {
            throw new FunctionException("InvalidEvent", "No tables to back up: give {\"tables\": [\"name\", ...]} in the event, or set BACKUP_TABLES.");
        }
        string bucket = settings.ConfinedBucket(LambdaJson.String(e, "bucket") ?? LambdaJson.String(e, "backup_bucket"));
        string prefix = settings.ConfinedPrefix(LambdaJson.String(e, "prefix"));
        var observer = Observer();
        var engine = LambdaJson.String(e, "engine") switch
        {
            null => settings.BackupEngine,
            { } name when name.Equals("scan", StringComparison.OrdinalIgnoreCase) => BackupEngine.Scan,
            { } name when name.Equals("export", StringComparison.OrdinalIgnoreCase) => BackupEngine.Export,
            _ => throw new FunctionException("InvalidEvent", "\"engine\" must be \"scan\" or \"export\"."),
        };
        bool incremental = LambdaJson.Bool(e, "incremental") ?? (engine == BackupEngine.Export && settings.Incremental);
        if (incremental && engine != BackupEngine.Export) throw new FunctionException("InvalidEvent", "\"incremental\" is the export engine's: add \"engine\": \"export\".");
        if (engine == BackupEngine.Export)
        {
            if (e["segments"] is not null || e["consistent_read"] is not null || e["max_read_capacity_units"] is not null)
            {
                throw new FunctionException("InvalidEvent", "\"segments\", \"consistent_read\" and \"max_read_capacity_units\" are the scan engine's: DynamoDB's export reads the table its own way.");
            }
            log.Verbose($"Exporting {string.Join(", ", tables)} to s3://{bucket}/{prefix}/ with DynamoDB's export{(incremental ? " (incremental)" : "")}.");
            return await exports.RunAsync(invocation, new BackupRequest
            {
                TableNames = tables, Target = BackupLocation.ForBucket(bucket, prefix), Aws = settings.Aws, Time = time, Observer = observer,
                Engine = BackupEngine.Export, Incremental = incremental, DetachExport = true,
            }, cancellationToken).ConfigureAwait(false);
        }
        var request = new BackupRequest
        {
            TableNames = tables,
            Target = BackupLocation.ForBucket(bucket, prefix),
            Aws = settings.Aws,
            Segments = LambdaJson.Int(e, "segments") ?? 0,
            ConsistentRead = LambdaJson.Bool(e, "consistent_read") ?? false,
            MaxReadCapacityUnits = LambdaJson.Number(e, "max_read_capacity_units") ?? 0,
            Time = time,
            Observer = observer,
        };
        log.Verbose($"Backing up {string.Join(", ", tables)} to s3://{bucket}/{prefix}/.");
        using var deadline = Functions.Deadline(invocation, settings.DeadlineMargin, time, cancellationToken);
        var results = new List<BackupResult>();
        var outcome = await ReportedRun.RunAsync(async token =>
        {
            await BackupRunner.RunAsync(request, log, r => { lock (results) results.Add(r); }, token).ConfigureAwait(false);
            return results;
        }, (_, error) => RunReport.ForBackup(tables, results, error, settings.Reporting), settings.Reporting, request.Aws, deadline.Token).ConfigureAwait(false);
        // Every committed backup goes on record, also when a later table failed.
        var reportFailures = outcome.Report.Failures.Concat((observer?.Failures ?? []).Select(f => $"{ErrorIds.LedgerNotWritten}: {f}"))
            .Concat(await Functions.RecordAsync(settings, log, results.Select(r => Engine.Ledger.LedgerWriter.ForBackup(r, settings.Aws))).ConfigureAwait(false)).ToList();
        if (outcome.Error is { } failure)
        {
            foreach (string f in reportFailures) log.Error(f);
            var done = results.Select(r => r.TableName).ToList();
            string summary = $"Backed up: {(done.Count == 0 ? "none" : string.Join(", ", results.Select(r => $"{r.TableName} ({r.Uri})")))}. " +
                             $"Not backed up: {string.Join(", ", tables.Except(done))}.";
            throw Functions.Failure(failure, deadline, settings, summary);
        }
        // Retention after a successful run, for the tables just backed up: never their newest committed backup (the one just made).
        var removed = await RetainAsync(settings, log, time, BackupLocation.ForBucket(bucket, prefix), tables, reportFailures, deadline.Token).ConfigureAwait(false);
        return LambdaJson.Response(w =>
        {
            w.WriteString("status", "succeeded");
            w.WritePropertyName("results");
            JsonSerializer.Serialize(w, results, LambdaJsonContext.Default.ListBackupResult);
            if (settings.Retention is not null)
            {
                w.WriteStartArray("removed");
                foreach (string uri in removed) w.WriteStringValue(uri);
                w.WriteEndArray();
            }
            Functions.WriteReportFailures(w, reportFailures, log);
        });
    }

    /// <summary>RETENTION_*, applied to <paramref name="tables"/> under <paramref name="target"/>; the URIs removed (their ledger marks' failures go to <paramref name="reportFailures"/>).</summary>
    internal static async Task<List<string>> RetainAsync(FunctionSettings settings, LambdaLog log, TimeProvider time, BackupLocation target, IEnumerable<string> tables,
        List<string> reportFailures, CancellationToken ct)
    {
        var removed = new List<string>();
        if (settings.Retention is not { } policy) return removed;
        var removedBackups = new List<Engine.Catalog.RemovedBackup>();
        string root = target.Prefix.Length > 0 ? $"s3://{target.Bucket}/{target.Prefix}/" : $"s3://{target.Bucket}/";
        foreach (string table in tables)
        {
            var gone = await Engine.Operations.ApplyRetentionAsync(root, table, policy, settings.Aws, _ => Task.FromResult(true), time, ct).ConfigureAwait(false);
            removed.AddRange(gone.Select(g => g.Uri));
            removedBackups.AddRange(gone);
        }
        if (removed.Count > 0) log.Verbose($"Retention removed {removed.Count} backup(s): {string.Join(", ", removed)}.");
        if (settings.Ledger is { } ledger && removedBackups.Count > 0)
        {
            reportFailures.AddRange((await Engine.Ledger.LedgerWriter.MarkRemovedAsync(ledger, removedBackups, log).ConfigureAwait(false)).Select(f => $"{ErrorIds.LedgerNotWritten}: {f}"));
        }
        return removed;
    }

    private Engine.Ledger.LedgerWriter.BackupObserver? Observer() =>
        settings.Ledger is { } ledgerOptions ? new Engine.Ledger.LedgerWriter.BackupObserver(ledgerOptions, settings.Aws, log) : null;

    /// <summary>
    /// A fan-out worker's share (<c>{"fanout": {"table", "backup_uri", "segment", "total_segments"}}</c>, sent by
    /// Invoke-DynamoBackup -Engine Lambda): the segment scanned into the backup's folder — which must be
    /// BACKUP_ROOT/&lt;table&gt;/&lt;backup id&gt;/ — as data files of its own streams; the answer lists them. Nothing is
    /// committed here: the caller commits when every segment is done.
    /// </summary>
    private async Task<byte[]> ShareAsync(Invocation invocation, System.Text.Json.Nodes.JsonObject share, CancellationToken cancellationToken)
    {
        string table = LambdaJson.String(share, "table") ?? throw new FunctionException("InvalidEvent", "\"fanout\" needs \"table\".");
        string uri = settings.ConfinedUri(LambdaJson.String(share, "backup_uri") ?? throw new FunctionException("InvalidEvent", "\"fanout\" needs \"backup_uri\"."));
        int segment = LambdaJson.Int(share, "segment") ?? throw new FunctionException("InvalidEvent", "\"fanout\" needs \"segment\".");
        int total = LambdaJson.Int(share, "total_segments") ?? throw new FunctionException("InvalidEvent", "\"fanout\" needs \"total_segments\".");
        string[] parts = BackupLocation.Parse(uri).Prefix.TrimEnd('/').Split('/');
        if (parts.Length < 2 || parts[^2] != table || !Engine.Format.BackupFormat.IsBackupId(parts[^1]))
        {
            throw new FunctionException("LocationNotAllowed", $"\"backup_uri\" must be a backup's folder of table '{table}' (…/{table}/<backup id>/).");
        }
        var location = BackupLocation.Parse(uri);
        string targetPrefix = string.Join('/', parts[..^2]);
        var request = new BackupRequest
        {
            TableNames = [table], Target = BackupLocation.ForBucket(location.Bucket!, targetPrefix), Aws = settings.Aws, Time = time,
            Slice = new BackupSlice(parts[^1], segment, total),
        };
        using var deadline = Functions.Deadline(invocation, settings.DeadlineMargin, time, cancellationToken);
        var results = new List<BackupResult>();
        try
        {
            await BackupRunner.RunAsync(request, log, results.Add, deadline.Token).ConfigureAwait(false);
        }
        catch (BackupDRException error)
        {
            throw Functions.Failure(error, deadline, settings, $"Segment {segment} of {total} of '{table}' was not written; invoking it again starts it over.");
        }
        var files = results.Single().DataFiles ?? [];
        byte[] lines = Engine.Format.BackupFormat.Serialize(files);
        return LambdaJson.Response(w =>
        {
            w.WriteString("status", "succeeded");
            w.WriteNumber("segment", segment);
            w.WriteNumber("items", files.Sum(f => f.ItemCount));
            w.WriteStartArray("files");
            foreach (var line in System.Text.Encoding.UTF8.GetString(lines).Split('\n', StringSplitOptions.RemoveEmptyEntries)) w.WriteRawValue(line);
            w.WriteEndArray();
        });
    }
}
