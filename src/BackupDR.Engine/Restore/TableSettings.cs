using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Format;

namespace BackupDR.Engine.Restore;

/// <summary>
/// What CreateTable cannot set, put back on a table a restore created: time to live and point-in-time
/// recovery, as table.json recorded them. A setting DynamoDB refuses (permissions, a region or an
/// emulator without it) is a warning naming it: the items are what a restore must not fail on.
/// </summary>
internal sealed class TableSettings(IAmazonDynamoDB dynamo, IOperationHost host)
{
    public async Task ApplyAsync(TableDescriptionDoc recorded, string tableName, CancellationToken cancellationToken)
    {
        if (recorded.TimeToLive is { Status: "ENABLED" or "ENABLING", AttributeName: { Length: > 0 } attribute })
        {
            await TryAsync("time to live", $"for attribute '{attribute}'", tableName, () => dynamo.UpdateTimeToLiveAsync(new UpdateTimeToLiveRequest
            {
                TableName = tableName,
                TimeToLiveSpecification = new TimeToLiveSpecification { Enabled = true, AttributeName = attribute },
            }, cancellationToken)).ConfigureAwait(false);
        }
        if (recorded.PointInTimeRecovery is { Status: "ENABLED" } pitr)
        {
            await TryAsync("point-in-time recovery", pitr.RecoveryPeriodInDays is int days ? $"({days} days)" : "", tableName, () => dynamo.UpdateContinuousBackupsAsync(new UpdateContinuousBackupsRequest
            {
                TableName = tableName,
                PointInTimeRecoverySpecification = new PointInTimeRecoverySpecification
                {
                    PointInTimeRecoveryEnabled = true,
                    RecoveryPeriodInDays = pitr.RecoveryPeriodInDays,
                },
            }, cancellationToken)).ConfigureAwait(false);
        }
    }

    /// <summary>After ImportTable, which creates a table with keys, indexes, billing and encryption only: its stream, class, deletion protection and tags too.</summary>
    public async Task ApplyAfterImportAsync(TableDescriptionDoc recorded, string tableName, CancellationToken cancellationToken)
    {
        if (recorded.StreamSpecification is { StreamEnabled: true } stream)
        {
            await TryAsync("a stream", $"({stream.StreamViewType})", tableName, () => dynamo.UpdateTableAsync(new UpdateTableRequest
            {
                TableName = tableName, StreamSpecification = new StreamSpecification { StreamEnabled = true, StreamViewType = new StreamViewType(stream.StreamViewType) },
            }, cancellationToken)).ConfigureAwait(false);
        }
        if (recorded.TableClass is { } tableClass && tableClass != "STANDARD")
        {
            await TryAsync("its table class", tableClass, tableName, () => dynamo.UpdateTableAsync(new UpdateTableRequest { TableName = tableName, TableClass = new TableClass(tableClass) }, cancellationToken)).ConfigureAwait(false);
        }
        if (recorded.DeletionProtectionEnabled == true)
        {
            await TryAsync("deletion protection", "", tableName, () => dynamo.UpdateTableAsync(new UpdateTableRequest { TableName = tableName, DeletionProtectionEnabled = true }, cancellationToken)).ConfigureAwait(false);
        }
        if (recorded.Tags.Count > 0)
        {
            var arn = (await Tables.TableSchema.DescribeAsync(dynamo, tableName, cancellationToken).ConfigureAwait(false)).TableArn;
            await TryAsync("its tags", $"({recorded.Tags.Count})", tableName, () => dynamo.TagResourceAsync(new TagResourceRequest
            {
                ResourceArn = arn, Tags = recorded.Tags.Select(t => new Tag { Key = t.Key, Value = t.Value }).ToList(),
            }, cancellationToken)).ConfigureAwait(false);
        }
        await ApplyAsync(recorded, tableName, cancellationToken).ConfigureAwait(false);
    }

    private async Task TryAsync(string setting, string detail, string tableName, Func<Task> apply)
    {
        try
        {
            await apply().ConfigureAwait(false);
            host.Verbose($"Turned {setting} on {detail} for '{tableName}', as the backed-up table had it.".Replace("  ", " ", StringComparison.Ordinal));
        }
        catch (AmazonDynamoDBException e)
        {
            host.Warning($"The backed-up table had {setting} turned on {detail}, but it could not be turned on for '{tableName}' ({e.ErrorCode}: {e.Message}). Turn it on yourself.".Replace("  ", " ", StringComparison.Ordinal));
        }
    }
}
