using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Validation;

/// <summary>
/// A point in time among BackupDR's own backups made by DynamoDB's export (docs/format.md §13): the backup whose
/// point is the latest at or before the time asked for. Given a table's folder, any of its export backups (full
/// or incremental) may be it; given one backup, it or one of the backups its chain continues. The backup chosen
/// is then checked like any other, its chain with it. A scan backup has no single point (it reads over minutes),
/// so it is never chosen.
/// </summary>
/// <remarks>
/// Only summaries are read here, each within its bound, and only the newest backups': a backup's point is never
/// later than shortly after it started (its id), so once the ids are older than the best point found (less a
/// margin), no older backup can be later. A summary that cannot be read, among those that could be the one,
/// is a problem: the choice could otherwise silently fall on an earlier point.
/// </remarks>
internal static class PointChooser
{
    /// <summary>How many committed backups a table's folder may hold for a choice among them.</summary>
    public const int MaxCandidates = 100_000;

    /// <summary>How much later than its id's time a backup's point may be (the export is asked for after the id is drawn).</summary>
    private static readonly TimeSpan IdMargin = TimeSpan.FromHours(1);

    /// <param name="hasSummary">The layout's detection already found a manifest summary at the folder: it is one backup.</param>
    public static async Task<BackupFolder?> ChooseAsync(BackupFolder folder, DateTimeOffset point, bool hasSummary, IntegrityReport report, IOperationHost host, CancellationToken ct)
    {
        bool isBackup = hasSummary || await folder.Store.HeadAsync(folder.Key(BackupFormat.CommitMarkerKey), ct).ConfigureAwait(false) is not null
                        || await folder.Store.HeadAsync(folder.Key(BackupFormat.ManifestSummaryKey), ct).ConfigureAwait(false) is not null;   // one too large to read
        var chosen = isBackup
            ? await AlongChainAsync(folder, point, report, ct).ConfigureAwait(false)
            : await AmongTableAsync(folder, point, report, ct).ConfigureAwait(false);
        if (chosen is { } c)
        {
            host.Verbose($"Backup {c.Folder.Name} reaches {c.Point:u}, the latest point at or before {point:u}.");
            report.Limits.Add($"Chose backup {c.Folder.Name} (its point {c.Point:u}): the latest at or before {point:u}.");
        }
        return chosen?.Folder;
    }

