using BackupDR.Engine.Aws;

namespace BackupDR.Engine.Restore;

public sealed class RestoreRequest
{
    /// <summary>The backup folder's URI.</summary>
    public required string Uri { get; init; }

    /// <summary>The table to restore into; created from the backup's description when it does not exist.</summary>
    public required string TableName { get; init; }

    /// <summary>Restore into a non-empty table, or from a backup without a commit marker.</summary>
    public bool Force { get; init; }

    /// <summary>Concurrent BatchWriteItem writers.</summary>
    public int Parallelism { get; init; } = 4;

    /// <summary>Write capacity units per second the restore may consume (from DynamoDB's ConsumedCapacity); 0 for no cap.</summary>
    public double MaxWriteCapacityUnits { get; init; }

    /// <summary>Queue depths and buffer sizes; the defaults suit almost every table.</summary>
    public PipelineOptions Pipeline { get; init; } = PipelineOptions.Default;

    public AwsOptions Aws { get; init; } = new();
}

public sealed class RestoreResult
{
    public required string TableName { get; init; }
    public required string SourceUri { get; init; }
    public string? BackupId { get; init; }
    public string? SourceTableName { get; init; }
    public long ItemsWritten { get; init; }
    public bool TableCreated { get; init; }
    public DateTimeOffset StartTime { get; init; }
    public DateTimeOffset EndTime { get; init; }
    public TimeSpan Duration => EndTime - StartTime;

    /// <summary>
    /// Write capacity units the restore consumed, as DynamoDB reported them. Only measured under a
    /// write cap (the figure is what the cap is enforced from); null otherwise.
    /// </summary>
    public double? ConsumedWriteCapacityUnits { get; init; }

    /// <summary>From the first write request to the last response: the time the table was being written.</summary>
    public TimeSpan WriteDuration { get; init; }
}
