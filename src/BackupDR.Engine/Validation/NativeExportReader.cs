using System.Security.Cryptography;
using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Validation;

/// <summary>
/// Reads DynamoDB Export to S3 folders (docs/format.md §10) into the engine's <see cref="LoadedBackup"/>
/// shape, proving them by the export's own rules: the manifests against their MD5 sidecars, every
/// key they name confined to this export's files, the item counts adding up, each data file present.
/// (Each file's MD5 and records are Full's part, in <see cref="IntegrityChecker"/>.)
/// </summary>
/// <param name="root">The folder that holds the export folders and the shared <c>data/</c> folder: <c>…/AWSDynamoDB/</c>.</param>
internal sealed class NativeExportReader(BackupFolder root, IntegrityReport report)
{
    /// <summary>A folder with more exports than this is not read as a chain: its listing is not kept past it.</summary>
    public const int MaxExports = 10_000;

    /// <summary>Loads one export, the folder <paramref name="exportFolder"/> under the root. Null when it cannot be used (the report says why).</summary>
    public async Task<LoadedBackup?> LoadExportAsync(string exportFolder, CancellationToken ct)
    {
        var loaded = await LoadSummaryAsync(exportFolder, ct).ConfigureAwait(false);
        if (loaded is null) return null;
        var (summary, summaryBytes) = loaded.Value;
        return await LoadFilesAsync(exportFolder, summary, summaryBytes, ct).ConfigureAwait(false);
    }

    /// <summary>The export's summary, proven by its sidecar. Null when missing, unfinished or unusable (a problem says why).</summary>
    private async Task<(NativeExportSummary Summary, byte[] Bytes)?> LoadSummaryAsync(string exportFolder, CancellationToken ct)
    {
        string at = exportFolder + "/";
        byte[]? bytes = await ReadAsync(at + NativeExport.SummaryKey, BackupFormat.MaxSummaryBytes, ProblemCodes.InvalidManifest, ct).ConfigureAwait(false);
        if (bytes is null)
        {
            if (report.Problems.Any(p => p.File == at + NativeExport.SummaryKey)) return null;
            bool started = await root.Store.HeadAsync(root.Key(at + NativeExport.StartedKey), ct).ConfigureAwait(false) is not null;
            // An export writes its summary last: _started alone is an export that never finished (MissingCommitMarker, as for a BackupDR backup).
            report.Add(started ? ProblemCodes.MissingCommitMarker : ProblemCodes.MissingManifest, at + NativeExport.SummaryKey, started
                ? "The export has _started but no manifest-summary.json: it never finished (it is still running, or it failed). It must not be trusted."
                : "The export's manifest-summary.json is missing.");
            return null;
        }
        if (!await CheckSidecarAsync(at, NativeExport.SummarySidecars, bytes, ct).ConfigureAwait(false)) return null;
        NativeExportSummary summary;
        try
        {
            summary = NativeExport.ParseSummary(bytes);
        }
        catch (InvalidDataException e)
        {
            report.Add(ProblemCodes.InvalidManifest, at + NativeExport.SummaryKey, e.Message);
            return null;
        }
        string? unsupported = summary.Version is not (NativeExport.FullVersion or NativeExport.IncrementalVersion)
            ? $"The export's format version is '{UnsafeKeyException.Printable(summary.Version)}'; BackupDR {EngineInfo.Version} reads {NativeExport.FullVersion} and {NativeExport.IncrementalVersion}. Update BackupDR."
            : summary.OutputFormat != "DYNAMODB_JSON"
                ? $"The export is in {UnsafeKeyException.Printable(summary.OutputFormat)}; BackupDR reads exports in DYNAMODB_JSON. Export the table again with DYNAMODB_JSON as the format."
                : null;
        if (unsupported is not null)
        {
            report.Add(ProblemCodes.UnsupportedFormatVersion, at + NativeExport.SummaryKey, unsupported);
            return null;
        }
        if (NativeExport.ExportId.IsMatch(exportFolder) && exportFolder != summary.ExportId)
        {
            report.Add(ProblemCodes.BackupIdMismatch, at + NativeExport.SummaryKey, $"The folder is export '{exportFolder}' but its summary is of export '{summary.ExportId}'.");
        }
        if (summary.IsIncremental && (summary.ExportFromTime is null || summary.ExportToTime is null || summary.ExportFromTime >= summary.ExportToTime))
        {
            report.Add(ProblemCodes.InvalidManifest, at + NativeExport.SummaryKey, "An incremental export's summary needs exportFromTime before exportToTime.");
            return null;
        }
        return (summary, bytes);
    }

