using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;
using Xunit.Abstractions;

namespace BackupDR.Engine.Tests;

/// <summary>The tests that drive the fault proxies: one at a time, since they share them.</summary>
[CollectionDefinition(Name)]
public sealed class FaultProxiesCollection : ICollectionFixture<FaultProxies>
{
    public const string Name = "fault proxies";
}

/// <summary>The fault-injecting proxies (tests/emulators/fault-proxy.js) that build.ps1 test starts in front of the emulators.</summary>
public sealed class FaultProxies : IDisposable
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public FaultProxies()
    {
        DynamoDb = Environment.GetEnvironmentVariable("BACKUPDR_TEST_FAULT_DYNAMODB") ?? "";
        S3 = Environment.GetEnvironmentVariable("BACKUPDR_TEST_FAULT_S3") ?? "";
        if (DynamoDb.Length == 0 || S3.Length == 0)
        {
            throw new InvalidOperationException("BACKUPDR_TEST_FAULT_DYNAMODB / _S3 are not set. Run the tests with './build.ps1 test', which starts the fault proxies.");
        }
    }

    public string DynamoDb { get; }
    public string S3 { get; }

    public static readonly string[] DynamoKinds = ["throttle", "throttling", "error500", "unprocessed", "reset", "stall", "truncate"];
    public static readonly string[] S3Kinds = ["slowdown", "error500", "reset", "stall", "truncate"];

    public async Task ConfigureAsync(int seed, double rate, int stallMs, string[]? dynamoKinds = null, string[]? s3Kinds = null)
    {
        foreach (var (endpoint, kinds) in new[] { (DynamoDb, dynamoKinds ?? DynamoKinds), (S3, s3Kinds ?? S3Kinds) })
        {
            (await Http.PostAsync(endpoint + "/__fault/reset", null)).EnsureSuccessStatusCode();
            bool trace = Environment.GetEnvironmentVariable("BACKUPDR_TEST_TRACE") == "1";
            var response = await Http.PostAsJsonAsync(endpoint + "/__fault/config", new { seed, rate, kinds, stallMs, trace });
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        }
    }

    public async Task<(JsonObject DynamoDb, JsonObject S3)> StatsAsync() =>
        ((await Http.GetFromJsonAsync<JsonObject>(DynamoDb + "/__fault/stats"))!, (await Http.GetFromJsonAsync<JsonObject>(S3 + "/__fault/stats"))!);

    public void Dispose()
    {
        // Leave the proxies passing everything through for whatever runs next.
        foreach (string endpoint in new[] { DynamoDb, S3 })
        {
            try { Http.PostAsJsonAsync(endpoint + "/__fault/config", new { rate = 0 }).GetAwaiter().GetResult(); } catch (HttpRequestException) { }
        }
    }
}

