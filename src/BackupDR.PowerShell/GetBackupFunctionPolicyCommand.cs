using System.Management.Automation;
using BackupDR.Engine.Deploy;

namespace BackupDR.PowerShell;

/// <summary>The least-privilege IAM policy (and trust policy) of the role Deploy-BackupFunctions' functions run as.</summary>
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

    /// <summary>The tables backed up and restored into; without it, every table of the account in the region.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] TableName { get; set; } = [];

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] TopicArn { get; set; } = [];

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string MetricNamespace { get; set; } = "BackupDR";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string FunctionNamePrefix { get; set; } = "backupdr";

    [Parameter]
    public SwitchParameter NoTracing { get; set; }

    protected override void ProcessRecord()
    {
        string region = Checked(() => Engine.Aws.AwsClientFactory.ResolveRegionName(AwsOptions));
        var policy = FunctionPolicy.Build(region, AccountId, FunctionNamePrefix, BackupBucket, BackupPrefix, TableName, TopicArn, MetricNamespace, !NoTracing);
        var options = new System.Text.Json.JsonSerializerOptions { WriteIndented = true };
        var result = new PSObject();
        result.Properties.Add(new PSNoteProperty("PolicyDocument", policy["PolicyDocument"]!.ToJsonString(options)));
        result.Properties.Add(new PSNoteProperty("TrustPolicy", policy["TrustPolicy"]!.ToJsonString(options)));
        WriteObject(result);
    }
}
