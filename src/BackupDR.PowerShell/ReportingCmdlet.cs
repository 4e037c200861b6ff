using System.Management.Automation;
using BackupDR.Engine;
using BackupDR.Engine.Reporting;

namespace BackupDR.PowerShell;

/// <summary>
/// The operation cmdlets (backup, check, restore): they can report each run to an SNS topic and to
/// CloudWatch, as the Lambda functions do. A report that cannot be sent is a non-terminating error
/// (ReportNotSent) after the result: the operation's own outcome stands.
/// </summary>
public abstract class ReportingCmdlet : S3Cmdlet
{
    /// <summary>An SNS topic ARN: the run's outcome (success or failure, with its results) is published there.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? NotificationTopicArn { get; set; }

    /// <summary>A CloudWatch namespace: the run's metrics are put there.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? MetricNamespace { get; set; }

    /// <summary>A DynamoDB table (created on first use) where the run is recorded, with the journal beside the backups (docs/ledger.md).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? LedgerTableName { get; set; }

    /// <summary>What to report to; nothing under -WhatIf (nothing runs that could be reported).</summary>
    internal ReportingOptions Reporting => IsWhatIf
        ? new() { Host = MyInvocation.MyCommand.Name, Phrase = Phrasing.Phrase }
        : new()
        {
            SuccessTopicArn = NotificationTopicArn,
            FailureTopicArn = NotificationTopicArn,
            MetricNamespace = MetricNamespace,
            Host = MyInvocation.MyCommand.Name,
            Phrase = Phrasing.Phrase,
        };

    /// <summary>
    /// Runs the operation, reports it, hands the result to <paramref name="write"/> (on the pipeline
    /// thread), writes what could not be reported, and throws the operation's error if it failed.
    /// </summary>
    internal void RunReported<T>(Func<EngineBridge, CancellationToken, Task<T>> operation, Func<T?, BackupDRException?, RunReport> report, Action<T> write,
        Func<T?, IEnumerable<Engine.Ledger.LedgerWrite?>>? ledger = null)
        where T : class
    {
        if (LedgerTableName is not null) Checked(() => { new Engine.Ledger.LedgerOptions(LedgerTableName).Validate(); return 0; });
        var options = Reporting;
        var outcome = RunEngine((bridge, token) => ReportedRun.RunAsync(t => operation(bridge, t), report, options, AwsOptions, token));
        // -WhatIf, or No at -Confirm: the engine stopped before its first change, as asked. Not a failure.
        if (outcome.Error?.ErrorId == ErrorIds.NotConfirmed && ShouldProcessDeclined) return;
        if (outcome.Result is not null) write(outcome.Result);
        foreach (string failure in outcome.Report.Failures)
        {
            WriteError(ToErrorRecord(new BackupDRException(ErrorIds.ReportNotSent, ErrorKind.ConnectionError, failure, NotificationTopicArn ?? MetricNamespace)));
        }
        if (ledger is not null) RecordInLedger(LedgerTableName, ledger(outcome.Result));
        if (outcome.Error is not null) ThrowTerminatingError(ToErrorRecord(outcome.Error));
    }
}
