using System.Text;
using System.Text.Json.Nodes;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Storage;
using BackupDR.Lambda;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace BackupDR.Engine.Tests;

/// <summary>
/// The Lambda host's loop in this process, behind its seams: a Runtime API that hands out events, a
/// clock the test moves (the invocation deadline and the rate limiter run on it), the environment as
/// a dictionary, and the log as lines the test reads.
/// </summary>
public sealed class LambdaInProcessTests(LocalServices services, ITestOutputHelper output) : IClassFixture<LocalServices>
{
    /// <summary>The Runtime API as a queue: each invocation gets a deadline 15 minutes ahead on the test's clock.</summary>
    private sealed class QueuedRuntimeApi(TimeProvider time, params string[] events) : IRuntimeApi
    {
        private readonly Queue<string> _events = new(events);
        public List<(bool Failed, string? ErrorType, JsonObject Body)> Outcomes { get; } = [];
        public (string Type, string Message)? InitError { get; private set; }

        public Task<Invocation?> NextAsync(CancellationToken cancellationToken) => Task.FromResult(_events.TryDequeue(out var e)
            ? new Invocation(Guid.NewGuid().ToString(), time.GetUtcNow().AddMinutes(15), null, null, Encoding.UTF8.GetBytes(e))
            : null);

        public Task RespondAsync(string requestId, byte[] json, CancellationToken cancellationToken)
        {
            Outcomes.Add((false, null, JsonNode.Parse(json)!.AsObject()));
            return Task.CompletedTask;
        }

        public Task FailAsync(string requestId, string errorType, string message, CancellationToken cancellationToken)
        {
            Outcomes.Add((true, errorType, new JsonObject { ["errorType"] = errorType, ["errorMessage"] = message }));
            return Task.CompletedTask;
        }

        public Task InitFailedAsync(string errorType, string message, CancellationToken cancellationToken)
        {
            InitError = (errorType, message);
            return Task.CompletedTask;
        }
    }

    /// <summary>The function's log, line by line, to the test's output and to a watcher.</summary>
    private sealed class LogLines(ITestOutputHelper output, Action<string>? watch = null) : TextWriter
    {
        public override Encoding Encoding => Encoding.UTF8;
        public List<string> Lines { get; } = [];

        public override void Write(string? value)
        {
            foreach (string line in (value ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                lock (Lines) Lines.Add(line);
                output.WriteLine(line);
                watch?.Invoke(line);
            }
        }
    }

    /// <summary>
    /// A restore's log that drives its clock: 11 s on at each progress report (the log reports at most every 10 s),
    /// then, at report <paramref name="reports"/>, 20 minutes on — past the invocation's deadline, mid-restore.
    /// </summary>
    private sealed class DeadlineJump(ITestOutputHelper output, FakeTimeProvider clock, int reports)
    {
        private int _seen;
        public bool Jumped { get; private set; }

        public LogLines Log => new(output, line =>
        {
            if (Jumped || !line.Contains("\"progress\"", StringComparison.Ordinal) || !line.Contains("Restoring into table", StringComparison.Ordinal)) return;
            if (++_seen < reports)
            {
                clock.Advance(TimeSpan.FromSeconds(11));
                return;
            }
            Jumped = true;
            clock.Advance(TimeSpan.FromMinutes(20));
        });
    }

    private static Func<string, string?> Environment(Dictionary<string, string?> values) => name => values.GetValueOrDefault(name);

