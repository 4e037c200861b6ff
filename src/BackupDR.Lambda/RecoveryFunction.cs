using System.Text.Json;
using BackupDR.Engine;
using BackupDR.Engine.Catalog;
using BackupDR.Engine.Format;
using BackupDR.Engine.Reporting;
using BackupDR.Engine.Restore;

namespace BackupDR.Lambda;

/// <summary>
/// The recovery function. The seed's event works unchanged —
/// <c>{"table_name", "backup_bucket", "backup_file", "batch_size"}</c>: the backup at <c>backup_file</c>
/// (a backup's folder key, or any key inside it; a DynamoDB export's or dynamodump folder's; or the seed's
/// own <c>dynamodb-backups/&lt;table&gt;-backup-&lt;time&gt;.json</c>), else the latest committed backup of
/// <c>source_table</c> (default: <c>table_name</c>), is restored into <c>table_name</c>. BackupDR adds
/// <c>uri</c>, <c>source_table</c>, <c>mode</c>, <c>force</c>, <c>parallelism</c>,
/// <c>max_write_capacity_units</c> and <c>resume</c> (default true: an invocation retried after a
/// deadline or a crash continues from the restore's checkpoint); for DynamoDB exports (a
/// <c>backup_file</c> under <c>…/AWSDynamoDB/</c>) <c>key_schema</c> ("pk:S,sk:N"), <c>point_in_time</c>,
/// <c>allow_gaps</c> and <c>revert</c>.
/// Confined by its configuration: backups only under <c>s3://BACKUP_BUCKET/BACKUP_PREFIX/</c>
/// (LocationNotAllowed otherwise), targets only the tables RESTORE_TABLES names (TableNotAllowed).
/// </summary>
internal sealed class RecoveryFunction(FunctionSettings settings, LambdaLog log, TimeProvider time) : IFunction
{
    public async Task<byte[]> HandleAsync(Invocation invocation, CancellationToken cancellationToken)
    {
        var e = LambdaJson.ParseEvent(invocation.Event);
        if (e["drill"] is System.Text.Json.Nodes.JsonObject drill) return await DrillAsync(invocation, drill, cancellationToken).ConfigureAwait(false);
        if (e["fanout_restore"] is System.Text.Json.Nodes.JsonObject share) return await ShareAsync(invocation, share, cancellationToken).ConfigureAwait(false);
        string target = LambdaJson.String(e, "table_name")
            ?? throw new FunctionException("InvalidEvent", "\"table_name\" (the table to restore into) is required.");
        settings.AllowRestoreInto(target);
        if (LambdaJson.Int(e, "batch_size") is int batch && batch is < 1 or > 25)
        {
            throw new FunctionException("InvalidEvent", $"\"batch_size\" must be 1 to 25 (DynamoDB's BatchWriteItem limit), not {batch}. BackupDR always writes batches of 25.");
        }
        RestoreMode? mode = LambdaJson.String(e, "mode") is { } m
            ? Enum.TryParse<RestoreMode>(m, ignoreCase: true, out var parsed) ? parsed : throw new FunctionException("InvalidEvent", $"\"mode\" must be New, Upsert, MissingOnly or Exact, not '{m}'.")
            : null;
        using var deadline = Functions.Deadline(invocation, settings.DeadlineMargin, time, cancellationToken);
        string uri;
        try
        {
            uri = await BackupUriAsync(e, target, deadline.Token).ConfigureAwait(false);
        }
        catch (BackupDRException error)
        {
            throw Functions.Failure(error, deadline, settings, "Nothing was restored.");
        }
        var request = new RestoreRequest
        {
            Uri = uri,
            TableName = target,
            Mode = mode,
            Resume = LambdaJson.Bool(e, "resume") ?? true,
            Force = LambdaJson.Bool(e, "force") ?? false,
            Parallelism = LambdaJson.Int(e, "parallelism") ?? 4,
            MaxWriteCapacityUnits = LambdaJson.Number(e, "max_write_capacity_units") ?? 0,
            KmsKeyId = LambdaJson.String(e, "kms_key_id"),
            KeySchema = LambdaJson.String(e, "key_schema") is { } keys ? Engine.Tables.KeySchemas.Parse([keys]) : null,
            PointInTime = LambdaJson.String(e, "point_in_time") is { } pit
                ? DateTimeOffset.TryParse(pit, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var at) ? at.ToUniversalTime()
                    : throw new FunctionException("InvalidEvent", $"\"point_in_time\" must be an ISO 8601 time (2026-11-30T10:30:00Z), not '{Engine.Storage.UnsafeKeyException.Printable(pit)}'.")
                : null,
            AllowGaps = LambdaJson.Bool(e, "allow_gaps") ?? false,
            Revert = LambdaJson.Bool(e, "revert") ?? false,
            CheckpointUri = settings.CheckpointUri,
            Aws = settings.Aws,
            Time = time,
        };
        log.Verbose($"Restoring {uri} into table '{target}'.");
        var outcome = await ReportedRun.RunAsync(token => RestoreRunner.RunAsync(request, log, token),
            (result, error) => RunReport.ForRestore(target, result, null, error, settings.Reporting), settings.Reporting, request.Aws, deadline.Token).ConfigureAwait(false);
        if (outcome.Error is { } failure)
        {
            foreach (string f in outcome.Report.Failures) log.Error(f);
            throw Functions.Failure(failure, deadline, settings,
                $"The restore's progress is in its checkpoint ({settings.CheckpointUri}); invoking again with the same event continues it.");
        }
        var reportFailures = outcome.Report.Failures
            .Concat(await Functions.RecordAsync(settings, log, [Engine.Ledger.LedgerWriter.ForRestore(outcome.Result!, settings.Reporting.Host, settings.Aws)]).ConfigureAwait(false)).ToList();
        return LambdaJson.Response(w =>
        {
            w.WriteString("status", "succeeded");
            w.WriteString("backupUri", uri);
            w.WritePropertyName("result");
            JsonSerializer.Serialize(w, outcome.Result!, LambdaJsonContext.Default.RestoreResult);
            Functions.WriteReportFailures(w, reportFailures, log);
        });
    }

