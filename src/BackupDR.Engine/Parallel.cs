namespace BackupDR.Engine;

/// <summary>Helpers for groups of tasks that succeed or fail together.</summary>
internal static class Parallel
{
    /// <summary>
    /// Runs <paramref name="count"/> workers. The first failure cancels the others, and that
    /// failure (not the cancellations it caused) is what the caller sees.
    /// </summary>
    public static async Task<T[]> RunAllOrNoneAsync<T>(int count, Func<int, CancellationToken, Task<T>> worker, CancellationToken cancellationToken)
    {
        using var group = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Exception? first = null;
        var tasks = Enumerable.Range(0, count).Select(async i =>
        {
            try
            {
                return await worker(i, group.Token).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                if (!(e is OperationCanceledException && group.IsCancellationRequested)) Interlocked.CompareExchange(ref first, e, null);
                group.Cancel();
                throw;
            }
        }).ToArray();
        try
        {
            return await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (Exception) when (first is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
            throw;
        }
    }
}