/// <summary>
/// Backup and restore through the fault proxies, which answer a share of all requests the way AWS
/// fails on a bad day. At 20 % the retries must absorb every fault: the restored table equals the
/// source and the backup passes Full validation. When faults never end, the run must give up saying
/// what it could not do. A run that reports success with a hole in it is the one outcome never allowed.
/// </summary>
[Collection(FaultProxiesCollection.Name)]
public sealed class FaultMatrixTests(LocalServices services, FaultProxies proxies, ITestOutputHelper output)
    : IClassFixture<LocalServices>
{
    private const int ItemCount = 20_000;

    private AwsOptions ThroughProxies(int timeoutMs) => new()
    {
        DynamoDbEndpoint = proxies.DynamoDb,
        S3Endpoint = proxies.S3,
        RequestTimeout = TimeSpan.FromMilliseconds(timeoutMs),   // a stalled answer is abandoned and retried
        Retry = new RetryPolicy(12, TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(500)),
    };

    private static string Describe(JsonObject stats) =>
        $"{stats["requests"]} requests, {stats["repeated"]} repeated (retries), faults: " +
        string.Join(", ", stats["faults"]!.AsObject().Where(f => (int)f.Value! > 0).Select(f => $"{f.Key} {f.Value}"));

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public Task Backup_and_restore_at_a_20_percent_fault_rate_of_all_kinds_lose_nothing(int seed) =>
        RoundTripAsync($"seed {seed}, all kinds", seed, FaultProxies.DynamoKinds, FaultProxies.S3Kinds, timeoutMs: 1500, stallMs: 4000);

    /// <summary>Each kind alone at 20 %: one DynamoDB kind and one S3 kind per run, every kind of both covered.</summary>
    [Theory]
    [InlineData("throttle", "slowdown")]
    [InlineData("throttling", "error500")]
    [InlineData("error500", "reset")]
    [InlineData("unprocessed", "stall")]
    [InlineData("reset", "truncate")]
    [InlineData("stall", "slowdown")]
    [InlineData("truncate", "error500")]
    public Task Backup_and_restore_at_a_20_percent_rate_of_one_kind_lose_nothing(string dynamoKind, string s3Kind) =>
        RoundTripAsync($"{dynamoKind} + {s3Kind}", 40 + Array.IndexOf(FaultProxies.DynamoKinds, dynamoKind), [dynamoKind], [s3Kind],
            timeoutMs: 700, stallMs: 1500, everyKind: true);

    private async Task RoundTripAsync(string label, int seed, string[] dynamoKinds, string[] s3Kinds, int timeoutMs, int stallMs, bool everyKind = false)
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(1000 + seed, ItemCount));
        var source = await services.ReadTableAsync(table);
        string bucket = await services.CreateBucketAsync();
        await proxies.ConfigureAsync(seed, rate: 0.2, stallMs, dynamoKinds, s3Kinds);

        BackupResult? backup = null;
        RestoreResult? restore = null;
        Exception? failure = null;
        string target = LocalServices.UniqueName("fault-restore");
        var aws = ThroughProxies(timeoutMs);
        try
        {
            var results = new List<BackupResult>();
            await BackupRunner.RunAsync(new BackupRequest
            {
                TableNames = [table],
                Target = BackupLocation.ForBucket(bucket, "faults"),
                Aws = aws,
                Segments = 4,
                MaxDataFileBytes = 4 * 1024 * 1024,
                // Parts far below S3's 5 MiB minimum (the emulator allows it): many multipart uploads,
                // parts and completions for the faults to hit — enough (about 75 S3 requests) that a run
                // checking every kind was injected cannot miss one by chance (0.8^75).
                Pipeline = new PipelineOptions { PartSizeBytes = 64 * 1024 },
            }, NullOperationHost.Instance, results.Add, CancellationToken.None);
            backup = Assert.Single(results);
            restore = await RestoreRunner.RunAsync(new RestoreRequest
            {
                Uri = backup.Uri,
                TableName = target,
                Parallelism = 4,
                Aws = aws,
            }, NullOperationHost.Instance, CancellationToken.None);
        }
        catch (BackupDRException e)
        {
            failure = e;
        }
        var (dynamoStats, s3Stats) = await proxies.StatsAsync();
        await proxies.ConfigureAsync(seed, rate: 0, stallMs: 0);
        output.WriteLine($"{label}: DynamoDB {Describe(dynamoStats)}");
        output.WriteLine($"{label}: S3 {Describe(s3Stats)}");
        // With 12 attempts per request, a 20 % fault rate leaves nothing to give up on: a failure here is
        // a fault BackupDR does not handle (giving up loudly has its own test below).
        Assert.True(failure is null, $"{label}: the run failed: {failure}");
        int injected = dynamoStats["faults"]!.AsObject().Sum(f => (int)f.Value!) + s3Stats["faults"]!.AsObject().Sum(f => (int)f.Value!);
        Assert.True(injected > 50, $"the proxies injected only {injected} faults");
        if (everyKind)
        {
            foreach (var (stats, kinds) in new[] { (dynamoStats, dynamoKinds), (s3Stats, s3Kinds) })
            {
                foreach (string kind in kinds) Assert.True((int)stats["faults"]![kind]! > 0, $"no '{kind}' fault was injected");
            }
        }

        var restored = await services.ReadTableAsync(target);
        Assert.Equal(ItemCount, restore!.ItemsWritten);
        Assert.Equal(source.Count, restored.Count);
        Assert.Equal(source, restored);
        output.WriteLine($"{label}: {restored.Count} items verified equal to the source; backup of {backup!.DataFileCount} data files");

        // The backup itself stands up to Full validation read straight from the emulator.
        using var folder = BackupFolder.Open(BackupLocation.Parse(backup.Uri), new AwsClientFactory(new()));
        var (report, _) = await new IntegrityChecker(folder, NullOperationHost.Instance).CheckAsync(IntegrityLevel.Full, CancellationToken.None);
        Assert.True(report.IsValid, string.Join("; ", report.Problems));
    }

    [Fact]
    public async Task When_throttling_never_ends_the_backup_fails_naming_the_table_and_leaves_nothing_valid()
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(77, 50));
        string bucket = await services.CreateBucketAsync();
        await proxies.ConfigureAsync(5, rate: 1.0, stallMs: 0, dynamoKinds: ["throttle"], s3Kinds: []);
        var quick = ThroughProxies(1500) with { Retry = new RetryPolicy(3, TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(20)) };
        try
        {
            var error = await Assert.ThrowsAsync<BackupDRException>(() => BackupRunner.RunAsync(new BackupRequest
            {
                TableNames = [table], Target = BackupLocation.ForBucket(bucket, "never"), Aws = quick,
            }, NullOperationHost.Instance, _ => { }, CancellationToken.None));
            output.WriteLine(error.Message);
            Assert.Contains(table, error.Message);
        }
        finally
        {
            await proxies.ConfigureAsync(5, rate: 0, stallMs: 0);
        }
        // No commit marker anywhere under the prefix: nothing that could pass for a finished backup.
        using var s3 = new AwsClientFactory(new()).CreateS3();
        var listed = await s3.ListObjectsV2Async(new Amazon.S3.Model.ListObjectsV2Request { BucketName = bucket, Prefix = "never/" });
        Assert.DoesNotContain(listed.S3Objects ?? [], o => o.Key.EndsWith("/_committed", StringComparison.Ordinal));
    }
}
