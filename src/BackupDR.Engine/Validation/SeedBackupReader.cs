using System.Globalization;
using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Validation;

/// <summary>
/// Reads a backup file of the original backup Lambda (the seed's v2.0 format, docs/format.md §11) and
/// proves it by the seed's own rule: the SHA-256 of Python's <c>json.dumps(data, sort_keys=True,
/// default=str)</c> equals the checksum the file holds, and <c>item_count</c> equals the items (which the
/// seed never checked). The rule covers the whole file, so every level reads all of it; the stored
/// bytes' own SHA-256, taken then, is what later reads (Full, a restore) are held to.
/// </summary>
/// <param name="folder">The folder the file is in.</param>
/// <param name="name">The file's name in it.</param>
internal sealed class SeedBackupReader(BackupFolder folder, string name, IntegrityReport report)
{
    public async Task<LoadedBackup?> LoadAsync(CancellationToken ct)
    {
        StoredObject? stored;
        try
        {
            stored = await folder.Store.HeadAsync(folder.Key(name), ct).ConfigureAwait(false);
        }
        catch (UntrustedInputException e)
        {
            report.Add(ProblemCodes.CorruptData, name, e.Message);
            return null;
        }
        if (stored is null)
        {
            report.Add(ProblemCodes.MissingDataFile, name, "The backup file does not exist.");
            return null;
        }
        if (stored.IsLink)
        {
            report.Add(ProblemCodes.CorruptData, name, "This is a symbolic link: BackupDR does not follow links.");
            return null;
        }
        if (stored.Size > SeedV2.MaxFileBytes)
        {
            report.Add(ProblemCodes.CorruptData, name, $"The file is {stored.Size:N0} bytes, more than the {SeedV2.MaxFileBytes:N0} a seed backup (a whole table in one Lambda's memory) can be. It was not read.");
            return null;
        }

        var entry = new DataFileEntry { DataFile = name, ItemCount = -1, SizeBytes = stored.Size, UncompressedSizeBytes = stored.Size };
        long items = 0;
        SeedRecords reader;
        try
        {
            reader = await SeedRecords.OpenAsync(folder, entry, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or UntrustedInputException)
        {
            report.Add(ProblemCodes.MissingDataFile, name, e.Message);
            return null;
        }
        string sha256, md5;
        await using (reader.ConfigureAwait(false))
        {
            try
            {
                while (await reader.NextLineAsync(ct).ConfigureAwait(false) is not null) items++;
                (sha256, md5, _) = await reader.FinishAsync(ct).ConfigureAwait(false);
            }
            catch (DataFileException e)
            {
                report.Add(e.Code, name, $"The file {e.Message}.");
                return null;
            }

            report.TableName = reader.TableName;
            report.BackupId = name;
            report.ExpectedItemCount = reader.ClaimedItemCount ?? -1;
            if (reader.Version != SeedV2.Version)
            {
                report.Add(ProblemCodes.UnsupportedFormatVersion, name,
                    $"The file's version is '{UnsafeKeyException.Printable(reader.Version ?? "(none)")}'; BackupDR reads the original backup Lambda's version {SeedV2.Version}.");
                return null;
            }
            if (!reader.HasData || reader.TableName is null || reader.ClaimedChecksum is null)
            {
                report.Add(ProblemCodes.InvalidManifest, name, "The file lacks data, table_name or checksum: it is not a backup of the original backup Lambda.");
                return null;
            }
            if (!string.Equals(reader.ClaimedChecksum, reader.ComputedChecksum, StringComparison.Ordinal))
            {
                report.Add(ProblemCodes.ChecksumMismatch, name,
                    "The items do not match the checksum the file holds (SHA-256 of json.dumps(data, sort_keys=True, default=str), the original Lambda's rule): the file was changed or damaged.");
            }
            if (reader.ClaimedItemCount != items)
            {
                report.Add(ProblemCodes.CountMismatch, name, $"The file holds {items:N0} items, its item_count says {reader.ClaimedItemCount?.ToString("N0", CultureInfo.InvariantCulture) ?? "nothing"}.");
            }
            report.FilesChecked = 1;
            report.IsCommitted = true;   // an S3 object (a file) appears whole: the seed wrote it in one request
            report.Limits.Add("The original backup Lambda's file has one checksum over all its items, stored inside the file it protects: anyone who can rewrite the file can recompute it. Every level reads the whole file to check it.");
            var losses = reader.Losses.Select(l => new SeedLoss(l.Key.Attribute, l.Key.Kind, l.Value.Count, l.Value.Example))
                .OrderBy(l => l.Attribute, StringComparer.Ordinal).ThenBy(l => l.Kind, StringComparer.Ordinal).ToList();
            report.Losses.AddRange(losses);

            entry.ItemCount = items;
            entry.Sha256Checksum = sha256;
            entry.Md5Checksum = md5;
            DateTimeOffset.TryParse(reader.Timestamp, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var when);
            return new LoadedBackup
            {
                Folder = folder,
                Summary = new ManifestSummary
                {
                    Format = nameof(SourceFormat.SeedV2), FormatVersion = 0, BackupId = name, TableName = reader.TableName, StartTime = when, EndTime = when,
                    ItemCount = items, DataFileCount = 1, SizeBytes = stored.Size, UncompressedSizeBytes = stored.Size,
                },
                Files = [entry],
                Table = new TableDescriptionDoc { TableName = reader.TableName },
                IsCommitted = true,
                SummarySha256 = sha256,
                Format = SourceFormat.SeedV2,
                KeySchemaRecorded = false,
                Losses = losses,
            };
        }
    }
}
