using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine;
using BackupDR.Engine.Aws;

namespace BackupDR.Bench;

/// <summary>
/// One benchmark step per process: `BackupDR.Bench &lt;step&gt; --name value ...`. Prints one JSON object
/// (the step's measurements, including this process's peak RSS) as its last line of output.
/// The services are the SDK's: AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3 point at the emulators.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine("usage: BackupDR.Bench <raw-write|raw-scan|backup|validate|restore|engine|delete-table|lambda-cold-start|deploy> [--option value]...");
            return 2;
        }
        var options = Options.Parse(args.Skip(1));
        var result = new JsonObject { ["step"] = args[0] };
        using var heap = new HeapSampler();
        try
        {
            await (args[0] switch
            {
                "raw-write" => RawSteps.WriteAsync(options, result),
                "raw-scan" => RawSteps.ScanAsync(options, result),
                "backup" => EngineSteps.BackupAsync(options, result),
                "validate" => EngineSteps.ValidateAsync(options, result),
                "restore" => EngineSteps.RestoreAsync(options, result),
                "engine" => CodecSteps.RunAsync(options, result),
                "delete-table" => RawSteps.DeleteTableAsync(options, result),
                "lambda-cold-start" => LambdaSteps.ColdStartAsync(options, result),
                "deploy" => LambdaSteps.DeployAsync(options, result),
                _ => throw new ArgumentException($"unknown step '{args[0]}'"),
            }).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"{args[0]} failed: {e}");
            return 1;
        }
        result["peakRssBytes"] = PeakRssBytes();
        // Diagnostics: where the resident memory is, mapping by mapping, at the end of the step.
        if (Environment.GetEnvironmentVariable("BACKUPDR_BENCH_SMAPS") is { Length: > 0 } smaps)
        {
            File.WriteAllText(smaps, File.ReadAllText("/proc/self/smaps"));
        }
        result["peakManagedBytes"] = heap.PeakManagedBytes;
        result["peakGcCommittedBytes"] = heap.PeakCommittedBytes;
        result["cpuSeconds"] = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
        result["allocatedBytes"] = GC.GetTotalAllocatedBytes();
        result["gcCounts"] = $"{GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}";
        Console.WriteLine(result.ToJsonString());
        return 0;
    }

    /// <summary>VmHWM: the most resident memory this process has had.</summary>
    private static long PeakRssBytes()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
            }
        }
        return Environment.WorkingSet;
    }

    public static IAmazonDynamoDB Dynamo() => new AwsClientFactory(new AwsOptions()).CreateDynamoDB();
}

internal sealed class Options(Dictionary<string, string> values)
{
    public static Options Parse(IEnumerable<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string? name = null;
        foreach (string a in args)
        {
            if (a.StartsWith("--", StringComparison.Ordinal)) { name = a[2..]; values[name] = "true"; }
            else if (name is not null) { values[name] = a; name = null; }
            else throw new ArgumentException($"unexpected argument '{a}'");
        }
        return new Options(values);
    }

    public string Get(string name) => values.TryGetValue(name, out var v) ? v : throw new ArgumentException($"--{name} is required");
    public string Get(string name, string fallback) => values.TryGetValue(name, out var v) ? v : fallback;
    public bool Flag(string name) => values.TryGetValue(name, out var v) && v == "true";
    public int Int(string name, int fallback) => values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
    public double Double(string name, double fallback) => values.TryGetValue(name, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
}

/// <summary>A host that discards progress and keeps quiet.</summary>
internal sealed class QuietHost : IOperationHost
{
    private static readonly bool Trace = Environment.GetEnvironmentVariable("BACKUPDR_BENCH_TRACE") == "1";
    private static readonly Stopwatch Clock = Stopwatch.StartNew();
    public void Progress(OperationProgress progress) { }
    public void Verbose(string message)
    {
        if (Trace) Console.Error.WriteLine($"{Clock.Elapsed.TotalSeconds,8:F3} {message}");
    }
    public void Warning(string message) => Console.Error.WriteLine("WARNING: " + message);
    public Task<bool> ConfirmAsync(string target, string action, CancellationToken cancellationToken) => Task.FromResult(true);
    public Task<bool> ConfirmDangerAsync(string target, string question, CancellationToken cancellationToken) => Task.FromResult(true);
}

/// <summary>
/// Samples the managed heap every 50 ms: the peak of live-plus-garbage bytes and of the memory the
/// GC has committed, to tell what part of a step's peak RSS is the GC's.
/// </summary>
internal sealed class HeapSampler : IDisposable
{
    private readonly Timer _timer;
    private long _managed;
    private long _committed;

    public HeapSampler() => _timer = new Timer(_ => Sample(), null, 0, 50);

    public long PeakManagedBytes { get { Sample(); return Interlocked.Read(ref _managed); } }
    public long PeakCommittedBytes { get { Sample(); return Interlocked.Read(ref _committed); } }

    private void Sample()
    {
        long managed = GC.GetTotalMemory(false);
        long committed = GC.GetGCMemoryInfo().TotalCommittedBytes;
        if (managed > Interlocked.Read(ref _managed)) Interlocked.Exchange(ref _managed, managed);
        if (committed > Interlocked.Read(ref _committed)) Interlocked.Exchange(ref _committed, committed);
    }

    public void Dispose() => _timer.Dispose();
}
