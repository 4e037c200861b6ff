using System.Buffers;
using System.Collections.Concurrent;

namespace BackupDR.Engine;

/// <summary>
/// A pool of same-sized byte buffers that keeps at most <c>maxRetained</c> of them. Unlike
/// <see cref="ArrayPool{T}.Create(int,int)"/> it does not round sizes up to a power of two (a 5.6 MB
/// part buffer would become an 8 MiB array), and its arrays are allocated uninitialized, so a
/// buffer's memory becomes resident only as far as it is written. A request larger than the pool's
/// size gets a one-off array that is dropped on return.
/// </summary>
internal sealed class BoundedBufferPool(int bufferSize, int maxRetained) : ArrayPool<byte>
{
    private readonly ConcurrentBag<byte[]> _free = [];
    private int _retained;

    public int BufferSize => bufferSize;

    public override byte[] Rent(int minimumLength)
    {
        if (minimumLength > bufferSize) return GC.AllocateUninitializedArray<byte>(minimumLength);
        if (_free.TryTake(out var buffer))
        {
            Interlocked.Decrement(ref _retained);
            return buffer;
        }
        return GC.AllocateUninitializedArray<byte>(bufferSize);
    }

    public override void Return(byte[] array, bool clearArray = false)
    {
        if (array.Length != bufferSize) return;
        if (Interlocked.Increment(ref _retained) > maxRetained)
        {
            Interlocked.Decrement(ref _retained);
            return;
        }
        if (clearArray) Array.Clear(array);
        _free.Add(array);
    }
}
