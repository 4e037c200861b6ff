using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Json;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Tests;

/// <summary>
/// The test infrastructure's DynamoDB export control plane (tests/emulators/dynamo-control.js), through the
/// SDK's own client (so its requests and responses have the API's shapes): point-in-time recovery, a full
/// export of a past point, an incremental export of a window, their states and errors; what they write is
/// the layout BackupDR's native-export reader verifies, and restores to the table as it was.
/// </summary>
public sealed class ExportControlPlaneTests(LocalServices services) : IClassFixture<LocalServices>
{
    private IAmazonDynamoDB Dynamo => services.DynamoDB;

    private static string Arn(string table) => $"arn:aws:dynamodb:us-east-1:000000000000:table/{table}";

    private async Task<ExportDescription> WaitAsync(string arn)
    {
        for (int i = 0; i < 200; i++)
        {
            var d = (await Dynamo.DescribeExportAsync(new DescribeExportRequest { ExportArn = arn })).ExportDescription;
            if (d.ExportStatus != ExportStatus.IN_PROGRESS) return d;
            await Task.Delay(50);
        }
        throw new TimeoutException($"{arn} is still IN_PROGRESS");
    }

    private static async Task<DateTime> TickAsync()
    {
        await Task.Delay(20);
        var at = DateTime.UtcNow;
        await Task.Delay(20);
        return at;
    }

    private Task<RestoreResult> RestoreAsync(string uri, string table, DateTimeOffset? pointInTime = null) =>
        RestoreRunner.RunAsync(new RestoreRequest
        {
            Uri = uri, TableName = table, PointInTime = pointInTime, KeySchema = [new KeyAttribute("pk", "S"), new KeyAttribute("sk", "N")],
            CheckpointUri = ForeignFixtures.Folder("bdr-export-cp"),
        }, NullOperationHost.Instance, CancellationToken.None);

