using System.Diagnostics;

namespace BackupDR.Engine.Capacity;

/// <summary>
/// Holds a stream of DynamoDB requests to a rate in capacity units per second, from the
/// ConsumedCapacity that DynamoDB reports. The same rule works for provisioned and on-demand
/// tables, because it counts what the requests actually consumed rather than what the table allows.
/// </summary>
/// <remarks>
/// A virtual clock: each request reserves the time its estimated cost takes at the capped rate and
/// waits until that time comes; when DynamoDB reports the real cost, the clock moves by the
/// difference, so an underestimate is paid back by the requests that follow. There is no burst
/// credit: an idle period does not let a later burst exceed the rate. With no cap (0) nothing waits;
/// consumption is still counted for the result.
/// </remarks>
internal sealed class CapacityLimiter
{
    private readonly object _gate = new();
    private readonly double _unitsPerSecond;
    private readonly TimeProvider _time;
    private long _nextFree;          // timestamp ticks (the clock's): when the next request may start
    private double _consumed;
    private double _unitsPerItem;    // learned from responses, for estimates
    private bool _reported;

    /// <param name="time">The clock the rate is held to (the system's; a test's or a Lambda host's own).</param>
    public CapacityLimiter(double unitsPerSecond, double initialUnitsPerItem, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        if (unitsPerSecond < 0 || double.IsNaN(unitsPerSecond) || double.IsInfinity(unitsPerSecond))
        {
            throw new ArgumentOutOfRangeException(nameof(unitsPerSecond));
        }
        _unitsPerSecond = unitsPerSecond;
        _unitsPerItem = initialUnitsPerItem;
    }

    public bool IsCapped => _unitsPerSecond > 0;

    /// <summary>Capacity units consumed so far, as DynamoDB reported them (or estimated when it did not).</summary>
    public double Consumed
    {
        get { lock (_gate) return _consumed; }
    }

    /// <summary>False when DynamoDB has not returned ConsumedCapacity for any request so far.</summary>
    public bool ServiceReportsCapacity
    {
        get { lock (_gate) return _reported; }
    }

    /// <summary>The estimated cost of a request touching <paramref name="items"/> items.</summary>
    public double Estimate(int items)
    {
        lock (_gate) return Math.Max(0.5, items * _unitsPerItem);
    }

    /// <summary>
    /// Under a cap, the Limit for a Scan page: about a quarter second of one stream's share, so each
    /// request's cost is small against the rate. Null (no limit) when there is no cap.
    /// </summary>
    public int? PageLimit(int streams)
    {
        if (!IsCapped) return null;
        double perItem;
        lock (_gate) perItem = Math.Max(_unitsPerItem, 0.001);
        return (int)Math.Clamp(_unitsPerSecond * 0.25 / Math.Max(1, streams) / perItem, 1, 10_000);
    }

    /// <summary>Waits until a request of <paramref name="estimatedUnits"/> may start; returns the reservation to settle.</summary>
    public async ValueTask<double> AcquireAsync(double estimatedUnits, CancellationToken cancellationToken)
    {
        if (!IsCapped) return estimatedUnits;
        long now = _time.GetTimestamp();
        long start;
        lock (_gate)
        {
            start = Math.Max(now, _nextFree);
            _nextFree = start + Ticks(estimatedUnits);
        }
        long wait = start - now;
        if (wait > 0)
        {
            await Task.Delay(TimeSpan.FromSeconds((double)wait / _time.TimestampFrequency), _time, cancellationToken).ConfigureAwait(false);
        }
        return estimatedUnits;
    }

    /// <summary>
    /// Records what a request consumed. <paramref name="reportedUnits"/> is DynamoDB's figure, or
    /// null when the response carried none (then the estimate stands). <paramref name="items"/> is how
    /// many items the request touched, to refine later estimates.
    /// </summary>
    public void Settle(double reservedUnits, double? reportedUnits, int items)
    {
        double actual = reportedUnits ?? reservedUnits;
        lock (_gate)
        {
            _consumed += actual;
            if (reportedUnits is not null)
            {
                _reported = true;
                if (items > 0) _unitsPerItem = 0.7 * _unitsPerItem + 0.3 * (actual / items);
            }
            if (IsCapped) _nextFree += Ticks(actual - reservedUnits);
        }
    }

    /// <summary>Returns a reservation whose request was never sent (it failed before DynamoDB counted anything).</summary>
    public void Release(double reservedUnits)
    {
        if (!IsCapped) return;
        lock (_gate) _nextFree -= Ticks(reservedUnits);
    }

    private long Ticks(double units) => (long)(units / _unitsPerSecond * _time.TimestampFrequency);
}
