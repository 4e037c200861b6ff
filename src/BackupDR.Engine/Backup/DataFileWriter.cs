using System.Buffers;
using System.IO.Compression;
using System.Text.Json;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Format;
using BackupDR.Engine.Json;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Backup;

/// <summary>
/// Streams items into one data file: DynamoDB JSON lines → gzip → SHA-256/MD5 → upload in parts.
/// Up to <c>partsInFlight</c> parts upload at once while the next one fills; when all are busy the
/// writer waits (backpressure). Memory is partsInFlight + 1 part buffers, whatever the file's size.
/// </summary>
internal sealed class DataFileWriter : IAsyncDisposable
{
    internal const int DefaultPartSize = 5 * 1024 * 1024;
    private static readonly byte[] NewLine = [(byte)'\n'];

    private readonly string _relativeKey;
    private readonly IObjectUpload _upload;
    private readonly int _partSize;
    private readonly HashingBuffer _compressed;
    private readonly GZipStream _gzip;
    private const int ChunkSize = 64 * 1024;
    private readonly ArrayBufferWriter<byte> _lines = new(2 * ChunkSize);
    private readonly Utf8JsonWriter _json;
    private readonly ArrayPool<byte> _buffers;
    private readonly SemaphoreSlim _freeBuffers;
    private readonly List<Task> _uploads = [];
    private readonly ItemWalker _walker;

    /// <param name="buffers">
    /// Where part buffers come from and go back to: the backup's pool, so files reuse each other's
    /// memory. A buffer's pages become resident only as they are filled, so a small file costs little.
    /// </param>
    /// <param name="walker">Checks every item by the one grammar (keys included) as it copies it; one per encoder.</param>
    public DataFileWriter(BackupFolder backup, string relativeKey, ArrayPool<byte> buffers, ItemWalker walker, int partSize = DefaultPartSize, int partsInFlight = 1)
    {
        _walker = walker;
        _relativeKey = relativeKey;
        _partSize = partSize;
        _buffers = buffers;
        _upload = backup.Store.BeginUpload(backup.Key(relativeKey));
        _compressed = new HashingBuffer(buffers, PartBufferSize(partSize));
        _freeBuffers = new SemaphoreSlim(partsInFlight, partsInFlight);
        _gzip = new GZipStream(_compressed, CompressionLevel.Fastest, leaveOpen: true);
        _json = new Utf8JsonWriter(_lines, DynamoJson.WriterOptions);
    }

    public long ItemCount { get; private set; }
    public long UncompressedBytes { get; private set; }

    /// <summary>
    /// Copies items from a Scan page, as DynamoDB sent them, into the file, resuming at
    /// <paramref name="cursor"/>. Stops after the item that takes the file to <paramref name="stopAtBytes"/>
    /// of JSON (the caller then starts the next file). Returns true when the page is exhausted.
    /// Call <see cref="ShipFullPartsAsync"/> afterwards.
    /// </summary>
    public bool WriteScanItems(ScanPage page, ScanPageCursor cursor, long stopAtBytes)
    {
        var items = page.Body[page.Items];
        if (items.IsEmpty) return true;
        var r = new Utf8JsonReader(items[cursor.Offset..], isFinalBlock: true, cursor.State);
        if (cursor.Offset == 0)
        {
            if (!r.Read() || r.TokenType != JsonTokenType.StartArray) throw new InvalidDataException("Items is not an array");
        }
        while (true)
        {
            if (!r.Read()) throw new InvalidDataException("the Items array ends early");
            if (r.TokenType == JsonTokenType.EndArray) return true;
            int before = _lines.WrittenCount;
            _json.Reset(_lines);
            _json.WriteStartObject();
            _json.WritePropertyName("Item"u8);
            var copy = new CopyTo(_json);
            _walker.WalkItem(ref r, ref copy);
            _json.WriteEndObject();
            _json.Flush();
            _lines.Write(NewLine);
            UncompressedBytes += _lines.WrittenCount - before;
            ItemCount++;
            if (_lines.WrittenCount >= ChunkSize) FlushLines();
            if (UncompressedBytes >= stopAtBytes)
            {
                var peek = r;
                if (peek.Read() && peek.TokenType == JsonTokenType.EndArray) return true;
                cursor.Offset += (int)r.BytesConsumed;
                cursor.State = r.CurrentState;
                return false;
            }
        }
    }

    /// <summary>Ships the compressed bytes as a part once they reach the part size (waiting for a free upload slot).</summary>
    public ValueTask ShipFullPartsAsync(CancellationToken cancellationToken) =>
        _compressed.Buffered >= _partSize ? new ValueTask(ShipPartAsync(cancellationToken)) : ValueTask.CompletedTask;

    private void FlushLines()
    {
        _gzip.Write(_lines.WrittenSpan);
        _lines.ResetWrittenCount();
    }

    private async Task ShipPartAsync(CancellationToken cancellationToken)
    {
        // A free slot first: this is where a slow upload holds the encoder back.
        await _freeBuffers.WaitAsync(cancellationToken).ConfigureAwait(false);
        ThrowIfAnUploadFailed();
        byte[] replacement = _buffers.Rent(PartBufferSize(_partSize));
        int length = _compressed.Buffered;
        byte[] full = _compressed.SwapBuffer(replacement);
        // AppendAsync fixes the part's place in the object when it is called, so parts may finish in any order.
        Task append = _upload.AppendAsync(full.AsMemory(0, length), cancellationToken);
        _uploads.Add(RecycleWhenDoneAsync(append, full));
    }

    private async Task RecycleWhenDoneAsync(Task append, byte[] buffer)
    {
        try
        {
            await append.ConfigureAwait(false);
        }
        finally
        {
            _buffers.Return(buffer);
            _freeBuffers.Release();
        }
    }

    private void ThrowIfAnUploadFailed()
    {
        foreach (var upload in _uploads)
        {
            if (upload.IsFaulted || upload.IsCanceled) upload.GetAwaiter().GetResult();
        }
        _uploads.RemoveAll(u => u.IsCompletedSuccessfully);
    }

    /// <summary>A part buffer: the part size plus slack for the last chunk that takes it over.</summary>
    public static int PartBufferSize(int partSize) => partSize + Math.Max(partSize / 8, 256 * 1024);

    /// <summary>Finishes the gzip stream, uploads the rest and returns the manifest entry.</summary>
    public async Task<DataFileEntry> CompleteAsync(CancellationToken cancellationToken)
    {
        FlushLines();
        await _gzip.DisposeAsync().ConfigureAwait(false);
        await Task.WhenAll(_uploads).ConfigureAwait(false);
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
        try { await Task.WhenAll(_uploads).ConfigureAwait(false); } catch (Exception) { /* the failure was or will be reported by the caller */ }
        await _json.DisposeAsync().ConfigureAwait(false);
        await _gzip.DisposeAsync().ConfigureAwait(false);
        await _upload.DisposeAsync().ConfigureAwait(false);
        await _compressed.DisposeAsync().ConfigureAwait(false);
        _freeBuffers.Dispose();
    }
}

/// <summary>Where <see cref="DataFileWriter.WriteScanItems"/> stopped in a page.</summary>
internal sealed class ScanPageCursor
{
    public int Offset { get; set; }
    public JsonReaderState State { get; set; } = new(new JsonReaderOptions { MaxDepth = 256 });
}
