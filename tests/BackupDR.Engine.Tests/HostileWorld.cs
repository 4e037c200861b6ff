using System.Security.Cryptography;
using System.Text;
using Amazon.S3.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Tests;

/// <summary>
/// Where a hostile backup is planted, and what is around it: a local folder or an S3 bucket holding the
/// backup under <c>backups/</c> and, beside it, things the backup must never reach — an <c>outside/</c>
/// folder with files a forger points at (valid ones: following them would make the forgery pass), and in
/// S3 a second bucket. <see cref="SnapshotAsync"/> records all of it, to prove nothing outside changed.
/// </summary>
internal sealed class HostileWorld
{
    private HostileWorld(bool inS3, string root, IBackupStore store, string? otherBucket)
    {
        InS3 = inS3;
        Root = root;
        Store = store;
        OtherBucket = otherBucket;
    }

    public bool InS3 { get; }

    /// <summary>The local folder, or the bucket.</summary>
    public string Root { get; }

    /// <summary>The store at the root: keys are "backups/…" and "outside/…".</summary>
    public IBackupStore Store { get; }

    public string? OtherBucket { get; }

    public static async Task<HostileWorld> CreateAsync(LocalServices services, bool inS3)
    {
        if (inS3)
        {
            string bucket = await services.CreateBucketAsync();
            string other = await services.CreateBucketAsync();
            await services.S3.PutObjectAsync(new PutObjectRequest { BucketName = other, Key = "secret/table.json", ContentBody = "{\"not\":\"yours\"}" });
            return new HostileWorld(true, bucket, new S3BackupStore(new AwsClientFactory(new()).CreateS3(), bucket), other);
        }
        string folder = Path.Combine(Path.GetTempPath(), "bdr-hostile-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        return new HostileWorld(false, folder, new LocalBackupStore(folder), null);
    }

    /// <summary>A new backup folder's key prefix (backups/t/&lt;id&gt;/), its id, and its URI.</summary>
    public (string Prefix, string Id, string Uri) NewBackup(string table = "hostile")
    {
        string id = Format.BackupFormat.NewBackupId(DateTimeOffset.UtcNow);
        string prefix = $"backups/{table}/{id}/";
        return (prefix, id, InS3 ? $"s3://{Root}/{prefix}" : Path.Combine(Root, "backups", table, id));
    }

    /// <summary>Writes a file outside the backups; returns how a forged manifest can name it: relative to a backup folder, and absolutely.</summary>
    public async Task<(string Relative, string Absolute)> PlantOutsideAsync(string name, byte[] content)
    {
        await Store.PutAsync("outside/" + name, content, CancellationToken.None);
        return ("../../../outside/" + name, InS3 ? "/outside/" + name : Path.Combine(Root, "outside", name));
    }

    /// <summary>Every object (and its SHA-256) in the world: the root and, in S3, the other bucket.</summary>
    public async Task<SortedDictionary<string, string>> SnapshotAsync(LocalServices services)
    {
        var snapshot = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (InS3)
        {
            foreach (string bucket in new[] { Root, OtherBucket! })
            {
                var list = await services.S3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket });
                foreach (var o in list.S3Objects ?? [])
                {
                    using var body = await services.S3.GetObjectAsync(bucket, o.Key);
                    using var hash = SHA256.Create();
                    snapshot[$"{bucket}/{o.Key}"] = Convert.ToBase64String(await hash.ComputeHashAsync(body.ResponseStream));
                }
            }
        }
        else
        {
            foreach (string path in Directory.EnumerateFileSystemEntries(Root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
            {
                var info = new FileInfo(path);
                snapshot[Path.GetRelativePath(Root, path)] = info.LinkTarget is { } target ? "link:" + target
                    : Directory.Exists(path) ? "dir" : Convert.ToBase64String(SHA256.HashData(File.ReadAllBytes(path)));
            }
        }
        return snapshot;
    }

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);
}
