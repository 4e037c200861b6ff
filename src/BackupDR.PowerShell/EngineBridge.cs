using System.Collections.Concurrent;
using System.Management.Automation;
using BackupDR.Engine;

namespace BackupDR.PowerShell;

/// <summary>
/// Carries what the engine reports from its worker threads to the pipeline thread: the engine
/// enqueues, the cmdlet drains the queue and does the writing (PowerShell's Write* methods may
/// only be called on the pipeline thread).
/// </summary>
internal sealed class EngineBridge(BackupDRCmdlet cmdlet) : IOperationHost
{
    private readonly BlockingCollection<Action> _queue = new();

    public void Post(Action action)
    {
        try { _queue.Add(action); }
        catch (InvalidOperationException) { /* the operation already ended */ }
    }

    public void Progress(OperationProgress progress) => Post(() => cmdlet.WriteEngineProgress(progress));
    public void Verbose(string message) => Post(() => cmdlet.WriteVerbose(Phrasing.Render(message)));
    public void Warning(string message) => Post(() => cmdlet.WriteWarning(Phrasing.Render(message)));

    /// <summary>Asks ShouldProcess on the pipeline thread (-WhatIf / -Confirm) and hands the answer back to the worker.</summary>
    public Task<bool> ConfirmAsync(string target, string action, CancellationToken cancellationToken)
    {
        var answer = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var registration = cancellationToken.Register(() => answer.TrySetCanceled(cancellationToken));
        answer.Task.ContinueWith(_ => registration.Dispose(), TaskScheduler.Default);
        Post(() =>
        {
            try
            {
                bool yes = cmdlet.ShouldProcess(target, Phrasing.Render(action));
                if (!yes) cmdlet.ShouldProcessDeclined = true;
                answer.TrySetResult(yes);
            }
            catch (Exception e) { answer.TrySetException(e); }
        });
        return answer.Task;
    }

    /// <summary>
    /// ShouldContinue on the pipeline thread, with No as the default answer (an empty line from a script's
    /// input must never mean yes). A host that cannot ask (-NonInteractive, no input) answers no.
    /// </summary>
    public Task<bool> ConfirmDangerAsync(string target, string question, CancellationToken cancellationToken)
    {
        var answer = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var registration = cancellationToken.Register(() => answer.TrySetCanceled(cancellationToken));
        answer.Task.ContinueWith(_ => registration.Dispose(), TaskScheduler.Default);
        Post(() =>
        {
            bool yesToAll = false, noToAll = false;
            try { answer.TrySetResult(cmdlet.ShouldContinue(Phrasing.Render(question), $"Confirm: {target}", hasSecurityImpact: true, ref yesToAll, ref noToAll)); }
            catch (Exception e) when (e is not PipelineStoppedException)
            {
                cmdlet.WriteVerbose($"Could not ask ({e.Message}): taken as no.");
                answer.TrySetResult(false);
            }
            catch (Exception e) { answer.TrySetException(e); }
        });
        return answer.Task;
    }

    /// <summary>Runs <paramref name="operation"/> on a worker and drains its messages here until it ends.</summary>
    public T Run<T>(Func<EngineBridge, CancellationToken, Task<T>> operation, CancellationToken cancellationToken)
    {
        var task = Task.Run(() => operation(this, cancellationToken), cancellationToken);
        task.ContinueWith(_ => _queue.CompleteAdding(), TaskScheduler.Default);
        foreach (var action in _queue.GetConsumingEnumerable()) action();
        return task.GetAwaiter().GetResult();
    }
}