    private async Task<(string Table, string Bucket, string Uri, Dictionary<string, string> Items)> BackedUpAsync(int count, int seed)
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(seed, count));
        string bucket = await services.CreateBucketAsync();
        var results = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest
        {
            TableNames = [table], Target = BackupLocation.ForBucket(bucket, "backupdr"), Segments = 3, MaxDataFileBytes = 64 * 1024,
        }, NullOperationHost.Instance, results.Add, CancellationToken.None);
        return (table, bucket, results[0].Uri, await services.ReadTableAsync(table));
    }

    [Fact]
    public async Task A_restore_stopped_by_its_deadline_mid_way_is_resumed_by_the_next_invocation()
    {
        var (_, bucket, uri, source) = await BackedUpAsync(2000, 901);
        string target = LocalServices.UniqueName("lambda-deadline");
        var env = new Dictionary<string, string?>
        {
            ["_HANDLER"] = "recovery", ["BACKUP_BUCKET"] = bucket, ["RESTORE_TABLES"] = "lambda-deadline*",
            ["BACKUPDR_CHECKPOINT_URI"] = $"s3://{bucket}/checkpoints/",
        };
        // One writer: batches are acknowledged in file order, so the checkpoint's count is exactly what was written.
        string restoreEvent = $"{{\"table_name\": \"{target}\", \"uri\": \"{uri}\", \"parallelism\": 1}}";

        // First invocation: after eight progress reports (200 items written) the clock jumps past the deadline.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var jump = new DeadlineJump(output, clock, 8);
        var log = jump.Log;
        var first = new QueuedRuntimeApi(clock, restoreEvent);
        Assert.Equal(0, await new LambdaHost(first, clock, Environment(env), log).RunAsync(CancellationToken.None));

        var stopped = Assert.Single(first.Outcomes);
        Assert.True(jump.Jumped, "the restore never reported progress");
        Assert.Equal("DeadlineReached", stopped.ErrorType);
        Assert.Contains("invoke it again", (string)stopped.Body["errorMessage"]!);
        // In between: the table is part-written and the checkpoint says how far.
        var checkpoint = await CheckpointAsync(bucket);
        long claimed = checkpoint["files"]!.AsObject().Sum(f => (long)f.Value!["items"]!);
        int partial = (await services.ReadTableAsync(target)).Count;
        output.WriteLine($"stopped with {partial} items in the table; the checkpoint counts {claimed}");
        Assert.InRange(claimed, 200, 1999);
        Assert.InRange(partial, (int)claimed, 1999);

        // The next invocation, same event (a retry): it continues from the checkpoint.
        var second = new QueuedRuntimeApi(clock, restoreEvent);
        Assert.Equal(0, await new LambdaHost(second, clock, Environment(env), new LogLines(output)).RunAsync(CancellationToken.None));
        var done = Assert.Single(second.Outcomes);
        Assert.False(done.Failed, done.Body.ToJsonString());
        var result = done.Body["result"]!;
        Assert.True((bool)result["resumed"]!);
        Assert.Equal(claimed, (long)result["itemsVerified"]!);   // what the checkpoint claimed was found in the table
        Assert.Equal(2000, (long)result["itemsWritten"]!);
        Assert.Equal(source, await services.ReadTableAsync(target));
    }

    /// <summary>
    /// The recovery function given a DynamoDB export in its bucket, the seed's way (<c>backup_bucket</c> +
    /// <c>backup_file</c>, here any object of the export): the export is verified by its own rules and
    /// restored with the key the event gives; a chain of exports (the AWSDynamoDB folder) likewise.
    /// </summary>
    [Fact]
    public async Task The_recovery_function_restores_a_native_export_and_a_chain()
    {
        string bucket = await services.CreateBucketAsync();
        var store = new S3BackupStore(new Aws.AwsClientFactory(new()).CreateS3(), bucket);
        var fixture = new NativeExportFixture(store, "backupdr/", bucket);
        var items = TestItems.Random(77, 150);
        var t0 = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        string full = await fixture.WriteFullAsync("orders", t0, items);
        var added = TestItems.Random(78, 10);
        await fixture.WriteIncrementalAsync("orders", t0, t0.AddHours(1), added.Select(i => new Change(new() { ["pk"] = i["pk"], ["sk"] = i["sk"] }, i, null)).ToList());
        var env = new Dictionary<string, string?> { ["_HANDLER"] = "recovery", ["BACKUP_BUCKET"] = bucket, ["BACKUP_PREFIX"] = "backupdr", ["RESTORE_TABLES"] = "lambda-native*" };

        string one = LocalServices.UniqueName("lambda-native");
        string chain = LocalServices.UniqueName("lambda-native");
        var api = new QueuedRuntimeApi(TimeProvider.System,
            $"{{\"table_name\": \"{one}\", \"backup_bucket\": \"{bucket}\", \"backup_file\": \"backupdr/AWSDynamoDB/{full}/manifest-summary.json\", \"key_schema\": \"pk:S,sk:N\"}}",
            $"{{\"table_name\": \"{chain}\", \"backup_bucket\": \"{bucket}\", \"backup_file\": \"backupdr/AWSDynamoDB/\", \"key_schema\": \"pk:S,sk:N\"}}",
            $"{{\"table_name\": \"{LocalServices.UniqueName("lambda-native")}\", \"backup_bucket\": \"{bucket}\", \"backup_file\": \"backupdr/AWSDynamoDB/{full}/\"}}");
        Assert.Equal(0, await new LambdaHost(api, TimeProvider.System, Environment(env), new LogLines(output)).RunAsync(CancellationToken.None));

        Assert.Equal(3, api.Outcomes.Count);
        var first = api.Outcomes[0];
        Assert.False(first.Failed, first.Body.ToJsonString());
        Assert.Equal("NativeExport", (string)first.Body["result"]!["format"]!);
        Assert.Equal(150, (long)first.Body["result"]!["itemsWritten"]!);
        Assert.Equal(150, (await services.ReadTableAsync(one)).Count);
        var second = api.Outcomes[1];
        Assert.False(second.Failed, second.Body.ToJsonString());
        Assert.Equal("NativeExportChain", (string)second.Body["result"]!["format"]!);
        Assert.Equal(160, (await services.ReadTableAsync(chain)).Count);
        // No key given and no table: the function says what is missing, and writes nothing.
        Assert.True(api.Outcomes[2].Failed);
        Assert.Equal("KeySchemaRequired", api.Outcomes[2].ErrorType);
    }

    /// <summary>
    /// The seed's own recovery event, unchanged, pointing at a file the seed's backup Lambda wrote
    /// (written here by Python as the seed wrote it): restored into the existing table, the seed's
    /// losses in the result. And a dynamodump folder, named by its schema.json.
    /// </summary>
    [Fact]
    public async Task The_recovery_function_takes_the_seeds_own_event_and_a_dynamodump_folder()
    {
        string bucket = await services.CreateBucketAsync();
        var store = new S3BackupStore(new Aws.AwsClientFactory(new()).CreateS3(), bucket);
        string local = Path.Combine(Path.GetTempPath(), "bdr-lambda-foreign-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(local);
        string seed = ForeignFixtures.Seed(local, "app-users", bulk: 30);
        await store.PutAsync("dynamodb-backups/" + Path.GetFileName(seed), await File.ReadAllBytesAsync(seed), CancellationToken.None);
        string dump = ForeignFixtures.Dump(local, "users", items: 40, perPage: 15);
        foreach (var file in Directory.EnumerateFiles(dump, "*", SearchOption.AllDirectories))
        {
            await store.PutAsync("dynamodb-backups/dumps/users/" + Path.GetRelativePath(dump, file), await File.ReadAllBytesAsync(file), CancellationToken.None);
        }
        string target = await services.CreateTableAsync(LocalServices.UniqueName("lambda-seed"));
        string dumped = LocalServices.UniqueName("lambda-seed");
        var env = new Dictionary<string, string?> { ["_HANDLER"] = "recovery", ["BACKUP_BUCKET"] = bucket, ["BACKUP_PREFIX"] = "dynamodb-backups", ["RESTORE_TABLES"] = "lambda-seed*" };
        var api = new QueuedRuntimeApi(TimeProvider.System,
            $"{{\"table_name\": \"{target}\", \"backup_bucket\": \"{bucket}\", \"backup_file\": \"dynamodb-backups/{Path.GetFileName(seed)}\", \"batch_size\": 25}}",
            $"{{\"table_name\": \"{dumped}\", \"backup_bucket\": \"{bucket}\", \"backup_file\": \"dynamodb-backups/dumps/users/schema.json\"}}");
        Assert.Equal(0, await new LambdaHost(api, TimeProvider.System, Environment(env), new LogLines(output)).RunAsync(CancellationToken.None));

        var restored = api.Outcomes[0];
        Assert.False(restored.Failed, restored.Body.ToJsonString());
        var result = restored.Body["result"]!;
        Assert.Equal("SeedV2", (string)result["format"]!);
        Assert.Equal(35, (long)result["itemsWritten"]!);
        Assert.Contains(result["losses"]!.AsArray(), l => (string)l!["attribute"]! == "big" && (string)l!["kind"]! == "ThroughFloat");
        Assert.Equal(ForeignFixtures.Expected(seed + ".expected.json"), await services.ReadTableAsync(target));
        var fromDump = api.Outcomes[1];
        Assert.False(fromDump.Failed, fromDump.Body.ToJsonString());
        Assert.Equal("Dynamodump", (string)fromDump.Body["result"]!["format"]!);
        Assert.Equal(ForeignFixtures.Expected(Path.Combine(local, "users.expected.json")), await services.ReadTableAsync(dumped));
    }

    /// <summary>The backup function with a retention policy: after each successful run, its tables keep that many committed backups.</summary>
    [Fact]
    public async Task The_backup_function_applies_its_retention_after_a_successful_run()
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(3, 20));
        string bucket = await services.CreateBucketAsync();
        var env = new Dictionary<string, string?> { ["_HANDLER"] = "backup", ["BACKUP_BUCKET"] = bucket, ["RETENTION_KEEP_LAST"] = "2" };
        string backup = $"{{\"tables\": [\"{table}\"]}}";
        var api = new QueuedRuntimeApi(TimeProvider.System, backup, backup, backup);
        Assert.Equal(0, await new LambdaHost(api, TimeProvider.System, Environment(env), new LogLines(output)).RunAsync(CancellationToken.None));
        Assert.All(api.Outcomes, o => Assert.False(o.Failed, o.Body.ToJsonString()));
        string Uri(int run) => (string)api.Outcomes[run].Body["results"]![0]!["uri"]!;
        Assert.Empty(api.Outcomes[1].Body["removed"]!.AsArray());
        Assert.Equal([Uri(0)], api.Outcomes[2].Body["removed"]!.AsArray().Select(u => (string)u!));
        var left = await Operations.ListBackupsAsync($"s3://{bucket}/backupdr/", table, new Aws.AwsOptions(), CancellationToken.None);
        Assert.Equal([Uri(1), Uri(2)], left.Select(b => b.Uri));

        var bad = new QueuedRuntimeApi(TimeProvider.System, backup);
        await new LambdaHost(bad, TimeProvider.System, Environment(new() { ["_HANDLER"] = "backup", ["BACKUP_BUCKET"] = bucket, ["RETENTION_KEEP_LAST"] = "0" }), new LogLines(output))
            .RunAsync(CancellationToken.None);
        Assert.Equal("InvalidConfiguration", bad.InitError?.Type);
    }

    /// <summary>
    /// The functions with LEDGER_TABLE: the backup function records the backup, the validation function its
    /// validation (in the ledger and the journal), and the validation function answers compliance from the ledger —
    /// the validated table compliant, a table never backed up failing the invocation (ComplianceFailed).
    /// </summary>
    [Fact]
    public async Task The_functions_record_in_the_ledger_and_the_validation_function_answers_compliance()
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(907, 80));
        string never = await services.CreateTableAsync();
        string bucket = await services.CreateBucketAsync();
        string ledger = LocalServices.UniqueName("fn-ledger");
        await new Ledger.LedgerTable(services.DynamoDB, ledger).EnsureAsync(NullOperationHost.Instance, CancellationToken.None);   // as Deploy-BackupFunctions creates it
        Dictionary<string, string?> Env(string handler) => new() { ["_HANDLER"] = handler, ["BACKUP_BUCKET"] = bucket, ["LEDGER_TABLE"] = ledger };
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);

        var backup = new QueuedRuntimeApi(clock, $"{{\"tables\": [\"{table}\"]}}");
        Assert.Equal(0, await new LambdaHost(backup, clock, Environment(Env("backup")), new LogLines(output)).RunAsync(CancellationToken.None));
        var backedUp = Assert.Single(backup.Outcomes);
        Assert.False(backedUp.Failed, backedUp.Body.ToJsonString());
        Assert.Empty(backedUp.Body["reportFailures"]!.AsArray());
        string uri = (string)backedUp.Body["results"]![0]!["uri"]!;

        var validation = new QueuedRuntimeApi(clock, $"{{\"uri\": \"{uri}\"}}");
        Assert.Equal(0, await new LambdaHost(validation, clock, Environment(Env("validation")), new LogLines(output)).RunAsync(CancellationToken.None));
        Assert.False(Assert.Single(validation.Outcomes).Failed);
        var (entries, records) = await new Ledger.LedgerTable(services.DynamoDB, ledger).ReadAsync(table, _ => { }, CancellationToken.None);
        var entry = Assert.Single(entries);
        Assert.Equal(Ledger.LedgerStatus.Committed, entry.Status);
        Assert.NotNull(entry.LastFullValidationAt);
        Assert.StartsWith("lambda:", Assert.Single(records).Host);
        var journal = new Ledger.RecordJournal(new BackupFolder(new S3BackupStore(services.S3, bucket), "backupdr"));
        Assert.Single(await journal.ReadAsync(table, _ => { }, CancellationToken.None));

        // Compliance: the validated table passes; with a table never backed up the invocation fails, rows logged.
        string limits = "\"max_validation_age_seconds\": 3600";
        var compliant = new QueuedRuntimeApi(clock, $"{{\"compliance\": {{\"tables\": [\"{table}\"], {limits}}}}}",
            $"{{\"compliance\": {{\"tables\": [\"{table}\", \"{never}\"], {limits}}}}}");
        var log = new LogLines(output);
        Assert.Equal(0, await new LambdaHost(compliant, clock, Environment(Env("validation")), log).RunAsync(CancellationToken.None));
        var ok = compliant.Outcomes[0];
        Assert.False(ok.Failed, ok.Body.ToJsonString());
        Assert.Equal("compliant", (string)ok.Body["status"]!);
        Assert.Equal("Ledger", (string)ok.Body["rows"]![0]!["source"]!);
        var failed = compliant.Outcomes[1];
        Assert.True(failed.Failed);
        Assert.Equal("ComplianceFailed", failed.ErrorType);
        Assert.Contains($"{never}: NoBackup", (string)failed.Body["errorMessage"]!);
    }

    /// <summary>Invokes the backup function in this process, one host per invocation (as Lambda runs one per request).</summary>
    private sealed class InProcessInvoker(Dictionary<string, string?> env, ITestOutputHelper output, Func<int, int, bool>? failAfter = null) : IFunctionInvoker
    {
        private readonly Dictionary<int, int> _attempts = [];
        public IReadOnlyDictionary<int, int> Attempts => _attempts;

        public async Task<JsonObject> InvokeAsync(JsonObject payload, CancellationToken cancellationToken)
        {
            int segment = (int)payload["fanout"]!["segment"]!;
            int attempt;
            lock (_attempts) attempt = _attempts[segment] = _attempts.GetValueOrDefault(segment) + 1;
            var api = new QueuedRuntimeApi(TimeProvider.System, payload.ToJsonString());
            await new LambdaHost(api, TimeProvider.System, name => env.GetValueOrDefault(name), new LogLines(output)).RunAsync(cancellationToken);
            var outcome = Assert.Single(api.Outcomes);
            if (outcome.Failed) throw new InvalidOperationException($"{outcome.ErrorType}: {outcome.Body["errorMessage"]}");
            // A worker whose answer is lost after it wrote its files (a timeout, a crash on the way out).
            if (failAfter?.Invoke(segment, attempt) == true) throw new TimeoutException($"segment {segment}'s answer was lost");
            return outcome.Body;
        }
    }

    /// <summary>
    /// Fan-out: a backup split over 4 invocations of the backup function, each scanning one segment into its own
    /// streams' data files; one worker's answer lost after it wrote, so it is invoked again and rewrites its share;
    /// the caller commits a backup that validates Full and restores equal to the source.
    /// </summary>
    [Fact]
    public async Task A_backup_fanned_out_to_four_workers_with_one_lost_is_complete_and_restores_equal()
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(909, 3000));
        string bucket = await services.CreateBucketAsync();
        var env = new Dictionary<string, string?> { ["_HANDLER"] = "backup", ["BACKUP_BUCKET"] = bucket };
        var invoker = new InProcessInvoker(env, output, (segment, attempt) => segment == 1 && attempt == 1);
        var results = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest
        {
            TableNames = [table], Target = BackupLocation.ForBucket(bucket, "backupdr"), Engine = BackupEngine.Lambda, Segments = 4, Invoker = invoker, MaxDataFileBytes = 64 * 1024,
        }, NullOperationHost.Instance, results.Add, CancellationToken.None);
        var backup = Assert.Single(results);
        Assert.Equal(BackupEngine.Lambda, backup.Engine);
        Assert.Equal(4, backup.Segments);
        Assert.Equal(3000, backup.ItemCount);
        Assert.Equal(2, invoker.Attempts[1]);
        Assert.All(new[] { 0, 2, 3 }, s => Assert.Equal(1, invoker.Attempts[s]));
        var check = await Operations.CheckIntegrityAsync(backup.Uri, Validation.IntegrityLevel.Full, new Aws.AwsOptions(), NullOperationHost.Instance, CancellationToken.None);
        Assert.True(check.IsValid, string.Join("; ", check.Problems));
        string restored = LocalServices.UniqueName("fanned");
        await Restore.RestoreRunner.RunAsync(new Restore.RestoreRequest { Uri = backup.Uri, TableName = restored, CheckpointUri = ForeignFixtures.Folder("bdr-fanout-cp") }, NullOperationHost.Instance, CancellationToken.None);
        Assert.Equal(await services.ReadTableAsync(table), await services.ReadTableAsync(restored));

        // A share outside the function's root, or naming another table's folder, is refused.
        var api = new QueuedRuntimeApi(TimeProvider.System,
            $"{{\"fanout\": {{\"table\": \"{table}\", \"backup_uri\": \"s3://elsewhere/backupdr/{table}/20260101T000000000Z-00000000/\", \"segment\": 0, \"total_segments\": 2}}}}",
            $"{{\"fanout\": {{\"table\": \"{table}\", \"backup_uri\": \"s3://{bucket}/backupdr/other-table/20260101T000000000Z-00000000/\", \"segment\": 0, \"total_segments\": 2}}}}");
        await new LambdaHost(api, TimeProvider.System, name => env.GetValueOrDefault(name), new LogLines(output)).RunAsync(CancellationToken.None);
        Assert.All(api.Outcomes, o => Assert.Equal("LocationNotAllowed", o.ErrorType));
    }

    /// <summary>Invokes the recovery function in this process; the first attempt of one worker runs on a clock that jumps past its deadline mid-restore.</summary>
    private sealed class RestoreInvoker(Dictionary<string, string?> env, ITestOutputHelper output, int killWorker) : IFunctionInvoker
    {
        private readonly Dictionary<int, int> _attempts = [];
        private DeadlineJump? _jump;
        public IReadOnlyDictionary<int, int> Attempts => _attempts;
        public bool Killed => _jump?.Jumped == true;

        public async Task<JsonObject> InvokeAsync(JsonObject payload, CancellationToken cancellationToken)
        {
            int worker = (int)payload["fanout_restore"]!["worker"]!;
            int attempt;
            lock (_attempts) attempt = _attempts[worker] = _attempts.GetValueOrDefault(worker) + 1;
            TimeProvider clock = TimeProvider.System;
            LogLines log = new(output);
            if (worker == killWorker && attempt == 1)
            {
                var fake = new FakeTimeProvider(DateTimeOffset.UtcNow);
                _jump = new DeadlineJump(output, fake, 3);
                log = _jump.Log;
                clock = fake;
            }
            var api = new QueuedRuntimeApi(clock, payload.ToJsonString());
            await new LambdaHost(api, clock, name => env.GetValueOrDefault(name), log).RunAsync(cancellationToken);
            var outcome = Assert.Single(api.Outcomes);
            if (outcome.Failed) throw new InvalidOperationException($"{outcome.ErrorType}: {outcome.Body["errorMessage"]}");
            return outcome.Body;
        }
    }

    /// <summary>
    /// Fan-out restore: 4 workers of the recovery function, each a disjoint share of the data files with its own
    /// checkpoint; one stopped by its deadline mid-way is invoked again and continues; the table equals the source.
    /// </summary>
    [Fact]
    public async Task A_restore_fanned_out_to_four_workers_with_one_stopped_mid_way_is_complete()
    {
        var (table, bucket, uri, source) = await BackedUpAsync(4000, 910);
        string target = LocalServices.UniqueName("fanout-restored");
        var env = new Dictionary<string, string?>
        {
            ["_HANDLER"] = "recovery", ["BACKUP_BUCKET"] = bucket, ["RESTORE_TABLES"] = "fanout-restored*", ["BACKUPDR_CHECKPOINT_URI"] = $"s3://{bucket}/checkpoints/",
        };
        var invoker = new RestoreInvoker(env, output, killWorker: 1);
        var result = await Restore.RestoreRunner.RunAsync(new Restore.RestoreRequest
        {
            Uri = uri, TableName = target, Engine = Restore.RestoreEngine.Lambda, Workers = 4, Invoker = invoker,
        }, NullOperationHost.Instance, CancellationToken.None);
        Assert.True(invoker.Killed, "the worker never reached its deadline");
        Assert.Equal(2, invoker.Attempts[1]);
        Assert.Equal(Restore.RestoreEngine.Lambda, result.Engine);
        Assert.Equal(4000, result.ItemsWritten);
        Assert.Equal(source, await services.ReadTableAsync(target));
        _ = table;
    }

    /// <summary>The recovery function runs a drill when its event asks: the report in the answer, a failed drill a failed invocation, no scratch table left.</summary>
    [Fact]
    public async Task The_recovery_function_runs_a_drill_and_fails_a_stale_one()
    {
        var (table, bucket, _, _) = await BackedUpAsync(120, 903);
        var env = new Dictionary<string, string?> { ["_HANDLER"] = "recovery", ["BACKUP_BUCKET"] = bucket, ["RESTORE_TABLES"] = $"{table}-drill-*" };
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var api = new QueuedRuntimeApi(clock,
            $"{{\"drill\": {{\"table\": \"{table}\", \"max_rpo_seconds\": 3600}}}}",
            $"{{\"drill\": {{\"table\": \"{table}\", \"scratch_table\": \"elsewhere\"}}}}");
        Assert.Equal(0, await new LambdaHost(api, clock, Environment(env), new LogLines(output)).RunAsync(CancellationToken.None));
        var passed = api.Outcomes[0];
        Assert.False(passed.Failed, passed.Body.ToJsonString());
        Assert.True((bool)passed.Body["drill"]!["passed"]!);
        Assert.Equal(120, (long)passed.Body["drill"]!["itemsVerified"]!);
        Assert.False(await services.TableExistsAsync((string)passed.Body["drill"]!["scratchTableName"]!));
        Assert.Equal("TableNotAllowed", api.Outcomes[1].ErrorType);   // a scratch table RESTORE_TABLES does not allow

        clock.Advance(TimeSpan.FromHours(2));   // the backup is now older than the drill's limit
        var stale = new QueuedRuntimeApi(clock, $"{{\"drill\": {{\"table\": \"{table}\", \"max_rpo_seconds\": 3600}}}}");
        Assert.Equal(0, await new LambdaHost(stale, clock, Environment(env), new LogLines(output)).RunAsync(CancellationToken.None));
        var failed = Assert.Single(stale.Outcomes);
        Assert.True(failed.Failed);
        Assert.Equal("DrillFailed", failed.ErrorType);
        Assert.Contains("MaxRpo", (string)failed.Body["errorMessage"]!);
    }

    /// <summary>
    /// A drill longer than one invocation: stopped by its deadline mid-restore, it keeps its scratch table and
    /// its state, and the same event continues it — the restore from its checkpoint, the RPO from the first
    /// run's start, the runs counted — and then removes the scratch table and the state.
    /// </summary>
    [Fact]
    public async Task A_drill_stopped_by_its_deadline_is_continued_by_the_next_invocation()
    {
        var (table, bucket, _, _) = await BackedUpAsync(2000, 905);
        var env = new Dictionary<string, string?>
        {
            ["_HANDLER"] = "recovery", ["BACKUP_BUCKET"] = bucket, ["RESTORE_TABLES"] = $"{table}-drill-*", ["BACKUPDR_CHECKPOINT_URI"] = $"s3://{bucket}/checkpoints/",
        };
        string drillEvent = $"{{\"drill\": {{\"table\": \"{table}\", \"parallelism\": 1}}}}";
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var jump = new DeadlineJump(output, clock, 8);
        var log = jump.Log;
        var first = new QueuedRuntimeApi(clock, drillEvent);
        Assert.Equal(0, await new LambdaHost(first, clock, Environment(env), log).RunAsync(CancellationToken.None));
        var stopped = Assert.Single(first.Outcomes);
        Assert.True(jump.Jumped, "the drill's restore never reported progress");
        Assert.Equal("DeadlineReached", stopped.ErrorType);
        Assert.Contains("the same drill event continues it", (string)stopped.Body["errorMessage"]!);
        var stateStore = new S3BackupStore(new Aws.AwsClientFactory(new Aws.AwsOptions()).CreateS3(), bucket);
        var state = JsonNode.Parse((await stateStore.TryReadAllAsync($"checkpoints/drill-{table}.json", 65536, CancellationToken.None))!)!;
        string scratch = (string)state["scratchTable"]!;
        Assert.Equal("restore", (string)state["phase"]!);
        int partial = (await services.ReadTableAsync(scratch)).Count;
        Assert.InRange(partial, 200, 1999);   // kept, part-restored

        // The retry: the same event, 20 minutes later on the clock.
        var second = new QueuedRuntimeApi(clock, drillEvent);
        Assert.Equal(0, await new LambdaHost(second, clock, Environment(env), new LogLines(output)).RunAsync(CancellationToken.None));
        var done = Assert.Single(second.Outcomes);
        Assert.False(done.Failed, done.Body.ToJsonString());
        var drill = done.Body["drill"]!;
        Assert.True((bool)drill["passed"]!);
        Assert.Equal(2, (int)drill["runs"]!);
        Assert.Equal(scratch, (string)drill["scratchTableName"]!);
        Assert.Equal(2000, (long)drill["itemsVerified"]!);
        Assert.Equal(2000, (long)drill["itemsRestored"]!);
        // RPO from the first run's start: the backup was minutes old then, though the clock is now past 20 minutes on.
        Assert.True(TimeSpan.Parse((string)drill["rpo"]!, System.Globalization.CultureInfo.InvariantCulture) < TimeSpan.FromMinutes(10), drill.ToJsonString());
        Assert.True((bool)drill["scratchTableRemoved"]!);
        Assert.False(await services.TableExistsAsync(scratch));
        Assert.Null(await stateStore.TryReadAllAsync($"checkpoints/drill-{table}.json", 65536, CancellationToken.None));
    }

    /// <summary>A forged drill state naming another table as the scratch table (which a drill removes) is set aside: the drill runs afresh and that table is untouched.</summary>
    [Fact]
    public async Task A_forged_drill_state_cannot_point_a_drill_at_another_table()
    {
        var (table, bucket, uri, items) = await BackedUpAsync(150, 906);
        string backupId = uri.TrimEnd('/').Split('/')[^1];
        var env = new Dictionary<string, string?>
        {
            ["_HANDLER"] = "recovery", ["BACKUP_BUCKET"] = bucket, ["RESTORE_TABLES"] = $"{table}*", ["BACKUPDR_CHECKPOINT_URI"] = $"s3://{bucket}/checkpoints/",
        };
        var stateStore = new S3BackupStore(new Aws.AwsClientFactory(new Aws.AwsOptions()).CreateS3(), bucket);
        // The drilled table itself, then a table RESTORE_TABLES allows, each named as the "scratch table" of a drill in progress.
        foreach (string victim in new[] { table, table + "-prod" })
        {
            if (victim != table)
            {
                await services.CreateTableAsync(victim);
                await services.PutItemsAsync(victim, TestItems.Random(906, 150));
            }
            string forged = new JsonObject
            {
                ["format"] = "backupdr-drill-state", ["version"] = 1, ["table"] = table, ["scratchTable"] = victim, ["backupId"] = backupId,
                ["started"] = DateTimeOffset.UtcNow.AddMinutes(-5).ToString("O"), ["phase"] = "verify", ["restoreSeconds"] = 1, ["verifySeconds"] = 0, ["itemsRestored"] = 150, ["invocations"] = 1,
            }.ToJsonString();
            await stateStore.PutAsync($"checkpoints/drill-{table}.json", Encoding.UTF8.GetBytes(forged), CancellationToken.None);
            var log = new LogLines(output);
            var api = new QueuedRuntimeApi(TimeProvider.System, $"{{\"drill\": {{\"table\": \"{table}\"}}}}");
            Assert.Equal(0, await new LambdaHost(api, TimeProvider.System, Environment(env), log).RunAsync(CancellationToken.None));
            var outcome = Assert.Single(api.Outcomes);
            Assert.False(outcome.Failed, outcome.Body.ToJsonString());
            Assert.NotEqual(victim, (string)outcome.Body["drill"]!["scratchTableName"]!);
            Assert.Equal(1, (int)outcome.Body["drill"]!["runs"]!);
            Assert.Contains(log.Lines, l => l.Contains("is not used", StringComparison.Ordinal) && l.Contains("is not the one this drill would make", StringComparison.Ordinal));
            Assert.Equal(items, await services.ReadTableAsync(victim));   // untouched
        }
    }

    /// <summary>The replication function, fired by a commit marker's S3 event: a replica under the same key that validates Full; a second delivery copies nothing; a damaged backup is not replicated.</summary>
    /// <summary>Runs the function once per event, in order, and answers the outcomes.</summary>
    private async Task<List<(bool Failed, string? ErrorType, JsonObject Body)>> InvokeAsync(Dictionary<string, string?> env, params string[] events)
    {
        var api = new QueuedRuntimeApi(TimeProvider.System, events);
        await new LambdaHost(api, TimeProvider.System, Environment(env), new LogLines(output)).RunAsync(CancellationToken.None);
        return api.Outcomes;
    }

    /// <summary>The key of the export summary DynamoDB writes into a backup's folder, once it is there.</summary>
    private async Task<string> ExportSummaryKeyAsync(string bucket, string backupUri)
    {
        string prefix = backupUri[$"s3://{bucket}/".Length..] + "AWSDynamoDB/";
        for (int i = 0; i < 200; i++)
        {
            var listed = await services.S3.ListObjectsV2Async(new Amazon.S3.Model.ListObjectsV2Request { BucketName = bucket, Prefix = prefix });
            if (listed.S3Objects?.FirstOrDefault(o => o.Key.EndsWith("/manifest-summary.json", StringComparison.Ordinal)) is { } summary) return summary.Key;
            await Task.Delay(50);
        }
        throw new TimeoutException($"No export summary under s3://{bucket}/{prefix}");
    }

    private static string EventBridgeObjectCreated(string bucket, string key) =>
        $"{{\"version\": \"0\", \"source\": \"aws.s3\", \"detail-type\": \"Object Created\", \"detail\": {{\"bucket\": {{\"name\": \"{bucket}\"}}, \"object\": {{\"key\": \"{key}\", \"size\": 100}}}}}}";

    /// <summary>
    /// The backup function's Export engine: a scheduled run starts the export and answers "exporting" (nothing
    /// committed, nothing reported); S3's event for the export's summary (through EventBridge) commits it, Full-valid and
    /// restoring equal; an incremental started by the next run is finished by the run after (its sweep). Hostile
    /// completion events — another bucket, a forged export folder, another backup's export — are refused, and the
    /// folder they name is left as it was, uncommitted.
    /// </summary>
    [Fact]
    public async Task The_backup_functions_export_is_started_by_a_run_and_committed_by_its_completion_or_the_next_run()
    {
        string table = await services.CreateTableAsync();
        var items = TestItems.Random(912, 700);
        await services.PutItemsAsync(table, items);
        string bucket = await services.CreateBucketAsync();
        await services.DynamoDB.UpdateContinuousBackupsAsync(new Amazon.DynamoDBv2.Model.UpdateContinuousBackupsRequest
        {
            TableName = table, PointInTimeRecoverySpecification = new Amazon.DynamoDBv2.Model.PointInTimeRecoverySpecification { PointInTimeRecoveryEnabled = true },
        });
        var env = new Dictionary<string, string?> { ["_HANDLER"] = "backup", ["BACKUP_BUCKET"] = bucket, ["BACKUP_ENGINE"] = "Export" };
        string scheduled = $"{{\"tables\": [\"{table}\"]}}";

        var start = Assert.Single(await InvokeAsync(env, scheduled));
        Assert.False(start.Failed, start.Body.ToJsonString());
        Assert.Empty(start.Body["results"]!.AsArray());
        var exporting = Assert.Single(start.Body["exporting"]!.AsArray())!;
        Assert.Equal("Exporting", (string)exporting["status"]!);
        string uri = (string)exporting["uri"]!;
        Assert.Empty(await Operations.ListBackupsAsync($"s3://{bucket}/backupdr/", table, new Aws.AwsOptions(), CancellationToken.None) is var listed
            ? listed.Where(b => b.Status == Catalog.BackupStatus.Committed) : []);

        // The export's summary lands: its event commits the backup; a second delivery of it changes nothing.
        string summaryKey = await ExportSummaryKeyAsync(bucket, uri);
        var done = await InvokeAsync(env, EventBridgeObjectCreated(bucket, summaryKey), EventBridgeObjectCreated(bucket, summaryKey));
        Assert.All(done, o => Assert.False(o.Failed, o.Body.ToJsonString()));
        var committed = Assert.Single(done[0].Body["results"]!.AsArray())!;
        Assert.Equal(uri, (string)committed["uri"]!);
        Assert.Equal(700, (long)committed["itemCount"]!);
        Assert.Empty(done[1].Body["results"]!.AsArray());
        var check = await Operations.CheckIntegrityAsync(uri, Validation.IntegrityLevel.Full, new Aws.AwsOptions(), NullOperationHost.Instance, CancellationToken.None);
        Assert.True(check.IsValid, string.Join("; ", check.Problems));
        Assert.Equal(700, check.ItemsVerified);

        // Changes, then an incremental: started by one run, finished by the next run's sweep (which starts another).
        await services.PutItemsAsync(table, TestItems.Random(913, 40));
        await Task.Delay(2100);   // the local endpoint's shortest incremental window (AWS: 15 minutes)
        var incremental = Assert.Single(await InvokeAsync(env, $"{{\"tables\": [\"{table}\"], \"incremental\": true}}"));
        Assert.False(incremental.Failed, incremental.Body.ToJsonString());
        string incrementalUri = (string)incremental.Body["exporting"]![0]!["uri"]!;
        await ExportSummaryKeyAsync(bucket, incrementalUri);
        var atIncremental = await services.ReadTableAsync(table);
        await Task.Delay(500);   // past the endpoint's transition time: the export is COMPLETED
        var sweep = Assert.Single(await InvokeAsync(env, scheduled));
        Assert.False(sweep.Failed, sweep.Body.ToJsonString());
        var swept = Assert.Single(sweep.Body["results"]!.AsArray())!;
        Assert.Equal(incrementalUri, (string)swept["uri"]!);
        Assert.Equal(uri.TrimEnd('/').Split('/')[^1], (string)swept["baseBackupId"]!);
        Assert.Single(sweep.Body["exporting"]!.AsArray());
        string restored = LocalServices.UniqueName("from-function-export");
        await Restore.RestoreRunner.RunAsync(new Restore.RestoreRequest { Uri = incrementalUri, TableName = restored, CheckpointUri = ForeignFixtures.Folder("bdr-fn-export-cp") },
            NullOperationHost.Instance, CancellationToken.None);
        Assert.Equal(atIncremental, await services.ReadTableAsync(restored));

        // The recovery function to a point between the full backup and the incremental: the table's folder, the full backup chosen.
        var pointEvent = $"{{\"table_name\": \"{restored}-at\", \"source_table\": \"{table}\", \"point_in_time\": \"{DateTimeOffset.Parse((string)committed["exportTime"]!).AddMilliseconds(500):O}\"}}";
        var atPoint = Assert.Single(await InvokeAsync(new() { ["_HANDLER"] = "recovery", ["BACKUP_BUCKET"] = bucket, ["RESTORE_TABLES"] = $"{restored}-at" }, pointEvent));
        Assert.False(atPoint.Failed, atPoint.Body.ToJsonString());
        Assert.Equal((string)committed["backupId"]!, (string)atPoint.Body["result"]!["backupId"]!);
        Assert.Equal(700, (await services.ReadTableAsync($"{restored}-at")).Count);

        // Hostile completions: another bucket; a forged export folder DynamoDB knows nothing of; a real export copied into another backup's folder.
        var store = new S3BackupStore(new Aws.AwsClientFactory(new()).CreateS3(), bucket);
        string forged = $"backupdr/{table}/{Format.BackupFormat.NewBackupId(DateTimeOffset.UtcNow)}/";
        await store.PutAsync(forged + "AWSDynamoDB/01796253503459-9f970c89/manifest-summary.json", "{}"u8.ToArray(), CancellationToken.None);
        string stolenId = summaryKey.Split('/')[^2];
        string stolen = $"backupdr/{table}/{Format.BackupFormat.NewBackupId(DateTimeOffset.UtcNow.AddSeconds(1))}/";
        await store.PutAsync(stolen + $"AWSDynamoDB/{stolenId}/manifest-summary.json", "{}"u8.ToArray(), CancellationToken.None);
        var hostile = await InvokeAsync(env,
            EventBridgeObjectCreated("elsewhere", summaryKey),
            EventBridgeObjectCreated(bucket, forged + "AWSDynamoDB/01796253503459-9f970c89/manifest-summary.json"),
            EventBridgeObjectCreated(bucket, stolen + $"AWSDynamoDB/{stolenId}/manifest-summary.json"));
        Assert.Equal(["LocationNotAllowed", "BackupIntegrityFailed", "BackupIntegrityFailed"], hostile.Select(o => o.ErrorType));
        Assert.Contains("no export", (string)hostile[1].Body["errorMessage"]!);
        Assert.Contains("is not the export of backup", (string)hostile[2].Body["errorMessage"]!);
        foreach (string folder in new[] { forged, stolen })
        {
            var left = await services.S3.ListObjectsV2Async(new Amazon.S3.Model.ListObjectsV2Request { BucketName = bucket, Prefix = folder });
            Assert.Equal([folder + "AWSDynamoDB/" + (folder == forged ? "01796253503459-9f970c89" : stolenId) + "/manifest-summary.json"], left.S3Objects!.Select(o => o.Key));
        }
        // An S3 event for any other key is not a completion: ignored, nothing started.
        var other = Assert.Single(await InvokeAsync(env, EventBridgeObjectCreated(bucket, uri[$"s3://{bucket}/".Length..] + "_committed")));
        Assert.Equal("ignored", (string)other.Body["status"]!);
    }

    [Fact]
    public async Task The_replication_function_copies_a_committed_backup_under_the_same_key()
    {
        var (_, bucket, uri, _) = await BackedUpAsync(500, 904);
        string replica = await services.CreateBucketAsync();
        string key = uri[$"s3://{bucket}/".Length..] + "_committed";
        string record = $"{{\"Records\": [{{\"eventName\": \"ObjectCreated:Put\", \"s3\": {{\"bucket\": {{\"name\": \"{bucket}\"}}, \"object\": {{\"key\": \"{key}\"}}}}}}]}}";
        var env = new Dictionary<string, string?> { ["_HANDLER"] = "replication", ["BACKUP_BUCKET"] = bucket, ["REPLICA_BUCKET"] = replica };
        var api = new QueuedRuntimeApi(TimeProvider.System, record, record);
        Assert.Equal(0, await new LambdaHost(api, TimeProvider.System, Environment(env), new LogLines(output)).RunAsync(CancellationToken.None));
        Assert.All(api.Outcomes, o => Assert.False(o.Failed, o.Body.ToJsonString()));
        string copy = uri.Replace($"s3://{bucket}/", $"s3://{replica}/", StringComparison.Ordinal);
        Assert.Equal(copy, (string)api.Outcomes[0].Body["replicas"]![0]!);
        Assert.Equal(copy, (string)api.Outcomes[1].Body["replicas"]![0]!);
        var report = await ForeignFixtures.CheckAsync(copy, Validation.IntegrityLevel.Full);
        Assert.True(report.IsValid, string.Join("; ", report.Problems));
        Assert.Equal(500, report.ItemsVerified);

        // A damaged backup: not replicated, the invocation fails with the integrity error, nothing committed at the replica.
        var (_, bucket2, uri2, _) = await BackedUpAsync(100, 905);
        var store = new S3BackupStore(new Aws.AwsClientFactory(new()).CreateS3(), bucket2);
        string dataKey = uri2[$"s3://{bucket2}/".Length..] + "data/s000-f0000.json.gz";
        byte[] bytes = (await store.TryReadAllAsync(dataKey, 1 << 24, CancellationToken.None))!;
        bytes[^30] ^= 0x01;
        await store.PutAsync(dataKey, bytes, CancellationToken.None);
        var damaged = new QueuedRuntimeApi(TimeProvider.System, $"{{\"uri\": \"{uri2}\"}}");
        await new LambdaHost(damaged, TimeProvider.System, Environment(new() { ["_HANDLER"] = "replication", ["BACKUP_BUCKET"] = bucket2, ["REPLICA_BUCKET"] = replica }), new LogLines(output))
            .RunAsync(CancellationToken.None);
        Assert.Equal("BackupIntegrityFailed", Assert.Single(damaged.Outcomes).ErrorType);
        Assert.DoesNotContain(await Operations.ListBackupsAsync($"s3://{replica}/", null, new Aws.AwsOptions(), CancellationToken.None), b => uri2.EndsWith(b.BackupId + "/", StringComparison.Ordinal));

        // Without REPLICA_BUCKET the function does not start.
        var unset = new QueuedRuntimeApi(TimeProvider.System);
        await new LambdaHost(unset, TimeProvider.System, Environment(new() { ["_HANDLER"] = "replication", ["BACKUP_BUCKET"] = bucket }), new LogLines(output)).RunAsync(CancellationToken.None);
        Assert.Equal("InvalidConfiguration", unset.InitError?.Type);
    }

    private async Task<JsonObject> CheckpointAsync(string bucket)
    {
        var list = await services.S3.ListObjectsV2Async(new Amazon.S3.Model.ListObjectsV2Request { BucketName = bucket, Prefix = "checkpoints/" });
        var key = Assert.Single(list.S3Objects).Key;
        using var response = await services.S3.GetObjectAsync(bucket, key);
        return JsonNode.Parse(response.ResponseStream)!.AsObject();
    }

    [Fact]
    public async Task Every_init_failure_is_reported_as_an_init_error()
    {
        var time = TimeProvider.System;
        async Task<(string Type, string Message)> InitAsync(Dictionary<string, string?> env, Func<string, string?>? environment = null)
        {
            var api = new QueuedRuntimeApi(time, "{}");
            Assert.Equal(1, await new LambdaHost(api, time, environment ?? Environment(env), new LogLines(output)).RunAsync(CancellationToken.None));
            Assert.Empty(api.Outcomes);
            return api.InitError!.Value;
        }

        Assert.Equal("Runtime.InvalidHandler", (await InitAsync(new() { ["_HANDLER"] = "lambda_function.lambda_handler", ["BACKUP_BUCKET"] = "b-1" })).Type);
        var noBucket = await InitAsync(new() { ["_HANDLER"] = "backup" });
        Assert.Equal("InvalidConfiguration", noBucket.Type);
        Assert.Contains("BACKUP_BUCKET", noBucket.Message);
        Assert.Equal("InvalidConfiguration", (await InitAsync(new() { ["_HANDLER"] = "recovery", ["BACKUP_BUCKET"] = "b-1", ["RESTORE_TABLES"] = "a b" })).Type);
        Assert.Equal("InvalidConfiguration", (await InitAsync(new() { ["_HANDLER"] = "recovery", ["BACKUP_BUCKET"] = "b-1", ["BACKUPDR_CHECKPOINT_URI"] = "relative/x" })).Type);
        // Even what nobody foresaw: here, reading the environment itself fails.
        var unforeseen = await InitAsync([], name => name == "_HANDLER" ? "validation" : throw new InvalidOperationException("the environment is gone"));
        Assert.Equal("UnexpectedError", unforeseen.Type);
        Assert.Contains("the environment is gone", unforeseen.Message);
    }
}
