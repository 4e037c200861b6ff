using Amazon;
using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Amazon.Runtime.CredentialManagement;
using Amazon.S3;

namespace BackupDR.Engine.Aws;

/// <summary>Where and as whom to call AWS. Null members fall back to the SDK's standard chains.</summary>
public sealed record AwsOptions(string? Region = null, string? ProfileName = null)
{
    /// <summary>A DynamoDB endpoint URL (a VPC endpoint, a local emulator); overrides AWS_ENDPOINT_URL_DYNAMODB.</summary>
    public string? DynamoDbEndpoint { get; init; }

    /// <summary>The option that named <see cref="ProfileName"/>, for messages (another identity's profile is another option).</summary>
    public string ProfileOption { get; init; } = Say.Names.Profile;

    /// <summary>A role to assume (STS AssumeRole) from the profile's or the default chain's credentials, e.g. to write into another account; null: none.</summary>
    public string? RoleArn { get; init; }

    /// <summary>An S3 endpoint URL (path-style addressing is then used); overrides AWS_ENDPOINT_URL_S3.</summary>
    public string? S3Endpoint { get; init; }

    /// <summary>How long one attempt of a request may take before it is abandoned and retried (default 60 s).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How failed requests are retried (the SDK's own retries use its attempt count).</summary>
    public RetryPolicy Retry { get; init; } = RetryPolicy.Default;

    /// <summary>What every S3 request carries: the bucket owner it expects, and the encryption of what it writes.</summary>
    public S3Options S3 { get; init; } = new();

    /// <summary>
    /// Allow a plain http:// endpoint that is not loopback. Off unless asked for here or with
    /// BACKUPDR_ALLOW_INSECURE_HTTP=true: credentials are signed, but data and responses would cross the
    /// network unencrypted and unauthenticated.
    /// </summary>
    public bool AllowInsecureHttp { get; init; }
}

/// <summary>S3 hygiene for every request BackupDR makes to a bucket.</summary>
/// <param name="ExpectedBucketOwner">
/// The 12-digit account that must own the bucket, sent on every request (x-amz-expected-bucket-owner): S3
/// refuses the request when another account owns it, so a backup never lands in, or is read from, a bucket
/// someone else created under the expected name.
/// </param>
/// <param name="ServerSideEncryption">"AES256" (SSE-S3) or "aws:kms" (SSE-KMS, with the bucket key) for every object written; null: the bucket's default.</param>
/// <param name="KmsKeyId">The KMS key for "aws:kms"; null: the account's aws/s3 key.</param>
public sealed record S3Options(string? ExpectedBucketOwner = null, string? ServerSideEncryption = null, string? KmsKeyId = null)
{
    /// <summary>Refuses, before anything is sent, what S3 would refuse or misread.</summary>
    public void Validate()
    {
        if (ExpectedBucketOwner is not null && !System.Text.RegularExpressions.Regex.IsMatch(ExpectedBucketOwner, @"^\d{12}$"))
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"'{ExpectedBucketOwner}' is not an AWS account id (12 digits) for {Say.Option("expected-bucket-owner")}.", ExpectedBucketOwner);
        }
        if (ServerSideEncryption is not (null or "AES256" or "aws:kms"))
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"{Say.Option("server-side-encryption")} must be AES256 or aws:kms, not '{ServerSideEncryption}'.", ServerSideEncryption);
        }
        if (KmsKeyId is not null && ServerSideEncryption != "aws:kms")
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"{Say.Option("kms-key-id")} is the key of SSE-KMS: it needs {Say.Option("server-side-encryption", "aws:kms")}.", KmsKeyId);
        }
    }
}

/// <summary>
/// Builds SDK clients from <see cref="AwsOptions"/>. Endpoints follow the SDK's own settings
/// (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_S3, config files); credentials follow the standard
/// chain unless a profile is named.
/// </summary>
public sealed class AwsClientFactory(AwsOptions options)
{
    public AwsOptions Options { get; } = options;

    public IAmazonDynamoDB CreateDynamoDB()
    {
        EndpointGuard.Check("DynamoDB", Options.DynamoDbEndpoint, "DYNAMODB", Options.AllowInsecureHttp);
        var config = new AmazonDynamoDBConfig { MaxErrorRetry = Options.Retry.MaxAttempts - 1, Timeout = Options.RequestTimeout };
        ApplyRegion(config);
        ApplyEndpoint(config, Options.DynamoDbEndpoint);
        var credentials = ResolveProfileCredentials();
        return credentials is null ? new AmazonDynamoDBClient(config) : new AmazonDynamoDBClient(credentials, config);
    }