    /// <summary>
    /// A drill (<c>{"drill": {"table": "orders", "max_rpo_seconds": 90000, "max_rto_seconds": 1800,
    /// "compare_live": true, "uri": …, "scratch_table": …}}</c>): the latest committed backup of the table
    /// under BACKUP_ROOT (or <c>uri</c>, confined there) restored into a scratch table RESTORE_TABLES allows
    /// (default <c>&lt;table&gt;-drill-&lt;time&gt;</c>), verified, removed. A failed drill fails the invocation
    /// (DrillFailed) after logging its report, so the failure destination and alarms see it. A drill that runs
    /// out of time keeps its scratch table and its state beside the checkpoints; the same event continues it.
    /// </summary>
    private async Task<byte[]> DrillAsync(Invocation invocation, System.Text.Json.Nodes.JsonObject d, CancellationToken cancellationToken)
    {
        string table = LambdaJson.String(d, "table") ?? throw new FunctionException("InvalidEvent", "\"drill\" needs \"table\": the table whose backups are drilled.");
        string? named = LambdaJson.String(d, "scratch_table");
        // The default scratch name differs only by its time from a continued drill's (<table>-drill-<time>), so
        // RESTORE_TABLES allows both or neither.
        string scratch = named ?? Engine.Drill.DrillRunner.ScratchName(table, time.GetUtcNow());
        settings.AllowRestoreInto(scratch);
        string? uri = LambdaJson.String(d, "uri") is { } u ? settings.ConfinedUri(u) : null;
        TimeSpan? Seconds(string name) => LambdaJson.Number(d, name) is { } n ? TimeSpan.FromSeconds(n) : null;
        var request = new Engine.Drill.DrillRequest
        {
            TableName = table, TargetUri = uri is null ? settings.BackupRoot : null, BackupUri = uri, ScratchTableName = named, Resumable = true,
            CompareLive = LambdaJson.Bool(d, "compare_live") ?? false, MaxRpo = Seconds("max_rpo_seconds"), MaxRto = Seconds("max_rto_seconds"),
            KeySchema = LambdaJson.String(d, "key_schema") is { } keys ? Engine.Tables.KeySchemas.Parse([keys]) : null,
            Parallelism = LambdaJson.Int(d, "parallelism") is int p ? p is >= 1 and <= 64 ? p : throw new FunctionException("InvalidEvent", $"\"parallelism\" must be 1 to 64, not {p}.") : 4,
            CheckpointUri = settings.CheckpointUri, Aws = settings.Aws, Time = time,
        };
        using var deadline = Functions.Deadline(invocation, settings.DeadlineMargin, time, cancellationToken);
        log.Verbose($"Drilling the backups of '{table}' into '{scratch}'.");
        var outcome = await ReportedRun.RunAsync(token => Engine.Drill.DrillRunner.RunAsync(request, log, token),
            (report, error) => RunReport.ForDrill(table, report, error, settings.Reporting), settings.Reporting, settings.Aws, deadline.Token).ConfigureAwait(false);
        if (outcome.Error is { } failure)
        {
            throw Functions.Failure(failure, deadline, settings, deadline.Reached
                ? "The drill's scratch table and state are kept: the same drill event continues it (Lambda's retries of an asynchronous invocation do)."
                : "The drill's scratch table is removed when the drill ends.");
        }
        var drill = outcome.Result!;
        string json = JsonSerializer.Serialize(drill, LambdaJsonContext.Default.DrillReport);
        var reportFailures = outcome.Report.Failures
            .Concat(await Functions.RecordAsync(settings, log, [Engine.Ledger.LedgerWriter.ForDrill(drill, settings.Reporting.Host, settings.Aws)]).ConfigureAwait(false)).ToList();
        if (!drill.Passed)
        {
            foreach (string f in reportFailures) log.Error(f);
            log.Error(json);
            throw new FunctionException(ErrorIds.DrillFailed, $"The drill of '{table}' failed: {string.Join("; ", drill.Failures)}");
        }
        return LambdaJson.Response(w =>
        {
            w.WriteString("status", "succeeded");
            w.WritePropertyName("drill");
            JsonSerializer.Serialize(w, drill, LambdaJsonContext.Default.DrillReport);
            Functions.WriteReportFailures(w, reportFailures, log);
        });
    }

