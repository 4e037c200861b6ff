using System.IO.Compression;
using System.Security.Cryptography;
using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Validation;

/// <summary>
/// Reads one data file as stored: raw bytes → SHA-256/MD5 → gunzip → JSON lines. The hashes cover
/// every stored byte, including any after the gzip stream ends.
/// </summary>
/// <remarks>
/// The file is untrusted, and so is its manifest entry, whose hash a forger can re-chain: the entry's
/// figures are used as bounds, enforced while streaming. Reading stops, with a
/// <see cref="DataFileException"/> naming the problem, at the first stored byte past
/// <c>sizeBytes</c>, the first decompressed byte past <c>uncompressedSizeBytes</c>, a line longer
/// than <see cref="MaxLineBytes"/>, or a line past <c>itemCount</c> (each line is one item). So memory
/// is one line at most, and work is bounded by what the manifest claims, whatever the file holds.
/// </remarks>
internal sealed class DataFileReader : IRecordReader
{
    /// <summary>A DynamoDB item is at most 400 KB; its DynamoDB JSON, escapes and all, stays well below this.</summary>
    public const int MaxLineBytes = BackupFormat.MaxLineBytes;

    private readonly DataFileEntry _file;
    private readonly HashingReadStream _raw;
    private readonly GZipStream _gzip;
    private byte[] _buffer = new byte[256 * 1024];
    private int _start;
    private int _end;
    private bool _eof;

    private DataFileReader(Stream stored, DataFileEntry file)
    {
        _file = file;
        _raw = new HashingReadStream(stored, file);
        _gzip = new GZipStream(_raw, CompressionMode.Decompress, leaveOpen: true);
    }

    public static async Task<DataFileReader> OpenAsync(BackupFolder backup, DataFileEntry file, CancellationToken cancellationToken) =>
        new(await backup.Store.OpenReadAsync(backup.Key(file.DataFile), cancellationToken).ConfigureAwait(false), file);

    /// <summary>The reader for a data file of <paramref name="stage"/>'s format: gzip JSON Lines, a seed backup file, or a dynamodump page.</summary>
    public static async Task<IRecordReader> OpenAsync(LoadedBackup stage, DataFileEntry file, CancellationToken cancellationToken) => stage.Format switch
    {
        SourceFormat.SeedV2 => await SeedRecords.OpenAsync(stage.Folder, file, cancellationToken).ConfigureAwait(false),
        SourceFormat.Dynamodump => await DumpRecords.OpenAsync(stage.Folder, file, cancellationToken).ConfigureAwait(false),
        _ => await OpenAsync(stage.Folder, file, cancellationToken).ConfigureAwait(false),
    };

    public long LineNumber { get; private set; }
    public long UncompressedBytes { get; private set; }

    /// <summary>
    /// The next line without its '\n', valid until the next call; null at the end. Throws
    /// <see cref="DataFileException"/> when the file breaks a bound or cannot be decompressed.
    /// </summary>
    public async ValueTask<ReadOnlyMemory<byte>?> NextLineAsync(CancellationToken cancellationToken)
    {
        int searched = _start;
        while (true)
        {
            int newline = Array.IndexOf(_buffer, (byte)'\n', searched, _end - searched);
            if (newline >= 0)
            {
                if (newline - _start > MaxLineBytes) throw LineTooLong();
                if (LineNumber == _file.ItemCount)
                {
                    throw new DataFileException(ProblemCodes.CountMismatch,
                        $"holds more than the {_file.ItemCount:N0} items the manifest says (reading stopped at line {LineNumber + 1:N0})");
                }
                var line = _buffer.AsMemory(_start, newline - _start);
                _start = newline + 1;
                LineNumber++;
                return line;
            }
            if (_end - _start > MaxLineBytes) throw LineTooLong();
            if (_eof)
            {
                if (_start == _end) return null;
                throw new DataFileException(ProblemCodes.CorruptData, $"ends with a line ({LineNumber + 1:N0}) that is not terminated by a newline");
            }
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            searched = _end;
            if (_end == _buffer.Length) Array.Resize(ref _buffer, Math.Min(_buffer.Length * 2, MaxLineBytes + 64 * 1024));
            int read;
            try
            {
                read = await _gzip.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidDataException e)
            {
                throw new DataFileException(ProblemCodes.CorruptData, $"cannot be decompressed after line {LineNumber:N0} ({e.Message})");
            }
            if (read == 0) _eof = true;
            _end += read;
            UncompressedBytes += read;
            if (UncompressedBytes > _file.UncompressedSizeBytes)
            {
                throw new DataFileException(ProblemCodes.CorruptData,
                    $"decompresses to more than the {_file.UncompressedSizeBytes:N0} bytes the manifest records (reading stopped)");
            }
        }
    }

    private DataFileException LineTooLong() =>
        new(ProblemCodes.CorruptData, $"has a line ({LineNumber + 1:N0}) longer than {MaxLineBytes / (1024 * 1024)} MiB, more than any DynamoDB item needs (reading stopped)");

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

    /// <summary>Hashes what passes through, and refuses a byte past the size the manifest records.</summary>
    internal sealed class HashingReadStream(Stream inner, DataFileEntry file) : Stream
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
            _bytes += data.Length;
            if (_bytes > file.SizeBytes)
            {
                throw new DataFileException(ProblemCodes.SizeMismatch, $"is larger than the {file.SizeBytes:N0} bytes the manifest records (reading stopped)");
            }
            _sha256.AppendData(data);
            _md5.AppendData(data);
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

/// <summary>
/// A data file's records, one line each as the data files of BackupDR's format hold them: <c>{"Item":{…}}</c>
/// (or an incremental export's change record). Readers of other layouts present their items so, and
/// hash the stored bytes as they are read.
/// </summary>
internal interface IRecordReader : IAsyncDisposable
{
    /// <summary>Records handed out so far.</summary>
    long LineNumber { get; }

    /// <summary>The next record, valid until the next call; null at the end. Throws <see cref="DataFileException"/> when the file breaks a rule or a bound.</summary>
    ValueTask<ReadOnlyMemory<byte>?> NextLineAsync(CancellationToken cancellationToken);

    /// <summary>Reads whatever stored bytes remain and returns the hashes and size of the stored object.</summary>
    Task<(string Sha256, string Md5, long Size)> FinishAsync(CancellationToken cancellationToken);
}

/// <summary>
/// A data file that broke a rule or a bound while it was read; <see cref="Code"/> is the integrity problem
/// it is. The message is a predicate ("holds more than …"): the reader names the file before it.
/// </summary>
internal sealed class DataFileException(string code, string message) : UntrustedInputException(message)
{
    public string Code { get; } = code;
}
