using BackupDR.Engine.Aws;

namespace BackupDR.Engine.Backup;

/// <summary>What to back up and where.</summary>
public sealed class BackupRequest
{
    public required IReadOnlyList<string> TableNames { get; init; }

    /// <summary>s3://bucket/prefix or an absolute local folder; backups go under &lt;target&gt;/&lt;table&gt;/&lt;backup-id&gt;/.</summary>
    public required Storage.BackupLocation Target { get; init; }

    public AwsOptions Aws { get; init; } = new();

    /// <summary>The clock the read cap is held to: the system's, or a host's (tests drive it).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Parallel scan segments; 0 chooses from the table's size.</summary>
    public int Segments { get; init; }

    /// <summary>A data file is closed and a new one started past this many uncompressed bytes.</summary>
    public long MaxDataFileBytes { get; init; } = 256L * 1024 * 1024;

    public bool ConsistentRead { get; init; }

    /// <summary>Read capacity units per second the backup may consume (from DynamoDB's ConsumedCapacity); 0 for no cap.</summary>
    public double MaxReadCapacityUnits { get; init; }

    /// <summary>Queue depths and buffer sizes; the defaults suit almost every table.</summary>
    public PipelineOptions Pipeline { get; init; } = PipelineOptions.Default;

    /// <summary>Who reads the table: BackupDR's own parallel scan (RCU), or DynamoDB's Export to S3 (from the PITR log, no RCU; S3 targets only).</summary>
    public BackupEngine Engine { get; init; } = BackupEngine.Scan;

    /// <summary>Auto engine: the table size (DynamoDB's TableSizeBytes) from which an export is chosen over a scan (default 10 GiB).</summary>
    public long AutoExportMinBytes { get; init; } = BackupRunner.AutoExportMinBytes;

    /// <summary>Export engine: the point in the PITR window the backup holds the table at; null: now.</summary>
    public DateTimeOffset? ExportTime { get; init; }

    /// <summary>Export engine: export only the changes since the table's latest committed export backup under the target (full or incremental), continuing its chain.</summary>
    public bool Incremental { get; init; }

    /// <summary>Export engine: enable point-in-time recovery on a table that has it off (the export needs it), instead of refusing.</summary>
    public bool EnablePointInTimeRecovery { get; init; }

    /// <summary>
    /// Export engine: start DynamoDB's export and return without waiting (the result's Status is "Exporting"); the
    /// export's completion, or a later run, finishes the backup (<see cref="ExportCompletion"/>). For hosts whose run
    /// ends before an export can (a Lambda function).
    /// </summary>
    public bool DetachExport { get; init; }

    /// <summary>
    /// A fan-out worker's share (docs/lambda.md): scan only this segment of the table into the given backup's
    /// folder, as data files of its own streams, and return their entries — no manifests, no commit marker;
    /// the caller that fanned out commits. Null: a whole backup.
    /// </summary>
    public BackupSlice? Slice { get; init; }

    /// <summary>The Lambda engine: who runs each segment's worker (the deployed backup function).</summary>
    public IFunctionInvoker? Invoker { get; init; }

    /// <summary>Told when each table's backup starts and when one fails (a ledger records both); its own failures never touch the backup.</summary>
    public IBackupObserver? Observer { get; init; }
}

/// <summary>One committed backup.</summary>
/// <summary>Who reads the table for a backup.</summary>
public enum BackupEngine
{
    /// <summary>BackupDR's parallel Scan: any table, any target; spends read capacity.</summary>
    Scan,

    /// <summary>DynamoDB's Export to S3: from the point-in-time-recovery log, no read capacity; the table needs PITR, the target is S3.</summary>
    Export,

    /// <summary>The deployed backup function, one invocation per scan segment, each writing its own data files; this process commits.</summary>
    Lambda,

    /// <summary>Export for a table with PITR on, an S3 target and at least <see cref="BackupRunner.AutoExportMinBytes"/>; Scan otherwise. The choice and why are in the result.</summary>
    Auto,
}

/// <summary>One worker's share of a fanned-out backup: segment <see cref="Segment"/> of <see cref="TotalSegments"/>, into backup <see cref="BackupId"/>.</summary>
public sealed record BackupSlice(string BackupId, int Segment, int TotalSegments)
{
    /// <summary>The first stream number of this worker's data files: each worker names its files apart (data/s&lt;stream&gt;-f&lt;n&gt;).</summary>
    public int StreamBase => Segment * StreamsPerWorker;

    public const int StreamsPerWorker = 16;

    /// <summary>True when <paramref name="dataFile"/> is a data file of this share's own streams (data/s&lt;stream&gt;-f&lt;n&gt;.json.gz).</summary>
    public bool Owns(string dataFile) => Format.BackupFormat.IsDataFileKey(dataFile)
        && int.TryParse(dataFile.AsSpan(6, dataFile.IndexOf('-') - 6), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int stream)
        && stream >= StreamBase && stream < StreamBase + StreamsPerWorker;
    public const int MaxSegments = 1000;
}

/// <summary>Runs one function invocation and answers its response (RequestResponse); a function error is thrown with its type and message.</summary>
public interface IFunctionInvoker
{
    Task<System.Text.Json.Nodes.JsonObject> InvokeAsync(System.Text.Json.Nodes.JsonObject payload, CancellationToken cancellationToken);
}

/// <summary>A table's backup as it starts: where it goes and under which id.</summary>
public sealed record BackupStart(string TableName, string BackupId, string Uri, DateTimeOffset StartTime);

/// <summary>Hears of each backup's start and failure (its success is the result). Whatever it throws is ignored.</summary>
public interface IBackupObserver
{
    Task StartedAsync(BackupStart backup, CancellationToken cancellationToken);

    /// <summary>The backup failed; its partial files were removed (as far as they could be).</summary>
    Task FailedAsync(BackupStart backup, BackupDRException error);
}

public sealed class BackupResult
{
    public required string BackupId { get; init; }
    public required string TableName { get; init; }
    public required string Uri { get; init; }
    public long ItemCount { get; init; }
    public long SizeBytes { get; init; }
    public long UncompressedSizeBytes { get; init; }
    public int DataFileCount { get; init; }
    public int Segments { get; init; }
    public DateTimeOffset StartTime { get; init; }
    public DateTimeOffset EndTime { get; init; }
    public TimeSpan Duration => EndTime - StartTime;

    /// <summary>
    /// Read capacity units the scan consumed, as DynamoDB reported them. Only measured under a
    /// read cap (the figure is what the cap is enforced from); null otherwise.
    /// </summary>
    public double? ConsumedReadCapacityUnits { get; init; }
    public string Status { get; init; } = "Committed";

    /// <summary>The SHA-256 (base64) of the manifest summary the commit marker commits.</summary>
    public string? SummarySha256 { get; init; }

    /// <summary>Who read the table; with the Export engine, DynamoDB's export and the point in time it holds the table at.</summary>
    public BackupEngine Engine { get; init; } = BackupEngine.Scan;

    /// <summary>With the Auto engine: why this engine was chosen.</summary>
    public string? EngineReason { get; internal set; }
    public string? ExportArn { get; init; }
    public DateTimeOffset? ExportTime { get; init; }

    /// <summary>An incremental backup: the backup it continues.</summary>
    public string? BaseBackupId { get; init; }

    /// <summary>A fan-out worker's result: the data files it wrote (no manifests, nothing committed).</summary>
    public IReadOnlyList<Format.DataFileEntry>? DataFiles { get; init; }
}
