using System.Management.Automation;
using BackupDR.Engine;
using BackupDR.Engine.Ledger;
using BackupDR.Engine.Reporting;

namespace BackupDR.PowerShell;

/// <summary>
/// Is every table protected? One row per table — a committed backup newer than -MaxAge that verifies now,
/// validated Full within -MaxValidationAge, drilled within -MaxDrillAge with an RTO under -MaxRto — and an
/// error (ComplianceFailed) after the rows when any table is not compliant.
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "DynamoBackupCompliance")]
[OutputType(typeof(ComplianceRow))]
public sealed class TestDynamoBackupComplianceCommand : ReportingCmdlet
{
    /// <summary>The target the backups are under: s3://bucket/prefix or a folder.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    [Alias("Target")]
    public string Uri { get; set; } = "";

    /// <summary>Table names or wildcard patterns (default: every table of the account in the region).</summary>
    [Parameter(Position = 1)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TableNameCompleter))]
    public string[] TableName { get; set; } = [];

    /// <summary>Names or patterns of tables left out.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] Exclude { get; set; } = [];

    /// <summary>The latest committed backup must be younger than this (default one day).</summary>
    [Parameter]
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromDays(1);

    /// <summary>The latest backup must have passed a Full validation within this.</summary>
    [Parameter]
    public TimeSpan? MaxValidationAge { get; set; }

    /// <summary>The table's latest drill must be within this, and have passed.</summary>
    [Parameter]
    public TimeSpan? MaxDrillAge { get; set; }

    /// <summary>The latest drill's RTO (restore and verification) must be under this.</summary>
    [Parameter]
    public TimeSpan? MaxRto { get; set; }

    protected override void ProcessRecord()
    {
        var request = new ComplianceRequest
        {
            TargetUri = ResolveUri(Uri), TableNames = TableName, Exclude = Exclude, MaxAge = MaxAge, MaxValidationAge = MaxValidationAge, MaxDrillAge = MaxDrillAge, MaxRto = MaxRto,
            Ledger = LedgerTableName is null ? null : new LedgerOptions(LedgerTableName) { Aws = AwsOptions }, Aws = AwsOptions,
        };
        IReadOnlyList<ComplianceRow>? rows = null;
        var options = Reporting;
        RunReported((bridge, token) => ComplianceChecker.CheckAsync(request, bridge, token),
            (result, error) => RunReport.ForCompliance(result, error, options), result =>
            {
                rows = result;
                foreach (var row in result) WriteObject(row);
            });
        var failing = rows?.Where(r => !r.Compliant).ToList() ?? [];
        if (failing.Count > 0)
        {
            ThrowTerminatingError(ToErrorRecord(new BackupDRException(ErrorIds.ComplianceFailed, ErrorKind.InvalidData,
                $"{failing.Count} of {rows!.Count} table(s) are not compliant:{Environment.NewLine}" +
                string.Join(Environment.NewLine, failing.Select(r => $"  {r.TableName}: {string.Join(" | ", r.Reasons)}")), failing[0].TableName)));
        }
    }
}
