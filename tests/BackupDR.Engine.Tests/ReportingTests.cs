using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Amazon;
using Amazon.Runtime;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Reporting;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Tests;

/// <summary>
/// SNS (fauxqs) and CloudWatch (tests/emulators/aws-local.js, which checks every SigV4 signature) as
/// build.ps1 test starts them. A topic's messages are read from an SQS queue subscribed to it: SNS's
/// own fan-out, over the real wire protocols.
/// </summary>
public sealed class AwsApis : IDisposable
{
    private static readonly HttpClient Plain = new() { Timeout = TimeSpan.FromSeconds(10) };

    public AwsApis()
    {
        Sns = Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_SNS") ?? "";
        CloudWatch = Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_CLOUDWATCH") ?? "";
        if (Sns.Length == 0 || CloudWatch.Length == 0)
        {
            throw new InvalidOperationException("AWS_ENDPOINT_URL_SNS / _CLOUDWATCH are not set. Run the tests with './build.ps1 test', which starts fauxqs and aws-local.");
        }
        Http = SignedHttpClient.For(new AwsClientFactory(new AwsOptions()));
    }

    public string Sns { get; }
    public string CloudWatch { get; }
    internal SignedHttpClient Http { get; }
    public static RegionEndpoint Region => RegionEndpoint.USEast1;

    /// <summary>A new topic with an SQS queue subscribed to it; returns the topic ARN and the queue's name.</summary>
    public async Task<(string TopicArn, string Queue)> NewWatchedTopicAsync(string name)
    {
        string unique = $"{name}-{Guid.NewGuid():N}";
        var topic = await QueryProtocol.CallAsync(Http, "sns", Region, new Uri(Sns + "/"),
            [new("Action", "CreateTopic"), new("Version", "2010-03-31"), new("Name", unique)], CancellationToken.None);
        string arn = QueryProtocol.Text(topic, "TopicArn")!;
        var queue = await Http.SendAsync("sqs", Region, HttpMethod.Post, new Uri(Sns + "/"), Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { QueueName = unique })),
            "application/x-amz-json-1.0", CancellationToken.None, headers: new Dictionary<string, string> { ["X-Amz-Target"] = "AmazonSQS.CreateQueue" });
        Assert.True(queue.IsSuccess, Encoding.UTF8.GetString(queue.Body));
        await QueryProtocol.CallAsync(Http, "sns", Region, new Uri(Sns + "/"),
        [
            new("Action", "Subscribe"), new("Version", "2010-03-31"), new("TopicArn", arn), new("Protocol", "sqs"),
            new("Endpoint", $"arn:aws:sqs:us-east-1:000000000000:{unique}"),
        ], CancellationToken.None);
        return (arn, unique);
    }

    /// <summary>The SNS notifications (Subject, Message, TopicArn…) that reached the queue.</summary>
    public async Task<List<JsonObject>> NotificationsAsync(string queue)
    {
        var state = await Plain.GetFromJsonAsync<JsonObject>($"{Sns}/_fauxqs/queues/{queue}");
        return state!["messages"]!["ready"]!.AsArray().Select(m => JsonNode.Parse((string)m!["body"]!)!.AsObject()).ToList();
    }

    /// <summary>Every data point aws-local received, in one namespace.</summary>
    public async Task<List<JsonObject>> MetricsAsync(string metricNamespace)
    {
        var all = await Plain.GetFromJsonAsync<JsonArray>($"{CloudWatch}/__local/metrics");
        return all!.Select(m => m!.AsObject()).Where(m => (string)m["namespace"]! == metricNamespace).ToList();
    }

    public void Dispose() => Http.Dispose();
}

public sealed class ReportingTests(LocalServices services, AwsApis apis) : IClassFixture<LocalServices>, IClassFixture<AwsApis>
{
    private static string Namespace() => "BackupDR-Test/" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task Metrics_arrive_signed_with_their_units_and_dimensions()
    {
        string ns = Namespace();
        await new CloudWatchPublisher(apis.Http, AwsApis.Region).PutAsync(ns,
        [
            new("TotalItemsBackedUp", 1234, "Count"),
            new("BackupDuration", 1.5, "Seconds", new Dictionary<string, string> { ["TableName"] = "Orders", ["Environment"] = "Test" }),
        ], CancellationToken.None);

        var metrics = await apis.MetricsAsync(ns);
        Assert.Equal(2, metrics.Count);
        Assert.Equal(("TotalItemsBackedUp", 1234.0, "Count"), ((string)metrics[0]["name"]!, (double)metrics[0]["value"]!, (string)metrics[0]["unit"]!));
        Assert.Equal("Orders", (string)metrics[1]["dimensions"]!["TableName"]!);
        Assert.Equal("Test", (string)metrics[1]["dimensions"]!["Environment"]!);
        Assert.Equal("us-east-1", (string)metrics[1]["region"]!);   // signed for the region it was sent to
    }

