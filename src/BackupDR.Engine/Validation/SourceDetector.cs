using System.Text.Json;
using BackupDR.Engine.Format;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Validation;

/// <summary>
/// Which layout is at a folder, from what is there (docs/format.md §10–§12), never from its name: a
/// manifest summary that is a native export's (it has <c>exportArn</c>, BackupDR's has <c>format</c>),
/// an export's <c>_started</c> alone, or export folders one level down (a chain); a <c>.json</c> file (the
/// original backup Lambda's); <c>schema.json</c> or <c>data/0001.json</c> (dynamodump). Anything else is
/// read as BackupDR's own format, whose checks then say what is missing.
/// </summary>
internal static class SourceDetector
{
    /// <summary>The layout, and BackupDR's manifest summary when it was read (within its bound) to tell: its reader need not read it again.</summary>
    public static async Task<(SourceFormat Format, byte[]? Summary)> DetectAsync(BackupFolder folder, CancellationToken ct)
    {
        // A file, not a folder: the original backup Lambda's single-file backup (…/dynamodb-backups/<table>-backup-<time>.json).
        if (folder.Uri.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || folder.Uri.EndsWith(".json/", StringComparison.OrdinalIgnoreCase))
        {
            var (parent, name) = folder.SplitParent();
            try
            {
                if (await parent.Store.HeadAsync(parent.Key(name), ct).ConfigureAwait(false) is not null) return (SourceFormat.SeedV2, null);
            }
            catch (UntrustedInputException)
            {
                return (SourceFormat.SeedV2, null);   // its reader reports it
            }
        }
        // A dynamodump table folder: schema.json, or its first page (its schema then reported missing).
        if ((await ExistsAsync(folder, DumpBackupReader.SchemaKey, ct).ConfigureAwait(false) || await ExistsAsync(folder, DumpBackupReader.FirstPageKey, ct).ConfigureAwait(false))
            && !await ExistsAsync(folder, BackupFormat.ManifestSummaryKey, ct).ConfigureAwait(false)) return (SourceFormat.Dynamodump, null);
        byte[]? summary;
        try
        {
            summary = await folder.Store.TryReadAllAsync(folder.Key(BackupFormat.ManifestSummaryKey), BackupFormat.MaxSummaryBytes, ct).ConfigureAwait(false);
        }
        catch (UntrustedInputException)
        {
            return (SourceFormat.BackupDR, null);   // its own checks report it
        }
        if (summary is not null) return IsNativeSummary(summary) ? (SourceFormat.NativeExport, null) : (SourceFormat.BackupDR, summary);
        if (await ExistsAsync(folder, BackupFormat.CommitMarkerKey, ct).ConfigureAwait(false)) return (SourceFormat.BackupDR, null);
        if (await ExistsAsync(folder, NativeExport.StartedKey, ct).ConfigureAwait(false)) return (SourceFormat.NativeExport, null);

        // Export folders below: <export id>/manifest-summary.json or <export id>/_started. The listing is
        // streamed and stops at the first; ids sort before the shared data/ folder.
        await foreach (var obj in folder.Store.ListAsync(folder.Prefix, ct).ConfigureAwait(false))
        {
            string[] parts = obj.Key[folder.Prefix.Length..].Split('/');
            if (parts.Length == 2 && NativeExport.ExportId.IsMatch(parts[0]) && parts[1] is NativeExport.SummaryKey or NativeExport.StartedKey) return (SourceFormat.NativeExportChain, null);
            if (parts[0].Length > 0 && parts[0][0] > '9') break;   // past where export ids (digits first) sort
        }
        return (SourceFormat.BackupDR, null);
    }

    private static async Task<bool> ExistsAsync(BackupFolder folder, string key, CancellationToken ct)
    {
        try
        {
            return await folder.Store.HeadAsync(folder.Key(key), ct).ConfigureAwait(false) is not null;
        }
        catch (UntrustedInputException)
        {
            return false;
        }
    }

    /// <summary>A native export's summary names its export; BackupDR's names its format.</summary>
    private static bool IsNativeSummary(byte[] json)
    {
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 });
            var root = document.RootElement;
            return root.ValueKind == JsonValueKind.Object && root.TryGetProperty("exportArn", out _) && !root.TryGetProperty("format", out _);
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
