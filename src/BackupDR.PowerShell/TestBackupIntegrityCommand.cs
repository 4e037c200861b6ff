using System.Management.Automation;
using BackupDR.Engine;
using BackupDR.Engine.Reporting;
using BackupDR.Engine.Validation;

namespace BackupDR.PowerShell;

/// <summary>Proves a backup whole; an invalid backup is reported and is also an error.</summary>
[Cmdlet(VerbsDiagnostic.Test, "BackupIntegrity")]
[OutputType("BackupDR.Engine.Validation.IntegrityReport")]
public sealed class TestBackupIntegrityCommand : ReportingCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("BackupUri")]
    public string Uri { get; set; } = "";

    [Parameter]
    [ValidateSet("Quick", "Full", "Live")]
    public string Level { get; set; } = "Full";

    /// <summary>With -Level Live: the table to compare with. Never taken from the pipeline (a piped backup's own table is a choice to make explicitly).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TableNameCompleter))]
    public string? TableName { get; set; }

    /// <summary>A folder of DynamoDB exports, a table's folder of BackupDR backups or one export backup: check what a restore to this time would read (the last export ending at or before it).</summary>
    [Parameter]
    public DateTime? PointInTime { get; set; }

    /// <summary>A folder of DynamoDB exports: accept a window no export holds (noted in Limits) instead of reporting ExportChainGap.</summary>
    [Parameter]
    public SwitchParameter AllowGaps { get; set; }

    protected override void ProcessRecord()
    {
        var level = Enum.Parse<IntegrityLevel>(Level, ignoreCase: true);
        string uri = ResolveUri(Uri);
        var options = Reporting;
        var read = new ReadOptions(PointInTime is { } t ? new DateTimeOffset(t).ToUniversalTime() : null, AllowGaps);
        RunReported((bridge, token) => Operations.CheckIntegrityAsync(uri, level, AwsOptions, bridge, token, TableName, read),
            (report, error) => RunReport.ForValidation(uri, report, error, options), WriteReport,
            // A proof of the backup (not a comparison with a table) goes on record.
            report => report is null || TableName is not null ? [] : [Engine.Ledger.LedgerWriter.ForValidation(report, MyInvocation.MyCommand.Name, AwsOptions, DateTimeOffset.UtcNow)]);
    }

    private void WriteReport(IntegrityReport report)
    {
        WriteObject(report);
        if (report.IsValid) return;
        string problems = string.Join(Environment.NewLine, report.Problems.Take(20).Select(p => "  " + p));
        var error = report.OnlyTableDiffers
            ? new BackupDRException(ErrorIds.TableDiffersFromBackup, ErrorKind.InvalidData,
                $"Table '{TableName}' differs from the backup at {report.Uri} (the backup itself is intact):{Environment.NewLine}{problems}", TableName)
            : new BackupDRException(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData,
                $"The backup at {report.Uri} is not valid ({report.ProblemCount} problem(s), {report.Level} check):{Environment.NewLine}{problems}", report.Uri);
        WriteError(ToErrorRecord(error));
    }
}
