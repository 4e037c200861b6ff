using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Drill;

/// <summary>
/// Where a resumable drill stands between invocations: the backup it drills, the scratch table it made,
/// when it began and the working time spent so far. Kept beside the restore checkpoints
/// (<c>drill-&lt;table&gt;.json</c>), written when an invocation runs out of time, removed when the drill ends.
/// Read as untrusted: a state is used only when it names exactly the scratch table this drill would make
/// (so it can never point a drill — which removes its scratch table — at another table), a backup id, and
/// a start within the last day; anything else is set aside with a warning and the drill starts afresh.
/// </summary>
internal sealed record DrillState(string TableName, string ScratchTableName, string BackupId, DateTimeOffset Started, string Phase,
    double RestoreSeconds, double VerifySeconds, long ItemsRestored, int Invocations)
{
    private const long MaxBytes = 64 * 1024;
    public static readonly TimeSpan MaxAge = TimeSpan.FromDays(1);
    public const string Restoring = "restore", Verifying = "verify";

    public static string KeyFor(BackupFolder where, string table) => where.Key($"drill-{table}.json");

    public async Task SaveAsync(BackupFolder where, CancellationToken cancellationToken)
    {
        var json = new JsonObject
        {
            ["format"] = "backupdr-drill-state", ["version"] = 1, ["table"] = TableName, ["scratchTable"] = ScratchTableName, ["backupId"] = BackupId,
            ["started"] = Started.UtcDateTime.ToString("O", CultureInfo.InvariantCulture), ["phase"] = Phase,
            ["restoreSeconds"] = RestoreSeconds, ["verifySeconds"] = VerifySeconds, ["itemsRestored"] = ItemsRestored, ["invocations"] = Invocations,
        };
        await where.Store.PutAsync(KeyFor(where, TableName), System.Text.Encoding.UTF8.GetBytes(json.ToJsonString()), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The state of this drill, or null (none, or one that cannot be this drill's: then <paramref name="host"/> is told why).</summary>
    public static async Task<DrillState?> LoadAsync(BackupFolder where, DrillRequest request, DateTimeOffset now, IOperationHost host, CancellationToken cancellationToken)
    {
        string key = KeyFor(where, request.TableName);
        byte[]? bytes;
        try
        {
            bytes = await where.Store.TryReadAllAsync(key, MaxBytes, cancellationToken).ConfigureAwait(false);
        }
        catch (UntrustedInputException e)
        {
            host.Warning($"The drill state {where.Store.UriOf(key)} is not used ({e.Message}); the drill starts afresh.");
            return null;
        }
        if (bytes is null) return null;
        DrillState? state = null;
        string? why;
        try
        {
            var o = JsonNode.Parse(bytes) as JsonObject ?? throw new JsonException("not a JSON object");
            string Text(string name) => o[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new JsonException($"\"{name}\" is not a string");
            double Number(string name) => o[name] is JsonValue v && v.TryGetValue<double>(out var d) && double.IsFinite(d) && d >= 0 ? d : throw new JsonException($"\"{name}\" is not a number of at least 0");
            if (o["format"]?.ToString() != "backupdr-drill-state" || o["version"]?.ToString() != "1") throw new JsonException("not a version-1 BackupDR drill state");
            state = new DrillState(Text("table"), Text("scratchTable"), Text("backupId"),
                DateTimeOffset.TryParse(Text("started"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var started) ? started.ToUniversalTime() : throw new JsonException("\"started\" is not a time"),
                Text("phase"), Number("restoreSeconds"), Number("verifySeconds"), (long)Number("itemsRestored"), (int)Math.Min(Number("invocations"), 1000));
            string expectedScratch = request.ScratchTableName ?? DrillRunner.ScratchName(request.TableName, state.Started);
            string? backupId = request.BackupUri?.TrimEnd('/', Path.DirectorySeparatorChar).Split('/', Path.DirectorySeparatorChar)[^1];
            why = state.TableName != request.TableName ? "it is another table's"
                : state.ScratchTableName != expectedScratch ? $"its scratch table '{UnsafeKeyException.Printable(state.ScratchTableName)}' is not the one this drill would make ('{expectedScratch}')"
                : !BackupFormat.IsBackupId(state.BackupId) ? "its backup id is not one"
                : backupId is not null && backupId != state.BackupId ? $"it drills backup {state.BackupId}, not {backupId}"
                : state.Phase is not (Restoring or Verifying) ? $"its phase '{UnsafeKeyException.Printable(state.Phase)}' is not one"
                : state.Started > now ? "it starts in the future"
                : now - state.Started > MaxAge ? $"it began more than {MaxAge.TotalHours:N0} hours ago (a scratch table '{state.ScratchTableName}' may be left: remove it)"
                : null;
        }
        catch (JsonException e)
        {
            why = e.Message;
        }
        if (why is null) return state;
        host.Warning($"The drill state {where.Store.UriOf(key)} is not used: {why}. The drill starts afresh.");
        return null;
    }

    public static async Task RemoveAsync(BackupFolder where, string table, IOperationHost host)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await where.Store.DeleteAsync(KeyFor(where, table), deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            host.Warning($"The drill state {where.Store.UriOf(KeyFor(where, table))} could not be removed ({e.Message}); the next drill sets it aside.");
        }
    }
}
