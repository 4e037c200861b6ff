using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Tables;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Backup;

/// <summary>
/// A backup made by DynamoDB's Export to S3 (docs/format.md §13): the export is written into the backup's
/// own folder, waited for, verified by its own rules (its manifests, every data file's MD5, the counts, every
/// item's grammar) while each data file's SHA-256 and sizes are measured, and then wrapped — table.json,
/// BackupDR's manifests naming the export's data files, and the commit marker last — so every reader of a
/// BackupDR backup reads this one. Until the marker, the backup is incomplete.
/// </summary>
internal sealed class ExportBackup(IAmazonDynamoDB dynamo, BackupFolder target, IOperationHost host)
{
    public async Task<BackupResult> RunAsync(TableDescription table, BackupRequest request, BackupStart started, BackupFolder folder, CancellationToken ct)
    {
        var (export, baseId) = await StartAsync(table, request, started, folder, ct).ConfigureAwait(false);
        if (request.DetachExport)
        {
            // The export outlives this run: its completion (or a later run) finishes the backup (ExportCompletion).
            return new BackupResult
            {
                BackupId = started.BackupId, TableName = table.TableName, Uri = folder.Uri, StartTime = started.StartTime, EndTime = DateTimeOffset.UtcNow,
                Status = ExportingStatus, Engine = BackupEngine.Export, ExportArn = export.ExportArn,
                ExportTime = export.IncrementalExportSpecification?.ExportToTime ?? export.ExportTime, BaseBackupId = baseId,
            };
        }
        export = await WaitAsync(table.TableName, export, ct).ConfigureAwait(false);
        return await FinishAsync(table.TableName, started, folder, export, baseId, ct).ConfigureAwait(false);
    }

    /// <summary>A result's status while DynamoDB still exports into the backup's folder: not a backup yet.</summary>
    public const string ExportingStatus = "Exporting";

