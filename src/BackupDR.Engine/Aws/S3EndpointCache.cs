using System.Collections.Concurrent;
using System.Text;
using Amazon.Runtime.Endpoints;
using Amazon.S3.Endpoints;

namespace BackupDR.Engine.Aws;

/// <summary>
/// The SDK's S3 endpoint rules, evaluated once per distinct set of parameters.
/// </summary>
/// <remarks>
/// The SDK evaluates S3's endpoint rule set on every request: <c>AmazonS3EndpointProvider.ResolveEndpoint</c>
/// is one method of 28 KB of IL. A backup sends a request per 5 MiB part, so after 30 of them the runtime
/// recompiles that method with full optimisation, which takes the JIT several MB of native memory that
/// the C library keeps, and CPU on every request besides (docs/performance.md, "Memory"). The rules are
/// a pure function of their parameters, so their answer is kept per parameter set (bucket, key, region,
/// endpoint and flags: a backup has a few dozen), and every caller gets its own copy, because the SDK
/// appends to the URL it is given.
/// </remarks>
internal sealed class S3EndpointCache(IEndpointProvider rules) : IEndpointProvider
{
    // Process-wide: the key holds every input of the rules, so any client may share an answer.
    private static readonly ConcurrentDictionary<string, Endpoint> Answers = new(StringComparer.Ordinal);
    private const int MaxAnswers = 4096;

    public IEndpointProvider Rules { get; } = rules;

    public Endpoint ResolveEndpoint(EndpointParameters parameters)
    {
        if (parameters is not S3EndpointParameters p) return Rules.ResolveEndpoint(parameters);
        string key = KeyOf(p);
        if (!Answers.TryGetValue(key, out var answer))
        {
            answer = Rules.ResolveEndpoint(parameters);   // an error is not remembered: the next request asks again
            if (Answers.Count >= MaxAnswers) Answers.Clear();
            Answers[key] = answer;   // kept as the rules gave it; callers get copies
        }
        return Copy(answer);
    }

    /// <summary>Every parameter of the rules, each once; a test fails if the SDK defines one this leaves out.</summary>
    internal static string KeyOf(S3EndpointParameters p)
    {
        var key = new StringBuilder(160);
        Add(key, p.Bucket); Add(key, p.Region); Add(key, p.UseFIPS); Add(key, p.UseDualStack); Add(key, p.Endpoint);
        Add(key, p.ForcePathStyle); Add(key, p.Accelerate); Add(key, p.UseGlobalEndpoint); Add(key, p.UseObjectLambdaEndpoint);
        Add(key, p.Key); Add(key, p.Prefix); Add(key, p.CopySource); Add(key, p.DisableAccessPoints);
        Add(key, p.DisableMultiRegionAccessPoints); Add(key, p.UseArnRegion); Add(key, p.UseS3ExpressControlEndpoint);
        Add(key, p.DisableS3ExpressSessionAuth);
        return key.ToString();
    }

    // Each value is length-prefixed, so no value can be read as two; null and empty differ.
    private static void Add(StringBuilder key, string? value)
    {
        if (value is null) { key.Append("-|"); return; }
        key.Append(value.Length).Append(':').Append(value).Append('|');
    }

    private static void Add(StringBuilder key, bool? value) => key.Append(value switch { null => '-', true => 't', false => 'f' }).Append('|');

    // The SDK reads the attributes (auth schemes) and headers, and may append "/" to the URL of its copy.
    private static Endpoint Copy(Endpoint endpoint) => new(endpoint.URL)
    {
        Attributes = endpoint.Attributes,
        Headers = endpoint.Headers is null ? null : new Dictionary<string, IList<string>>(endpoint.Headers),
    };
}
