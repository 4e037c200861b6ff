namespace BackupDR.Engine;

/// <summary>How often and how patiently to retry: capped exponential backoff with jitter.</summary>
public sealed record RetryPolicy(int MaxAttempts, TimeSpan BaseDelay, TimeSpan MaxDelay)
{
    public static readonly RetryPolicy Default = new(12, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(5));

    /// <summary>The wait after failed attempt <paramref name="attempt"/> (1-based): half the capped exponential, plus up to as much again at random.</summary>
    public TimeSpan Delay(int attempt)
    {
        double cap = Math.Min(MaxDelay.TotalMilliseconds, BaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30)));
        return TimeSpan.FromMilliseconds(cap / 2 + Random.Shared.NextDouble() * cap / 2);
    }
}
