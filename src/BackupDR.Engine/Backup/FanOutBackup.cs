using System.Text.Json.Nodes;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Tables;

namespace BackupDR.Engine.Backup;

/// <summary>
/// A backup fanned out to the deployed backup function (docs/lambda.md): one invocation per scan segment,
/// each writing its segment's data files into the backup's folder under its own stream numbers and answering
/// their entries; a worker that fails is invoked again (it first removes what its earlier attempt wrote). When
/// every segment is done, this process checks each listed file is there at its size and nothing else is, then
/// writes table.json, the manifests and the commit marker — as a one-machine backup does.
/// </summary>
internal sealed class FanOutBackup(IAmazonDynamoDB dynamo, IOperationHost host)
{
    private const int Attempts = 3;

    public async Task<BackupResult> RunAsync(TableDescription table, BackupRequest request, BackupStart started, BackupFolder folder, CancellationToken ct)
    {
        int segments = request.Segments;
        host.Verbose($"Fanning the backup of '{table.TableName}' out to {segments} invocations of the backup function ({folder.Uri}).");
        int done = 0;
        var shares = await Parallel.RunAllOrNoneAsync(segments, async (segment, token) =>
        {
            var payload = new JsonObject
            {
                ["fanout"] = new JsonObject { ["table"] = table.TableName, ["backup_uri"] = folder.Uri, ["segment"] = segment, ["total_segments"] = segments },
            };
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    var answer = await request.Invoker!.InvokeAsync(payload, token).ConfigureAwait(false);
                    var files = Entries(answer, segment);
                    host.Progress(new OperationProgress(5, $"Backing up table {table.TableName} (fan-out)", $"{Interlocked.Increment(ref done)}/{segments} segments", done * 100 / segments));
                    return files;
                }
                catch (Exception e) when (e is not OperationCanceledException && attempt < Attempts)
                {
                    host.Warning($"Segment {segment} of the backup of '{table.TableName}' failed ({e.Message}); invoking it again ({attempt + 1} of {Attempts}).");
                }
            }
        }, ct).ConfigureAwait(false);
        var files = shares.SelectMany(f => f).OrderBy(f => f.DataFile, StringComparer.Ordinal).ToList();

        // What the workers say they wrote, against what is there.
        var expected = files.ToDictionary(f => f.DataFile, StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var obj in folder.Store.ListAsync(folder.Prefix, ct).ConfigureAwait(false))
        {
            string key = obj.Key[folder.Prefix.Length..];
            if (!expected.TryGetValue(key, out var entry) || entry.SizeBytes != obj.Size)
            {
                throw new BackupDRException(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData,
                    $"The fanned-out backup's folder holds {key} ({obj.Size} bytes), which no worker reported {(entry is null ? "" : $"at that size ({entry.SizeBytes})")}: nothing was committed.", folder.Uri);
            }
            seen.Add(key);
        }
        if (expected.Keys.FirstOrDefault(k => !seen.Contains(k)) is { } missing)
        {
            throw new BackupDRException(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData, $"A worker reported {missing}, which is not in {folder.Uri}: nothing was committed.", folder.Uri);
        }

        var summary = new ManifestSummary
        {
            BackupId = started.BackupId, TableName = table.TableName, TableArn = table.TableArn, StartTime = started.StartTime, EndTime = DateTimeOffset.UtcNow,
            Segments = segments, Writer = $"BackupDR {EngineInfo.Version} (fan-out: {segments} workers)",
        };
        var marker = await BackupCommit.WriteAsync(folder, summary, files, await TableSchema.CaptureAsync(dynamo, table, host, ct).ConfigureAwait(false), null, ct).ConfigureAwait(false);
        host.Verbose($"Committed backup {started.BackupId} of '{table.TableName}': {summary.ItemCount} items in {files.Count} file(s) from {segments} workers.");
        return new BackupResult
        {
            BackupId = started.BackupId, TableName = table.TableName, Uri = folder.Uri, ItemCount = summary.ItemCount, SizeBytes = summary.SizeBytes,
            UncompressedSizeBytes = summary.UncompressedSizeBytes, DataFileCount = files.Count, Segments = segments, StartTime = started.StartTime, EndTime = marker.CommittedAt,
            SummarySha256 = marker.ManifestSummarySha256, Engine = BackupEngine.Lambda,
        };
    }

    /// <summary>A worker's answer: the entries of the data files it wrote, each of its own streams (checked, never trusted blindly).</summary>
    private static List<DataFileEntry> Entries(JsonObject answer, int segment)
    {
        if (answer["files"] is not JsonArray array) throw new InvalidDataException($"segment {segment}'s answer holds no \"files\"");
        var slice = new BackupSlice(BackupFormat.NewBackupId(DateTimeOffset.UtcNow), segment, segment + 1);
        var files = new List<DataFileEntry>();
        foreach (var node in array)
        {
            var entry = (node is null ? null : System.Text.Json.JsonSerializer.Deserialize(node, FormatJsonContext.Default.DataFileEntry)) ?? throw new InvalidDataException($"segment {segment} answered an empty entry");
            if (!slice.Owns(entry.DataFile) || entry.ItemCount < 0 || entry.SizeBytes < 0 || entry.UncompressedSizeBytes < entry.ItemCount)
            {
                throw new InvalidDataException($"segment {segment} answered a data file that is not one of its own ({entry.DataFile})");
            }
            files.Add(entry);
        }
        return files;
    }
}
