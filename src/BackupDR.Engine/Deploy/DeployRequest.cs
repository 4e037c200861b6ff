using System.IO.Compression;
using BackupDR.Engine.Aws;

namespace BackupDR.Engine.Deploy;

/// <summary>What Deploy-BackupFunctions deploys, configures and wires (docs/deploy.md).</summary>
public sealed class DeployRequest
{
    /// <summary>The package ./build.ps1 lambda built: a zip with the NativeAOT bootstrap at its root.</summary>
    public required string PackagePath { get; init; }

    /// <summary>x86_64 or arm64; must match the package's bootstrap.</summary>
    public string Architecture { get; init; } = "x86_64";

    /// <summary>The functions are &lt;prefix&gt;-backup, &lt;prefix&gt;-validation, &lt;prefix&gt;-recovery.</summary>
    public string FunctionNamePrefix { get; init; } = "backupdr";

    /// <summary>One execution role for all three functions, where <see cref="BackupRoleArn"/> and the others are not given. Discouraged: each function then holds the others' permissions.</summary>
    public string? RoleArn { get; init; }

    /// <summary>Each function's own least-privilege role (FunctionPolicy prints what each needs).</summary>
    public string? BackupRoleArn { get; init; }
    public string? ValidationRoleArn { get; init; }
    public string? RecoveryRoleArn { get; init; }
    public string? ReplicationRoleArn { get; init; }

    /// <summary>
    /// A fourth function, &lt;prefix&gt;-replication, copies every committed backup to this bucket under the same
    /// key (REPLICA_BUCKET), fired through EventBridge by the commit marker's S3 event; null: no replication.
    /// </summary>
    public string? ReplicaBucket { get; init; }

    /// <summary>The replica bucket's region (REPLICA_REGION; default: the functions' region) and the account that must own it (REPLICA_EXPECTED_BUCKET_OWNER; default: the functions' account).</summary>
    public string? ReplicaRegion { get; init; }
    public string? ReplicaExpectedBucketOwner { get; init; }

    /// <summary>A role in the replica's account the replication function assumes to write there (REPLICA_ROLE_ARN); null: it writes as itself (the replica bucket's policy must allow it).</summary>
    public string? ReplicaRoleArn { get; init; }

    /// <summary>The account that must own the backup bucket (sent on every S3 request, by the functions too); null: the functions' own account.</summary>
    public string? ExpectedBucketOwner { get; init; }

    /// <summary>The encryption of every object the functions write: "AES256" or "aws:kms" (with <see cref="KmsKeyId"/>); null: the bucket's default.</summary>
    public string? ServerSideEncryption { get; init; }
    public string? KmsKeyId { get; init; }

    /// <summary>The bucket's expected owner: as given, else the functions' account.</summary>
    public string BucketOwner => ExpectedBucketOwner ?? Account;

    /// <summary>The tables the recovery function may restore into (RESTORE_TABLES): names, "prefix*" patterns, or "*".</summary>
    public IReadOnlyList<string> RestoreTables { get; init; } = [];

    public required string BackupBucket { get; init; }
    public string BackupPrefix { get; init; } = "backupdr";
    public string? SuccessTopicArn { get; init; }
    public string? FailureTopicArn { get; init; }
    public string MetricNamespace { get; init; } = "BackupDR";
    public IReadOnlyDictionary<string, string> MetricDimensions { get; init; } = new Dictionary<string, string>();

    /// <summary>More environment variables for all three functions (names only are ever printed).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>The backup function's retention policy, applied to the tables it backed up after each successful run (RETENTION_KEEP_LAST, RETENTION_DAYS); null: none.</summary>
    public int? RetentionKeepLast { get; init; }
    public int? RetentionDays { get; init; }

