using System.Management.Automation;
using BackupDR.Engine;
using BackupDR.Engine.Drill;
using BackupDR.Engine.Reporting;

namespace BackupDR.PowerShell;

/// <summary>
/// A DR drill with a verdict: the latest committed backup of a table (or the one named) restored into a
/// scratch table, verified item by item, the scratch table removed; one report with RPO and RTO; a failed
/// drill is the error DrillFailed after the report.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "DynamoDrill", SupportsShouldProcess = true, DefaultParameterSetName = TargetSet)]
[OutputType("BackupDR.Engine.Drill.DrillReport")]
public sealed class InvokeDynamoDrillCommand : ReportingCmdlet
{
    private const string TargetSet = "Target";
    private const string BackupSet = "Backup";

    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TableNameCompleter))]
    public string TableName { get; set; } = "";

    /// <summary>Where the table's backups are: s3://bucket/prefix or a folder. The latest committed backup of the table is drilled.</summary>
    [Parameter(Mandatory = true, Position = 1, ParameterSetName = TargetSet)]
    [ValidateNotNullOrEmpty]
    public string Uri { get; set; } = "";

    /// <summary>One backup to drill (its Uri, as Get-DynamoBackup shows it).</summary>
    [Parameter(Mandatory = true, ParameterSetName = BackupSet, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string BackupUri { get; set; } = "";

    /// <summary>The scratch table's name; it must not exist. Default: &lt;table&gt;-drill-&lt;yyyyMMddHHmmss&gt;.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ScratchTableName { get; set; }

    /// <summary>Also compare the backup with the live table (differences are reported, not a failure).</summary>
    [Parameter]
    public SwitchParameter CompareLive { get; set; }

    /// <summary>Leave the scratch table in place.</summary>
    [Parameter]
    public SwitchParameter KeepTable { get; set; }

    /// <summary>A backup older than this when the drill starts fails the drill.</summary>
    [Parameter]
    public TimeSpan? MaxRpo { get; set; }

    /// <summary>A restore and verification longer than this fails the drill.</summary>
    [Parameter]
    public TimeSpan? MaxRto { get; set; }

    /// <summary>Writes the report to this file as Markdown (.md), HTML (.html) or JSON (.json).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ReportPath { get; set; }

    /// <summary>For a backup that does not record its table's key (a DynamoDB export): name:TYPE, partition key first.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? KeySchema { get; set; }

    [Parameter]
    [ValidateRange(1, 64)]
    public int Parallelism { get; set; } = 4;

    /// <summary>Where the drill's restore keeps its checkpoint.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CheckpointUri { get; set; }

    protected override void ProcessRecord()
    {
        string? reportPath = ReportPath is null ? null : ResolvePath(ReportPath);
        if (reportPath is not null) Checked(() => { DrillReportWriter.CheckPath(reportPath); return 0; });
        var request = new DrillRequest
        {
            TableName = TableName,
            TargetUri = ParameterSetName == TargetSet ? ResolveUri(Uri) : null,
            BackupUri = ParameterSetName == BackupSet ? ResolveUri(BackupUri) : null,
            ScratchTableName = ScratchTableName, CompareLive = CompareLive, KeepTable = KeepTable, MaxRpo = MaxRpo, MaxRto = MaxRto,
            KeySchema = KeySchema is null ? null : Checked(() => Engine.Tables.KeySchemas.Parse(KeySchema)),
            Parallelism = Parallelism, CheckpointUri = CheckpointUri is null ? null : ResolveUri(CheckpointUri), Aws = AwsOptions,
        };
        DrillReport? done = null;
        RunReported((bridge, token) => DrillRunner.RunAsync(request, bridge, token),
            (drill, error) => RunReport.ForDrill(TableName, drill, error, Reporting), drill =>
            {
                done = drill;
                if (reportPath is not null) DrillReportWriter.Write(drill, reportPath);
                WriteObject(drill);
            }, drill => drill is null ? [] : [Engine.Ledger.LedgerWriter.ForDrill(drill, MyInvocation.MyCommand.Name, AwsOptions)]);
        if (done is { Passed: false })
        {
            ThrowTerminatingError(ToErrorRecord(new BackupDRException(ErrorIds.DrillFailed, ErrorKind.InvalidData,
                $"The drill of '{TableName}' failed: {string.Join("; ", done.Failures)}", TableName)));
        }
    }
}
