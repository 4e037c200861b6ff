using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Reporting;

/// <summary>Where a run reports to. Nothing is sent for what is not set.</summary>
public sealed record ReportingOptions
{
    /// <summary>SNS topic for successful runs (the seed's SUCCESS_TOPIC_ARN).</summary>
    public string? SuccessTopicArn { get; init; }

    /// <summary>SNS topic for failed runs (the seed's FAILURE_TOPIC_ARN).</summary>
    public string? FailureTopicArn { get; init; }

    /// <summary>CloudWatch namespace for the run's metrics; null sends none.</summary>
    public string? MetricNamespace { get; init; }

    /// <summary>Dimensions added to every metric (e.g. Environment=Production, as the seed's were).</summary>
    public IReadOnlyDictionary<string, string> Dimensions { get; init; } = new Dictionary<string, string>();

    /// <summary>Who ran the operation, e.g. "Invoke-DynamoBackup" or "lambda:backupdr-backup" (goes into the message).</summary>
    public string Host { get; init; } = "BackupDR";

    /// <summary>How that host phrases the engine's options in the message (<see cref="Say"/>); null: neutrally.</summary>
    public Func<string, string?, string?> Phrase { get; init; } = (_, _) => null;

    public bool IsEmpty => SuccessTopicArn is null && FailureTopicArn is null && MetricNamespace is null;

    /// <summary>Refuses a malformed topic ARN or namespace before the operation starts.</summary>
    public void Validate()
    {
        if (SuccessTopicArn is not null) Arns.SnsTopicRegion(SuccessTopicArn);
        if (FailureTopicArn is not null) Arns.SnsTopicRegion(FailureTopicArn);
        if (MetricNamespace is not null)
        {
            bool ok = MetricNamespace.Length is >= 1 and <= 255 && !MetricNamespace.StartsWith("AWS/", StringComparison.Ordinal)
                      && MetricNamespace.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' or '/' or '#' or ':' or ' ');
            if (!ok)
            {
                throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                    $"'{MetricNamespace}' is not a CloudWatch namespace you can publish to: 1 to 255 letters, digits, spaces or . - _ / # :, not starting with 'AWS/'.",
                    MetricNamespace);
            }
        }
        foreach (var (name, value) in Dimensions)
        {
            if (name.Length is < 1 or > 255 || value.Length is < 1 or > 1024)
            {
                throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                    $"Metric dimension '{name}={value}' is not valid: a name of 1-255 and a value of 1-1024 characters.", name);
            }
        }
    }
}

/// <summary>What one run (a backup, a validation, a restore) reports: an SNS message and CloudWatch metrics.</summary>
public sealed class RunReport
{
    public required string Operation { get; init; }
    public required bool Succeeded { get; init; }

    /// <summary>At most 100 ASCII characters, as SNS requires.</summary>
    public required string Subject { get; init; }

    /// <summary>JSON: the operation, its status, its results and (on failure) the error's id and message. Never credentials.</summary>
    public required string Message { get; init; }
    public required IReadOnlyList<MetricDatum> Metrics { get; init; }

    public static RunReport ForBackup(IReadOnlyList<string> tables, IReadOnlyList<BackupResult> results, BackupDRException? error, ReportingOptions options)
    {
        long items = results.Sum(r => r.ItemCount);
        var metrics = new List<MetricDatum>
        {
            new("BackupSuccessRate", tables.Count == 0 ? 0 : 100.0 * results.Count / tables.Count, "Percent"),
            new("TotalItemsBackedUp", items, "Count"),
            new("TablesProcessed", tables.Count, "Count"),
            new("BackupFailures", tables.Count - results.Count, "Count"),
            new("BackupBytes", results.Sum(r => r.SizeBytes), "Bytes"),
        };
        foreach (var r in results)
        {
            var table = new Dictionary<string, string> { ["TableName"] = r.TableName };
            metrics.Add(new("ItemsBackedUp", r.ItemCount, "Count", table));
            metrics.Add(new("BackupBytes", r.SizeBytes, "Bytes", table));
            metrics.Add(new("BackupDuration", r.Duration.TotalSeconds, "Seconds", table));
        }
        string what = tables.Count == 1 ? tables[0] : $"{tables.Count} tables";
        return Build("backup", error is null, $"backup of {what}", results, ReportJsonContext.Default.IReadOnlyListBackupResult, error, metrics, options);
    }

