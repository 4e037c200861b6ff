using System.Net;
using System.Text;

namespace BackupDR.Lambda;

/// <summary>One invocation as the Runtime API hands it out.</summary>
internal sealed record Invocation(string RequestId, DateTimeOffset Deadline, string? FunctionArn, string? TraceId, byte[] Event);

/// <summary>What the host needs of the Lambda Runtime API: a seam, so the loop runs in-process in tests.</summary>
internal interface IRuntimeApi
{
    /// <summary>Waits for the next invocation; null when there are no more (a local harness ends a run that way).</summary>
    Task<Invocation?> NextAsync(CancellationToken cancellationToken);

    Task RespondAsync(string requestId, byte[] json, CancellationToken cancellationToken);

    /// <summary>The invocation failed: Lambda counts an error, retries asynchronous invocations and sends them to the on-failure destination.</summary>
    Task FailAsync(string requestId, string errorType, string message, CancellationToken cancellationToken);

    /// <summary>The function could not start (an unknown handler, a bad setting): Lambda reports it on every invocation until fixed.</summary>
    Task InitFailedAsync(string errorType, string message, CancellationToken cancellationToken);
}

/// <summary>
/// The Lambda Runtime API (2018-06-01), spoken directly: next invocation, response, invocation error
/// and init error (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
/// </summary>
internal sealed class RuntimeApi(HttpClient http) : IRuntimeApi, IDisposable
{
    private const string JsonType = "application/json";

    public static RuntimeApi FromEnvironment()
    {
        string api = Environment.GetEnvironmentVariable("AWS_LAMBDA_RUNTIME_API")
            ?? throw new InvalidOperationException("AWS_LAMBDA_RUNTIME_API is not set: this program is a Lambda custom runtime (bootstrap).");
        return new RuntimeApi(new HttpClient { BaseAddress = new Uri($"http://{api}/2018-06-01/runtime/"), Timeout = Timeout.InfiniteTimeSpan });
    }

    public async Task<Invocation?> NextAsync(CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync("invocation/next", cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.Gone) return null;
        response.EnsureSuccessStatusCode();
        string id = Header(response, "Lambda-Runtime-Aws-Request-Id") ?? throw new InvalidDataException("the Runtime API gave no request id");
        long deadlineMs = long.TryParse(Header(response, "Lambda-Runtime-Deadline-Ms"), out long ms) ? ms : DateTimeOffset.UtcNow.AddMinutes(15).ToUnixTimeMilliseconds();
        byte[] body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        return new Invocation(id, DateTimeOffset.FromUnixTimeMilliseconds(deadlineMs), Header(response, "Lambda-Runtime-Invoked-Function-Arn"),
            Header(response, "Lambda-Runtime-Trace-Id"), body);
    }

    public Task RespondAsync(string requestId, byte[] json, CancellationToken cancellationToken) =>
        PostAsync($"invocation/{requestId}/response", json, null, cancellationToken);

    public Task FailAsync(string requestId, string errorType, string message, CancellationToken cancellationToken) =>
        PostAsync($"invocation/{requestId}/error", LambdaJson.Error(errorType, message), errorType, cancellationToken);

    public Task InitFailedAsync(string errorType, string message, CancellationToken cancellationToken) =>
        PostAsync("init/error", LambdaJson.Error(errorType, message), errorType, cancellationToken);

    private async Task PostAsync(string path, byte[] json, string? errorType, CancellationToken cancellationToken)
    {
        using var content = new ByteArrayContent(json);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(JsonType) { CharSet = Encoding.UTF8.WebName };
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        if (errorType is not null) request.Headers.TryAddWithoutValidation("Lambda-Runtime-Function-Error-Type", errorType);
        using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    public void Dispose() => http.Dispose();
}
