using System.Management.Automation;
using BackupDR.Engine;
using BackupDR.Engine.Aws;

namespace BackupDR.PowerShell;

/// <summary>
/// What every BackupDR cmdlet shares: AWS parameters, cancellation on Ctrl+C, and turning engine
/// failures into terminating errors with stable ids. Engine types appear only inside method
/// bodies, never in signatures PowerShell reflects over.
/// </summary>
public abstract class BackupDRCmdlet : PSCmdlet
{
    private CancellationTokenSource? _cancellation;

    /// <summary>The AWS region (e.g. eu-west-1). Defaults to the SDK's chain: AWS_REGION, the profile, the config file.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Region { get; set; }

    /// <summary>A profile from the shared AWS config/credentials files. Defaults to the standard credential chain.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ProfileName { get; set; }

    protected CancellationToken CancellationToken => _cancellation!.Token;

    protected override void BeginProcessing() => _cancellation = new CancellationTokenSource();

    protected override void StopProcessing() => _cancellation?.Cancel();

    protected override void EndProcessing() => _cancellation?.Dispose();

    internal virtual AwsOptions AwsOptions => new(Region, ProfileName);

    /// <summary>The engine asked ShouldProcess and got no (-WhatIf, or No at -Confirm): the operation stopped before changing anything, by the user's choice.</summary>
    internal bool ShouldProcessDeclined { get; set; }

    /// <summary>True when -WhatIf was given.</summary>
    internal bool IsWhatIf => MyInvocation.BoundParameters.TryGetValue("WhatIf", out var v) && v is SwitchParameter { IsPresent: true };

    /// <summary>Runs an engine operation, relaying its messages; engine failures become terminating errors.</summary>
    internal T RunEngine<T>(Func<EngineBridge, CancellationToken, Task<T>> operation)
    {
        try
        {
            return new EngineBridge(this).Run(operation, CancellationToken);
        }
        catch (BackupDRException e) when (e.ErrorId == ErrorIds.NotConfirmed && ShouldProcessDeclined)
        {
            return default!;   // -WhatIf, or No at -Confirm: the engine stopped before its first change, as asked
        }
        catch (BackupDRException e)
        {
            ThrowTerminatingError(ToErrorRecord(e));
            throw;   // not reached
        }
        catch (OperationCanceledException e)
        {
            ThrowTerminatingError(new ErrorRecord(e, ErrorIds.OperationCancelled, ErrorCategory.OperationStopped, null));
            throw;
        }
    }

    /// <summary>Runs engine code on the pipeline thread (argument checks), turning its errors into terminating errors with their ids.</summary>
    internal T Checked<T>(Func<T> check)
    {
        try
        {
            return check();
        }
        catch (BackupDRException e)
        {
            ThrowTerminatingError(ToErrorRecord(e));
            throw;   // not reached
        }
    }

    /// <summary>The engine's error as a PowerShell error: its stable id, and its remedy phrased as this module's parameters.</summary>
    /// <summary>
    /// Records what the run did in the ledger <paramref name="ledgerTable"/> (and its target's journal), after
    /// its result was output: what could not be recorded is a non-terminating LedgerNotWritten each, the run's
    /// own outcome standing. Nothing under -WhatIf, nor without a ledger.
    /// </summary>
    internal void RecordInLedger(string? ledgerTable, IEnumerable<Engine.Ledger.LedgerWrite?> writes)
    {
        if (ledgerTable is null || IsWhatIf) return;
        var list = writes.OfType<Engine.Ledger.LedgerWrite>().ToList();
        if (list.Count == 0) return;
        var ledger = new Engine.Ledger.LedgerOptions(ledgerTable) { Aws = AwsOptions };
        var failures = RunEngine((bridge, _) => Engine.Ledger.LedgerWriter.WriteAsync(ledger, list, bridge));
        foreach (string failure in failures)
        {
            WriteError(ToErrorRecord(new BackupDRException(ErrorIds.LedgerNotWritten, ErrorKind.ConnectionError, failure, ledgerTable)));
        }
    }

    internal static ErrorRecord ToErrorRecord(BackupDRException e) => new(Say.Rendered(e, Phrasing.Phrase), e.ErrorId, Category(e.Kind), e.Target);

    internal static ErrorCategory Category(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
        ErrorKind.ObjectNotFound => ErrorCategory.ObjectNotFound,
        ErrorKind.InvalidData => ErrorCategory.InvalidData,
        ErrorKind.ResourceExists => ErrorCategory.ResourceExists,
        ErrorKind.InvalidOperation => ErrorCategory.InvalidOperation,
        ErrorKind.ConnectionError => ErrorCategory.ConnectionError,
        ErrorKind.PermissionDenied => ErrorCategory.PermissionDenied,
        ErrorKind.OperationStopped => ErrorCategory.OperationStopped,
        ErrorKind.WriteError => ErrorCategory.WriteError,
        _ => ErrorCategory.NotSpecified,
    };

    internal void WriteEngineProgress(OperationProgress p)
    {
        var record = new ProgressRecord(p.ActivityId, p.Activity, string.IsNullOrEmpty(p.Status) ? "working" : p.Status)
        {
            PercentComplete = Math.Clamp(p.PercentComplete, -1, 100),
            RecordType = p.Completed ? ProgressRecordType.Completed : ProgressRecordType.Processing,
        };
        WriteProgress(record);
    }

    /// <summary>A path parameter resolved against the current PowerShell location (which may differ from the process's).</summary>
    protected string ResolvePath(string path) => GetUnresolvedProviderPathFromPSPath(path);

    /// <summary>A backup URI: s3:// and file:// pass through; anything else is treated as a (possibly relative) path.</summary>
    protected string ResolveUri(string uri)
    {
        if (string.IsNullOrWhiteSpace(uri) || uri.Contains("://", StringComparison.Ordinal) || uri.StartsWith("s3:", StringComparison.OrdinalIgnoreCase))
        {
            return uri;
        }
        return ResolvePath(uri);
    }
}