    public static RunReport ForValidation(string uri, IntegrityReport? report, BackupDRException? error, ReportingOptions options)
    {
        bool valid = error is null && report is { IsValid: true };
        var metrics = new List<MetricDatum>
        {
            new("ValidationsPassed", valid ? 1 : 0, "Count"),
            new("ValidationsFailed", valid ? 0 : 1, "Count"),
            new("ItemsVerified", Math.Max(0, report?.ItemsVerified ?? 0), "Count"),
            new("ValidationProblems", report?.ProblemCount ?? 0, "Count"),
            new("ValidationDuration", report?.Duration.TotalSeconds ?? 0, "Seconds"),
        };
        if (report?.TableName is { } table)
        {
            metrics.Add(new("ValidationsPassed", valid ? 1 : 0, "Count", new Dictionary<string, string> { ["TableName"] = table }));
        }
        string what = report?.TableName is { } t ? $"{t} backup {report.BackupId}" : uri;
        var effective = error ?? (valid ? null : new BackupDRException(
            report!.OnlyTableDiffers ? ErrorIds.TableDiffersFromBackup : ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData,
            string.Join("; ", report.Problems.Take(10)), uri));
        return Build<IntegrityReport>("validation", valid, $"validation of {what}", report, ReportJsonContext.Default.IntegrityReport, effective, metrics, options);
    }

    public static RunReport ForRestore(string tableName, RestoreResult? result, long? backupItems, BackupDRException? error, ReportingOptions options)
    {
        long done = result is null ? 0 : result.ItemsWritten + result.ItemsSkipped;
        long expected = backupItems ?? done;
        var table = new Dictionary<string, string> { ["TableName"] = tableName };
        var metrics = new List<MetricDatum>
        {
            new("ItemsRestored", result?.ItemsWritten ?? 0, "Count"),
            new("RecoveryValidationRate", expected == 0 ? (error is null ? 100 : 0) : 100.0 * done / expected, "Percent"),
            new("FailedItems", error is null ? 0 : Math.Max(0, expected - done), "Count"),
            new("RestoreDuration", result?.Duration.TotalSeconds ?? 0, "Seconds", table),
            new("ItemsRestored", result?.ItemsWritten ?? 0, "Count", table),
        };
        if (result is { ItemsDeleted: > 0 }) metrics.Add(new("ItemsDeleted", result.ItemsDeleted, "Count", table));
        return Build<RestoreResult>("restore", error is null, $"restore into {tableName}", result, ReportJsonContext.Default.RestoreResult, error, metrics, options);
    }

    /// <summary>A drill: Passed (1 or 0), RpoSeconds and RtoSeconds, per table; a failed drill is reported as a failure (DrillFailed) with its reasons.</summary>
    public static RunReport ForDrill(string tableName, Drill.DrillReport? drill, BackupDRException? error, ReportingOptions options)
    {
        bool passed = error is null && drill is { Passed: true };
        var table = new Dictionary<string, string> { ["TableName"] = tableName };
        var metrics = new List<MetricDatum> { new("Passed", passed ? 1 : 0, "Count", table) };
        if (drill?.Rpo is { } rpo) metrics.Add(new("RpoSeconds", rpo.TotalSeconds, "Seconds", table));
        if (drill is not null) metrics.Add(new("RtoSeconds", drill.Rto.TotalSeconds, "Seconds", table));
        var effective = error ?? (passed ? null : new BackupDRException(ErrorIds.DrillFailed, ErrorKind.InvalidData, string.Join("; ", drill!.Failures), tableName));
        return Build<Drill.DrillReport>("drill", passed, $"drill of {tableName}", drill, ReportJsonContext.Default.DrillReport, effective, metrics, options);
    }

