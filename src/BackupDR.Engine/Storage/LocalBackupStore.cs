using System.Runtime.CompilerServices;

namespace BackupDR.Engine.Storage;

/// <summary>Backups in a local folder. Objects appear atomically: written to a temporary name, then renamed.</summary>
public sealed class LocalBackupStore(string rootFolder) : IBackupStore
{
    private const string PartialSuffix = ".partial";

    public string Root { get; } = Path.GetFullPath(rootFolder);

    public string UriOf(string key) => PathOf(key);

    private string PathOf(string key)
    {
        if (key.Contains("..", StringComparison.Ordinal)) throw new ArgumentException($"Key '{key}' escapes the backup folder.", nameof(key));
        return key.Length == 0 ? Root : Path.Combine(Root, key.Replace('/', Path.DirectorySeparatorChar));
    }

    public Task EnsureAvailableAsync(CancellationToken cancellationToken)
    {
        if (!Directory.Exists(Root))
        {
            throw new BackupDRException(ErrorIds.PathNotFound, ErrorKind.ObjectNotFound,
                $"The folder '{Root}' does not exist. Create it first, or pass an existing folder to -Path.", Root);
        }
        return Task.CompletedTask;
    }

    public async Task PutAsync(string key, byte[] content, CancellationToken cancellationToken)
    {
        await using var upload = BeginUpload(key);
        await upload.CompleteAsync(content, cancellationToken).ConfigureAwait(false);
    }

    public IObjectUpload BeginUpload(string key) => new LocalUpload(PathOf(key));

    public Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        string path = PathOf(key);
        if (!File.Exists(path)) throw new FileNotFoundException($"'{path}' does not exist.", path);
        return Task.FromResult<Stream>(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true));
    }

    public async Task<byte[]?> TryReadAllAsync(string key, CancellationToken cancellationToken)
    {
        string path = PathOf(key);
        return File.Exists(path) ? await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false) : null;
    }

    public Task<StoredObject?> HeadAsync(string key, CancellationToken cancellationToken)
    {
        var info = new FileInfo(PathOf(key));
        return Task.FromResult(info.Exists ? new StoredObject(key, info.Length, null) : null);
    }

    public async IAsyncEnumerable<StoredObject> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        // The prefix is a folder prefix ("table/id/") or a key prefix; list the folder it is in.
        int slash = prefix.LastIndexOf('/');
        string folder = PathOf(slash < 0 ? "" : prefix[..slash]);
        if (!Directory.Exists(folder)) yield break;
        var files = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Select(f => (Path: f, Key: Path.GetRelativePath(Root, f).Replace(Path.DirectorySeparatorChar, '/')))
            .Where(f => f.Key.StartsWith(prefix, StringComparison.Ordinal))
            .OrderBy(f => f.Key, StringComparer.Ordinal);
        foreach (var (path, key) in files)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return new StoredObject(key, new FileInfo(path).Length, null);
        }
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        string path = PathOf(key);
        File.Delete(path);
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

    /// <summary>Writes to a temporary file at each piece's offset (so pieces may overlap), then renames it into place.</summary>
    private sealed class LocalUpload : IObjectUpload
    {
        private readonly string _finalPath;
        private readonly string _tempPath;
        private Microsoft.Win32.SafeHandles.SafeFileHandle? _file;
        private long _length;
        private bool _completed;

        public LocalUpload(string finalPath)
        {
            _finalPath = finalPath;
            _tempPath = finalPath + "." + Guid.NewGuid().ToString("N")[..8] + PartialSuffix;
        }

        public Task AppendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            if (_file is null)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(_finalPath)!);
                _file = File.OpenHandle(_tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.Asynchronous);
            }
            long offset = _length;
            _length += data.Length;
            return data.IsEmpty ? Task.CompletedTask : RandomAccess.WriteAsync(_file, data, offset, cancellationToken).AsTask();
        }

        public async Task CompleteAsync(ReadOnlyMemory<byte> tail, CancellationToken cancellationToken)
        {
            await AppendAsync(tail, cancellationToken).ConfigureAwait(false);
            RandomAccess.FlushToDisk(_file!);
            _file!.Dispose();
            File.Move(_tempPath, _finalPath, overwrite: true);
            _completed = true;
        }

        public ValueTask DisposeAsync()
        {
            _file?.Dispose();
            if (!_completed && File.Exists(_tempPath)) File.Delete(_tempPath);
            return ValueTask.CompletedTask;
        }
    }
}
