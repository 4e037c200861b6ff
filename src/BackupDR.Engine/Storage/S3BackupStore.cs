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
public sealed class S3BackupStore(IAmazonS3 s3, string bucket, RetryPolicy? retry = null, Aws.S3Options? options = null) : IBackupStore, IDisposable
{
    private readonly Aws.S3Options _options = options ?? new();
    private string? Owner => _options.ExpectedBucketOwner;

    /// <summary>For what the SDK does not retry itself: resuming a body that broke off mid-way.</summary>
    internal RetryPolicy Retry { get; } = retry ?? RetryPolicy.Default;

    public void Dispose() => s3.Dispose();

    public string Root => "s3://" + bucket;

    /// <summary>The bucket's name.</summary>
    public string Bucket => bucket;

    public string UriOf(string key) => $"s3://{bucket}/{key}";

    public async Task EnsureAvailableAsync(CancellationToken cancellationToken)
    {
        try
        {
            await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, ExpectedBucketOwner = Owner, MaxKeys = 1 }, cancellationToken).ConfigureAwait(false);
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
        StoreKeys.Check(key);
        var request = new PutObjectRequest
        {
            BucketName = bucket, ExpectedBucketOwner = Owner,
            Key = key,
            InputStream = new MemoryStream(content, writable: false),
            AutoCloseStream = true,
            ChecksumAlgorithm = ChecksumAlgorithm.SHA256,
            ChecksumSHA256 = Convert.ToBase64String(SHA256.HashData(content)),
            UseChunkEncoding = false,
        };
        Encrypt(request, _options);
        await s3.PutObjectAsync(request, cancellationToken).ConfigureAwait(false);
    }

    public IObjectUpload BeginUpload(string key) => new MultipartUpload(s3, bucket, StoreKeys.Check(key), _options);

    public async Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        // A listed key may hold ".." segments (S3 allows any key): never sent, since an HTTP client may
        // resolve them to another object.
        StoreKeys.Check(key);
        try
        {
            var response = await s3.GetObjectAsync(new GetObjectRequest { BucketName = bucket, ExpectedBucketOwner = Owner, Key = key }, cancellationToken).ConfigureAwait(false);
            return new ResumingReadStream(this, key, response);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode != "NoSuchBucket")
        {
            throw new FileNotFoundException($"{UriOf(key)} does not exist.", UriOf(key), e);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket")
        {
            throw NoSuchBucket(e);
        }
    }

    private Task<GetObjectResponse> GetRestAsync(string key, long from, long length, string etag, CancellationToken cancellationToken) =>
        s3.GetObjectAsync(new GetObjectRequest
        {
            BucketName = bucket, ExpectedBucketOwner = Owner,
            Key = key,
            ByteRange = new ByteRange(from, length - 1),
            EtagToMatch = etag,
        }, cancellationToken);

    public async Task<byte[]?> TryReadAllAsync(string key, long maxBytes, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = await OpenReadAsync(key, cancellationToken).ConfigureAwait(false);
            if (stream.Length > maxBytes) throw new ObjectTooLargeException(UriOf(key), maxBytes);
            return await BoundedRead.AllAsync(stream, maxBytes, UriOf(key), cancellationToken).ConfigureAwait(false);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    public async Task<StoredObject?> HeadAsync(string key, CancellationToken cancellationToken)
    {
        StoreKeys.Check(key);
        try
        {
            var meta = await s3.GetObjectMetadataAsync(new GetObjectMetadataRequest
            {
                BucketName = bucket, ExpectedBucketOwner = Owner,
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

    /// <summary>The largest object one CopyObject request copies.</summary>
    private const long MaxServerSideCopyBytes = 5L * 1024 * 1024 * 1024;

    /// <summary>
    /// Copies <paramref name="sourceKey"/> of <paramref name="source"/> to <paramref name="key"/> inside S3 (CopyObject:
    /// no bytes through this machine), with both buckets' expected owners and this store's encryption. Returns the
    /// object's size, or null when S3 will not do it for this identity (access denied, or an object past 5 GiB):
    /// the caller then streams it.
    /// </summary>
    public async Task<long?> TryCopyFromAsync(S3BackupStore source, string sourceKey, string key, CancellationToken cancellationToken)
    {
        StoreKeys.Check(sourceKey);
        StoreKeys.Check(key);
        var head = await source.HeadAsync(sourceKey, cancellationToken).ConfigureAwait(false)
            ?? throw new FileNotFoundException($"{source.UriOf(sourceKey)} does not exist.", source.UriOf(sourceKey));
        if (head.Size > MaxServerSideCopyBytes) return null;
        var request = new CopyObjectRequest
        {
            SourceBucket = source.Bucket, SourceKey = sourceKey, ExpectedSourceBucketOwner = source.Owner,
            DestinationBucket = bucket, DestinationKey = key, ExpectedBucketOwner = Owner,
            MetadataDirective = S3MetadataDirective.COPY,
        };
        (request.ServerSideEncryptionMethod, request.ServerSideEncryptionKeyManagementServiceKeyId, request.BucketKeyEnabled) = Sse(_options);
        try
        {
            await s3.CopyObjectAsync(request, cancellationToken).ConfigureAwait(false);
            return head.Size;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.Forbidden || e.ErrorCode == "AccessDenied")
        {
            return null;
        }
    }

    // A multipart object's SHA-256 is a checksum of part checksums ("…-N"), not of the object.
    private static string? FullObjectSha256(string? checksum) =>
        string.IsNullOrEmpty(checksum) || checksum.Contains('-', StringComparison.Ordinal) ? null : checksum;

    public async IAsyncEnumerable<StoredObject> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var request = new ListObjectsV2Request { BucketName = bucket, ExpectedBucketOwner = Owner, Prefix = prefix };
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
        s3.DeleteObjectAsync(new DeleteObjectRequest { BucketName = bucket, ExpectedBucketOwner = Owner, Key = StoreKeys.Check(key) }, cancellationToken);

    public async IAsyncEnumerable<PendingUpload> ListPendingUploadsAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var request = new ListMultipartUploadsRequest { BucketName = bucket, ExpectedBucketOwner = Owner, Prefix = prefix };
        while (true)
        {
            ListMultipartUploadsResponse page;
            try
            {
                page = await s3.ListMultipartUploadsAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket")
            {
                throw NoSuchBucket(e);
            }
            foreach (var upload in page.MultipartUploads ?? [])
            {
                yield return new PendingUpload(upload.Key, upload.UploadId, upload.Initiated is DateTime t ? new DateTimeOffset(t.ToUniversalTime()) : null);
            }
            if (page.IsTruncated != true) yield break;
            request.KeyMarker = page.NextKeyMarker;
            request.UploadIdMarker = page.NextUploadIdMarker;
        }
    }

    public async Task AbortUploadAsync(PendingUpload upload, CancellationToken cancellationToken)
    {
        try
        {
            await s3.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = bucket, ExpectedBucketOwner = Owner, Key = StoreKeys.Check(upload.Key), UploadId = upload.UploadId }, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchUpload")
        {
            // Already completed or aborted.
        }
    }

    /// <summary>The encryption every object is written with (SSE-S3, or SSE-KMS with the bucket key); none asked for: the bucket's default.</summary>
    private static PutObjectRequest Encrypt(PutObjectRequest request, Aws.S3Options options)
    {
        (request.ServerSideEncryptionMethod, request.ServerSideEncryptionKeyManagementServiceKeyId, request.BucketKeyEnabled) = Sse(options);
        return request;
    }

    private static InitiateMultipartUploadRequest Encrypt(InitiateMultipartUploadRequest request, Aws.S3Options options)
    {
        (request.ServerSideEncryptionMethod, request.ServerSideEncryptionKeyManagementServiceKeyId, request.BucketKeyEnabled) = Sse(options);
        return request;
    }

    private static (ServerSideEncryptionMethod? Method, string? KmsKeyId, bool? BucketKey) Sse(Aws.S3Options options) => options.ServerSideEncryption switch
    {
        null => (null, null, null),
        "aws:kms" => (ServerSideEncryptionMethod.AWSKMS, options.KmsKeyId, true),
        string method => (new ServerSideEncryptionMethod(method), null, null),
    };

    /// <summary>One PutObject when the object fits in one call, a multipart upload otherwise; parts upload concurrently.</summary>
    private sealed class MultipartUpload(IAmazonS3 s3, string bucket, string key, Aws.S3Options options) : IObjectUpload
    {
        private string? Owner => options.ExpectedBucketOwner;

        private readonly List<PartETag> _parts = [];
        private Task<string>? _uploadId;
        private int _partCount;
        private long _bytes;
        private bool _completed;

        public Task AppendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            // Numbered now, in call order: parts may finish in any order.
            int partNumber = ++_partCount;
            Interlocked.Add(ref _bytes, data.Length);
            _uploadId ??= InitiateAsync(cancellationToken);
            return UploadPartAsync(partNumber, data, cancellationToken);
        }

        private async Task<string> InitiateAsync(CancellationToken cancellationToken) =>
            (await s3.InitiateMultipartUploadAsync(Encrypt(new InitiateMultipartUploadRequest
            {
                BucketName = bucket, ExpectedBucketOwner = Owner,
                Key = key,
                ChecksumAlgorithm = ChecksumAlgorithm.SHA256,
            }, options), cancellationToken).ConfigureAwait(false)).UploadId;

        private async Task UploadPartAsync(int partNumber, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            string uploadId = await _uploadId!.ConfigureAwait(false);
            string sha = Convert.ToBase64String(SHA256.HashData(data.Span));
            var response = await s3.UploadPartAsync(new UploadPartRequest
            {
                BucketName = bucket, ExpectedBucketOwner = Owner,
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
                await s3.PutObjectAsync(Encrypt(new PutObjectRequest
                {
                    BucketName = bucket, ExpectedBucketOwner = Owner,
                    Key = key,
                    InputStream = AsStream(tail),
                    ChecksumAlgorithm = ChecksumAlgorithm.SHA256,
                    ChecksumSHA256 = Convert.ToBase64String(SHA256.HashData(tail.Span)),
                    UseChunkEncoding = false,
                }, options), cancellationToken).ConfigureAwait(false);
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
            try
            {
                await s3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
                {
                    BucketName = bucket, ExpectedBucketOwner = Owner,
                    Key = key,
                    UploadId = await _uploadId.ConfigureAwait(false),
                    PartETags = parts,
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchUpload")
            {
                // The SDK retried a completion whose answer was lost: the first call may have completed it.
                if (!await IsCompleteAsync(cancellationToken).ConfigureAwait(false)) throw;
            }
            _completed = true;
        }

        private async Task<bool> IsCompleteAsync(CancellationToken cancellationToken)
        {
            try
            {
                var meta = await s3.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = bucket, ExpectedBucketOwner = Owner, Key = key }, cancellationToken).ConfigureAwait(false);
                return meta.ContentLength == Interlocked.Read(ref _bytes);
            }
            catch (AmazonS3Exception)
            {
                return false;
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_completed || _uploadId is null) return;
            try
            {
                string uploadId = await _uploadId.ConfigureAwait(false);
                await s3.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = bucket, ExpectedBucketOwner = Owner, Key = key, UploadId = uploadId }).ConfigureAwait(false);
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

    /// <summary>
    /// An object's body that survives a dropped or cut-short response: it asks again for the bytes
    /// not yet read (Range), only from the same version of the object (If-Match on the first
    /// response's ETag), with capped, jittered backoff. A changed object is an error, never a splice.
    /// </summary>
    private sealed class ResumingReadStream(S3BackupStore store, string key, GetObjectResponse first) : Stream
    {
        private readonly string _etag = first.ETag;
        private readonly long _length = first.ContentLength;
        private GetObjectResponse _response = first;
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => _length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (buffer.IsEmpty || _position >= _length) return 0;
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            for (int attempt = 1; ; attempt++)
            {
                Exception failure;
                try
                {
                    int read = await _response.ResponseStream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                    if (read > 0)
                    {
                        _position += read;
                        return read;
                    }
                    failure = new IOException($"the response ended after {_position} of {_length} bytes");
                }
                catch (Exception e) when (e is IOException or HttpRequestException
                                          || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
                {
                    failure = e;
                }
                if (store.Retry.NextDelay(attempt, started) is not TimeSpan delay)
                {
                    throw new IOException($"Reading {store.UriOf(key)} failed at byte {_position} of {_length} after {attempt} attempts: {failure.Message}", failure);
                }
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                await ReopenAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        private async Task ReopenAsync(CancellationToken cancellationToken)
        {
            _response.Dispose();
            try
            {
                _response = await store.GetRestAsync(key, _position, _length, _etag, cancellationToken).ConfigureAwait(false);
            }
            catch (AmazonS3Exception e) when (e.StatusCode is HttpStatusCode.PreconditionFailed or HttpStatusCode.NotFound)
            {
                throw new IOException($"{store.UriOf(key)} changed or disappeared while it was being read (at byte {_position}).", e);
            }
            if (_response.ContentLength != _length - _position)
            {
                throw new IOException($"{store.UriOf(key)} answered a request for bytes {_position}- with {_response.ContentLength} bytes; expected {_length - _position}.");
            }
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing) _response.Dispose();
            base.Dispose(disposing);
        }
    }
}