    public IAmazonS3 CreateS3()
    {
        EndpointGuard.Check("S3", Options.S3Endpoint, "S3", Options.AllowInsecureHttp);
        Options.S3.Validate();
        var config = new AmazonS3Config { MaxErrorRetry = Options.Retry.MaxAttempts - 1, Timeout = Options.RequestTimeout };
        ApplyRegion(config);
        ApplyEndpoint(config, Options.S3Endpoint);
        // Custom endpoints (MinIO, emulators) almost always need path-style addressing.
        if (!string.IsNullOrEmpty(Options.S3Endpoint)
            || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_S3"))
            || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL")))
        {
            config.ForcePathStyle = true;
        }
        // The endpoint rules once per bucket and key, not once per request (S3EndpointCache).
        config.EndpointProvider = new S3EndpointCache(config.EndpointProvider ?? new Amazon.S3.Internal.AmazonS3EndpointProvider());
        var credentials = ResolveProfileCredentials();
        return credentials is null ? new AmazonS3Client(config) : new AmazonS3Client(credentials, config);
    }

    private void ApplyRegion(ClientConfig config)
    {
        string? region = Options.Region;
        if (string.IsNullOrEmpty(region) && Options.ProfileName is not null)
        {
            region = Profile()?.Region?.SystemName;
        }
        if (string.IsNullOrEmpty(region)) return;   // the SDK's chain: AWS_REGION, config file, IMDS
        config.RegionEndpoint = RegionEndpoint.GetBySystemName(region);
    }

    // A ServiceURL replaces the region's endpoint; requests are still signed for the region.
    private static void ApplyEndpoint(ClientConfig config, string? endpoint)
    {
        if (string.IsNullOrEmpty(endpoint)) return;
        string? region = config.RegionEndpoint?.SystemName ?? FallbackRegionFactory.GetRegionEndpoint()?.SystemName;
        config.ServiceURL = endpoint;
        if (region is not null) config.AuthenticationRegion = region;
    }

    /// <summary>The named profile's (or assumed role's) credentials; null when neither was named (then the SDK's default chain applies).</summary>
    public AWSCredentials? ProfileCredentials() => ResolveProfileCredentials();

    private AWSCredentials? _assumed;

    private AWSCredentials? ResolveProfileCredentials()
    {
        if (Options.RoleArn is { } role)
        {
            return _assumed ??= new AssumedRoleCredentials(NamedProfileCredentials() ?? Amazon.Runtime.Credentials.DefaultAWSCredentialsIdentityResolver.GetCredentials(null),
                role, Options.Region, null);
        }
        return NamedProfileCredentials();
    }

    private AWSCredentials? NamedProfileCredentials()
    {
        if (string.IsNullOrEmpty(Options.ProfileName)) return null;
        var chain = new CredentialProfileStoreChain();
        if (chain.TryGetAWSCredentials(Options.ProfileName, out var credentials)) return credentials;
        throw new BackupDRException(ErrorIds.ProfileNotFound, ErrorKind.ObjectNotFound,
            $"The AWS profile '{Options.ProfileName}' was not found in the shared config or credentials files. " +
            $"Check the name with 'aws configure list-profiles', or leave out {Say.Option(Options.ProfileOption)} to use the default credential chain.",
            Options.ProfileName);
    }

    private CredentialProfile? Profile() =>
        new CredentialProfileStoreChain().TryGetProfile(Options.ProfileName, out var profile) ? profile : null;

    /// <summary>Validates a region name against the SDK's list; throws InvalidArgument for an unknown one.</summary>
    /// <summary>The region's name (for ARNs): -Region, else the SDK's chain; AwsConfiguration when none is configured.</summary>
    public static string ResolveRegionName(AwsOptions options)
    {
        ValidateRegion(options.Region);
        try
        {
            return SignedHttpClient.ResolveRegion(options).SystemName;
        }
        catch (AmazonClientException e)
        {
            throw AwsErrors.Translate(e, "region");
        }
    }

    public static void ValidateRegion(string? region)
    {
        if (string.IsNullOrEmpty(region)) return;
        if (RegionEndpoint.EnumerableAllRegions.Any(r => r.SystemName == region)) return;
        throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
            $"'{region}' is not an AWS region this version of BackupDR knows (e.g. us-east-1, eu-west-1).", region);
    }
}
