using System.Collections;
using System.Management.Automation;
using BackupDR.Engine.Deploy;

namespace BackupDR.PowerShell;

/// <summary>
/// Creates or updates the three Lambda functions from the built package, configures them, publishes a
/// version per change, moves their alias (optionally as a canary) and wires the schedule, the S3
/// trigger and the failure destination. A second run with nothing changed changes nothing.
/// </summary>
[Cmdlet("Deploy", "BackupFunctions", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType("BackupDR.Engine.Deploy.FunctionDeployment")]
public sealed class DeployBackupFunctionsCommand : S3Cmdlet
{
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string PackagePath { get; set; } = "";

    /// <summary>One role for all three functions (each then holds the others' permissions: a warning says so).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? RoleArn { get; set; }

    /// <summary>The backup function's own role (Get-BackupFunctionPolicy prints its policy).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? BackupRoleArn { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ValidationRoleArn { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? RecoveryRoleArn { get; set; }

    /// <summary>The replication function's own role (with -ReplicaBucket).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ReplicationRoleArn { get; set; }

    /// <summary>Deploy a fourth function that copies every committed backup to this bucket under the same key, fired by the commit marker through EventBridge.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ReplicaBucket { get; set; }

    /// <summary>The replica bucket's region (default: the functions' region).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ReplicaRegion { get; set; }

    /// <summary>The account that must own the replica bucket (default: the functions' account).</summary>
    [Parameter]
    [ValidatePattern(@"^\d{12}$")]
    public string? ReplicaExpectedBucketOwner { get; set; }

    /// <summary>A role in the replica's account that the replication function assumes to write the replicas.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ReplicaRoleArn { get; set; }

    /// <summary>The encryption of every object the functions write: AES256 (SSE-S3) or aws:kms (SSE-KMS, with the bucket key).</summary>
    [Parameter]
    [ValidateSet("AES256", "aws:kms")]
    public string? ServerSideEncryption { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? KmsKeyId { get; set; }

    /// <summary>The tables the recovery function may restore into (RESTORE_TABLES): names, "prefix*" patterns, or "*" for any.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] RestoreTables { get; set; } = [];

    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string BackupBucket { get; set; } = "";

    [Parameter]
    [ValidateNotNull]
    public string BackupPrefix { get; set; } = "backupdr";

    [Parameter]
    [ValidateSet("x86_64", "arm64")]
    public string Architecture { get; set; } = "x86_64";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string FunctionNamePrefix { get; set; } = "backupdr";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SuccessTopicArn { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? FailureTopicArn { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string MetricNamespace { get; set; } = "BackupDR";

    [Parameter]
    public Hashtable? MetricDimensions { get; set; }

    [Parameter]
    public Hashtable? Environment { get; set; }

    /// <summary>The backup function's default tables (BACKUP_TABLES), for invocations whose event names none.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] BackupTables { get; set; } = [];

    /// <summary>Who reads the tables for the backup function: Scan (default) or Export (DynamoDB's export, finished when it completes: the bucket's EventBridge events invoke the function).</summary>
    [Parameter]
    [ValidateSet("Scan", "Export")]
    public string BackupEngine { get; set; } = "Scan";

    /// <summary>With -BackupEngine Export: each run exports only the changes since the table's last backup.</summary>
    [Parameter]
    public SwitchParameter Incremental { get; set; }

    /// <summary>Retention for the backup function: after each successful run, keep this many committed backups of each table it backed up.</summary>
    [Parameter]
    [ValidateRange(1, 100000)]
    public int? RetentionKeepLast { get; set; }

    /// <summary>Retention for the backup function: after each successful run, remove its tables' committed backups older than this many days (never the newest).</summary>
    [Parameter]
    [ValidateRange(1, 36500)]
    public int? RetentionDays { get; set; }

    [Parameter]
    [ValidateRange(128, 10240)]
    public int MemorySize { get; set; } = 1024;

    [Parameter]
    [ValidateRange(1, 900)]
    public int TimeoutSeconds { get; set; } = 900;

    [Parameter]
    [ValidateSet("Active", "PassThrough")]
    public string Tracing { get; set; } = "Active";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string AliasName { get; set; } = "live";

    [Parameter]
    [ValidateRange(0, 99)]
    public int CanaryPercent { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Schedule { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] ScheduleTables { get; set; } = [];

    [Parameter]
    public SwitchParameter NoValidationTrigger { get; set; }

    /// <summary>An EventBridge schedule for DR drills by the recovery function: rate(7 days) or cron(…).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? DrillSchedule { get; set; }

    /// <summary>The tables drilled on the schedule (one to five); the recovery function may then write their scratch tables (&lt;table&gt;-drill-*).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] DrillTables { get; set; } = [];

    /// <summary>A scheduled drill fails when the backup is older than this.</summary>
    [Parameter]
    public TimeSpan? DrillMaxRpo { get; set; }

    /// <summary>A scheduled drill fails when its restore and verification take longer than this.</summary>
    [Parameter]
    public TimeSpan? DrillMaxRto { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? FailureDestinationArn { get; set; }

    /// <summary>The ledger every function records its runs in (LEDGER_TABLE); created when it does not exist.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? LedgerTableName { get; set; }

    /// <summary>An EventBridge schedule on which the validation function checks compliance.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ComplianceSchedule { get; set; }

    /// <summary>The tables (names or wildcard patterns) the scheduled compliance check covers; none: every table.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] ComplianceTables { get; set; } = [];

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] ComplianceExclude { get; set; } = [];

    [Parameter]
    public TimeSpan? ComplianceMaxAge { get; set; }

    [Parameter]
    public TimeSpan? ComplianceMaxValidationAge { get; set; }

    [Parameter]
    public TimeSpan? ComplianceMaxDrillAge { get; set; }

    [Parameter]
    public TimeSpan? ComplianceMaxRto { get; set; }

    protected override void ProcessRecord()
    {
        var request = new DeployRequest
        {
            PackagePath = ResolvePath(PackagePath),
            RoleArn = RoleArn,
            BackupRoleArn = BackupRoleArn,
            ValidationRoleArn = ValidationRoleArn,
            RecoveryRoleArn = RecoveryRoleArn,
            ReplicationRoleArn = ReplicationRoleArn,
            ReplicaBucket = ReplicaBucket, ReplicaRegion = ReplicaRegion, ReplicaExpectedBucketOwner = ReplicaExpectedBucketOwner, ReplicaRoleArn = ReplicaRoleArn,
            RestoreTables = RestoreTables,
            ExpectedBucketOwner = ExpectedBucketOwner,
            ServerSideEncryption = ServerSideEncryption,
            KmsKeyId = KmsKeyId,
            BackupBucket = BackupBucket,
            BackupPrefix = BackupPrefix.Trim('/'),
            Architecture = Architecture,
            FunctionNamePrefix = FunctionNamePrefix,
            SuccessTopicArn = SuccessTopicArn,
            FailureTopicArn = FailureTopicArn,
            MetricNamespace = MetricNamespace,
            MetricDimensions = ToDictionary(MetricDimensions),
            Environment = ToDictionary(Environment),
            BackupTables = BackupTables,
            RetentionKeepLast = RetentionKeepLast, RetentionDays = RetentionDays,
            ExportEngine = BackupEngine.Equals("Export", StringComparison.OrdinalIgnoreCase), Incremental = Incremental,
            MemorySize = MemorySize,
            TimeoutSeconds = TimeoutSeconds,
            Tracing = Tracing == "Active",
            AliasName = AliasName,
            CanaryPercent = CanaryPercent,
            ScheduleExpression = Schedule,
            ScheduleTables = ScheduleTables,
            DrillScheduleExpression = DrillSchedule, DrillTables = DrillTables, DrillMaxRpo = DrillMaxRpo, DrillMaxRto = DrillMaxRto,
            ValidateOnCommit = !NoValidationTrigger,
            FailureDestinationArn = FailureDestinationArn,
            LedgerTableName = LedgerTableName,
            ComplianceScheduleExpression = ComplianceSchedule, ComplianceTables = ComplianceTables, ComplianceExclude = ComplianceExclude,
            ComplianceMaxAge = ComplianceMaxAge, ComplianceMaxValidationAge = ComplianceMaxValidationAge, ComplianceMaxDrillAge = ComplianceMaxDrillAge, ComplianceMaxRto = ComplianceMaxRto,
            Aws = AwsOptions,
        };
        RunEngine((bridge, token) => Deployer.DeployAsync(request, bridge, result => bridge.Post(() => WriteObject(result)), token));
    }

    private static Dictionary<string, string> ToDictionary(Hashtable? table) =>
        table?.Cast<DictionaryEntry>().ToDictionary(e => e.Key.ToString()!, e => e.Value?.ToString() ?? "", StringComparer.Ordinal) ?? [];
}
