using System.Runtime.CompilerServices;
using System.Text.Json;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Catalog;

/// <summary>Committed: the commit marker is there (validate to prove the rest). Incomplete: it is not; never restore it.</summary>
public enum BackupStatus
{
    Committed,
    Incomplete,
}

/// <summary>One backup folder under a target, as the catalog sees it.</summary>
public sealed class BackupInfo
{
    public required string Uri { get; init; }
    public required string TableName { get; init; }
    public required string BackupId { get; init; }
    public BackupStatus Status { get; init; }

    /// <summary>From the backup id: when the backup started.</summary>
    public DateTimeOffset? StartTime { get; init; }

    /// <summary>From the commit marker; null when incomplete (or the marker cannot be read).</summary>
    public DateTimeOffset? CommittedAt { get; init; }

    /// <summary>From the commit marker; null when incomplete.</summary>
    public long? ItemCount { get; init; }

    /// <summary>From the commit marker: the SHA-256 (base64) of the manifest summary it commits; null when incomplete.</summary>
    public string? SummarySha256 { get; init; }

    /// <summary>From the commit marker of an incremental backup: the backup it continues (retention keeps it while this is kept).</summary>
    public string? BaseBackupId { get; init; }

    /// <summary>From the commit marker of a backup made by DynamoDB's export: the point in time it holds the table at (what -PointInTime chooses by). Null for a scan backup.</summary>
    public DateTimeOffset? PointInTime { get; init; }

    /// <summary>Objects in the folder and their total size.</summary>
    public int ObjectCount { get; init; }
    public long SizeBytes { get; init; }

    /// <summary>Multipart uploads started under the folder and never completed (S3): storage billed and invisible.</summary>
    public int PendingUploads { get; init; }

    internal string Prefix { get; init; } = "";

    /// <summary>From a ledger (when listed with one), for this backup's content: its latest validation, latest Full validation that passed, and latest drill.</summary>
    public DateTimeOffset? LastValidationAt { get; set; }
    public string? LastValidationLevel { get; set; }
    public bool? LastValidationPassed { get; set; }
    public DateTimeOffset? LastFullValidationAt { get; set; }
    public DateTimeOffset? LastDrillAt { get; set; }
    public bool? LastDrillPassed { get; set; }
    public DateTimeOffset? LastRestoreAt { get; set; }
}

/// <summary>What <see cref="BackupCatalog.RemoveAsync"/> removed.</summary>
public sealed class RemovedBackup
{
    public required string Uri { get; init; }
    public string TableName { get; init; } = "";
    public required string BackupId { get; init; }
    public BackupStatus Status { get; init; }
    public int ObjectsDeleted { get; init; }
    public int UploadsAborted { get; init; }
}

/// <summary>
/// Lists the backups under a target (<c>&lt;target&gt;/&lt;table&gt;/&lt;backup id&gt;/</c>, docs/format.md)
/// with their status, and removes them: the commit marker first, so a backup half removed is an
/// incomplete one, never a committed one with holes.
/// </summary>
public sealed class BackupCatalog(BackupFolder root)
{
    public async IAsyncEnumerable<BackupInfo> ListAsync(string? tableName, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string prefix = root.Prefix + (string.IsNullOrEmpty(tableName) ? "" : tableName + "/");
        var folders = new SortedDictionary<string, (string Table, string Id, int Objects, long Bytes, bool Committed)>(StringComparer.Ordinal);
        await foreach (var obj in root.Store.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            if (!TrySplit(obj.Key, out string table, out string id, out string rest)) continue;
            if (tableName is not null && table != tableName) continue;
            string folder = $"{root.Prefix}{table}/{id}/";
            folders.TryGetValue(folder, out var entry);
            folders[folder] = (table, id, entry.Objects + 1, entry.Bytes + obj.Size, entry.Committed || rest == BackupFormat.CommitMarkerKey);
        }
        var uploads = new Dictionary<string, int>(StringComparer.Ordinal);
        await foreach (var upload in root.Store.ListPendingUploadsAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            if (!TrySplit(upload.Key, out string table, out string id, out _)) continue;
            if (tableName is not null && table != tableName) continue;
            string folder = $"{root.Prefix}{table}/{id}/";
            uploads[folder] = uploads.GetValueOrDefault(folder) + 1;
            if (!folders.ContainsKey(folder)) folders[folder] = (table, id, 0, 0, false);
        }
        foreach (var (folder, entry) in folders)
        {
            CommitMarker? marker = entry.Committed ? await ReadMarkerAsync(folder, cancellationToken).ConfigureAwait(false) : null;
            yield return new BackupInfo
            {
                Uri = new BackupFolder(root.Store, folder).Uri,
                Prefix = folder,
                TableName = entry.Table,
                BackupId = entry.Id,
                Status = entry.Committed ? BackupStatus.Committed : BackupStatus.Incomplete,
                StartTime = StartOf(entry.Id),
                CommittedAt = marker?.CommittedAt,
                ItemCount = marker?.ItemCount,
                SummarySha256 = marker?.ManifestSummarySha256,
                BaseBackupId = marker?.BaseBackupId is { } baseId && BackupFormat.IsBackupId(baseId) ? baseId : null,
                PointInTime = marker?.PointInTime,
                ObjectCount = entry.Objects,
                SizeBytes = entry.Bytes,
                PendingUploads = uploads.GetValueOrDefault(folder),
            };
        }
    }

