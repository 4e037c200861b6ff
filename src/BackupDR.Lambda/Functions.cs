using System.Text.Json;
using BackupDR.Engine;
using BackupDR.Engine.Aws;

namespace BackupDR.Lambda;

/// <summary>One of the functions; _HANDLER names it.</summary>
internal interface IFunction
{
    /// <summary>Returns the answer's JSON; throws <see cref="FunctionException"/> for a failed invocation.</summary>
    Task<byte[]> HandleAsync(Invocation invocation, CancellationToken cancellationToken);
}

internal static class Functions
{
    public static readonly string[] Names = ["backup", "validation", "recovery", "replication"];

    /// <summary>The function a handler names (the seed's names too), or the handler itself when it names none.</summary>
    public static string Canonical(string handler) => handler.Trim().ToLowerInvariant() switch
    {
        "validator" => "validation",
        "restore" => "recovery",
        string name => name,
    };

    /// <summary>The function _HANDLER names (<see cref="Canonical"/> must be one of <see cref="Names"/>).</summary>
    public static IFunction Create(string handler, FunctionSettings settings, LambdaLog log, TimeProvider time) => Canonical(handler) switch
    {
        "backup" => new BackupFunction(settings, log, time),
        "validation" => new ValidationFunction(settings, log, time),
        "recovery" => new RecoveryFunction(settings, log, time),
        "replication" => settings.ReplicaBucket is not null ? new ReplicationFunction(settings, log, time)
            : throw new FunctionException("InvalidConfiguration", "REPLICA_BUCKET is not set: the replication function copies each committed backup to the bucket it names."),
        string other => throw new ArgumentException($"'{other}' is not a function", nameof(handler)),
    };

    /// <summary>Cancelled <paramref name="margin"/> before the invocation's deadline, on <paramref name="time"/>'s clock.</summary>
    public static InvocationDeadline Deadline(Invocation invocation, TimeSpan margin, TimeProvider time, CancellationToken cancellationToken) =>
        new(invocation.Deadline - time.GetUtcNow() - margin, time, cancellationToken);

    /// <summary>An engine failure as the invocation's error; a stop at the deadline says so and says what to do.</summary>
    public static FunctionException Failure(BackupDRException error, InvocationDeadline deadline, FunctionSettings settings, string doneSoFar)
    {
        if (error.ErrorId == ErrorIds.OperationCancelled && deadline.Reached)
        {
            return new FunctionException("DeadlineReached",
                $"Stopped {settings.DeadlineMargin.TotalSeconds:N0} s before the invocation's deadline, cleanly. {doneSoFar} " +
                "Raise the function's timeout, or invoke it again (see docs/lambda.md).");
        }
        return new FunctionException(error.ErrorId, Phrasing.Render($"{error.Message} {doneSoFar}".Trim()));
    }

    /// <summary>
    /// The backups an event names: S3 records of commit markers (other keys are ignored), or <c>uri</c> /
    /// <c>uris</c>; every one confined to BACKUP_BUCKET/BACKUP_PREFIX before any is read (one foreign
    /// location fails the whole event).
    /// </summary>
    public static List<string> CommittedBackupUris(System.Text.Json.Nodes.JsonObject e, FunctionSettings settings, LambdaLog log)
    {
        var uris = new List<string>();
        if (e["Records"] is System.Text.Json.Nodes.JsonArray records)
        {
            foreach (var record in records.OfType<System.Text.Json.Nodes.JsonObject>())
            {
                string? bucket = record["s3"]?["bucket"]?["name"]?.GetValue<string>();
                string? encodedKey = record["s3"]?["object"]?["key"]?.GetValue<string>();
                if (bucket is null || encodedKey is null) continue;
                // S3 event keys are URL-encoded, with '+' for a space.
                string key = Uri.UnescapeDataString(encodedKey.Replace('+', ' '));
                if (!key.EndsWith("/" + Engine.Format.BackupFormat.CommitMarkerKey, StringComparison.Ordinal))
                {
                    log.Verbose($"Ignoring s3://{bucket}/{key}: not a commit marker.");
                    continue;
                }
                uris.Add($"s3://{bucket}/{key[..^Engine.Format.BackupFormat.CommitMarkerKey.Length]}");
            }
        }
        // S3's event through EventBridge (the replication function's rule): one object, its key not URL-encoded.
        if (LambdaJson.String(e, "source") == "aws.s3" && e["detail"] is System.Text.Json.Nodes.JsonObject detail)
        {
            string? bucket = detail["bucket"]?["name"] is System.Text.Json.Nodes.JsonValue b && b.TryGetValue<string>(out var bn) ? bn : null;
            string? key = detail["object"]?["key"] is System.Text.Json.Nodes.JsonValue k && k.TryGetValue<string>(out var kn) ? kn : null;
            if (bucket is not null && key is not null)
            {
                if (key.EndsWith("/" + Engine.Format.BackupFormat.CommitMarkerKey, StringComparison.Ordinal)) uris.Add($"s3://{bucket}/{key[..^Engine.Format.BackupFormat.CommitMarkerKey.Length]}");
                else log.Verbose($"Ignoring s3://{bucket}/{key}: not a commit marker.");
            }
        }
        if (LambdaJson.String(e, "uri") is { } one) uris.Add(one);
        uris.AddRange(LambdaJson.Strings(e, "uris") ?? []);
        return uris.Select(settings.ConfinedUri).Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Records the run in LEDGER_TABLE (and the journal beside the backups), after its work is done; what
    /// could not be recorded is logged and answered with the report failures (LedgerNotWritten), never a
    /// failed invocation.
    /// </summary>
    public static async Task<List<string>> RecordAsync(FunctionSettings settings, LambdaLog log, IEnumerable<Engine.Ledger.LedgerWrite?> writes)
    {
        if (settings.Ledger is not { } ledger) return [];
        var list = writes.OfType<Engine.Ledger.LedgerWrite>().ToList();
        if (list.Count == 0) return [];
        var failures = await Engine.Ledger.LedgerWriter.WriteAsync(ledger, list, log).ConfigureAwait(false);
        return failures.Select(f => $"{ErrorIds.LedgerNotWritten}: {f}").ToList();
    }

    public static void WriteReportFailures(Utf8JsonWriter w, IEnumerable<string> failures, LambdaLog log)
    {
        w.WriteStartArray("reportFailures");
        foreach (string failure in failures)
        {
            log.Error(failure);
            w.WriteStringValue(failure);
        }
        w.WriteEndArray();
    }
}

/// <summary>An invocation's working time: its token is cancelled when the time left (on the host's clock) runs out, or when the host stops.</summary>
internal sealed class InvocationDeadline : IDisposable
{
    private readonly CancellationTokenSource _timer;
    private readonly CancellationTokenSource _linked;

    public InvocationDeadline(TimeSpan left, TimeProvider time, CancellationToken stop)
    {
        _timer = new CancellationTokenSource(left > TimeSpan.Zero ? left : TimeSpan.Zero, time);
        _linked = CancellationTokenSource.CreateLinkedTokenSource(stop, _timer.Token);
    }

    public CancellationToken Token => _linked.Token;

    /// <summary>True once the time ran out (not merely when the host stopped).</summary>
    public bool Reached => _timer.IsCancellationRequested;

    public void Dispose()
    {
        _linked.Dispose();
        _timer.Dispose();
    }
}
