using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Restore;

/// <summary>
/// What a restore has durably done, so that a restore killed at any point can be resumed
/// (<c>-Resume</c>) without losing an item: for each data file, how many of its items, counted from
/// the file's start, are known to be in the table. docs/restore.md describes it.
/// </summary>
public sealed class RestoreCheckpoint
{
    public const string FormatName = "BackupDR.RestoreCheckpoint";

    public string Format { get; set; } = FormatName;
    public int Version { get; set; } = 1;
    public required string BackupUri { get; set; }
    public required string BackupId { get; set; }

    /// <summary>Binds the checkpoint to one committed state of the backup.</summary>
    public required string ManifestSummarySha256 { get; set; }
    public required string TableName { get; set; }

    /// <summary>The DynamoDB endpoint or region the table is in.</summary>
    public required string Target { get; set; }
    public RestoreMode Mode { get; set; }

    /// <summary>"writing", then (Exact) "deleting".</summary>
    public string Phase { get; set; } = Phases.Writing;
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>Data file → the items at its start that are done.</summary>
    public Dictionary<string, FileProgress> Files { get; set; } = [];

    public static class Phases
    {
        public const string Writing = "writing";
        public const string Deleting = "deleting";
    }
}

/// <summary>
/// The first <see cref="Items"/> records of a data file are applied: <see cref="Written"/> by BackupDR,
/// <see cref="Skipped"/> found there (MissingOnly), <see cref="Deleted"/> (an incremental export's deletes).
/// </summary>
public sealed record FileProgress(long Items, long Written, long Skipped, long Deleted = 0);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    UseStringEnumConverter = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RestoreCheckpoint))]
internal sealed partial class CheckpointJsonContext : JsonSerializerContext;

/// <summary>
/// Where checkpoints live: a folder (the default is under the user's local application data) or an
/// S3 prefix. One object per (backup, target table, endpoint); written whole each time (a rename on
/// disk, one PutObject in S3), so a reader sees the old checkpoint or the new one, never half of one.
/// </summary>
internal sealed class CheckpointStore(BackupFolder folder) : IDisposable
{
    private readonly IBackupStore store = folder.Store;
    private readonly string prefix = folder.Prefix;

    /// <summary>A checkpoint holds a line per data file: a few hundred bytes each. Nothing larger is read.</summary>
    private const long MaxCheckpointBytes = 64L * 1024 * 1024;

    /// <summary>BACKUPDR_CHECKPOINT_URI when set (a folder or s3://bucket/prefix/), else a folder under the user's local application data.</summary>
    public static string DefaultLocation =>
        Environment.GetEnvironmentVariable("BACKUPDR_CHECKPOINT_URI") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create),
                "BackupDR", "restore-checkpoints");

    /// <summary>The object's key: readable, and unique for the backup, table and endpoint.</summary>
    public string KeyFor(string backupUri, string tableName, string target)
    {
        byte[] digest = SHA256.HashData(Encoding.UTF8.GetBytes($"{backupUri.TrimEnd('/')}\n{tableName}\n{target}"));
        return $"{prefix}{tableName}-{Convert.ToHexString(digest, 0, 8).ToLowerInvariant()}.json";
    }

    public async Task<RestoreCheckpoint?> LoadAsync(string key, CancellationToken cancellationToken)
    {
        byte[]? json;
        try
        {
            json = await store.TryReadAllAsync(key, MaxCheckpointBytes, cancellationToken).ConfigureAwait(false);
        }
        catch (UntrustedInputException e)
        {
            throw Unreadable(key, e);
        }
        if (json is null) return null;
        try
        {
            var checkpoint = JsonSerializer.Deserialize(json, CheckpointJsonContext.Default.RestoreCheckpoint);
            if (checkpoint is null || checkpoint.Format != RestoreCheckpoint.FormatName || checkpoint.Version != 1)
            {
                throw new JsonException("not a version-1 BackupDR restore checkpoint");
            }
            return checkpoint;
        }
        catch (JsonException e)
        {
            throw Unreadable(key, e);
        }
    }

    private BackupDRException Unreadable(string key, Exception e) => new(ErrorIds.CheckpointInvalid, ErrorKind.InvalidData,
        $"The restore checkpoint {store.UriOf(key)} cannot be read ({e.Message}). Delete it and restore again with {Say.Mode("Upsert")}: items already written are written again, none is lost.",
        store.UriOf(key), e);

    public Task SaveAsync(string key, RestoreCheckpoint checkpoint, CancellationToken cancellationToken)
    {
        checkpoint.UpdatedAt = DateTimeOffset.UtcNow;
        return store.PutAsync(key, JsonSerializer.SerializeToUtf8Bytes(checkpoint, CheckpointJsonContext.Default.RestoreCheckpoint), cancellationToken);
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken) => store.DeleteAsync(key, cancellationToken);

    /// <summary>
    /// Fails (BucketNotFound) before the restore does anything when checkpoints cannot be kept there. A
    /// local folder is created (private to the user) with the first checkpoint.
    /// </summary>
    public Task EnsureAvailableAsync(CancellationToken cancellationToken) =>
        store is LocalBackupStore ? Task.CompletedTask : store.EnsureAvailableAsync(cancellationToken);

    public string UriOf(string key) => store.UriOf(key);

    public void Dispose() => folder.Dispose();
}

