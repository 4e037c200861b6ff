using System.Management.Automation;
using BackupDR.Engine.Ledger;

namespace BackupDR.PowerShell;

/// <summary>Rebuilds a ledger from what is under a target: one entry per backup, its records from the journal beside the backups; entries of backups that are gone marked Missing.</summary>
[Cmdlet(VerbsData.Sync, "DynamoBackupLedger", SupportsShouldProcess = true)]
[OutputType(typeof(LedgerSyncResult))]
public sealed class SyncDynamoBackupLedgerCommand : S3Cmdlet
{
    /// <summary>The target the backups are under: s3://bucket/prefix or a folder.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("Target")]
    public string Uri { get; set; } = "";

    /// <summary>The ledger table (created when it does not exist).</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string LedgerTableName { get; set; } = "";

    protected override void ProcessRecord()
    {
        string uri = ResolveUri(Uri);
        if (!ShouldProcess($"ledger table '{LedgerTableName}'", $"Index the backups and records under {uri}")) return;
        var ledger = new LedgerOptions(LedgerTableName) { Aws = AwsOptions };
        WriteObject(RunEngine((bridge, token) => LedgerSync.SyncAsync(uri, ledger, AwsOptions, bridge, token)));
    }
}
