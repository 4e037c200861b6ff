using System.Runtime.CompilerServices;

namespace BackupDR.Engine.Storage;

/// <summary>
/// Backups in a local folder. Objects appear atomically: written to a temporary name, then renamed.
/// The folder is untrusted like a bucket: every key must pass <see cref="StoreKeys"/>, and no
/// operation follows a symbolic link below the root — a link is listed (so a removal takes the link
/// itself away) but never read, written through or descended into. What BackupDR creates is private
/// to its user: files 0600, folders 0700.
/// </summary>
public sealed class LocalBackupStore(string rootFolder) : IBackupStore
{
    private const string PartialSuffix = ".partial";
    private const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public string Root { get; } = Path.GetFullPath(rootFolder).TrimEnd(Path.DirectorySeparatorChar) is { Length: > 0 } r ? r : "/";

    public string UriOf(string key) => key.Length == 0 ? Root : Path.Join(Root, key.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>
    /// The path of a key inside the root, refusing keys that leave it and paths that pass through a
    /// symbolic link. <paramref name="lastMayBeLink"/>: the final component may itself be a link (to be
    /// listed or removed, never followed).
    /// </summary>
    private string PathOf(string key, bool lastMayBeLink = false)
    {
        if (key.Length == 0) return Root;
        StoreKeys.Check(key);
        string path = Path.Join(Root, key.TrimEnd('/').Replace('/', Path.DirectorySeparatorChar));
        string prefix = Root.EndsWith(Path.DirectorySeparatorChar) ? Root : Root + Path.DirectorySeparatorChar;
        if (!Path.GetFullPath(path).StartsWith(prefix, StringComparison.Ordinal)) throw new UnsafeKeyException(key, "it resolves outside the folder");
        // Each component below the root, the last one included unless it may be a link.
        string[] segments = key.TrimEnd('/').Split('/');
        string current = Root;
        for (int i = 0; i < segments.Length; i++)
        {
            current = Path.Join(current, segments[i]);
            if (i == segments.Length - 1 && lastMayBeLink) break;
            if (IsLink(current)) throw new UnsafeKeyException(key, $"'{string.Join('/', segments[..(i + 1)])}' is a symbolic link, which BackupDR does not follow");
        }
        return path;
    }

    private static bool IsLink(string path)
    {
        try
        {
            return (File.GetAttributes(path) & FileAttributes.ReparsePoint) != 0;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
    }

    public Task EnsureAvailableAsync(CancellationToken cancellationToken)
    {
        if (!Directory.Exists(Root))
        {
            throw new BackupDRException(ErrorIds.PathNotFound, ErrorKind.ObjectNotFound,
                $"The folder '{Root}' does not exist. Create it first.", Root);
        }
        return Task.CompletedTask;
    }

    public async Task PutAsync(string key, byte[] content, CancellationToken cancellationToken)
    {
        await using var upload = BeginUpload(key);
        await upload.CompleteAsync(content, cancellationToken).ConfigureAwait(false);
    }

    public IObjectUpload BeginUpload(string key) => new LocalUpload(this, PathOf(key));

    public Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        string path = PathOf(key);
        if (!File.Exists(path)) throw new FileNotFoundException($"'{path}' does not exist.", path);
        return Task.FromResult<Stream>(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true));
    }

    public async Task<byte[]?> TryReadAllAsync(string key, long maxBytes, CancellationToken cancellationToken)
    {
        string path = PathOf(key);
        if (!File.Exists(path)) return null;
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        return await BoundedRead.AllAsync(stream, maxBytes, UriOf(key), cancellationToken).ConfigureAwait(false);
    }

    public Task<StoredObject?> HeadAsync(string key, CancellationToken cancellationToken)
    {
        var info = new FileInfo(PathOf(key));
        return Task.FromResult(info.Exists ? new StoredObject(key, info.Length, null) : null);
    }

