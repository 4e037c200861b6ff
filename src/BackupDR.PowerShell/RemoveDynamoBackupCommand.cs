using System.Management.Automation;
using BackupDR.Engine;
using BackupDR.Engine.Catalog;

namespace BackupDR.PowerShell;

/// <summary>
/// Removes a backup: its commit marker first (so a removal cut short leaves an incomplete backup,
/// never a committed one with holes), then every object, then its abandoned multipart uploads. With
/// -KeepLast or -OlderThan, applies a retention policy under a target instead: the backups it would
/// remove are listed and confirmed once.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "DynamoBackup", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = OneSet)]
[OutputType("BackupDR.Engine.Catalog.RemovedBackup")]
public sealed class RemoveDynamoBackupCommand : S3Cmdlet
{
    private const string OneSet = "Backup";
    private const string KeepLastSet = "KeepLast";
    private const string OlderThanSet = "OlderThan";

    /// <summary>One backup's URI (…/table/backup-id/), as Get-DynamoBackup lists it; with -KeepLast or -OlderThan, the target its backups are under.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("BackupUri")]
    public string Uri { get; set; } = "";

    /// <summary>Retention: keep this many committed backups of each table (the newest), remove the older ones.</summary>
    [Parameter(Mandatory = true, ParameterSetName = KeepLastSet)]
    [ValidateRange(1, int.MaxValue)]
    public int KeepLast { get; set; }

    /// <summary>Retention: remove committed backups older than this (never a table's newest).</summary>
    [Parameter(Mandatory = true, ParameterSetName = OlderThanSet)]
    public TimeSpan OlderThan { get; set; }

    /// <summary>Retention: only this table's backups (default: every table under the target).</summary>
    [Parameter(ParameterSetName = KeepLastSet)]
    [Parameter(ParameterSetName = OlderThanSet)]
    [ValidateNotNullOrEmpty]
    public string? TableName { get; set; }

    /// <summary>A DynamoDB table (created on first use) where each removed backup's entry is marked Removed (docs/ledger.md).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? LedgerTableName { get; set; }

    /// <summary>Removes without asking for confirmation (-WhatIf still only shows what would be removed).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        string uri = ResolveUri(Uri);
        bool skipConfirmation = Force && !IsWhatIf;
        if (ParameterSetName == OneSet)
        {
            if (!skipConfirmation && !ShouldProcess(uri, "Remove backup (every object, then pending uploads)")) return;
            var one = RunEngine((_, token) => Operations.RemoveBackupAsync(uri, AwsOptions, token));
            WriteObject(one);
            MarkRemoved([one]);
            return;
        }
        var policy = ParameterSetName == KeepLastSet ? new RetentionPolicy(KeepLast: KeepLast) : new RetentionPolicy(OlderThan: OlderThan);
        var removed = RunEngine((bridge, token) => Operations.ApplyRetentionAsync(uri, TableName, policy, AwsOptions, async doomed =>
        {
            string list = string.Join(Environment.NewLine, doomed.Select(b => $"  {b.TableName}/{b.BackupId} ({b.Status})"));
            return skipConfirmation || await bridge.ConfirmAsync(uri,
                $"Remove {doomed.Count} backup(s) under the retention policy ({Describe(policy)}):{Environment.NewLine}{list}", token).ConfigureAwait(false);
        }, TimeProvider.System, token));
        foreach (var backup in removed) WriteObject(backup);
        MarkRemoved(removed);
    }

    private void MarkRemoved(IReadOnlyList<RemovedBackup> removed)
    {
        if (LedgerTableName is null || removed.Count == 0) return;
        var ledger = new Engine.Ledger.LedgerOptions(LedgerTableName) { Aws = AwsOptions };
        foreach (string failure in RunEngine((bridge, _) => Engine.Ledger.LedgerWriter.MarkRemovedAsync(ledger, removed, bridge)))
        {
            WriteError(ToErrorRecord(new BackupDRException(ErrorIds.LedgerNotWritten, ErrorKind.ConnectionError, failure, LedgerTableName)));
        }
    }

    private static string Describe(RetentionPolicy policy) => policy.KeepLast is { } n ? $"keep the last {n} committed per table" : $"remove committed backups older than {policy.OlderThan}";
}
