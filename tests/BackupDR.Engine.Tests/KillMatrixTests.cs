using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Catalog;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;
using Xunit.Abstractions;

namespace BackupDR.Engine.Tests;

/// <summary>
/// tests/BackupDR.TestHost in a child process whose requests go through the fault proxies; a kill
/// rule SIGKILLs it at a chosen request, as a machine lost mid-operation would stop it.
/// </summary>
internal sealed class KillTarget(FaultProxies proxies)
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private static string HostDll
    {
        get
        {
            // tests/BackupDR.Engine.Tests/bin/<configuration>/net10.0/ → tests/BackupDR.TestHost/bin/<configuration>/net10.0/
            var bin = new DirectoryInfo(AppContext.BaseDirectory);
            string configuration = bin.Parent!.Name;
            return Path.GetFullPath(Path.Combine(bin.FullName, "../../../../BackupDR.TestHost/bin", configuration, "net10.0/BackupDR.TestHost.dll"));
        }
    }

    /// <summary>Runs the host; with <paramref name="killAt"/> (a regex over "METHOD /path?query target body") it is killed at that request's nth match.</summary>
    public async Task<(int ExitCode, string Output, bool Killed)> RunAsync(string[] arguments, string? killAt = null, int nth = 1, string when = "before")
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(HostDll);
        foreach (string a in arguments) start.ArgumentList.Add(a);
        start.Environment["AWS_ENDPOINT_URL_DYNAMODB"] = proxies.DynamoDb;
        start.Environment["AWS_ENDPOINT_URL_S3"] = proxies.S3;
        using var process = Process.Start(start)!;
        foreach (string endpoint in new[] { proxies.DynamoDb, proxies.S3 })
        {
            (await Http.PostAsync(endpoint + "/__fault/reset", null)).EnsureSuccessStatusCode();
            if (Environment.GetEnvironmentVariable("BACKUPDR_TEST_TRACE") == "1")
            {
                (await Http.PostAsJsonAsync(endpoint + "/__fault/config", new { trace = true })).EnsureSuccessStatusCode();
            }
            if (killAt is not null)
            {
                var armed = await Http.PostAsJsonAsync(endpoint + "/__fault/kill", new { pid = process.Id, match = killAt, nth, when });
                Assert.True(armed.IsSuccessStatusCode, await armed.Content.ReadAsStringAsync());
            }
        }
        await process.StandardInput.WriteLineAsync("go");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        bool killed = false;
        foreach (string endpoint in new[] { proxies.DynamoDb, proxies.S3 })
        {
            var stats = await Http.GetFromJsonAsync<JsonObject>(endpoint + "/__fault/stats");
            killed |= (bool)stats!["killed"]!;
            (await Http.PostAsync(endpoint + "/__fault/reset", null)).EnsureSuccessStatusCode();
        }
        return (process.ExitCode, (await output) + (await errors), killed);
    }
}

