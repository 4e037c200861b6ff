using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Validation;

/// <summary>A backup's metadata, read and hash-checked.</summary>
public sealed class LoadedBackup
{
    public required BackupFolder Folder { get; init; }
    public required ManifestSummary Summary { get; init; }
    public required IReadOnlyList<DataFileEntry> Files { get; init; }
    public required TableDescriptionDoc Table { get; init; }
    public bool IsCommitted { get; init; }

    /// <summary>Base64 SHA-256 of manifest-summary.json: identifies this committed state of the backup.</summary>
    public string SummarySha256 { get; init; } = "";
}
