namespace BackupDR.Engine.Catalog;

/// <summary>
/// How many committed backups of each table to keep, or for how long. With both, a backup goes only when
/// both let it go. Whatever the policy, the newest committed backup of a table is never removed, and an
/// incomplete backup goes only when a committed one is newer (one newer than every committed backup may
/// be a backup running now) and it started more than <see cref="IncompleteGrace"/> ago (DynamoDB's export for a
/// backup started earlier may still be writing into it while a later, smaller one has committed). A backup that a kept incremental backup continues (its chain, down to the full
/// export) is kept too: retention never breaks a chain it keeps.
/// </summary>
public sealed record RetentionPolicy(int? KeepLast = null, TimeSpan? OlderThan = null)
{
    /// <summary>How long an incomplete backup is left alone: DynamoDB's exports take hours at most; a day is past any that still runs.</summary>
    public static readonly TimeSpan IncompleteGrace = TimeSpan.FromDays(1);

    /// <summary>Throws InvalidArgument for a policy that keeps nothing or says nothing.</summary>
    public void Validate()
    {
        if (KeepLast is null && OlderThan is null)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"A retention policy needs {Say.Option("keep-last")} or {Say.Option("older-than")}.", null);
        }
        if (KeepLast is < 1)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"{Say.Option("keep-last")} must be at least 1: the newest committed backup of a table is always kept.", null);
        }
        if (OlderThan is { } age && age <= TimeSpan.Zero)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, $"{Say.Option("older-than")} must be longer than zero.", null);
        }
    }

    /// <summary>
    /// The backups the policy removes, from a listing of one or more tables' backups, oldest first. Ids
    /// sort by time; ages are measured from each backup's start to <paramref name="now"/>.
    /// </summary>
    public IReadOnlyList<BackupInfo> Select(IEnumerable<BackupInfo> backups, DateTimeOffset now)
    {
        Validate();
        var doomed = new List<BackupInfo>();
        foreach (var table in backups.GroupBy(b => b.TableName, StringComparer.Ordinal))
        {
            var committed = table.Where(b => b.Status == BackupStatus.Committed).OrderByDescending(b => b.BackupId, StringComparer.Ordinal).ToList();
            if (committed.Count == 0) continue;   // no committed backup: nothing is removed, incomplete ones included
            string newest = committed[0].BackupId;
            for (int i = 1; i < committed.Count; i++)
            {
                bool byCount = KeepLast is not { } n || i >= n;
                bool byAge = OlderThan is not { } age || committed[i].StartTime is { } start && now - start > age;
                if (byCount && byAge) doomed.Add(committed[i]);
            }
            doomed.AddRange(table.Where(b => b.Status == BackupStatus.Incomplete && string.CompareOrdinal(b.BackupId, newest) < 0
                                             && (b.StartTime is not { } begun || now - begun > IncompleteGrace)));
            // The chains of the kept: each kept incremental's base, and its base, down to the full export.
            var byId = committed.ToDictionary(b => b.BackupId, StringComparer.Ordinal);
            var kept = committed.Where(b => !doomed.Contains(b)).ToList();
            for (int i = 0; i < kept.Count; i++)
            {
                if (kept[i].BaseBackupId is { } baseId && byId.TryGetValue(baseId, out var based) && doomed.Remove(based)) kept.Add(based);
            }
        }
        return doomed.OrderBy(b => b.BackupId, StringComparer.Ordinal).ToList();
    }
}
