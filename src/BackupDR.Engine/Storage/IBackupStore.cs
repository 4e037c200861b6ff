namespace BackupDR.Engine.Storage;

/// <summary>A multipart upload that was started and never completed or aborted: storage that is billed and invisible.</summary>
public sealed record PendingUpload(string Key, string UploadId, DateTimeOffset? Initiated);

/// <summary>
/// An object as a store lists it. <paramref name="Sha256"/> is the full-object SHA-256 (base64) when the
/// store knows it. <paramref name="IsLink"/>: a symbolic link in a local folder, which BackupDR lists
/// (so it is seen and can be removed) but never reads or follows.
/// </summary>
public sealed record StoredObject(string Key, long Size, string? Sha256, bool IsLink = false);

/// <summary>
/// Where backups are kept: an S3 bucket or a local folder. Keys are '/'-separated and relative to
/// the store's root (the bucket, or the folder).
/// </summary>
public interface IBackupStore
{
    /// <summary>A human name for messages: "s3://bucket" or the folder path.</summary>
    string Root { get; }

    /// <summary>The URI of a key: "s3://bucket/key" or the local path.</summary>
    string UriOf(string key);

    /// <summary>Throws BucketNotFound / PathNotFound / AccessDenied when the store cannot be used.</summary>
    Task EnsureAvailableAsync(CancellationToken cancellationToken);

    /// <summary>Writes a small object in one request.</summary>
    Task PutAsync(string key, byte[] content, CancellationToken cancellationToken);

    /// <summary>Starts a streamed write. Nothing is visible under <paramref name="key"/> until <see cref="IObjectUpload.CompleteAsync"/>.</summary>
    IObjectUpload BeginUpload(string key);

    /// <summary>Opens an object for reading; throws <see cref="FileNotFoundException"/> when it does not exist.</summary>
    Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken);

    /// <summary>
    /// Reads a small object whole; null when it does not exist. An object larger than
    /// <paramref name="maxBytes"/> is not read past that size: <see cref="ObjectTooLargeException"/>.
    /// </summary>
    Task<byte[]?> TryReadAllAsync(string key, long maxBytes, CancellationToken cancellationToken);

    /// <summary>Null when the object does not exist.</summary>
    Task<StoredObject?> HeadAsync(string key, CancellationToken cancellationToken);

    /// <summary>Every object whose key starts with <paramref name="prefix"/>. A local folder's listing never follows a symbolic link.</summary>
    IAsyncEnumerable<StoredObject> ListAsync(string prefix, CancellationToken cancellationToken);

    Task DeleteAsync(string key, CancellationToken cancellationToken);

    /// <summary>
    /// Uploads under <paramref name="prefix"/> that were started and never completed or aborted (S3
    /// multipart uploads). A local folder has none: its unfinished writes are '.partial' files, which
    /// <see cref="ListAsync"/> lists like any other.
    /// </summary>
    IAsyncEnumerable<PendingUpload> ListPendingUploadsAsync(string prefix, CancellationToken cancellationToken);

    /// <summary>Aborts a pending upload, releasing its parts; an upload that is already gone is not an error.</summary>
    Task AbortUploadAsync(PendingUpload upload, CancellationToken cancellationToken);
}

/// <summary>
/// A streamed object write. Append with <see cref="AppendAsync"/> (each piece but the last should be
/// at least 5 MiB for S3), then <see cref="CompleteAsync"/>. Disposing without completing abandons
/// the write and leaves no object.
/// </summary>
/// <remarks>
/// Appends may overlap: a piece's place in the object is fixed when <see cref="AppendAsync"/> is
/// called, so the caller may start the next piece before the previous one finished. Calls themselves
/// come from one flow at a time, and every append must have finished before <see cref="CompleteAsync"/>.
/// </remarks>
public interface IObjectUpload : IAsyncDisposable
{
    Task AppendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Appends <paramref name="tail"/> (may be empty) and makes the object visible.</summary>
    Task CompleteAsync(ReadOnlyMemory<byte> tail, CancellationToken cancellationToken);
}

/// <summary>An object larger than its reader allows: read no further than the limit.</summary>
public sealed class ObjectTooLargeException(string uri, long limit)
    : UntrustedInputException($"{uri} is larger than the {limit:N0} bytes such an object may have; it was not read.");
