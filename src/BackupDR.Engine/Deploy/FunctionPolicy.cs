using System.Text.Json.Nodes;

namespace BackupDR.Engine.Deploy;

/// <summary>What the functions' roles are for: the account, bucket, tables, topics and namespace they touch.</summary>
public sealed record PolicyScope
{
    public required string Region { get; init; }
    public required string Account { get; init; }
    public string FunctionNamePrefix { get; init; } = "backupdr";
    public required string Bucket { get; init; }
    public string BackupPrefix { get; init; } = "backupdr";

    /// <summary>Where the recovery function keeps restore checkpoints in the bucket.</summary>
    public string CheckpointPrefix { get; init; } = "backupdr-checkpoints";

    /// <summary>The tables the backup function reads; none means every table of the account in the region (reading only).</summary>
    public IReadOnlyList<string> BackupTables { get; init; } = [];

    /// <summary>The tables the recovery function may write: names, "prefix*" patterns, or "*" (every table, when asked for).</summary>
    public IReadOnlyList<string> RestoreTables { get; init; } = [];

    public IReadOnlyList<string> TopicArns { get; init; } = [];
    public string MetricNamespace { get; init; } = "BackupDR";
    public bool Tracing { get; init; } = true;

    /// <summary>The tables the recovery function drills: it removes their scratch tables (&lt;table&gt;-drill-*) and reads them to compare (-CompareLive).</summary>
    public IReadOnlyList<string> DrillTables { get; init; } = [];

    /// <summary>The replication function's destination bucket, and the account that owns it (default: <see cref="Account"/>); null: no replication function.</summary>
    public string? ReplicaBucket { get; init; }
    public string? ReplicaAccount { get; init; }

    /// <summary>A role in the replica's account the replication function assumes to write there: the function then only assumes it, and the role holds the replica statements ("replica-writer").</summary>
    public string? ReplicaRoleArn { get; init; }

    /// <summary>
    /// The backup function backs up with DynamoDB's export: it starts exports of its tables into the backup prefix
    /// (DynamoDB writes there with the caller's S3 permissions), describes them, and reads what they wrote to verify it.
    /// </summary>
    public bool Export { get; init; }

    /// <summary>The backup function applies a retention policy: it also reads commit markers (to list the backups) and removes old backups.</summary>
    public bool Retention { get; init; }

    /// <summary>The ledger the functions record in (LEDGER_TABLE): each gets only the ledger actions it uses, and the journal beside the backups. Null: none.</summary>
    public string? LedgerTable { get; init; }

    /// <summary>The validation function answers compliance on a schedule: it lists the account's tables and reads the ledger.</summary>
    public bool Compliance { get; init; }

    /// <summary>A customer-managed KMS key the backups are encrypted with (SSE-KMS): the functions that read or write them use it.</summary>
    public string? KmsKeyArn { get; init; }
}

/// <summary>
/// One least-privilege IAM policy per function (docs/deploy.md has the table): exactly the calls each one
/// makes, on the resources it touches, with account conditions. The backup function reads tables and
/// writes backups; the validation function — which parses objects anyone with write access to the
/// bucket could have written — only reads backups; the recovery function reads backups, keeps its
/// checkpoints and writes only the tables it is given. No statement names a `*` action, and none writes
/// every table unless <see cref="PolicyScope.RestoreTables"/> asks for "*".
/// </summary>
public static class FunctionPolicy
{
    public static readonly string[] Kinds = ["backup", "validation", "recovery"];