    /// <summary>
    /// The backup function backs up with DynamoDB's export (BACKUP_ENGINE=Export): a run starts the exports, and a rule
    /// <c>&lt;backup&gt;-on-export</c> on the bucket's EventBridge events invokes it when an export's summary lands, which
    /// finishes that backup. False: the Scan engine, and the rule (if an earlier deployment wired it) loses its target.
    /// </summary>
    public bool ExportEngine { get; init; }

    /// <summary>With <see cref="ExportEngine"/>: each run exports only the changes since the table's last backup (BACKUP_INCREMENTAL).</summary>
    public bool Incremental { get; init; }

    /// <summary>The backup function's default tables (BACKUP_TABLES), for invocations whose event names none. Only that function's setting.</summary>
    public IReadOnlyList<string> BackupTables { get; init; } = [];

    public int MemorySize { get; init; } = 1024;
    public int TimeoutSeconds { get; init; } = 900;

    /// <summary>X-Ray tracing (Active, as the seed's functions had it) or PassThrough.</summary>
    public bool Tracing { get; init; } = true;

    public string AliasName { get; init; } = "live";

    /// <summary>0: the alias moves to a new version at once. 1-99: it keeps the old version and gives the new one this share.</summary>
    public int CanaryPercent { get; init; }

    /// <summary>An EventBridge schedule (rate(1 day), cron(0 2 * * ? *)) for the backup function, with the tables it backs up.</summary>
    public string? ScheduleExpression { get; init; }
    public IReadOnlyList<string> ScheduleTables { get; init; } = [];

    /// <summary>An EventBridge schedule for DR drills by the recovery function, with the tables drilled (at most 5: one rule target each) and the drills' limits.</summary>
    public string? DrillScheduleExpression { get; init; }
    public IReadOnlyList<string> DrillTables { get; init; } = [];
    public TimeSpan? DrillMaxRpo { get; init; }
    public TimeSpan? DrillMaxRto { get; init; }

    /// <summary>The ledger every function records its runs in (LEDGER_TABLE); created by the deployment when it does not exist. Null: none.</summary>
    public string? LedgerTableName { get; init; }

    /// <summary>An EventBridge schedule on which the validation function answers compliance (docs/ledger.md), for these tables (names or patterns; none: every table), held to these limits.</summary>
    public string? ComplianceScheduleExpression { get; init; }
    public IReadOnlyList<string> ComplianceTables { get; init; } = [];
    public IReadOnlyList<string> ComplianceExclude { get; init; } = [];
    public TimeSpan? ComplianceMaxAge { get; init; }
    public TimeSpan? ComplianceMaxValidationAge { get; init; }
    public TimeSpan? ComplianceMaxDrillAge { get; init; }
    public TimeSpan? ComplianceMaxRto { get; init; }

    /// <summary>The tables the recovery function may write: RESTORE_TABLES, plus each drilled table's scratch tables (&lt;table&gt;-drill-*).</summary>
    internal IReadOnlyList<string> RecoveryTables => [.. RestoreTables, .. DrillTables.Select(t => t + "-drill-*").Where(p => !RestoreTables.Contains(p))];

    /// <summary>Run the validation function on every backup's commit marker (an S3 event notification).</summary>
    public bool ValidateOnCommit { get; init; } = true;

    /// <summary>Where failed asynchronous invocations go after Lambda's retries: an SQS queue or SNS topic ARN.</summary>
    public string? FailureDestinationArn { get; init; }

    public AwsOptions Aws { get; init; } = new();

    public static readonly string[] Kinds = ["backup", "validation", "recovery"];

    /// <summary>The functions this request deploys: the three, and replication when a replica bucket is named.</summary>
    public IReadOnlyList<string> DeployedKinds => ReplicaBucket is null ? Kinds : [.. Kinds, "replication"];

    public string FunctionName(string kind) => $"{FunctionNamePrefix}-{kind}";

    /// <summary>The role <paramref name="kind"/> runs as: its own, else the shared one.</summary>
    public string RoleFor(string kind) => (kind switch { "backup" => BackupRoleArn, "validation" => ValidationRoleArn, "replication" => ReplicationRoleArn, _ => RecoveryRoleArn }) ?? RoleArn ?? "";

