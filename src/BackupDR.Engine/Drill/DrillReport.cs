using BackupDR.Engine.Aws;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Drill;

/// <summary>A restore test with a verdict: which backup, where it goes, what counts as too slow or too stale.</summary>
public sealed class DrillRequest
{
    /// <summary>The table whose backups are drilled.</summary>
    public required string TableName { get; init; }

    /// <summary>Where its backups are (s3://bucket/prefix or a folder): the latest committed backup of the table is drilled. Or <see cref="BackupUri"/>.</summary>
    public string? TargetUri { get; init; }

    /// <summary>One backup to drill instead of the latest.</summary>
    public string? BackupUri { get; init; }

    /// <summary>The table the backup is restored into; null: <c>&lt;table&gt;-drill-&lt;yyyyMMddHHmmss&gt;</c>. It must not exist.</summary>
    public string? ScratchTableName { get; init; }

    /// <summary>Also compare the backup with the live table (differences are reported, not a failure: the table moved on since the backup).</summary>
    public bool CompareLive { get; init; }

    /// <summary>Leave the scratch table in place (it is removed otherwise, also when the drill fails).</summary>
    public bool KeepTable { get; init; }

    /// <summary>A backup older than this at the drill's start fails the drill.</summary>
    public TimeSpan? MaxRpo { get; init; }

    /// <summary>A restore and verification longer than this fails the drill.</summary>
    public TimeSpan? MaxRto { get; init; }

    /// <summary>For a backup that does not record its key schema: the partition key, then the sort key.</summary>
    public IReadOnlyList<Json.KeyAttribute>? KeySchema { get; init; }

    public int Parallelism { get; init; } = 4;

    /// <summary>Where the restore's checkpoint is kept (as for a restore).</summary>
    public string? CheckpointUri { get; init; }

    /// <summary>
    /// A drill that runs out of time (its cancellation) keeps its scratch table and writes its state beside the
    /// checkpoints, and the next run of the same drill continues it — the restore from its checkpoint — with RPO
    /// from the first run's start and RTO summed over the runs' working time. For hosts whose runs are cut
    /// short by design (a Lambda invocation); otherwise a stopped drill removes its scratch table.
    /// </summary>
    public bool Resumable { get; init; }

    public AwsOptions Aws { get; init; } = new();

    /// <summary>The clock RPO and RTO are measured on.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>One thing a drill checked, with its outcome.</summary>
public sealed record DrillCheck(string Name, bool Passed, string Detail);

/// <summary>The verdict of a drill and what it measured.</summary>
public sealed class DrillReport
{
    public bool Passed { get; set; }
    public required string TableName { get; init; }
    public string? BackupId { get; set; }

    /// <summary>The SHA-256 (base64) of the drilled backup's manifest summary: which content was drilled.</summary>
    public string? SummarySha256 { get; set; }
    public string? BackupUri { get; set; }

    /// <summary>The point the backup holds the table at (its start: a scan backup holds each item as it was when read, at or after this).</summary>
    public DateTimeOffset? BackupTime { get; set; }

    /// <summary>Recovery point: the drill's start minus the backup's point. Null when the backup's time is not known.</summary>
    public TimeSpan? Rpo { get; set; }

    /// <summary>Recovery time: the restore plus its verification.</summary>
    public TimeSpan Rto { get; set; }
    public TimeSpan RestoreDuration { get; set; }
    public TimeSpan VerifyDuration { get; set; }
    public TimeSpan? CompareLiveDuration { get; set; }
    public long ItemsRestored { get; set; }

    /// <summary>Items of the backup found in the scratch table exactly as the backup holds them.</summary>
    public long ItemsVerified { get; set; }

    /// <summary>With a live comparison: the backup against the live table (missing, extra, different).</summary>
    public LiveComparison? Live { get; set; }
    public List<DrillCheck> Checks { get; } = [];
    public required string ScratchTableName { get; init; }
    public bool ScratchTableRemoved { get; set; }
    public DateTimeOffset StartTime { get; init; }
    public DateTimeOffset EndTime { get; set; }

    /// <summary>How many runs the drill took (more than one when a resumable drill ran out of time and was continued).</summary>
    public int Runs { get; set; } = 1;

    /// <summary>The phase the drill is in (restore or verify): what a resumable drill's state records.</summary>
    internal string Phase { get; set; } = DrillState.Restoring;

    /// <summary>Why the drill failed: each failed check's detail (empty when it passed).</summary>
    public IReadOnlyList<string> Failures => Checks.Where(c => !c.Passed).Select(c => $"{c.Name}: {c.Detail}").ToList();
}
