using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Backup;

/// <summary>
/// The end of every backup, whoever wrote its data files (a scan, DynamoDB's export, fanned-out workers): the
/// summary's totals and hashes filled from the files and table.json, manifest-files.json, table.json and
/// manifest-summary.json written, then — after <c>beforeMarker</c> — the commit marker, last (docs/format.md §2).
/// </summary>
internal static class BackupCommit
{
    public static async Task<CommitMarker> WriteAsync(BackupFolder folder, ManifestSummary summary, IReadOnlyList<DataFileEntry> files, TableDescriptionDoc table,
        Func<Task>? beforeMarker, CancellationToken ct)
    {
        byte[] filesJson = BackupFormat.Serialize(files);
        byte[] tableJson = BackupFormat.Serialize(table);
        summary.ItemCount = files.Sum(f => f.ItemCount);
        summary.DataFileCount = files.Count;
        summary.SizeBytes = files.Sum(f => f.SizeBytes);
        summary.UncompressedSizeBytes = files.Sum(f => f.UncompressedSizeBytes);
        summary.ManifestFilesSha256 = BackupFormat.Sha256Base64(filesJson);
        summary.TableDescriptionSha256 = BackupFormat.Sha256Base64(tableJson);
        byte[] summaryJson = BackupFormat.Serialize(summary);
        await folder.Store.PutAsync(folder.Key(BackupFormat.ManifestFilesKey), filesJson, ct).ConfigureAwait(false);
        await folder.Store.PutAsync(folder.Key(BackupFormat.TableDescriptionKey), tableJson, ct).ConfigureAwait(false);
        await folder.Store.PutAsync(folder.Key(BackupFormat.ManifestSummaryKey), summaryJson, ct).ConfigureAwait(false);
        if (beforeMarker is not null) await beforeMarker().ConfigureAwait(false);

        // Last: the commit marker. Before this the backup is incomplete by definition.
        var marker = new CommitMarker
        {
            FormatVersion = summary.FormatVersion, BackupId = summary.BackupId, CommittedAt = DateTimeOffset.UtcNow, ItemCount = summary.ItemCount,
            ManifestSummarySha256 = BackupFormat.Sha256Base64(summaryJson), BaseBackupId = summary.BaseBackupId,
            PointInTime = summary.Engine == BackupFormat.ExportEngine ? summary.ExportToTime ?? summary.ExportTime : null,
        };
        await folder.Store.PutAsync(folder.Key(BackupFormat.CommitMarkerKey), BackupFormat.Serialize(marker), ct).ConfigureAwait(false);
        return marker;
    }
}
