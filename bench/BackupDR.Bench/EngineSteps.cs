using System.Diagnostics;
using System.Text.Json.Nodes;
using BackupDR.Engine;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

namespace BackupDR.Bench;

/// <summary>BackupDR's own operations, exactly as the cmdlets run them.</summary>
internal static class EngineSteps
{
    public static async Task BackupAsync(Options options, JsonObject result)
    {
        using var invoker = options.Get("engine", "scan") == "lambda" ? new BackupDR.Engine.Deploy.LambdaFunctionInvoker(new AwsOptions(), options.Get("function"), "live") : null;
        var request = new BackupRequest
        {
            Engine = invoker is null ? BackupEngine.Scan : BackupEngine.Lambda,
            Invoker = invoker,
            TableNames = [options.Get("table")],
            Target = BackupLocation.Parse(options.Get("target")),
            Segments = options.Int("segments", 4),
            MaxReadCapacityUnits = options.Double("max-rcu", 0),
            Pipeline = new PipelineOptions
            {
                Encoders = options.Int("encoders", PipelineOptions.Default.Encoders),
                ScanQueuePages = options.Int("queue-pages", PipelineOptions.Default.ScanQueuePages),
                PartSizeBytes = options.Int("part-size", PipelineOptions.Default.PartSizeBytes),
                PartsInFlight = options.Int("parts-in-flight", PipelineOptions.Default.PartsInFlight),
                GarbageBudgetBytes = options.Int("garbage-budget", (int)PipelineOptions.Default.GarbageBudgetBytes),
            },
        };
        var clock = Stopwatch.StartNew();
        BackupResult? backup = null;
        await BackupRunner.RunAsync(request, new QuietHost(), r => backup = r, CancellationToken.None).ConfigureAwait(false);
        result["seconds"] = clock.Elapsed.TotalSeconds;
        result["items"] = backup!.ItemCount;
        result["jsonBytes"] = backup.UncompressedSizeBytes;
        result["storedBytes"] = backup.SizeBytes;
        result["dataFiles"] = backup.DataFileCount;
        result["segments"] = backup.Segments;
        result["consumedCapacityUnits"] = backup.ConsumedReadCapacityUnits;
        result["uri"] = backup.Uri;
    }

    public static async Task ValidateAsync(Options options, JsonObject result)
    {
        var clock = Stopwatch.StartNew();
        var report = await Operations.CheckIntegrityAsync(options.Get("uri"), IntegrityLevel.Full, new AwsOptions(), new QuietHost(), CancellationToken.None).ConfigureAwait(false);
        result["seconds"] = clock.Elapsed.TotalSeconds;
        if (!report.IsValid) throw new InvalidOperationException("the backup did not validate: " + string.Join("; ", report.Problems));
        result["items"] = report.ItemsVerified;
    }

    public static async Task RestoreAsync(Options options, JsonObject result)
    {
        using var invoker = options.Get("engine", "write") == "lambda" ? new BackupDR.Engine.Deploy.LambdaFunctionInvoker(new AwsOptions(), options.Get("function"), "live") : null;
        var request = new RestoreRequest
        {
            Engine = invoker is null ? RestoreEngine.Write : RestoreEngine.Lambda,
            Invoker = invoker,
            Workers = options.Int("workers", 4),
            Uri = options.Get("uri"),
            TableName = options.Get("table"),
            Parallelism = options.Int("parallelism", 4),
            MaxWriteCapacityUnits = options.Double("max-wcu", 0),
            Pipeline = new PipelineOptions { GarbageBudgetBytes = options.Int("garbage-budget", (int)PipelineOptions.Default.GarbageBudgetBytes) },
        };
        var clock = Stopwatch.StartNew();
        var restored = await RestoreRunner.RunAsync(request, new QuietHost(), CancellationToken.None).ConfigureAwait(false);
        result["seconds"] = clock.Elapsed.TotalSeconds;
        result["items"] = restored.ItemsWritten;
        result["parallelism"] = request.Parallelism;
        result["consumedCapacityUnits"] = restored.ConsumedWriteCapacityUnits;
        result["writeSeconds"] = restored.WriteDuration.TotalSeconds;
    }
}
