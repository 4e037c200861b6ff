using BackupDR.Engine.Reporting;
using BackupDR.Engine.Storage;

namespace BackupDR.Lambda;

/// <summary>
/// A function's configuration, from its environment variables: the seed's (BACKUP_BUCKET,
/// SUCCESS_TOPIC_ARN, FAILURE_TOPIC_ARN) keep their meaning; BackupDR adds the rest
/// (docs/lambda.md lists them). Checked at start-up: a wrong setting fails the function's init.
/// </summary>
/// <remarks>
/// The configuration is the function's trust boundary. An event is whatever its caller sends, so what
/// an event may name is confined here: backups only under <c>s3://BACKUP_BUCKET/BACKUP_PREFIX/</c>, no
/// local path, and for a restore only the tables RESTORE_TABLES allows.
/// </remarks>
internal sealed class FunctionSettings
{
    public required string BackupBucket { get; init; }
    public string BackupPrefix { get; init; } = "backupdr";
    public ReportingOptions Reporting { get; init; } = new();

    /// <summary>Where restores keep their checkpoints; by default beside the backups, in the bucket.</summary>
    public required string CheckpointUri { get; init; }

    /// <summary>The tables the recovery function may restore into: names, "prefix*" patterns, or "*" for any.</summary>
    public IReadOnlyList<string> RestoreTables { get; init; } = [];

    /// <summary>Where and as whom the function calls AWS: its region, and the S3 hygiene of its configuration (EXPECTED_BUCKET_OWNER, BACKUP_SSE, BACKUP_KMS_KEY_ID).</summary>
    public Engine.Aws.AwsOptions Aws { get; init; } = new();

    /// <summary>The replication function's destination bucket (REPLICA_BUCKET); its region (REPLICA_REGION) and owner (REPLICA_EXPECTED_BUCKET_OWNER).</summary>
    public string? ReplicaBucket { get; init; }
    public Engine.Aws.AwsOptions ReplicaAws { get; init; } = new();

    /// <summary>The backup function's retention policy after each successful run (RETENTION_KEEP_LAST, RETENTION_DAYS); null: none.</summary>
    public Engine.Catalog.RetentionPolicy? Retention { get; init; }

    /// <summary>The ledger every run is recorded in (LEDGER_TABLE, docs/ledger.md); null: none.</summary>
    public Engine.Ledger.LedgerOptions? Ledger { get; init; }