    /// <summary>The backup given, or the first backup down its chain whose point is at or before the time.</summary>
    private static async Task<(BackupFolder Folder, DateTimeOffset Point)?> AlongChainAsync(BackupFolder folder, DateTimeOffset point, IntegrityReport report, CancellationToken ct)
    {
        var parent = folder.SplitParent().Parent;
        var current = folder;
        DateTimeOffset? earliest = null;
        for (int links = 0; links < IntegrityChecker.MaxChainLength; links++)
        {
            var summary = await ReadSummaryAsync(current, report, ct).ConfigureAwait(false);
            if (summary is null) return null;
            if (PointOf(summary) is not { } reaches)
            {
                if (links > 0)
                {
                    report.Add(ProblemCodes.ExportChainGap, $"{current.Name}/{BackupFormat.ManifestSummaryKey}", "An incremental backup continues this backup, which is not one of DynamoDB's exports: the chain cannot be followed.");
                    return null;
                }
                throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                    $"{folder.Uri} is a scan backup, which has no single point in time (it reads the table over minutes). Leave out {Say.PointInTime} to restore it, " +
                    "or give the table's folder to choose among its backups made by DynamoDB's export.", folder.Uri);
            }
            if (reaches <= point) return (current, reaches);
            earliest = reaches;
            if (summary.BaseBackupId is not { } baseId || !BackupFormat.IsBackupId(baseId) || string.CompareOrdinal(baseId, summary.BackupId) >= 0) break;
            current = parent.Child(baseId);
        }
        throw NotCovered(folder.Uri, point, earliest);
    }

    /// <summary>Among a table folder's committed backups made by DynamoDB's export: the one whose point is the latest at or before the time.</summary>
    private static async Task<(BackupFolder Folder, DateTimeOffset Point)?> AmongTableAsync(BackupFolder folder, DateTimeOffset point, IntegrityReport report, CancellationToken ct)
    {
        var committed = new List<string>();
        await foreach (var obj in folder.Store.ListAsync(folder.Prefix, ct).ConfigureAwait(false))
        {
            string[] parts = obj.Key[folder.Prefix.Length..].Split('/');
            if (parts.Length != 2 || parts[1] != BackupFormat.CommitMarkerKey || !BackupFormat.IsBackupId(parts[0]) || obj.IsLink) continue;
            committed.Add(parts[0]);
            if (committed.Count > MaxCandidates)
            {
                report.Add(ProblemCodes.InvalidManifest, null, $"The folder holds more than {MaxCandidates:N0} committed backups; give one backup's folder.");
                return null;
            }
        }
        if (committed.Count == 0)
        {
            throw new BackupDRException(ErrorIds.BackupNotFound, ErrorKind.ObjectNotFound,
                $"There is no committed backup at {folder.Uri}. Give a table's folder (…/<table>/) or one backup's folder.", folder.Uri);
        }
        (BackupFolder Folder, DateTimeOffset Point)? best = null;
        DateTimeOffset? earliest = null;
        int scans = 0;
        foreach (string id in committed.OrderByDescending(i => i, StringComparer.Ordinal))
        {
            if (best is { } found && BackupFormat.StartOf(id) + IdMargin < found.Point) break;   // no older backup reaches later
            var candidate = folder.Child(id);
            var summary = await ReadSummaryAsync(candidate, report, ct).ConfigureAwait(false);
            if (summary is null) return null;
            if (summary.BackupId != id)
            {
                report.Add(ProblemCodes.BackupIdMismatch, $"{id}/{BackupFormat.ManifestSummaryKey}", $"The folder is backup '{id}' but its manifest is for '{UnsafeKeyException.Printable(summary.BackupId)}': which point it holds is unknown.");
                return null;
            }
            if (PointOf(summary) is not { } reaches)
            {
                scans++;
                continue;
            }
            if (reaches <= point)
            {
                if (best is not { } b || reaches > b.Point) best = (candidate, reaches);
            }
            else if (earliest is null || reaches < earliest)
            {
                earliest = reaches;
            }
        }
        if (best is null)
        {
            throw NotCovered(folder.Uri, point, earliest,
                scans > 0 ? $" Its {scans} scan backup(s) have no single point in time; give one's folder without {Say.PointInTime}." : "");
        }
        return best;
    }

    /// <summary>An export backup's point: a full export's time, or where an incremental's window ends. Null for a scan.</summary>
    private static DateTimeOffset? PointOf(ManifestSummary summary) =>
        summary.Engine == BackupFormat.ExportEngine ? summary.ExportToTime ?? summary.ExportTime : null;

    private static async Task<ManifestSummary?> ReadSummaryAsync(BackupFolder backup, IntegrityReport report, CancellationToken ct)
    {
        string file = $"{backup.Name}/{BackupFormat.ManifestSummaryKey}";
        try
        {
            byte[]? bytes = await backup.Store.TryReadAllAsync(backup.Key(BackupFormat.ManifestSummaryKey), BackupFormat.MaxSummaryBytes, ct).ConfigureAwait(false);
            if (bytes is null)
            {
                report.Add(ProblemCodes.MissingManifest, file, "The backup has no manifest summary: which point it holds is unknown.");
                return null;
            }
            return BackupFormat.ParseSummary(bytes);
        }
        catch (Exception e) when (e is InvalidDataException or UntrustedInputException)
        {
            report.Add(ProblemCodes.InvalidManifest, file, $"{e.Message} Which point the backup holds is unknown.");
            return null;
        }
    }

    private static BackupDRException NotCovered(string uri, DateTimeOffset point, DateTimeOffset? earliest, string more = "") =>
        new(ErrorIds.PointInTimeNotCovered, ErrorKind.ObjectNotFound,
            (earliest is { } e
                ? $"No backup at {uri} reaches back to {point:u}: the earliest point it holds is {e:u}. Give a time at or after it."
                : $"No backup at {uri} was made by DynamoDB's export, so none holds a point in time.") + more, uri);
}
