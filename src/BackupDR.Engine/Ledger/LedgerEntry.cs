using BackupDR.Engine.Catalog;

namespace BackupDR.Engine.Ledger;

/// <summary>What the ledger says of a backup that it indexes; the status the backup itself had when last seen.</summary>
public enum LedgerStatus
{
    /// <summary>A host recorded the backup's start; it has not finished (or the host did not live to say).</summary>
    Started,
    Committed,
    Incomplete,

    /// <summary>Removed by BackupDR (Remove-DynamoBackup, retention).</summary>
    Removed,

    /// <summary>The backup run failed; its partial files were removed.</summary>
    Failed,

    /// <summary>Gone from the target without BackupDR removing it (found so by Sync-DynamoBackupLedger): never trusted.</summary>
    Missing,
}

/// <summary>
/// One backup in the ledger: its facts as the backup gave them, and the latest record of each kind that
/// is about this backup's content (its manifest summary's SHA-256). An index, never the proof: every
/// reader that decides something checks the backup itself (docs/ledger.md).
/// </summary>
public sealed class LedgerEntry
{
    public required string TableName { get; init; }
    public required string BackupId { get; init; }
    public LedgerStatus Status { get; set; }
    public string? Uri { get; set; }
    public long? ItemCount { get; set; }
    public DateTimeOffset? StartTime { get; set; }
    public DateTimeOffset? CommittedAt { get; set; }
    public string? SummarySha256 { get; set; }
    public DateTimeOffset? LastValidationAt { get; set; }
    public string? LastValidationLevel { get; set; }
    public bool? LastValidationPassed { get; set; }

    /// <summary>The latest Full validation that passed.</summary>
    public DateTimeOffset? LastFullValidationAt { get; set; }
    public DateTimeOffset? LastRestoreAt { get; set; }
    public string? LastRestoreTarget { get; set; }
    public DateTimeOffset? LastDrillAt { get; set; }
    public bool? LastDrillPassed { get; set; }
    public double? LastDrillRtoSeconds { get; set; }
    public DateTimeOffset? LastCopyAt { get; set; }
    public string? LastCopyUri { get; set; }

    /// <summary>A record changes the entry only when it is about this backup's content and newer than what the entry holds.</summary>
    public bool Apply(LedgerRecord record)
    {
        if (record.BackupId != BackupId || record.SummarySha256 != SummarySha256) return false;
        bool changed = false;
        switch (record.Kind)
        {
            case RecordKind.Validation:
                if (LastValidationAt is null || record.Time > LastValidationAt)
                {
                    (LastValidationAt, LastValidationLevel, LastValidationPassed, changed) = (record.Time, record.Level, record.Passed, true);
                }
                if (record.Passed && record.Level == "Full" && (LastFullValidationAt is null || record.Time > LastFullValidationAt))
                {
                    (LastFullValidationAt, changed) = (record.Time, true);
                }
                break;
            case RecordKind.Restore when record.Passed && (LastRestoreAt is null || record.Time > LastRestoreAt):
                (LastRestoreAt, LastRestoreTarget, changed) = (record.Time, record.Target, true);
                break;
            case RecordKind.Drill when LastDrillAt is null || record.Time > LastDrillAt:
                (LastDrillAt, LastDrillPassed, LastDrillRtoSeconds, changed) = (record.Time, record.Passed, record.RtoSeconds, true);
                break;
            case RecordKind.Copy when record.Passed && (LastCopyAt is null || record.Time > LastCopyAt):
                (LastCopyAt, LastCopyUri, changed) = (record.Time, record.Target, true);
                break;
        }
        return changed;
    }

    /// <summary>The entry of a backup as the catalog found it (no records yet).</summary>
    public static LedgerEntry From(BackupInfo backup) => new()
    {
        TableName = backup.TableName, BackupId = backup.BackupId, Uri = backup.Uri,
        Status = backup.Status == BackupStatus.Committed ? LedgerStatus.Committed : LedgerStatus.Incomplete,
        ItemCount = backup.ItemCount, StartTime = backup.StartTime, CommittedAt = backup.CommittedAt, SummarySha256 = backup.SummarySha256,
    };
}
