using BackupDR.Engine.Aws;

namespace BackupDR.Engine.Restore;

/// <summary>Who writes the items of a restore into a new table.</summary>
public enum RestoreEngine
{
    /// <summary>BackupDR's own batched writes: every mode, any source, resumable.</summary>
    Write,

    /// <summary>DynamoDB's Import from S3 reads the backup's data files and creates the table: a new table, a BackupDR backup in S3, no local secondary indexes.</summary>
    Import,

    /// <summary>The deployed recovery function, each invocation writing a disjoint set of the backup's data files with its own checkpoint; a new table.</summary>
    Lambda,
}

public sealed class RestoreRequest
{
    /// <summary>Who writes the items: BackupDR (the default) or DynamoDB's Import from S3 (a new table only).</summary>
    public RestoreEngine Engine { get; init; } = RestoreEngine.Write;

    /// <summary>The Lambda engine: how many workers, and who runs them (the deployed recovery function).</summary>
    public int Workers { get; init; } = 4;
    public Backup.IFunctionInvoker? Invoker { get; init; }

    /// <summary>A fan-out worker's share: only these data files (manifest keys), into a table the caller created and other workers write too; its own checkpoint.</summary>
    public IReadOnlyList<string>? FileSubset { get; init; }

    /// <summary>The backup folder's URI.</summary>
    public required string Uri { get; init; }

    /// <summary>The table to restore into; created from the backup's description when it does not exist.</summary>
    public required string TableName { get; init; }

    /// <summary>
    /// Proceed without asking: restore from a backup without a commit marker (it may be missing items),
    /// into a table not named as the backup's (Exact), and overwrite or delete the counted items
    /// without the "are you sure?" question.
    /// </summary>
    public bool Force { get; init; }

    /// <summary>How the target table is treated; null means <see cref="RestoreMode.New"/>, or the interrupted restore's mode with <see cref="Resume"/>.</summary>
    public RestoreMode? Mode { get; init; }

    /// <summary>Continue the interrupted restore of this backup into this table from its checkpoint.</summary>
    public bool Resume { get; init; }

    /// <summary>Where checkpoints are kept: a folder or s3://bucket/prefix/. Null: BACKUPDR_CHECKPOINT_URI, else <c>&lt;local application data&gt;/BackupDR/restore-checkpoints</c>.</summary>
    public string? CheckpointUri { get; init; }

    /// <summary>How often the checkpoint is rewritten while items are being written (also at the end of each data file).</summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>A new table's KMS key (id, ARN or alias); null: the key the backed-up table used (or DynamoDB's own key, if it used that).</summary>
    public string? KmsKeyId { get; init; }

    /// <summary>
    /// The primary key for a backup that does not record its table (a native export): the partition key,
    /// then the sort key if any, each with its type (S, N or B). Used to create a new table, and checked
    /// against an existing one.
    /// </summary>
    public IReadOnlyList<Json.KeyAttribute>? KeySchema { get; init; }

    /// <summary>A folder of native exports: stop the chain at the last export ending at or before this time.</summary>
    public DateTimeOffset? PointInTime { get; init; }

    /// <summary>A folder of native exports: apply the chain across a window that no export holds instead of refusing it.</summary>
    public bool AllowGaps { get; init; }

    /// <summary>An incremental native export (NEW_AND_OLD_IMAGES): undo its window in the table instead of applying it.</summary>
    public bool Revert { get; init; }

    /// <summary>Concurrent BatchWriteItem writers.</summary>
    public int Parallelism { get; init; } = 4;

    /// <summary>Write capacity units per second the restore may consume (from DynamoDB's ConsumedCapacity); 0 for no cap.</summary>
    public double MaxWriteCapacityUnits { get; init; }

    /// <summary>Queue depths and buffer sizes; the defaults suit almost every table.</summary>
    public PipelineOptions Pipeline { get; init; } = PipelineOptions.Default;

    /// <summary>Who writes the table, and where (and, without <see cref="SourceAws"/>, who reads the backup).</summary>
    public AwsOptions Aws { get; init; } = new();

    /// <summary>Who reads the backup, and where, when that is another identity or region than the table's (a DR copy in another account); null: <see cref="Aws"/>.</summary>
    public AwsOptions? SourceAws { get; init; }

    /// <summary>The clock the write cap is held to: the system's, or a host's (tests drive it).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

public sealed class RestoreResult
{
    public required string TableName { get; init; }
    public required string SourceUri { get; init; }

    /// <summary>The backup's own folder: SourceUri, or — given a table's folder and a point in time — the backup chosen (of a chain, its last).</summary>
    public string? BackupUri { get; init; }
    public string? BackupId { get; init; }
    public string? SourceTableName { get; init; }

    /// <summary>The point in time the restored items reach: a DynamoDB export's time, or where the last export of a chain ends. Null for a scan backup, which has no single point.</summary>
    public DateTimeOffset? PointInTime { get; init; }

    /// <summary>The SHA-256 (base64) of the restored backup's own manifest summary (of a chain, its last backup's): which backup's content was restored, as the ledger binds its records.</summary>
    public string? SummarySha256 { get; init; }

    /// <summary>The layout the backup was read as: BackupDR, NativeExport, NativeExportChain, SeedV2 or Dynamodump.</summary>
    public Format.SourceFormat Format { get; init; }
    public RestoreMode Mode { get; init; }

    /// <summary>Items BackupDR wrote into the table (for a resumed restore, including those the interrupted run wrote).</summary>
    public long ItemsWritten { get; init; }

    /// <summary>MissingOnly: backup items not written because the table already held their key.</summary>
    public long ItemsSkipped { get; init; }

    /// <summary>Exact: items deleted because their key is not in the backup; an incremental export: its deletes (reverted: its inserts).</summary>
    public long ItemsDeleted { get; init; }

    /// <summary>Upsert and Exact: items the table held whose key is in the backup, counted (and asked about) before the restore wrote over them.</summary>
    public long ItemsOverwritten { get; init; }

    /// <summary>A resumed restore: items its checkpoint counted as done that were found in the table as the backup holds them.</summary>
    public long ItemsVerified { get; init; }

    /// <summary>A resumed restore: items its checkpoint counted as done that were missing or different in the table, and were written again.</summary>
    public long ItemsRepaired { get; init; }

    /// <summary>Who wrote the items; with Import, DynamoDB's import.</summary>
    public RestoreEngine Engine { get; init; } = RestoreEngine.Write;
    public string? ImportArn { get; init; }

    /// <summary>True when this run continued an interrupted restore from its checkpoint.</summary>
    public bool Resumed { get; init; }
    public bool TableCreated { get; init; }
    public DateTimeOffset StartTime { get; init; }
    public DateTimeOffset EndTime { get; init; }
    public TimeSpan Duration => EndTime - StartTime;

    /// <summary>
    /// Write capacity units the restore consumed, as DynamoDB reported them. Only measured under a
    /// write cap (the figure is what the cap is enforced from); null otherwise.
    /// </summary>
    public double? ConsumedWriteCapacityUnits { get; init; }

    /// <summary>A seed v2.0 file: what the original backup Lambda had already lost before this restore, per attribute and kind.</summary>
    public IReadOnlyList<Format.SeedLoss> Losses { get; init; } = [];

    /// <summary>From the first write request to the last response: the time the table was being written.</summary>
    public TimeSpan WriteDuration { get; init; }
}