/// <summary>
/// Turns batches acknowledged in any order into per-file counts of done items from the file's start:
/// a file's watermark moves past a batch only once every batch before it is done too.
/// </summary>
internal sealed class ProgressTracker
{
    private readonly Dictionary<string, FileState> _files = [];
    private long _version;

    private sealed class FileState(FileProgress start)
    {
        public FileProgress Done = start;
        public readonly SortedDictionary<long, (long Count, long Written, long Skipped, long Deleted)> Ahead = [];
    }

    public ProgressTracker(IEnumerable<string> dataFiles, IReadOnlyDictionary<string, FileProgress> resumed)
    {
        foreach (string file in dataFiles) _files[file] = new FileState(resumed.GetValueOrDefault(file) ?? new FileProgress(0, 0, 0));
    }

    /// <summary>Changes with every acknowledged batch: a saver compares it to know whether to write.</summary>
    public long Version => Interlocked.Read(ref _version);

    public FileProgress StartOf(string file)
    {
        lock (_files) return _files[file].Done;
    }

    /// <summary>Items <paramref name="first"/> .. first + count - 1 (0-based within the file) are done.</summary>
    public void Complete(string file, long first, long count, long written, long skipped, long deleted = 0)
    {
        lock (_files)
        {
            var state = _files[file];
            state.Ahead[first] = (count, written, skipped, deleted);
            while (state.Ahead.Count > 0)
            {
                var (start, batch) = state.Ahead.First();
                if (start > state.Done.Items) break;
                state.Ahead.Remove(start);
                long end = start + batch.Count;
                if (end > state.Done.Items) state.Done = new FileProgress(end, state.Done.Written + batch.Written, state.Done.Skipped + batch.Skipped, state.Done.Deleted + batch.Deleted);
            }
        }
        Interlocked.Increment(ref _version);
    }

    public Dictionary<string, FileProgress> Snapshot()
    {
        lock (_files) return _files.ToDictionary(f => f.Key, f => f.Value.Done, StringComparer.Ordinal);
    }
}

/// <summary>
/// Writes the checkpoint while a restore runs: every <c>interval</c> if anything changed, whenever a
/// data file is finished, and once more (best effort) when the restore fails, so the resume repeats
/// as little as possible. Saves never overlap.
/// </summary>
internal sealed class CheckpointSaver : IAsyncDisposable
{
    private readonly CheckpointStore _store;
    private readonly string _key;
    private readonly RestoreCheckpoint _checkpoint;
    private readonly ProgressTracker _tracker;
    private readonly IOperationHost _host;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _savedVersion;

    public CheckpointSaver(CheckpointStore store, string key, RestoreCheckpoint checkpoint, ProgressTracker tracker, TimeSpan interval, IOperationHost host)
    {
        _store = store;
        _key = key;
        _checkpoint = checkpoint;
        _tracker = tracker;
        _host = host;
        _savedVersion = tracker.Version;
        _loop = RunAsync(interval);
    }

    public async Task SaveNowAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            long version = _tracker.Version;   // read first: a change during the save is saved next time
            if (version == _savedVersion) return;
            _checkpoint.Files = _tracker.Snapshot();
            await _store.SaveAsync(_key, _checkpoint, cancellationToken).ConfigureAwait(false);
            _savedVersion = version;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>After a failure: one more save, not cancellable by the failed operation's token.</summary>
    public async Task SaveLastAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await SaveNowAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _host.Warning($"Could not update the restore checkpoint {_store.UriOf(_key)} ({e.Message}); a resume repeats the writes since its last update.");
        }
    }

    private async Task RunAsync(TimeSpan interval)
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, _stop.Token).ConfigureAwait(false);
                await SaveNowAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                _host.Warning($"Could not update the restore checkpoint {_store.UriOf(_key)} ({e.Message}); trying again in {interval.TotalSeconds:N0} s.");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
        _gate.Dispose();
    }
}
