using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace BackupDR.Engine.Deploy;

/// <summary>
/// Brings one of the functions to what the request asks, step by step, and says what each step
/// changed. The same walk runs as a dry run (-WhatIf: only reads, the changes are what would be done)
/// and for real. Nothing that already matches is touched: a second run with nothing changed changes
/// nothing, and a changed setting updates just that.
/// </summary>
internal sealed class FunctionDeployer(ILambdaApi lambda, IScheduleApi schedules, IAmazonS3 s3, DeployRequest request, string region,
    byte[] package, string packageSha256, IOperationHost host)
{
    private const string ScheduleTargetId = "backupdr-backup";
    private const string ScheduleStatementId = "backupdr-schedule";
    private const string TriggerStatementId = "backupdr-validate-on-commit";
    private const string TriggerConfigurationId = "backupdr-validate-on-commit";
    private const string ReplicationStatementId = "backupdr-replicate-on-commit";
    private const string ReplicationTargetId = "backupdr-replication";
    private static readonly TimeSpan StateTimeout = TimeSpan.FromMinutes(5);

    public async Task<FunctionDeployment> RunAsync(string kind, bool apply, CancellationToken cancellationToken)
    {
        string name = request.FunctionName(kind);
        string functionArn = $"arn:aws:lambda:{region}:{request.Account}:function:{name}";
        var result = new FunctionDeployment
        {
            FunctionName = name, Kind = kind, Alias = request.AliasName, CodeSha256 = packageSha256, AliasArn = $"{functionArn}:{request.AliasName}", Applied = apply,
        };
        var changes = result.Changes;
        var desired = DesiredConfiguration(kind);
        var current = (await lambda.GetFunctionAsync(name, cancellationToken).ConfigureAwait(false))?["Configuration"] as JsonObject;
        bool isNew = current is null;
        bool changed = false;

        if (current is null)
        {
            changes.Add($"create function ({request.Architecture}, {request.MemorySize} MB, {request.TimeoutSeconds} s)");
            changed = true;
            if (apply)
            {
                var create = desired.DeepClone().AsObject();
                create["FunctionName"] = name;
                create["Code"] = new JsonObject { ["ZipFile"] = Convert.ToBase64String(package) };
                create["Architectures"] = new JsonArray(request.Architecture);
                create["Description"] = $"BackupDR {kind} function";
                await lambda.CreateFunctionAsync(create, cancellationToken).ConfigureAwait(false);
                current = await WaitAsync(name, c => Text(c, "State") == "Active", "to become Active", cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            string? architecture = (current["Architectures"] as JsonArray)?.FirstOrDefault()?.GetValue<string>() ?? "x86_64";
            if (Text(current, "CodeSha256") != packageSha256 || architecture != request.Architecture)
            {
                changes.Add($"update code (SHA-256 {Text(current, "CodeSha256")} -> {packageSha256}{(architecture != request.Architecture ? $", {architecture} -> {request.Architecture}" : "")})");
                changed = true;
                if (apply)
                {
                    await WaitIdleAsync(name, cancellationToken).ConfigureAwait(false);
                    await lambda.UpdateCodeAsync(name, package, request.Architecture, cancellationToken).ConfigureAwait(false);
                    current = await WaitIdleAsync(name, cancellationToken).ConfigureAwait(false);
                }
            }
            var differences = ConfigurationDifferences(current!, desired);
            if (differences.Count > 0)
            {
                changes.Add("update configuration: " + string.Join(", ", differences));
                changed = true;
                if (apply)
                {
                    await WaitIdleAsync(name, cancellationToken).ConfigureAwait(false);
                    await lambda.UpdateConfigurationAsync(name, desired, cancellationToken).ConfigureAwait(false);
                    current = await WaitIdleAsync(name, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        // The version: a new one for every change; otherwise the one the alias already serves.
        var alias = current is null ? null : await lambda.GetAliasAsync(name, request.AliasName, cancellationToken).ConfigureAwait(false);
        string? version = null;
        if (changed || alias is null)
        {
            if (apply)
            {
                var published = await lambda.PublishVersionAsync(name, packageSha256, $"BackupDR {EngineInfo.Version}, deployed {DateTimeOffset.UtcNow:u}", cancellationToken).ConfigureAwait(false);
                version = Text(published, "Version");
                if (alias is null || (Text(alias, "FunctionVersion") != version && RoutedVersion(alias) != version)) changes.Add($"publish version {version}");
            }
            else
            {
                changes.Add("publish a new version");
            }
        }
        await ReconcileAliasAsync(name, alias, version, result, apply, cancellationToken).ConfigureAwait(false);
        string qualifier = request.AliasName;

        if (request.FailureDestinationArn is not null)
        {
            await ReconcileFailureDestinationAsync(name, qualifier, isNew, changes, apply, cancellationToken).ConfigureAwait(false);
        }
        // Wiring, and the invoke permissions it needs: added with account conditions, and removed once
        // nothing asks for them any more (a schedule dropped, the trigger turned off, a source changed).
        var statements = isNew ? [] : (await lambda.GetPolicyStatementsAsync(name, request.AliasName, cancellationToken).ConfigureAwait(false)).OfType<JsonObject>().ToList();
        if (kind == "backup")
        {
            if (request.ScheduleExpression is not null) await ReconcileScheduleAsync(name, result.AliasArn!, statements, changes, apply, cancellationToken).ConfigureAwait(false);
            else await RetireScheduleAsync(name, statements, changes, apply, cancellationToken).ConfigureAwait(false);
            if (request.ExportEngine) await ReconcileExportTriggerAsync(name, result.AliasArn!, statements, changes, apply, cancellationToken).ConfigureAwait(false);
            else await RetireExportTriggerAsync(name, changes, apply, cancellationToken).ConfigureAwait(false);
        }
        if (kind == "recovery")
        {
            if (request.DrillScheduleExpression is not null) await ReconcileDrillScheduleAsync(name, result.AliasArn!, statements, changes, apply, cancellationToken).ConfigureAwait(false);
            else await RetireDrillScheduleAsync(name, changes, apply, cancellationToken).ConfigureAwait(false);
        }
        if (kind == "replication") await ReconcileReplicationTriggerAsync(name, result.AliasArn!, statements, changes, apply, cancellationToken).ConfigureAwait(false);
        if (kind == "validation")
        {
            if (request.ValidateOnCommit) await ReconcileTriggerAsync(name, result.AliasArn!, statements, changes, apply, cancellationToken).ConfigureAwait(false);
            else await RetireTriggerAsync(name, statements, changes, apply, cancellationToken).ConfigureAwait(false);
            if (request.ComplianceScheduleExpression is not null) await ReconcileComplianceScheduleAsync(name, result.AliasArn!, statements, changes, apply, cancellationToken).ConfigureAwait(false);
            else await RetireComplianceScheduleAsync(name, changes, apply, cancellationToken).ConfigureAwait(false);
        }
        var wanted = Wanted(kind);
        await RemoveStatementsAsync(name, statements.Where(s => Sid(s) is { } sid && Ours(sid) && !wanted.Contains(sid)), "it is no longer needed", changes, apply, cancellationToken).ConfigureAwait(false);

        if (current is not null)
        {
            result.State = Text(current, "State");
            result.LastUpdateStatus = Text(current, "LastUpdateStatus");
        }
        host.Verbose(changes.Count == 0 ? $"{name}: nothing to change." : $"{name}: {string.Join("; ", changes)}.");
        return result;
    }

    // ---- configuration

    private JsonObject DesiredConfiguration(string kind)
    {
        var variables = new JsonObject
        {
            ["BACKUP_BUCKET"] = request.BackupBucket,
            ["BACKUP_PREFIX"] = request.BackupPrefix,
            ["METRIC_NAMESPACE"] = request.MetricNamespace,
        };
        if (request.SuccessTopicArn is not null) variables["SUCCESS_TOPIC_ARN"] = request.SuccessTopicArn;
        if (request.FailureTopicArn is not null) variables["FAILURE_TOPIC_ARN"] = request.FailureTopicArn;
        if (request.MetricDimensions.Count > 0) variables["METRIC_DIMENSIONS"] = string.Join(",", request.MetricDimensions.Select(d => $"{d.Key}={d.Value}"));
        if (kind == "backup" && request.BackupTables.Count > 0) variables["BACKUP_TABLES"] = string.Join(",", request.BackupTables);
        if (kind == "backup" && request.RetentionKeepLast is { } keep) variables["RETENTION_KEEP_LAST"] = keep.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (kind == "backup" && request.ExportEngine) variables["BACKUP_ENGINE"] = "Export";
        if (kind == "backup" && request.Incremental) variables["BACKUP_INCREMENTAL"] = "true";
        if (kind == "backup" && request.RetentionDays is { } days) variables["RETENTION_DAYS"] = days.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (kind == "recovery" && request.RecoveryTables.Count > 0) variables["RESTORE_TABLES"] = string.Join(",", request.RecoveryTables);
        if (kind == "replication")
        {
            variables["REPLICA_BUCKET"] = request.ReplicaBucket;
            if (request.ReplicaRegion is not null) variables["REPLICA_REGION"] = request.ReplicaRegion;
            variables["REPLICA_EXPECTED_BUCKET_OWNER"] = request.ReplicaExpectedBucketOwner ?? request.Account;
            if (request.ReplicaRoleArn is not null) variables["REPLICA_ROLE_ARN"] = request.ReplicaRoleArn;
        }
        variables["EXPECTED_BUCKET_OWNER"] = request.BucketOwner;
        if (request.LedgerTableName is not null) variables["LEDGER_TABLE"] = request.LedgerTableName;
        if (request.ServerSideEncryption is not null) variables["BACKUP_SSE"] = request.ServerSideEncryption;
        if (request.KmsKeyId is not null) variables["BACKUP_KMS_KEY_ID"] = request.KmsKeyId;
        foreach (var (key, value) in request.Environment) variables[key] = value;
        return new JsonObject
        {
            ["Runtime"] = "provided.al2023",
            ["Handler"] = kind,
            ["Role"] = request.RoleFor(kind),
            ["MemorySize"] = request.MemorySize,
            ["Timeout"] = request.TimeoutSeconds,
            ["TracingConfig"] = new JsonObject { ["Mode"] = request.Tracing ? "Active" : "PassThrough" },
            ["Environment"] = new JsonObject { ["Variables"] = variables },
        };
    }

    /// <summary>What differs, for the message. Environment values are never shown: they may be secrets.</summary>
    private static List<string> ConfigurationDifferences(JsonObject current, JsonObject desired)
    {
        var differences = new List<string>();
        foreach (string field in new[] { "Runtime", "Handler", "Role", "MemorySize", "Timeout" })
        {
            string? was = current[field]?.ToString(), wanted = desired[field]?.ToString();
            if (was != wanted) differences.Add($"{field} {was ?? "(none)"} -> {wanted}");
        }
        string? tracingNow = current["TracingConfig"]?["Mode"]?.ToString() ?? "PassThrough", tracingWant = desired["TracingConfig"]!["Mode"]!.ToString();
        if (tracingNow != tracingWant) differences.Add($"tracing {tracingNow} -> {tracingWant}");
        var now = Variables(current);
        var want = Variables(desired);
        var changedNames = want.Keys.Where(k => !now.TryGetValue(k, out var v) || v != want[k])
            .Concat(now.Keys.Where(k => !want.ContainsKey(k))).Order(StringComparer.Ordinal).ToList();
        if (changedNames.Count > 0) differences.Add("environment variables " + string.Join(", ", changedNames));
        return differences;
    }

    private static Dictionary<string, string> Variables(JsonObject configuration) =>
        (configuration["Environment"]?["Variables"] as JsonObject)?.ToDictionary(p => p.Key, p => p.Value?.ToString() ?? "", StringComparer.Ordinal) ?? [];

    // ---- alias and canary

    private static string? RoutedVersion(JsonObject alias) =>
        (alias["RoutingConfig"]?["AdditionalVersionWeights"] as JsonObject)?.Select(p => p.Key).FirstOrDefault();

    private async Task ReconcileAliasAsync(string name, JsonObject? alias, string? published, FunctionDeployment result, bool apply, CancellationToken cancellationToken)
    {
        var changes = result.Changes;
        double share = request.CanaryPercent / 100.0;
        if (alias is null)
        {
            changes.Add($"create alias {request.AliasName} -> {published ?? "the new version"}");
            result.Version = published;
            if (apply) await lambda.CreateAliasAsync(name, new JsonObject { ["Name"] = request.AliasName, ["FunctionVersion"] = published }, cancellationToken).ConfigureAwait(false);
            return;
        }
        string serving = Text(alias, "FunctionVersion")!;
        string? canary = RoutedVersion(alias);
        double? weight = canary is null ? null : alias["RoutingConfig"]!["AdditionalVersionWeights"]![canary]!.GetValue<double>();
        // The version being rolled out: the one just published, else the canary already running.
        string target = published ?? canary ?? serving;
        if (published is null && !apply && changes.Any(c => c.StartsWith("publish", StringComparison.Ordinal))) target = "the new version";

        JsonObject? update = null;
        string? description = null;
        if (target != serving && request.CanaryPercent > 0)
        {
            if (canary != target || weight != share)
            {
                description = $"alias {request.AliasName}: {request.CanaryPercent} % to {VersionText(target)} (canary), the rest stays on version {serving}";
                update = new JsonObject { ["FunctionVersion"] = serving, ["RoutingConfig"] = Weights(target, share) };
            }
        }
        else if (target != serving || canary is not null)
        {
            description = $"alias {request.AliasName} -> {VersionText(target)}{(canary is not null && target == canary ? " (canary promoted)" : "")}";
            update = new JsonObject { ["FunctionVersion"] = target, ["RoutingConfig"] = new JsonObject { ["AdditionalVersionWeights"] = new JsonObject() } };
        }
        result.Version = update is null ? serving : (string)update["FunctionVersion"]!;
        if (update is not null && update["RoutingConfig"]!["AdditionalVersionWeights"]!.AsObject().Count > 0)
        {
            result.CanaryVersion = target;
            result.CanaryWeight = share;
        }
        else if (update is null && canary is not null)
        {
            result.CanaryVersion = canary;
            result.CanaryWeight = weight;
        }
        if (description is null) return;
        changes.Add(description);
        if (apply) await lambda.UpdateAliasAsync(name, request.AliasName, update!, cancellationToken).ConfigureAwait(false);
    }

    private static string VersionText(string version) => version.All(char.IsAsciiDigit) ? "version " + version : version;

    private static JsonObject Weights(string version, double share) =>
        new() { ["AdditionalVersionWeights"] = new JsonObject { [version] = share } };

    // ---- wiring

    private async Task ReconcileFailureDestinationAsync(string name, string qualifier, bool isNew, List<string> changes, bool apply, CancellationToken cancellationToken)
    {
        var current = isNew ? null : await lambda.GetEventInvokeConfigAsync(name, qualifier, cancellationToken).ConfigureAwait(false);
        string? destination = current?["DestinationConfig"]?["OnFailure"]?["Destination"]?.GetValue<string>();
        int? retries = current?["MaximumRetryAttempts"]?.GetValue<int>();
        if (destination == request.FailureDestinationArn && retries == 2) return;
        changes.Add($"on-failure destination -> {request.FailureDestinationArn} (after 2 retries)");
        if (!apply) return;
        await lambda.PutEventInvokeConfigAsync(name, qualifier, new JsonObject
        {
            ["MaximumRetryAttempts"] = 2,
            ["DestinationConfig"] = new JsonObject { ["OnFailure"] = new JsonObject { ["Destination"] = request.FailureDestinationArn } },
        }, cancellationToken).ConfigureAwait(false);
    }

    private async Task ReconcileScheduleAsync(string name, string aliasArn, List<JsonObject> statements, List<string> changes, bool apply, CancellationToken cancellationToken)
    {
        string rule = $"{name}-schedule";
        string input = new JsonObject { ["tables"] = new JsonArray(request.ScheduleTables.Select(t => (JsonNode)JsonValue.Create(t)).ToArray()) }.ToJsonString();
        var existing = await schedules.DescribeRuleAsync(rule, cancellationToken).ConfigureAwait(false);
        string ruleArn = existing?["Arn"]?.GetValue<string>() ?? $"arn:aws:events:{region}:{request.Account}:rule/{rule}";
        if (existing is null || existing["ScheduleExpression"]?.GetValue<string>() != request.ScheduleExpression || existing["State"]?.GetValue<string>() != "ENABLED")
        {
            changes.Add($"schedule {rule}: {request.ScheduleExpression}");
            if (apply) ruleArn = await schedules.PutRuleAsync(rule, request.ScheduleExpression!, $"BackupDR: back up {string.Join(", ", request.ScheduleTables)}", cancellationToken).ConfigureAwait(false);
        }
        // The permission before the target: EventBridge may invoke as soon as the target exists.
        await EnsurePermissionAsync(name, statements, ScheduleStatementId, "events.amazonaws.com", ruleArn, "allow the schedule to invoke the backup function", changes, apply, cancellationToken).ConfigureAwait(false);
        var targets = existing is null ? [] : await schedules.ListTargetsAsync(rule, cancellationToken).ConfigureAwait(false);
        var target = targets.OfType<JsonObject>().FirstOrDefault(t => t["Id"]?.GetValue<string>() == ScheduleTargetId);
        if (target?["Arn"]?.GetValue<string>() != aliasArn || target["Input"]?.GetValue<string>() != input)
        {
            changes.Add($"schedule target: {aliasArn} with {input}");
            if (apply) await schedules.PutTargetAsync(rule, ScheduleTargetId, aliasArn, input, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>No schedule asked for: the rule no longer invokes the function (its permission goes with the sweep in RunAsync).</summary>
    private async Task RetireScheduleAsync(string name, List<JsonObject> statements, List<string> changes, bool apply, CancellationToken cancellationToken)
    {
        string rule = $"{name}-schedule";
        if (await schedules.DescribeRuleAsync(rule, cancellationToken).ConfigureAwait(false) is not null
            && (await schedules.ListTargetsAsync(rule, cancellationToken).ConfigureAwait(false)).OfType<JsonObject>().Any(t => t["Id"]?.GetValue<string>() == ScheduleTargetId))
        {
            changes.Add($"schedule {rule}: remove its target (no schedule asked for; the rule itself is left)");
            if (apply) await schedules.RemoveTargetAsync(rule, ScheduleTargetId, cancellationToken).ConfigureAwait(false);
        }
    }

    private const string DrillStatementId = "backupdr-drill-schedule";

    /// <summary>The drill schedule: a rule <c>&lt;recovery&gt;-drill</c> whose targets (one per table) invoke the recovery alias with <c>{"drill": {…}}</c>.</summary>
    private async Task ReconcileDrillScheduleAsync(string name, string aliasArn, List<JsonObject> statements, List<string> changes, bool apply, CancellationToken cancellationToken)
    {
        string rule = $"{name}-drill";
        var existing = await schedules.DescribeRuleAsync(rule, cancellationToken).ConfigureAwait(false);
        string ruleArn = existing?["Arn"]?.GetValue<string>() ?? $"arn:aws:events:{region}:{request.Account}:rule/{rule}";
        if (existing is null || existing["ScheduleExpression"]?.GetValue<string>() != request.DrillScheduleExpression || existing["State"]?.GetValue<string>() != "ENABLED")
        {
            changes.Add($"drill schedule {rule}: {request.DrillScheduleExpression}");
            if (apply) ruleArn = await schedules.PutRuleAsync(rule, request.DrillScheduleExpression!, $"BackupDR: drill {string.Join(", ", request.DrillTables)}", cancellationToken).ConfigureAwait(false);
        }
        await EnsurePermissionAsync(name, statements, DrillStatementId, "events.amazonaws.com", ruleArn, "allow the drill schedule to invoke the recovery function", changes, apply, cancellationToken).ConfigureAwait(false);
        var targets = (existing is null ? [] : await schedules.ListTargetsAsync(rule, cancellationToken).ConfigureAwait(false)).OfType<JsonObject>().ToList();
        var wanted = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < request.DrillTables.Count; i++)
        {
            var drill = new JsonObject { ["table"] = request.DrillTables[i] };
            if (request.DrillMaxRpo is { } rpo) drill["max_rpo_seconds"] = rpo.TotalSeconds;
            if (request.DrillMaxRto is { } rto) drill["max_rto_seconds"] = rto.TotalSeconds;
            string input = new JsonObject { ["drill"] = drill }.ToJsonString();
            string id = $"backupdr-drill-{i + 1}";
            wanted.Add(id);
            var target = targets.FirstOrDefault(t => t["Id"]?.GetValue<string>() == id);
            if (target?["Arn"]?.GetValue<string>() != aliasArn || target["Input"]?.GetValue<string>() != input)
            {
                changes.Add($"drill target {id}: {aliasArn} with {input}");
                if (apply) await schedules.PutTargetAsync(rule, id, aliasArn, input, cancellationToken).ConfigureAwait(false);
            }
        }
        foreach (var stale in targets.Select(t => t["Id"]?.GetValue<string>()).OfType<string>().Where(id => id.StartsWith("backupdr-drill-", StringComparison.Ordinal) && !wanted.Contains(id)))
        {
            changes.Add($"drill target {stale}: remove (its table is no longer drilled)");
            if (apply) await schedules.RemoveTargetAsync(rule, stale, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>No drill schedule asked for: its rule no longer invokes the function (the permission goes with the sweep).</summary>
    private async Task RetireDrillScheduleAsync(string name, List<string> changes, bool apply, CancellationToken cancellationToken)
    {
        string rule = $"{name}-drill";
        if (await schedules.DescribeRuleAsync(rule, cancellationToken).ConfigureAwait(false) is null) return;
        foreach (var id in (await schedules.ListTargetsAsync(rule, cancellationToken).ConfigureAwait(false)).OfType<JsonObject>()
                     .Select(t => t["Id"]?.GetValue<string>()).OfType<string>().Where(id => id.StartsWith("backupdr-drill-", StringComparison.Ordinal)))
        {
            changes.Add($"drill schedule {rule}: remove target {id} (no drill schedule asked for; the rule itself is left)");
            if (apply) await schedules.RemoveTargetAsync(rule, id, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ReconcileTriggerAsync(string name, string aliasArn, List<JsonObject> statements, List<string> changes, bool apply, CancellationToken cancellationToken)
    {
        // S3 checks the permission when the notification is put: it comes first.
        await EnsurePermissionAsync(name, statements, TriggerStatementId, "s3.amazonaws.com", $"arn:aws:s3:::{request.BackupBucket}",
            $"allow s3://{request.BackupBucket} to invoke the validation function", changes, apply, cancellationToken).ConfigureAwait(false);
        var configuration = await s3.GetBucketNotificationAsync(new GetBucketNotificationRequest { BucketName = request.BackupBucket, ExpectedBucketOwner = request.BucketOwner }, cancellationToken).ConfigureAwait(false);
        var lambdas = configuration.LambdaFunctionConfigurations ?? [];
        string prefix = request.BackupPrefix.Length == 0 ? "" : request.BackupPrefix.Trim('/') + "/";
        var ours = lambdas.FirstOrDefault(c => c.Id == TriggerConfigurationId);
        bool matches = ours is not null && ours.FunctionArn == aliasArn
            && (ours.Events ?? []).Select(e => e.Value).SequenceEqual(["s3:ObjectCreated:*"])
            && Rule(ours, "prefix") == prefix && Rule(ours, "suffix") == "/" + Format.BackupFormat.CommitMarkerKey;
        if (matches) return;
        changes.Add($"S3 trigger: s3://{request.BackupBucket}/{prefix}…/{Format.BackupFormat.CommitMarkerKey} -> {aliasArn}");
        if (!apply) return;
        var trigger = new LambdaFunctionConfiguration
        {
            Id = TriggerConfigurationId,
            FunctionArn = aliasArn,
            Events = [EventType.ObjectCreatedAll],
            Filter = new Filter
            {
                S3KeyFilter = new S3KeyFilter
                {
                    FilterRules = [new FilterRule("prefix", prefix), new FilterRule("suffix", "/" + Format.BackupFormat.CommitMarkerKey)],
                },
            },
        };
        // Keep every other notification of the bucket.
        await s3.PutBucketNotificationAsync(new PutBucketNotificationRequest
        {
            BucketName = request.BackupBucket,
            ExpectedBucketOwner = request.BucketOwner,
            LambdaFunctionConfigurations = [.. lambdas.Where(c => c.Id != TriggerConfigurationId), trigger],
            QueueConfigurations = configuration.QueueConfigurations,
            TopicConfigurations = configuration.TopicConfigurations,
            EventBridgeConfiguration = configuration.EventBridgeConfiguration,
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The rule that fires the replication function: <c>&lt;replication&gt;-on-commit</c>.</summary>
    private static string ReplicationRule(string name) => $"{name}-on-commit";

    /// <summary>
    /// What the rule matches: S3's "Object Created" event for a commit marker under the backup prefix of the
    /// backup bucket. EventBridge, not a second S3 notification: S3 refuses two notifications whose prefix and
    /// suffix overlap for one event type, and the validation trigger already holds <c>…/_committed</c>.
    /// </summary>
    private string ReplicationPattern() => ObjectCreatedPattern($"*/{Format.BackupFormat.CommitMarkerKey}");

    /// <summary>S3's "Object Created" events of the backup bucket whose key, below the backup prefix, matches the wildcard <paramref name="keyBelowPrefix"/>.</summary>
    private string ObjectCreatedPattern(string keyBelowPrefix)
    {
        string prefix = request.BackupPrefix.Trim('/');
        return new JsonObject
        {
            ["source"] = new JsonArray("aws.s3"),
            ["detail-type"] = new JsonArray("Object Created"),
            ["detail"] = new JsonObject
            {
                ["bucket"] = new JsonObject { ["name"] = new JsonArray(request.BackupBucket) },
                ["object"] = new JsonObject { ["key"] = new JsonArray(new JsonObject { ["wildcard"] = (prefix.Length == 0 ? "" : prefix + "/") + keyBelowPrefix }) },
            },
        }.ToJsonString();
    }

    /// <summary>
    /// The replication function's wiring: the bucket sends its events to EventBridge (its notifications are
    /// kept), a rule matches the commit markers, the rule may invoke the alias (permission first), and the
    /// rule's target is the alias, which receives S3's event as it is.
    /// </summary>
    private Task ReconcileReplicationTriggerAsync(string name, string aliasArn, List<JsonObject> statements, List<string> changes, bool apply, CancellationToken cancellationToken) =>
        ReconcileObjectRuleAsync(name, aliasArn, ReplicationRule(name), ReplicationPattern(), ReplicationStatementId, ReplicationTargetId,
            $"S3 commit markers s3://{request.BackupBucket}/{request.BackupPrefix.Trim('/')}/…/{Format.BackupFormat.CommitMarkerKey}",
            $"BackupDR: replicate each committed backup of s3://{request.BackupBucket} to s3://{request.ReplicaBucket}", "the commit-marker rule", statements, changes, apply, cancellationToken);

    /// <summary>The rule that finishes the backup function's exports: <c>&lt;backup&gt;-on-export</c>.</summary>
    private static string ExportRule(string name) => $"{name}-on-export";

    private const string ExportStatementId = "backupdr-export-done";
    private const string ExportTargetId = "backupdr-export-done";

    /// <summary>What the export rule matches: S3's "Object Created" event for an export's summary inside a backup's folder (…/&lt;table&gt;/&lt;id&gt;/AWSDynamoDB/&lt;export id&gt;/manifest-summary.json).</summary>
    private string ExportPattern() => ObjectCreatedPattern("*/AWSDynamoDB/*/manifest-summary.json");

    /// <summary>The backup function's Export engine: the export's summary landing in the bucket invokes it, which finishes that backup.</summary>
    private Task ReconcileExportTriggerAsync(string name, string aliasArn, List<JsonObject> statements, List<string> changes, bool apply, CancellationToken cancellationToken) =>
        ReconcileObjectRuleAsync(name, aliasArn, ExportRule(name), ExportPattern(), ExportStatementId, ExportTargetId,
            $"DynamoDB's export summaries s3://{request.BackupBucket}/{request.BackupPrefix.Trim('/')}/…/AWSDynamoDB/…/manifest-summary.json",
            $"BackupDR: finish each backup of s3://{request.BackupBucket} when DynamoDB's export completes", "the export rule", statements, changes, apply, cancellationToken);

    /// <summary>
    /// An S3 object rule through EventBridge: the bucket sends its events to EventBridge (its notifications are kept), the
    /// rule matches <paramref name="pattern"/>, the rule may invoke the alias (permission first), and the rule's target is
    /// the alias, which receives S3's event as it is.
    /// </summary>
    private async Task ReconcileObjectRuleAsync(string name, string aliasArn, string rule, string pattern, string statementId, string targetId, string matches, string description,
        string who, List<JsonObject> statements, List<string> changes, bool apply, CancellationToken cancellationToken)
    {
        var configuration = await s3.GetBucketNotificationAsync(new GetBucketNotificationRequest { BucketName = request.BackupBucket, ExpectedBucketOwner = request.BucketOwner }, cancellationToken).ConfigureAwait(false);
        if (configuration.EventBridgeConfiguration is null)
        {
            changes.Add($"s3://{request.BackupBucket}: send its events to EventBridge (its notifications are kept)");
            if (apply)
            {
                await s3.PutBucketNotificationAsync(new PutBucketNotificationRequest
                {
                    BucketName = request.BackupBucket,
                    ExpectedBucketOwner = request.BucketOwner,
                    LambdaFunctionConfigurations = configuration.LambdaFunctionConfigurations,
                    QueueConfigurations = configuration.QueueConfigurations,
                    TopicConfigurations = configuration.TopicConfigurations,
                    EventBridgeConfiguration = new EventBridgeConfiguration(),
                }, cancellationToken).ConfigureAwait(false);
            }
        }
        var existing = await schedules.DescribeRuleAsync(rule, cancellationToken).ConfigureAwait(false);
        string ruleArn = existing?["Arn"]?.GetValue<string>() ?? $"arn:aws:events:{region}:{request.Account}:rule/{rule}";
        bool samePattern = existing?["EventPattern"]?.GetValue<string>() is { } now && JsonNode.DeepEquals(JsonNode.Parse(now), JsonNode.Parse(pattern));
        if (!samePattern || existing!["State"]?.GetValue<string>() != "ENABLED")
        {
            changes.Add($"rule {rule}: {matches}");
            if (apply) ruleArn = await schedules.PutPatternRuleAsync(rule, pattern, description, cancellationToken).ConfigureAwait(false);
        }
        await EnsurePermissionAsync(name, statements, statementId, "events.amazonaws.com", ruleArn, $"allow {who} to invoke {name}", changes, apply, cancellationToken).ConfigureAwait(false);
        var targets = existing is null ? [] : await schedules.ListTargetsAsync(rule, cancellationToken).ConfigureAwait(false);
        var target = targets.OfType<JsonObject>().FirstOrDefault(t => t["Id"]?.GetValue<string>() == targetId);
        if (target?["Arn"]?.GetValue<string>() != aliasArn || target["Input"] is not null)
        {
            changes.Add($"rule target: {aliasArn} with the S3 event");
            if (apply) await schedules.PutTargetAsync(rule, targetId, aliasArn, null, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The Scan engine asked for where an earlier deployment wired the export rule: the rule loses its target (the permission goes with the sweep; the rule is left).</summary>
    private async Task RetireExportTriggerAsync(string name, List<string> changes, bool apply, CancellationToken cancellationToken)
    {
        string rule = ExportRule(name);
        if (await schedules.DescribeRuleAsync(rule, cancellationToken).ConfigureAwait(false) is not null
            && (await schedules.ListTargetsAsync(rule, cancellationToken).ConfigureAwait(false)).OfType<JsonObject>().Any(t => t["Id"]?.GetValue<string>() == ExportTargetId))
        {
            changes.Add($"rule {rule}: remove its target (the Scan engine asked for; the rule is left)");
            if (apply) await schedules.RemoveTargetAsync(rule, ExportTargetId, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// No replica asked for, where an earlier deployment wired one: the rule loses its target and the function
    /// its permission (the function, the rule and the bucket's EventBridge setting are left: others may use them).
    /// </summary>
    public async Task<FunctionDeployment?> RetireReplicationAsync(bool apply, CancellationToken cancellationToken)
    {
        string name = request.FunctionName("replication");
        if (await lambda.GetFunctionAsync(name, cancellationToken).ConfigureAwait(false) is null) return null;
        var result = new FunctionDeployment { FunctionName = name, Kind = "replication", Alias = request.AliasName, CodeSha256 = "", Applied = apply };
        string rule = ReplicationRule(name);
        if (await schedules.DescribeRuleAsync(rule, cancellationToken).ConfigureAwait(false) is not null
            && (await schedules.ListTargetsAsync(rule, cancellationToken).ConfigureAwait(false)).OfType<JsonObject>().Any(t => t["Id"]?.GetValue<string>() == ReplicationTargetId))
        {
            result.Changes.Add($"rule {rule}: remove its target (no replica bucket asked for; the rule and the function are left)");
            if (apply) await schedules.RemoveTargetAsync(rule, ReplicationTargetId, cancellationToken).ConfigureAwait(false);
        }
        var statements = (await lambda.GetPolicyStatementsAsync(name, request.AliasName, cancellationToken).ConfigureAwait(false)).OfType<JsonObject>();
        await RemoveStatementsAsync(name, statements.Where(s => Sid(s) is { } sid && sid.StartsWith(ReplicationStatementId, StringComparison.Ordinal)),
            "no replica bucket asked for", result.Changes, apply, cancellationToken).ConfigureAwait(false);
        return result.Changes.Count == 0 ? null : result;
    }

    private static string? Rule(LambdaFunctionConfiguration configuration, string name) =>
        configuration.Filter?.S3KeyFilter?.FilterRules?.FirstOrDefault(r => string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase))?.Value ?? "";

    /// <summary>The trigger turned off: the bucket's notification for it goes (its others stay); the permission goes with the sweep in RunAsync.</summary>
    private async Task RetireTriggerAsync(string name, List<JsonObject> statements, List<string> changes, bool apply, CancellationToken cancellationToken)
    {
        var configuration = await s3.GetBucketNotificationAsync(new GetBucketNotificationRequest { BucketName = request.BackupBucket, ExpectedBucketOwner = request.BucketOwner }, cancellationToken).ConfigureAwait(false);
        var lambdas = configuration.LambdaFunctionConfigurations ?? [];
        if (lambdas.Any(c => c.Id == TriggerConfigurationId && c.FunctionArn?.Contains($":function:{name}", StringComparison.Ordinal) == true))
        {
            changes.Add($"S3 trigger on s3://{request.BackupBucket}: remove it (the validation trigger is off)");
            if (apply)
            {
                await s3.PutBucketNotificationAsync(new PutBucketNotificationRequest
                {
                    BucketName = request.BackupBucket,
                    LambdaFunctionConfigurations = [.. lambdas.Where(c => c.Id != TriggerConfigurationId)],
                    QueueConfigurations = configuration.QueueConfigurations,
                    TopicConfigurations = configuration.TopicConfigurations,
                    EventBridgeConfiguration = configuration.EventBridgeConfiguration,
                }, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The invoke permission for <paramref name="principal"/> from <paramref name="sourceArn"/> in the
    /// functions' account (aws:SourceArn and aws:SourceAccount). One that differs is replaced, never left
    /// beside the new one.
    /// </summary>
    private async Task EnsurePermissionAsync(string name, List<JsonObject> statements, string statementId, string principal, string sourceArn,
        string description, List<string> changes, bool apply, CancellationToken cancellationToken)
    {
        var existing = statements.FirstOrDefault(s => Sid(s) == statementId);
        if (existing is not null && existing["Condition"]?["ArnLike"]?["AWS:SourceArn"]?.GetValue<string>() == sourceArn
            && existing["Condition"]?["StringEquals"]?["AWS:SourceAccount"]?.GetValue<string>() == request.Account)
        {
            return;
        }
        if (existing is not null) await RemoveStatementsAsync(name, [existing], "it is replaced", changes, apply, cancellationToken).ConfigureAwait(false);
        statements.RemoveAll(s => Sid(s) == statementId);
        changes.Add(description);
        if (!apply) return;
        var statement = new JsonObject
        {
            ["StatementId"] = statementId,
            ["Action"] = "lambda:InvokeFunction",
            ["Principal"] = principal,
            ["SourceArn"] = sourceArn,
            ["SourceAccount"] = request.Account,
        };
        await lambda.AddPermissionAsync(name, request.AliasName, statement, cancellationToken).ConfigureAwait(false);
        statements.Add(new JsonObject { ["Sid"] = statementId });
    }

    private async Task RemoveStatementsAsync(string name, IEnumerable<JsonObject> doomed, string why, List<string> changes, bool apply, CancellationToken cancellationToken)
    {
        foreach (var statement in doomed.ToList())
        {
            string sid = Sid(statement)!;
            changes.Add($"remove permission {sid} ({why})");
            if (apply) await lambda.RemovePermissionAsync(name, request.AliasName, sid, cancellationToken).ConfigureAwait(false);
        }
    }

    private static string? Sid(JsonObject statement) => statement["Sid"]?.GetValue<string>();

    /// <summary>A statement BackupDR wrote (also the timestamped ones earlier versions added beside a changed one).</summary>
    private static bool Ours(string sid) => sid.StartsWith(ScheduleStatementId, StringComparison.Ordinal) || sid.StartsWith(TriggerStatementId, StringComparison.Ordinal)
                                            || sid.StartsWith(DrillStatementId, StringComparison.Ordinal) || sid.StartsWith(ReplicationStatementId, StringComparison.Ordinal)
                                            || sid.StartsWith(ComplianceStatementId, StringComparison.Ordinal) || sid.StartsWith(ExportStatementId, StringComparison.Ordinal);

    /// <summary>The statements a function of this kind keeps, for the wiring asked for.</summary>
    private HashSet<string> Wanted(string kind)
    {
        var wanted = new HashSet<string>(StringComparer.Ordinal);
        if (kind == "backup" && request.ScheduleExpression is not null) wanted.Add(ScheduleStatementId);
        if (kind == "backup" && request.ExportEngine) wanted.Add(ExportStatementId);
        if (kind == "validation" && request.ValidateOnCommit) wanted.Add(TriggerStatementId);
        if (kind == "validation" && request.ComplianceScheduleExpression is not null) wanted.Add(ComplianceStatementId);
        if (kind == "recovery" && request.DrillScheduleExpression is not null) wanted.Add(DrillStatementId);
        if (kind == "replication") wanted.Add(ReplicationStatementId);
        return wanted;
    }

    private const string ComplianceStatementId = "backupdr-compliance-schedule";
    private const string ComplianceTargetId = "backupdr-compliance";

    /// <summary>The compliance schedule: a rule <c>&lt;validation&gt;-compliance</c> invoking the validation alias with <c>{"compliance": {…}}</c>.</summary>
    private async Task ReconcileComplianceScheduleAsync(string name, string aliasArn, List<JsonObject> statements, List<string> changes, bool apply, CancellationToken cancellationToken)
    {
        string rule = $"{name}-compliance";
        var existing = await schedules.DescribeRuleAsync(rule, cancellationToken).ConfigureAwait(false);
        string ruleArn = existing?["Arn"]?.GetValue<string>() ?? $"arn:aws:events:{region}:{request.Account}:rule/{rule}";
        if (existing is null || existing["ScheduleExpression"]?.GetValue<string>() != request.ComplianceScheduleExpression || existing["State"]?.GetValue<string>() != "ENABLED")
        {
            changes.Add($"compliance schedule {rule}: {request.ComplianceScheduleExpression}");
            if (apply) ruleArn = await schedules.PutRuleAsync(rule, request.ComplianceScheduleExpression!, "BackupDR: is every table protected?", cancellationToken).ConfigureAwait(false);
        }
        await EnsurePermissionAsync(name, statements, ComplianceStatementId, "events.amazonaws.com", ruleArn, "allow the compliance schedule to invoke the validation function", changes, apply, cancellationToken).ConfigureAwait(false);
        var compliance = new JsonObject();
        JsonArray Names(IReadOnlyList<string> names) => new(names.Select(n => (JsonNode)JsonValue.Create(n)).ToArray());
        if (request.ComplianceTables.Count > 0) compliance["tables"] = Names(request.ComplianceTables);
        if (request.ComplianceExclude.Count > 0) compliance["exclude"] = Names(request.ComplianceExclude);
        if (request.ComplianceMaxAge is { } age) compliance["max_age_seconds"] = age.TotalSeconds;
        if (request.ComplianceMaxValidationAge is { } validation) compliance["max_validation_age_seconds"] = validation.TotalSeconds;
        if (request.ComplianceMaxDrillAge is { } drill) compliance["max_drill_age_seconds"] = drill.TotalSeconds;
        if (request.ComplianceMaxRto is { } rto) compliance["max_rto_seconds"] = rto.TotalSeconds;
        string input = new JsonObject { ["compliance"] = compliance }.ToJsonString();
        var targets = existing is null ? [] : await schedules.ListTargetsAsync(rule, cancellationToken).ConfigureAwait(false);
        var target = targets.OfType<JsonObject>().FirstOrDefault(t => t["Id"]?.GetValue<string>() == ComplianceTargetId);
        if (target?["Arn"]?.GetValue<string>() != aliasArn || target["Input"]?.GetValue<string>() != input)
        {
            changes.Add($"compliance target: {aliasArn} with {input}");
            if (apply) await schedules.PutTargetAsync(rule, ComplianceTargetId, aliasArn, input, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task RetireComplianceScheduleAsync(string name, List<string> changes, bool apply, CancellationToken cancellationToken)
    {
        string rule = $"{name}-compliance";
        if (await schedules.DescribeRuleAsync(rule, cancellationToken).ConfigureAwait(false) is not null
            && (await schedules.ListTargetsAsync(rule, cancellationToken).ConfigureAwait(false)).OfType<JsonObject>().Any(t => t["Id"]?.GetValue<string>() == ComplianceTargetId))
        {
            changes.Add($"compliance schedule {rule}: remove its target (no compliance schedule asked for; the rule itself is left)");
            if (apply) await schedules.RemoveTargetAsync(rule, ComplianceTargetId, cancellationToken).ConfigureAwait(false);
        }
    }

    // ---- states

    private Task<JsonObject> WaitIdleAsync(string name, CancellationToken cancellationToken) =>
        WaitAsync(name, c => Text(c, "State") == "Active" && Text(c, "LastUpdateStatus") != "InProgress", "to finish its update", cancellationToken);

    /// <summary>Polls the function until <paramref name="ready"/>; a Failed state or update, or five minutes, is DeployFailed.</summary>
    private async Task<JsonObject> WaitAsync(string name, Func<JsonObject, bool> ready, string what, CancellationToken cancellationToken)
    {
        var started = DateTimeOffset.UtcNow;
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            var configuration = await lambda.GetConfigurationAsync(name, cancellationToken).ConfigureAwait(false);
            if (Text(configuration, "State") == "Failed" || Text(configuration, "LastUpdateStatus") == "Failed")
            {
                throw new BackupDRException(ErrorIds.DeployFailed, ErrorKind.InvalidOperation,
                    $"Lambda could not make {name} ready: {Text(configuration, "StateReason") ?? Text(configuration, "LastUpdateStatusReason") ?? "no reason given"} " +
                    $"({Text(configuration, "StateReasonCode") ?? Text(configuration, "LastUpdateStatusReasonCode")}).", name);
            }
            if (ready(configuration)) return configuration;
            if (DateTimeOffset.UtcNow - started > StateTimeout)
            {
                throw new BackupDRException(ErrorIds.DeployFailed, ErrorKind.InvalidOperation,
                    $"{name} did not get ready ({what}) within {StateTimeout.TotalMinutes:N0} minutes: State {Text(configuration, "State")}, LastUpdateStatus {Text(configuration, "LastUpdateStatus")}.", name);
            }
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromMilliseconds(Math.Min(2000, delay.TotalMilliseconds * 1.5));
        }
    }

    private static string? Text(JsonObject? node, string field) => node?[field]?.ToString();

    public static string Sha256(byte[] data) => Convert.ToBase64String(SHA256.HashData(data));
}
