using System.Text.Json;
using System.Text.Json.Nodes;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Validation;
using Xunit.Abstractions;

namespace BackupDR.Engine.Tests;

/// <summary>
/// The Lambda host (src/BackupDR.Lambda, its JIT build) as a child process against a fake Runtime API,
/// with the local DynamoDB, S3, SNS and CloudWatch: the seed's events, failures as invocation errors,
/// the deadline, and what each function reports.
/// </summary>
public sealed class LambdaHostTests(LocalServices services, AwsApis apis, ITestOutputHelper output) : IClassFixture<LocalServices>, IClassFixture<AwsApis>
{
    private async Task<(string Table, string Bucket)> SeededAsync(int items, int seed)
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(seed, items));
        return (table, await services.CreateBucketAsync());
    }

    private async Task<List<InvocationOutcome>> RunAsync(string handler, Dictionary<string, string?> environment, params (string Event, TimeSpan? TimeLeft)[] events)
    {
        using var api = new FakeRuntimeApi();
        foreach (var (e, left) in events) api.Add(e, left);
        environment["_HANDLER"] = handler;
        environment["AWS_LAMBDA_FUNCTION_NAME"] = "backupdr-" + handler;
        var (exit, log) = await api.RunBootstrapAsync(environment);
        output.WriteLine(log);
        Assert.Equal(0, exit);
        Assert.Equal(events.Length, api.Outcomes.Count);
        return api.Outcomes;
    }

    [Fact]
    public async Task An_unknown_handler_is_an_init_error()
    {
        using var api = new FakeRuntimeApi();
        api.Add("{}");
        var (exit, _) = await api.RunBootstrapAsync(new Dictionary<string, string?> { ["_HANDLER"] = "lambda_function.lambda_handler" });
        Assert.Equal(1, exit);
        Assert.Equal("Runtime.InvalidHandler", (string)api.InitError!["errorType"]!);
        Assert.Contains("backup, validation, recovery", (string)api.InitError["errorMessage"]!);
    }

    [Fact]
    public async Task Backup_takes_the_seed_event_reports_it_and_fails_loudly()
    {
        var (table, bucket) = await SeededAsync(200, 801);
        var (success, successQueue) = await apis.NewWatchedTopicAsync("lambda-ok");
        var (failure, failureQueue) = await apis.NewWatchedTopicAsync("lambda-failed");
        string ns = "Lambda-Test/" + Guid.NewGuid().ToString("N")[..8];
        var outcomes = await RunAsync("backup", new()
        {
            ["BACKUP_BUCKET"] = bucket, ["SUCCESS_TOPIC_ARN"] = success, ["FAILURE_TOPIC_ARN"] = failure,
            ["METRIC_NAMESPACE"] = ns, ["METRIC_DIMENSIONS"] = "Environment=Development",
        },
            ($"{{\"tables\": [\"{table}\"]}}", null),
            ($"{{\"tables\": [\"{table}\", \"no-such-table-lambda\"]}}", null),
            ($"{{\"tables\": [\"{table}\"]}}", TimeSpan.FromSeconds(9.5)),   // the margin (10 s) is already past: nothing may start
            ("not json", null));

        var ok = outcomes[0];
        Assert.False(ok.Failed, ok.Body.ToJsonString());
        Assert.Equal(200, (int)ok.Body["statusCode"]!);
        var result = ok.Body["results"]![0]!;
        Assert.Equal(200, (long)result["itemCount"]!);
        string uri = (string)result["uri"]!;
        Assert.StartsWith($"s3://{bucket}/backupdr/{table}/", uri);
        var report = await Operations.CheckIntegrityAsync(uri, IntegrityLevel.Full, new AwsOptions(), NullOperationHost.Instance, CancellationToken.None);
        Assert.True(report.IsValid, string.Join("; ", report.Problems));

        var missing = outcomes[1];
        Assert.True(missing.Failed);
        Assert.Equal("TableNotFound", missing.ErrorType);
        Assert.Equal("TableNotFound", (string)missing.Body["errorType"]!);
        Assert.Contains("Not backed up:", (string)missing.Body["errorMessage"]!);

        var late = outcomes[2];
        Assert.Equal("DeadlineReached", late.ErrorType);
        Assert.Contains($"Not backed up: {table}", (string)late.Body["errorMessage"]!);

        Assert.Equal("InvalidEvent", outcomes[3].ErrorType);

        Assert.Single(await apis.NotificationsAsync(successQueue));
        var failures = await apis.NotificationsAsync(failureQueue);
        Assert.Equal(2, failures.Count);   // the missing table and the deadline; the bad event ran nothing
        var metrics = await apis.MetricsAsync(ns);
        Assert.Contains(metrics, m => (string)m["name"]! == "TotalItemsBackedUp" && (double)m["value"]! == 200
                                      && (string)m["dimensions"]!["Environment"]! == "Development");
    }

    [Fact]
    public async Task Validation_takes_the_S3_event_of_a_commit_marker_and_fails_on_a_damaged_backup()
    {
        var (table, bucket) = await SeededAsync(80, 802);
        var backups = await RunAsync("backup", new() { ["BACKUP_BUCKET"] = bucket },
            ($"{{\"tables\": [\"{table}\"]}}", null), ($"{{\"tables\": [\"{table}\"]}}", null));
        string good = (string)backups[0].Body["results"]![0]!["uri"]!;
        string bad = (string)backups[1].Body["results"]![0]!["uri"]!;
        // Damage the second backup: one data file goes missing.
        string badPrefix = bad[$"s3://{bucket}/".Length..];
        var data = await services.S3.ListObjectsV2Async(new Amazon.S3.Model.ListObjectsV2Request { BucketName = bucket, Prefix = badPrefix + "data/" });
        await services.S3.DeleteObjectAsync(bucket, data.S3Objects[0].Key);

        static string S3Event(string bucket, string uri) => JsonSerializer.Serialize(new
        {
            Records = new[]
            {
                new { eventSource = "aws:s3", eventName = "ObjectCreated:Put", s3 = new { bucket = new { name = bucket }, @object = new { key = uri[$"s3://{bucket}/".Length..] + "_committed", size = 200 } } },
            },
        });
        var outcomes = await RunAsync("validation", new() { ["BACKUP_BUCKET"] = bucket },
            (S3Event(bucket, good), null), (S3Event(bucket, bad), null), ($"{{\"uri\": \"{good}\", \"level\": \"Quick\"}}", null));

        Assert.False(outcomes[0].Failed, outcomes[0].Body.ToJsonString());
        Assert.True((bool)outcomes[0].Body["results"]![0]!["isValid"]!);
        Assert.Equal(80, (long)outcomes[0].Body["results"]![0]!["itemsVerified"]!);
        Assert.Equal("BackupIntegrityFailed", outcomes[1].ErrorType);
        Assert.Contains("MissingDataFile", (string)outcomes[1].Body["errorMessage"]!);
        Assert.Equal("valid", (string)outcomes[2].Body["status"]!);
    }

    [Fact]
    public async Task Recovery_takes_the_seed_event_finds_the_latest_backup_and_a_retry_finishes_what_its_deadline_stopped()
    {
        var (table, bucket) = await SeededAsync(300, 803);
        var backup = await RunAsync("backup", new() { ["BACKUP_BUCKET"] = bucket }, ($"{{\"tables\": [\"{table}\"]}}", null));
        string uri = (string)backup[0].Body["results"]![0]!["uri"]!;
        string key = uri[$"s3://{bucket}/".Length..] + "_committed";
        var source = await services.ReadTableAsync(table);

        string byFile = LocalServices.UniqueName("seed-file");
        string byLatest = LocalServices.UniqueName("seed-latest");
        string late = LocalServices.UniqueName("seed-late");
        var outcomes = await RunAsync("recovery", new() { ["BACKUP_BUCKET"] = bucket, ["BACKUPDR_CHECKPOINT_URI"] = $"s3://{bucket}/checkpoints/", ["RESTORE_TABLES"] = "seed-*" },
            ($"{{\"table_name\": \"{byFile}\", \"backup_bucket\": \"{bucket}\", \"backup_file\": \"{key}\", \"batch_size\": 25}}", null),
            ($"{{\"table_name\": \"{byLatest}\", \"source_table\": \"{table}\"}}", null),
            ($"{{\"table_name\": \"{late}\", \"source_table\": \"{table}\"}}", TimeSpan.FromSeconds(9.5)),
            ($"{{\"table_name\": \"{late}\", \"source_table\": \"{table}\"}}", null),   // the retried invocation finishes it
            ($"{{\"table_name\": \"{byFile}\", \"batch_size\": 100}}", null),
            ("{\"backup_file\": \"x\"}", null));

        Assert.False(outcomes[0].Failed, outcomes[0].Body.ToJsonString());
        Assert.Equal(300, (long)outcomes[0].Body["result"]!["itemsWritten"]!);
        Assert.Equal(source, await services.ReadTableAsync(byFile));
        Assert.Equal(uri, (string)outcomes[1].Body["backupUri"]!);
        Assert.Equal(source, await services.ReadTableAsync(byLatest));
        Assert.Equal("DeadlineReached", outcomes[2].ErrorType);
        Assert.Contains("invoke it again", (string)outcomes[2].Body["errorMessage"]!);
        Assert.False(outcomes[3].Failed, outcomes[3].Body.ToJsonString());
        Assert.Equal(source, await services.ReadTableAsync(late));
        Assert.Equal("InvalidEvent", outcomes[4].ErrorType);
        Assert.Equal("InvalidEvent", outcomes[5].ErrorType);   // no table_name
    }
}
