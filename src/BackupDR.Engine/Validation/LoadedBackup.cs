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
}
