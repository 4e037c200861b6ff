using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Tests;

/// <summary>
/// Writes a backup folder as someone with write access to the bucket could: any data files, with
/// manifests and a commit marker whose hashes all agree with them. What BackupDR can rely on in such a
/// folder is only what it checks as it reads; these backups are how the tests put that to the proof.
/// </summary>
internal static class ForgedBackup
{
    /// <summary>
    /// A data file as stored, and what its manifest entry says of it (by default: the truth). With
    /// <paramref name="Write"/> false only the entry is written (it names a file planted elsewhere).
    /// </summary>
    public sealed record DataFile(string Key, byte[] Stored, long Items, long Uncompressed, bool Write = true);

    public static DataFile Gzipped(string key, byte[] lines, long? items = null, long? uncompressed = null) =>
        new(key, Gzip(lines), items ?? lines.Count(b => b == (byte)'\n'), uncompressed ?? lines.Length);

    /// <summary>Records, one per line: <c>{"Item":…}</c> for each item JSON.</summary>
    public static byte[] Lines(IEnumerable<string> items) => Encoding.UTF8.GetBytes(string.Concat(items.Select(i => $"{{\"Item\":{i}}}\n")));

    public static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true)) gzip.Write(data);
        return output.ToArray();
    }

    /// <summary>The description of a table keyed pk (S) + sk (N), as the tests' tables are.</summary>
    public static TableDescriptionDoc Table(string name) => new()
    {
        TableName = name,
        KeySchema = [new KeyElement { AttributeName = "pk", KeyType = "HASH" }, new KeyElement { AttributeName = "sk", KeyType = "RANGE" }],
        AttributeDefinitions = [new AttributeDefinitionDoc { AttributeName = "pk", AttributeType = "S" }, new AttributeDefinitionDoc { AttributeName = "sk", AttributeType = "N" }],
        BillingMode = "PAY_PER_REQUEST",
    };

    /// <summary>
    /// Writes a committed backup of <paramref name="tableName"/> under <paramref name="folderPrefix"/>
    /// (a key prefix ending in '/', or "" for the store's root) and returns its id. <paramref name="edit"/>
    /// may change the summary before it is hashed (its keys, counts…); the chain still agrees.
    /// </summary>
    public static async Task<string> WriteAsync(IBackupStore store, string folderPrefix, string tableName, IReadOnlyList<DataFile> files,
        Action<ManifestSummary>? edit = null, byte[]? tableJson = null, byte[]? filesJson = null, string? backupId = null)
    {
        backupId ??= folderPrefix.Length > 0 && BackupFormat.IsBackupId(folderPrefix.TrimEnd('/').Split('/')[^1])
            ? folderPrefix.TrimEnd('/').Split('/')[^1]
            : BackupFormat.NewBackupId(DateTimeOffset.UtcNow);
        foreach (var file in files.Where(f => f.Write)) await store.PutAsync(folderPrefix + file.Key, file.Stored, CancellationToken.None);
        filesJson ??= BackupFormat.Serialize(files.Select(f => new DataFileEntry
        {
            DataFile = f.Key, ItemCount = f.Items, SizeBytes = f.Stored.Length, UncompressedSizeBytes = f.Uncompressed,
            Sha256Checksum = Convert.ToBase64String(SHA256.HashData(f.Stored)), Md5Checksum = Convert.ToBase64String(MD5.HashData(f.Stored)),
        }));
        tableJson ??= BackupFormat.Serialize(Table(tableName));
        var summary = new ManifestSummary
        {
            BackupId = backupId, TableName = tableName, StartTime = DateTimeOffset.UtcNow, EndTime = DateTimeOffset.UtcNow,
            ItemCount = files.Sum(f => f.Items), DataFileCount = files.Count, SizeBytes = files.Sum(f => (long)f.Stored.Length),
            UncompressedSizeBytes = files.Sum(f => f.Uncompressed), Segments = 1,
            ManifestFilesSha256 = BackupFormat.Sha256Base64(filesJson), TableDescriptionSha256 = BackupFormat.Sha256Base64(tableJson), Writer = "forged",
        };
        edit?.Invoke(summary);
        byte[] summaryJson = BackupFormat.Serialize(summary);
        await store.PutAsync(folderPrefix + BackupFormat.ManifestFilesKey, filesJson, CancellationToken.None);
        await store.PutAsync(folderPrefix + BackupFormat.TableDescriptionKey, tableJson, CancellationToken.None);
        await store.PutAsync(folderPrefix + BackupFormat.ManifestSummaryKey, summaryJson, CancellationToken.None);
        await store.PutAsync(folderPrefix + BackupFormat.CommitMarkerKey, BackupFormat.Serialize(new CommitMarker
        {
            BackupId = backupId, CommittedAt = DateTimeOffset.UtcNow, ItemCount = summary.ItemCount, ManifestSummarySha256 = BackupFormat.Sha256Base64(summaryJson),
            BaseBackupId = summary.BaseBackupId, FormatVersion = summary.FormatVersion,
            PointInTime = summary.Engine == BackupFormat.ExportEngine ? summary.ExportToTime ?? summary.ExportTime : null,
        }), CancellationToken.None);
        return backupId;
    }

    /// <summary>A new local backup folder (&lt;temp&gt;/&lt;table&gt;/&lt;id&gt;) holding a forged backup; returns its path.</summary>
    public static async Task<string> LocalAsync(string tableName, IReadOnlyList<DataFile> files, Action<ManifestSummary>? edit = null,
        byte[]? tableJson = null, byte[]? filesJson = null)
    {
        string id = BackupFormat.NewBackupId(DateTimeOffset.UtcNow);
        string folder = Path.Combine(Path.GetTempPath(), "bdr-forged-" + Guid.NewGuid().ToString("N")[..8], tableName, id);
        Directory.CreateDirectory(folder);
        await WriteAsync(new LocalBackupStore(folder), "", tableName, files, edit, tableJson, filesJson, id);
        return folder;
    }

    /// <summary>Items keyed pk = "item-i", sk = i, with a little payload.</summary>
    public static IEnumerable<string> Items(int count, int from = 0) =>
        Enumerable.Range(from, count).Select(i => $"{{\"pk\":{{\"S\":\"item-{i}\"}},\"sk\":{{\"N\":\"{i}\"}},\"v\":{{\"S\":\"value {i}\"}}}}");
}
