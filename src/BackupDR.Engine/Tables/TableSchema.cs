using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Format;

namespace BackupDR.Engine.Tables;

/// <summary>Reads a table's full description into table.json, and re-creates a table from it.</summary>
public static class TableSchema
{
    /// <summary>DynamoDB's rule for table names: 3 to 255 of A-Z a-z 0-9 _ - . ; refused before anything is sent or written.</summary>
    public static void ValidateName(string tableName)
    {
        if (!IsValidName(tableName))
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"'{tableName}' is not a valid DynamoDB table name: it needs 3 to 255 characters, each a letter, a digit, '_', '-' or '.'.", tableName);
        }
    }

    public static bool IsValidName(string tableName) => tableName.Length is >= 3 and <= 255
        && tableName.All(c => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_' or '-' or '.');

    /// <summary>DescribeTable; TableNotFound when the table does not exist.</summary>
    public static async Task<TableDescription> DescribeAsync(IAmazonDynamoDB dynamo, string tableName, CancellationToken cancellationToken)
    {
        try
        {
            return (await dynamo.DescribeTableAsync(new DescribeTableRequest { TableName = tableName }, cancellationToken).ConfigureAwait(false)).Table;
        }
        catch (ResourceNotFoundException e)
        {
            throw new BackupDRException(ErrorIds.TableNotFound, ErrorKind.ObjectNotFound,
                $"The DynamoDB table '{tableName}' does not exist in {RegionOf(dynamo)}. Check the name and {Say.Region}.", tableName, e);
        }
    }

    /// <summary>Null when the table does not exist.</summary>
    public static async Task<TableDescription?> TryDescribeAsync(IAmazonDynamoDB dynamo, string tableName, CancellationToken cancellationToken)
    {
        try
        {
            return (await dynamo.DescribeTableAsync(new DescribeTableRequest { TableName = tableName }, cancellationToken).ConfigureAwait(false)).Table;
        }
        catch (ResourceNotFoundException)
        {
            return null;
        }
    }

    private static string RegionOf(IAmazonDynamoDB dynamo) =>
        dynamo.Config.RegionEndpoint?.SystemName ?? dynamo.Config.ServiceURL ?? "the configured region";

    /// <summary>The description plus tags and TTL. Tags/TTL that cannot be read produce a warning, not a failure.</summary>
    public static async Task<TableDescriptionDoc> CaptureAsync(IAmazonDynamoDB dynamo, TableDescription table, IOperationHost host, CancellationToken cancellationToken)
    {
        var doc = new TableDescriptionDoc
        {
            TableName = table.TableName,
            TableArn = table.TableArn,
            KeySchema = Keys(table.KeySchema),
            AttributeDefinitions = (table.AttributeDefinitions ?? [])
                .Select(a => new AttributeDefinitionDoc { AttributeName = a.AttributeName, AttributeType = a.AttributeType.Value }).ToList(),
            BillingMode = table.BillingModeSummary?.BillingMode?.Value
                ?? ((table.ProvisionedThroughput?.ReadCapacityUnits ?? 0) > 0 ? "PROVISIONED" : "PAY_PER_REQUEST"),
            ProvisionedThroughput = Throughput(table.ProvisionedThroughput?.ReadCapacityUnits, table.ProvisionedThroughput?.WriteCapacityUnits),
            GlobalSecondaryIndexes = (table.GlobalSecondaryIndexes ?? []).Select(g => new IndexDoc
            {
                IndexName = g.IndexName,
                KeySchema = Keys(g.KeySchema),
                Projection = Projection(g.Projection),
                ProvisionedThroughput = Throughput(g.ProvisionedThroughput?.ReadCapacityUnits, g.ProvisionedThroughput?.WriteCapacityUnits),
            }).ToList(),
            LocalSecondaryIndexes = (table.LocalSecondaryIndexes ?? []).Select(l => new IndexDoc
            {
                IndexName = l.IndexName,
                KeySchema = Keys(l.KeySchema),
                Projection = Projection(l.Projection),
            }).ToList(),
            StreamSpecification = table.StreamSpecification is { } s
                ? new StreamDoc { StreamEnabled = s.StreamEnabled ?? false, StreamViewType = s.StreamViewType?.Value }
                : null,
            SseDescription = table.SSEDescription is { } sse
                ? new SseDoc { Status = sse.Status?.Value, SseType = sse.SSEType?.Value, KmsMasterKeyArn = sse.KMSMasterKeyArn }
                : null,
            TableClass = table.TableClassSummary?.TableClass?.Value,
            DeletionProtectionEnabled = table.DeletionProtectionEnabled,
            ItemCountAtBackup = table.ItemCount,
        };

        try
        {
            var ttl = await dynamo.DescribeTimeToLiveAsync(new DescribeTimeToLiveRequest { TableName = table.TableName }, cancellationToken).ConfigureAwait(false);
            if (ttl.TimeToLiveDescription is { } t)
            {
                doc.TimeToLive = new TtlDoc { Status = t.TimeToLiveStatus?.Value, AttributeName = t.AttributeName };
            }
        }
        catch (AmazonDynamoDBException e)
        {
            host.Warning($"Could not read the TTL setting of '{table.TableName}' ({e.ErrorCode}); the backup will not record it.");
        }

        try
        {
            var backups = await dynamo.DescribeContinuousBackupsAsync(new DescribeContinuousBackupsRequest { TableName = table.TableName }, cancellationToken).ConfigureAwait(false);
            if (backups.ContinuousBackupsDescription?.PointInTimeRecoveryDescription is { } pitr)
            {
                doc.PointInTimeRecovery = new PitrDoc { Status = pitr.PointInTimeRecoveryStatus?.Value, RecoveryPeriodInDays = pitr.RecoveryPeriodInDays };
            }
        }
        catch (AmazonDynamoDBException e)
        {
            host.Warning($"Could not read the point-in-time recovery setting of '{table.TableName}' ({e.ErrorCode}); the backup will not record it.");
        }

        try
        {
            var request = new ListTagsOfResourceRequest { ResourceArn = table.TableArn };
            do
            {
                var page = await dynamo.ListTagsOfResourceAsync(request, cancellationToken).ConfigureAwait(false);
                foreach (var tag in page.Tags ?? []) doc.Tags[tag.Key] = tag.Value;
                request.NextToken = page.NextToken;
            }
            while (!string.IsNullOrEmpty(request.NextToken));
        }
        catch (AmazonDynamoDBException e)
        {
            host.Warning($"Could not read the tags of '{table.TableName}' ({e.ErrorCode}); the backup will not record them.");
        }
        return doc;
    }

    private static List<KeyElement> Keys(List<KeySchemaElement>? keys) =>
        (keys ?? []).Select(k => new KeyElement { AttributeName = k.AttributeName, KeyType = k.KeyType.Value }).ToList();

    private static ProjectionDoc Projection(Projection? p) => new()
    {
        ProjectionType = p?.ProjectionType?.Value ?? "ALL",
        NonKeyAttributes = p?.NonKeyAttributes is { Count: > 0 } n ? [.. n] : null,
    };

    private static ThroughputDoc? Throughput(long? read, long? write) =>
        (read ?? 0) > 0 || (write ?? 0) > 0 ? new ThroughputDoc { ReadCapacityUnits = read ?? 0, WriteCapacityUnits = write ?? 0 } : null;

    /// <summary>
    /// The CreateTableRequest that re-creates the recorded table under <paramref name="tableName"/>,
    /// encrypted as it was: its customer-managed (or AWS-managed) KMS key, or <paramref name="kmsKeyId"/>.
    /// </summary>
    public static CreateTableRequest BuildCreateRequest(TableDescriptionDoc doc, string tableName, string? kmsKeyId = null)
    {
        bool provisioned = doc.BillingMode == "PROVISIONED";
        var request = new CreateTableRequest
        {
            TableName = tableName,
            KeySchema = doc.KeySchema.Select(ToSdk).ToList(),
            AttributeDefinitions = doc.AttributeDefinitions
                .Select(a => new AttributeDefinition(a.AttributeName, new ScalarAttributeType(a.AttributeType))).ToList(),
            BillingMode = provisioned ? BillingMode.PROVISIONED : BillingMode.PAY_PER_REQUEST,
        };
        if (provisioned) request.ProvisionedThroughput = ToSdk(doc.ProvisionedThroughput);
        if (doc.GlobalSecondaryIndexes.Count > 0)
        {
            request.GlobalSecondaryIndexes = doc.GlobalSecondaryIndexes.Select(g => new GlobalSecondaryIndex
            {
                IndexName = g.IndexName,
                KeySchema = g.KeySchema.Select(ToSdk).ToList(),
                Projection = ToSdk(g.Projection),
                ProvisionedThroughput = provisioned ? ToSdk(g.ProvisionedThroughput) : null,
            }).ToList();
        }
        if (doc.LocalSecondaryIndexes.Count > 0)
        {
            request.LocalSecondaryIndexes = doc.LocalSecondaryIndexes.Select(l => new LocalSecondaryIndex
            {
                IndexName = l.IndexName,
                KeySchema = l.KeySchema.Select(ToSdk).ToList(),
                Projection = ToSdk(l.Projection),
            }).ToList();
        }
        if (doc.StreamSpecification is { StreamEnabled: true } stream)
        {
            request.StreamSpecification = new StreamSpecification { StreamEnabled = true, StreamViewType = new StreamViewType(stream.StreamViewType) };
        }
        if (doc.TableClass is { } tableClass && tableClass != "STANDARD") request.TableClass = new TableClass(tableClass);
        if (doc.DeletionProtectionEnabled == true) request.DeletionProtectionEnabled = true;
        if (doc.Tags.Count > 0) request.Tags = doc.Tags.Select(t => new Tag { Key = t.Key, Value = t.Value }).ToList();
        bool usedKms = doc.SseDescription is { SseType: "KMS", Status: "ENABLED" or "ENABLING" or "UPDATING" };
        if (kmsKeyId is not null || usedKms)
        {
            request.SSESpecification = new SSESpecification { Enabled = true, SSEType = SSEType.KMS, KMSMasterKeyId = kmsKeyId ?? doc.SseDescription!.KmsMasterKeyArn };
        }
        return request;
    }

    private static KeySchemaElement ToSdk(KeyElement k) => new(k.AttributeName, new KeyType(k.KeyType));

    private static Projection ToSdk(ProjectionDoc p) => new()
    {
        ProjectionType = new ProjectionType(p.ProjectionType),
        NonKeyAttributes = p.NonKeyAttributes is { Count: > 0 } n ? [.. n] : null,
    };

    private static ProvisionedThroughput ToSdk(ThroughputDoc? t) => new()
    {
        ReadCapacityUnits = Math.Max(1, t?.ReadCapacityUnits ?? 5),
        WriteCapacityUnits = Math.Max(1, t?.WriteCapacityUnits ?? 5),
    };

    /// <summary>
    /// Null when the live table's primary key (names, key types and attribute types) matches the
    /// backup's; otherwise a sentence describing the difference.
    /// </summary>
    public static string? DescribeKeyMismatch(TableDescriptionDoc backup, TableDescription live)
    {
        string Describe(IEnumerable<(string Name, string KeyType, string? Type)> keys) =>
            string.Join(", ", keys.Select(k => $"{k.Name} ({k.KeyType}, {k.Type ?? "?"})"));

        var expected = backup.KeySchema
            .Select(k => (k.AttributeName, k.KeyType, backup.AttributeDefinitions.FirstOrDefault(a => a.AttributeName == k.AttributeName)?.AttributeType))
            .ToList();
        var actual = (live.KeySchema ?? [])
            .Select(k => (k.AttributeName, k.KeyType.Value, live.AttributeDefinitions?.FirstOrDefault(a => a.AttributeName == k.AttributeName)?.AttributeType?.Value))
            .ToList();
        return expected.SequenceEqual(actual)
            ? null
            : $"the backup's key is [{Describe(expected)}] but table '{live.TableName}' has [{Describe(actual)}]";
    }

    /// <summary>Every table name in the account and region (for argument completion).</summary>
    public static async Task<List<string>> ListTableNamesAsync(Aws.AwsOptions options, CancellationToken cancellationToken)
    {
        using var dynamo = new Aws.AwsClientFactory(options).CreateDynamoDB();
        var names = new List<string>();
        var request = new ListTablesRequest();
        do
        {
            var page = await dynamo.ListTablesAsync(request, cancellationToken).ConfigureAwait(false);
            names.AddRange(page.TableNames ?? []);
            request.ExclusiveStartTableName = page.LastEvaluatedTableName;
        }
        while (!string.IsNullOrEmpty(request.ExclusiveStartTableName));
        return names;
    }

    /// <summary>Waits until the table and its indexes are ACTIVE.</summary>
    public static async Task WaitUntilActiveAsync(IAmazonDynamoDB dynamo, string tableName, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        var delay = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            var table = await TryDescribeAsync(dynamo, tableName, cancellationToken).ConfigureAwait(false);
            if (table is not null && table.TableStatus == TableStatus.ACTIVE
                && (table.GlobalSecondaryIndexes ?? []).All(g => g.IndexStatus == IndexStatus.ACTIVE))
            {
                return;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new BackupDRException(ErrorIds.TableCreationFailed, ErrorKind.InvalidOperation,
                    $"Table '{tableName}' did not become ACTIVE within {timeout.TotalMinutes:0} minutes (status {table?.TableStatus?.Value ?? "missing"}).", tableName);
            }
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 5000));
        }
    }
}
