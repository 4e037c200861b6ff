using System.Diagnostics;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Catalog;

/// <summary>Copy one committed backup to another target: another bucket, prefix or folder, in another region or account.</summary>
public sealed class CopyRequest
{
    /// <summary>The backup to copy (…/&lt;table&gt;/&lt;backup id&gt;/).</summary>
    public required string SourceUri { get; init; }

    /// <summary>The target it is copied under (s3://bucket/prefix or a folder): the copy is &lt;target&gt;/&lt;table&gt;/&lt;backup id&gt;/.</summary>
    public required string DestinationUri { get; init; }

    /// <summary>Who reads the source, and where.</summary>
    public AwsOptions SourceAws { get; init; } = new();

    /// <summary>Who writes the copy, and where (another profile or region for another account or region).</summary>
    public AwsOptions DestinationAws { get; init; } = new();
}

/// <summary>A copy, committed and verified.</summary>
public sealed class CopyResult
{
    /// <summary>The copy's URI: &lt;destination&gt;/&lt;table&gt;/&lt;backup id&gt;/.</summary>
    public required string Uri { get; init; }
    public required string SourceUri { get; init; }
    public required string BackupId { get; init; }
    public required string TableName { get; init; }
    public long ItemCount { get; init; }

    /// <summary>The SHA-256 (base64) of the backup's manifest summary, the same in the copy.</summary>
    public string? SummarySha256 { get; init; }
    public int ObjectsCopied { get; init; }

    /// <summary>How many of them S3 copied itself (CopyObject: same identity on both sides); the rest were streamed through this machine.</summary>
    public int ObjectsCopiedInS3 { get; init; }
    public long BytesCopied { get; init; }
    public TimeSpan Duration { get; init; }
}

/// <summary>
/// Copies a backup the way a backup is written: the source is verified in full first (a backup that
/// fails is not copied, and nothing is written), every object but the commit marker is streamed to the
/// destination (inside S3 with CopyObject when one identity reads the source and writes the copy, streamed
/// through this machine otherwise), the copy is verified in full against the same manifests — read back
/// either way — and only then is the commit marker written — so an interrupted or failed copy is never a committed backup. A destination that
/// already holds anything at that backup's place is refused: a copy never overwrites.
/// </summary>
public static class BackupCopier
{
    private const int PieceBytes = 8 * 1024 * 1024;

