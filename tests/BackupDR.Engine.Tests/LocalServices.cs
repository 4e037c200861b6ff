global using Xunit;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Json;

namespace BackupDR.Engine.Tests;

/// <summary>
/// The local emulators started by ./build.ps1 test (tests/emulators). The endpoints arrive in the
/// SDK's own environment variables, so the engine under test runs unmodified.
/// </summary>
public sealed class LocalServices : IDisposable
{
    public LocalServices()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_DYNAMODB"))
            || string.IsNullOrEmpty(Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_S3")))
        {
            throw new InvalidOperationException(
                "AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3 are not set. Run the tests with './build.ps1 test', which starts the local emulators.");
        }
        var aws = new AwsClientFactory(new AwsOptions());
        DynamoDB = aws.CreateDynamoDB();
        S3 = aws.CreateS3();
    }

    public IAmazonDynamoDB DynamoDB { get; }
    public IAmazonS3 S3 { get; }

    public static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 60)];

    public async Task<string> CreateBucketAsync()
    {
        string bucket = UniqueName("bdr-test");
        await S3.PutBucketAsync(bucket);
        return bucket;
    }

    /// <summary>A table keyed pk (S) + sk (N), on demand.</summary>
    public async Task<string> CreateTableAsync(string? name = null, bool withIndexes = false)
    {
        name ??= UniqueName("t");
        var request = new CreateTableRequest
        {
            TableName = name,
            KeySchema = [new("pk", KeyType.HASH), new("sk", KeyType.RANGE)],
            AttributeDefinitions = [new("pk", ScalarAttributeType.S), new("sk", ScalarAttributeType.N)],
            BillingMode = BillingMode.PAY_PER_REQUEST,
        };
        if (withIndexes)
        {
            request.AttributeDefinitions.Add(new("g", ScalarAttributeType.S));
            request.AttributeDefinitions.Add(new("l", ScalarAttributeType.N));
            request.GlobalSecondaryIndexes = [new GlobalSecondaryIndex
            {
                IndexName = "by-g", KeySchema = [new("g", KeyType.HASH)], Projection = new Projection { ProjectionType = ProjectionType.ALL },
            }];
            request.LocalSecondaryIndexes = [new LocalSecondaryIndex
            {
                IndexName = "by-l", KeySchema = [new("pk", KeyType.HASH), new("l", KeyType.RANGE)],
                Projection = new Projection { ProjectionType = ProjectionType.KEYS_ONLY },
            }];
        }
        await DynamoDB.CreateTableAsync(request);
        await Tables.TableSchema.WaitUntilActiveAsync(DynamoDB, name, TimeSpan.FromMinutes(1), CancellationToken.None);
        return name;
    }

    public async Task PutItemsAsync(string table, IEnumerable<Dictionary<string, AttributeValue>> items)
    {
        foreach (var chunk in items.Chunk(25))
        {
            var response = await DynamoDB.BatchWriteItemAsync(new BatchWriteItemRequest
            {
                RequestItems = new() { [table] = chunk.Select(i => new WriteRequest { PutRequest = new PutRequest { Item = i } }).ToList() },
            });
            if (response.UnprocessedItems is { Count: > 0 }) throw new InvalidOperationException("test setup: unprocessed items");
        }
    }

    /// <summary>Every item of a table, keyed by its canonical primary key, as canonical text.</summary>
    public async Task<Dictionary<string, string>> ReadTableAsync(string table)
    {
        var result = new Dictionary<string, string>();
        var request = new ScanRequest { TableName = table, ConsistentRead = true };
        do
        {
            var page = await DynamoDB.ScanAsync(request);
            foreach (var item in page.Items ?? [])
            {
                string key = ItemCanonical.Of(new() { ["pk"] = item["pk"], ["sk"] = item["sk"] });
                Assert.True(result.TryAdd(key, ItemCanonical.Of(item)), $"duplicate key {key}");
            }
            request.ExclusiveStartKey = page.LastEvaluatedKey is { Count: > 0 } k ? k : null;
        }
        while (request.ExclusiveStartKey is not null);
        return result;
    }

    public async Task<bool> TableExistsAsync(string table) =>
        await Tables.TableSchema.TryDescribeAsync(DynamoDB, table, CancellationToken.None) is not null;

    public void Dispose()
    {
        DynamoDB.Dispose();
        S3.Dispose();
    }
}

/// <summary>Records what the engine reports, for assertions.</summary>
internal sealed class RecordingHost : IOperationHost
{
    public List<string> Warnings { get; } = [];
    public void Progress(OperationProgress progress) { }
    public void Verbose(string message) { }
    public void Warning(string message) { lock (Warnings) Warnings.Add(message); }
    public List<string> Confirmations { get; } = [];
    public Task<bool> ConfirmAsync(string target, string action, CancellationToken cancellationToken)
    {
        lock (Confirmations) Confirmations.Add($"{action} on {target}");
        return Task.FromResult(true);
    }

    /// <summary>The "are you sure?" questions asked, and the answer each gets.</summary>
    public List<string> Questions { get; } = [];
    public bool Answer { get; set; } = true;
    public Task<bool> ConfirmDangerAsync(string target, string question, CancellationToken cancellationToken)
    {
        lock (Questions) Questions.Add(question);
        return Task.FromResult(Answer);
    }
}
