using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;

namespace BackupDR.Engine.Storage;

/// <summary>
/// Backups in an S3 bucket. Every object is written with its SHA-256, which S3 checks on arrival
/// (per part for multipart uploads). Abandoned multipart uploads are aborted.
/// </summary>
public sealed class S3BackupStore(IAmazonS3 s3, string bucket) : IBackupStore, IDisposable
{
    public void Dispose() => s3.Dispose();

    public string Root => "s3://" + bucket;

    public string UriOf(string key) => $"s3://{bucket}/{key}";

    public async Task EnsureAvailableAsync(CancellationToken cancellationToken)
    {
        try
        {
            await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, MaxKeys = 1 }, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket" || e.StatusCode == HttpStatusCode.NotFound)
        {
            throw NoSuchBucket(e);
        }
    }

    private BackupDRException NoSuchBucket(Exception e) => new(ErrorIds.BucketNotFound, ErrorKind.ObjectNotFound,
        $"The S3 bucket '{bucket}' does not exist (or is in another partition). Create it, or check the bucket name.", bucket, e);

    public async Task PutAsync(string key, byte[] content, CancellationToken cancellationToken)
    {
        var request = new PutObjectRequest
        {
            BucketName = bucket,
            Key = key,
            InputStream = new MemoryStream(content, writable: false),
            AutoCloseStream = true,
            ChecksumAlgorithm = ChecksumAlgorithm.SHA256,
            ChecksumSHA256 = Convert.ToBase64String(SHA256.HashData(content)),
            UseChunkEncoding = false,
        };
        await s3.PutObjectAsync(request, cancellationToken).ConfigureAwait(false);
    }

    public IObjectUpload BeginUpload(string key) => new MultipartUpload(s3, bucket, key);

