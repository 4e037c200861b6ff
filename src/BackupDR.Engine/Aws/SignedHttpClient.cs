using System.Net;
using System.Net.Http.Headers;
using Amazon;
using Amazon.Runtime;
using Amazon.Runtime.Credentials;
using Amazon.Runtime.Signing;

namespace BackupDR.Engine.Aws;

/// <summary>An AWS response: status, body and headers.</summary>
internal sealed record AwsResponse(HttpStatusCode Status, byte[] Body, HttpResponseHeaders Headers)
{
    public bool IsSuccess => (int)Status is >= 200 and < 300;
}

/// <summary>
/// HTTP requests to AWS services that have no SDK package here (SNS, CloudWatch, Lambda): signed
/// with AWSSDK.Core's SigV4 signer and the SDK's credential chain, retried with capped, jittered
/// backoff on throttling, 5xx and broken connections. Each service's client builds its requests and
/// reads its answers; this only sends them.
/// </summary>
internal sealed class SignedHttpClient : IDisposable
{
    private static readonly string UserAgent = "BackupDR/" + EngineInfo.Version;
    private readonly HttpClient _http;
    private readonly AWSCredentials _credentials;
    private readonly RetryPolicy _retry;
    private readonly TimeSpan _attemptTimeout;

    public SignedHttpClient(AWSCredentials credentials, RetryPolicy retry, TimeSpan attemptTimeout)
    {
        _credentials = credentials;
        _retry = retry;
        _attemptTimeout = attemptTimeout;
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), ConnectTimeout = TimeSpan.FromSeconds(10) })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    /// <summary>From the factory's profile, else the SDK's default chain (environment, profiles, SSO, web identity, container, IMDS).</summary>
    public static SignedHttpClient For(AwsClientFactory factory) =>
        new(factory.ProfileCredentials() ?? DefaultAWSCredentialsIdentityResolver.GetCredentials(null), factory.Options.Retry, factory.Options.RequestTimeout);

    /// <summary>The region to sign for: the request's (-Region), else the SDK's chain.</summary>
    public static RegionEndpoint ResolveRegion(AwsOptions options) =>
        (options.Region is { Length: > 0 } name ? RegionEndpoint.GetBySystemName(name) : FallbackRegionFactory.GetRegionEndpoint())
        ?? throw new AmazonClientException($"No AWS region is configured. Set {Say.Region}, AWS_REGION or a profile's region.");

    /// <summary>
    /// Sends one request, retrying while <paramref name="isRetryable"/> says so (by default: 429 and
    /// 5xx) and on dropped connections; returns the last response, successful or not.
    /// </summary>
    public async Task<AwsResponse> SendAsync(string service, RegionEndpoint region, HttpMethod method, Uri uri, byte[]? body, string? contentType,
        CancellationToken cancellationToken, Func<AwsResponse, bool>? isRetryable = null, IReadOnlyDictionary<string, string>? headers = null)
    {
        isRetryable ??= r => r.Status == HttpStatusCode.TooManyRequests || (int)r.Status >= 500;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        for (int attempt = 1; ; attempt++)
        {
            AwsResponse? response = null;
            Exception? failure = null;
            try
            {
                response = await AttemptAsync(service, region, method, uri, body, contentType, headers, cancellationToken).ConfigureAwait(false);
                if (!isRetryable(response)) return response;
            }
            catch (Exception e) when (e is HttpRequestException or IOException
                                      || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                failure = e;
            }
            if (_retry.NextDelay(attempt, started) is not TimeSpan delay)
            {
                return response ?? throw new AmazonClientException($"{method} {uri.GetLeftPart(UriPartial.Path)} failed after {attempt} attempts: {failure!.Message}", failure);
            }
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<AwsResponse> AttemptAsync(string service, RegionEndpoint region, HttpMethod method, Uri uri, byte[]? body, string? contentType,
        IReadOnlyDictionary<string, string>? headers, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_attemptTimeout);
        var signing = new AWSSigningRequest { HttpMethod = method, RequestUri = uri, Content = body ?? [] };
        if (contentType is not null) signing.Headers["Content-Type"] = contentType;
        foreach (var (name, value) in headers ?? new Dictionary<string, string>()) signing.Headers[name] = value;
        var signed = await AWSSigV4Signer.SignAsync(signing,
            new AWSSigV4Parameters { Credentials = _credentials, Region = region, Service = service, SignPayload = true }, timeout.Token).ConfigureAwait(false);
        using var message = new HttpRequestMessage(method, uri);
        if (body is not null)
        {
            message.Content = new ByteArrayContent(body);
            if (contentType is not null) message.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }
        message.Headers.TryAddWithoutValidation("User-Agent", UserAgent);
        foreach (var (name, value) in headers ?? new Dictionary<string, string>()) message.Headers.TryAddWithoutValidation(name, value);
        foreach (var (name, value) in signed.Headers)
        {
            if (!name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase) && !name.Equals("Host", StringComparison.OrdinalIgnoreCase))
            {
                message.Headers.TryAddWithoutValidation(name, value);
            }
        }
        using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseContentRead, timeout.Token).ConfigureAwait(false);
        byte[] content = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
        return new AwsResponse(response.StatusCode, content, response.Headers);
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>Where a service is: AWS_ENDPOINT_URL_&lt;SERVICE&gt;, else AWS_ENDPOINT_URL, else its regional endpoint (the SDK's rules).</summary>
internal static class ServiceEndpoint
{
    /// <param name="serviceId">The SDK's service id for the environment variable, e.g. "SNS", "CLOUDWATCH", "LAMBDA".</param>
    /// <param name="hostPrefix">The endpoint's first label, e.g. "sns", "monitoring", "lambda".</param>
    public static Uri Resolve(string serviceId, string hostPrefix, RegionEndpoint region)
    {
        EndpointGuard.Check(serviceId, null, serviceId, allowed: false);
        string? configured = Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_" + serviceId);
        if (string.IsNullOrEmpty(configured)) configured = Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL");
        if (!string.IsNullOrEmpty(configured)) return new Uri(configured.EndsWith('/') ? configured : configured + "/");
        return new Uri($"https://{hostPrefix}.{region.SystemName}.{region.PartitionDnsSuffix}/");
    }
}