    public static async Task<CopyResult> CopyAsync(CopyRequest request, IOperationHost host, CancellationToken cancellationToken)
    {
        AwsClientFactory.ValidateRegion(request.SourceAws.Region);
        AwsClientFactory.ValidateRegion(request.DestinationAws.Region);
        var clock = Stopwatch.StartNew();
        using var source = BackupFolder.Open(BackupLocation.Parse(request.SourceUri), new AwsClientFactory(request.SourceAws));
        using var target = BackupFolder.Open(BackupLocation.Parse(request.DestinationUri), new AwsClientFactory(request.DestinationAws));
        try
        {
            // The source, in full: only a committed backup that passes is copied.
            host.Verbose($"Verifying {source.Uri} before copying it.");
            var (report, loaded) = await new IntegrityChecker(source, host).CheckAsync(IntegrityLevel.Full, cancellationToken).ConfigureAwait(false);
            if (loaded is null || report.Format != SourceFormat.BackupDR || !report.IsValid || !report.IsCommitted)
            {
                string why = report.Format != SourceFormat.BackupDR ? $"it is a {report.Format} backup; only BackupDR backups are copied (restore it, then back the table up)"
                    : !report.IsCommitted ? "it has no commit marker (it never finished)"
                    : string.Join("; ", report.Problems.Take(10));
                throw new BackupDRException(report.IsCommitted || report.Format != SourceFormat.BackupDR ? ErrorIds.BackupIntegrityFailed : ErrorIds.BackupNotCommitted, ErrorKind.InvalidData,
                    $"{source.Uri} was not copied: {why}. Nothing was written.", source.Uri);
            }
            string table = loaded.Summary.TableName, id = loaded.Summary.BackupId;
            if (!BackupFormat.IsBackupId(id) || !System.Text.RegularExpressions.Regex.IsMatch(table, "^[a-zA-Z0-9_.-]{3,255}$"))
            {
                throw new BackupDRException(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData,
                    $"{source.Uri} names its table '{UnsafeKeyException.Printable(table)}' and id '{UnsafeKeyException.Printable(id)}', which cannot name a folder. Nothing was written.", source.Uri);
            }
            await target.Store.EnsureAvailableAsync(cancellationToken).ConfigureAwait(false);
            var copy = target.Child(table).Child(id);
            await foreach (var _ in copy.Store.ListAsync(copy.Prefix, cancellationToken).ConfigureAwait(false))
            {
                throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.ResourceExists,
                    $"{copy.Uri} already holds objects: a copy never overwrites. Remove that backup first, or copy to another target. Nothing was written.", copy.Uri);
            }
            if (!await host.ConfirmAsync(copy.Uri, $"Copy backup {id} of '{table}' ({loaded.Summary.ItemCount:N0} items) from {source.Uri}", cancellationToken).ConfigureAwait(false))
            {
                throw new BackupDRException(ErrorIds.NotConfirmed, ErrorKind.OperationStopped, "The copy was not confirmed: nothing was written.", copy.Uri);
            }

            // Every object but the marker, as verified: the manifests' fixed names and the listed data files.
            var keys = new List<string> { BackupFormat.ManifestSummaryKey, BackupFormat.ManifestFilesKey, BackupFormat.TableDescriptionKey };
            keys.AddRange(loaded.Files.Select(f => f.DataFile));
            long bytes = 0;
            int inS3 = 0;
            bool committed = false;
            // Inside S3 when both sides are buckets reached as one identity (S3 checks that identity's read of the source).
            bool serverSide = source.Store is S3BackupStore && copy.Store is S3BackupStore
                              && request.SourceAws.ProfileName == request.DestinationAws.ProfileName && request.SourceAws.RoleArn == request.DestinationAws.RoleArn;
            async Task<long> CopyOneAsync(string key)
            {
                if (serverSide)
                {
                    if (await ((S3BackupStore)copy.Store).TryCopyFromAsync((S3BackupStore)source.Store, source.Key(key), copy.Key(key), cancellationToken).ConfigureAwait(false) is { } size)
                    {
                        inS3++;
                        return size;
                    }
                    serverSide = false;
                    host.Verbose($"S3 did not copy {source.Key(key)} itself (access to the source from the destination's side, or its size); streaming it and the rest instead.");
                }
                return await CopyObjectAsync(source, copy, key, cancellationToken).ConfigureAwait(false);
            }
            try
            {
                int done = 0;
                foreach (string key in keys)
                {
                    bytes += await CopyOneAsync(key).ConfigureAwait(false);
                    host.Progress(new OperationProgress(4, $"Copying backup {id}", $"{++done}/{keys.Count + 1} objects", done * 100 / (keys.Count + 1)));
                }

                // The copy, in full, against the same manifests; then the marker, last.
                var (check, _) = await new IntegrityChecker(copy, host).CheckAsync(IntegrityLevel.Full, cancellationToken).ConfigureAwait(false);
                var wrong = check.Problems.Where(p => p.Code != ProblemCodes.MissingCommitMarker).ToList();
                if (wrong.Count > 0)
                {
                    throw new BackupDRException(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData,
                        $"The copy at {copy.Uri} does not verify ({string.Join("; ", wrong.Take(5))}); it was removed and not committed.", copy.Uri);
                }
                bytes += await CopyOneAsync(BackupFormat.CommitMarkerKey).ConfigureAwait(false);
                committed = true;
            }
            finally
            {
                if (!committed) await RemovePartialAsync(copy, host).ConfigureAwait(false);
            }
            var final = (await new IntegrityChecker(copy, host).CheckAsync(IntegrityLevel.Quick, cancellationToken).ConfigureAwait(false)).Report;
            if (!final.IsValid)
            {
                throw new BackupDRException(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData,
                    $"The copy at {copy.Uri} was committed but its metadata does not verify ({string.Join("; ", final.Problems.Take(5))}). Remove it and copy again.", copy.Uri);
            }
            host.Progress(new OperationProgress(4, $"Copying backup {id}", "done", 100, Completed: true));
            return new CopyResult
            {
                Uri = copy.Uri, SourceUri = source.Uri, BackupId = id, TableName = table, ItemCount = loaded.Summary.ItemCount, SummarySha256 = loaded.SummarySha256,
                ObjectsCopied = keys.Count + 1, ObjectsCopiedInS3 = inS3, BytesCopied = bytes, Duration = clock.Elapsed,
            };
        }
        catch (Exception e)
        {
            throw AwsErrors.Translate(e, request.DestinationUri);
        }
    }

    /// <summary>Streams one object in pieces of 8 MiB (S3 multipart parts); returns its size.</summary>
    private static async Task<long> CopyObjectAsync(BackupFolder from, BackupFolder to, string key, CancellationToken ct)
    {
        await using var input = await from.Store.OpenReadAsync(from.Key(key), ct).ConfigureAwait(false);
        await using var upload = to.Store.BeginUpload(to.Key(key));
        byte[] piece = new byte[PieceBytes];
        long total = 0;
        while (true)
        {
            int filled = 0;
            while (filled < piece.Length)
            {
                int n = await input.ReadAsync(piece.AsMemory(filled), ct).ConfigureAwait(false);
                if (n == 0) break;
                filled += n;
            }
            total += filled;
            if (filled < piece.Length)
            {
                await upload.CompleteAsync(piece.AsMemory(0, filled), ct).ConfigureAwait(false);
                return total;
            }
            await upload.AppendAsync(piece.ToArray(), ct).ConfigureAwait(false);
        }
    }

    /// <summary>A copy that did not commit leaves nothing: what it wrote is removed (best effort; what remains is an incomplete backup, never listed as valid).</summary>
    private static async Task RemovePartialAsync(BackupFolder copy, IOperationHost host)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            var keys = new List<string>();
            await foreach (var obj in copy.Store.ListAsync(copy.Prefix, deadline.Token).ConfigureAwait(false)) keys.Add(obj.Key);
            foreach (string key in keys) await copy.Store.DeleteAsync(key, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            host.Warning($"The unfinished copy at {copy.Uri} could not be removed ({e.Message}); it has no commit marker, so it is never taken for a backup; remove that backup folder.");
        }
    }
}