    /// <summary>A copy (a DR copy, a replica): BackupsCopied (1 or 0), CopyBytes and CopyDuration, per table.</summary>
    public static RunReport ForCopy(string sourceUri, Catalog.CopyResult? copy, BackupDRException? error, ReportingOptions options)
    {
        var metrics = new List<MetricDatum> { new("BackupsCopied", error is null ? 1 : 0, "Count") };
        if (copy is not null)
        {
            var table = new Dictionary<string, string> { ["TableName"] = copy.TableName };
            metrics.Add(new("CopyBytes", copy.BytesCopied, "Bytes", table));
            metrics.Add(new("CopyDuration", copy.Duration.TotalSeconds, "Seconds", table));
        }
        return Build<Catalog.CopyResult>("copy", error is null, $"copy of {copy?.Uri ?? sourceUri}", copy, ReportJsonContext.Default.CopyResult, error, metrics, options);
    }

    /// <summary>A compliance check: TablesChecked and TablesNonCompliant; failed when any table is not compliant.</summary>
    public static RunReport ForCompliance(IReadOnlyList<Ledger.ComplianceRow>? rows, BackupDRException? error, ReportingOptions options)
    {
        int failing = rows?.Count(r => !r.Compliant) ?? 0;
        var metrics = new List<MetricDatum>
        {
            new("TablesChecked", rows?.Count ?? 0, "Count"),
            new("TablesNonCompliant", failing, "Count"),
        };
        var effective = error ?? (failing == 0 ? null
            : new BackupDRException(ErrorIds.ComplianceFailed, ErrorKind.InvalidData,
                $"{failing} of {rows!.Count} table(s) are not compliant: {string.Join("; ", rows.Where(r => !r.Compliant).Take(10).Select(r => $"{r.TableName} ({string.Join(", ", r.Reasons.Select(x => x.Split(':')[0]))})"))}", null));
        return Build<IReadOnlyList<Ledger.ComplianceRow>>("compliance", effective is null, $"compliance of {rows?.Count ?? 0} table(s)", rows, ReportJsonContext.Default.IReadOnlyListComplianceRow,
            effective, metrics, options);
    }

    private static RunReport Build<T>(string operation, bool succeeded, string what, T? results, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type,
        BackupDRException? error, List<MetricDatum> metrics, ReportingOptions options)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("source", "BackupDR");
            w.WriteString("version", EngineInfo.Version);
            w.WriteString("host", options.Host);
            w.WriteString("operation", operation);
            w.WriteString("status", succeeded ? "succeeded" : "failed");
            w.WriteString("time", DateTimeOffset.UtcNow);
            w.WritePropertyName("results");
            if (results is null) w.WriteNullValue();
            else JsonSerializer.Serialize(w, results, type);
            if (error is not null)
            {
                w.WriteStartObject("error");
                w.WriteString("id", error.ErrorId);
                w.WriteString("message", Say.Render(error.Message, options.Phrase));
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        foreach (var (name, value) in options.Dimensions)
        {
            for (int i = 0; i < metrics.Count; i++)
            {
                var dimensions = new Dictionary<string, string>(metrics[i].Dimensions ?? new Dictionary<string, string>()) { [name] = value };
                metrics[i] = metrics[i] with { Dimensions = dimensions };
            }
        }
        return new RunReport
        {
            Operation = operation,
            Succeeded = succeeded,
            Subject = AsciiSubject($"BackupDR {(succeeded ? "succeeded" : "FAILED")}: {what}"),
            Message = Encoding.UTF8.GetString(buffer.WrittenSpan),
            Metrics = metrics,
        };
    }

    /// <summary>SNS subjects: ASCII, no line breaks, at most 100 characters.</summary>
    private static string AsciiSubject(string text)
    {
        var ascii = new StringBuilder(text.Length);
        foreach (char c in text) ascii.Append(c is >= ' ' and <= '~' ? c : '?');
        return ascii.Length <= 100 ? ascii.ToString() : ascii.ToString(0, 97) + "...";
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(IReadOnlyList<BackupResult>))]
[JsonSerializable(typeof(IntegrityReport))]
[JsonSerializable(typeof(RestoreResult))]
[JsonSerializable(typeof(Drill.DrillReport))]
[JsonSerializable(typeof(Catalog.CopyResult))]
[JsonSerializable(typeof(IReadOnlyList<Ledger.ComplianceRow>))]
internal sealed partial class ReportJsonContext : JsonSerializerContext;

/// <summary>What became of a run's report: reporting never fails the run it reports on; it says what it could not send.</summary>
public sealed class ReportOutcome
{
    public string? NotificationMessageId { get; set; }
    public int MetricsSent { get; set; }

