using System.IO.Compression;
using System.Security.Cryptography;
using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Validation;

/// <summary>
/// Reads one data file as stored: raw bytes → SHA-256/MD5 → gunzip → JSON lines. The hashes cover
/// every stored byte, including any after the gzip stream ends.
/// </summary>
internal sealed class DataFileReader : IAsyncDisposable
{
    private readonly HashingReadStream _raw;
    private readonly GZipStream _gzip;
    private byte[] _buffer = new byte[256 * 1024];
    private int _start;
    private int _end;
    private bool _eof;

    private DataFileReader(Stream stored)
    {
        _raw = new HashingReadStream(stored);
        _gzip = new GZipStream(_raw, CompressionMode.Decompress, leaveOpen: true);
    }

    public static async Task<DataFileReader> OpenAsync(BackupFolder backup, DataFileEntry file, CancellationToken cancellationToken) =>
        new(await backup.Store.OpenReadAsync(backup.Key(file.DataFile), cancellationToken).ConfigureAwait(false));

    public long LineNumber { get; private set; }
    public long UncompressedBytes { get; private set; }

    /// <summary>The next line without its '\n', valid until the next call; null at the end. InvalidDataException when the gzip stream is damaged.</summary>
    public async ValueTask<ReadOnlyMemory<byte>?> NextLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            int newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (newline >= 0)
            {
                var line = _buffer.AsMemory(_start, newline - _start);
                _start = newline + 1;
                LineNumber++;
                return line;
            }
            if (_eof)
            {
                if (_start == _end) return null;
                throw new InvalidDataException($"the last line ({LineNumber + 1}) is not terminated by a newline");
            }
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            if (_end == _buffer.Length) Array.Resize(ref _buffer, _buffer.Length * 2);
            int read = await _gzip.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            if (read == 0) _eof = true;
            _end += read;
            UncompressedBytes += read;
        }
    }

    /// <summary>Reads whatever raw bytes remain and returns the hashes and size of the stored object.</summary>
    public async Task<(string Sha256, string Md5, long Size)> FinishAsync(CancellationToken cancellationToken)
    {
        byte[] sink = new byte[81920];
        while (await _raw.ReadAsync(sink, cancellationToken).ConfigureAwait(false) > 0) { }
        return _raw.Finish();
    }

    public async ValueTask DisposeAsync()
    {
        await _gzip.DisposeAsync().ConfigureAwait(false);
        await _raw.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class HashingReadStream(Stream inner) : Stream
    {
        private readonly IncrementalHash _sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private readonly IncrementalHash _md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        private long _bytes;

        public (string, string, long) Finish() =>
            (Convert.ToBase64String(_sha256.GetHashAndReset()), Convert.ToBase64String(_md5.GetHashAndReset()), _bytes);

        public override int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            Track(buffer[..n]);
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            Track(buffer.Span[..n]);
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private void Track(ReadOnlySpan<byte> data)
        {
            _sha256.AppendData(data);
            _md5.AppendData(data);
            _bytes += data.Length;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _bytes; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) { inner.Dispose(); _sha256.Dispose(); _md5.Dispose(); }
            base.Dispose(disposing);
        }
    }
}
