namespace BackupDR.Engine.Validation;

public enum IntegrityLevel
{
    /// <summary>Marker, manifests, hashes of the manifests, and every data file's presence and size.</summary>
    Quick,

    /// <summary>Quick, plus every data file downloaded, hashed, decompressed and parsed, and every count checked.</summary>
    Full,

    /// <summary>Full, then every item compared with a live table: missing, extra and different items.</summary>
    Live,
}

/// <summary>One thing wrong with a backup. <see cref="Code"/> is stable (docs/format.md lists them).</summary>
public sealed record IntegrityProblem(string Code, string? File, string Message)
{
    public override string ToString() => File is null ? $"{Code}: {Message}" : $"{Code} [{File}]: {Message}";
}

/// <summary>The result of checking one backup.</summary>
public sealed class IntegrityReport
{
    public required string Uri { get; init; }

    /// <summary>The backup checked, when it is not <see cref="Uri"/> itself: given a table's folder and a point in time, the one chosen.</summary>
    public string? BackupUri { get; set; }
    public string? BackupId { get; set; }
    public string? TableName { get; set; }

    /// <summary>The SHA-256 (base64) of the manifest summary checked: which content this report is about (a BackupDR backup).</summary>
    public string? SummarySha256 { get; set; }

    /// <summary>The layout the backup was read as: BackupDR, NativeExport, NativeExportChain, SeedV2 or Dynamodump.</summary>
    public Format.SourceFormat Format { get; set; }
    public IntegrityLevel Level { get; init; }
    public bool IsValid => Problems.Count == 0;
    public bool IsCommitted { get; set; }
    public long ExpectedItemCount { get; set; }

    /// <summary>Items read and parsed (Full only; -1 for Quick).</summary>
    public long ItemsVerified { get; set; } = -1;
    public int FilesChecked { get; set; }
    public long BytesChecked { get; set; }
    public TimeSpan Duration { get; set; }

    /// <summary>The first <see cref="MaxProblems"/> problems found; <see cref="ProblemCount"/> counts them all.</summary>
    public List<IntegrityProblem> Problems { get; } = [];

    /// <summary>Every problem found, also those past <see cref="MaxProblems"/> that are counted but not kept.</summary>
    public int ProblemCount { get; private set; }

    /// <summary>A hostile backup can have a problem per object: a report keeps this many, and counts the rest.</summary>
    public const int MaxProblems = 100;

    /// <summary>
    /// What this check could not prove, by the backup's own format (a native export records no file
    /// sizes; a dynamodump folder no checksum), and what it chose not to use (exports left out of a chain).
    /// </summary>
    public List<string> Limits { get; } = [];

    /// <summary>A seed v2.0 file: what the original backup Lambda had already lost, per attribute and kind (docs/format.md §11).</summary>
    public List<Format.SeedLoss> Losses { get; } = [];

    /// <summary>Live only: the comparison with the table (null when the backup itself failed, so nothing was compared).</summary>
    public LiveComparison? Live { get; set; }

    /// <summary>True when the backup is intact and the only problems are the live table's differences.</summary>
    public bool OnlyTableDiffers => Problems.Count > 0 && Problems.All(p => p.Code is ProblemCodes.TableItemMissing or ProblemCodes.TableItemExtra or ProblemCodes.TableItemDifferent);

    internal void Add(string code, string? file, string message)
    {
        lock (Problems)
        {
            ProblemCount++;
            if (Problems.Count < MaxProblems) Problems.Add(new IntegrityProblem(code, file, message));
        }
    }
}

/// <summary>Stable problem codes.</summary>
public static class ProblemCodes
{
    public const string MissingCommitMarker = "MissingCommitMarker";
    public const string InvalidCommitMarker = "InvalidCommitMarker";
    public const string MissingManifest = "MissingManifest";
    public const string InvalidManifest = "InvalidManifest";
    public const string ManifestChecksumMismatch = "ManifestChecksumMismatch";
    public const string UnsupportedFormatVersion = "UnsupportedFormatVersion";
    public const string BackupIdMismatch = "BackupIdMismatch";
    public const string CountMismatch = "CountMismatch";
    public const string MissingDataFile = "MissingDataFile";
    public const string SizeMismatch = "SizeMismatch";
    public const string ChecksumMismatch = "ChecksumMismatch";
    public const string CorruptData = "CorruptData";
    public const string InvalidItem = "InvalidItem";
    public const string UnexpectedObject = "UnexpectedObject";
    public const string TableItemMissing = "TableItemMissing";
    public const string TableItemExtra = "TableItemExtra";
    public const string TableItemDifferent = "TableItemDifferent";
    public const string ExportChainGap = "ExportChainGap";
}