    /// <summary>What could not be sent, and why (empty when everything asked for was sent).</summary>
    public List<string> Failures { get; } = [];
}

/// <summary>Sends a run's report where the options say.</summary>
public sealed class RunReporter(INotificationPublisher? notifications, IMetricPublisher? metrics)
{
    public async Task<ReportOutcome> SendAsync(RunReport report, ReportingOptions options, CancellationToken cancellationToken)
    {
        var outcome = new ReportOutcome();
        string? topic = report.Succeeded ? options.SuccessTopicArn : options.FailureTopicArn;
        if (topic is not null && notifications is not null)
        {
            try
            {
                outcome.NotificationMessageId = await notifications.PublishAsync(topic, report.Subject, report.Message, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                outcome.Failures.Add($"The notification to {topic} was not sent: {Aws.AwsErrors.Translate(e, topic).Message}");
            }
        }
        if (options.MetricNamespace is not null && metrics is not null)
        {
            try
            {
                await metrics.PutAsync(options.MetricNamespace, report.Metrics, cancellationToken).ConfigureAwait(false);
                outcome.MetricsSent = report.Metrics.Count;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                outcome.Failures.Add($"The metrics for namespace '{options.MetricNamespace}' were not sent: {Aws.AwsErrors.Translate(e, options.MetricNamespace).Message}");
            }
        }
        return outcome;
    }

    /// <summary>A reporter on SNS and CloudWatch with the operation's credentials; <paramref name="lifetime"/> (to dispose) is null when nothing is to be sent.</summary>
    public static RunReporter For(Aws.AwsOptions aws, ReportingOptions options, out IDisposable? lifetime)
    {
        lifetime = null;
        if (options.IsEmpty) return new RunReporter(null, null);
        var http = Aws.SignedHttpClient.For(new Aws.AwsClientFactory(aws));
        lifetime = http;
        var cloudWatch = options.MetricNamespace is null ? null : new CloudWatchPublisher(http, Aws.SignedHttpClient.ResolveRegion(aws));
        return new RunReporter(new SnsPublisher(http), cloudWatch);
    }
}

/// <summary>
/// Runs an operation and reports it, whatever its outcome: the result or the error, and what the
/// report could not send. Hosts then output, log or throw as they do.
/// </summary>
public static class ReportedRun
{
    public sealed record Outcome<T>(T? Result, BackupDRException? Error, ReportOutcome Report);

    /// <summary>How long reporting one run may take at most, whatever the endpoints do.</summary>
    public static readonly TimeSpan ReportingDeadline = TimeSpan.FromSeconds(10);

    /// <param name="report">Builds the report from the result (null on failure) and the error (null on success).</param>
    public static async Task<Outcome<T>> RunAsync<T>(Func<CancellationToken, Task<T>> operation, Func<T?, BackupDRException?, RunReport> report,
        ReportingOptions options, Aws.AwsOptions aws, CancellationToken cancellationToken) where T : class
    {
        options.Validate();
        T? result = null;
        BackupDRException? error = null;
        try
        {
            result = await operation(cancellationToken).ConfigureAwait(false);
        }
        catch (BackupDRException e)
        {
            error = e;
        }
        if (options.IsEmpty) return new Outcome<T>(result, error, new ReportOutcome());
        // A cancelled or timed-out operation is still reported: reporting gets its own short deadline,
        // and a tight retry budget, so an unreachable endpoint (a function without egress) costs seconds,
        // not the operation's patience.
        using var deadline = new CancellationTokenSource(ReportingDeadline);
        var outcome = new ReportOutcome();
        var reportingAws = aws with
        {
            Retry = new RetryPolicy(4, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1)) { MaxElapsed = ReportingDeadline },
            RequestTimeout = TimeSpan.FromSeconds(5),
        };
        try
        {
            var reporter = RunReporter.For(reportingAws, options, out var lifetime);
            using (lifetime)
            {
                outcome = await reporter.SendAsync(report(result, error), options, deadline.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not BackupDRException)
        {
            outcome.Failures.Add("Nothing was reported: " + Aws.AwsErrors.Translate(e, "reporting").Message);
        }
        return new Outcome<T>(result, error, outcome);
    }
}
