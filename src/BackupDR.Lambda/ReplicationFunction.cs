using System.Text.Json;
using BackupDR.Engine;
using BackupDR.Engine.Catalog;
using BackupDR.Engine.Reporting;
using BackupDR.Engine.Storage;

namespace BackupDR.Lambda;

/// <summary>
/// The replication function: for the S3 event of a commit marker in BACKUP_BUCKET (or <c>{"uri": …}</c>),
/// it copies that backup to REPLICA_BUCKET under the same key, as Copy-DynamoBackup does — the source
/// verified in full first, the copy verified in full, its commit marker last — and reports like the others.
/// A replica that already exists is not copied again (an S3 event may be delivered twice). Only backups
/// under <c>s3://BACKUP_BUCKET/BACKUP_PREFIX/</c> are read.
/// </summary>
internal sealed class ReplicationFunction(FunctionSettings settings, LambdaLog log, TimeProvider time) : IFunction
{
    public async Task<byte[]> HandleAsync(Invocation invocation, CancellationToken cancellationToken)
    {
        var e = LambdaJson.ParseEvent(invocation.Event);
        var uris = Functions.CommittedBackupUris(e, settings, log);
        if (uris.Count == 0)
        {
            throw new FunctionException("InvalidEvent", "No backup to replicate: give an S3 event for a key ending in /_committed, or {\"uri\": \"s3://bucket/prefix/table/backup-id/\"}.");
        }
        using var deadline = Functions.Deadline(invocation, settings.DeadlineMargin, time, cancellationToken);
        var copies = new List<string>();
        var failures = new List<(string Id, string Text)>();
        foreach (string uri in uris)
        {
            // The same key in the replica bucket: the target is the source backup's folder two levels up.
            string key = BackupLocation.Parse(uri).Prefix.TrimEnd('/');
            string[] parts = key.Split('/');
            string target = $"s3://{settings.ReplicaBucket}/{string.Join('/', parts[..^2])}";
            string replica = $"s3://{settings.ReplicaBucket}/{key}/";
            var existing = await Operations.ListBackupsAsync(target, parts[^2], settings.ReplicaAws, deadline.Token).ConfigureAwait(false);
            if (existing.Any(b => b.BackupId == parts[^1] && b.Status == BackupStatus.Committed))
            {
                log.Verbose($"{replica} already exists: not copied again.");
                copies.Add(replica);
                continue;
            }
            log.Verbose($"Replicating {uri} to {replica}.");
            var outcome = await ReportedRun.RunAsync(token => Operations.CopyBackupAsync(
                    new CopyRequest { SourceUri = uri, DestinationUri = target, SourceAws = settings.Aws, DestinationAws = settings.ReplicaAws }, log, token),
                (result, error) => RunReport.ForCopy(uri, result, error, settings.Reporting), settings.Reporting, settings.Aws, deadline.Token).ConfigureAwait(false);
            foreach (string f in outcome.Report.Failures) log.Error(f);
            if (outcome.Error is { } error)
            {
                if (error.ErrorId == ErrorIds.OperationCancelled && deadline.Reached)
                {
                    throw Functions.Failure(error, deadline, settings, $"Replicated: {(copies.Count == 0 ? "none" : string.Join(", ", copies))}. An unfinished replica has no commit marker; invoke again to copy it.");
                }
                failures.Add((error.ErrorId, $"{uri}: {error.ErrorId}: {error.Message}"));
                continue;
            }
            copies.Add(outcome.Result!.Uri);
            foreach (string f in await Functions.RecordAsync(settings, log, [Engine.Ledger.LedgerWriter.ForCopy(outcome.Result, settings.Reporting.Host, settings.Aws)]).ConfigureAwait(false)) log.Error(f);
        }
        if (failures.Count > 0)
        {
            throw new FunctionException(failures[0].Id, $"{failures.Count} of {uris.Count} backup(s) were not replicated: {string.Join(" | ", failures.Select(f => f.Text))}");
        }
        return LambdaJson.Response(w =>
        {
            w.WriteString("status", "succeeded");
            w.WriteStartArray("replicas");
            foreach (string copy in copies) w.WriteStringValue(copy);
            w.WriteEndArray();
        });
    }
}