    private async Task<LoadedBackup?> LoadFilesAsync(string exportFolder, NativeExportSummary summary, byte[] summaryBytes, CancellationToken ct)
    {
        string at = exportFolder + "/";
        report.BackupId ??= summary.ExportId;
        report.TableName ??= summary.TableName;
        report.IsCommitted = true;   // an export writes its summary last: a proven summary is a finished export
        if (!NativeExport.IsOwnFilesManifest(summary.ManifestFilesS3Key, summary.ExportId))
        {
            report.Add(ProblemCodes.InvalidManifest, at + NativeExport.SummaryKey,
                $"manifestFilesS3Key is '{UnsafeKeyException.Printable(summary.ManifestFilesS3Key)}'; an export's is {NativeExport.RootFolder}/{summary.ExportId}/{NativeExport.FilesKey}, in the export's own folder. It was not read.");
            return null;
        }
        byte[]? filesBytes = await ReadAsync(at + NativeExport.FilesKey, BackupFormat.MaxManifestFilesBytes, ProblemCodes.InvalidManifest, ct).ConfigureAwait(false);
        if (filesBytes is null)
        {
            if (!report.Problems.Any(p => p.File == at + NativeExport.FilesKey)) report.Add(ProblemCodes.MissingManifest, at + NativeExport.FilesKey, "The export's manifest-files.json is missing.");
            return null;
        }
        if (!await CheckSidecarAsync(at, NativeExport.FilesSidecars, filesBytes, ct).ConfigureAwait(false)) return null;

        var entries = new List<DataFileEntry>();
        var byKey = new Dictionary<string, DataFileEntry>(StringComparer.Ordinal);
        int lineNumber = 0;
        long total = 0;
        bool manifestOk = true;
        foreach (var range in BackupFormat.SplitLines(filesBytes))
        {
            lineNumber++;
            NativeExportFile file;
            try
            {
                file = NativeExport.ParseFileLine(filesBytes.AsSpan(range), lineNumber);
            }
            catch (InvalidDataException e)
            {
                report.Add(ProblemCodes.InvalidManifest, at + NativeExport.FilesKey, e.Message);
                manifestOk = false;
                continue;
            }
            string? key = NativeExport.DataFileKey(file.DataFileS3Key, summary.ExportId, summary.IsIncremental);
            if (key is null || byKey.ContainsKey(key))
            {
                report.Add(ProblemCodes.InvalidManifest, at + NativeExport.FilesKey, key is null
                    ? $"Line {lineNumber} names '{UnsafeKeyException.Printable(file.DataFileS3Key)}', which is not a data file of this export " +
                      $"({NativeExport.RootFolder}/{(summary.IsIncremental ? "" : summary.ExportId + "/")}data/<name>.json.gz). It was not read."
                    : $"Line {lineNumber} names '{key}' a second time.");
                manifestOk = false;
                continue;
            }
            total += file.ItemCount;
            var entry = new DataFileEntry
            {
                DataFile = key, ItemCount = file.ItemCount, Md5Checksum = file.Md5Checksum,
                // The export records no sizes: bytes are not bounded by the manifest, lines are (the item count, and the line bound).
                SizeBytes = long.MaxValue,
                UncompressedSizeBytes = file.ItemCount >= long.MaxValue / (BackupFormat.MaxLineBytes + 1L) - 1 ? long.MaxValue : (file.ItemCount + 1) * (BackupFormat.MaxLineBytes + 1L),
            };
            byKey[key] = entry;
            entries.Add(entry);
        }
        if (manifestOk && total != summary.ItemCount)
        {
            report.Add(ProblemCodes.CountMismatch, at + NativeExport.FilesKey, $"The data files hold {total} items by their entries, the summary says {summary.ItemCount}.");
        }
        await CheckListingAsync(exportFolder, summary, byKey, ct).ConfigureAwait(false);
        const string noSizes = "A DynamoDB export records no file sizes and no SHA-256: Quick proves each data file present, not unchanged; Full proves it by its MD5.";
        if (!report.Limits.Contains(noSizes)) report.Limits.Add(noSizes);
        report.FilesChecked += entries.Count;
        report.ExpectedItemCount += summary.ItemCount;

        return new LoadedBackup
        {
            Folder = root,
            Summary = new ManifestSummary
            {
                Format = nameof(SourceFormat.NativeExport), FormatVersion = 0, BackupId = summary.ExportId, TableName = summary.TableName, TableArn = summary.TableArn,
                StartTime = summary.StartTime ?? default, EndTime = summary.EndTime ?? default, ExportType = summary.ExportType,
                ItemCount = summary.ItemCount, DataFileCount = entries.Count, ManifestFilesKey = at + NativeExport.FilesKey,
            },
            Files = entries,
            Table = new TableDescriptionDoc { TableName = summary.TableName, TableArn = summary.TableArn },
            IsCommitted = true,
            SummarySha256 = BackupFormat.Sha256Base64(summaryBytes),
            Format = SourceFormat.NativeExport,
            Records = summary.IsIncremental ? RecordKind.Change : RecordKind.Item,
            KeySchemaRecorded = false,
            Md5Only = true,
            OutputView = summary.OutputView,
            FromTime = summary.ExportFromTime,
            PointInTime = summary.PointInTime,
        };
    }