    /// <summary>Starts DynamoDB's export into the backup's folder; returns it (IN_PROGRESS) and, for an incremental, the backup it continues.</summary>
    private async Task<(ExportDescription Export, string? BaseId)> StartAsync(TableDescription table, BackupRequest request, BackupStart started, BackupFolder folder, CancellationToken ct)
    {
        if (target.Store is not S3BackupStore s3)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"DynamoDB's export writes to S3 only: {target.Uri} is a folder. Back up to a bucket, or use the Scan engine for a folder.", target.Uri);
        }
        await EnsurePitrAsync(table.TableName, request.EnablePointInTimeRecovery, ct).ConfigureAwait(false);

        // An incremental continues the table's latest committed export backup: its window starts where that one ends.
        (string Id, DateTimeOffset End)? baseBackup = request.Incremental ? await BaseAsync(table.TableName, ct).ConfigureAwait(false) : null;
        var to = request.ExportTime ?? DateTimeOffset.UtcNow;
        if (baseBackup is { } b && to - b.End > TimeSpan.FromHours(24))
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"The changes since backup {b.Id} of '{table.TableName}' ({b.End:u}) span more than 24 hours, the longest window of an incremental export. Make a full backup (without {Say.Option("incremental")}).", table.TableName);
        }

        // The export, into the backup's own folder; the backup id is its client token (a retried call starts no second export).
        string prefix = folder.Prefix.TrimEnd('/');
        var options = request.Aws.S3;
        ExportDescription export;
        try
        {
            export = (await dynamo.ExportTableToPointInTimeAsync(new ExportTableToPointInTimeRequest
            {
                TableArn = table.TableArn, ExportTime = baseBackup is null ? request.ExportTime?.UtcDateTime : null, ClientToken = started.BackupId, S3Bucket = s3.Bucket, S3Prefix = prefix,
                S3BucketOwner = options.ExpectedBucketOwner, ExportFormat = ExportFormat.DYNAMODB_JSON,
                ExportType = baseBackup is null ? ExportType.FULL_EXPORT : ExportType.INCREMENTAL_EXPORT,
                IncrementalExportSpecification = baseBackup is { } window
                    ? new IncrementalExportSpecification { ExportFromTime = window.End.UtcDateTime, ExportToTime = to.UtcDateTime, ExportViewType = ExportViewType.NEW_AND_OLD_IMAGES }
                    : null,
                S3SseAlgorithm = options.ServerSideEncryption switch { "aws:kms" => S3SseAlgorithm.KMS, "AES256" => S3SseAlgorithm.AES256, _ => null },
                S3SseKmsKeyId = options.KmsKeyId,
            }, ct).ConfigureAwait(false)).ExportDescription;
        }
        catch (PointInTimeRecoveryUnavailableException)
        {
            throw PitrDisabled(table.TableName);
        }
        catch (AmazonDynamoDBException e) when (baseBackup is not null && e.ErrorCode == "ValidationException")
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"DynamoDB refused the incremental export of '{table.TableName}' since backup {baseBackup.Value.Id}: {e.Message} (an incremental window is at least 15 minutes).", table.TableName);
        }
        catch (InvalidExportTimeException e)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"{request.ExportTime:u} is outside the point-in-time recovery window of '{table.TableName}' ({e.Message}). Give a time the window holds (see its earliest restorable time), or none for now.", table.TableName);
        }
        host.Verbose($"Exporting '{table.TableName}' at {export.ExportTime:u} with DynamoDB's export {export.ExportArn} into {folder.Uri}AWSDynamoDB/{export.ExportArn.Split('/')[^1]}/.");
        return (export, baseBackup?.Id);
    }

    /// <summary>
    /// A COMPLETED export made into the backup's folder: verified by its own rules while each data file is measured,
    /// then wrapped — table.json, the manifests, the commit marker last. What is written depends only on the export and
    /// the table's settings, so two runs finishing the same export write the same manifests.
    /// </summary>
    internal async Task<BackupResult> FinishAsync(string tableName, BackupStart started, BackupFolder folder, ExportDescription export, string? baseId, CancellationToken ct)
    {
        string exportId = export.ExportArn.Split('/')[^1];
        bool incremental = export.ExportType == ExportType.INCREMENTAL_EXPORT;

        // The export, by its own rules, measuring each data file as it is read.
        var measured = new Dictionary<string, MeasuredFile>(StringComparer.Ordinal);
        var exportFolder = folder.Child("AWSDynamoDB").Child(exportId);
        var checker = new IntegrityChecker(exportFolder, host) { Measured = m => { lock (measured) measured[m.DataFile] = m; } };
        var (report, loaded) = await checker.CheckAsync(IntegrityLevel.Full, ct).ConfigureAwait(false);
        if (!report.IsValid || loaded is null || report.Format != SourceFormat.NativeExport || (loaded.Records == RecordKind.Change) != incremental)
        {
            throw new BackupDRException(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData,
                $"DynamoDB's export {export.ExportArn} does not verify ({string.Join("; ", report.Problems.Take(5))}): no backup was committed at {folder.Uri}.", folder.Uri);
        }
        var files = new List<DataFileEntry>();
        foreach (var file in loaded.Files)
        {
            // The export's keys are relative to its AWSDynamoDB folder; the backup's to the backup folder.
            if (!measured.TryGetValue(file.DataFile, out var m))
            {
                throw new BackupDRException(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData, $"The export's data file {file.DataFile} was not read in full: no backup was committed.", folder.Uri);
            }
            files.Add(new DataFileEntry
            {
                DataFile = "AWSDynamoDB/" + file.DataFile, ItemCount = m.Items, SizeBytes = m.SizeBytes, UncompressedSizeBytes = m.UncompressedBytes,
                Sha256Checksum = m.Sha256, Md5Checksum = m.Md5,
            });
        }
        files.Sort((a, b) => string.CompareOrdinal(a.DataFile, b.DataFile));
        if (files.Any(f => !incremental ? !BackupFormat.IsExportDataFileKey(f.DataFile, exportId) : !BackupFormat.IsIncrementalDataFileKey(f.DataFile)))
        {
            throw new BackupDRException(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData, $"DynamoDB's export {export.ExportArn} keeps data files outside its own folder: no backup was committed.", folder.Uri);
        }
        if (incremental && baseId is null)
        {
            var from = (DateTimeOffset)export.IncrementalExportSpecification.ExportFromTime!.Value;
            baseId = await BaseEndingAtAsync(tableName, from, started.BackupId, ct).ConfigureAwait(false)
                ?? throw new BackupDRException(ErrorIds.ExportChainGap, ErrorKind.InvalidData,
                    $"DynamoDB's incremental export {export.ExportArn} starts at {from:u}, where no committed backup of '{tableName}' under {target.Uri} ends: it continues nothing that is kept, so no backup was committed.", folder.Uri);
        }

        // The wrap: table.json, the manifests, and the commit marker last.
        var table = await TableSchema.DescribeAsync(dynamo, tableName, ct).ConfigureAwait(false);
        var tableDoc = await TableSchema.CaptureAsync(dynamo, table, host, ct).ConfigureAwait(false);
        var summary = new ManifestSummary
        {
            FormatVersion = BackupFormat.ExportVersion, Engine = BackupFormat.ExportEngine, ExportArn = export.ExportArn, ExportTime = export.ExportTime,
            BackupId = started.BackupId, TableName = tableName, TableArn = table.TableArn, StartTime = started.StartTime,
            EndTime = export.EndTime is { } ended ? new DateTimeOffset(DateTime.SpecifyKind(ended, DateTimeKind.Utc)) : DateTimeOffset.UtcNow,
            Segments = 0, Writer = "BackupDR " + EngineInfo.Version,
        };
        if (incremental)
        {
            summary.ExportType = "INCREMENTAL_EXPORT";
            summary.ExportTime = null;
            summary.BaseBackupId = baseId;
            summary.ExportFromTime = export.IncrementalExportSpecification.ExportFromTime;
            summary.ExportToTime = export.IncrementalExportSpecification.ExportToTime;
            summary.OutputView = "NEW_AND_OLD_IMAGES";
        }
        var marker = await BackupCommit.WriteAsync(folder, summary, files, tableDoc, null, ct).ConfigureAwait(false);
        host.Verbose($"Committed backup {started.BackupId} of '{tableName}' (DynamoDB export {exportId}): {summary.ItemCount} items in {files.Count} file(s).");
        return new BackupResult
        {
            BackupId = started.BackupId, TableName = tableName, Uri = folder.Uri, ItemCount = summary.ItemCount, SizeBytes = summary.SizeBytes,
            UncompressedSizeBytes = summary.UncompressedSizeBytes, DataFileCount = files.Count, Segments = 0, StartTime = started.StartTime, EndTime = marker.CommittedAt,
            SummarySha256 = marker.ManifestSummarySha256, Engine = BackupEngine.Export, ExportArn = export.ExportArn,
            ExportTime = summary.ExportToTime ?? export.ExportTime, BaseBackupId = summary.BaseBackupId,
        };
    }

    /// <summary>The newest committed export backup of the table, older than <paramref name="before"/>, whose point is <paramref name="end"/>: what an incremental that starts there continues.</summary>
    private async Task<string?> BaseEndingAtAsync(string table, DateTimeOffset end, string before, CancellationToken ct)
    {
        await foreach (var (id, point) in PointsNewestFirstAsync(table, ct).ConfigureAwait(false))
        {
            if (string.CompareOrdinal(id, before) < 0 && point == end) return id;
        }
        return null;
    }

    /// <summary>
    /// The table's committed backups under the target, newest first, each with the point it holds the table at (null: a
    /// scan): from its commit marker, or from its summary when the marker predates <c>pointInTime</c>. A backup whose summary
    /// cannot be read is passed over. Whatever a marker claims, the chain is proven when it is read (each window from the end of the one before).
    /// </summary>
    private async IAsyncEnumerable<(string Id, DateTimeOffset? Point)> PointsNewestFirstAsync(string table, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var committed = new List<Catalog.BackupInfo>();
        await foreach (var b in new Catalog.BackupCatalog(target).ListAsync(table, ct).ConfigureAwait(false)) if (b.Status == Catalog.BackupStatus.Committed) committed.Add(b);
        foreach (var backup in committed.OrderByDescending(b => b.BackupId, StringComparer.Ordinal))
        {
            if (backup.PointInTime is { } marked)
            {
                yield return (backup.BackupId, marked);
                continue;
            }
            if (await ReadSummaryAsync(target.Child(table).Child(backup.BackupId), ct).ConfigureAwait(false) is not { } summary) continue;
            yield return (backup.BackupId, summary.Engine == BackupFormat.ExportEngine ? summary.ExportToTime ?? summary.ExportTime : null);
        }
    }

    private static async Task<ManifestSummary?> ReadSummaryAsync(BackupFolder folder, CancellationToken ct)
    {
        byte[]? bytes = await folder.Store.TryReadAllAsync(folder.Key(BackupFormat.ManifestSummaryKey), BackupFormat.MaxSummaryBytes, ct).ConfigureAwait(false);
        if (bytes is null) return null;
        try { return BackupFormat.ParseSummary(bytes); }
        catch (InvalidDataException) { return null; }
    }

    /// <summary>The table's latest committed backup of this engine under the target, and the point it reaches: what an incremental continues.</summary>
    private async Task<(string Id, DateTimeOffset End)> BaseAsync(string table, CancellationToken ct)
    {
        await foreach (var (id, point) in PointsNewestFirstAsync(table, ct).ConfigureAwait(false))
        {
            if (point is not { } end) break;   // the latest is a scan: no chain to continue
            return (id, end);
        }
        throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
            $"There is no committed backup of '{table}' made by DynamoDB's export under {target.Uri} to continue (the latest is a scan, or there is none): make a full one first (without {Say.Option("incremental")}).", table);
    }

    private async Task EnsurePitrAsync(string table, bool enable, CancellationToken ct)
    {
        var status = (await dynamo.DescribeContinuousBackupsAsync(new DescribeContinuousBackupsRequest { TableName = table }, ct).ConfigureAwait(false))
            .ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus;
        if (status == PointInTimeRecoveryStatus.ENABLED) return;
        if (!enable) throw PitrDisabled(table);
        host.Verbose($"Enabling point-in-time recovery on '{table}' (asked for): the export reads from it.");
        await dynamo.UpdateContinuousBackupsAsync(new UpdateContinuousBackupsRequest
        {
            TableName = table, PointInTimeRecoverySpecification = new PointInTimeRecoverySpecification { PointInTimeRecoveryEnabled = true },
        }, ct).ConfigureAwait(false);
    }

    private static BackupDRException PitrDisabled(string table) => new(ErrorIds.PointInTimeRecoveryDisabled, ErrorKind.InvalidOperation,
        $"Table '{table}' has point-in-time recovery off, and DynamoDB's export reads from it. Turn it on ({Say.Option("enable-point-in-time-recovery")}, or " +
        $"aws dynamodb update-continuous-backups --table-name {table} --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true), or back up with the Scan engine.", table);

    /// <summary>Polls the export until it completes (or fails), with progress; a cancelled wait leaves the export running in DynamoDB and the backup incomplete.</summary>
    internal async Task<ExportDescription> WaitAsync(string table, ExportDescription export, CancellationToken ct)
    {
        export = await ControlPlanePoller.WaitAsync(export, e => e.ExportStatus == ExportStatus.IN_PROGRESS,
            async (e, token) => (await dynamo.DescribeExportAsync(new DescribeExportRequest { ExportArn = e.ExportArn }, token).ConfigureAwait(false)).ExportDescription,
            host, Math.Abs(export.ExportArn.GetHashCode()) % 1000 + 10, $"Exporting table {table} (DynamoDB)", (_, elapsed) => $"in progress for {elapsed:hh\\:mm\\:ss}",
            $"Stopped waiting for DynamoDB's export {export.ExportArn}, which goes on in DynamoDB; the backup has no commit marker and is incomplete (remove it, or back up again).", table, ct).ConfigureAwait(false);
        if (export.ExportStatus != ExportStatus.COMPLETED)
        {
            throw new BackupDRException(ErrorIds.ExportFailed, ErrorKind.InvalidOperation,
                $"DynamoDB's export {export.ExportArn} of '{table}' {export.ExportStatus?.Value ?? "ended"}: {export.FailureCode} {export.FailureMessage}", table);
        }
        return export;
    }
}