    /// <summary>
    /// A fan-out worker's share of a restore (<c>{"fanout_restore": {"uri", "table_name", "files": [...], "worker"}}</c>, sent by
    /// Restore-DynamoTable -Engine Lambda): those data files of the backup (under BACKUP_ROOT) written into the table
    /// (which RESTORE_TABLES must allow, and the caller created), with the share's own checkpoint; invoked again after
    /// a deadline, it continues from that checkpoint.
    /// </summary>
    private async Task<byte[]> ShareAsync(Invocation invocation, System.Text.Json.Nodes.JsonObject share, CancellationToken cancellationToken)
    {
        string target = LambdaJson.String(share, "table_name") ?? throw new FunctionException("InvalidEvent", "\"fanout_restore\" needs \"table_name\".");
        settings.AllowRestoreInto(target);
        string uri = settings.ConfinedUri(LambdaJson.String(share, "uri") ?? throw new FunctionException("InvalidEvent", "\"fanout_restore\" needs \"uri\"."));
        var files = LambdaJson.Strings(share, "files") ?? throw new FunctionException("InvalidEvent", "\"fanout_restore\" needs \"files\".");
        if (files.Count is 0 or > 100_000) throw new FunctionException("InvalidEvent", "\"files\" must name 1 to 100,000 data files.");
        var request = new RestoreRequest
        {
            Uri = uri, TableName = target, FileSubset = files, Resume = true, Parallelism = LambdaJson.Int(share, "parallelism") ?? 4,
            CheckpointUri = settings.CheckpointUri, Aws = settings.Aws, Time = time,
        };
        using var deadline = Functions.Deadline(invocation, settings.DeadlineMargin, time, cancellationToken);
        RestoreResult result;
        try
        {
            result = await RestoreRunner.RunAsync(request, log, deadline.Token).ConfigureAwait(false);
        }
        catch (BackupDRException error)
        {
            throw Functions.Failure(error, deadline, settings, "The share's progress is in its checkpoint; invoking again with the same event continues it.");
        }
        return LambdaJson.Response(w =>
        {
            w.WriteString("status", "succeeded");
            w.WritePropertyName("result");
            JsonSerializer.Serialize(w, result, LambdaJsonContext.Default.RestoreResult);
        });
    }

