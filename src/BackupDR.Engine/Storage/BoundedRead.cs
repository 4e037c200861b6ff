namespace BackupDR.Engine.Storage;

/// <summary>Reads a stream whole, but never more than a limit: an object that claims to be small is not trusted to be.</summary>
internal static class BoundedRead
{
    public static async Task<byte[]> AllAsync(Stream stream, long maxBytes, string uri, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > maxBytes) throw new ObjectTooLargeException(uri, maxBytes);
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }
}