    /// <summary>The policy document of <paramref name="kind"/>'s role.</summary>
    public static JsonObject Build(string kind, PolicyScope scope)
    {
        string prefix = scope.BackupPrefix.Trim('/');
        string backups = $"arn:aws:s3:::{scope.Bucket}/{(prefix.Length == 0 ? "" : prefix + "/")}*";
        string checkpoints = $"arn:aws:s3:::{scope.Bucket}/{scope.CheckpointPrefix.Trim('/')}/*";
        var inAccount = new JsonObject { ["StringEquals"] = new JsonObject { ["s3:ResourceAccount"] = scope.Account } };
        JsonObject ListUnder(params string[] prefixes) => new()
        {
            ["StringEquals"] = new JsonObject { ["s3:ResourceAccount"] = scope.Account },
            ["StringLike"] = new JsonObject { ["s3:prefix"] = Strings(prefixes.Select(p => p.Length == 0 ? "*" : p + "/*").ToArray()) },
        };
        var statements = new JsonArray();
        void Add(string sid, string[] actions, JsonArray resources, JsonObject? condition = null) => statements.Add((JsonNode)Statement(sid, actions, resources, condition));

        switch (kind)
        {
            case "backup":
                Add("ReadTables", ["dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:DescribeTimeToLive", "dynamodb:DescribeContinuousBackups", "dynamodb:ListTagsOfResource"],
                    TableArns(scope, scope.BackupTables, everyWhenEmpty: true));
                Add("ListBackups", ["s3:ListBucket", "s3:ListBucketMultipartUploads"], Strings($"arn:aws:s3:::{scope.Bucket}"), ListUnder(prefix));
                // Delete and abort: a backup that fails removes its own partial objects and uploads.
                Add("WriteBackups", ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"], Strings(backups), inAccount);
                if (scope.Export)
                {
                    // DynamoDB's export writes with the caller's permissions (PutObject, PutObjectAcl, AbortMultipartUpload);
                    // the function then reads the export (and the summaries of the table's backups) to verify and chain it.
                    Add("ExportTables", ["dynamodb:ExportTableToPointInTime"], TableArns(scope, scope.BackupTables, everyWhenEmpty: true));
                    Add("DescribeExports", ["dynamodb:DescribeExport"], Strings(TableArns(scope, scope.BackupTables, everyWhenEmpty: true).Select(t => t!.GetValue<string>() + "/export/*").ToArray()));
                    Add("WriteExports", ["s3:PutObjectAcl"], Strings(backups), inAccount);
                    Add("ReadBackups", ["s3:GetObject"], Strings(backups), inAccount);
                }
                if (scope.Retention && !scope.Export)
                {
                    // Retention lists the backups with their commit markers (only those are read) and removes old ones (WriteBackups).
                    Add("ReadCommitMarkers", ["s3:GetObject"], Strings($"arn:aws:s3:::{scope.Bucket}/{(prefix.Length == 0 ? "" : prefix + "/")}*/_committed"), inAccount);
                }
                break;
            case "validation":
                Add("ListBackups", ["s3:ListBucket"], Strings($"arn:aws:s3:::{scope.Bucket}"), ListUnder(prefix));
                Add("ReadBackups", ["s3:GetObject"], Strings(backups), inAccount);
                break;
            case "recovery":
                Add("ListBackups", ["s3:ListBucket", "s3:ListBucketMultipartUploads"], Strings($"arn:aws:s3:::{scope.Bucket}"), ListUnder(prefix, scope.CheckpointPrefix.Trim('/')));
                Add("ReadBackups", ["s3:GetObject"], Strings(backups), inAccount);
                Add("KeepCheckpoints", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], Strings(checkpoints), inAccount);
                if (scope.RestoreTables.Count > 0)
                {
                    Add("WriteRestoreTargets",
                        ["dynamodb:DescribeTable", "dynamodb:CreateTable", "dynamodb:TagResource", "dynamodb:Scan", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem",
                         "dynamodb:PutItem", "dynamodb:UpdateTimeToLive", "dynamodb:UpdateContinuousBackups"],
                        TableArns(scope, scope.RestoreTables, everyWhenEmpty: false));
                }
                if (scope.DrillTables.Count > 0)
                {
                    // A drill restores into <table>-drill-* (RESTORE_TABLES must allow it: WriteRestoreTargets), removes
                    // only such scratch tables, and reads the drilled table to compare it.
                    Add("RemoveDrillTables", ["dynamodb:DescribeTable", "dynamodb:DeleteTable"], TableArns(scope, scope.DrillTables.Select(t => t + "-drill-*").ToList(), everyWhenEmpty: false));
                    Add("ReadDrilledTables", ["dynamodb:DescribeTable", "dynamodb:Scan"], TableArns(scope, scope.DrillTables, everyWhenEmpty: false));
                }
                break;
            case "replication" when scope.ReplicaBucket is not null:
                Add("ListBackups", ["s3:ListBucket"], Strings($"arn:aws:s3:::{scope.Bucket}"), ListUnder(prefix));
                Add("ReadBackups", ["s3:GetObject"], Strings(backups), inAccount);
                if (scope.ReplicaRoleArn is { } writer) Add("AssumeReplicaRole", ["sts:AssumeRole"], Strings(writer));
                else AddReplicaStatements(scope, prefix, Add);
                break;
            case "replica-writer" when scope.ReplicaRoleArn is not null:
                // The role in the replica's account: only the replicas, nothing of the backups, no logs or metrics.
                AddReplicaStatements(scope, prefix, Add);
                return new JsonObject { ["Version"] = "2012-10-17", ["Statement"] = statements };
            default:
                throw new ArgumentException($"'{kind}' is not one of the functions ({string.Join(", ", Kinds)}).", nameof(kind));
        }
        return Common(kind, scope, statements, Add);
    }

