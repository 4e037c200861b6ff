using System.Security.Cryptography;

namespace BackupDR.Engine.Backup;

/// <summary>
/// The sink under the gzip stream: keeps the compressed bytes of the current part and hashes
/// every byte that passes (SHA-256 and MD5 of the whole object).
/// </summary>
internal sealed class HashingBuffer : Stream
{
    private readonly IncrementalHash _sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly IncrementalHash _md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
    private readonly int _growthLimit;
    private byte[] _buffer;
    private int _length;

    /// <summary>Starts at <paramref name="capacity"/> bytes and doubles as needed, but not past <paramref name="growthLimit"/> unless a single write needs more.</summary>
    public HashingBuffer(int capacity, int growthLimit = int.MaxValue)
    {
        _buffer = new byte[capacity];
        _growthLimit = Math.Max(capacity, growthLimit);
    }

    /// <summary>Bytes buffered for the current part.</summary>
    public int Buffered => _length;

    /// <summary>All bytes that passed through.</summary>
    public long TotalBytes { get; private set; }

    public ReadOnlyMemory<byte> BufferedMemory => _buffer.AsMemory(0, _length);

    /// <summary>Hands the buffered bytes to the caller and continues in <paramref name="replacement"/>.</summary>
    public byte[] SwapBuffer(byte[] replacement)
    {
        byte[] full = _buffer;
        _buffer = replacement;
        _length = 0;
        return full;
    }

    public (string Sha256, string Md5) FinishHashes() =>
        (Convert.ToBase64String(_sha256.GetHashAndReset()), Convert.ToBase64String(_md5.GetHashAndReset()));

    public override void Write(ReadOnlySpan<byte> data)
    {
        if (_length + data.Length > _buffer.Length)
        {
            long doubled = Math.Min((long)_buffer.Length * 2, _growthLimit);
            Array.Resize(ref _buffer, (int)Math.Max(doubled, _length + data.Length));
        }
        data.CopyTo(_buffer.AsSpan(_length));
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
        if (disposing) { _sha256.Dispose(); _md5.Dispose(); }
        base.Dispose(disposing);
    }
}
