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
    /// "May I?" before an operation's first change to <paramref name="target"/>, <paramref name="action"/>
    /// saying what it will do: a cmdlet maps it to ShouldProcess, so -WhatIf and -Confirm apply. False:
    /// the change is not made.
    /// </summary>
    Task<bool> ConfirmAsync(string target, string action, CancellationToken cancellationToken);

    /// <summary>
    /// "Are you sure?" before changing data the user did not just create (overwriting or deleting a
    /// table's items), asked once, with the counts in <paramref name="question"/>; the engine asks only
    /// when the request did not already insist (force). A cmdlet maps it to ShouldContinue, which asks
    /// even in a script; a host that cannot ask answers false. False: nothing is changed.
    /// </summary>
    Task<bool> ConfirmDangerAsync(string target, string question, CancellationToken cancellationToken);
}

/// <summary>A host that discards everything.</summary>
public sealed class NullOperationHost : IOperationHost
{
    public static readonly NullOperationHost Instance = new();
    public void Progress(OperationProgress progress) { }
    public void Verbose(string message) { }
    public void Warning(string message) { }
    public Task<bool> ConfirmAsync(string target, string action, CancellationToken cancellationToken) => Task.FromResult(true);
    public Task<bool> ConfirmDangerAsync(string target, string question, CancellationToken cancellationToken) => Task.FromResult(true);
}
