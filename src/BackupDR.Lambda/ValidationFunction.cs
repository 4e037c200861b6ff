using System.Text.Json;
using System.Text.Json.Nodes;
using BackupDR.Engine;
using BackupDR.Engine.Format;
using BackupDR.Engine.Reporting;
using BackupDR.Engine.Validation;

namespace BackupDR.Lambda;

/// <summary>
/// The validation function. It takes the S3 event of a committed backup (the trigger
/// Deploy-BackupFunctions wires on keys ending in <c>/_committed</c>), or <c>{"uri": "s3://…/"}</c>
/// / <c>{"uris": [...]}</c>, with an optional <c>level</c> (Quick or Full, the default). Every backup is
/// reported; one that is not valid fails the invocation (BackupIntegrityFailed), so an on-failure
/// destination receives it. Only backups under <c>s3://BACKUP_BUCKET/BACKUP_PREFIX/</c> are read: an
/// event naming anything else (another bucket, another prefix, a local path) fails with LocationNotAllowed.
/// </summary>
internal sealed class ValidationFunction(FunctionSettings settings, LambdaLog log, TimeProvider time) : IFunction
{
    public async Task<byte[]> HandleAsync(Invocation invocation, CancellationToken cancellationToken)
    {
        var e = LambdaJson.ParseEvent(invocation.Event);
        if (e["compliance"] is JsonObject compliance) return await ComplianceAsync(invocation, compliance, cancellationToken).ConfigureAwait(false);
        var uris = BackupUris(e);
        if (uris.Count == 0)
        {
            throw new FunctionException("InvalidEvent", "No backup to validate: give an S3 event for a key ending in /_committed, or {\"uri\": \"s3://bucket/prefix/table/backup-id/\"}.");
        }
        var level = (LambdaJson.String(e, "level") ?? "Full").ToLowerInvariant() switch
        {
            "quick" => IntegrityLevel.Quick,
            "full" => IntegrityLevel.Full,
            string other => throw new FunctionException("InvalidEvent", $"\"level\" must be Quick or Full, not '{other}'."),
        };
        using var deadline = Functions.Deadline(invocation, settings.DeadlineMargin, time, cancellationToken);
        var reports = new List<IntegrityReport>();
        var failures = new List<string>();
        var reportFailures = new List<string>();
        foreach (string uri in uris)
        {
            log.Verbose($"Validating {uri} ({level}).");
            var outcome = await ReportedRun.RunAsync(token => Operations.CheckIntegrityAsync(uri, level, settings.Aws, log, token),
                (report, error) => RunReport.ForValidation(uri, report, error, settings.Reporting), settings.Reporting, settings.Aws, deadline.Token).ConfigureAwait(false);
            reportFailures.AddRange(outcome.Report.Failures);
            if (outcome.Error is { } error)
            {
                if (error.ErrorId == ErrorIds.OperationCancelled && deadline.Reached)
                {
                    throw Functions.Failure(error, deadline, settings, $"Validated: {string.Join(", ", reports.Select(r => $"{r.Uri} ({(r.IsValid ? "valid" : "NOT valid")})"))}. Not validated: {string.Join(", ", uris.Skip(reports.Count))}.");
                }
                failures.Add($"{uri}: {error.ErrorId}: {error.Message}");
                continue;
            }
            reports.Add(outcome.Result!);
            if (!outcome.Result!.IsValid) failures.Add($"{uri}: {string.Join("; ", outcome.Result.Problems.Take(10))}");
        }
        reportFailures.AddRange(await Functions.RecordAsync(settings, log,
            reports.Select(r => Engine.Ledger.LedgerWriter.ForValidation(r, settings.Reporting.Host, settings.Aws, time.GetUtcNow()))).ConfigureAwait(false));
        foreach (string f in reportFailures) log.Error(f);
        if (failures.Count > 0)
        {
            throw new FunctionException(ErrorIds.BackupIntegrityFailed, $"{failures.Count} of {uris.Count} backup(s) failed validation: {string.Join(" | ", failures)}");
        }
        return LambdaJson.Response(w =>
        {
            w.WriteString("status", "valid");
            w.WritePropertyName("results");
            JsonSerializer.Serialize(w, reports, LambdaJsonContext.Default.ListIntegrityReport);
            Functions.WriteReportFailures(w, reportFailures, log);
        });
    }

    private List<string> BackupUris(JsonObject e) => Functions.CommittedBackupUris(e, settings, log);

    /// <summary>
    /// Compliance (<c>{"compliance": {"tables": ["orders*"], "exclude": [...], "max_age_seconds": 86400,
    /// "max_validation_age_seconds": …, "max_drill_age_seconds": …, "max_rto_seconds": …}}</c>) of the backups under
    /// BACKUP_ROOT, from LEDGER_TABLE when set: the rows in the answer; any table not compliant fails the
    /// invocation (ComplianceFailed) after the rows are logged.
    /// </summary>
    private async Task<byte[]> ComplianceAsync(Invocation invocation, JsonObject c, CancellationToken cancellationToken)
    {
        TimeSpan? Seconds(string name) => LambdaJson.Number(c, name) is { } n
            ? n > 0 && n <= 3.0e9 ? TimeSpan.FromSeconds(n) : throw new FunctionException("InvalidEvent", $"\"{name}\" must be a number of seconds above 0.")
            : null;
        var request = new Engine.Ledger.ComplianceRequest
        {
            TargetUri = settings.BackupRoot, TableNames = LambdaJson.Strings(c, "tables") ?? [], Exclude = LambdaJson.Strings(c, "exclude") ?? [],
            MaxAge = Seconds("max_age_seconds") ?? TimeSpan.FromDays(1), MaxValidationAge = Seconds("max_validation_age_seconds"),
            MaxDrillAge = Seconds("max_drill_age_seconds"), MaxRto = Seconds("max_rto_seconds"), Ledger = settings.Ledger, Aws = settings.Aws, Time = time,
        };
        using var deadline = Functions.Deadline(invocation, settings.DeadlineMargin, time, cancellationToken);
        var outcome = await ReportedRun.RunAsync(token => Engine.Ledger.ComplianceChecker.CheckAsync(request, log, token),
            (rows, error) => RunReport.ForCompliance(rows, error, settings.Reporting), settings.Reporting, settings.Aws, deadline.Token).ConfigureAwait(false);
        foreach (string f in outcome.Report.Failures) log.Error(f);
        if (outcome.Error is { } failure) throw Functions.Failure(failure, deadline, settings, "No compliance answer was given.");
        var rows = outcome.Result!;
        var failing = rows.Where(r => !r.Compliant).ToList();
        if (failing.Count > 0)
        {
            log.Error(JsonSerializer.Serialize(rows, LambdaJsonContext.Default.IReadOnlyListComplianceRow));
            throw new FunctionException(ErrorIds.ComplianceFailed,
                $"{failing.Count} of {rows.Count} table(s) are not compliant: {string.Join(" | ", failing.Select(r => $"{r.TableName}: {string.Join("; ", r.Reasons)}"))}");
        }
        return LambdaJson.Response(w =>
        {
            w.WriteString("status", "compliant");
            w.WritePropertyName("rows");
            JsonSerializer.Serialize(w, rows, LambdaJsonContext.Default.IReadOnlyListComplianceRow);
            Functions.WriteReportFailures(w, outcome.Report.Failures, log);
        });
    }
}
