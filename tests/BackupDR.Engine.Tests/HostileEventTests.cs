using System.Text;
using System.Text.Json.Nodes;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Storage;
using BackupDR.Lambda;
using Xunit.Abstractions;

namespace BackupDR.Engine.Tests;

/// <summary>
/// The hostile-input matrix for what is not a backup folder: restore checkpoints (anyone who can write
/// where they are kept could forge one) and Lambda events (whatever a caller sends). Each case asserts its
/// error id, that no table was written and that nothing outside changed.
/// </summary>
public sealed class HostileEventTests(LocalServices services, ITestOutputHelper output) : IClassFixture<LocalServices>
{
    private sealed class OneShotApi(string e) : IRuntimeApi
    {
        private string? _event = e;
        public (bool Failed, string? ErrorType, string Body)? Outcome { get; private set; }

        public Task<Invocation?> NextAsync(CancellationToken cancellationToken)
        {
            var next = _event is null ? null : new Invocation(Guid.NewGuid().ToString(), DateTimeOffset.UtcNow.AddMinutes(15), null, null, Encoding.UTF8.GetBytes(_event));
            _event = null;
            return Task.FromResult(next);
        }

        public Task RespondAsync(string requestId, byte[] json, CancellationToken cancellationToken)
        {
            Outcome = (false, null, Encoding.UTF8.GetString(json));
            return Task.CompletedTask;
        }

        public Task FailAsync(string requestId, string errorType, string message, CancellationToken cancellationToken)
        {
            Outcome = (true, errorType, message);
            return Task.CompletedTask;
        }

        public Task InitFailedAsync(string errorType, string message, CancellationToken cancellationToken) => throw new InvalidOperationException($"init failed: {errorType}: {message}");
    }

    private sealed class Sink(ITestOutputHelper output) : TextWriter
    {
        public override Encoding Encoding => Encoding.UTF8;
        public override void Write(string? value) => output.WriteLine(value?.TrimEnd());
    }

    private async Task<(bool Failed, string? ErrorType, string Body)> InvokeAsync(string handler, Dictionary<string, string?> env, string e)
    {
        env["_HANDLER"] = handler;
        var api = new OneShotApi(e);
        Assert.Equal(0, await new LambdaHost(api, TimeProvider.System, name => env.GetValueOrDefault(name), new Sink(output)).RunAsync(CancellationToken.None));
        return api.Outcome!.Value;
    }

