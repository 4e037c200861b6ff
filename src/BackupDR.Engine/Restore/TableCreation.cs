using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Format;
using BackupDR.Engine.Tables;

namespace BackupDR.Engine.Restore;

/// <summary>
/// A restore's new table, for every engine that writes items itself: created from the backup's description,
/// encrypted with its KMS key (or the one asked for), waited for until ACTIVE. A key DynamoDB cannot use (deleted, of
/// another account, no grant) does not stop a disaster recovery: the table is created with DynamoDB's own key, and a
/// warning says so.
/// </summary>
internal static class TableCreation
{
    /// <param name="checkExisting">Called when the table turns out to exist (our CreateTable's answer lost and retried, or someone created it since): throws when it cannot be the target.</param>
    public static async Task CreateAsync(IAmazonDynamoDB dynamo, IOperationHost host, TableDescriptionDoc table, string tableName, string? kmsKeyId,
        Action<TableDescription> checkExisting, CancellationToken cancellationToken)
    {
        host.Verbose($"Creating table '{tableName}' from the backup's description.");
        var create = TableSchema.BuildCreateRequest(table, tableName, kmsKeyId);
        try
        {
            try
            {
                await dynamo.CreateTableAsync(create, cancellationToken).ConfigureAwait(false);
            }
            catch (AmazonDynamoDBException e) when (create.SSESpecification is { } sse && IsKeyProblem(e))
            {
                host.Warning($"Table '{tableName}' could not be created with the KMS key {sse.KMSMasterKeyId ?? "(the AWS-managed key)"} ({e.ErrorCode}: {e.Message}); " +
                             "it is created with DynamoDB's own key instead. Grant DynamoDB the key, then change the table's encryption.");
                create.SSESpecification = null;
                await dynamo.CreateTableAsync(create, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (ResourceInUseException)
        {
            if (await TableSchema.TryDescribeAsync(dynamo, tableName, cancellationToken).ConfigureAwait(false) is { } found) checkExisting(found);
        }
        catch (AmazonDynamoDBException e)
        {
            throw new BackupDRException(ErrorIds.TableCreationFailed, ErrorKind.InvalidOperation,
                $"DynamoDB refused to create table '{tableName}' ({e.ErrorCode}): {e.Message}", tableName, e);
        }
        await TableSchema.WaitUntilActiveAsync(dynamo, tableName, TimeSpan.FromMinutes(30), cancellationToken).ConfigureAwait(false);
    }

    private static bool IsKeyProblem(AmazonDynamoDBException e) =>
        e.Message.Contains("KMS", StringComparison.OrdinalIgnoreCase) || e.ErrorCode is "AccessDeniedException" or "KMSAccessDeniedException";
}