    public async IAsyncEnumerable<StoredObject> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        // The prefix is a folder prefix ("table/id/") or a key prefix; walk the folder it is in.
        int slash = prefix.LastIndexOf('/');
        string folder = PathOf(slash < 0 ? "" : prefix[..(slash + 1)]);
        if (!Directory.Exists(folder)) yield break;
        var found = new List<StoredObject>();
        Walk(new DirectoryInfo(folder), prefix, found, cancellationToken);
        found.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        foreach (var obj in found) yield return obj;
    }

    /// <summary>Files and links below <paramref name="folder"/>; a link (to a file or a folder) is an entry, never entered.</summary>
    private void Walk(DirectoryInfo folder, string prefix, List<StoredObject> found, CancellationToken cancellationToken)
    {
        foreach (var entry in folder.EnumerateFileSystemInfos())
        {
            cancellationToken.ThrowIfCancellationRequested();
            string key = Path.GetRelativePath(Root, entry.FullName).Replace(Path.DirectorySeparatorChar, '/');
            bool link = (entry.Attributes & FileAttributes.ReparsePoint) != 0;
            if (entry is DirectoryInfo sub && !link)
            {
                if (prefix.StartsWith(key + "/", StringComparison.Ordinal) || (key + "/").StartsWith(prefix, StringComparison.Ordinal)) Walk(sub, prefix, found, cancellationToken);
                continue;
            }
            if (!key.StartsWith(prefix, StringComparison.Ordinal)) continue;
            found.Add(new StoredObject(key, link ? 0 : ((FileInfo)entry).Length, null, link));
        }
    }

    /// <summary>Deletes the object, or the link itself when the key is a link; then the folders this emptied.</summary>
    public Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        string path = PathOf(key, lastMayBeLink: true);
        File.Delete(path);   // unlink: removes a link, never what it points to
        // Folders exist only to hold objects: remove the ones this deletion emptied, up to the root.
        for (var dir = Path.GetDirectoryName(path); dir is not null && dir.Length > Root.Length
             && Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any(); dir = Path.GetDirectoryName(dir))
        {
            Directory.Delete(dir);
        }
        return Task.CompletedTask;
    }

    public async IAsyncEnumerable<PendingUpload> ListPendingUploadsAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        yield break;
    }

    public Task AbortUploadAsync(PendingUpload upload, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Creates a folder and each missing parent private to the user (0700; the mode applies to every folder created, not only the last).</summary>
    internal static void CreatePrivateFolder(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
            return;
        }
        var missing = new Stack<string>();
        for (string? dir = Path.GetFullPath(path); dir is not null && !Directory.Exists(dir); dir = Path.GetDirectoryName(dir)) missing.Push(dir);
        while (missing.TryPop(out var dir)) Directory.CreateDirectory(dir, PrivateFolder);
    }

    private static FileStream CreatePrivateFile(string path)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, Options = FileOptions.Asynchronous };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = PrivateFile;
        return new FileStream(path, options);
    }

    /// <summary>Writes to a temporary file at each piece's offset (so pieces may overlap), then renames it into place.</summary>
    private sealed class LocalUpload(LocalBackupStore store, string finalPath) : IObjectUpload
    {
        private readonly string _tempPath = finalPath + "." + Guid.NewGuid().ToString("N")[..8] + PartialSuffix;
        private FileStream? _file;
        private long _length;
        private bool _completed;

        public Task AppendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            if (_file is null)
            {
                string folder = Path.GetDirectoryName(finalPath)!;
                CreatePrivateFolder(folder);
                // Created since the key was checked? The folder must still be no link.
                store.PathOf(Path.GetRelativePath(store.Root, _tempPath).Replace(Path.DirectorySeparatorChar, '/'));
                _file = CreatePrivateFile(_tempPath);
            }
            long offset = _length;
            _length += data.Length;
            return data.IsEmpty ? Task.CompletedTask : RandomAccess.WriteAsync(_file.SafeFileHandle, data, offset, cancellationToken).AsTask();
        }

        public async Task CompleteAsync(ReadOnlyMemory<byte> tail, CancellationToken cancellationToken)
        {
            await AppendAsync(tail, cancellationToken).ConfigureAwait(false);
            RandomAccess.FlushToDisk(_file!.SafeFileHandle);
            await _file.DisposeAsync().ConfigureAwait(false);
            File.Move(_tempPath, finalPath, overwrite: true);   // rename(2) replaces a link at the final name, never writes through it
            _completed = true;
        }

        public async ValueTask DisposeAsync()
        {
            if (_file is not null) await _file.DisposeAsync().ConfigureAwait(false);
            if (!_completed && File.Exists(_tempPath)) File.Delete(_tempPath);
        }
    }
}
