using System.Management.Automation;
using BackupDR.Engine.Restore;

namespace BackupDR.PowerShell;

/// <summary>Restores a backup into a new or an existing table, after verifying it in full.</summary>
[Cmdlet(VerbsData.Restore, "DynamoTable", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType("BackupDR.Engine.Restore.RestoreResult")]
public sealed class RestoreDynamoTableCommand : BackupDRCmdlet
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

    [Parameter]
    public SwitchParameter Force { get; set; }

    [Parameter]
    [ValidateRange(1, 64)]
    public int Parallelism { get; set; } = 4;

    [Parameter]
    [ValidateRange(0.0, 1_000_000_000.0)]
    public double MaxWriteCapacityUnits { get; set; }

    protected override void ProcessRecord()
    {
        string uri = ResolveUri(Uri);
        if (!ShouldProcess($"table '{TableName}'", $"Restore backup {uri}")) return;
        var request = new RestoreRequest { Uri = uri, TableName = TableName, Force = Force, Parallelism = Parallelism, MaxWriteCapacityUnits = MaxWriteCapacityUnits, Aws = AwsOptions };
        WriteObject(RunEngine((bridge, token) => RestoreRunner.RunAsync(request, bridge, token)));
    }
}
