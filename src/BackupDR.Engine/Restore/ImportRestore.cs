using System.Security.Cryptography;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Tables;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Restore;

/// <summary>
/// A restore into a new table by DynamoDB's Import from S3 (docs/restore.md): the backup is verified in full
/// first, as by any restore; ImportTable then creates the table (keys, global indexes, billing, encryption from
/// table.json) and reads the backup's data files unchanged (the format is Import-compatible); the rest of
/// table.json is put back after. The import's own figures are the restore's: every item of the backup imported
/// and no error, or the restore fails, naming the counts.
/// </summary>
internal sealed class ImportRestore(IAmazonDynamoDB dynamo, IOperationHost host)
{
    public async Task<RestoreResult> RunAsync(BackupFolder folder, RestoreRequest request, CancellationToken ct)
    {
        var start = DateTimeOffset.UtcNow;
        static BackupDRException Invalid(string message, string? target) => new(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, message, target);
        if (folder.Store is not S3BackupStore s3) throw Invalid($"DynamoDB's import reads from S3 only: {folder.Uri} is a folder. Restore it with BackupDR's writes (the default engine).", folder.Uri);
        if (request.Mode is not (null or RestoreMode.New) || request.Resume || request.Revert || request.PointInTime is not null || request.Force)
        {
            throw Invalid($"DynamoDB's import creates a new table from one backup: {Say.Mode("Upsert")}, MissingOnly, Exact, {Say.Resume}, {Say.Revert}, {Say.PointInTime} and {Say.Force} are the default engine's.", request.TableName);
        }
        if (await TableSchema.TryDescribeAsync(dynamo, request.TableName, ct).ConfigureAwait(false) is not null)
        {
            throw new BackupDRException(ErrorIds.TargetTableNotEmpty, ErrorKind.ResourceExists,
                $"Table '{request.TableName}' exists, and DynamoDB's import only creates tables. Name a new table, or restore into this one with the default engine.", request.TableName);
        }

        // The backup, in full, before anything is created.
        host.Verbose($"Verifying {folder.Uri} (every file's size, checksums and items) before importing it.");
        var (report, loaded) = await new IntegrityChecker(folder, host).CheckAsync(IntegrityLevel.Full, ct).ConfigureAwait(false);
        if (loaded is null || !report.IsValid)
        {
            throw new BackupDRException(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData,
                $"The backup at {folder.Uri} is not valid ({string.Join("; ", report.Problems.Take(5))}): nothing was imported.", folder.Uri);
        }
        if (!report.IsCommitted) throw new BackupDRException(ErrorIds.BackupNotCommitted, ErrorKind.InvalidData, $"{folder.Uri} has no commit marker (the backup never finished): nothing was imported.", folder.Uri);
        if (loaded.Format != SourceFormat.BackupDR) throw Invalid($"DynamoDB's import restores BackupDR backups; {folder.Uri} is a {loaded.Format} source. Restore it with the default engine.", folder.Uri);
        var table = loaded.Table;
        if (table.LocalSecondaryIndexes.Count > 0)
        {
            throw Invalid($"The backed-up table has local secondary indexes ({string.Join(", ", table.LocalSecondaryIndexes.Select(i => i.IndexName))}), which DynamoDB's import cannot create. Restore it with the default engine.", request.TableName);
        }
        // Import reads every object under a prefix: the data files' folder, which (the check said) holds nothing else.
        string dataFolder = loaded.Files.Count == 0 ? BackupFormat.DataFolder : loaded.Files[0].DataFile[..(loaded.Files[0].DataFile.LastIndexOf('/') + 1)];
        if (loaded.Files.Any(f => !f.DataFile.StartsWith(dataFolder, StringComparison.Ordinal) || f.DataFile.IndexOf('/', dataFolder.Length) >= 0))
        {
            throw Invalid($"The data files of {folder.Uri} are not in one folder: DynamoDB's import cannot read only them. Restore it with the default engine.", folder.Uri);
        }
        if (!await host.ConfirmAsync($"table '{request.TableName}'", $"Import {loaded.Summary.ItemCount:N0} items of backup {loaded.Summary.BackupId} into the new table '{request.TableName}' (DynamoDB's Import from S3)", ct).ConfigureAwait(false))
        {
            throw new BackupDRException(ErrorIds.NotConfirmed, ErrorKind.OperationStopped, "The import was not confirmed: nothing was created.", request.TableName);
        }

        var create = TableSchema.BuildCreateRequest(table, request.TableName, request.KmsKeyId);
        var parameters = new TableCreationParameters
        {
            TableName = request.TableName, KeySchema = create.KeySchema, AttributeDefinitions = create.AttributeDefinitions, BillingMode = create.BillingMode,
            ProvisionedThroughput = create.ProvisionedThroughput, GlobalSecondaryIndexes = create.GlobalSecondaryIndexes, SSESpecification = create.SSESpecification,
        };
        // The same backup into the same table is the same import: a retried call starts no second one.
        string token = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{folder.Uri}\n{request.TableName}\n{loaded.SummarySha256}")))[..32];
        var import = (await dynamo.ImportTableAsync(new ImportTableRequest
        {
            ClientToken = token, InputFormat = InputFormat.DYNAMODB_JSON, InputCompressionType = InputCompressionType.GZIP, TableCreationParameters = parameters,
            S3BucketSource = new S3BucketSource { S3Bucket = s3.Bucket, S3KeyPrefix = folder.Key(dataFolder), S3BucketOwner = request.SourceAws?.S3.ExpectedBucketOwner ?? request.Aws.S3.ExpectedBucketOwner },
        }, ct).ConfigureAwait(false)).ImportTableDescription;
        host.Verbose($"Importing s3://{s3.Bucket}/{folder.Key(dataFolder)} into '{request.TableName}': {import.ImportArn}.");
        import = await WaitAsync(request.TableName, import, ct).ConfigureAwait(false);
        long imported = import.ImportedItemCount ?? 0, errors = import.ErrorCount ?? 0;
        if (imported != loaded.Summary.ItemCount || errors > 0)
        {
            throw new BackupDRException(ErrorIds.ItemsNotWritten, ErrorKind.WriteError,
                $"DynamoDB's import {import.ImportArn} wrote {imported:N0} of the backup's {loaded.Summary.ItemCount:N0} items into '{request.TableName}' with {errors:N0} error(s) " +
                $"(its log group {import.CloudWatchLogGroupArn} names them). The table is incomplete: remove it and restore again, or restore with the default engine.", request.TableName);
        }
        await TableSchema.WaitUntilActiveAsync(dynamo, request.TableName, TimeSpan.FromMinutes(30), ct).ConfigureAwait(false);
        await new TableSettings(dynamo, host).ApplyAfterImportAsync(table, request.TableName, ct).ConfigureAwait(false);
        return new RestoreResult
        {
            TableName = request.TableName, SourceUri = folder.Uri, BackupUri = loaded.Folder.Uri, BackupId = loaded.Summary.BackupId, SourceTableName = loaded.Summary.TableName, PointInTime = loaded.PointInTime, SummarySha256 = loaded.SummarySha256,
            Format = loaded.Format, Mode = RestoreMode.New, ItemsWritten = imported, TableCreated = true, StartTime = start, EndTime = DateTimeOffset.UtcNow,
            Engine = RestoreEngine.Import, ImportArn = import.ImportArn,
        };
    }

    private async Task<ImportTableDescription> WaitAsync(string table, ImportTableDescription import, CancellationToken ct)
    {
        import = await Aws.ControlPlanePoller.WaitAsync(import, i => i.ImportStatus == ImportStatus.IN_PROGRESS,
            async (i, token) => (await dynamo.DescribeImportAsync(new DescribeImportRequest { ImportArn = i.ImportArn }, token).ConfigureAwait(false)).ImportTableDescription,
            host, 7, $"Importing into table {table} (DynamoDB)", (i, elapsed) => $"{i.ProcessedItemCount ?? 0:N0} items read, {elapsed:hh\\:mm\\:ss}",
            $"Stopped waiting for DynamoDB's import {import.ImportArn}, which goes on; check it with DescribeImport before using table '{table}'.", table, ct).ConfigureAwait(false);
        if (import.ImportStatus != ImportStatus.COMPLETED)
        {
            throw new BackupDRException(ErrorIds.ImportFailed, ErrorKind.InvalidOperation,
                $"DynamoDB's import {import.ImportArn} into '{table}' {import.ImportStatus?.Value ?? "ended"}: {import.FailureCode} {import.FailureMessage}", table);
        }
        return import;
    }
}