    /// <summary>Work stops this long before the invocation's deadline, so the answer (what was done) still gets out.</summary>
    public TimeSpan DeadlineMargin { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>BACKUP_ENGINE: Scan (default) or Export (DynamoDB's export, started here and finished when it completes).</summary>
    public Engine.Backup.BackupEngine BackupEngine { get; init; } = Engine.Backup.BackupEngine.Scan;

    /// <summary>BACKUP_INCREMENTAL: with the Export engine, each scheduled backup exports only the changes since the table's last one.</summary>
    public bool Incremental { get; init; }

    /// <summary>s3://BACKUP_BUCKET/BACKUP_PREFIX/: every backup a function reads or writes is below it.</summary>
    public string BackupRoot => BackupPrefix.Length == 0 ? $"s3://{BackupBucket}/" : $"s3://{BackupBucket}/{BackupPrefix}/";

    /// <summary>True when <paramref name="key"/> (a key or a key prefix, no trailing '/') is strictly below BACKUP_PREFIX.</summary>
    private bool IsBelowPrefix(string key) => BackupPrefix.Length == 0 ? key.Length > 0 : key.StartsWith(BackupPrefix + "/", StringComparison.Ordinal);

    public static FunctionSettings FromEnvironment(string functionName, Func<string, string?> environment)
    {
        string? Env(string name) => environment(name) is { Length: > 0 } v ? v : null;
        string bucket = Env("BACKUP_BUCKET")
            ?? throw new FunctionException("InvalidConfiguration", "BACKUP_BUCKET is not set: the function reads and writes backups only in the bucket its configuration names.");
        string prefix = (Env("BACKUP_PREFIX") ?? "backupdr").Trim('/');
        try
        {
            BackupLocation.ForBucket(bucket, prefix);
        }
        catch (Engine.BackupDRException e)
        {
            throw new FunctionException("InvalidConfiguration", $"BACKUP_BUCKET / BACKUP_PREFIX: {e.Message}");
        }
        var dimensions = new Dictionary<string, string>();
        foreach (string pair in (Env("METRIC_DIMENSIONS") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = pair.IndexOf('=');
            if (eq <= 0) throw new FunctionException("InvalidConfiguration", $"METRIC_DIMENSIONS must be Name=Value pairs separated by commas; '{pair}' is not.");
            dimensions[pair[..eq].Trim()] = pair[(eq + 1)..].Trim();
        }
        var restoreTables = (Env("RESTORE_TABLES") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        foreach (string table in restoreTables.Where(t => t != "*"))
        {
            try
            {
                Engine.Tables.TableSchema.ValidateName(table.EndsWith('*') && table.Length > 3 ? table[..^1] : table);
            }
            catch (Engine.BackupDRException e)
            {
                throw new FunctionException("InvalidConfiguration", $"RESTORE_TABLES: {e.Message}");
            }
        }
        double margin = double.TryParse(Env("BACKUPDR_DEADLINE_MARGIN_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out double m) ? m : 10;
        int? keepLast = Whole("RETENTION_KEEP_LAST");
        int? days = Whole("RETENTION_DAYS");
        var retention = keepLast is null && days is null ? null : new Engine.Catalog.RetentionPolicy(keepLast, days is { } d ? TimeSpan.FromDays(d) : null);
        try
        {
            retention?.Validate();
        }
        catch (Engine.BackupDRException e)
        {
            throw new FunctionException("InvalidConfiguration", $"RETENTION_KEEP_LAST / RETENTION_DAYS: {Engine.Say.Neutral(e.Message)}");
        }

        int? Whole(string name) => Env(name) is not { } text ? null
            : int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n > 0 ? n
            : throw new FunctionException("InvalidConfiguration", $"{name} must be a whole number of at least 1, not '{text}'.");
        string? replica = Env("REPLICA_BUCKET");
        if (replica is not null)
        {
            try
            {
                BackupLocation.ForBucket(replica, prefix);
            }
            catch (Engine.BackupDRException e)
            {
                throw new FunctionException("InvalidConfiguration", $"REPLICA_BUCKET: {e.Message}");
            }
            if (replica == bucket) throw new FunctionException("InvalidConfiguration", "REPLICA_BUCKET is BACKUP_BUCKET: a replica is a second copy elsewhere. Name another bucket.");
        }
        string? replicaRole = Env("REPLICA_ROLE_ARN");
        if (replicaRole is not null && !System.Text.RegularExpressions.Regex.IsMatch(replicaRole, @"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$"))
        {
            throw new FunctionException("InvalidConfiguration", $"REPLICA_ROLE_ARN '{replicaRole}' is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>).");
        }
        var engine = Env("BACKUP_ENGINE") switch
        {
            null => Engine.Backup.BackupEngine.Scan,
            { } e when e.Equals("Scan", StringComparison.OrdinalIgnoreCase) => Engine.Backup.BackupEngine.Scan,
            { } e when e.Equals("Export", StringComparison.OrdinalIgnoreCase) => Engine.Backup.BackupEngine.Export,
            { } e => throw new FunctionException("InvalidConfiguration", $"BACKUP_ENGINE must be Scan or Export, not '{e}'."),
        };
        bool incremental = Env("BACKUP_INCREMENTAL") switch
        {
            null => false,
            { } v when v.Equals("true", StringComparison.OrdinalIgnoreCase) => true,
            { } v when v.Equals("false", StringComparison.OrdinalIgnoreCase) => false,
            { } v => throw new FunctionException("InvalidConfiguration", $"BACKUP_INCREMENTAL must be true or false, not '{v}'."),
        };
        if (incremental && engine != Engine.Backup.BackupEngine.Export)
        {
            throw new FunctionException("InvalidConfiguration", "BACKUP_INCREMENTAL is the Export engine's: set BACKUP_ENGINE=Export too.");
        }
        var settings = new FunctionSettings
        {
            BackupEngine = engine,
            Incremental = incremental,
            ReplicaBucket = replica,
            ReplicaAws = new Engine.Aws.AwsOptions
            {
                Region = Env("REPLICA_REGION") ?? Env("AWS_REGION"),
                RoleArn = replicaRole,
                S3 = new Engine.Aws.S3Options(Env("REPLICA_EXPECTED_BUCKET_OWNER"), Env("BACKUP_SSE"), Env("BACKUP_KMS_KEY_ID")),
            },
            BackupBucket = bucket,
            BackupPrefix = prefix,
            CheckpointUri = Env("BACKUPDR_CHECKPOINT_URI") ?? $"s3://{bucket}/backupdr-checkpoints/",
            RestoreTables = restoreTables,
            Retention = retention,
            Aws = new Engine.Aws.AwsOptions
            {
                Region = Env("AWS_REGION"),
                S3 = new Engine.Aws.S3Options(Env("EXPECTED_BUCKET_OWNER"), Env("BACKUP_SSE"), Env("BACKUP_KMS_KEY_ID")),
            },
            Ledger = Env("LEDGER_TABLE") is { } ledger ? new Engine.Ledger.LedgerOptions(ledger) { Aws = new Engine.Aws.AwsOptions { Region = Env("AWS_REGION") } } : null,
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
            settings.Aws.S3.Validate();
            settings.Ledger?.Validate();
            BackupLocation.Parse(settings.CheckpointUri);
        }
        catch (Engine.BackupDRException e)
        {
            throw new FunctionException("InvalidConfiguration", e.Message);
        }
        return settings;
    }

    /// <summary>A bucket an event names: only BACKUP_BUCKET (the seed's events repeat it).</summary>
    public string ConfinedBucket(string? fromEvent)
    {
        if (fromEvent is null || fromEvent == BackupBucket) return BackupBucket;
        throw NotAllowed($"the bucket '{fromEvent}'");
    }

    /// <summary>
    /// A backup URI an event names, if it is a location under <see cref="BackupRoot"/> (never a local
    /// path, another bucket or another prefix); returned in its normal form.
    /// </summary>
    public string ConfinedUri(string uri)
    {
        if (!uri.Trim().StartsWith("s3://", StringComparison.OrdinalIgnoreCase)) throw NotAllowed($"'{Engine.Storage.UnsafeKeyException.Printable(uri)}'");
        BackupLocation location;
        try
        {
            location = BackupLocation.Parse(uri);
        }
        catch (Engine.BackupDRException)
        {
            throw NotAllowed($"'{Engine.Storage.UnsafeKeyException.Printable(uri)}'");
        }
        if (location.Bucket != BackupBucket || !IsBelowPrefix(location.Prefix))
        {
            throw NotAllowed($"'{Engine.Storage.UnsafeKeyException.Printable(uri)}'");
        }
        return $"s3://{location.Bucket}/{location.Prefix}/";
    }

    /// <summary>A key prefix an event names for new backups: BACKUP_PREFIX or a folder below it.</summary>
    public string ConfinedPrefix(string? fromEvent)
    {
        if (fromEvent is null) return BackupPrefix;
        string prefix = fromEvent.Trim('/');
        if ((prefix == BackupPrefix || IsBelowPrefix(prefix)) && (prefix.Length == 0 || StoreKeys.Problem(prefix) is null)) return prefix;
        throw NotAllowed($"the prefix '{Engine.Storage.UnsafeKeyException.Printable(fromEvent)}'");
    }

    /// <summary>Refuses a restore target RESTORE_TABLES does not allow.</summary>
    public void AllowRestoreInto(string table)
    {
        if (RestoreTables.Any(p => p == "*" || p == table || (p.EndsWith('*') && table.StartsWith(p[..^1], StringComparison.Ordinal)))) return;
        throw new FunctionException("TableNotAllowed", RestoreTables.Count == 0
            ? $"The recovery function may restore into no table: RESTORE_TABLES is not set. Nothing was written to '{table}'. Name the tables it may write (Deploy-BackupFunctions -RestoreTables)."
            : $"The recovery function may not restore into '{table}': RESTORE_TABLES allows {string.Join(", ", RestoreTables)}. Nothing was written.");
    }

    private FunctionException NotAllowed(string what) =>
        new("LocationNotAllowed", $"The event names {what}; this function reads and writes backups only under {BackupRoot}. Nothing was read.");
}
