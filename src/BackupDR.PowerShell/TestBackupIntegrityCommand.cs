using System.Management.Automation;
using BackupDR.Engine;
using BackupDR.Engine.Validation;

namespace BackupDR.PowerShell;

/// <summary>Proves a backup whole; an invalid backup is reported and is also an error.</summary>
[Cmdlet(VerbsDiagnostic.Test, "BackupIntegrity")]
[OutputType("BackupDR.Engine.Validation.IntegrityReport")]
public sealed class TestBackupIntegrityCommand : BackupDRCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("BackupUri")]
    public string Uri { get; set; } = "";

    [Parameter]
    [ValidateSet("Quick", "Full")]
    public string Level { get; set; } = "Full";

    protected override void ProcessRecord()
    {
        var level = Level.Equals("Quick", StringComparison.OrdinalIgnoreCase) ? IntegrityLevel.Quick : IntegrityLevel.Full;
        string uri = ResolveUri(Uri);
        var report = RunEngine((bridge, token) => Operations.CheckIntegrityAsync(uri, level, AwsOptions, bridge, token));
        WriteObject(report);
        if (!report.IsValid)
        {
            string problems = string.Join(Environment.NewLine, report.Problems.Take(20).Select(p => "  " + p));
            var error = new BackupDRException(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData,
                $"The backup at {report.Uri} is not valid ({report.Problems.Count} problem(s), {level} check):{Environment.NewLine}{problems}", report.Uri);
            WriteError(ToErrorRecord(error));
        }
    }
}