    private static void AddReplicaStatements(PolicyScope scope, string prefix, Action<string, string[], JsonArray, JsonObject?> add)
    {
        string replica = scope.ReplicaBucket!;
        string replicas = $"arn:aws:s3:::{replica}/{(prefix.Length == 0 ? "" : prefix + "/")}*";
        var replicaAccount = new JsonObject { ["StringEquals"] = new JsonObject { ["s3:ResourceAccount"] = scope.ReplicaAccount ?? scope.Account } };
        add("ListReplicas", ["s3:ListBucket", "s3:ListBucketMultipartUploads"], Strings($"arn:aws:s3:::{replica}"), new JsonObject
        {
            ["StringEquals"] = new JsonObject { ["s3:ResourceAccount"] = scope.ReplicaAccount ?? scope.Account },
            ["StringLike"] = new JsonObject { ["s3:prefix"] = Strings(prefix.Length == 0 ? "*" : prefix + "/*") },
        });
        // Read: the copy is verified in full; delete and abort: a copy that fails removes what it wrote.
        add("WriteReplicas", ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"], Strings(replicas), replicaAccount);
    }

    private static JsonObject Common(string kind, PolicyScope scope, JsonArray statements, Action<string, string[], JsonArray, JsonObject?> add)
    {
        void Add(string sid, string[] actions, JsonArray resources, JsonObject? condition = null) => add(sid, actions, resources, condition);
        string prefix = scope.BackupPrefix.Trim('/');
        if (scope.LedgerTable is { } ledger)
        {
            // The deployment creates the ledger; the functions describe it, write records (PutItem) and move entries
            // (GetItem + a conditional PutItem; UpdateItem for a backup's facts and removals). Compliance reads it (Query).
            string[] actions = kind switch
            {
                "backup" => ["dynamodb:DescribeTable", "dynamodb:UpdateItem"],
                "validation" when scope.Compliance => ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
                _ => ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem"],
            };
            Add("WriteLedger", actions, Strings($"arn:aws:dynamodb:{scope.Region}:{scope.Account}:table/{ledger}"));
            if (kind != "backup")
            {
                // Records only: added beside the backups, never over them.
                Add("WriteJournal", ["s3:PutObject"], Strings($"arn:aws:s3:::{scope.Bucket}/{(prefix.Length == 0 ? "" : prefix + "/")}{Ledger.RecordJournal.FolderName}/*"),
                    new JsonObject { ["StringEquals"] = new JsonObject { ["s3:ResourceAccount"] = scope.Account } });
            }
        }
        if (kind == "validation" && scope.Compliance)
        {
            // Every table of the account in the region, when the check names none or a pattern: listing only.
            Add("ListTables", ["dynamodb:ListTables"], Strings("*"));
        }
        if (scope.KmsKeyArn is { } key)
        {
            string[] actions = kind == "backup" ? ["kms:GenerateDataKey", "kms:Decrypt"] : ["kms:Decrypt"];
            Add("UseBackupKey", actions, Strings(key));
        }
        Add("PutMetrics", ["cloudwatch:PutMetricData"], Strings("*"),
            new JsonObject { ["StringEquals"] = new JsonObject { ["cloudwatch:namespace"] = scope.MetricNamespace } });
        string logGroup = $"arn:aws:logs:{scope.Region}:{scope.Account}:log-group:/aws/lambda/{scope.FunctionNamePrefix}-{kind}";
        Add("WriteLogs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], Strings(logGroup, logGroup + ":*"));
        var topics = scope.TopicArns.Distinct(StringComparer.Ordinal).ToArray();
        if (topics.Length > 0) Add("Notify", ["sns:Publish"], Strings(topics));
        if (scope.Tracing) Add("Trace", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], Strings("*"));
        return new JsonObject { ["Version"] = "2012-10-17", ["Statement"] = statements };
    }

    /// <summary>The replica-writer role's trust: only the replication function's role may assume it.</summary>
    public static JsonObject ReplicaWriterTrustPolicy(string replicationRoleArn) => new()
    {
        ["Version"] = "2012-10-17",
        ["Statement"] = new JsonArray(new JsonObject
        {
            ["Effect"] = "Allow",
            ["Principal"] = new JsonObject { ["AWS"] = replicationRoleArn },
            ["Action"] = "sts:AssumeRole",
        }),
    };

    /// <summary>Lets Lambda assume the role, for functions of this account only (aws:SourceAccount, against a confused deputy).</summary>
    public static JsonObject TrustPolicy(string account) => new()
    {
        ["Version"] = "2012-10-17",
        ["Statement"] = new JsonArray(new JsonObject
        {
            ["Effect"] = "Allow",
            ["Principal"] = new JsonObject { ["Service"] = "lambda.amazonaws.com" },
            ["Action"] = "sts:AssumeRole",
            ["Condition"] = new JsonObject { ["StringEquals"] = new JsonObject { ["aws:SourceAccount"] = account } },
        }),
    };

    private static JsonArray TableArns(PolicyScope scope, IReadOnlyList<string> tables, bool everyWhenEmpty)
    {
        string Arn(string table) => $"arn:aws:dynamodb:{scope.Region}:{scope.Account}:table/{table}";
        if (tables.Count == 0 && everyWhenEmpty) return Strings(Arn("*"));
        // A table's indexes are resources of their own (Scan of a GSI is not used, so tables only).
        return Strings(tables.Select(Arn).ToArray());
    }

    private static JsonArray Strings(params string[] values) => new(values.Select(v => (JsonNode)JsonValue.Create(v)).ToArray());

    private static JsonObject Statement(string sid, string[] actions, JsonArray resources, JsonObject? condition)
    {
        var statement = new JsonObject
        {
            ["Sid"] = sid,
            ["Effect"] = "Allow",
            ["Action"] = Strings(actions),
            ["Resource"] = resources,
        };
        if (condition is not null) statement["Condition"] = condition.DeepClone();
        return statement;
    }
}
