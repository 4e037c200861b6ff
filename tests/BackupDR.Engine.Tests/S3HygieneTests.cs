using System.Net.Http.Json;
using System.Text.Json.Nodes;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Format;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Tables;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Tests;

/// <summary>
/// What every S3 request carries and what every write asks for: the expected bucket owner (the S3 shim
/// owns every bucket as the local account, refuses another, and counts requests with and without the
/// header), server-side encryption, no plain http:// to another machine; and a restored table gets back
/// the encryption, time to live and point-in-time recovery its backup recorded.
/// </summary>
public sealed class S3HygieneTests(LocalServices services) : IClassFixture<LocalServices>
{
    private const string LocalAccount = "000000000000";
    private static readonly HttpClient Http = new();

    private static async Task<JsonObject> ShimStatsAsync(string bucket) =>
        (await Http.GetFromJsonAsync<JsonObject>($"{Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_S3")!.TrimEnd('/')}/__shim/owner-headers?bucket={bucket}"))!;

    private async Task<(string Table, string Bucket)> SeededAsync()
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(91, 300));
        return (table, await services.CreateBucketAsync());
    }

    [Fact]
    public async Task Every_request_names_the_expected_bucket_owner_and_every_object_is_written_encrypted()
    {
        var (table, bucket) = await SeededAsync();
        long created = (int)(await ShimStatsAsync(bucket))["without"]!;   // the test's own CreateBucket
        var aws = new AwsOptions { S3 = new S3Options(LocalAccount, "aws:kms", "alias/backups") };
        var results = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest
        {
            TableNames = [table], Target = BackupLocation.ForBucket(bucket, "owned"), Aws = aws, MaxDataFileBytes = 16 * 1024,
            Pipeline = new PipelineOptions { PartSizeBytes = 8 * 1024 },
        }, NullOperationHost.Instance, results.Add, CancellationToken.None);
        var report = await Operations.CheckIntegrityAsync(results[0].Uri, IntegrityLevel.Full, aws, NullOperationHost.Instance, CancellationToken.None);
        Assert.True(report.IsValid, string.Join("; ", report.Problems));
        await Operations.ListBackupsAsync($"s3://{bucket}/owned", null, aws, CancellationToken.None);
        var restored = await RestoreRunner.RunAsync(new RestoreRequest
        {
            Uri = results[0].Uri, TableName = LocalServices.UniqueName("owned"), Aws = aws, CheckpointUri = $"s3://{bucket}/checkpoints/",
        }, NullOperationHost.Instance, CancellationToken.None);
        Assert.Equal(300, restored.ItemsWritten);
        await Operations.RemoveBackupAsync(results[0].Uri, aws, CancellationToken.None);

        var stats = await ShimStatsAsync(bucket);
        Assert.True((int)stats["with"]! > 20, stats.ToJsonString());
        Assert.Equal(created, (int)stats["without"]!);   // not one request of BackupDR's without it: backup, validation, listing, restore, checkpoints, removal
        Assert.True((int)stats["writes"]! > 3, stats.ToJsonString());
        Assert.Equal((int)stats["writes"]!, (int)stats["encryptedWrites"]!);
    }

    [Fact]
    public async Task A_bucket_of_another_owner_is_refused_and_nothing_is_written()
    {
        var (table, bucket) = await SeededAsync();
        var error = await Assert.ThrowsAsync<BackupDRException>(() => BackupRunner.RunAsync(new BackupRequest
        {
            TableNames = [table], Target = BackupLocation.ForBucket(bucket, "owned"), Aws = new AwsOptions { S3 = new S3Options("111111111111") },
        }, NullOperationHost.Instance, _ => { }, CancellationToken.None));
        Assert.Equal(ErrorIds.AccessDenied, error.ErrorId);
        var list = await services.S3.ListObjectsV2Async(new Amazon.S3.Model.ListObjectsV2Request { BucketName = bucket });
        Assert.Empty(list.S3Objects ?? []);
    }

    [Fact]
    public void Plain_http_to_another_machine_is_refused_unless_allowed_loopback_is_not()
    {
        var remote = new AwsOptions { DynamoDbEndpoint = "http://192.0.2.10:8000", S3Endpoint = "http://192.0.2.10:9000" };
        var dynamo = Assert.Throws<BackupDRException>(() => new AwsClientFactory(remote).CreateDynamoDB());
        Assert.Equal(ErrorIds.InsecureEndpoint, dynamo.ErrorId);
        Assert.Contains("192.0.2.10:8000", dynamo.Message);
        Assert.Equal(ErrorIds.InsecureEndpoint, Assert.Throws<BackupDRException>(() => new AwsClientFactory(remote).CreateS3()).ErrorId);

        new AwsClientFactory(remote with { AllowInsecureHttp = true }).CreateDynamoDB().Dispose();
        new AwsClientFactory(new AwsOptions { DynamoDbEndpoint = "https://192.0.2.10:8000" }).CreateDynamoDB().Dispose();
        new AwsClientFactory(new AwsOptions { S3Endpoint = "http://127.0.0.1:9" }).CreateS3().Dispose();
        new AwsClientFactory(new AwsOptions { S3Endpoint = "http://[::1]:9" }).CreateS3().Dispose();
    }

    [Fact]
    public void A_new_table_is_encrypted_with_the_recorded_key_or_the_one_asked_for()
    {
        var doc = ForgedBackup.Table("orders");
        Assert.Null(TableSchema.BuildCreateRequest(doc, "t").SSESpecification);   // DynamoDB's own key stays DynamoDB's own key

        doc.SseDescription = new SseDoc { Status = "ENABLED", SseType = "KMS", KmsMasterKeyArn = "arn:aws:kms:eu-west-1:123456789012:key/orders" };
        var recorded = TableSchema.BuildCreateRequest(doc, "t").SSESpecification;
        Assert.True(recorded.Enabled);
        Assert.Equal("KMS", recorded.SSEType.Value);
        Assert.Equal("arn:aws:kms:eu-west-1:123456789012:key/orders", recorded.KMSMasterKeyId);

        Assert.Equal("alias/dr", TableSchema.BuildCreateRequest(doc, "t", kmsKeyId: "alias/dr").SSESpecification.KMSMasterKeyId);
    }

    /// <summary>DynamoDB refusing the recorded KMS key (CreateTable only, the rest passed through).</summary>
    public class KeyRefusingDynamo : System.Reflection.DispatchProxy
    {
        public Amazon.DynamoDBv2.IAmazonDynamoDB Inner { get; set; } = null!;
        public List<Amazon.DynamoDBv2.Model.CreateTableRequest> Creates { get; } = [];

        protected override object? Invoke(System.Reflection.MethodInfo? method, object?[]? args)
        {
            if (method!.Name == nameof(Amazon.DynamoDBv2.IAmazonDynamoDB.CreateTableAsync) && args![0] is Amazon.DynamoDBv2.Model.CreateTableRequest create)
            {
                Creates.Add(create);
                if (create.SSESpecification is not null)
                {
                    return Task.FromException<Amazon.DynamoDBv2.Model.CreateTableResponse>(
                        new Amazon.DynamoDBv2.AmazonDynamoDBException("The KMS key arn:aws:kms:eu-west-1:123456789012:key/orders is pending deletion.") { ErrorCode = "ValidationException" });
                }
            }
            return method.Invoke(Inner, args);
        }
    }

    /// <summary>
    /// A table the backup recorded with a KMS key DynamoDB cannot use (deleted, another account's): the new table of the
    /// Write and Lambda engines is created with DynamoDB's own key, and a warning says so and what to do.
    /// </summary>
    [Fact]
    public async Task A_new_table_whose_recorded_key_DynamoDB_refuses_is_created_with_DynamoDBs_own_key_and_a_warning()
    {
        var doc = ForgedBackup.Table("orders");
        doc.SseDescription = new SseDoc { Status = "ENABLED", SseType = "KMS", KmsMasterKeyArn = "arn:aws:kms:eu-west-1:123456789012:key/orders" };
        var proxy = System.Reflection.DispatchProxy.Create<Amazon.DynamoDBv2.IAmazonDynamoDB, KeyRefusingDynamo>();
        var refusing = (KeyRefusingDynamo)(object)proxy;
        refusing.Inner = services.DynamoDB;
        var host = new RecordingHost();
        string name = LocalServices.UniqueName("kms-fallback");
        await Restore.TableCreation.CreateAsync(proxy, host, doc, name, null, _ => throw new InvalidOperationException("the table did not exist"), CancellationToken.None);
        Assert.True(await services.TableExistsAsync(name));
        Assert.Equal(2, refusing.Creates.Count);
        Assert.Null(refusing.Creates[1].SSESpecification);
        Assert.Contains(host.Warnings, w => w.Contains("DynamoDB's own key", StringComparison.Ordinal) && w.Contains("key/orders", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_restore_turns_time_to_live_and_point_in_time_recovery_back_on_and_warns_where_it_cannot()
    {
        var table = ForgedBackup.Table("settings");
        table.TimeToLive = new TtlDoc { Status = "ENABLED", AttributeName = "expires" };
        table.PointInTimeRecovery = new PitrDoc { Status = "ENABLED", RecoveryPeriodInDays = 7 };
        string uri = await ForgedBackup.LocalAsync("settings", [ForgedBackup.Gzipped("data/s000-f0000.json.gz", ForgedBackup.Lines(ForgedBackup.Items(5)))],
            tableJson: BackupFormat.Serialize(table));
        var host = new RecordingHost();

        string target = LocalServices.UniqueName("settings");
        var result = await RestoreRunner.RunAsync(new RestoreRequest
        {
            Uri = uri, TableName = target, CheckpointUri = Path.Combine(Path.GetTempPath(), "bdr-settings-checkpoints"),
        }, host, CancellationToken.None);

        Assert.Equal(5, result.ItemsWritten);
        // dynalite has no time to live: it is attempted, and the refusal is a warning naming the setting, not a failure.
        Assert.Contains(host.Warnings, w => w.Contains("time to live turned on for attribute 'expires'", StringComparison.Ordinal) && w.Contains("UnknownOperation", StringComparison.Ordinal));
        // Point-in-time recovery (the test infrastructure's control plane has it) is back on, with the backed-up table's window.
        Assert.DoesNotContain(host.Warnings, w => w.Contains("point-in-time recovery", StringComparison.Ordinal));
        using var dynamo = new Aws.AwsClientFactory(new Aws.AwsOptions()).CreateDynamoDB();
        var pitr = (await dynamo.DescribeContinuousBackupsAsync(new Amazon.DynamoDBv2.Model.DescribeContinuousBackupsRequest { TableName = target }))
            .ContinuousBackupsDescription.PointInTimeRecoveryDescription;
        Assert.Equal("ENABLED", pitr.PointInTimeRecoveryStatus.Value);
        Assert.Equal(7, pitr.RecoveryPeriodInDays);
    }
}