    [Fact]
    public async Task A_wrongly_signed_request_is_refused_as_AWS_refuses_it()
    {
        using var wrong = new SignedHttpClient(new BasicAWSCredentials("S3RVER", "not-the-secret"), RetryPolicy.Default, TimeSpan.FromSeconds(10));
        var error = await Assert.ThrowsAsync<AmazonServiceException>(() => new CloudWatchPublisher(wrong, AwsApis.Region).PutAsync(Namespace(), [new("X", 1, "Count")], CancellationToken.None));
        Assert.Equal("SignatureDoesNotMatch", error.ErrorCode);
        Assert.Equal(ErrorIds.AccessDenied, AwsErrors.Translate(error, "metrics").ErrorId);

        var invalid = await Assert.ThrowsAsync<AmazonServiceException>(() => new CloudWatchPublisher(apis.Http, AwsApis.Region).PutAsync("AWS/Reserved", [new("X", 1, "Count")], CancellationToken.None));
        Assert.Equal("InvalidParameterValue", invalid.ErrorCode);
    }

    [Fact]
    public async Task A_notification_carries_subject_and_message_to_the_topic()
    {
        var (topic, queue) = await apis.NewWatchedTopicAsync("notify");
        string id = await new SnsPublisher(apis.Http).PublishAsync(topic, "BackupDR succeeded: backup of Orders", "{\"status\":\"succeeded\"}", CancellationToken.None);
        Assert.False(string.IsNullOrEmpty(id));

        var note = Assert.Single(await apis.NotificationsAsync(queue));
        Assert.Equal(topic, (string)note["TopicArn"]!);
        Assert.Equal("BackupDR succeeded: backup of Orders", (string)note["Subject"]!);
        Assert.Equal("{\"status\":\"succeeded\"}", (string)note["Message"]!);

        var missing = await Assert.ThrowsAsync<AmazonServiceException>(() => new SnsPublisher(apis.Http).PublishAsync(topic + "-gone", "s", "m", CancellationToken.None));
        Assert.Equal("NotFound", missing.ErrorCode);
    }