    private async Task<string> BackupUriAsync(System.Text.Json.Nodes.JsonObject e, string target, CancellationToken cancellationToken)
    {
        if (LambdaJson.String(e, "uri") is { } uri) return settings.ConfinedUri(uri);
        string bucket = settings.ConfinedBucket(LambdaJson.String(e, "backup_bucket"));
        if (LambdaJson.String(e, "backup_file") is { } file)
        {
            // A backup's folder, or any object in it (its commit marker, a manifest, a data file).
            string key = file.TrimStart('/');
            var segments = key.Split('/').ToList();
            int id = segments.FindLastIndex(BackupFormat.IsBackupId);
            if (id < 0)
            {
                // A DynamoDB export: …/AWSDynamoDB/<export id>/… names the export; …/AWSDynamoDB/ alone, the chain.
                int exports = segments.LastIndexOf(NativeExport.RootFolder);
                if (exports >= 0) id = exports + 1 < segments.Count && NativeExport.ExportId.IsMatch(segments[exports + 1]) ? exports + 1 : exports;
            }
            if (id < 0 && segments.Count > 1 && (segments[^1] == "schema.json" || (segments.Count > 2 && segments[^2] == "data" && System.Text.RegularExpressions.Regex.IsMatch(segments[^1], "^[0-9]{4,}\\.json$"))))
            {
                id = segments[^1] == "schema.json" ? segments.Count - 2 : segments.Count - 3;   // a dynamodump table folder
            }
            if (id < 0 && key.EndsWith(".json", StringComparison.Ordinal))
            {
                return settings.ConfinedUri($"s3://{bucket}/{key}");   // the original backup Lambda's single-file backup
            }
            if (id < 0) throw new FunctionException("InvalidEvent", $"\"backup_file\" '{Engine.Storage.UnsafeKeyException.Printable(file)}' is not in a BackupDR backup folder (…/<table>/<backup id>/…), a DynamoDB export (…/AWSDynamoDB/<export id>/…), a dynamodump folder or a backup file of the original Lambda (….json).");
            return settings.ConfinedUri($"s3://{bucket}/{string.Join('/', segments.Take(id + 1))}/");
        }
        string source = LambdaJson.String(e, "source_table") ?? target;
        string root = settings.BackupRoot;
        if (e["point_in_time"] is not null)
        {
            // A point in time: the table's folder, among whose export backups the one that reaches it is chosen.
            Engine.Tables.TableSchema.ValidateName(source);
            return settings.ConfinedUri($"{root}{source}/");
        }
        var backups = await Operations.ListBackupsAsync(root, source, settings.Aws, cancellationToken).ConfigureAwait(false);
        var latest = backups.Where(b => b.Status == BackupStatus.Committed).MaxBy(b => b.BackupId, StringComparer.Ordinal)
            ?? throw new FunctionException(ErrorIds.BackupNotFound, $"There is no committed backup of table '{source}' under {root}. Give \"backup_file\" or \"uri\", or \"source_table\" if the backup is of another table.");
        log.Verbose($"The latest committed backup of '{source}' is {latest.Uri}.");
        return latest.Uri;
    }
}
