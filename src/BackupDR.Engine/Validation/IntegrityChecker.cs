using System.Diagnostics;
using System.Security.Cryptography;
using BackupDR.Engine.Format;
using BackupDR.Engine.Json;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Validation;

/// <summary>
/// Proves a backup whole (docs/format.md §7). Follows the chain of hashes from the commit marker
/// down to every data file; every deviation is a problem naming the file.
/// </summary>
/// <remarks>
/// Everything read is untrusted (docs/integrity.md, hostile input): the manifests are read by their
/// fixed names and only up to their size bounds, every key they name must be a data file's name,
/// the folder's listing is streamed (only the manifest's own entries are kept), and each data file
/// is read within the bounds its entry sets (<see cref="DataFileReader"/>).
/// </remarks>
public sealed class IntegrityChecker(BackupFolder backup, IOperationHost host, ReadOptions? options = null)
{
    private readonly ReadOptions _options = options ?? new ReadOptions();

    /// <summary>The manifest summary as detecting the layout read it (within its bound): read once, not twice.</summary>
    private byte[]? _detectedSummary;

    private const int FileParallelism = 4;

    /// <summary>A data file with more lines that are not records than this is given up on: a flood is not read to its end.</summary>
    internal const int MaxInvalidLines = 100;

    /// <summary>
    /// Checks the backup. Returns the report and, when the metadata could be read, the loaded
    /// backup. Throws BackupNotFound when there is nothing at the URI.
    /// </summary>
    public Task<(IntegrityReport Report, LoadedBackup? Backup)> CheckAsync(IntegrityLevel level, CancellationToken cancellationToken) =>
        CheckAsync(level, parseItems: true, cancellationToken);

    /// <summary>
    /// As <see cref="CheckAsync(IntegrityLevel, CancellationToken)"/>; at Full with <paramref name="parseItems"/>
    /// false, data files are hashed as stored but not decompressed (what a restore does before writing:
    /// it parses every item strictly as it writes it).
    /// </summary>
    internal async Task<(IntegrityReport Report, LoadedBackup? Backup)> CheckAsync(IntegrityLevel level, bool parseItems, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var report = new IntegrityReport { Uri = backup.Uri, Level = level };
        var loaded = await CheckMetadataAsync(report, cancellationToken).ConfigureAwait(false);
        if (loaded is not null && level is IntegrityLevel.Full or IntegrityLevel.Live)
        {
            await CheckDataAsync(report, loaded, parseItems, null, cancellationToken).ConfigureAwait(false);
        }
        report.Duration = clock.Elapsed;
        return (report, loaded);
    }