    /// <summary>
    /// Each data file present. A full export's folder holds nothing else; an incremental's files are
    /// in the shared data folder, next to other exports' files, which are none of this export's business.
    /// </summary>
    private async Task CheckListingAsync(string exportFolder, NativeExportSummary summary, Dictionary<string, DataFileEntry> expected, CancellationToken ct)
    {
        string at = exportFolder + "/";
        var known = new HashSet<string>(StringComparer.Ordinal) { at + NativeExport.StartedKey, at + NativeExport.SummaryKey, at + NativeExport.FilesKey };
        foreach (var sidecar in NativeExport.SummarySidecars.Concat(NativeExport.FilesSidecars)) known.Add(at + sidecar);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        async Task ListAsync(string prefix, bool othersAreUnexpected)
        {
            await foreach (var obj in root.Store.ListAsync(root.Key(prefix), ct).ConfigureAwait(false))
            {
                string key = obj.Key[root.Prefix.Length..];
                bool ours = expected.ContainsKey(key);
                if (obj.IsLink)
                {
                    if (ours || known.Contains(key) || othersAreUnexpected)
                    {
                        report.Add(ours || known.Contains(key) ? ProblemCodes.CorruptData : ProblemCodes.UnexpectedObject, UnsafeKeyException.Printable(key),
                            "This is a symbolic link: BackupDR does not follow links out of a backup folder.");
                    }
                }
                else if (ours) seen.Add(key);
                else if (othersAreUnexpected && !known.Contains(key))
                {
                    report.Add(ProblemCodes.UnexpectedObject, UnsafeKeyException.Printable(key), "This object is not part of the export's manifest.");
                }
            }
        }
        await ListAsync(at, othersAreUnexpected: true).ConfigureAwait(false);
        if (summary.IsIncremental) await ListAsync(NativeExport.DataFolder, othersAreUnexpected: false).ConfigureAwait(false);
        foreach (var key in expected.Keys.Where(k => !seen.Contains(k)))
        {
            if (!report.Problems.Any(p => p.File == key)) report.Add(ProblemCodes.MissingDataFile, key, "The data file is listed in the export's manifest but does not exist.");
        }
    }

