using System.Management.Automation;
using BackupDR.Engine.Deploy;

namespace BackupDR.PowerShell;

/// <summary>
/// The least-privilege IAM policy of each function's role, and the trust policy that lets Lambda (in this
/// account only) assume it: one object per function.
/// </summary>
[Cmdlet(VerbsCommon.Get, "BackupFunctionPolicy")]
[OutputType(typeof(PSObject))]
public sealed class GetBackupFunctionPolicyCommand : BackupDRCmdlet
{
    [Parameter(Mandatory = true)]
    [ValidatePattern(@"^\d{12}$")]
    public string AccountId { get; set; } = "";

    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string BackupBucket { get; set; } = "";

    [Parameter]
    [ValidateNotNull]
    public string BackupPrefix { get; set; } = "backupdr";

    /// <summary>The tables the backup function reads; without it, every table of the account in the region (reads only).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] TableName { get; set; } = [];

    /// <summary>The tables the recovery function may write: names, "prefix*" patterns, or "*" for every table. Without it, it may write none.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] RestoreTableName { get; set; } = [];

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] TopicArn { get; set; } = [];

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string MetricNamespace { get; set; } = "BackupDR";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string FunctionNamePrefix { get; set; } = "backupdr";

    /// <summary>The customer-managed KMS key the backups are encrypted with (SSE-KMS).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? KmsKeyArn { get; set; }

    [Parameter]
    public SwitchParameter NoTracing { get; set; }

    /// <summary>The replication function's bucket: a fourth policy is printed, for the function that copies each committed backup there.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ReplicaBucket { get; set; }

    /// <summary>The account that owns -ReplicaBucket (default: -AccountId).</summary>
    [Parameter]
    [ValidatePattern("^[0-9]{12}$")]
    public string? ReplicaAccountId { get; set; }

    /// <summary>A role in the replica's account the replication function assumes (Deploy-BackupFunctions -ReplicaRoleArn): its policy and trust are printed too ("replica-writer").</summary>
    [Parameter]
    [ValidatePattern(@"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")]
    public string? ReplicaRoleArn { get; set; }

    /// <summary>The ledger the functions record in (Deploy-BackupFunctions -LedgerTableName): each function's ledger and journal statements.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? LedgerTableName { get; set; }

    /// <summary>The validation function answers compliance on a schedule (Deploy-BackupFunctions -ComplianceSchedule): it lists the tables and reads the ledger.</summary>
    [Parameter]
    public SwitchParameter Compliance { get; set; }

    /// <summary>The tables the recovery function drills ({"drill": …} events): it may remove their scratch tables (&lt;table&gt;-drill-*) and read them to compare.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] DrillTableName { get; set; } = [];

    /// <summary>The backup function backs up with DynamoDB's export (Deploy-BackupFunctions -BackupEngine Export): it may start and describe exports, and read the backups.</summary>
    [Parameter]
    [ValidateSet("Scan", "Export")]
    public string BackupEngine { get; set; } = "Scan";

    /// <summary>The backup function applies a retention policy (Deploy-BackupFunctions -RetentionKeepLast / -RetentionDays): it may read commit markers.</summary>
    [Parameter]
    public SwitchParameter Retention { get; set; }

    protected override void ProcessRecord()
    {
        string region = Checked(() => Engine.Aws.AwsClientFactory.ResolveRegionName(AwsOptions));
        Checked(() =>
        {
            foreach (string table in TableName) Engine.Tables.TableSchema.ValidateName(table);
            foreach (string table in RestoreTableName.Where(t => t != "*")) Engine.Tables.TableSchema.ValidateName(table.EndsWith('*') && table.Length > 3 ? table[..^1] : table);
            return 0;
        });
        var scope = new PolicyScope
        {
            Region = region, Account = AccountId, FunctionNamePrefix = FunctionNamePrefix, Bucket = BackupBucket, BackupPrefix = BackupPrefix,
            BackupTables = TableName, RestoreTables = RestoreTableName, TopicArns = TopicArn, MetricNamespace = MetricNamespace, Tracing = !NoTracing,
            KmsKeyArn = KmsKeyArn, Retention = Retention, DrillTables = DrillTableName, ReplicaBucket = ReplicaBucket, ReplicaAccount = ReplicaAccountId ?? (ReplicaRoleArn?.Split(':')[4]), ReplicaRoleArn = ReplicaRoleArn, LedgerTable = LedgerTableName, Compliance = Compliance,
            Export = BackupEngine.Equals("Export", StringComparison.OrdinalIgnoreCase),
        };
        if (RestoreTableName.Length == 0)
        {
            WriteWarning("No -RestoreTableName: the recovery function's policy lets it write no table. Name the tables it may restore into (or '*' for every table).");
        }
        var options = new System.Text.Json.JsonSerializerOptions { WriteIndented = true };
        string trust = FunctionPolicy.TrustPolicy(AccountId).ToJsonString(options);
        foreach (string kind in ReplicaBucket is null ? FunctionPolicy.Kinds : [.. FunctionPolicy.Kinds, "replication"])
        {
            var result = new PSObject();
            result.Properties.Add(new PSNoteProperty("Function", $"{FunctionNamePrefix}-{kind}"));
            result.Properties.Add(new PSNoteProperty("Kind", kind));
            result.Properties.Add(new PSNoteProperty("RoleName", $"{FunctionNamePrefix}-{kind}"));
            result.Properties.Add(new PSNoteProperty("PolicyDocument", FunctionPolicy.Build(kind, scope).ToJsonString(options)));
            result.Properties.Add(new PSNoteProperty("TrustPolicy", trust));
            WriteObject(result);
        }
        if (ReplicaBucket is not null && ReplicaRoleArn is not null)
        {
            var writer = new PSObject();
            writer.Properties.Add(new PSNoteProperty("Function", $"{FunctionNamePrefix}-replication"));
            writer.Properties.Add(new PSNoteProperty("Kind", "replica-writer"));
            writer.Properties.Add(new PSNoteProperty("RoleName", ReplicaRoleArn.Split('/')[^1]));
            writer.Properties.Add(new PSNoteProperty("PolicyDocument", FunctionPolicy.Build("replica-writer", scope).ToJsonString(options)));
            writer.Properties.Add(new PSNoteProperty("TrustPolicy", FunctionPolicy.ReplicaWriterTrustPolicy($"arn:aws:iam::{AccountId}:role/{FunctionNamePrefix}-replication").ToJsonString(options)));
            WriteObject(writer);
        }
    }
}
