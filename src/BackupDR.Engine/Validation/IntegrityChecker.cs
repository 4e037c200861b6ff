using System.Diagnostics;
using BackupDR.Engine.Format;
using BackupDR.Engine.Json;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Validation;

/// <summary>
/// Proves a backup whole (docs/format.md §7). Follows the chain of hashes from the commit marker
/// down to every data file; every deviation is a problem naming the file.
/// </summary>
public sealed class IntegrityChecker(BackupFolder backup, IOperationHost host)
{
    private const int FileParallelism = 4;

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
            await CheckDataAsync(report, loaded, parseItems, cancellationToken).ConfigureAwait(false);
        }
        report.Duration = clock.Elapsed;
        return (report, loaded);
    }

    private async Task<LoadedBackup?> CheckMetadataAsync(IntegrityReport report, CancellationToken ct)
    {
        var listing = new Dictionary<string, StoredObject>(StringComparer.Ordinal);
        await foreach (var obj in backup.Store.ListAsync(backup.Prefix, ct).ConfigureAwait(false))
        {
            listing[obj.Key[backup.Prefix.Length..]] = obj;
        }
        if (listing.Count == 0)
        {
            throw new BackupDRException(ErrorIds.BackupNotFound, ErrorKind.ObjectNotFound,
                $"There is no backup at {backup.Uri}. List the backups under the target folder and pass one backup's folder as -Uri.", backup.Uri);
        }

        // Marker → summary.
        CommitMarker? marker = null;
        byte[]? markerBytes = listing.ContainsKey(BackupFormat.CommitMarkerKey) ? await ReadAsync(BackupFormat.CommitMarkerKey, ct).ConfigureAwait(false) : null;
        if (markerBytes is null)
        {
            report.Add(ProblemCodes.MissingCommitMarker, BackupFormat.CommitMarkerKey,
                "The backup has no commit marker: it did not finish, or the marker was deleted. It must not be trusted.");
        }
        else
        {
            try { marker = BackupFormat.ParseMarker(markerBytes); }
            catch (InvalidDataException e) { report.Add(ProblemCodes.InvalidCommitMarker, BackupFormat.CommitMarkerKey, e.Message); }
        }
        report.IsCommitted = marker is not null;

        byte[]? summaryBytes = await ReadAsync(BackupFormat.ManifestSummaryKey, ct).ConfigureAwait(false);
        if (summaryBytes is null)
        {
            report.Add(ProblemCodes.MissingManifest, BackupFormat.ManifestSummaryKey, "The manifest summary is missing.");
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
        }
        if (BackupFormat.IsBackupId(backup.Name) && backup.Name != summary.BackupId)
        {
            report.Add(ProblemCodes.BackupIdMismatch, BackupFormat.ManifestSummaryKey, $"The folder is backup '{backup.Name}' but its manifest is for '{summary.BackupId}'.");
        }

        // Summary → manifest-files.json and table.json.
        var files = await ReadHashedAsync(report, summary.ManifestFilesKey, summary.ManifestFilesSha256, BackupFormat.ParseFiles, ct).ConfigureAwait(false);
        var table = await ReadHashedAsync(report, summary.TableDescriptionKey, summary.TableDescriptionSha256, BackupFormat.ParseTable, ct).ConfigureAwait(false);
        if (files is null || table is null) return null;
        if (table.KeySchema.Count == 0)
        {
            report.Add(ProblemCodes.InvalidManifest, summary.TableDescriptionKey, "The table description has no key schema.");
        }

        long total = files.Sum(f => f.ItemCount);
        if (total != summary.ItemCount)
        {
            report.Add(ProblemCodes.CountMismatch, summary.ManifestFilesKey, $"The data files hold {total} items by their entries, the summary says {summary.ItemCount}.");
        }
        if (files.Count != summary.DataFileCount)
        {
            report.Add(ProblemCodes.CountMismatch, summary.ManifestFilesKey, $"{files.Count} data files are listed, the summary says {summary.DataFileCount}.");
        }

        // Manifest → every data file present, with its size; nothing else in the folder.
        var expected = new HashSet<string>(StringComparer.Ordinal)
        {
            BackupFormat.CommitMarkerKey, BackupFormat.ManifestSummaryKey, summary.ManifestFilesKey, summary.TableDescriptionKey,
        };
        foreach (var file in files)
        {
            if (!expected.Add(file.DataFile) || !file.DataFile.StartsWith(BackupFormat.DataFolder, StringComparison.Ordinal) || file.DataFile.Contains("..", StringComparison.Ordinal))
            {
                report.Add(ProblemCodes.InvalidManifest, summary.ManifestFilesKey, $"'{file.DataFile}' is listed twice or is not under {BackupFormat.DataFolder}.");
                continue;
            }
            if (!listing.TryGetValue(file.DataFile, out var stored))
            {
                report.Add(ProblemCodes.MissingDataFile, file.DataFile, "The data file is listed in the manifest but does not exist.");
            }
            else if (stored.Size != file.SizeBytes)
            {
                report.Add(ProblemCodes.SizeMismatch, file.DataFile, $"The data file is {stored.Size} bytes, the manifest says {file.SizeBytes}.");
            }
        }
        foreach (string key in listing.Keys.Where(k => !expected.Contains(k)).Order(StringComparer.Ordinal))
        {
            report.Add(ProblemCodes.UnexpectedObject, key, "This object is not part of the backup's manifest.");
        }
        report.FilesChecked = files.Count;

        return new LoadedBackup
        {
            Folder = backup, Summary = summary, Files = files, Table = table, IsCommitted = report.IsCommitted,
            SummarySha256 = Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(summaryBytes)),
        };
    }

    private async Task<T?> ReadHashedAsync<T>(IntegrityReport report, string key, string expectedSha256, Func<byte[], T> parse, CancellationToken ct)
        where T : class
    {
        byte[]? bytes = await ReadAsync(key, ct).ConfigureAwait(false);
        if (bytes is null)
        {
            report.Add(ProblemCodes.MissingManifest, key, "The file is missing.");
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

    private Task<byte[]?> ReadAsync(string relativeKey, CancellationToken ct) => backup.Store.TryReadAllAsync(backup.Key(relativeKey), ct);

    private async Task CheckDataAsync(IntegrityReport report, LoadedBackup loaded, bool parseItems, CancellationToken ct)
    {
        var keyNames = loaded.Table.KeySchema.Select(k => k.AttributeName).ToArray();
        long verified = 0;
        long bytes = 0;
        int done = 0;
        var files = loaded.Files.Where(f => f.DataFile.StartsWith(BackupFormat.DataFolder, StringComparison.Ordinal)).ToList();
        await System.Threading.Tasks.Parallel.ForEachAsync(files,
            new ParallelOptions { MaxDegreeOfParallelism = FileParallelism, CancellationToken = ct },
            async (file, token) =>
            {
                var (items, size) = parseItems
                    ? await CheckDataFileAsync(report, file, keyNames, token).ConfigureAwait(false)
                    : await CheckStoredBytesAsync(report, file, token).ConfigureAwait(false);
                Interlocked.Add(ref verified, items);
                Interlocked.Add(ref bytes, size);
                int n = Interlocked.Increment(ref done);
                host.Progress(new OperationProgress(2, $"Verifying backup {loaded.Summary.BackupId}",
                    $"{n}/{files.Count} files, {Interlocked.Read(ref verified):N0} items", n * 100 / Math.Max(1, files.Count), n == files.Count));
            }).ConfigureAwait(false);
        report.ItemsVerified = verified;
        report.BytesChecked = bytes;
        if (parseItems && verified != loaded.Summary.ItemCount && report.Problems.All(p => p.Code is not (ProblemCodes.MissingDataFile or ProblemCodes.CorruptData)))
        {
            report.Add(ProblemCodes.CountMismatch, null, $"{verified} items were read from the data files, the manifest says {loaded.Summary.ItemCount}.");
        }
    }

    /// <summary>The stored bytes against the manifest's SHA-256 and MD5, without decompressing. Items are not counted (0).</summary>
    private async Task<(long Items, long Bytes)> CheckStoredBytesAsync(IntegrityReport report, DataFileEntry file, CancellationToken ct)
    {
        Stream stored;
        try
        {
            stored = await backup.Store.OpenReadAsync(backup.Key(file.DataFile), ct).ConfigureAwait(false);
        }
        catch (FileNotFoundException)
        {
            return (0, 0);   // already reported by the metadata check
        }
        await using (stored.ConfigureAwait(false))
        {
            using var sha256 = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            using var md5 = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.MD5);
            byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(256 * 1024);
            long size = 0;
            try
            {
                int read;
                while ((read = await stored.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    sha256.AppendData(buffer, 0, read);
                    md5.AppendData(buffer, 0, read);
                    size += read;
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
            if (Convert.ToBase64String(sha256.GetHashAndReset()) != file.Sha256Checksum)
            {
                report.Add(ProblemCodes.ChecksumMismatch, file.DataFile, "The data file's SHA-256 does not match the manifest: the file was changed or damaged.");
            }
            else if (!string.IsNullOrEmpty(file.Md5Checksum) && Convert.ToBase64String(md5.GetHashAndReset()) != file.Md5Checksum)
            {
                report.Add(ProblemCodes.ChecksumMismatch, file.DataFile, "The data file's MD5 does not match the manifest.");
            }
            return (0, size);
        }
    }

    private async Task<(long Items, long Bytes)> CheckDataFileAsync(IntegrityReport report, DataFileEntry file, string[] keyNames, CancellationToken ct)
    {
        DataFileReader reader;
        try
        {
            reader = await DataFileReader.OpenAsync(backup, file, ct).ConfigureAwait(false);
        }
        catch (FileNotFoundException)
        {
            return (0, 0);   // already reported by the metadata check
        }
        await using (reader.ConfigureAwait(false))
        {
            long items = 0;
            var validator = new RecordValidator(keyNames);
            string? corruption = null;
            int invalidItems = 0;
            try
            {
                while (await reader.NextLineAsync(ct).ConfigureAwait(false) is { } line)
                {
                    items++;
                    try
                    {
                        validator.Check(line.Span, withKey: false, out _);
                    }
                    catch (InvalidDataException e)
                    {
                        if (invalidItems++ < 5) report.Add(ProblemCodes.InvalidItem, file.DataFile, $"Line {reader.LineNumber}: {e.Message}");
                    }
                }
            }
            catch (InvalidDataException e)
            {
                corruption = e.Message;
            }
            var (sha256, md5, size) = await reader.FinishAsync(ct).ConfigureAwait(false);
            if (sha256 != file.Sha256Checksum)
            {
                report.Add(ProblemCodes.ChecksumMismatch, file.DataFile, "The data file's SHA-256 does not match the manifest: the file was changed or damaged.");
            }
            else if (!string.IsNullOrEmpty(file.Md5Checksum) && md5 != file.Md5Checksum)
            {
                report.Add(ProblemCodes.ChecksumMismatch, file.DataFile, "The data file's MD5 does not match the manifest.");
            }
            if (corruption is not null)
            {
                report.Add(ProblemCodes.CorruptData, file.DataFile, $"The data file cannot be decompressed after line {reader.LineNumber}: {corruption}");
            }
            else if (items != file.ItemCount)
            {
                report.Add(ProblemCodes.CountMismatch, file.DataFile, $"The data file holds {items} items, the manifest says {file.ItemCount}.");
            }
            return (items, size);
        }
    }
}
