using System.Text.RegularExpressions;

namespace BackupDR.Engine.Storage;

/// <summary>Where a backup target or a backup is: an S3 bucket + key prefix, or a local folder.</summary>
public sealed record BackupLocation(string? Bucket, string Prefix, string? LocalRoot)
{
    public bool IsS3 => Bucket is not null;

    private static readonly Regex BucketName = new("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", RegexOptions.CultureInvariant);

    /// <summary>An S3 target: bucket + optional prefix (no leading/trailing '/').</summary>
    public static BackupLocation ForBucket(string bucket, string? prefix)
    {
        if (string.IsNullOrWhiteSpace(bucket) || !BucketName.IsMatch(bucket))
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"'{bucket}' is not a valid S3 bucket name: use 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit.", bucket);
        }
        string normalized = NormalizePrefix(prefix);
        if (normalized.Length > 0 && StoreKeys.Problem(normalized) is { } problem)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"'{UnsafeKeyException.Printable(normalized)}' is not a usable S3 key prefix: {problem}.", prefix);
        }
        return new BackupLocation(bucket, normalized, null);
    }

    /// <summary>A local target: an absolute folder path.</summary>
    public static BackupLocation ForFolder(string path)
    {
        if (string.IsNullOrWhiteSpace(path) || !Path.IsPathFullyQualified(path))
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"'{path}' is not an absolute folder path.", path);
        }
        return new BackupLocation(null, "", Path.GetFullPath(path));
    }

    /// <summary>
    /// Parses a backup URI: s3://bucket/prefix/..., file:///path or an absolute local path.
    /// Throws InvalidBackupUri with what is wrong and the expected form.
    /// </summary>
    public static BackupLocation Parse(string uri)
    {
        const string expected = "Use s3://<bucket>/<prefix>/<table>/<backup-id>/ or an absolute local path to a backup folder.";
        if (string.IsNullOrWhiteSpace(uri))
        {
            throw new BackupDRException(ErrorIds.InvalidBackupUri, ErrorKind.InvalidArgument, "The backup URI is empty. " + expected, uri);
        }
        string text = uri.Trim();
        if (text.StartsWith("s3://", StringComparison.OrdinalIgnoreCase))
        {
            string rest = text[5..];
            int slash = rest.IndexOf('/');
            string bucket = slash < 0 ? rest : rest[..slash];
            string key = slash < 0 ? "" : rest[(slash + 1)..];
            if (!BucketName.IsMatch(bucket))
            {
                throw new BackupDRException(ErrorIds.InvalidBackupUri, ErrorKind.InvalidArgument,
                    $"'{uri}' does not name a valid S3 bucket ('{bucket}'). " + expected, uri);
            }
            if (rest.Contains("//", StringComparison.Ordinal))
            {
                throw new BackupDRException(ErrorIds.InvalidBackupUri, ErrorKind.InvalidArgument,
                    $"'{uri}' has an empty path segment ('//'). " + expected, uri);
            }
            if (key.Length > 0 && StoreKeys.Problem(key) is { } problem)
            {
                throw new BackupDRException(ErrorIds.InvalidBackupUri, ErrorKind.InvalidArgument,
                    $"'{UnsafeKeyException.Printable(uri)}' is not a usable S3 location: its key {problem}. " + expected, uri);
            }
            return new BackupLocation(bucket, NormalizePrefix(key), null);
        }
        if (text.StartsWith("file://", StringComparison.OrdinalIgnoreCase))
        {
            if (!System.Uri.TryCreate(text, UriKind.Absolute, out var fileUri) || !fileUri.IsFile)
            {
                throw new BackupDRException(ErrorIds.InvalidBackupUri, ErrorKind.InvalidArgument, $"'{uri}' is not a valid file URI. " + expected, uri);
            }
            text = fileUri.LocalPath;
        }
        else if (Regex.IsMatch(text, "^[A-Za-z][A-Za-z0-9+.-]*://"))
        {
            throw new BackupDRException(ErrorIds.InvalidBackupUri, ErrorKind.InvalidArgument,
                $"'{uri}' uses a scheme BackupDR does not read. " + expected, uri);
        }
        if (!Path.IsPathFullyQualified(text))
        {
            throw new BackupDRException(ErrorIds.InvalidBackupUri, ErrorKind.InvalidArgument,
                $"'{uri}' is a relative path. " + expected, uri);
        }
        // A local backup folder is its own store root: keys inside it are relative to it.
        return new BackupLocation(null, "", Path.GetFullPath(text).TrimEnd(Path.DirectorySeparatorChar));
    }

    private static string NormalizePrefix(string? prefix) => (prefix ?? "").Trim().Trim('/');
}
