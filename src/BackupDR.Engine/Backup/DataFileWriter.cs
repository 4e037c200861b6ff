using System.Buffers;
using System.IO.Compression;
using System.Text.Json;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Format;
using BackupDR.Engine.Json;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Backup;

/// <summary>
/// Streams items into one data file: DynamoDB JSON lines → gzip → SHA-256/MD5 → upload in parts.
/// Memory is two part buffers, whatever the file's size: one fills while the other uploads.
/// </summary>
internal sealed class DataFileWriter : IAsyncDisposable
{
    internal const int DefaultPartSize = 8 * 1024 * 1024;
    private static readonly byte[] NewLine = [(byte)'\n'];

    private readonly string _relativeKey;
    private readonly IObjectUpload _upload;
    private readonly int _partSize;
    private readonly HashingBuffer _compressed;
    private readonly GZipStream _gzip;
    private readonly ArrayBufferWriter<byte> _line = new(64 * 1024);
    private readonly Utf8JsonWriter _json;
    private byte[] _spare;
    private Task _pendingUpload = Task.CompletedTask;

    public DataFileWriter(BackupFolder backup, string relativeKey, int partSize = DefaultPartSize)
    {
        _relativeKey = relativeKey;
        _partSize = partSize;
        _upload = backup.Store.BeginUpload(backup.Key(relativeKey));
        _compressed = new HashingBuffer(partSize + partSize / 8);
        _spare = new byte[partSize + partSize / 8];
        _gzip = new GZipStream(_compressed, CompressionLevel.Fastest, leaveOpen: true);
        _json = new Utf8JsonWriter(_line, DynamoJson.WriterOptions);
    }

    public long ItemCount { get; private set; }
    public long UncompressedBytes { get; private set; }

    public async ValueTask WriteAsync(Dictionary<string, AttributeValue> item, CancellationToken cancellationToken)
    {
        _line.ResetWrittenCount();
        _json.Reset(_line);
        DynamoJson.WriteRecord(_json, item);
        _json.Flush();
        _gzip.Write(_line.WrittenSpan);
        _gzip.Write(NewLine);
        UncompressedBytes += _line.WrittenCount + 1;
        ItemCount++;
        if (_compressed.Buffered >= _partSize) await ShipPartAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task ShipPartAsync(CancellationToken cancellationToken)
    {
        await _pendingUpload.ConfigureAwait(false);
        int length = _compressed.Buffered;
        byte[] full = _compressed.SwapBuffer(_spare);
        _pendingUpload = UploadAndRecycleAsync(full, length, cancellationToken);
    }

    private async Task UploadAndRecycleAsync(byte[] buffer, int length, CancellationToken cancellationToken)
    {
        await _upload.AppendAsync(buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
        _spare = buffer;
    }

    /// <summary>Finishes the gzip stream, uploads the rest and returns the manifest entry.</summary>
    public async Task<DataFileEntry> CompleteAsync(CancellationToken cancellationToken)
    {
        await _gzip.DisposeAsync().ConfigureAwait(false);
        await _pendingUpload.ConfigureAwait(false);
        var (sha256, md5) = _compressed.FinishHashes();
        await _upload.CompleteAsync(_compressed.BufferedMemory, cancellationToken).ConfigureAwait(false);
        return new DataFileEntry
        {
            DataFile = _relativeKey,
            ItemCount = ItemCount,
            SizeBytes = _compressed.TotalBytes,
            UncompressedSizeBytes = UncompressedBytes,
            Sha256Checksum = sha256,
            Md5Checksum = md5,
        };
    }

    public async ValueTask DisposeAsync()
    {
        try { await _pendingUpload.ConfigureAwait(false); } catch (Exception) { /* the failure was or will be reported by the caller */ }
        await _json.DisposeAsync().ConfigureAwait(false);
        await _gzip.DisposeAsync().ConfigureAwait(false);
        await _upload.DisposeAsync().ConfigureAwait(false);
        await _compressed.DisposeAsync().ConfigureAwait(false);
    }
}
