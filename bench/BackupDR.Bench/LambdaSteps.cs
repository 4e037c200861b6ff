using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace BackupDR.Bench;

/// <summary>
/// The Lambda package: its size, and the NativeAOT bootstrap's cold start — a fresh process each round,
/// from its start to its first Runtime API request (init) and to its answer (first response), for a
/// real invocation against the local services.
/// </summary>
internal static class LambdaSteps
{
    public static async Task ColdStartAsync(Options options, JsonObject result)
    {
        string package = options.Get("package");
        string handler = options.Get("handler");
        string eventJson = options.Get("event");
        int rounds = options.Int("rounds", 5);
        string folder = Path.Combine(Path.GetTempPath(), "bdr-bench-lambda-" + Guid.NewGuid().ToString("N")[..8]);
        ZipFile.ExtractToDirectory(package, folder);
        string bootstrap = Path.Combine(folder, "bootstrap");
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("The bootstrap is a Linux executable: measure its cold start on Linux.");
        File.SetUnixFileMode(bootstrap, File.GetUnixFileMode(bootstrap) | UnixFileMode.UserExecute);

        var init = new List<double>();
        var firstResponse = new List<double>();
        string? lastAnswer = null;
        for (int round = 0; round < rounds; round++)
        {
            var (initMs, responseMs, answer) = await OneColdStartAsync(bootstrap, handler, eventJson);
            init.Add(initMs);
            firstResponse.Add(responseMs);
            lastAnswer = answer;
        }
        result["packageBytes"] = new FileInfo(package).Length;
        result["bootstrapBytes"] = new FileInfo(bootstrap).Length;
        result["rounds"] = rounds;
        result["initMs"] = Median(init);
        result["firstResponseMs"] = Median(firstResponse);
        result["firstResponseMsAll"] = new JsonArray(firstResponse.Select(v => (JsonNode)Math.Round(v, 1)).ToArray());
        result["answer"] = lastAnswer is { Length: > 300 } ? lastAnswer[..300] : lastAnswer;
        // What the function could not report (metrics, notifications): a cold start that hides a failed report is not one.
        var parsed = lastAnswer is null || lastAnswer.StartsWith("error", StringComparison.Ordinal) ? null : JsonNode.Parse(lastAnswer);
        result["reportFailures"] = (parsed?["reportFailures"] as JsonArray)?.Count ?? -1;
        Directory.Delete(folder, recursive: true);
    }

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    private static async Task<(double InitMs, double ResponseMs, string Answer)> OneColdStartAsync(string bootstrap, string handler, string eventJson)
    {
        int port = BackupDR.Testing.LocalPorts.Free();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var start = new ProcessStartInfo(bootstrap) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["AWS_LAMBDA_RUNTIME_API"] = $"127.0.0.1:{port}";
        start.Environment["_HANDLER"] = handler;
        start.Environment["AWS_LAMBDA_FUNCTION_NAME"] = "bench-" + handler;
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        double initMs = -1, responseMs = -1;
        string answer = "";
        bool served = false;
        while (responseMs < 0)
        {
            var context = await listener.GetContextAsync().WaitAsync(TimeSpan.FromMinutes(2));
            string path = context.Request.Url!.AbsolutePath;
            if (path.EndsWith("/invocation/next", StringComparison.Ordinal))
            {
                if (initMs < 0) initMs = clock.Elapsed.TotalMilliseconds;
                if (served)
                {
                    context.Response.StatusCode = 410;
                    context.Response.Close();
                    continue;
                }
                served = true;
                context.Response.Headers["Lambda-Runtime-Aws-Request-Id"] = Guid.NewGuid().ToString();
                context.Response.Headers["Lambda-Runtime-Deadline-Ms"] = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeMilliseconds().ToString();
                byte[] body = Encoding.UTF8.GetBytes(eventJson);
                await context.Response.OutputStream.WriteAsync(body);
                context.Response.Close();
                continue;
            }
            using (var reader = new StreamReader(context.Request.InputStream)) answer = await reader.ReadToEndAsync();
            responseMs = clock.Elapsed.TotalMilliseconds;
            context.Response.StatusCode = 202;
            context.Response.Close();
            if (path.EndsWith("/error", StringComparison.Ordinal)) answer = "error: " + answer;
        }
        // Let it take the 410 and end.
        var next = await listener.GetContextAsync().WaitAsync(TimeSpan.FromSeconds(30));
        next.Response.StatusCode = 410;
        next.Response.Close();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return (initMs, responseMs, answer);
    }

    /// <summary>Deploys the package as the backup and recovery functions on the local Lambda plane (for the scale-out step), as Deploy-BackupFunctions does.</summary>
    public static async Task DeployAsync(Options options, JsonObject result)
    {
        const string role = "arn:aws:iam::000000000000:role/backupdr-bench";
        var request = new BackupDR.Engine.Deploy.DeployRequest
        {
            PackagePath = options.Get("package"), RoleArn = role, BackupBucket = options.Get("bucket"), BackupPrefix = options.Get("prefix", "backupdr"),
            FunctionNamePrefix = options.Get("function-prefix", "bench"), RestoreTables = ["*"], ValidateOnCommit = false, Tracing = false,
            MemorySize = 2048, TimeoutSeconds = 900, Aws = new BackupDR.Engine.Aws.AwsOptions { Region = "us-east-1" },
        };
        var clock = Stopwatch.StartNew();
        var deployed = await BackupDR.Engine.Deploy.Deployer.DeployAsync(request, new QuietHost(), _ => { }, CancellationToken.None).ConfigureAwait(false);
        result["seconds"] = clock.Elapsed.TotalSeconds;
        result["functions"] = new JsonArray(deployed.Select(d => (JsonNode)JsonValue.Create(d.FunctionName)).ToArray());
    }
}
