using System.Buffers;
using System.Security.Cryptography;

namespace BackupDR.Engine.Backup;

/// <summary>
/// The sink under the gzip stream: keeps the compressed bytes of the current part and hashes
/// every byte that passes (SHA-256 and MD5 of the whole object). Its buffers come from, and go
/// back to, the backup's part pool, so a new data file reuses the memory of the last one.
/// </summary>
internal sealed class HashingBuffer : Stream
{
    private readonly IncrementalHash _sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly IncrementalHash _md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
    private readonly ArrayPool<byte> _pool;
    private byte[]? _buffer;
    private int _length;

    public HashingBuffer(ArrayPool<byte> pool, int capacity)
    {
        _pool = pool;
        _buffer = pool.Rent(capacity);
    }

    /// <summary>Bytes buffered for the current part.</summary>
    public int Buffered => _length;

    /// <summary>All bytes that passed through.</summary>
    public long TotalBytes { get; private set; }

    public ReadOnlyMemory<byte> BufferedMemory => Current.AsMemory(0, _length);

    private byte[] Current => _buffer ?? throw new ObjectDisposedException(nameof(HashingBuffer));

    /// <summary>Hands the buffered bytes (in a pool buffer the caller now owns) to the caller and continues in <paramref name="replacement"/>.</summary>
    public byte[] SwapBuffer(byte[] replacement)
    {
        byte[] full = Current;
        _buffer = replacement;
        _length = 0;
        return full;
    }

    public (string Sha256, string Md5) FinishHashes() =>
        (Convert.ToBase64String(_sha256.GetHashAndReset()), Convert.ToBase64String(_md5.GetHashAndReset()));

    public override void Write(ReadOnlySpan<byte> data)
    {
        byte[] buffer = Current;
        if (_length + data.Length > buffer.Length)
        {
            // Rare: a part overshoots its buffer's slack. Move to a larger pool buffer.
            byte[] larger = _pool.Rent(_length + data.Length);
            buffer.AsSpan(0, _length).CopyTo(larger);
            _pool.Return(buffer);
            _buffer = buffer = larger;
        }
        data.CopyTo(buffer.AsSpan(_length));
        _length += data.Length;
        _sha256.AppendData(data);
        _md5.AppendData(data);
        TotalBytes += data.Length;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    public override void WriteByte(byte value) => Write([value]);
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => TotalBytes;
    public override long Position { get => TotalBytes; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _sha256.Dispose();
            _md5.Dispose();
            var buffer = Interlocked.Exchange(ref _buffer, null);
            if (buffer is not null) _pool.Return(buffer);
        }
        base.Dispose(disposing);
    }
}
