using System.Management.Automation;
using BackupDR.Engine.Aws;

namespace BackupDR.PowerShell;

/// <summary>The cmdlets that call S3: each request they send carries the bucket owner they expect.</summary>
public abstract class S3Cmdlet : BackupDRCmdlet
{
    /// <summary>The 12-digit account that must own the bucket: S3 refuses every request to a bucket another account owns.</summary>
    [Parameter]
    [ValidatePattern(@"^\d{12}$")]
    public string? ExpectedBucketOwner { get; set; }

    internal override AwsOptions AwsOptions => base.AwsOptions with { S3 = S3Options };

    /// <summary>The S3 hygiene of this cmdlet's requests (Invoke-DynamoBackup adds the encryption of what it writes).</summary>
    internal virtual S3Options S3Options => new(ExpectedBucketOwner);
}