    /// <summary>Deletes every object of the backup, the commit marker first, and aborts its pending uploads.</summary>
    public async Task<RemovedBackup> RemoveAsync(BackupInfo backup, CancellationToken cancellationToken)
    {
        var objects = new List<string>();
        await foreach (var obj in root.Store.ListAsync(backup.Prefix, cancellationToken).ConfigureAwait(false)) objects.Add(obj.Key);
        // A key with ".." segments (S3 allows any key) might resolve to another object on its way: refuse
        // before deleting anything, rather than leave a backup half removed.
        if (objects.FirstOrDefault(k => StoreKeys.Problem(k) is not null) is { } unsafeKey)
        {
            throw new BackupDRException(ErrorIds.UnsafeObjectKey, ErrorKind.InvalidData,
                $"{backup.Uri} holds an object whose key BackupDR will not send ('{UnsafeKeyException.Printable(unsafeKey)}': {StoreKeys.Problem(unsafeKey)}); nothing was removed. " +
                "Delete that object with another tool (it was not written by BackupDR), then remove the backup again.", backup.Uri);
        }
        string marker = backup.Prefix + BackupFormat.CommitMarkerKey;
        if (objects.Remove(marker)) await root.Store.DeleteAsync(marker, cancellationToken).ConfigureAwait(false);
        int deleted = objects.Count + (backup.Status == BackupStatus.Committed ? 1 : 0);
        foreach (string key in objects) await root.Store.DeleteAsync(key, cancellationToken).ConfigureAwait(false);
        int aborted = 0;
        await foreach (var upload in root.Store.ListPendingUploadsAsync(backup.Prefix, cancellationToken).ConfigureAwait(false))
        {
            await root.Store.AbortUploadAsync(upload, cancellationToken).ConfigureAwait(false);
            aborted++;
        }
        return new RemovedBackup { Uri = backup.Uri, TableName = backup.TableName, BackupId = backup.BackupId, Status = backup.Status, ObjectsDeleted = deleted, UploadsAborted = aborted };
    }

    // "<root prefix><table>/<backup id>/<rest>"
    private bool TrySplit(string key, out string table, out string id, out string rest)
    {
        table = id = rest = "";
        if (!key.StartsWith(root.Prefix, StringComparison.Ordinal)) return false;
        string[] parts = key[root.Prefix.Length..].Split('/', 3);
        if (parts.Length < 3 || !BackupFormat.IsBackupId(parts[1])) return false;
        (table, id, rest) = (parts[0], parts[1], parts[2]);
        return true;
    }

    private async Task<CommitMarker?> ReadMarkerAsync(string folder, CancellationToken cancellationToken)
    {
        byte[]? json;
        try
        {
            json = await root.Store.TryReadAllAsync(folder + BackupFormat.CommitMarkerKey, BackupFormat.MaxMarkerBytes, cancellationToken).ConfigureAwait(false);
        }
        catch (UntrustedInputException)
        {
            return null;   // too large or not a safe key: verification says what is wrong
        }
        if (json is null) return null;
        try
        {
            return BackupFormat.ParseMarker(json);
        }
        catch (Exception e) when (e is JsonException or InvalidDataException)
        {
            return null;   // listed as committed by its marker's presence; verification says what is wrong with it
        }
    }

    private static DateTimeOffset? StartOf(string backupId) => Format.BackupFormat.StartOf(backupId);
}
