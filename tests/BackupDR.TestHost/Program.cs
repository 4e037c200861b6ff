using System.Text.Json;
using BackupDR.Engine;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Storage;

// usage: BackupDR.TestHost backup <table> <target-uri> <max-data-file-bytes> <part-size-bytes>
//        BackupDR.TestHost restore <backup-uri> <table> <checkpoint-uri> <mode|-> [resume] [force]
//        BackupDR.TestHost validate <backup-uri>     (Full; for the hostile-input matrix's bombs)
// Endpoints and credentials come from the environment (AWS_ENDPOINT_URL_*), as for any SDK program.
// Waits for a line on stdin first (the test arms its kill rule with this PID meanwhile), then prints
// one JSON line with the result, or the error id and message (exit 1).
Console.In.ReadLine();
try
{
    object result = args[0] switch
    {
        "backup" => await BackupAsync(args[1], args[2], long.Parse(args[3]), int.Parse(args[4])),
        "restore" => await RestoreRunner.RunAsync(new RestoreRequest
        {
            Uri = args[1],
            TableName = args[2],
            CheckpointUri = args[3],
            Mode = args[4] == "-" ? null : Enum.Parse<RestoreMode>(args[4]),
            Resume = args.Skip(5).Contains("resume"),
            Force = args.Skip(5).Contains("force"),
            Parallelism = 4,
            CheckpointInterval = TimeSpan.FromMilliseconds(200),
        }, NullOperationHost.Instance, CancellationToken.None),
        "validate" => await ValidateAsync(args[1]),
        _ => throw new ArgumentException($"unknown command '{args[0]}'"),
    };
    Console.WriteLine(JsonSerializer.Serialize(result, result.GetType()));
    return 0;
}
catch (BackupDRException e)
{
    Console.WriteLine(JsonSerializer.Serialize(new { e.ErrorId, e.Message, PeakRssBytes = PeakRss() }));
    return 1;
}

static async Task<object> ValidateAsync(string uri)
{
    var clock = System.Diagnostics.Stopwatch.StartNew();
    var report = await Operations.CheckIntegrityAsync(uri, BackupDR.Engine.Validation.IntegrityLevel.Full, new BackupDR.Engine.Aws.AwsOptions(), NullOperationHost.Instance, CancellationToken.None);
    var cpu = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
    return new
    {
        report.IsValid, Problems = report.Problems.Select(p => p.ToString()).ToList(), report.ProblemCount,
        PeakRssBytes = PeakRss(), Seconds = clock.Elapsed.TotalSeconds, CpuSeconds = cpu.TotalSeconds,
    };
}

// The process's peak resident set (VmHWM), what the bomb cases bound.
static long PeakRss()
{
    foreach (string line in File.ReadLines("/proc/self/status"))
    {
        if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }
    return -1;
}

static async Task<BackupResult> BackupAsync(string table, string target, long maxDataFileBytes, int partSize)
{
    BackupResult? result = null;
    await BackupRunner.RunAsync(new BackupRequest
    {
        TableNames = [table],
        Target = BackupLocation.Parse(target),
        Segments = 3,
        MaxDataFileBytes = maxDataFileBytes,
        Pipeline = new PipelineOptions { PartSizeBytes = partSize },
    }, NullOperationHost.Instance, r => result = r, CancellationToken.None);
    return result!;
}
