using BackupDR.Engine.Reporting;

namespace BackupDR.Lambda;

/// <summary>
/// A function's configuration, from its environment variables: the seed's (BACKUP_BUCKET,
/// SUCCESS_TOPIC_ARN, FAILURE_TOPIC_ARN) keep their meaning; BackupDR adds the rest
/// (docs/lambda.md lists them). Checked at start-up: a wrong setting fails the function's init.
/// </summary>
internal sealed class FunctionSettings
{
    public string? BackupBucket { get; init; }
    public string BackupPrefix { get; init; } = "backupdr";
    public ReportingOptions Reporting { get; init; } = new();

    /// <summary>Where restores keep their checkpoints; by default beside the backups, in the bucket.</summary>
    public string? CheckpointUri { get; init; }

    /// <summary>Work stops this long before the invocation's deadline, so the answer (what was done) still gets out.</summary>
    public TimeSpan DeadlineMargin { get; init; } = TimeSpan.FromSeconds(10);

    public static FunctionSettings FromEnvironment(string functionName)
    {
        static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
        string? bucket = Env("BACKUP_BUCKET");
        var dimensions = new Dictionary<string, string>();
        foreach (string pair in (Env("METRIC_DIMENSIONS") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = pair.IndexOf('=');
            if (eq <= 0) throw new FunctionException("InvalidConfiguration", $"METRIC_DIMENSIONS must be Name=Value pairs separated by commas; '{pair}' is not.");
            dimensions[pair[..eq].Trim()] = pair[(eq + 1)..].Trim();
        }
        double margin = double.TryParse(Env("BACKUPDR_DEADLINE_MARGIN_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out double m) ? m : 10;
        var settings = new FunctionSettings
        {
            BackupBucket = bucket,
            BackupPrefix = (Env("BACKUP_PREFIX") ?? "backupdr").Trim('/'),
            CheckpointUri = Env("BACKUPDR_CHECKPOINT_URI") ?? (bucket is null ? null : $"s3://{bucket}/backupdr-checkpoints/"),
            DeadlineMargin = TimeSpan.FromSeconds(Math.Clamp(margin, 1, 300)),
            Reporting = new ReportingOptions
            {
                SuccessTopicArn = Env("SUCCESS_TOPIC_ARN"),
                FailureTopicArn = Env("FAILURE_TOPIC_ARN"),
                MetricNamespace = Env("METRIC_NAMESPACE") ?? "BackupDR",
                Dimensions = dimensions,
                Host = "lambda:" + functionName,
                Phrase = Phrasing.Phrase,
            },
        };
        try
        {
            settings.Reporting.Validate();
        }
        catch (Engine.BackupDRException e)
        {
            throw new FunctionException("InvalidConfiguration", e.Message);
        }
        return settings;
    }

    /// <summary>The bucket of an event, else BACKUP_BUCKET; InvalidEvent when neither names one.</summary>
    public string BucketFor(string? fromEvent) =>
        fromEvent ?? BackupBucket ?? throw new FunctionException("InvalidEvent", "No backup bucket: set the function's BACKUP_BUCKET, or give \"backup_bucket\" in the event.");
}
