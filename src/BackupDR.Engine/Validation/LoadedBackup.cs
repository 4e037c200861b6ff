using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Validation;

/// <summary>
/// A backup's metadata, read and hash-checked: BackupDR's own, or a foreign layout read into the same
/// shape (docs/format.md §10–§12). <see cref="Files"/>' keys are relative to <see cref="Folder"/>.
/// </summary>
public sealed class LoadedBackup
{
    public required BackupFolder Folder { get; init; }
    public required ManifestSummary Summary { get; init; }
    public required IReadOnlyList<DataFileEntry> Files { get; init; }

    /// <summary>The table's description. A foreign backup that records none has an empty key schema until the restore is given one.</summary>
    public required TableDescriptionDoc Table { get; set; }
    public bool IsCommitted { get; init; }

    /// <summary>Base64 SHA-256 of manifest-summary.json (of a chain: of its exports' summaries): identifies this committed state of the backup.</summary>
    public string SummarySha256 { get; init; } = "";

    /// <summary>The layout it was read as.</summary>
    public SourceFormat Format { get; init; } = SourceFormat.BackupDR;

    /// <summary>What the data files' lines hold.</summary>
    internal RecordKind Records { get; init; } = RecordKind.Item;

    /// <summary>True when the backup's own records name its key schema (BackupDR's table.json); false when the restore must learn it.</summary>
    internal bool KeySchemaRecorded { get; init; } = true;

    /// <summary>
    /// How the data files are proven: BackupDR's manifests record each file's size, SHA-256 and
    /// MD5; a native export's only its MD5 and item count, so sizes are not checked and the
    /// decompressed size is bounded by the item count and the line bound instead.
    /// </summary>
    internal bool Md5Only { get; init; }

    /// <summary>A native incremental export: its view type and window.</summary>
    public string? OutputView { get; init; }
    public DateTimeOffset? FromTime { get; init; }

    /// <summary>The point in time the backup's data reaches (a native export's exportTime, or an incremental's exportToTime).</summary>
    public DateTimeOffset? PointInTime { get; init; }

    /// <summary>A seed v2.0 file: what the original backup Lambda had already lost, per attribute.</summary>
    public IReadOnlyList<SeedLoss> Losses { get; init; } = [];

    /// <summary>
    /// A chain: its exports in the order they are applied (each with its own files and record kind).
    /// Empty for a single backup, which is its own only stage.
    /// </summary>
    public IReadOnlyList<LoadedBackup> Stages { get; init; } = [];

    /// <summary>The stages to verify and apply, in order: the chain's exports, or this backup alone.</summary>
    internal IReadOnlyList<LoadedBackup> InOrder => Stages.Count > 0 ? Stages : [this];
}
