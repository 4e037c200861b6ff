using System.Management.Automation;
using BackupDR.Engine;
using BackupDR.Engine.Catalog;

namespace BackupDR.PowerShell;

/// <summary>
/// Copies a committed backup that passes Full verification to another bucket, prefix or folder — in
/// another region or account with -DestinationRegion / -DestinationProfileName — verifies the copy and
/// commits it last; outputs the copy's Uri.
/// </summary>
[Cmdlet(VerbsCommon.Copy, "DynamoBackup", SupportsShouldProcess = true)]
[OutputType("BackupDR.Engine.Catalog.CopyResult")]
public sealed class CopyDynamoBackupCommand : S3Cmdlet
{
    /// <summary>The backup to copy (…/table/backup-id/), as Get-DynamoBackup lists it.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("BackupUri")]
    public string Uri { get; set; } = "";

    /// <summary>The target the copy goes under: s3://bucket/prefix or a folder. The copy is &lt;destination&gt;/&lt;table&gt;/&lt;backup id&gt;/.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string Destination { get; set; } = "";

    /// <summary>The destination bucket's region (default: -Region).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? DestinationRegion { get; set; }

    /// <summary>The profile that writes the copy (another account's; default: -ProfileName).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? DestinationProfileName { get; set; }

    /// <summary>A DynamoDB table (created on first use) where the run is recorded, with the journal beside the backups (docs/ledger.md).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? LedgerTableName { get; set; }

    protected override void ProcessRecord()
    {
        var source = AwsOptions;
        var destination = source with
        {
            Region = DestinationRegion ?? source.Region, ProfileName = DestinationProfileName ?? source.ProfileName,
            ProfileOption = DestinationProfileName is null ? source.ProfileOption : "destination-profile-name",
        };
        var request = new CopyRequest { SourceUri = ResolveUri(Uri), DestinationUri = ResolveUri(Destination), SourceAws = source, DestinationAws = destination };
        var result = RunEngine((bridge, token) => Operations.CopyBackupAsync(request, bridge, token));
        if (result is null) return;
        WriteObject(result);
        RecordInLedger(LedgerTableName, [Engine.Ledger.LedgerWriter.ForCopy(result, MyInvocation.MyCommand.Name, source)]);
    }
}
