using BackupDR.Engine;

namespace BackupDR.Lambda;

/// <summary>The engine's options (<see cref="Say"/>) as a function's event fields and settings.</summary>
internal static class Phrasing
{
    public static string? Phrase(string name, string? value) => name switch
    {
        Say.Names.Resume => "\"resume\": true in the event",
        Say.Names.Force => "\"force\": true in the event",
        Say.Names.Mode => $"\"mode\": \"{value}\" in the event",
        Say.Names.Checkpoint => "the function's BACKUPDR_CHECKPOINT_URI",
        Say.Names.Region => "the function's region",
        Say.Names.Profile => "the function's role",
        Say.Names.Level => $"\"level\": \"{value}\" in the event",
        Say.Names.List => $"the backups under the function's BACKUP_PREFIX",
        Say.Names.Details => "the function's log for this request",
        Say.Names.AllowGaps => "\"allow_gaps\": true in the event",
        Say.Names.PointInTime => "\"point_in_time\" in the event",
        Say.Names.KeySchema => "\"key_schema\" in the event",
        Say.Names.Revert => "\"revert\": true in the event",
        _ => null,
    };

    public static string Render(string message) => Say.Render(message, Phrase);
}