    [Fact]
    public async Task Exports_of_a_past_point_and_of_a_window_restore_to_the_table_as_it_was()
    {
        string table = await services.CreateTableAsync();
        string bucket = await services.CreateBucketAsync();
        await services.PutItemsAsync(table, TestItems.Random(950, 200));

        // No PITR: refused, with the API's error.
        var refused = await Assert.ThrowsAsync<PointInTimeRecoveryUnavailableException>(() => Dynamo.ExportTableToPointInTimeAsync(new ExportTableToPointInTimeRequest
        {
            TableArn = Arn(table), S3Bucket = bucket,
        }));
        Assert.Contains(table, refused.Message);
        Assert.Equal(PointInTimeRecoveryStatus.DISABLED,
            (await Dynamo.DescribeContinuousBackupsAsync(new DescribeContinuousBackupsRequest { TableName = table })).ContinuousBackupsDescription.PointInTimeRecoveryDescription.PointInTimeRecoveryStatus);

        var enabled = await Dynamo.UpdateContinuousBackupsAsync(new UpdateContinuousBackupsRequest
        {
            TableName = table, PointInTimeRecoverySpecification = new PointInTimeRecoverySpecification { PointInTimeRecoveryEnabled = true },
        });
        var pitr = enabled.ContinuousBackupsDescription.PointInTimeRecoveryDescription;
        Assert.Equal(PointInTimeRecoveryStatus.ENABLED, pitr.PointInTimeRecoveryStatus);
        Assert.Equal(35, pitr.RecoveryPeriodInDays);
        Assert.NotNull(pitr.EarliestRestorableDateTime);
        var before = await TickAsync();   // PITR on, nothing changed yet

        // Changes after the point: 30 new, 20 updated, 10 deleted.
        var t1State = await services.ReadTableAsync(table);
        var t1 = await TickAsync();
        var all = TestItems.Random(950, 200);
        await services.PutItemsAsync(table, TestItems.Random(951, 30));
        foreach (var item in all.Take(20))
        {
            await Dynamo.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = table, Key = new() { ["pk"] = item["pk"], ["sk"] = item["sk"] },
                UpdateExpression = "SET changed = :c", ExpressionAttributeValues = new() { [":c"] = new AttributeValue { N = "1" } },
            });
        }
        foreach (var item in all.Skip(190)) await Dynamo.DeleteItemAsync(new DeleteItemRequest { TableName = table, Key = new() { ["pk"] = item["pk"], ["sk"] = item["sk"] } });
        await Task.Delay(2100);   // the local endpoint's shortest incremental window is 2 s (AWS's is 15 minutes)
        var t2 = DateTime.UtcNow;
        var t2State = await services.ReadTableAsync(table);

        // A full export of the table as it was at t1.
        var started = (await Dynamo.ExportTableToPointInTimeAsync(new ExportTableToPointInTimeRequest
        {
            TableArn = Arn(table), S3Bucket = bucket, S3Prefix = "exports", ExportTime = t1, ExportFormat = ExportFormat.DYNAMODB_JSON,
        })).ExportDescription;
        Assert.Equal(ExportStatus.IN_PROGRESS, started.ExportStatus);
        Assert.Equal(ExportType.FULL_EXPORT, started.ExportType);
        var full = await WaitAsync(started.ExportArn);
        Assert.Equal(ExportStatus.COMPLETED, full.ExportStatus);
        Assert.Equal(200, full.ItemCount);
        string id = full.ExportArn.Split('/')[^1];
        Assert.Equal($"exports/AWSDynamoDB/{id}/manifest-summary.json", full.ExportManifest);
        var check = await Operations.CheckIntegrityAsync($"s3://{bucket}/exports/AWSDynamoDB/{id}/", IntegrityLevel.Full, new Aws.AwsOptions(), NullOperationHost.Instance, CancellationToken.None);
        Assert.True(check.IsValid, string.Join("; ", check.Problems));
        string atT1 = LocalServices.UniqueName("t1");
        await RestoreAsync($"s3://{bucket}/exports/AWSDynamoDB/{id}/", atT1);
        Assert.Equal(t1State, await services.ReadTableAsync(atT1));

        // An incremental export of (t1, t2]: the chain restores to the table as it is now.
        var window = await WaitAsync((await Dynamo.ExportTableToPointInTimeAsync(new ExportTableToPointInTimeRequest
        {
            TableArn = Arn(table), S3Bucket = bucket, S3Prefix = "exports", ExportType = ExportType.INCREMENTAL_EXPORT,
            IncrementalExportSpecification = new IncrementalExportSpecification { ExportFromTime = t1, ExportToTime = t2, ExportViewType = ExportViewType.NEW_AND_OLD_IMAGES },
        })).ExportDescription.ExportArn);
        Assert.Equal(ExportStatus.COMPLETED, window.ExportStatus);
        Assert.Equal(60, window.ItemCount);   // 30 new + 20 updated + 10 deleted
        string chain = LocalServices.UniqueName("t2");
        var restored = await RestoreAsync($"s3://{bucket}/exports/AWSDynamoDB/", chain);
        Assert.Equal(Format.SourceFormat.NativeExportChain, restored.Format);
        Assert.Equal(t2State, await services.ReadTableAsync(chain));

        // Listing, paged; a missing export; a time before PITR; a window too short; a bucket that is not there.
        var first = await Dynamo.ListExportsAsync(new ListExportsRequest { TableArn = Arn(table), MaxResults = 1 });
        Assert.Single(first.ExportSummaries);
        var second = await Dynamo.ListExportsAsync(new ListExportsRequest { TableArn = Arn(table), MaxResults = 1, NextToken = first.NextToken });
        Assert.NotEqual(first.ExportSummaries[0].ExportArn, second.ExportSummaries[0].ExportArn);
        await Assert.ThrowsAsync<ExportNotFoundException>(() => Dynamo.DescribeExportAsync(new DescribeExportRequest { ExportArn = Arn(table) + "/export/01700000000000-00000000" }));
        await Assert.ThrowsAsync<InvalidExportTimeException>(() => Dynamo.ExportTableToPointInTimeAsync(new ExportTableToPointInTimeRequest
        {
            TableArn = Arn(table), S3Bucket = bucket, ExportTime = pitr.EarliestRestorableDateTime!.Value.AddMinutes(-5),
        }));
        var tooShort = await Assert.ThrowsAsync<AmazonDynamoDBException>(() => Dynamo.ExportTableToPointInTimeAsync(new ExportTableToPointInTimeRequest
        {
            TableArn = Arn(table), S3Bucket = bucket, ExportType = ExportType.INCREMENTAL_EXPORT,
            IncrementalExportSpecification = new IncrementalExportSpecification { ExportFromTime = before, ExportToTime = before.AddMilliseconds(500) },
        }));
        Assert.Equal("ValidationException", tooShort.ErrorCode);
        var nowhere = await WaitAsync((await Dynamo.ExportTableToPointInTimeAsync(new ExportTableToPointInTimeRequest { TableArn = Arn(table), S3Bucket = "no-such-bucket-here" })).ExportDescription.ExportArn);
        Assert.Equal(ExportStatus.FAILED, nowhere.ExportStatus);
        Assert.Equal("S3NoSuchBucket", nowhere.FailureCode);
        await Assert.ThrowsAsync<TableNotFoundException>(() => Dynamo.ExportTableToPointInTimeAsync(new ExportTableToPointInTimeRequest { TableArn = Arn("no-such-table"), S3Bucket = bucket }));
    }

    private async Task<ImportTableDescription> WaitImportAsync(string arn)
    {
        for (int i = 0; i < 200; i++)
        {
            var d = (await Dynamo.DescribeImportAsync(new DescribeImportRequest { ImportArn = arn })).ImportTableDescription;
            if (d.ImportStatus != ImportStatus.IN_PROGRESS) return d;
            await Task.Delay(50);
        }
        throw new TimeoutException($"{arn} is still IN_PROGRESS");
    }

    private static TableCreationParameters Keys(string table) => new()
    {
        TableName = table, BillingMode = BillingMode.PAY_PER_REQUEST,
        KeySchema = [new("pk", KeyType.HASH), new("sk", KeyType.RANGE)],
        AttributeDefinitions = [new("pk", ScalarAttributeType.S), new("sk", ScalarAttributeType.N)],
    };

    /// <summary>ImportTable reads a BackupDR backup's data files unchanged (the format is Import-compatible): the new table equals the source; its states, counts and errors.</summary>
    [Fact]
    public async Task Import_reads_a_BackupDR_backups_data_files_into_a_new_table_equal_to_the_source()
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(960, 700));
        string bucket = await services.CreateBucketAsync();
        var results = new List<Backup.BackupResult>();
        await Backup.BackupRunner.RunAsync(new Backup.BackupRequest { TableNames = [table], Target = Storage.BackupLocation.ForBucket(bucket, "b"), MaxDataFileBytes = 32 * 1024 },
            NullOperationHost.Instance, results.Add, CancellationToken.None);
        string dataPrefix = $"b/{table}/{results[0].BackupId}/data/";

        string target = LocalServices.UniqueName("imported");
        var request = new ImportTableRequest
        {
            ClientToken = Guid.NewGuid().ToString(), S3BucketSource = new S3BucketSource { S3Bucket = bucket, S3KeyPrefix = dataPrefix },
            InputFormat = InputFormat.DYNAMODB_JSON, InputCompressionType = InputCompressionType.GZIP, TableCreationParameters = Keys(target),
        };
        var started = (await Dynamo.ImportTableAsync(request)).ImportTableDescription;
        Assert.Equal(ImportStatus.IN_PROGRESS, started.ImportStatus);
        Assert.EndsWith($"table/{target}", started.TableArn);
        var done = await WaitImportAsync(started.ImportArn);
        Assert.Equal(ImportStatus.COMPLETED, done.ImportStatus);
        Assert.Equal(700, done.ProcessedItemCount);
        Assert.Equal(700, done.ImportedItemCount);
        Assert.Equal(0, done.ErrorCount);
        Assert.Equal(await services.ReadTableAsync(table), await services.ReadTableAsync(target));

        // The same token again: the same import; with other parameters: a conflict; a table that exists: in use.
        Assert.Equal(started.ImportArn, (await Dynamo.ImportTableAsync(request)).ImportTableDescription.ImportArn);
        request.InputCompressionType = InputCompressionType.NONE;
        await Assert.ThrowsAsync<ImportConflictException>(() => Dynamo.ImportTableAsync(request));
        await Assert.ThrowsAsync<ResourceInUseException>(() => Dynamo.ImportTableAsync(new ImportTableRequest
        {
            S3BucketSource = new S3BucketSource { S3Bucket = bucket, S3KeyPrefix = dataPrefix }, InputFormat = InputFormat.DYNAMODB_JSON,
            InputCompressionType = InputCompressionType.GZIP, TableCreationParameters = Keys(table),
        }));
        await Assert.ThrowsAsync<ImportNotFoundException>(() => Dynamo.DescribeImportAsync(new DescribeImportRequest { ImportArn = started.ImportArn + "0" }));

        // Lines that are not items (not JSON, no key, a key of the wrong type) are counted as errors, the rest imported.
        await services.S3.PutObjectAsync(new Amazon.S3.Model.PutObjectRequest
        {
            BucketName = bucket, Key = "bad/lines.json",
            ContentBody = "{\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1\"}}}\nnot json\n{\"Item\":{\"pk\":{\"S\":\"b\"}}}\n{\"Item\":{\"pk\":{\"N\":\"1\"},\"sk\":{\"N\":\"2\"}}}\n",
        });
        var partial = await WaitImportAsync((await Dynamo.ImportTableAsync(new ImportTableRequest
        {
            S3BucketSource = new S3BucketSource { S3Bucket = bucket, S3KeyPrefix = "bad/" }, InputFormat = InputFormat.DYNAMODB_JSON,
            InputCompressionType = InputCompressionType.NONE, TableCreationParameters = Keys(LocalServices.UniqueName("partial")),
        })).ImportTableDescription.ImportArn);
        Assert.Equal(ImportStatus.COMPLETED, partial.ImportStatus);
        Assert.Equal(4, partial.ProcessedItemCount);
        Assert.Equal(1, partial.ImportedItemCount);
        Assert.Equal(3, partial.ErrorCount);

        // A bucket that is not there: FAILED, with the S3 error's code.
        var nowhere = await WaitImportAsync((await Dynamo.ImportTableAsync(new ImportTableRequest
        {
            S3BucketSource = new S3BucketSource { S3Bucket = "no-such-bucket-here" }, InputFormat = InputFormat.DYNAMODB_JSON,
            TableCreationParameters = Keys(LocalServices.UniqueName("nowhere")),
        })).ImportTableDescription.ImportArn);
        Assert.Equal(ImportStatus.FAILED, nowhere.ImportStatus);
        Assert.Equal("S3NoSuchBucket", nowhere.FailureCode);
    }
}
