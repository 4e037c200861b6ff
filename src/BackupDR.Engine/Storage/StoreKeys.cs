namespace BackupDR.Engine.Storage;

/// <summary>
/// The one rule for keys that come from outside BackupDR — a manifest, a listing, a checkpoint, an
/// event — before a store uses them: relative, '/'-separated, no empty, "." or ".." segment, no
/// backslash or control character, at most S3's 1,024 bytes. A key that passes names something
/// inside the folder it is relative to, on disk as in S3.
/// </summary>
public static class StoreKeys
{
    private const int MaxKeyBytes = 1024;

    /// <summary>Null when <paramref name="key"/> is safe; otherwise why it is not. A trailing '/' (a folder prefix) is allowed.</summary>
    public static string? Problem(string key)
    {
        if (key.Length == 0) return "it is empty";
        if (System.Text.Encoding.UTF8.GetByteCount(key) > MaxKeyBytes) return $"it is longer than {MaxKeyBytes} bytes";
        if (key[0] == '/' || Path.IsPathRooted(key) || (key.Length > 1 && key[1] == ':')) return "it is an absolute path";
        foreach (char c in key)
        {
            if (c == '\\') return "it contains a backslash";
            if (char.IsControl(c)) return "it contains a control character";
        }
        string[] segments = key.EndsWith('/') ? key[..^1].Split('/') : key.Split('/');
        foreach (string segment in segments)
        {
            if (segment.Length == 0) return "it has an empty path segment";
            if (segment is "." or "..") return $"it has a '{segment}' segment";
        }
        return null;
    }

    /// <summary>Throws <see cref="UnsafeKeyException"/> when <paramref name="key"/> is not safe.</summary>
    public static string Check(string key) =>
        Problem(key) is { } problem ? throw new UnsafeKeyException(key, problem) : key;
}

/// <summary>
/// Something read from outside that breaks a rule or a bound (a key that leaves its folder, an object
/// too large to be what it claims): reported as a named problem, never followed.
/// </summary>
public abstract class UntrustedInputException(string message) : IOException(message);

/// <summary>A key that would leave its folder (or cannot be a key at all): a named problem, never a read or a write.</summary>
public sealed class UnsafeKeyException(string key, string reason)
    : UntrustedInputException($"'{Printable(key)}' is not a key inside the backup folder: {reason}.")
{
    /// <summary>The key as it may be shown: control characters escaped, at most 200 characters.</summary>
    public static string Printable(string key)
    {
        var text = new System.Text.StringBuilder();
        foreach (char c in key.Length > 200 ? key[..200] : key)
        {
            if (char.IsControl(c)) text.Append($"\\u{(int)c:x4}");
            else text.Append(c);
        }
        if (key.Length > 200) text.Append('…');
        return text.ToString();
    }
}
