using System.Text.Json;

namespace BackupDR.Lambda;

/// <summary>
/// The engine's host in a Lambda: one JSON object per line on <paramref name="output"/> (standard output,
/// which CloudWatch Logs keeps; Logs Insights can query their fields). Progress at most once every 10 s per
/// activity, on the host's clock.
/// </summary>
internal sealed class LambdaLog(Func<string?> requestId, TextWriter output, TimeProvider time) : Engine.IOperationHost
{
    private readonly object _gate = new();
    private readonly Dictionary<int, DateTimeOffset> _lastProgress = [];

    public void Progress(Engine.OperationProgress progress)
    {
        lock (_lastProgress)
        {
            var now = time.GetUtcNow();
            if (!progress.Completed && _lastProgress.TryGetValue(progress.ActivityId, out var last) && now - last < TimeSpan.FromSeconds(10)) return;
            _lastProgress[progress.ActivityId] = now;
        }
        Write("progress", $"{progress.Activity}: {progress.Status}");
    }

    public void Verbose(string message) => Write("info", message);
    public void Warning(string message) => Write("warning", message);
    public void Error(string message) => Write("error", message);

    /// <summary>The invocation is the request: there is no one else to ask.</summary>
    public Task<bool> ConfirmAsync(string target, string action, CancellationToken cancellationToken)
    {
        Write("info", $"{action} ({target}).");
        return Task.FromResult(true);
    }

    /// <summary>A destructive step the event asked for by its mode (Upsert, Exact): the event is the consent, and the counts go to the log.</summary>
    public Task<bool> ConfirmDangerAsync(string target, string question, CancellationToken cancellationToken)
    {
        Write("warning", $"{question} Yes: the event asked for it.");
        return Task.FromResult(true);
    }

    public void Write(string level, string message)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("time", time.GetUtcNow());
            w.WriteString("level", level);
            if (requestId() is { } id) w.WriteString("requestId", id);
            w.WriteString("message", Phrasing.Render(message));
            w.WriteEndObject();
        }
        string line = System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
        lock (_gate)
        {
            output.Write(line + "\n");
            output.Flush();
        }
    }
}
