using System.Reflection;
using Amazon.Runtime.Endpoints;
using Amazon.S3;
using Amazon.S3.Endpoints;
using Amazon.S3.Internal;
using BackupDR.Engine.Aws;

namespace BackupDR.Engine.Tests;

/// <summary>The two measures that keep a long run's memory near a short one's (docs/performance.md).</summary>
public sealed class MemoryBoundsTests
{
    private sealed class CountingRules(IEndpointProvider inner) : IEndpointProvider
    {
        public int Calls;
        public Endpoint ResolveEndpoint(EndpointParameters parameters)
        {
            Interlocked.Increment(ref Calls);
            return inner.ResolveEndpoint(parameters);
        }
    }

    private static S3EndpointParameters Parameters(string bucket, string? key, string region = "eu-west-1", bool pathStyle = false) => new()
    {
        Bucket = bucket, Key = key, Region = region, UseFIPS = false, UseDualStack = false, ForcePathStyle = pathStyle,
        Accelerate = false, UseGlobalEndpoint = false, UseArnRegion = true, DisableMultiRegionAccessPoints = false,
    };

    [Fact]
    public void The_endpoint_cache_keys_on_every_parameter_of_the_SDKs_S3_rules()
    {
        // Two requests that differ in any one parameter must not share an answer: each parameter the SDK
        // defines (an SDK update may add one) has to change the key. A parameter of a type this test does
        // not know fails it, to be looked at.
        var declared = typeof(S3EndpointParameters).GetProperties(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            .Where(p => p.GetIndexParameters().Length == 0).ToArray();
        Assert.True(declared.Length >= 17, $"the SDK's S3 rules have {declared.Length} parameters");
        string plain = S3EndpointCache.KeyOf(new S3EndpointParameters());
        foreach (var parameter in declared)
        {
            var changed = new S3EndpointParameters();
            object value = parameter.PropertyType == typeof(string) ? "x"
                : parameter.PropertyType == typeof(bool?) ? true
                : throw new Xunit.Sdk.XunitException($"S3EndpointParameters.{parameter.Name} is a {parameter.PropertyType}: teach S3EndpointCache.KeyOf and this test about it");
            parameter.SetValue(changed, value);
            Assert.True(S3EndpointCache.KeyOf(changed) != plain, $"S3EndpointCache.KeyOf leaves out {parameter.Name}");
        }
    }

    [Fact]
    public void The_endpoint_cache_answers_as_the_rules_do_asking_them_once_per_parameter_set()
    {
        var rules = new CountingRules(new AmazonS3EndpointProvider());
        var cache = new S3EndpointCache(rules);
        string bucket = "bdr-cache-" + Guid.NewGuid().ToString("N")[..8];
        var cases = new[]
        {
            Parameters(bucket, "data/s0-f0.json.gz"),
            Parameters(bucket, "manifest-files.json"),
            Parameters(bucket, "data/s0-f0.json.gz", region: "us-west-2"),
            Parameters(bucket, "data/s0-f0.json.gz", pathStyle: true),
            Parameters(bucket + "-other", "data/s0-f0.json.gz"),
        };
        var expected = cases.Select(p => new AmazonS3EndpointProvider().ResolveEndpoint(p).URL).ToArray();
        // Region, addressing style and bucket change the answer (a key does not, but it is an input of the rules).
        Assert.Equal(expected.Length - 1, expected.Distinct().Count());

        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < cases.Length; i++)
            {
                var answer = cache.ResolveEndpoint(cases[i]);
                Assert.Equal(expected[i], answer.URL);
                Assert.NotNull(answer.Attributes);   // the auth scheme (signing region and name) comes along
                answer.URL += "/";   // the SDK appends to what it is given: that must not reach the next caller
            }
        }
        Assert.Equal(cases.Length, rules.Calls);
    }

    [Fact]
    public void Every_S3_client_the_engine_builds_resolves_through_the_cache()
    {
        using var s3 = (AmazonS3Client)new AwsClientFactory(new AwsOptions("eu-west-1")).CreateS3();
        var cache = Assert.IsType<S3EndpointCache>(s3.Config.EndpointProvider);
        Assert.IsType<AmazonS3EndpointProvider>(cache.Rules);
    }

    [Fact]
    public void A_garbage_budget_collects_once_it_is_spent_and_then_starts_again()
    {
        var budget = new GarbageBudget(64L * 1024 * 1024);
        Assert.False(budget.Check());
        int gen0 = GC.CollectionCount(0);
        GC.KeepAlive(new byte[65 * 1024 * 1024]);   // counted as allocated as soon as it exists
        Assert.True(budget.Check());
        Assert.True(GC.CollectionCount(0) > gen0);
        Assert.False(budget.Check());   // the budget starts again from the collection
    }

    [Fact]
    public void A_zero_garbage_budget_never_collects()
    {
        var budget = new GarbageBudget(0);
        GC.KeepAlive(new byte[8 * 1024 * 1024]);
        Assert.False(budget.Check());
    }
}