    /// <summary>True when at least two functions share a role (each then holds the others' permissions).</summary>
    public bool SharesRoles => DeployedKinds.Select(RoleFor).Distinct(StringComparer.Ordinal).Count() < DeployedKinds.Count;

    /// <summary>The account of the roles: the functions, the rule and the permissions are in it.</summary>
    public string Account => RoleFor("backup").Split(':') is { Length: >= 6 } parts ? parts[4] : "";

    /// <summary>Refuses, before anything is sent, what AWS would refuse or what would deploy something wrong.</summary>
    internal void Validate()
    {
        static BackupDRException Invalid(string message, string? target) => new(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, message, target);
        if (Architecture is not ("x86_64" or "arm64")) throw Invalid($"{Say.Option("architecture")} must be x86_64 or arm64, not '{Architecture}'.", Architecture);
        foreach (string kind in DeployedKinds)
        {
            string role = RoleFor(kind);
            if (role.Length == 0)
            {
                throw Invalid($"The {kind} function has no role: give {Say.Option($"{kind}-role-arn")} (each function its own, as the policy for each prints it), or {Say.Option("role-arn")} for all of them.", null);
            }
            if (!System.Text.RegularExpressions.Regex.IsMatch(role, @"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$"))
            {
                throw Invalid($"'{role}' is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>).", role);
            }
        }
        if (DeployedKinds.Select(k => RoleFor(k).Split(':')[4]).Distinct().Count() > 1)
        {
            throw Invalid("The functions' roles are in different accounts; the functions, their roles and their permissions must be in one account.", RoleFor("backup"));
        }
        if (!System.Text.RegularExpressions.Regex.IsMatch(FunctionNamePrefix, "^[A-Za-z0-9_-]{1,40}$"))
        {
            throw Invalid($"{Say.Option("function-name-prefix")} '{FunctionNamePrefix}' must be 1-40 letters, digits, '-' or '_' (the longest name made from it, <prefix>-replication-on-commit, must fit EventBridge's 64 characters).", FunctionNamePrefix);
        }
        if (MemorySize is < 128 or > 10240) throw Invalid($"{Say.Option("memory-size")} must be 128 to 10240 MB, not {MemorySize}.", null);
        if (TimeoutSeconds is < 1 or > 900) throw Invalid($"{Say.Option("timeout-seconds")} must be 1 to 900, not {TimeoutSeconds}.", null);
        if (CanaryPercent is < 0 or > 99) throw Invalid($"{Say.Option("canary-percent")} must be 0 to 99, not {CanaryPercent}.", null);
        if (!System.Text.RegularExpressions.Regex.IsMatch(AliasName, "^(?!^[0-9]+$)[a-zA-Z0-9_-]{1,128}$")) throw Invalid($"{Say.Option("alias-name")} '{AliasName}' is not a valid alias name.", AliasName);
        Storage.BackupLocation.ForBucket(BackupBucket, BackupPrefix);
        if (ScheduleExpression is not null)
        {
            if (!System.Text.RegularExpressions.Regex.IsMatch(ScheduleExpression, @"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$"))
            {
                throw Invalid($"{Say.Option("schedule")} '{ScheduleExpression}' is not an EventBridge schedule expression: rate(1 day) or cron(0 2 * * ? *).", ScheduleExpression);
            }
            if (ScheduleTables.Count == 0) throw Invalid($"{Say.Option("schedule")} needs {Say.Option("schedule-tables")}: the tables the scheduled backup backs up.", ScheduleExpression);
            foreach (string table in ScheduleTables) Tables.TableSchema.ValidateName(table);
        }
        if (DrillScheduleExpression is not null)
        {
            if (!System.Text.RegularExpressions.Regex.IsMatch(DrillScheduleExpression, @"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$"))
            {
                throw Invalid($"{Say.Option("drill-schedule")} '{DrillScheduleExpression}' is not an EventBridge schedule expression: rate(7 days) or cron(0 3 ? * SUN *).", DrillScheduleExpression);
            }
            if (DrillTables.Count is < 1 or > 5) throw Invalid($"{Say.Option("drill-schedule")} needs {Say.Option("drill-tables")}: one to five tables (one rule target each).", DrillScheduleExpression);
            foreach (string table in DrillTables) Tables.TableSchema.ValidateName(table);
        }
        else if (DrillTables.Count > 0)
        {
            throw Invalid($"{Say.Option("drill-tables")} needs {Say.Option("drill-schedule")}: when the drills run.", DrillTables[0]);
        }
        new Aws.S3Options(ExpectedBucketOwner, ServerSideEncryption, KmsKeyId).Validate();
        if (LedgerTableName is not null) Tables.TableSchema.ValidateName(LedgerTableName);
        if (ComplianceScheduleExpression is not null)
        {
            if (!System.Text.RegularExpressions.Regex.IsMatch(ComplianceScheduleExpression, @"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$"))
            {
                throw Invalid($"{Say.Option("compliance-schedule")} '{ComplianceScheduleExpression}' is not an EventBridge schedule expression: rate(1 day) or cron(0 6 * * ? *).", ComplianceScheduleExpression);
            }
            foreach (var (name, limit) in new[] { ("compliance-max-age", ComplianceMaxAge), ("compliance-max-validation-age", ComplianceMaxValidationAge), ("compliance-max-drill-age", ComplianceMaxDrillAge), ("compliance-max-rto", ComplianceMaxRto) })
            {
                if (limit is { } l && l <= TimeSpan.Zero) throw Invalid($"{Say.Option(name)} must be longer than zero.", null);
            }
        }
        else if (ComplianceTables.Count > 0 || ComplianceExclude.Count > 0 || ComplianceMaxAge is not null || ComplianceMaxValidationAge is not null || ComplianceMaxDrillAge is not null || ComplianceMaxRto is not null)
        {
            throw Invalid($"The compliance tables and limits need {Say.Option("compliance-schedule")}: when the check runs.", null);
        }
        if (ReplicaBucket is not null)
        {
            Storage.BackupLocation.ForBucket(ReplicaBucket, BackupPrefix);
            if (ReplicaBucket == BackupBucket) throw Invalid($"{Say.Option("replica-bucket")} is the backup bucket: a replica is a second copy elsewhere. Name another bucket.", ReplicaBucket);
            AwsClientFactory.ValidateRegion(ReplicaRegion);
            new Aws.S3Options(ReplicaExpectedBucketOwner).Validate();
            if (ReplicaRoleArn is not null && !System.Text.RegularExpressions.Regex.IsMatch(ReplicaRoleArn, @"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$"))
            {
                throw Invalid($"'{ReplicaRoleArn}' is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>).", ReplicaRoleArn);
            }
        }
        else if (ReplicaRegion is not null || ReplicaExpectedBucketOwner is not null || ReplicaRoleArn is not null || ReplicationRoleArn is not null)
        {
            throw Invalid($"The replica's region, owner and roles need {Say.Option("replica-bucket")}: the bucket the replication function copies backups to.", null);
        }
        if (Incremental && !ExportEngine)
        {
            throw Invalid($"Incremental backups are DynamoDB's export's: add {Say.Option("backup-engine", "Export")}.", null);
        }
        if (RetentionKeepLast is not null || RetentionDays is not null)
        {
            new Catalog.RetentionPolicy(RetentionKeepLast, RetentionDays is { } days ? TimeSpan.FromDays(days) : null).Validate();
        }
        foreach (string table in BackupTables) Tables.TableSchema.ValidateName(table);
        foreach (string table in RestoreTables.Where(t => t != "*")) Tables.TableSchema.ValidateName(table.EndsWith('*') && table.Length > 3 ? table[..^1] : table);
        if (FailureDestinationArn is not null && !System.Text.RegularExpressions.Regex.IsMatch(FailureDestinationArn, @"^arn:aws[a-z-]*:(sqs|sns):[a-z0-9-]+:\d{12}:[\w.-]+$"))
        {
            throw Invalid($"{Say.Option("failure-destination-arn")} '{FailureDestinationArn}' must be an SQS queue or SNS topic ARN.", FailureDestinationArn);
        }
        new Reporting.ReportingOptions { SuccessTopicArn = SuccessTopicArn, FailureTopicArn = FailureTopicArn, MetricNamespace = MetricNamespace, Dimensions = MetricDimensions }.Validate();
        foreach (string name in Environment.Keys)
        {
            if (!System.Text.RegularExpressions.Regex.IsMatch(name, "^[a-zA-Z][a-zA-Z0-9_]+$") || name.StartsWith("AWS_", StringComparison.Ordinal))
            {
                throw Invalid($"Environment variable '{name}' is not allowed: a letter, then letters, digits or '_', and not AWS_ (Lambda reserves those).", name);
            }
        }
    }

