namespace BackupDR.Engine.Restore;

/// <summary>How a restore treats the target table (docs/restore.md).</summary>
public enum RestoreMode
{
    /// <summary>The target must not exist (it is created from the backup's description) or be empty.</summary>
    New,

    /// <summary>Every backup item is written; an item with the same key is replaced, other items are kept.</summary>
    Upsert,

    /// <summary>Only items whose key is absent from the table are written (conditional puts: a concurrent write is never overwritten).</summary>
    MissingOnly,

    /// <summary>Upsert, then delete the table's items whose key is not in the backup (after the host confirms): the table ends equal to the backup.</summary>
    Exact,
}
