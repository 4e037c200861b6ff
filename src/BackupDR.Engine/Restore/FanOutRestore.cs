using System.Text.Json.Nodes;
using Amazon.DynamoDBv2;
using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Tables;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Restore;

/// <summary>
/// A restore into a new table fanned out to the deployed recovery function (docs/lambda.md): the backup is
/// verified in full and the table created here; each worker is given a disjoint set of the data files (balanced by
/// size) and restores them with its own checkpoint; a worker that stops (its deadline, a crash) is invoked again
/// with the same share and continues from its checkpoint. Every item of the backup written, or the restore fails
/// naming the shares that were not finished.
/// </summary>
internal sealed class FanOutRestore(IAmazonDynamoDB dynamo, IOperationHost host)
{
    private const int Attempts = 6;

    public async Task<RestoreResult> RunAsync(BackupFolder folder, RestoreRequest request, CancellationToken ct)
    {
        var start = DateTimeOffset.UtcNow;
        static BackupDRException Invalid(string message, string? target) => new(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, message, target);
        if (request.Invoker is null || folder.Store is not S3BackupStore) throw Invalid("The Lambda engine restores a backup in S3 through the deployed recovery function.", folder.Uri);
        if (request.Workers is < 1 or > 256) throw Invalid($"{Say.Option("workers")} must be 1 to 256.", request.TableName);
        if (request.Mode is not (null or RestoreMode.New) || request.Resume || request.Revert || request.PointInTime is not null)
        {
            throw Invalid($"The Lambda engine restores into a new table; {Say.Mode("Upsert")}, MissingOnly, Exact, {Say.Resume}, {Say.Revert} and {Say.PointInTime} are the default engine's (each worker resumes on its own).", request.TableName);
        }
        if (await TableSchema.TryDescribeAsync(dynamo, request.TableName, ct).ConfigureAwait(false) is not null)
        {
            throw new BackupDRException(ErrorIds.TargetTableNotEmpty, ErrorKind.ResourceExists,
                $"Table '{request.TableName}' exists; the Lambda engine restores into a new table. Name a new table, or restore into this one with the default engine.", request.TableName);
        }
        host.Verbose($"Verifying {folder.Uri} (every file's size, checksums and items) before fanning the restore out.");
        var (report, loaded) = await new IntegrityChecker(folder, host).CheckAsync(IntegrityLevel.Full, ct).ConfigureAwait(false);
        if (loaded is null || !report.IsValid) throw new BackupDRException(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData, $"The backup at {folder.Uri} is not valid ({string.Join("; ", report.Problems.Take(5))}): nothing was restored.", folder.Uri);
        if (!report.IsCommitted) throw new BackupDRException(ErrorIds.BackupNotCommitted, ErrorKind.InvalidData, $"{folder.Uri} has no commit marker: nothing was restored.", folder.Uri);
        if (loaded.Format != SourceFormat.BackupDR || loaded.Stages.Count > 0) throw Invalid($"The Lambda engine restores a single BackupDR backup; {folder.Uri} is a {loaded.Format} source{(loaded.Stages.Count > 0 ? " chain" : "")}.", folder.Uri);

        // Shares balanced by size: the largest file first, to the lightest worker.
        int workers = Math.Min(request.Workers, Math.Max(1, loaded.Files.Count));
        var shares = Enumerable.Range(0, workers).Select(_ => new List<DataFileEntry>()).ToList();
        foreach (var file in loaded.Files.OrderByDescending(f => f.SizeBytes).ThenBy(f => f.DataFile, StringComparer.Ordinal))
        {
            shares.MinBy(sh => sh.Sum(f => f.SizeBytes))!.Add(file);
        }
        if (!await host.ConfirmAsync($"table '{request.TableName}'", $"Restore {loaded.Summary.ItemCount:N0} items of backup {loaded.Summary.BackupId} into the new table '{request.TableName}' with {workers} workers", ct).ConfigureAwait(false))
        {
            throw new BackupDRException(ErrorIds.NotConfirmed, ErrorKind.OperationStopped, "The restore was not confirmed: nothing was created.", request.TableName);
        }
        await TableCreation.CreateAsync(dynamo, host, loaded.Table, request.TableName, request.KmsKeyId, found => RestoreRunner.CheckKeySchema(loaded, found, request.TableName), ct).ConfigureAwait(false);
        await new TableSettings(dynamo, host).ApplyAsync(loaded.Table, request.TableName, ct).ConfigureAwait(false);

        var written = new long[workers];
        var unfinished = new List<string>();
        int done = 0;
        await Parallel.RunAllOrNoneAsync(workers, async (w, token) =>
        {
            var payload = new JsonObject
            {
                ["fanout_restore"] = new JsonObject
                {
                    ["uri"] = folder.Uri, ["table_name"] = request.TableName, ["worker"] = w,
                    ["files"] = new JsonArray(shares[w].Select(f => (JsonNode)JsonValue.Create(f.DataFile)).ToArray()),
                },
            };
            long expected = shares[w].Sum(f => f.ItemCount);
            for (int attempt = 1; attempt <= Attempts; attempt++)
            {
                try
                {
                    var answer = await request.Invoker.InvokeAsync(payload, token).ConfigureAwait(false);
                    long items = answer["result"]?["itemsWritten"]?.GetValue<long>() ?? -1;
                    if (items != expected) throw new InvalidDataException($"worker {w} wrote {items} of its {expected} items");
                    written[w] = items;
                    host.Progress(new OperationProgress(6, $"Restoring into table {request.TableName} (fan-out)", $"{Interlocked.Increment(ref done)}/{workers} workers", done * 100 / workers));
                    return 0;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    host.Warning($"Worker {w} of the restore into '{request.TableName}' stopped ({e.Message}); " +
                                 (attempt < Attempts ? $"invoking it again, to continue from its checkpoint ({attempt + 1} of {Attempts})." : "no attempts left."));
                }
            }
            lock (unfinished) unfinished.AddRange(shares[w].Select(f => f.DataFile));
            return 0;
        }, ct).ConfigureAwait(false);
        if (unfinished.Count > 0)
        {
            throw new BackupDRException(ErrorIds.ItemsNotWritten, ErrorKind.WriteError,
                $"{unfinished.Count} data file(s) were not restored into '{request.TableName}' after {Attempts} attempts of their workers: {string.Join(", ", unfinished.Take(10))}. " +
                "Restore again with the default engine and a resume, or with the Lambda engine into a new table.", request.TableName);
        }
        return new RestoreResult
        {
            TableName = request.TableName, SourceUri = folder.Uri, BackupUri = loaded.Folder.Uri, BackupId = loaded.Summary.BackupId, SourceTableName = loaded.Summary.TableName, PointInTime = loaded.PointInTime, SummarySha256 = loaded.SummarySha256,
            Format = loaded.Format, Mode = RestoreMode.New, ItemsWritten = written.Sum(), TableCreated = true, StartTime = start, EndTime = DateTimeOffset.UtcNow, Engine = RestoreEngine.Lambda,
        };
    }
}