/// <summary>
/// Backups and restores killed (SIGKILL) at many points. No killed backup may pass validation, each is
/// listed as incomplete and removable with its pending uploads; every killed restore, resumed, ends
/// with the table equal to the source.
/// </summary>
[Collection(FaultProxiesCollection.Name)]
public sealed class KillMatrixTests(LocalServices services, FaultProxies proxies, ITestOutputHelper output)
    : IClassFixture<LocalServices>, IAsyncLifetime
{
    private const int ItemCount = 6000;
    private string _table = "";
    private string _bucket = "";
    private string _backupUri = "";
    private Dictionary<string, string> _source = [];

    public async Task InitializeAsync()
    {
        _table = await services.CreateTableAsync();
        await services.PutItemsAsync(_table, TestItems.Random(501, ItemCount));
        _source = await services.ReadTableAsync(_table);
        _bucket = await services.CreateBucketAsync();
        var results = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [_table], Target = BackupLocation.ForBucket(_bucket, "good"), MaxDataFileBytes = 512 * 1024 },
            NullOperationHost.Instance, results.Add, CancellationToken.None);
        _backupUri = results[0].Uri;
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public static TheoryData<string, string, int, string> BackupKillPoints => new()
    {
        { "mid-scan", "DynamoDB_20120810\\.Scan", 3, "before" },
        { "multipart upload started", "^POST \\S+\\?uploads", 1, "after" },
        { "mid part uploads", "^PUT \\S+partNumber=", 2, "before" },
        { "completing a data file", "^POST \\S+uploadId=", 1, "before" },
        { "writing manifest-files.json", "^PUT \\S+/manifest-files\\.json", 1, "before" },
        { "after manifest-summary.json", "^PUT \\S+/manifest-summary\\.json", 1, "after" },
        { "writing the commit marker", "^PUT \\S+/_committed", 1, "before" },
    };

    [Theory]
    [MemberData(nameof(BackupKillPoints))]
    public async Task A_backup_killed_at_any_point_leaves_nothing_valid_and_can_be_removed(string point, string match, int nth, string when)
    {
        string prefix = "killed-" + Guid.NewGuid().ToString("N")[..6];
        // One data file spanning several Scan pages, shipped in 64 KB parts: a multipart upload in flight.
        var run = await new KillTarget(proxies).RunAsync(["backup", _table, $"s3://{_bucket}/{prefix}", (4 << 20).ToString(), (64 * 1024).ToString()], match, nth, when);
        output.WriteLine($"{point}: exit {run.ExitCode}, killed {run.Killed}; {run.Output.Trim()}");
        Assert.True(run.Killed, $"the kill rule for '{point}' never fired");
        Assert.NotEqual(0, run.ExitCode);

        string target = $"s3://{_bucket}/{prefix}";
        var listed = await Operations.ListBackupsAsync(target, null, new AwsOptions(), CancellationToken.None);
        Assert.All(listed, b => Assert.Equal(BackupStatus.Incomplete, b.Status));
        foreach (var backup in listed)
        {
            if (backup.ObjectCount == 0)
            {
                // Only a pending multipart upload: there is no object that could pass for a backup.
                var none = await Assert.ThrowsAsync<BackupDRException>(() =>
                    Operations.CheckIntegrityAsync(backup.Uri, IntegrityLevel.Full, new AwsOptions(), NullOperationHost.Instance, CancellationToken.None));
                Assert.Equal(ErrorIds.BackupNotFound, none.ErrorId);
                Assert.True(backup.PendingUploads > 0);
            }
            else
            {
                var report = await Operations.CheckIntegrityAsync(backup.Uri, IntegrityLevel.Full, new AwsOptions(), NullOperationHost.Instance, CancellationToken.None);
                Assert.False(report.IsValid);
                Assert.Contains(report.Problems, p => p.Code == ProblemCodes.MissingCommitMarker);
            }
            var removed = await Operations.RemoveBackupAsync(backup.Uri, new AwsOptions(), CancellationToken.None);
            output.WriteLine($"{point}: removed {removed.ObjectsDeleted} objects, aborted {removed.UploadsAborted} uploads of {backup.BackupId}");
        }
        if (point == "multipart upload started") Assert.Contains(listed, b => b.PendingUploads > 0);
        var objects = await services.S3.ListObjectsV2Async(new Amazon.S3.Model.ListObjectsV2Request { BucketName = _bucket, Prefix = prefix + "/" });
        Assert.Empty(objects.S3Objects ?? []);
        var uploads = await services.S3.ListMultipartUploadsAsync(new Amazon.S3.Model.ListMultipartUploadsRequest { BucketName = _bucket, Prefix = prefix + "/" });
        Assert.Empty(uploads.MultipartUploads ?? []);
    }

    public static TheoryData<string, string, int, string, bool> RestoreKillPoints => new()
    {
        { "verifying the backup", "^GET \\S+/data/", 2, "before", false },
        { "creating the table", "DynamoDB_20120810\\.CreateTable", 1, "before", false },
        { "table created, answer lost", "DynamoDB_20120810\\.CreateTable", 1, "after", false },
        { "first batch", "DynamoDB_20120810\\.BatchWriteItem", 1, "before", false },
        { "early batch written, answer lost", "DynamoDB_20120810\\.BatchWriteItem", 30, "after", false },
        { "late batch", "DynamoDB_20120810\\.BatchWriteItem", 200, "before", false },
        { "checkpoint in S3 being written", "^PUT \\S+/checkpoints/", 3, "before", true },
    };

    [Theory]
    [MemberData(nameof(RestoreKillPoints))]
    public async Task A_restore_killed_at_any_point_resumes_to_a_table_equal_to_the_source(string point, string match, int nth, string when, bool s3Checkpoint)
    {
        string target = LocalServices.UniqueName("killed");
        string checkpoints = s3Checkpoint ? $"s3://{_bucket}/checkpoints/" : Path.Combine(Path.GetTempPath(), "bdr-kill-" + Guid.NewGuid().ToString("N")[..8]);
        var host = new KillTarget(proxies);
        var killed = await host.RunAsync(["restore", _backupUri, target, checkpoints, "-"], match, nth, when);
        output.WriteLine($"{point}: exit {killed.ExitCode}, killed {killed.Killed}; {killed.Output.Trim()}");
        Assert.True(killed.Killed, $"the kill rule for '{point}' never fired");
        Assert.NotEqual(0, killed.ExitCode);
        string before = await ItemsInAsync(target);

        var resumed = await host.RunAsync(["restore", _backupUri, target, checkpoints, "-", "resume"]);
        output.WriteLine($"{point}: {before} items before the resume; resume exit {resumed.ExitCode}: {resumed.Output.Trim()}");
        Assert.Equal(0, resumed.ExitCode);
        Assert.Contains($"\"ItemsWritten\":{ItemCount}", resumed.Output);
        Assert.Equal(_source, await services.ReadTableAsync(target));
    }

    [Fact]
    public async Task An_exact_restore_killed_while_deleting_resumes_and_deletes_the_rest()
    {
        string target = LocalServices.UniqueName("killed-exact");
        await RestoreRunner_Run(target);
        await services.PutItemsAsync(target, Enumerable.Range(0, 60).Select(i => new Dictionary<string, AttributeValue>
        {
            ["pk"] = new() { S = $"extra-{i}" },
            ["sk"] = new() { N = i.ToString() },
        }));
        string checkpoints = Path.Combine(Path.GetTempPath(), "bdr-kill-" + Guid.NewGuid().ToString("N")[..8]);
        var host = new KillTarget(proxies);
        // Forced: the target is not the backup's own table, and no one is there to be asked.
        var killed = await host.RunAsync(["restore", _backupUri, target, checkpoints, "Exact", "force"], "DynamoDB_20120810\\.BatchWriteItem .*DeleteRequest", 2, "after");
        output.WriteLine($"exit {killed.ExitCode}, killed {killed.Killed}; {await ItemsInAsync(target)} items left");
        Assert.True(killed.Killed);

        var resumed = await host.RunAsync(["restore", _backupUri, target, checkpoints, "-", "resume", "force"]);
        output.WriteLine(resumed.Output.Trim());
        Assert.Equal(0, resumed.ExitCode);
        Assert.Contains("\"Resumed\":true", resumed.Output);
        Assert.Equal(_source, await services.ReadTableAsync(target));
    }

    /// <summary>For the log: how far the killed restore got (a table left CREATING cannot be scanned yet).</summary>
    private async Task<string> ItemsInAsync(string table)
    {
        try
        {
            return await services.TableExistsAsync(table) ? (await services.ReadTableAsync(table)).Count.ToString() : "no table,";
        }
        catch (Amazon.DynamoDBv2.Model.ResourceNotFoundException)
        {
            return "a table still being created,";
        }
    }

    private Task RestoreRunner_Run(string target) =>
        Restore.RestoreRunner.RunAsync(new Restore.RestoreRequest { Uri = _backupUri, TableName = target }, NullOperationHost.Instance, CancellationToken.None);
}
