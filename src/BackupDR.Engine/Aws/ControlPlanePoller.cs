namespace BackupDR.Engine.Aws;

/// <summary>
/// Waits for one of DynamoDB's long-running jobs (an export, an import) to leave IN_PROGRESS: described again at a
/// backing-off interval (100 ms, growing by half up to 30 s), with progress. A cancelled wait throws OperationCancelled
/// with <c>stopped</c>'s message: the job itself goes on in DynamoDB, whatever this process does.
/// </summary>
internal static class ControlPlanePoller
{
    private static readonly TimeSpan MaxPoll = TimeSpan.FromSeconds(30);

    public static async Task<T> WaitAsync<T>(T job, Func<T, bool> running, Func<T, CancellationToken, Task<T>> describe, IOperationHost host, int activity, string title,
        Func<T, TimeSpan, string> status, string stopped, string target, CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (running(job))
        {
            host.Progress(new OperationProgress(activity, title, status(job, clock.Elapsed), -1));
            try
            {
                await Task.Delay(delay, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                throw new BackupDRException(ErrorIds.OperationCancelled, ErrorKind.OperationStopped, stopped, target);
            }
            delay = TimeSpan.FromMilliseconds(Math.Min(MaxPoll.TotalMilliseconds, delay.TotalMilliseconds * 1.5));
            job = await describe(job, ct).ConfigureAwait(false);
        }
        host.Progress(new OperationProgress(activity, title, "done", 100, Completed: true));
        return job;
    }
}
