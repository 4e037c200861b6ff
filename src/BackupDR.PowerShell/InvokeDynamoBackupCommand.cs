using System.Management.Automation;
using BackupDR.Engine;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Reporting;
using BackupDR.Engine.Storage;

namespace BackupDR.PowerShell;

/// <summary>Backs up DynamoDB tables to S3 or a local folder.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "DynamoBackup", SupportsShouldProcess = true, DefaultParameterSetName = S3Set)]
[OutputType("BackupDR.Engine.Backup.BackupResult")]
public sealed class InvokeDynamoBackupCommand : ReportingCmdlet
{
    private const string S3Set = "S3";
    private const string LocalSet = "Local";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TableNameCompleter))]
    public string[] TableName { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = S3Set)]
    [ValidateNotNullOrEmpty]
    public string Bucket { get; set; } = "";

    [Parameter(ParameterSetName = S3Set)]
    public string? Prefix { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = LocalSet)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    [Parameter]
    [ValidateRange(1, 1000)]
    public int Segments { get; set; }

    [Parameter]
    public SwitchParameter ConsistentRead { get; set; }

    [Parameter]
    [ValidateRange(0.0, 1_000_000_000.0)]
    public double MaxReadCapacityUnits { get; set; }

    /// <summary>The encryption of every object the backup writes to S3: AES256 (SSE-S3) or aws:kms (SSE-KMS, with the bucket key).</summary>
    [Parameter(ParameterSetName = S3Set)]
    [ValidateSet("AES256", "aws:kms")]
    public string? ServerSideEncryption { get; set; }

    /// <summary>The KMS key for -ServerSideEncryption aws:kms (key id, ARN or alias); without it, the account's aws/s3 key.</summary>
    [Parameter(ParameterSetName = S3Set)]
    [ValidateNotNullOrEmpty]
    public string? KmsKeyId { get; set; }

    /// <summary>Who reads the table: Scan (BackupDR's parallel scan; the default), Export (DynamoDB's Export to S3 from the PITR log: no read capacity; S3 only), or Auto (chosen per table, and why).</summary>
    [Parameter]
    [ValidateSet("Scan", "Export", "Auto", "Lambda")]
    public string Engine { get; set; } = "Scan";

    /// <summary>Export engine: back up the table as it was at this time (within its point-in-time recovery window).</summary>
    [Parameter]
    public DateTime? ExportTime { get; set; }

    /// <summary>Lambda engine: the deployed backup function (its name, and its alias) each segment is invoked on.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string FunctionName { get; set; } = "backupdr-backup";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string FunctionAlias { get; set; } = "live";

    /// <summary>Export engine: export only the changes since the table's latest export backup under the target, continuing its chain.</summary>
    [Parameter]
    public SwitchParameter Incremental { get; set; }

    /// <summary>Export engine: turn point-in-time recovery on for a table that has it off, instead of refusing.</summary>
    [Parameter]
    public SwitchParameter EnablePointInTimeRecovery { get; set; }

    internal override BackupDR.Engine.Aws.S3Options S3Options => new(ExpectedBucketOwner, ServerSideEncryption, KmsKeyId);

    protected override void ProcessRecord()
    {
        string targetText = ParameterSetName == S3Set
            ? $"s3://{Bucket}/{(string.IsNullOrEmpty(Prefix) ? "" : Prefix!.Trim('/') + "/")}"
            : ResolvePath(Path);
        var tables = TableName.Where(t => ShouldProcess($"table '{t}'", $"Back up to {targetText}")).ToList();
        if (tables.Count == 0) return;

        var target = Checked(() => ParameterSetName == S3Set ? BackupLocation.ForBucket(Bucket, Prefix) : BackupLocation.ForFolder(ResolvePath(Path)));
        Checked(() => { S3Options.Validate(); return 0; });
        if (LedgerTableName is not null) Checked(() => { new BackupDR.Engine.Ledger.LedgerOptions(LedgerTableName).Validate(); return 0; });
        // Each backup's start and failure go on record as they happen; its commit after the run.
        var observer = LedgerTableName is null || IsWhatIf ? null
            : new BackupDR.Engine.Ledger.LedgerWriter.BackupObserver(new BackupDR.Engine.Ledger.LedgerOptions(LedgerTableName) { Aws = AwsOptions }, AwsOptions, NullOperationHost.Instance);
        var engine = Enum.Parse<BackupEngine>(Engine, ignoreCase: true);
        using var invoker = engine == BackupEngine.Lambda && !IsWhatIf ? new BackupDR.Engine.Deploy.LambdaFunctionInvoker(AwsOptions, FunctionName, FunctionAlias) : null;
        var request = new BackupRequest
        {
            TableNames = tables,
            Target = target,
            Aws = AwsOptions,
            Segments = Segments,
            ConsistentRead = ConsistentRead,
            MaxReadCapacityUnits = MaxReadCapacityUnits,
            Observer = observer,
            Engine = engine,
            Invoker = invoker,
            ExportTime = ExportTime is { } at ? new DateTimeOffset(at).ToUniversalTime() : null,
            EnablePointInTimeRecovery = EnablePointInTimeRecovery,
            Incremental = Incremental,
        };
        var options = Reporting;
        var results = new List<BackupResult>();
        RunReported(async (bridge, token) =>
        {
            // Each table's result goes out as soon as its backup is committed.
            await BackupRunner.RunAsync(request, bridge, result =>
            {
                lock (results) results.Add(result);
                bridge.Post(() => WriteObject(result));
            }, token).ConfigureAwait(false);
            return results;
        }, (_, error) => RunReport.ForBackup(tables, results, error, options), _ => { },
            // Every committed backup, also when a later table failed.
            _ =>
            {
                foreach (string failure in observer?.Failures ?? [])
                {
                    WriteError(ToErrorRecord(new BackupDRException(ErrorIds.LedgerNotWritten, ErrorKind.ConnectionError, failure, LedgerTableName)));
                }
                return results.Select(r => BackupDR.Engine.Ledger.LedgerWriter.ForBackup(r, AwsOptions));
            });
    }
}
