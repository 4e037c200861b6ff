using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace BackupDR.Engine.Tests;

/// <summary>What the function posted for one invocation: its answer, or its error and error type.</summary>
public sealed record InvocationOutcome(string RequestId, bool Failed, string? ErrorType, JsonObject Body);

/// <summary>
/// The Lambda Runtime API (2018-06-01) for tests: hands out the given events one by one (with a
/// deadline), records each answer or error, records an init error, and answers 410 Gone when the
/// events run out so the bootstrap ends.
/// </summary>
public sealed class FakeRuntimeApi : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentQueue<(string Id, string Event, DateTimeOffset Deadline)> _events = new();
    private readonly Task _serving;

    public FakeRuntimeApi()
    {
        int port = BackupDR.Testing.LocalPorts.Free();
        Address = $"127.0.0.1:{port}";
        _listener.Prefixes.Add($"http://{Address}/");
        _listener.Start();
        _serving = Task.Run(ServeAsync);
    }

    public string Address { get; }
    public List<InvocationOutcome> Outcomes { get; } = [];
    public JsonObject? InitError { get; private set; }

    public string Add(string eventJson, TimeSpan? timeLeft = null)
    {
        string id = Guid.NewGuid().ToString();
        _events.Enqueue((id, eventJson, DateTimeOffset.UtcNow + (timeLeft ?? TimeSpan.FromMinutes(5))));
        return id;
    }

    /// <summary>Runs the bootstrap (the Lambda project's JIT build) with <paramref name="environment"/> until it has taken every event.</summary>
    public async Task<(int ExitCode, string Log)> RunBootstrapAsync(IDictionary<string, string?> environment)
    {
        var bin = new DirectoryInfo(AppContext.BaseDirectory);
        string dll = Path.GetFullPath(Path.Combine(bin.FullName, "../../../../../src/BackupDR.Lambda/bin", bin.Parent!.Name, "net10.0/bootstrap.dll"));
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(dll);
        start.Environment["AWS_LAMBDA_RUNTIME_API"] = Address;
        foreach (var (name, value) in environment) start.Environment[name] = value;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output + await errors);
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception) when (!_listener.IsListening) { return; }
            try { await AnswerAsync(context); }
            catch (Exception e) { Console.Error.WriteLine($"FakeRuntimeApi: {e}"); }
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        string path = context.Request.Url!.AbsolutePath;
        var response = context.Response;
        const string prefix = "/2018-06-01/runtime/";
        if (context.Request.HttpMethod == "GET" && path == prefix + "invocation/next")
        {
            if (!_events.TryDequeue(out var next))
            {
                response.StatusCode = 410;   // no more: a local run ends here
                response.Close();
                return;
            }
            response.Headers["Lambda-Runtime-Aws-Request-Id"] = next.Id;
            response.Headers["Lambda-Runtime-Deadline-Ms"] = next.Deadline.ToUnixTimeMilliseconds().ToString();
            response.Headers["Lambda-Runtime-Invoked-Function-Arn"] = "arn:aws:lambda:us-east-1:000000000000:function:test";
            response.Headers["Lambda-Runtime-Trace-Id"] = "Root=1-00000000-000000000000000000000000";
            byte[] body = Encoding.UTF8.GetBytes(next.Event);
            response.ContentType = "application/json";
            await response.OutputStream.WriteAsync(body);
            response.Close();
            return;
        }
        string text;
        using (var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8)) text = await reader.ReadToEndAsync();
        var json = JsonNode.Parse(text)!.AsObject();
        if (path == prefix + "init/error")
        {
            InitError = json;
        }
        else if (path.StartsWith(prefix + "invocation/", StringComparison.Ordinal))
        {
            string[] parts = path[(prefix.Length + "invocation/".Length)..].Split('/');
            bool failed = parts[1] == "error";
            lock (Outcomes) Outcomes.Add(new InvocationOutcome(parts[0], failed, failed ? context.Request.Headers["Lambda-Runtime-Function-Error-Type"] : null, json));
        }
        response.StatusCode = 202;
        response.Close();
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
    }
}