    [Fact]
    public async Task A_backup_reports_success_and_failure_with_the_seed_metrics_and_no_credentials()
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(701, 120));
        string folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "bdr-report-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        var (success, successQueue) = await apis.NewWatchedTopicAsync("ok");
        var (failure, failureQueue) = await apis.NewWatchedTopicAsync("failed");
        string ns = Namespace();
        var options = new ReportingOptions { SuccessTopicArn = success, FailureTopicArn = failure, MetricNamespace = ns, Host = "test" };

        async Task<ReportedRun.Outcome<List<BackupResult>>> BackupAsync(string[] tables)
        {
            var results = new List<BackupResult>();
            return await ReportedRun.RunAsync(async token =>
            {
                await BackupRunner.RunAsync(new BackupRequest { TableNames = tables, Target = BackupLocation.ForFolder(folder) }, NullOperationHost.Instance, results.Add, token);
                return results;
            }, (_, error) => RunReport.ForBackup(tables, results, error, options), options, new AwsOptions(), CancellationToken.None);
        }

        var ok = await BackupAsync([table]);
        Assert.Null(ok.Error);
        Assert.Empty(ok.Report.Failures);
        Assert.NotNull(ok.Report.NotificationMessageId);
        var note = Assert.Single(await apis.NotificationsAsync(successQueue));
        Assert.Equal($"BackupDR succeeded: backup of {table}", (string)note["Subject"]!);
        var message = JsonNode.Parse((string)note["Message"]!)!;
        Assert.Equal("succeeded", (string)message["status"]!);
        Assert.Equal(120, (long)message["results"]![0]!["itemCount"]!);
        Assert.DoesNotContain("S3RVER", (string)note["Message"]!);   // the test credentials: key id and secret
        var metrics = await apis.MetricsAsync(ns);
        Assert.Contains(metrics, m => (string)m["name"]! == "BackupSuccessRate" && (double)m["value"]! == 100);
        Assert.Contains(metrics, m => (string)m["name"]! == "TotalItemsBackedUp" && (double)m["value"]! == 120);
        Assert.Contains(metrics, m => (string)m["name"]! == "TablesProcessed" && (double)m["value"]! == 1);
        Assert.Contains(metrics, m => (string)m["name"]! == "BackupDuration" && (string)m["dimensions"]!["TableName"]! == table);

        var failed = await BackupAsync([table, "no-such-table-report"]);
        Assert.Equal(ErrorIds.TableNotFound, failed.Error!.ErrorId);
        var failedNote = Assert.Single(await apis.NotificationsAsync(failureQueue));
        Assert.StartsWith("BackupDR FAILED: backup of 2 tables", (string)failedNote["Subject"]!);
        var failedMessage = JsonNode.Parse((string)failedNote["Message"]!)!;
        Assert.Equal("TableNotFound", (string)failedMessage["error"]!["id"]!);
        Assert.Single(await apis.NotificationsAsync(successQueue));   // nothing more on the success topic
        Assert.Contains(await apis.MetricsAsync(ns), m => (string)m["name"]! == "BackupSuccessRate" && (double)m["value"]! == 0);
    }

    [Fact]
    public async Task A_report_that_cannot_be_sent_is_said_and_does_not_change_the_outcome()
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(702, 10));
        string folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "bdr-report-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        var options = new ReportingOptions { SuccessTopicArn = "arn:aws:sns:us-east-1:000000000000:no-such-topic" };
        var results = new List<BackupResult>();
        var outcome = await ReportedRun.RunAsync(async token =>
        {
            await BackupRunner.RunAsync(new BackupRequest { TableNames = [table], Target = BackupLocation.ForFolder(folder) }, NullOperationHost.Instance, results.Add, token);
            return results;
        }, (_, error) => RunReport.ForBackup([table], results, error, options), options, new AwsOptions(), CancellationToken.None);

        Assert.Null(outcome.Error);
        Assert.Single(outcome.Result!);
        var why = Assert.Single(outcome.Report.Failures);
        Assert.Contains("no-such-topic", why);

        var badArn = await Assert.ThrowsAsync<BackupDRException>(() => ReportedRun.RunAsync(_ => Task.FromResult(results),
            (_, e) => RunReport.ForBackup([table], results, e, options), new ReportingOptions { SuccessTopicArn = "not-an-arn" }, new AwsOptions(), CancellationToken.None));
        Assert.Equal(ErrorIds.InvalidArgument, badArn.ErrorId);
    }

    [Fact]
    public async Task Validation_and_restore_report_their_outcomes()
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(703, 40));
        string folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "bdr-report-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        var results = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [table], Target = BackupLocation.ForFolder(folder) }, NullOperationHost.Instance, results.Add, CancellationToken.None);
        string ns = Namespace();
        var options = new ReportingOptions { MetricNamespace = ns };

        var validated = await ReportedRun.RunAsync(token => Operations.CheckIntegrityAsync(results[0].Uri, IntegrityLevel.Full, new AwsOptions(), NullOperationHost.Instance, token),
            (report, error) => RunReport.ForValidation(results[0].Uri, report, error, options), options, new AwsOptions(), CancellationToken.None);
        Assert.True(validated.Result!.IsValid);
        string target = LocalServices.UniqueName("reported");
        var restored = await ReportedRun.RunAsync(token => RestoreRunner.RunAsync(new RestoreRequest { Uri = results[0].Uri, TableName = target }, NullOperationHost.Instance, token),
            (result, error) => RunReport.ForRestore(target, result, 40, error, options), options, new AwsOptions(), CancellationToken.None);
        Assert.Equal(40, restored.Result!.ItemsWritten);

        var metrics = await apis.MetricsAsync(ns);
        Assert.Contains(metrics, m => (string)m["name"]! == "ValidationsPassed" && (double)m["value"]! == 1);
        Assert.Contains(metrics, m => (string)m["name"]! == "ItemsVerified" && (double)m["value"]! == 40);
        Assert.Contains(metrics, m => (string)m["name"]! == "ItemsRestored" && (double)m["value"]! == 40);
        Assert.Contains(metrics, m => (string)m["name"]! == "RecoveryValidationRate" && (double)m["value"]! == 100);
        Assert.Contains(metrics, m => (string)m["name"]! == "FailedItems" && (double)m["value"]! == 0);
    }
}