    /// <summary>
    /// Quick's part: what is at the folder (BackupDR's format or a foreign one, docs/format.md §10–§12),
    /// then its manifests and listing by that format's rules. Null when the metadata cannot be read (the report says why).
    /// </summary>
    internal async Task<LoadedBackup?> CheckMetadataAsync(IntegrityReport report, CancellationToken ct)
    {
        var (format, summary) = await SourceDetector.DetectAsync(backup, ct).ConfigureAwait(false);
        _detectedSummary = summary;
        report.Format = format;
        switch (format)
        {
            case SourceFormat.NativeExport:
                var (parent, name) = backup.SplitParent();
                return await new NativeExportReader(parent, report).LoadExportAsync(name, ct).ConfigureAwait(false);
            case SourceFormat.NativeExportChain:
                return await new NativeExportReader(backup, report).LoadChainAsync(_options.PointInTime, _options.AllowGaps, host, ct).ConfigureAwait(false);
            case SourceFormat.SeedV2 when _options.PointInTime is null && !_options.AllowGaps:
                var (folder, file) = backup.SplitParent();
                return await new SeedBackupReader(folder, file, report).LoadAsync(ct).ConfigureAwait(false);
            case SourceFormat.Dynamodump when _options.PointInTime is null && !_options.AllowGaps:
                return await new DumpBackupReader(backup, report).LoadAsync(ct).ConfigureAwait(false);
            case SourceFormat.BackupDR when _options.PointInTime is { } point && !_options.AllowGaps:
                // A table's folder, or one backup of a chain: the export backup whose point is the latest at or before it.
                var chosen = await PointChooser.ChooseAsync(backup, point, _detectedSummary is not null, report, host, ct).ConfigureAwait(false);
                if (chosen is null) return null;
                report.Format = SourceFormat.BackupDR;
                report.BackupUri = chosen.Uri;
                return await new IntegrityChecker(chosen, host).CheckOwnMetadataAsync(report, ct).ConfigureAwait(false);
            default:
                if (_options.PointInTime is not null || _options.AllowGaps)
                {
                    throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                        format == SourceFormat.BackupDR
                            ? $"{Say.AllowGaps} is for a folder of DynamoDB's own exports; a chain of BackupDR backups is restored whole or not at all. Leave it out, or choose an earlier {Say.PointInTime}."
                            : $"{Say.PointInTime} and {Say.AllowGaps} choose the exports of a chain; {backup.Uri} is {Describe(format)}, not a folder of exports or of BackupDR backups. Leave them out.", backup.Uri);
                }
                return await CheckOwnMetadataAsync(report, ct).ConfigureAwait(false);
        }
    }

    private static string Describe(SourceFormat format) => format switch
    {
        SourceFormat.NativeExport => "one DynamoDB export",
        SourceFormat.SeedV2 => "a backup file of the original backup Lambda",
        SourceFormat.Dynamodump => "a dynamodump folder",
        _ => "a BackupDR backup",
    };

    /// <summary>BackupDR's own format: the marker, manifests and listing.</summary>
    private async Task<LoadedBackup?> CheckOwnMetadataAsync(IntegrityReport report, CancellationToken ct)
    {
        // Marker → summary, each by its fixed name and within its size bound.
        byte[]? markerBytes = await ReadBoundedAsync(report, BackupFormat.CommitMarkerKey, BackupFormat.MaxMarkerBytes, ProblemCodes.InvalidCommitMarker, ct).ConfigureAwait(false);
        byte[]? summaryBytes = _detectedSummary ?? await ReadBoundedAsync(report, BackupFormat.ManifestSummaryKey, BackupFormat.MaxSummaryBytes, ProblemCodes.InvalidManifest, ct).ConfigureAwait(false);
        if (markerBytes is null && summaryBytes is null && !await AnythingAtAsync(ct).ConfigureAwait(false))
        {
            throw new BackupDRException(ErrorIds.BackupNotFound, ErrorKind.ObjectNotFound,
                $"There is no backup at {backup.Uri}. List the backups under the target folder and pass one backup's folder.", backup.Uri);
        }

        CommitMarker? marker = null;
        if (markerBytes is null)
        {
            if (!report.Problems.Any(p => p.File == BackupFormat.CommitMarkerKey))
            {
                report.Add(ProblemCodes.MissingCommitMarker, BackupFormat.CommitMarkerKey,
                    "The backup has no commit marker: it did not finish, or the marker was deleted. It must not be trusted.");
            }
        }
        else
        {
            try { marker = BackupFormat.ParseMarker(markerBytes); }
            catch (InvalidDataException e) { report.Add(ProblemCodes.InvalidCommitMarker, BackupFormat.CommitMarkerKey, e.Message); }
        }
        report.IsCommitted = marker is not null;

        if (summaryBytes is null)
        {
            if (!report.Problems.Any(p => p.File == BackupFormat.ManifestSummaryKey))
            {
                report.Add(ProblemCodes.MissingManifest, BackupFormat.ManifestSummaryKey, "The manifest summary is missing.");
            }
            return null;
        }
        ManifestSummary summary;
        try { summary = BackupFormat.ParseSummary(summaryBytes); }
        catch (InvalidDataException e)
        {
            report.Add(ProblemCodes.InvalidManifest, BackupFormat.ManifestSummaryKey, e.Message);
            return null;
        }
        report.BackupId = summary.BackupId;
        report.TableName = summary.TableName;
        report.SummarySha256 = BackupFormat.Sha256Base64(summaryBytes);
        report.ExpectedItemCount = summary.ItemCount;
        if (summary.Format != BackupFormat.FormatName)
        {
            report.Add(ProblemCodes.InvalidManifest, BackupFormat.ManifestSummaryKey, $"format is '{summary.Format}', expected '{BackupFormat.FormatName}'.");
            return null;
        }
        if (summary.FormatVersion > BackupFormat.CurrentVersion || summary.FormatVersion < 1)
        {
            report.Add(ProblemCodes.UnsupportedFormatVersion, BackupFormat.ManifestSummaryKey,
                $"format version {summary.FormatVersion} is not supported by BackupDR {EngineInfo.Version} (it reads version {BackupFormat.CurrentVersion}). Update BackupDR.");
            return null;
        }
        // Format version 2: the Export engine's data files are the export's, in its own folder (§13).
        string? exportId = null;
        if (summary.Engine is not null)
        {
            string? id = summary.ExportArn?.Split('/')[^1];
            if (summary.Engine != BackupFormat.ExportEngine || summary.FormatVersion < BackupFormat.ExportVersion || id is null
                || !NativeExport.ExportId.IsMatch(id) || !System.Text.RegularExpressions.Regex.IsMatch(summary.ExportArn!, @"^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/[a-zA-Z0-9_.-]{3,255}/export/[0-9]{14}-[0-9a-f]{8}$"))
            {
                report.Add(ProblemCodes.InvalidManifest, BackupFormat.ManifestSummaryKey,
                    $"engine '{UnsafeKeyException.Printable(summary.Engine)}' with export '{UnsafeKeyException.Printable(summary.ExportArn ?? "")}' is not one this format version names (engine Export, format version 2, an export's ARN).");
                return null;
            }
            exportId = id;
        }
        bool incremental = exportId is not null && summary.ExportType == "INCREMENTAL_EXPORT";
        if (incremental && (summary.BaseBackupId is not { } baseId || !BackupFormat.IsBackupId(baseId) || string.CompareOrdinal(baseId, summary.BackupId) >= 0
                            || summary.ExportFromTime is not { } from || summary.ExportToTime is not { } to || from >= to || summary.OutputView is not ("NEW_IMAGE" or "NEW_AND_OLD_IMAGES")))
        {
            report.Add(ProblemCodes.InvalidManifest, BackupFormat.ManifestSummaryKey,
                "An incremental backup names the earlier backup it continues (baseBackupId), its window (exportFromTime before exportToTime) and its view (NEW_IMAGE or NEW_AND_OLD_IMAGES); this one does not.");
            return null;
        }
        if (exportId is not null && !incremental && (summary.ExportType != "FULL_EXPORT" || summary.BaseBackupId is not null))
        {
            report.Add(ProblemCodes.InvalidManifest, BackupFormat.ManifestSummaryKey, $"exportType '{UnsafeKeyException.Printable(summary.ExportType)}' is not FULL_EXPORT or INCREMENTAL_EXPORT.");
            return null;
        }
        if (marker is not null)
        {
            if (marker.ManifestSummarySha256 != BackupFormat.Sha256Base64(summaryBytes))
            {
                report.Add(ProblemCodes.ManifestChecksumMismatch, BackupFormat.ManifestSummaryKey, "The manifest summary does not match the SHA-256 recorded in the commit marker.");
            }
            if (marker.BackupId != summary.BackupId)
            {
                report.Add(ProblemCodes.BackupIdMismatch, BackupFormat.CommitMarkerKey, $"The commit marker is for backup '{marker.BackupId}', the manifest for '{summary.BackupId}'.");
            }
            if (marker.ItemCount != summary.ItemCount)
            {
                report.Add(ProblemCodes.CountMismatch, BackupFormat.CommitMarkerKey, $"The commit marker records {marker.ItemCount} items, the manifest {summary.ItemCount}.");
            }
            // What a listing (and retention, which keeps chains) takes from the marker must be what the summary says.
            if (marker.BaseBackupId != summary.BaseBackupId)
            {
                report.Add(ProblemCodes.InvalidCommitMarker, BackupFormat.CommitMarkerKey,
                    $"The commit marker says the backup continues '{UnsafeKeyException.Printable(marker.BaseBackupId ?? "(none)")}', the manifest '{UnsafeKeyException.Printable(summary.BaseBackupId ?? "(none)")}'.");
            }
            if (marker.PointInTime is { } markedPoint && markedPoint != (summary.Engine == BackupFormat.ExportEngine ? summary.ExportToTime ?? summary.ExportTime : null))
            {
                report.Add(ProblemCodes.InvalidCommitMarker, BackupFormat.CommitMarkerKey, $"The commit marker says the backup holds the table at {markedPoint:u}; the manifest says otherwise.");
            }
        }
        if (BackupFormat.IsBackupId(backup.Name) && backup.Name != summary.BackupId)
        {
            report.Add(ProblemCodes.BackupIdMismatch, BackupFormat.ManifestSummaryKey, $"The folder is backup '{backup.Name}' but its manifest is for '{summary.BackupId}'.");
        }

        // Summary → manifest-files.json and table.json: the format fixes their names, so a summary
        // naming any other key (another folder, an absolute path) is refused, never followed.
        bool keysOk = CheckFixedKey(report, "manifestFilesKey", summary.ManifestFilesKey, BackupFormat.ManifestFilesKey)
                      & CheckFixedKey(report, "tableDescriptionKey", summary.TableDescriptionKey, BackupFormat.TableDescriptionKey);
        if (!keysOk) return null;
        var files = await ReadHashedAsync(report, BackupFormat.ManifestFilesKey, BackupFormat.MaxManifestFilesBytes, summary.ManifestFilesSha256, BackupFormat.ParseFiles, ct).ConfigureAwait(false);
        var table = await ReadHashedAsync(report, BackupFormat.TableDescriptionKey, BackupFormat.MaxTableDescriptionBytes, summary.TableDescriptionSha256, BackupFormat.ParseTable, ct).ConfigureAwait(false);
        if (files is null || table is null) return null;
        if (table.KeySchema.Count == 0)
        {
            report.Add(ProblemCodes.InvalidManifest, BackupFormat.TableDescriptionKey, "The table description has no key schema.");
        }

        // Every entry names a data file by the format's rule, once, with figures that can be true.
        var expected = new Dictionary<string, DataFileEntry>(StringComparer.Ordinal);
        var usable = new List<DataFileEntry>(files.Count);
        foreach (var file in files)
        {
            bool named = exportId is null ? BackupFormat.IsDataFileKey(file.DataFile)
                : incremental ? BackupFormat.IsIncrementalDataFileKey(file.DataFile) : BackupFormat.IsExportDataFileKey(file.DataFile, exportId);
            string? wrong = !named ? $"'{UnsafeKeyException.Printable(file.DataFile)}' is not a data file's name ({(exportId is null ? "data/s<segment>-f<file>.json.gz" : incremental ? "AWSDynamoDB/data/<name>.json.gz" : $"AWSDynamoDB/{exportId}/data/<name>.json.gz")})"
                : expected.ContainsKey(file.DataFile) ? $"'{file.DataFile}' is listed twice"
                : file.ItemCount < 0 || file.SizeBytes < 0 || file.UncompressedSizeBytes < file.ItemCount ? $"'{file.DataFile}' has impossible figures (items {file.ItemCount}, bytes {file.SizeBytes}, uncompressed {file.UncompressedSizeBytes})"
                : null;
            if (wrong is not null)
            {
                report.Add(ProblemCodes.InvalidManifest, BackupFormat.ManifestFilesKey, wrong + ".");
                continue;
            }
            expected[file.DataFile] = file;
            usable.Add(file);
        }
        long total = files.Sum(f => f.ItemCount);
        if (total != summary.ItemCount)
        {
            report.Add(ProblemCodes.CountMismatch, BackupFormat.ManifestFilesKey, $"The data files hold {total} items by their entries, the summary says {summary.ItemCount}.");
        }
        if (files.Count != summary.DataFileCount)
        {
            report.Add(ProblemCodes.CountMismatch, BackupFormat.ManifestFilesKey, $"{files.Count} data files are listed, the summary says {summary.DataFileCount}.");
        }

        // The folder's listing, streamed: each data file present with its size; nothing else there.
        var metadata = new HashSet<string>(StringComparer.Ordinal)
        {
            BackupFormat.CommitMarkerKey, BackupFormat.ManifestSummaryKey, BackupFormat.ManifestFilesKey, BackupFormat.TableDescriptionKey,
        };
        if (exportId is not null) metadata.UnionWith(BackupFormat.ExportMetadataKeys(exportId));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var obj in backup.Store.ListAsync(backup.Prefix, ct).ConfigureAwait(false))
        {
            string key = obj.Key[backup.Prefix.Length..];
            if (obj.IsLink)
            {
                report.Add(expected.ContainsKey(key) || metadata.Contains(key) ? ProblemCodes.CorruptData : ProblemCodes.UnexpectedObject, key,
                    "This is a symbolic link: BackupDR does not follow links out of a backup folder.");
            }
            else if (expected.TryGetValue(key, out var file))
            {
                seen.Add(key);
                if (obj.Size != file.SizeBytes) report.Add(ProblemCodes.SizeMismatch, key, $"The data file is {obj.Size} bytes, the manifest says {file.SizeBytes}.");
            }
            else if (!metadata.Contains(key))
            {
                report.Add(ProblemCodes.UnexpectedObject, UnsafeKeyException.Printable(key), "This object is not part of the backup's manifest.");
            }
        }
        foreach (var file in usable.Where(f => !seen.Contains(f.DataFile)))
        {
            if (!report.Problems.Any(p => p.File == file.DataFile)) report.Add(ProblemCodes.MissingDataFile, file.DataFile, "The data file is listed in the manifest but does not exist.");
        }
        report.FilesChecked = files.Count;

        var own = new LoadedBackup
        {
            Folder = backup, Summary = summary, Files = usable, Table = table, IsCommitted = report.IsCommitted,
            SummarySha256 = BackupFormat.Sha256Base64(summaryBytes),
            Records = incremental ? Format.RecordKind.Change : Format.RecordKind.Item,
            OutputView = summary.OutputView, FromTime = summary.ExportFromTime, PointInTime = incremental ? summary.ExportToTime : summary.ExportTime,
        };
        return incremental ? await ChainAsync(report, own, ct).ConfigureAwait(false) : own;
    }

    /// <summary>How many backups a chain may hold (a full export and its incrementals).</summary>
    public const int MaxChainLength = 1000;

    private int _depth;

    /// <summary>
    /// An incremental backup with the backups it continues, down to its full export (siblings in the table's
    /// folder, each older than the one after): each checked as any backup, each window starting where the one
    /// before ended. The stages are applied in that order; the whole is restored like one backup.
    /// </summary>
    private async Task<LoadedBackup?> ChainAsync(IntegrityReport report, LoadedBackup own, CancellationToken ct)
    {
        string baseId = own.Summary.BaseBackupId!;
        if (_depth + 1 >= MaxChainLength)
        {
            report.Add(ProblemCodes.InvalidManifest, BackupFormat.ManifestSummaryKey, $"The chain of incremental backups is longer than {MaxChainLength}; make a full backup.");
            return null;
        }
        var baseFolder = backup.SplitParent().Parent.Child(baseId);
        var baseReport = new IntegrityReport { Uri = baseFolder.Uri, Level = report.Level };
        LoadedBackup? baseLoaded;
        try
        {
            baseLoaded = await new IntegrityChecker(baseFolder, host) { _depth = _depth + 1 }.CheckMetadataAsync(baseReport, ct).ConfigureAwait(false);
        }
        catch (BackupDRException e) when (e.ErrorId is ErrorIds.BackupNotFound or ErrorIds.InvalidBackupUri)
        {
            baseLoaded = null;   // not there: the gap below names it
        }
        foreach (var p in baseReport.Problems) report.Add(p.Code, $"{baseId}/{p.File}", $"(the base backup) {p.Message}");
        if (baseLoaded is null || !baseReport.IsCommitted || baseLoaded.PointInTime is null)
        {
            report.Add(ProblemCodes.ExportChainGap, BackupFormat.ManifestSummaryKey,
                $"The backup continues backup {baseId}, which is {(baseLoaded is null ? "missing or unreadable" : !baseReport.IsCommitted ? "not committed" : "not one of DynamoDB's exports")}: the chain cannot be restored.");
            return null;
        }
        if (baseLoaded.PointInTime != own.FromTime)
        {
            report.Add(ProblemCodes.ExportChainGap, BackupFormat.ManifestSummaryKey,
                $"The backup's window starts at {own.FromTime:u}, but backup {baseId} ends at {baseLoaded.PointInTime:u}: the changes between are in neither.");
            return null;
        }
        var stages = baseLoaded.InOrder.Append(own).ToList();
        var chainSummary = new ManifestSummary
        {
            FormatVersion = own.Summary.FormatVersion, Engine = own.Summary.Engine, ExportArn = own.Summary.ExportArn, ExportType = own.Summary.ExportType,
            BackupId = own.Summary.BackupId, TableName = own.Summary.TableName, TableArn = own.Summary.TableArn, StartTime = own.Summary.StartTime, EndTime = own.Summary.EndTime,
            BaseBackupId = baseId, ExportFromTime = own.Summary.ExportFromTime, ExportToTime = own.Summary.ExportToTime, OutputView = own.Summary.OutputView,
            ItemCount = stages.Sum(st => st.Summary.ItemCount), DataFileCount = stages.Sum(st => st.Files.Count),
            SizeBytes = stages.Sum(st => st.Summary.SizeBytes), UncompressedSizeBytes = stages.Sum(st => st.Summary.UncompressedSizeBytes),
        };
        return new LoadedBackup
        {
            Folder = backup, Summary = chainSummary, Files = stages.SelectMany(st => st.Files).ToList(), Table = own.Table, IsCommitted = own.IsCommitted,
            SummarySha256 = BackupFormat.Sha256Base64(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", stages.Select(st => st.SummarySha256)))),
            Format = SourceFormat.BackupDR, Records = Format.RecordKind.Item, OutputView = own.OutputView, FromTime = stages[0].PointInTime, PointInTime = own.PointInTime,
            Stages = stages,
        };
    }

    private static bool CheckFixedKey(IntegrityReport report, string field, string named, string fixedKey)
    {
        if (named == fixedKey) return true;
        report.Add(ProblemCodes.InvalidManifest, BackupFormat.ManifestSummaryKey,
            $"{field} is '{UnsafeKeyException.Printable(named)}'; a BackupDR backup's is '{fixedKey}', in the backup's own folder. It was not read.");
        return false;
    }

    /// <summary>True when the folder holds at least one object.</summary>
    private async Task<bool> AnythingAtAsync(CancellationToken ct)
    {
        await foreach (var _ in backup.Store.ListAsync(backup.Prefix, ct).ConfigureAwait(false)) return true;
        return false;
    }

    /// <summary>The object's bytes; null when it is missing, or too large or unsafe to read (then a problem says so).</summary>
    private async Task<byte[]?> ReadBoundedAsync(IntegrityReport report, string relativeKey, long maxBytes, string problem, CancellationToken ct)
    {
        try
        {
            return await backup.Store.TryReadAllAsync(backup.Key(relativeKey), maxBytes, ct).ConfigureAwait(false);
        }
        catch (UntrustedInputException e)
        {
            report.Add(problem, relativeKey, e.Message);
            return null;
        }
    }

    private async Task<T?> ReadHashedAsync<T>(IntegrityReport report, string key, long maxBytes, string expectedSha256, Func<byte[], T> parse, CancellationToken ct)
        where T : class
    {
        byte[]? bytes = await ReadBoundedAsync(report, key, maxBytes, ProblemCodes.InvalidManifest, ct).ConfigureAwait(false);
        if (bytes is null)
        {
            if (!report.Problems.Any(p => p.File == key)) report.Add(ProblemCodes.MissingManifest, key, "The file is missing.");
            return null;
        }
        if (BackupFormat.Sha256Base64(bytes) != expectedSha256)
        {
            report.Add(ProblemCodes.ManifestChecksumMismatch, key, "The file does not match the SHA-256 recorded in the manifest summary.");
        }
        try
        {
            return parse(bytes);
        }
        catch (InvalidDataException e)
        {
            report.Add(ProblemCodes.InvalidManifest, key, e.Message);
            return null;
        }
    }

    /// <summary>
    /// Full's part: every data file read and hashed (and, with <paramref name="parseItems"/>, every item
    /// walked). <paramref name="onKey"/>, called from several threads, gets each valid item's key as
    /// DynamoDB JSON.
    /// </summary>
    internal async Task CheckDataAsync(IntegrityReport report, LoadedBackup loaded, bool parseItems, Action<string>? onKey, CancellationToken ct)
    {
        var keys = loaded.Table.KeyAttributes();
        long verified = 0;
        long bytes = 0;
        int done = 0;
        int incomplete = 0;
        int fileCount = loaded.Files.Count;
        // A chain's exports one after another (each with its own record kind); their files in parallel.
        foreach (var stage in loaded.InOrder)
        {
            await System.Threading.Tasks.Parallel.ForEachAsync(stage.Files,
                new ParallelOptions { MaxDegreeOfParallelism = FileParallelism, CancellationToken = ct },
                async (file, token) =>
                {
                    var (items, size, complete) = parseItems
                        ? await CheckDataFileAsync(report, stage, file, keys, onKey, token).ConfigureAwait(false)
                        : await CheckStoredBytesAsync(report, stage, file, token).ConfigureAwait(false);
                    Interlocked.Add(ref verified, items);
                    Interlocked.Add(ref bytes, size);
                    if (!complete) Interlocked.Increment(ref incomplete);
                    int n = Interlocked.Increment(ref done);
                    host.Progress(new OperationProgress(2, $"Verifying backup {loaded.Summary.BackupId}",
                        $"{n}/{fileCount} files, {Interlocked.Read(ref verified):N0} items", n * 100 / Math.Max(1, fileCount), n == fileCount));
                }).ConfigureAwait(false);
        }
        report.ItemsVerified = verified;
        report.BytesChecked = bytes;
        if (parseItems && incomplete == 0 && verified != loaded.Summary.ItemCount)
        {
            report.Add(ProblemCodes.CountMismatch, null, $"{verified} items were read from the data files, the manifest says {loaded.Summary.ItemCount}.");
        }
    }

    /// <summary>Each data file read in full and found as its manifest says, with what was measured (the Export engine writes these figures into BackupDR's manifest).</summary>
    internal Action<MeasuredFile>? Measured { get; init; }

    /// <summary>Records of an incremental export, by what they do: counted while Full reads them.</summary>
    internal ChangeTally Changes { get; } = new();

    /// <summary>The stored bytes against the manifest's size, SHA-256 and MD5, without decompressing. Items are not counted (0).</summary>
    private static async Task<(long Items, long Bytes, bool Complete)> CheckStoredBytesAsync(IntegrityReport report, LoadedBackup stage, DataFileEntry file, CancellationToken ct)
    {
        Stream stored;
        try
        {
            stored = await stage.Folder.Store.OpenReadAsync(stage.Folder.Key(file.DataFile), ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or UntrustedInputException)
        {
            return (0, 0, false);   // missing, or a link: already reported by the metadata check
        }
        await using var hashing = new DataFileReader.HashingReadStream(stored, file);
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(256 * 1024);
        try
        {
            while (await hashing.ReadAsync(buffer, ct).ConfigureAwait(false) > 0) { }
        }
        catch (DataFileException e)
        {
            report.Add(e.Code, file.DataFile, $"The data file {e.Message}.");
            return (0, hashing.Position, false);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
        var (sha256, md5, size) = hashing.Finish();
        CheckHashes(report, stage, file, sha256, md5);
        return (0, size, true);
    }

    private static void CheckHashes(IntegrityReport report, LoadedBackup stage, DataFileEntry file, string sha256, string md5)
    {
        if (stage.Md5Only)
        {
            // A native export records each file's MD5 over its stored bytes (its ETag is not one).
            if (md5 != file.Md5Checksum) report.Add(ProblemCodes.ChecksumMismatch, file.DataFile, "The data file's MD5 does not match the export's manifest: the file was changed or damaged.");
            return;
        }
        if (sha256 != file.Sha256Checksum)
        {
            report.Add(ProblemCodes.ChecksumMismatch, file.DataFile, "The data file's SHA-256 does not match the manifest: the file was changed or damaged.");
        }
        else if (!string.IsNullOrEmpty(file.Md5Checksum) && md5 != file.Md5Checksum)
        {
            report.Add(ProblemCodes.ChecksumMismatch, file.DataFile, "The data file's MD5 does not match the manifest.");
        }
    }

    /// <summary>Reads, hashes and parses one data file. <c>Complete</c> is false when reading stopped early (a problem says why).</summary>
    private async Task<(long Items, long Bytes, bool Complete)> CheckDataFileAsync(IntegrityReport report, LoadedBackup stage, DataFileEntry file, KeyAttribute[] keys, Action<string>? onKey, CancellationToken ct)
    {
        IRecordReader reader;
        try
        {
            reader = await DataFileReader.OpenAsync(stage, file, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or UntrustedInputException)
        {
            return (0, 0, false);   // missing, or a link: already reported by the metadata check
        }
        await using (reader.ConfigureAwait(false))
        {
            long items = 0;
            var walker = new ItemWalker(keys);
            var check = new CheckOnly();
            int invalidItems = 0;
            try
            {
                while (await reader.NextLineAsync(ct).ConfigureAwait(false) is { } line)
                {
                    items++;
                    try
                    {
                        if (stage.Records == RecordKind.Change)
                        {
                            var change = walker.WalkChange(line.Span, ref check);
                            Changes.Count(change);
                        }
                        else
                        {
                            walker.WalkRecord(line.Span, ref check);
                            onKey?.Invoke(walker.KeyText(line.Span));
                        }
                    }
                    catch (InvalidDataException e)
                    {
                        if (++invalidItems <= 5) report.Add(ProblemCodes.InvalidItem, file.DataFile, $"Line {reader.LineNumber}: {e.Message}");
                        if (invalidItems > MaxInvalidLines)
                        {
                            throw new DataFileException(ProblemCodes.CorruptData, $"has more than {MaxInvalidLines} lines that are not valid records (reading stopped at line {reader.LineNumber:N0})");
                        }
                    }
                }
                var (sha256, md5, size) = await reader.FinishAsync(ct).ConfigureAwait(false);
                CheckHashes(report, stage, file, sha256, md5);
                if (items != file.ItemCount)
                {
                    report.Add(ProblemCodes.CountMismatch, file.DataFile, $"The data file holds {items} items, the manifest says {file.ItemCount}.");
                }
                if (Measured is { } measured && invalidItems == 0 && reader is DataFileReader plain && !report.Problems.Any(p => p.File == file.DataFile))
                {
                    measured(new MeasuredFile(file.DataFile, items, size, plain.UncompressedBytes, sha256, md5));
                }
                return (items, size, true);
            }
            catch (DataFileException e)
            {
                report.Add(e.Code, file.DataFile, $"The data file {e.Message}.");
                if (e.Code != ProblemCodes.SizeMismatch) await HashRestAsync(report, stage, reader, file, ct).ConfigureAwait(false);
                return (items, 0, false);
            }
        }
    }

    /// <summary>After reading stopped early: the stored bytes still say whether the file is the one the manifest names.</summary>
    private static async Task HashRestAsync(IntegrityReport report, LoadedBackup stage, IRecordReader reader, DataFileEntry file, CancellationToken ct)
    {
        try
        {
            var (sha256, md5, _) = await reader.FinishAsync(ct).ConfigureAwait(false);
            CheckHashes(report, stage, file, sha256, md5);
        }
        catch (DataFileException e)
        {
            report.Add(e.Code, file.DataFile, $"The data file {e.Message}.");
        }
    }
}

/// <summary>A data file as it was read: its records, stored and decompressed sizes, and hashes.</summary>
internal sealed record MeasuredFile(string DataFile, long Items, long SizeBytes, long UncompressedBytes, string Sha256, string Md5);

/// <summary>How a chain is chosen from a folder of native exports.</summary>
/// <param name="PointInTime">Stop at the last export ending at or before this time; null: the latest.</param>
/// <param name="AllowGaps">Apply the chain across a window no export holds (the gap is noted) instead of refusing it.</param>
public sealed record ReadOptions(DateTimeOffset? PointInTime = null, bool AllowGaps = false);

/// <summary>An incremental export's records by what they do, counted as they are verified.</summary>
internal sealed class ChangeTally
{
    private long _inserts, _updates, _deletes;

    /// <summary>Records with a new image and no old one (under NEW_IMAGE, every record with a new image).</summary>
    public long Inserts => Interlocked.Read(ref _inserts);

    /// <summary>Records with both images.</summary>
    public long Updates => Interlocked.Read(ref _updates);

    /// <summary>Records without a new image: the item was deleted.</summary>
    public long Deletes => Interlocked.Read(ref _deletes);

    public void Count(Json.ChangeRecord change)
    {
        if (change.NewImage is null) Interlocked.Increment(ref _deletes);
        else if (change.OldImage is null) Interlocked.Increment(ref _inserts);
        else Interlocked.Increment(ref _updates);
    }
}