    public async Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            var response = await s3.GetObjectAsync(new GetObjectRequest { BucketName = bucket, Key = key }, cancellationToken).ConfigureAwait(false);
            return new OwningStream(response.ResponseStream, response);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode != "NoSuchBucket")
        {
            throw new FileNotFoundException($"{UriOf(key)} does not exist.", UriOf(key), e);
        }
    }

    public async Task<byte[]?> TryReadAllAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = await OpenReadAsync(key, cancellationToken).ConfigureAwait(false);
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
            return buffer.ToArray();
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    public async Task<StoredObject?> HeadAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            var meta = await s3.GetObjectMetadataAsync(new GetObjectMetadataRequest
            {
                BucketName = bucket,
                Key = key,
                ChecksumMode = ChecksumMode.ENABLED,
            }, cancellationToken).ConfigureAwait(false);
            return new StoredObject(key, meta.ContentLength, FullObjectSha256(meta.ChecksumSHA256));
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode != "NoSuchBucket")
        {
            return null;
        }
    }

    // A multipart object's SHA-256 is a checksum of part checksums ("…-N"), not of the object.
    private static string? FullObjectSha256(string? checksum) =>
        string.IsNullOrEmpty(checksum) || checksum.Contains('-', StringComparison.Ordinal) ? null : checksum;

    public async IAsyncEnumerable<StoredObject> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var request = new ListObjectsV2Request { BucketName = bucket, Prefix = prefix };
        do
        {
            ListObjectsV2Response page;
            try
            {
                page = await s3.ListObjectsV2Async(request, cancellationToken).ConfigureAwait(false);
            }
            catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket")
            {
                throw NoSuchBucket(e);
            }
            foreach (var o in page.S3Objects ?? [])
            {
                yield return new StoredObject(o.Key, o.Size ?? 0, null);
            }
            request.ContinuationToken = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (request.ContinuationToken is not null);
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken) =>
        s3.DeleteObjectAsync(new DeleteObjectRequest { BucketName = bucket, Key = key }, cancellationToken);

    /// <summary>One PutObject when the object fits in one call, a multipart upload otherwise; parts upload concurrently.</summary>
    private sealed class MultipartUpload(IAmazonS3 s3, string bucket, string key) : IObjectUpload
    {
        private readonly List<PartETag> _parts = [];
        private Task<string>? _uploadId;
        private int _partCount;
        private bool _completed;

        public Task AppendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            // Numbered now, in call order: parts may finish in any order.
            int partNumber = ++_partCount;
            _uploadId ??= InitiateAsync(cancellationToken);
            return UploadPartAsync(partNumber, data, cancellationToken);
        }

        private async Task<string> InitiateAsync(CancellationToken cancellationToken) =>
            (await s3.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest
            {
                BucketName = bucket,
                Key = key,
                ChecksumAlgorithm = ChecksumAlgorithm.SHA256,
            }, cancellationToken).ConfigureAwait(false)).UploadId;

        private async Task UploadPartAsync(int partNumber, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            string uploadId = await _uploadId!.ConfigureAwait(false);
            string sha = Convert.ToBase64String(SHA256.HashData(data.Span));
            var response = await s3.UploadPartAsync(new UploadPartRequest
            {
                BucketName = bucket,
                Key = key,
                UploadId = uploadId,
                PartNumber = partNumber,
                InputStream = AsStream(data),
                PartSize = data.Length,
                ChecksumAlgorithm = ChecksumAlgorithm.SHA256,
                ChecksumSHA256 = sha,
                // The checksum is already known: send it as a header, not as an aws-chunked trailer.
                UseChunkEncoding = false,
            }, cancellationToken).ConfigureAwait(false);
            lock (_parts) _parts.Add(new PartETag { PartNumber = partNumber, ETag = response.ETag, ChecksumSHA256 = sha });
        }

        /// <summary>Completes with the data appended so far; <paramref name="tail"/> is the final piece (may be empty).</summary>
        public async Task CompleteAsync(ReadOnlyMemory<byte> tail, CancellationToken cancellationToken)
        {
            if (_uploadId is null)
            {
                await s3.PutObjectAsync(new PutObjectRequest
                {
                    BucketName = bucket,
                    Key = key,
                    InputStream = AsStream(tail),
                    ChecksumAlgorithm = ChecksumAlgorithm.SHA256,
                    ChecksumSHA256 = Convert.ToBase64String(SHA256.HashData(tail.Span)),
                    UseChunkEncoding = false,
                }, cancellationToken).ConfigureAwait(false);
                _completed = true;
                return;
            }
            if (tail.Length > 0) await AppendAsync(tail, cancellationToken).ConfigureAwait(false);
            List<PartETag> parts;
            lock (_parts) parts = [.. _parts.OrderBy(p => p.PartNumber)];
            if (parts.Count != _partCount)
            {
                throw new InvalidOperationException($"Only {parts.Count} of {_partCount} parts of {key} were uploaded.");
            }
            await s3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
            {
                BucketName = bucket,
                Key = key,
                UploadId = await _uploadId.ConfigureAwait(false),
                PartETags = parts,
            }, cancellationToken).ConfigureAwait(false);
            _completed = true;
        }

        public async ValueTask DisposeAsync()
        {
            if (_completed || _uploadId is null) return;
            try
            {
                string uploadId = await _uploadId.ConfigureAwait(false);
                await s3.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = bucket, Key = key, UploadId = uploadId }).ConfigureAwait(false);
            }
            catch (Exception e) when (e is AmazonS3Exception or OperationCanceledException or HttpRequestException)
            {
                // Best effort: a bucket lifecycle rule (docs) removes what an abort could not.
            }
        }

        private static MemoryStream AsStream(ReadOnlyMemory<byte> data) =>
            System.Runtime.InteropServices.MemoryMarshal.TryGetArray(data, out var segment)
                ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
                : new MemoryStream(data.ToArray(), writable: false);
    }

    /// <summary>A response stream that disposes its response.</summary>
    private sealed class OwningStream(Stream inner, IDisposable owner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override int Read(Span<byte> buffer) => inner.Read(buffer);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing) { inner.Dispose(); owner.Dispose(); }
            base.Dispose(disposing);
        }
    }
}
