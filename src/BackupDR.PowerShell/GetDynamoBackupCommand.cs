using System.Management.Automation;
using BackupDR.Engine;

namespace BackupDR.PowerShell;

/// <summary>Lists the backups under a target, committed and incomplete, with what each holds.</summary>
[Cmdlet(VerbsCommon.Get, "DynamoBackup")]
[OutputType("BackupDR.Engine.Catalog.BackupInfo")]
public sealed class GetDynamoBackupCommand : S3Cmdlet
{
    /// <summary>The target the backups were written to: s3://bucket/prefix or a folder.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("Target")]
    public string Uri { get; set; } = "";

    [Parameter(Position = 1)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TableNameCompleter))]
    public string? TableName { get; set; }

    [Parameter]
    [ValidateSet("Committed", "Incomplete")]
    public string? Status { get; set; }

    /// <summary>A ledger (docs/ledger.md): each backup listed comes with its last validation, last Full validation, last drill and last restore on record.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? LedgerTableName { get; set; }

    protected override void ProcessRecord()
    {
        string uri = ResolveUri(Uri);
        var backups = RunEngine(async (bridge, token) =>
        {
            var listed = await Operations.ListBackupsAsync(uri, TableName, AwsOptions, token).ConfigureAwait(false);
            return LedgerTableName is null ? listed
                : await Engine.Ledger.LedgerSync.JoinAsync(uri, listed, TableName, new Engine.Ledger.LedgerOptions(LedgerTableName) { Aws = AwsOptions }, bridge, token).ConfigureAwait(false);
        });
        foreach (var backup in backups)
        {
            if (Status is null || string.Equals(backup.Status.ToString(), Status, StringComparison.OrdinalIgnoreCase)) WriteObject(backup);
        }
    }
}