    /// <summary>
    /// The chain in the root folder (docs/format.md §10.3): the latest full export at or before
    /// <paramref name="pointInTime"/>, then each incremental export whose window continues it, in
    /// order, up to the last one ending at or before <paramref name="pointInTime"/>. A window that
    /// does not start where the chain stands is a gap (<see cref="ProblemCodes.ExportChainGap"/>),
    /// unless <paramref name="allowGaps"/>; then it is applied, and the gap is a note.
    /// </summary>
    public async Task<LoadedBackup?> LoadChainAsync(DateTimeOffset? pointInTime, bool allowGaps, IOperationHost host, CancellationToken ct)
    {
        // The export folders, from one streamed listing: only their names are kept, and only so many.
        var folders = new SortedSet<string>(StringComparer.Ordinal);
        await foreach (var obj in root.Store.ListAsync(root.Prefix, ct).ConfigureAwait(false))
        {
            string key = obj.Key[root.Prefix.Length..];
            int slash = key.IndexOf('/');
            if (slash <= 0 || !NativeExport.ExportId.IsMatch(key[..slash]) || obj.IsLink) continue;
            if (folders.Add(key[..slash]) && folders.Count > MaxExports)
            {
                report.Add(ProblemCodes.InvalidManifest, null, $"The folder holds more than {MaxExports:N0} exports; give one export's folder, or a folder with fewer.");
                return null;
            }
        }
        if (folders.Count == 0)
        {
            report.Add(ProblemCodes.MissingManifest, null, "The folder holds no DynamoDB export (no <export id>/manifest-summary.json).");
            return null;
        }

        // Every finished export's summary; the unfinished and the unusable are reported and left out.
        var exports = new List<(string Folder, NativeExportSummary Summary, byte[] Bytes)>();
        var skipped = new IntegrityReport { Uri = report.Uri, Level = report.Level };
        foreach (var folder in folders)
        {
            var probe = new NativeExportReader(root, skipped);
            if (await probe.LoadSummaryAsync(folder, ct).ConfigureAwait(false) is { } found) exports.Add((folder, found.Summary, found.Bytes));
        }
        // An export still running (or failed before its summary) is not part of the chain, and says so. One
        // whose summary cannot be proven is a problem: where it would sit in the chain is unknown, so a chain
        // built without it could silently end earlier than the table's latest export.
        foreach (var problem in skipped.Problems)
        {
            if (problem.Code == ProblemCodes.MissingCommitMarker) report.Limits.Add($"Not part of the chain (it has not finished): {problem}");
            else report.Add(problem.Code, problem.File, problem.Message + " The chain cannot be proven while it holds an export it cannot read: remove the export, or restore one export's folder.");
        }
        var tables = exports.Select(e => e.Summary.TableArn).Distinct(StringComparer.Ordinal).ToList();
        if (tables.Count > 1)
        {
            report.Add(ProblemCodes.InvalidManifest, null,
                $"The folder holds exports of {tables.Count} tables ({string.Join(", ", tables.Take(5).Select(t => UnsafeKeyException.Printable(t)))}); a chain is one table's. Give one export's folder.");
            return null;
        }

        var full = exports.Where(e => !e.Summary.IsIncremental && e.Summary.ExportTime is { } t && (pointInTime is null || t <= pointInTime))
            .OrderBy(e => e.Summary.ExportTime).LastOrDefault();
        if (full.Folder is null)
        {
            report.Add(ProblemCodes.MissingManifest, null, pointInTime is null
                ? "The folder holds no finished full export: a chain starts with one."
                : $"The folder holds no finished full export at or before {pointInTime:u}: a chain starts with one.");
            return null;
        }
        var chain = new List<(string Folder, NativeExportSummary Summary, byte[] Bytes)> { full };
        var cursor = full.Summary.ExportTime!.Value;
        foreach (var next in exports.Where(e => e.Summary.IsIncremental && e.Summary.ExportToTime > cursor).OrderBy(e => e.Summary.ExportFromTime).ThenBy(e => e.Summary.ExportToTime))
        {
            if (next.Summary.ExportToTime <= cursor) continue;   // inside what the chain already holds
            if (pointInTime is not null && next.Summary.ExportToTime > pointInTime) break;
            if (next.Summary.ExportFromTime > cursor)
            {
                var previous = chain[^1].Summary;
                string gap = $"Export {next.Summary.ExportId} starts at {next.Summary.ExportFromTime:yyyy-MM-dd HH:mm:ss.fff}Z but export {previous.ExportId} ends at {cursor:yyyy-MM-dd HH:mm:ss.fff}Z: " +
                             $"the changes from {cursor:yyyy-MM-dd HH:mm:ss.fff}Z to {next.Summary.ExportFromTime:yyyy-MM-dd HH:mm:ss.fff}Z are in no export.";
                if (!allowGaps)
                {
                    report.Add(ProblemCodes.ExportChainGap, next.Folder + "/" + NativeExport.SummaryKey, gap + $" Export that window, or accept the gap with {Say.AllowGaps}.");
                    break;
                }
                report.Limits.Add("A gap was accepted: " + gap);
                host.Warning(gap + " It was accepted: the restored table does not hold those changes.");
            }
            chain.Add(next);
            cursor = next.Summary.ExportToTime!.Value;
        }

        // Each export of the chain in full: its manifests and files.
        var stages = new List<LoadedBackup>();
        foreach (var (folder, summary, bytes) in chain)
        {
            if (await LoadFilesAsync(folder, summary, bytes, ct).ConfigureAwait(false) is not { } stage) return null;
            stages.Add(stage);
        }
        var last = chain[^1].Summary;
        report.BackupId = $"{full.Summary.ExportId}..{last.ExportId}";
        string chainHash = BackupFormat.Sha256Base64(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", stages.Select(s => s.SummarySha256))));
        return new LoadedBackup
        {
            Folder = root,
            Summary = new ManifestSummary
            {
                Format = nameof(SourceFormat.NativeExportChain), FormatVersion = 0, BackupId = report.BackupId, TableName = full.Summary.TableName, TableArn = full.Summary.TableArn,
                StartTime = full.Summary.StartTime ?? default, EndTime = last.EndTime ?? default, ExportType = "CHAIN",
                ItemCount = stages.Sum(s => s.Summary.ItemCount), DataFileCount = stages.Sum(s => s.Files.Count),
            },
            Files = stages.SelectMany(s => s.Files).ToList(),
            Table = new TableDescriptionDoc { TableName = full.Summary.TableName, TableArn = full.Summary.TableArn },
            IsCommitted = true,
            SummarySha256 = chainHash,
            Format = SourceFormat.NativeExportChain,
            Records = RecordKind.Item,
            KeySchemaRecorded = false,
            Md5Only = true,
            PointInTime = cursor,
            Stages = stages,
        };
    }

    /// <summary>The sidecar's MD5 (base64) against the bytes it protects. False when missing or not matching (a problem says so).</summary>
    private async Task<bool> CheckSidecarAsync(string at, string[] names, byte[] protectedBytes, CancellationToken ct)
    {
        foreach (var name in names)
        {
            byte[]? sidecar = await ReadAsync(at + name, NativeExport.MaxSidecarBytes, ProblemCodes.InvalidManifest, ct).ConfigureAwait(false);
            if (sidecar is null)
            {
                if (report.Problems.Any(p => p.File == at + name)) return false;
                continue;
            }
            string recorded = System.Text.Encoding.ASCII.GetString(sidecar).Trim();
            if (recorded != Convert.ToBase64String(MD5.HashData(protectedBytes)))
            {
                report.Add(ProblemCodes.ManifestChecksumMismatch, at + names[0][..names[0].LastIndexOf('.')] + ".json",
                    $"The file does not match the MD5 recorded in {name}: it was changed or damaged.");
                return false;
            }
            return true;
        }
        report.Add(ProblemCodes.MissingManifest, at + names[0], $"The checksum file is missing ({string.Join(" or ", names)}): the manifest cannot be proven.");
        return false;
    }

    private async Task<byte[]?> ReadAsync(string key, long maxBytes, string problem, CancellationToken ct)
    {
        try
        {
            return await root.Store.TryReadAllAsync(root.Key(key), maxBytes, ct).ConfigureAwait(false);
        }
        catch (UntrustedInputException e)
        {
            report.Add(problem, key, e.Message);
            return null;
        }
    }
}
