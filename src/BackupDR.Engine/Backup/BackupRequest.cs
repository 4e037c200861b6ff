using BackupDR.Engine.Aws;

namespace BackupDR.Engine.Backup;

/// <summary>What to back up and where.</summary>
public sealed class BackupRequest
{
    public required IReadOnlyList<string> TableNames { get; init; }

    /// <summary>s3://bucket/prefix or an absolute local folder; backups go under &lt;target&gt;/&lt;table&gt;/&lt;backup-id&gt;/.</summary>
    public required Storage.BackupLocation Target { get; init; }

    public AwsOptions Aws { get; init; } = new();

    /// <summary>Parallel scan segments; 0 chooses from the table's size.</summary>
    public int Segments { get; init; }

    /// <summary>A data file is closed and a new one started past this many uncompressed bytes.</summary>
    public long MaxDataFileBytes { get; init; } = 256L * 1024 * 1024;

    public bool ConsistentRead { get; init; }
}

/// <summary>One committed backup.</summary>
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
    public string Status { get; init; } = "Committed";
}
