namespace BackupDR.Engine;

/// <summary>
/// Bounds the garbage a long pipeline run leaves lying between collections.
/// </summary>
/// <remarks>
/// The workstation GC sizes its gen0 budget from the CPU's last-level cache (about 17 MB on a machine
/// with a 32 MiB L3, more on bigger servers) and collects only when that much has been allocated, so a
/// long backup keeps that much dead memory resident, which a short one never reaches: it was the largest
/// part of a 1M-item backup's extra memory over a 10k-item one (docs/performance.md). The pipelines'
/// garbage is short-lived (request and response objects, strings of one page), so a gen0 collection
/// after every <c>bytes</c> of allocation finds little alive and costs well under a millisecond.
/// One budget is shared by a run's workers; the host's own settings are left alone.
/// </remarks>
internal sealed class GarbageBudget
{
    private readonly long _bytes;
    private long _mark;

    /// <param name="bytes">Allocation between collections; 0 leaves collections to the GC alone.</param>
    public GarbageBudget(long bytes)
    {
        _bytes = bytes;
        _mark = GC.GetTotalAllocatedBytes(precise: false);
    }

    /// <summary>Called after each unit of work (a Scan page, a batch): collects gen0 once the budget is spent.</summary>
    /// <returns>Whether this call collected.</returns>
    public bool Check()
    {
        if (_bytes <= 0) return false;
        long mark = Volatile.Read(ref _mark);
        long now = GC.GetTotalAllocatedBytes(precise: false);
        if (now - mark < _bytes) return false;
        // Of the workers that find the budget spent at once, one collects.
        if (Interlocked.CompareExchange(ref _mark, now, mark) != mark) return false;
        GC.Collect(0, GCCollectionMode.Forced, blocking: true, compacting: false);
        return true;
    }
}
