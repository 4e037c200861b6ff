using System.Diagnostics;

namespace BackupDR.Engine;

/// <summary>
/// How often and how patiently to retry: capped exponential backoff with jitter, bounded by a number
/// of attempts and by the time since the first one.
/// </summary>
public sealed record RetryPolicy(int MaxAttempts, TimeSpan BaseDelay, TimeSpan MaxDelay)
{
    /// <summary>12 attempts, 50 ms doubling to at most 5 s between them, for at most 5 minutes.</summary>
    public static readonly RetryPolicy Default = new(12, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(5));

    /// <summary>No new attempt starts this long after the first one began.</summary>
    public TimeSpan MaxElapsed { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The wait after failed attempt <paramref name="attempt"/> (1-based): half the capped exponential, plus up to as much again at random.</summary>
    public TimeSpan Delay(int attempt)
    {
        double cap = Math.Min(MaxDelay.TotalMilliseconds, BaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30)));
        return TimeSpan.FromMilliseconds(cap / 2 + Random.Shared.NextDouble() * cap / 2);
    }

    /// <summary>
    /// After failed attempt <paramref name="attempt"/> of an operation first tried at
    /// <paramref name="startedAt"/> (a Stopwatch timestamp): the wait before the next attempt, or
    /// null when the attempts or the time are used up.
    /// </summary>
    public TimeSpan? NextDelay(int attempt, long startedAt)
    {
        if (attempt >= MaxAttempts) return null;
        var delay = Delay(attempt);
        return Stopwatch.GetElapsedTime(startedAt) + delay > MaxElapsed ? null : delay;
    }
}
