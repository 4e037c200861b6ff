using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Tests;

/// <summary>Test-BackupIntegrity -Level Live: a backup compared item by item with a table.</summary>
public sealed class LiveComparisonTests(LocalServices services) : IClassFixture<LocalServices>
{
    private async Task<(string Table, string Uri)> BackedUpTableAsync(int count, int seed)
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(seed, count));
        string bucket = await services.CreateBucketAsync();
        var results = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [table], Target = BackupLocation.ForBucket(bucket, "live"), Segments = 3, MaxDataFileBytes = 32 * 1024 },
            NullOperationHost.Instance, results.Add, CancellationToken.None);
        return (table, results[0].Uri);
    }

    private static Task<IntegrityReport> LiveAsync(string uri, string table) =>
        Operations.CheckIntegrityAsync(uri, IntegrityLevel.Live, new AwsOptions(), NullOperationHost.Instance, CancellationToken.None, table);

    [Fact]
    public async Task A_table_equal_to_its_backup_passes_and_every_difference_is_counted_and_named()
    {
        var (table, uri) = await BackedUpTableAsync(300, 401);

        var same = await LiveAsync(uri, table);
        Assert.True(same.IsValid, string.Join("; ", same.Problems));
        Assert.Equal(300, same.ItemsVerified);
        Assert.NotNull(same.Live);
        Assert.Equal((300, 300, 0, 0, 0), (same.Live!.BackupItems, same.Live.TableItems, same.Live.Missing, same.Live.Extra, same.Live.Different));

        var items = (await services.DynamoDB.ScanAsync(new ScanRequest { TableName = table })).Items;
        foreach (var item in items.Take(3))
        {
            await services.DynamoDB.DeleteItemAsync(new DeleteItemRequest { TableName = table, Key = new() { ["pk"] = item["pk"], ["sk"] = item["sk"] } });
        }
        foreach (var item in items.Skip(3).Take(4))
        {
            item["changed"] = new AttributeValue { BOOL = true };
            await services.DynamoDB.PutItemAsync(new PutItemRequest { TableName = table, Item = item });
        }
        await services.PutItemsAsync(table, [
            new() { ["pk"] = new() { S = "new-1" }, ["sk"] = new() { N = "1" } },
            new() { ["pk"] = new() { S = "new-2" }, ["sk"] = new() { N = "2" } }]);

        var drifted = await LiveAsync(uri, table);
        Assert.False(drifted.IsValid);
        Assert.True(drifted.OnlyTableDiffers);
        Assert.Equal((300, 299, 3, 2, 4), (drifted.Live!.BackupItems, drifted.Live.TableItems, drifted.Live.Missing, drifted.Live.Extra, drifted.Live.Different));
        Assert.Equal(3, drifted.Live.MissingKeys.Count);
        Assert.Contains(drifted.Live.ExtraKeys, k => k.Contains("\"new-1\"", StringComparison.Ordinal));
        Assert.Equal([ProblemCodes.TableItemMissing, ProblemCodes.TableItemExtra, ProblemCodes.TableItemDifferent], drifted.Problems.Select(p => p.Code));
        string deletedPk = items[0]["pk"].S;
        Assert.Contains(drifted.Problems, p => p.Message.Contains(deletedPk, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Live_refuses_a_missing_table_a_different_key_and_a_missing_table_name()
    {
        var (_, uri) = await BackedUpTableAsync(10, 402);
        var missing = await Assert.ThrowsAsync<BackupDRException>(() => LiveAsync(uri, "no-such-table-" + Guid.NewGuid().ToString("N")[..6]));
        Assert.Equal(ErrorIds.TableNotFound, missing.ErrorId);

        string other = LocalServices.UniqueName("otherkey");
        await services.DynamoDB.CreateTableAsync(new CreateTableRequest
        {
            TableName = other, KeySchema = [new("id", KeyType.HASH)], AttributeDefinitions = [new("id", ScalarAttributeType.S)], BillingMode = BillingMode.PAY_PER_REQUEST,
        });
        await Tables.TableSchema.WaitUntilActiveAsync(services.DynamoDB, other, TimeSpan.FromMinutes(1), CancellationToken.None);
        var mismatch = await Assert.ThrowsAsync<BackupDRException>(() => LiveAsync(uri, other));
        Assert.Equal(ErrorIds.KeySchemaMismatch, mismatch.ErrorId);

        var noName = await Assert.ThrowsAsync<BackupDRException>(() => Operations.CheckIntegrityAsync(uri, IntegrityLevel.Live, new AwsOptions(), NullOperationHost.Instance, CancellationToken.None));
        Assert.Equal(ErrorIds.InvalidArgument, noName.ErrorId);
        var wrongLevel = await Assert.ThrowsAsync<BackupDRException>(() => Operations.CheckIntegrityAsync(uri, IntegrityLevel.Full, new AwsOptions(), NullOperationHost.Instance, CancellationToken.None, other));
        Assert.Equal(ErrorIds.InvalidArgument, wrongLevel.ErrorId);
    }
}
