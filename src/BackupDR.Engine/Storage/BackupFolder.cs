using BackupDR.Engine.Aws;

namespace BackupDR.Engine.Storage;

/// <summary>
/// A folder of objects in a store: a backup, or a target under which backups are written.
/// Disposing it releases the store's client (children share their parent's store).
/// </summary>
public sealed class BackupFolder : IDisposable
{
    public BackupFolder(IBackupStore store, string prefix)
    {
        Store = store;
        Prefix = prefix.Length == 0 || prefix.EndsWith('/') ? prefix : prefix + "/";
    }

    public IBackupStore Store { get; }

    /// <summary>The folder's key prefix in the store: empty, or ending in '/'.</summary>
    public string Prefix { get; }

    public string Key(string relative) => Prefix + relative;

    /// <summary>s3://bucket/prefix/ or the local folder path.</summary>
    public string Uri => Store is LocalBackupStore local
        ? (Prefix.Length == 0 ? local.Root : Path.Combine(local.Root, Prefix.TrimEnd('/').Replace('/', Path.DirectorySeparatorChar)))
        : Store.UriOf(Prefix);

    /// <summary>The last segment of the folder's path (for a backup, its id).</summary>
    public string Name
    {
        get
        {
            string trimmed = Uri.TrimEnd('/', Path.DirectorySeparatorChar);
            return trimmed[(trimmed.LastIndexOfAny(['/', Path.DirectorySeparatorChar]) + 1)..];
        }
    }

    public BackupFolder Child(string name) => new(Store, Prefix + name.Trim('/') + "/");

    /// <summary>
    /// The folder this one is in, and this one's name in it. In a bucket, the same store one prefix up;
    /// a local folder (its own store's root) gets a store rooted at its parent. The parent shares the
    /// S3 client: dispose this folder, not the parent.
    /// </summary>
    public (BackupFolder Parent, string Name) SplitParent()
    {
        if (Prefix.Length > 0)
        {
            string trimmed = Prefix.TrimEnd('/');
            int slash = trimmed.LastIndexOf('/');
            return (new BackupFolder(Store, slash < 0 ? "" : trimmed[..(slash + 1)]), trimmed[(slash + 1)..]);
        }
        if (Store is LocalBackupStore local && Path.GetDirectoryName(local.Root) is { } parent)
        {
            return (new BackupFolder(new LocalBackupStore(parent), ""), Path.GetFileName(local.Root));
        }
        throw new BackupDRException(ErrorIds.InvalidBackupUri, ErrorKind.InvalidArgument,
            $"{Uri} has no folder above it; an export is read from inside its AWSDynamoDB folder.", Uri);
    }

    public void Dispose() => (Store as IDisposable)?.Dispose();

    /// <summary>Opens the store behind a parsed location.</summary>
    public static BackupFolder Open(BackupLocation location, AwsClientFactory aws) => location.IsS3
        ? new BackupFolder(new S3BackupStore(aws.CreateS3(), location.Bucket!, aws.Options.Retry, aws.Options.S3), location.Prefix)
        : new BackupFolder(new LocalBackupStore(location.LocalRoot!), "");
}
