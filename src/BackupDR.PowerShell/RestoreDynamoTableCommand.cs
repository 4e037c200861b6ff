using System.Management.Automation;
using BackupDR.Engine.Reporting;
using BackupDR.Engine.Restore;

namespace BackupDR.PowerShell;

/// <summary>Restores a backup into a new or an existing table, after verifying it in full.</summary>
[Cmdlet(VerbsData.Restore, "DynamoTable", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType("BackupDR.Engine.Restore.RestoreResult")]
public sealed class RestoreDynamoTableCommand : ReportingCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("BackupUri")]
    public string Uri { get; set; } = "";

    /// <summary>Deliberately not bound from the pipeline: a piped backup's own TableName must never become the target.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TableNameCompleter))]
    public string TableName { get; set; } = "";

    /// <summary>New (default): the table must be new or empty. Upsert, MissingOnly, Exact: what to do with an existing table's items.</summary>
    [Parameter]
    [ValidateSet("New", "Upsert", "MissingOnly", "Exact")]
    public string? Mode { get; set; }

    /// <summary>Finish an interrupted restore of this backup into this table from its checkpoint.</summary>
    [Parameter]
    public SwitchParameter Resume { get; set; }

    /// <summary>Where restore checkpoints are kept: a folder or s3://bucket/prefix/.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CheckpointUri { get; set; }

    /// <summary>
    /// Proceed without asking: restore from a backup that has no commit marker (it never finished, so it
    /// may lack items), an Exact restore into a table not named as the backup's, and overwriting or
    /// deleting the table's items without the "are you sure?" question.
    /// </summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>The new table's KMS key; without it, the key the backed-up table used (or DynamoDB's own key, if it used that).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? KmsKeyId { get; set; }

    /// <summary>
    /// The primary key of a backup that does not record its table (a DynamoDB export): partition key
    /// first, then the sort key, each as name:TYPE — <c>-KeySchema pk:S, sk:N</c>.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? KeySchema { get; set; }

    /// <summary>A folder of DynamoDB exports, a table's folder of BackupDR backups or one export backup: restore the table as it stood at this time (the last export ending at or before it).</summary>
    [Parameter]
    public DateTime? PointInTime { get; set; }

    /// <summary>A folder of DynamoDB exports: restore across a window no export holds (a warning names it) instead of refusing.</summary>
    [Parameter]
    public SwitchParameter AllowGaps { get; set; }

    /// <summary>An incremental DynamoDB export (NEW_AND_OLD_IMAGES): undo its window in the table.</summary>
    [Parameter]
    public SwitchParameter Revert { get; set; }

    /// <summary>Who writes the items: Write (BackupDR's batched writes; the default) or Import (DynamoDB's Import from S3 creates a new table from the backup's data files).</summary>
    [Parameter]
    [ValidateSet("Write", "Import", "Lambda")]
    public string Engine { get; set; } = "Write";

    /// <summary>Lambda engine: how many invocations of the recovery function share the data files.</summary>
    [Parameter]
    [ValidateRange(1, 256)]
    public int Workers { get; set; } = 4;

    /// <summary>Lambda engine: the deployed recovery function and its alias.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string FunctionName { get; set; } = "backupdr-recovery";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string FunctionAlias { get; set; } = "live";

    /// <summary>The profile that reads the backup, when it is in another account than the table (default: -ProfileName).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SourceProfileName { get; set; }

    /// <summary>The backup bucket's region, when it is not the table's (default: -Region).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SourceRegion { get; set; }

    [Parameter]
    [ValidateRange(1, 64)]
    public int Parallelism { get; set; } = 4;

    [Parameter]
    [ValidateRange(0.0, 1_000_000_000.0)]
    public double MaxWriteCapacityUnits { get; set; }

    protected override void ProcessRecord()
    {
        string uri = ResolveUri(Uri);
        RestoreMode? mode = Mode is null ? null : Enum.Parse<RestoreMode>(Mode, ignoreCase: true);
        // The engine asks ShouldProcess once it knows what the restore would do (after verifying the
        // backup and counting the items it would overwrite or delete), and ShouldContinue when that
        // changes items the table already holds, unless -Force.
        var options = Reporting;
        var sourceAws = SourceProfileName is null && SourceRegion is null ? null
            : AwsOptions with
            {
                ProfileName = SourceProfileName ?? AwsOptions.ProfileName, Region = SourceRegion ?? AwsOptions.Region,
                ProfileOption = SourceProfileName is null ? AwsOptions.ProfileOption : "source-profile-name",
            };
        var engine = Enum.Parse<RestoreEngine>(Engine, ignoreCase: true);
        using var invoker = engine == RestoreEngine.Lambda && !IsWhatIf ? new BackupDR.Engine.Deploy.LambdaFunctionInvoker(AwsOptions, FunctionName, FunctionAlias) : null;
        RunReported((bridge, token) => RestoreRunner.RunAsync(new RestoreRequest
        {
            Uri = uri, TableName = TableName, Force = Force, Mode = mode, Resume = Resume,
            CheckpointUri = CheckpointUri is null ? null : ResolveUri(CheckpointUri),
            Parallelism = Parallelism, MaxWriteCapacityUnits = MaxWriteCapacityUnits, Aws = AwsOptions, KmsKeyId = KmsKeyId,
            KeySchema = KeySchema is null ? null : BackupDR.Engine.Tables.KeySchemas.Parse(KeySchema),
            PointInTime = PointInTime is { } t ? new DateTimeOffset(t).ToUniversalTime() : null,
            AllowGaps = AllowGaps, Revert = Revert,
            SourceAws = sourceAws,
            Engine = engine, Workers = Workers, Invoker = invoker,
        }, bridge, token),
            (result, error) => RunReport.ForRestore(TableName, result, null, error, options), WriteObject,
            result => result is null ? [] : [BackupDR.Engine.Ledger.LedgerWriter.ForRestore(result, MyInvocation.MyCommand.Name, sourceAws ?? AwsOptions)]);
    }
}