    private async Task<(string Bucket, string Uri, string Table)> BackedUpAsync()
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(55, 40));
        string bucket = await services.CreateBucketAsync();
        var results = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [table], Target = BackupLocation.ForBucket(bucket, "backupdr") }, NullOperationHost.Instance, results.Add, CancellationToken.None);
        return (bucket, results[0].Uri, table);
    }

    /// <summary>An event that names something outside the function's confinement; a valid backup stands there, so reading it would have succeeded.</summary>
    public static TheoryData<string, string, string, string> Events() => new()
    {
        // function, what the event names, event template ({other} a valid backup outside, {local} one on disk, {target} a new table), error type
        { "validation", "another bucket", "{\"uri\": \"{other}\"}", "LocationNotAllowed" },
        { "validation", "a local path", "{\"uri\": \"{local}\"}", "LocationNotAllowed" },
        { "validation", "another prefix of the bucket", "{\"uri\": \"{sibling}\"}", "LocationNotAllowed" },
        { "validation", "an S3 record of another bucket", "{\"Records\":[{\"s3\":{\"bucket\":{\"name\":\"{otherBucket}\"},\"object\":{\"key\":\"{otherKey}_committed\"}}}]}", "LocationNotAllowed" },
        { "recovery", "another bucket", "{\"table_name\": \"{target}\", \"uri\": \"{other}\"}", "LocationNotAllowed" },
        { "recovery", "a local path", "{\"table_name\": \"{target}\", \"uri\": \"{local}\"}", "LocationNotAllowed" },
        { "recovery", "another backup_bucket", "{\"table_name\": \"{target}\", \"backup_bucket\": \"{otherBucket}\", \"backup_file\": \"{otherKey}_committed\"}", "LocationNotAllowed" },
        { "recovery", "a backup_file that climbs out with ..", "{\"table_name\": \"{target}\", \"backup_file\": \"backupdr/../{siblingKey}_committed\"}", "LocationNotAllowed" },
        { "recovery", "a table RESTORE_TABLES does not allow", "{\"table_name\": \"not-allowed-{target}\", \"uri\": \"{own}\"}", "TableNotAllowed" },
        { "backup", "another bucket", "{\"tables\": [\"{table}\"], \"bucket\": \"{otherBucket}\"}", "LocationNotAllowed" },
        { "backup", "a prefix outside BACKUP_PREFIX", "{\"tables\": [\"{table}\"], \"prefix\": \"elsewhere\"}", "LocationNotAllowed" },
        { "backup", "a prefix that climbs out with ..", "{\"tables\": [\"{table}\"], \"prefix\": \"backupdr/../elsewhere\"}", "LocationNotAllowed" },
        { "backup", "an export's completion in another bucket", "{\"source\":\"aws.s3\",\"detail\":{\"bucket\":{\"name\":\"{otherBucket}\"},\"object\":{\"key\":\"{otherKey}AWSDynamoDB/01796253503459-9f970c89/manifest-summary.json\"}}}", "LocationNotAllowed" },
        { "backup", "an export's completion under another prefix", "{\"Records\":[{\"s3\":{\"bucket\":{\"name\":\"{bucket}\"},\"object\":{\"key\":\"{siblingKey}AWSDynamoDB/01796253503459-9f970c89/manifest-summary.json\"}}}]}", "LocationNotAllowed" },
        { "backup", "an export's completion that climbs out with ..", "{\"source\":\"aws.s3\",\"detail\":{\"bucket\":{\"name\":\"{bucket}\"},\"object\":{\"key\":\"backupdr/../{siblingKey}AWSDynamoDB/01796253503459-9f970c89/manifest-summary.json\"}}}", "LocationNotAllowed" },
        { "backup", "an export's completion in a folder no table can have", "{\"source\":\"aws.s3\",\"detail\":{\"bucket\":{\"name\":\"{bucket}\"},\"object\":{\"key\":\"backupdr/no%table/20260101T000000000Z-00000000/AWSDynamoDB/01796253503459-9f970c89/manifest-summary.json\"}}}", "InvalidArgument" },
        { "backup", "the export engine with the scan's segments", "{\"tables\": [\"{table}\"], \"engine\": \"export\", \"segments\": 4}", "InvalidEvent" },
        { "backup", "an engine there is not", "{\"tables\": [\"{table}\"], \"engine\": \"magic\"}", "InvalidEvent" },
        { "backup", "an incremental scan", "{\"tables\": [\"{table}\"], \"incremental\": true}", "InvalidEvent" },
        { "replication", "another bucket", "{\"uri\": \"{other}\"}", "LocationNotAllowed" },
        { "replication", "a local path", "{\"uri\": \"{local}\"}", "LocationNotAllowed" },
        { "replication", "an S3 record of another bucket", "{\"Records\":[{\"s3\":{\"bucket\":{\"name\":\"{otherBucket}\"},\"object\":{\"key\":\"{otherKey}_committed\"}}}]}", "LocationNotAllowed" },
        { "replication", "an EventBridge S3 event of another bucket", "{\"source\":\"aws.s3\",\"detail-type\":\"Object Created\",\"detail\":{\"bucket\":{\"name\":\"{otherBucket}\"},\"object\":{\"key\":\"{otherKey}_committed\"}}}", "LocationNotAllowed" },
        { "validation", "an EventBridge S3 event of another bucket", "{\"source\":\"aws.s3\",\"detail-type\":\"Object Created\",\"detail\":{\"bucket\":{\"name\":\"{otherBucket}\"},\"object\":{\"key\":\"{otherKey}_committed\"}}}", "LocationNotAllowed" },
        { "validation", "a compliance check naming a table pattern with a path", "{\"compliance\": {\"tables\": [\"../*\"], \"max_age_seconds\": 60}}", "InvalidArgument" },
        { "validation", "a compliance check with a limit of no time", "{\"compliance\": {\"max_rto_seconds\": 0}}", "InvalidEvent" },
        { "recovery", "a drill of another bucket's backup", "{\"drill\": {\"table\": \"{table}\", \"uri\": \"{other}\", \"scratch_table\": \"{target}\"}}", "LocationNotAllowed" },
        { "recovery", "a drill into a table RESTORE_TABLES does not allow", "{\"drill\": {\"table\": \"{table}\", \"scratch_table\": \"not-allowed-{target}\"}}", "TableNotAllowed" },
    };

    [Theory]
    [MemberData(nameof(Events))]
    public async Task A_function_refuses_an_event_naming_what_its_configuration_does_not_allow(string function, string names, string template, string errorType)
    {
        var (bucket, own, table) = await BackedUpAsync();
        var (otherBucket, other, _) = await BackedUpAsync();
        // The same table backed up under another prefix of the function's own bucket.
        var sibling = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [table], Target = BackupLocation.ForBucket(bucket, "elsewhere") }, NullOperationHost.Instance, sibling.Add, CancellationToken.None);
        string localTarget = Path.Combine(Path.GetTempPath(), "bdr-event-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(localTarget);
        var local = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [table], Target = BackupLocation.ForFolder(localTarget) }, NullOperationHost.Instance, local.Add, CancellationToken.None);
        string target = LocalServices.UniqueName("evt");
        string e = template.Replace("{other}", other).Replace("{local}", local[0].Uri).Replace("{sibling}", sibling[0].Uri)
            .Replace("{otherBucket}", otherBucket).Replace("{otherKey}", other[$"s3://{otherBucket}/".Length..])
            .Replace("{siblingKey}", sibling[0].Uri[$"s3://{bucket}/".Length..]).Replace("{target}", target).Replace("{own}", own).Replace("{table}", table).Replace("{bucket}", bucket);
        var before = await ObjectsAsync(bucket, otherBucket);

        // The replica bucket is the other bucket: a replica written there would show in its objects.
        var outcome = await InvokeAsync(function, new()
        {
            ["BACKUP_BUCKET"] = bucket, ["RESTORE_TABLES"] = "evt-*", ["BACKUPDR_CHECKPOINT_URI"] = $"s3://{bucket}/checkpoints/", ["REPLICA_BUCKET"] = otherBucket,
        }, e);

        output.WriteLine($"{function} given {names}: {outcome.ErrorType}: {outcome.Body}");
        Assert.True(outcome.Failed, $"{function} accepted an event naming {names}: {outcome.Body}");
        Assert.Equal(errorType, outcome.ErrorType);
        Assert.False(await services.TableExistsAsync(target));
        Assert.False(await services.TableExistsAsync("not-allowed-" + target));
        Assert.Equal(before, await ObjectsAsync(bucket, otherBucket));
    }

    private async Task<List<string>> ObjectsAsync(params string[] buckets)
    {
        var keys = new List<string>();
        foreach (string b in buckets)
        {
            var list = await services.S3.ListObjectsV2Async(new Amazon.S3.Model.ListObjectsV2Request { BucketName = b });
            keys.AddRange((list.S3Objects ?? []).Select(o => $"{b}/{o.Key}:{o.ETag}"));
        }
        keys.Sort(StringComparer.Ordinal);
        return keys;
    }

    public static TheoryData<string, string> Checkpoints() => new()
    {
        { "of another table", ErrorIds.CheckpointMismatch },
        { "of another backup", ErrorIds.CheckpointMismatch },
        { "with more items done than the file holds", ErrorIds.CheckpointInvalid },
        { "naming a file the backup does not hold", ErrorIds.CheckpointInvalid },
        { "larger than 64 MiB", ErrorIds.CheckpointInvalid },
    };

    [Theory]
    [MemberData(nameof(Checkpoints))]
    public async Task A_forged_checkpoint_is_refused_and_nothing_is_written(string forged, string errorId)
    {
        var (_, uri, _) = await BackedUpAsync();
        string checkpoints = Path.Combine(Path.GetTempPath(), "bdr-forged-cp-" + Guid.NewGuid().ToString("N")[..8]);
        string target = LocalServices.UniqueName("cp");
        using var wire = DynamoWireClient.For(services.DynamoDB, new AwsClientFactory(new()));
        var fast = new RetryPolicy(1, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1));
        using (var folder = BackupFolder.Open(BackupLocation.Parse(uri), new AwsClientFactory(new())))
        {
            await Assert.ThrowsAsync<BackupDRException>(() => new RestoreRunner(services.DynamoDB, new FailingAfter(wire, 0), NullOperationHost.Instance, fast)
                .RestoreAsync(folder, new RestoreRequest { Uri = uri, TableName = target, CheckpointUri = checkpoints }, CancellationToken.None));
        }
        string file = Assert.Single(Directory.GetFiles(checkpoints));
        var checkpoint = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
        switch (forged)
        {
            case "of another table": checkpoint["tableName"] = "someone-elses"; break;
            case "of another backup": checkpoint["backupUri"] = uri.Replace("backupdr/", "backupdr/x", StringComparison.Ordinal); break;
            case "with more items done than the file holds":
                checkpoint["files"] = new JsonObject { ["data/s000-f0000.json.gz"] = new JsonObject { ["items"] = 1_000_000, ["written"] = 1_000_000, ["skipped"] = 0 } };
                break;
            case "naming a file the backup does not hold":
                checkpoint["files"] = new JsonObject { ["../../etc/passwd"] = new JsonObject { ["items"] = 0, ["written"] = 0, ["skipped"] = 0 } };
                break;
        }
        File.WriteAllText(file, forged == "larger than 64 MiB" ? "{\"pad\":\"" + new string('p', 65 << 20) + "\"}" : checkpoint.ToJsonString());

        var error = await Assert.ThrowsAsync<BackupDRException>(() => RestoreRunner.RunAsync(
            new RestoreRequest { Uri = uri, TableName = target, Resume = true, CheckpointUri = checkpoints }, NullOperationHost.Instance, CancellationToken.None));

        output.WriteLine($"a checkpoint {forged}: {error.ErrorId}: {error.Message}");
        Assert.Equal(errorId, error.ErrorId);
        Assert.Empty(await services.ReadTableAsync(target));   // created by the interrupted run, never written
    }
}
