namespace BackupDR.Engine;

/// <summary>A snapshot of a long operation's progress.</summary>
/// <param name="Activity">What is being done, e.g. "Backing up table Orders".</param>
/// <param name="Status">Current detail, e.g. "12,000 items, 3.1 MB".</param>
/// <param name="PercentComplete">0-100, or -1 when unknown.</param>
/// <param name="Completed">True on the last report of an activity.</param>
public sealed record OperationProgress(int ActivityId, string Activity, string Status, int PercentComplete, bool Completed = false);

/// <summary>
/// How the engine talks to whoever hosts it (a cmdlet, the Lambda runtime, a test). Called from any
/// thread: implementations must be thread-safe and must not block for long.
/// </summary>
public interface IOperationHost
{
    void Progress(OperationProgress progress);
    void Verbose(string message);
    void Warning(string message);

    /// <summary>
    /// "May I?" before a destructive step the request already asked for (deleting items a backup does
    /// not hold): a cmdlet maps it to ShouldProcess, so -WhatIf and -Confirm apply. False skips the step.
    /// </summary>
    Task<bool> ConfirmAsync(string target, string action, CancellationToken cancellationToken);
}

/// <summary>A host that discards everything.</summary>
public sealed class NullOperationHost : IOperationHost
{
    public static readonly NullOperationHost Instance = new();
    public void Progress(OperationProgress progress) { }
    public void Verbose(string message) { }
    public void Warning(string message) { }
    public Task<bool> ConfirmAsync(string target, string action, CancellationToken cancellationToken) => Task.FromResult(true);
}