    /// <summary>Reads the package: its bytes, and checks its bootstrap is an executable for the architecture.</summary>
    internal byte[] ReadPackage()
    {
        if (!File.Exists(PackagePath))
        {
            throw new BackupDRException(ErrorIds.PathNotFound, ErrorKind.ObjectNotFound,
                $"The package '{PackagePath}' does not exist. Build it with ./build.ps1 lambda (out/lambda/backupdr-lambda-<arch>.zip).", PackagePath);
        }
        byte[] zip = File.ReadAllBytes(PackagePath);
        ushort machine;
        try
        {
            using var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
            var entry = archive.GetEntry("bootstrap") ?? throw new InvalidDataException("it has no 'bootstrap' at its root");
            using var stream = entry.Open();
            var header = new byte[20];
            if (stream.ReadAtLeast(header, 20, throwOnEndOfStream: false) < 20 || header[0] != 0x7F || header[1] != (byte)'E' || header[2] != (byte)'L' || header[3] != (byte)'F')
            {
                throw new InvalidDataException("its bootstrap is not a Linux executable (ELF)");
            }
            machine = BitConverter.ToUInt16(header, 18);
        }
        catch (InvalidDataException e)
        {
            throw new BackupDRException(ErrorIds.InvalidPackage, ErrorKind.InvalidData, $"'{PackagePath}' is not a BackupDR Lambda package: {e.Message}.", PackagePath, e);
        }
        string built = machine switch { 62 => "x86_64", 183 => "arm64", _ => $"machine {machine}" };
        if (built != Architecture)
        {
            throw new BackupDRException(ErrorIds.InvalidPackage, ErrorKind.InvalidData,
                $"'{PackagePath}' holds a bootstrap for {built}, but {Say.Option("architecture")} is {Architecture}. Build the package for {Architecture}, or change {Say.Option("architecture")}.",
                PackagePath);
        }
        return zip;
    }
}

/// <summary>One function as Deploy-BackupFunctions left it (or, with -WhatIf, would leave it).</summary>
public sealed class FunctionDeployment
{
    public required string FunctionName { get; init; }
    public required string Kind { get; init; }
    public string? Version { get; set; }
    public required string Alias { get; init; }
    public string? AliasArn { get; set; }

    /// <summary>The version the alias sends the given share to during a canary; null otherwise.</summary>
    public string? CanaryVersion { get; set; }
    public double? CanaryWeight { get; set; }
    public required string CodeSha256 { get; init; }
    public string? State { get; set; }
    public string? LastUpdateStatus { get; set; }

    /// <summary>What changed (or would change). Empty: the function was already as asked.</summary>
    public List<string> Changes { get; } = [];

    /// <summary>False under -WhatIf (or when the change was declined): nothing was written.</summary>
    public bool Applied { get; set; }
}
