using System.Management.Automation;
using BackupDR.Engine;

namespace BackupDR.PowerShell;

/// <summary>
/// Removes a backup: its commit marker first (so a removal cut short leaves an incomplete backup,
/// never a committed one with holes), then every object, then its abandoned multipart uploads.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "DynamoBackup", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType("BackupDR.Engine.Catalog.RemovedBackup")]
public sealed class RemoveDynamoBackupCommand : S3Cmdlet
{
    /// <summary>One backup's URI (…/table/backup-id/), as Get-DynamoBackup lists it.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("BackupUri")]
    public string Uri { get; set; } = "";

    /// <summary>Removes without asking for confirmation (-WhatIf still only shows what would be removed).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        string uri = ResolveUri(Uri);
        bool whatIf = MyInvocation.BoundParameters.ContainsKey("WhatIf") && ((SwitchParameter)MyInvocation.BoundParameters["WhatIf"]).IsPresent;
        bool skipConfirmation = Force && !whatIf;
        if (!skipConfirmation && !ShouldProcess(uri, "Remove backup (every object, then pending uploads)")) return;
        WriteObject(RunEngine((_, token) => Operations.RemoveBackupAsync(uri, AwsOptions, token)));
    }
}
