using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Ledger;

/// <summary>
/// The records of a target, kept beside its backups: <c>&lt;target&gt;/backupdr@records/&lt;table&gt;/&lt;backup id&gt;/&lt;name&gt;.json</c>.
/// '@' cannot be in a table name, so the folder is never taken for a table's backups. Records are only ever
/// added, one object each, named by their content: writing one twice writes the same object. Read back
/// bounded (a record's size, a table's count), each parsed as untrusted.
/// </summary>
public sealed class RecordJournal(BackupFolder target)
{
    public const string FolderName = "backupdr@records";

    /// <summary>The most records of one table read back; more is a warning, and the newest (by name) are kept.</summary>
    public const int MaxRecordsPerTable = 20_000;

    private string TablePrefix(string table) => target.Key($"{FolderName}/{table}/");

    public string UriOf(LedgerRecord record) => target.Store.UriOf(KeyOf(record));

    private string KeyOf(LedgerRecord record) => $"{TablePrefix(record.TableName)}{record.BackupId}/{record.Name}.json";

    public Task AddAsync(LedgerRecord record, CancellationToken cancellationToken) =>
        target.Store.PutAsync(KeyOf(record), record.ToBytes(), cancellationToken);

    /// <summary>The tables that have records under the target.</summary>
    public async Task<IReadOnlyList<string>> TablesAsync(CancellationToken cancellationToken)
    {
        var tables = new SortedSet<string>(StringComparer.Ordinal);
        string prefix = target.Key(FolderName + "/");
        await foreach (var obj in target.Store.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            string[] parts = obj.Key[prefix.Length..].Split('/');
            if (parts.Length == 3 && Tables.TableSchema.IsValidName(parts[0])) tables.Add(parts[0]);
        }
        return [.. tables];
    }

    /// <summary>Every trustworthy record of <paramref name="table"/>, oldest first; what cannot be trusted is passed to <paramref name="skipped"/> with why.</summary>
    public async Task<IReadOnlyList<LedgerRecord>> ReadAsync(string table, Action<string> skipped, CancellationToken cancellationToken)
    {
        string prefix = TablePrefix(table);
        var keys = new List<StoredObject>();
        await foreach (var obj in target.Store.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            if (obj.IsLink) { skipped($"{target.Store.UriOf(obj.Key)}: a link, not followed"); continue; }
            keys.Add(obj);
        }
        if (keys.Count > MaxRecordsPerTable)
        {
            skipped($"{target.Store.UriOf(prefix)} holds {keys.Count} objects; only the newest {MaxRecordsPerTable} are read");
            keys = [.. keys.OrderByDescending(k => k.Key[(k.Key.LastIndexOf('/') + 1)..], StringComparer.Ordinal).Take(MaxRecordsPerTable)];
        }
        var records = new List<LedgerRecord>();
        foreach (var obj in keys)
        {
            string[] parts = obj.Key[prefix.Length..].Split('/');
            string uri = target.Store.UriOf(obj.Key);
            if (parts.Length != 2 || !parts[1].EndsWith(".json", StringComparison.Ordinal)) { skipped($"{uri}: not a record's place"); continue; }
            if (obj.Size > LedgerRecord.MaxBytes) { skipped($"{uri}: larger than a record ({obj.Size} bytes)"); continue; }
            byte[]? bytes;
            try
            {
                bytes = await target.Store.TryReadAllAsync(obj.Key, LedgerRecord.MaxBytes, cancellationToken).ConfigureAwait(false);
            }
            catch (UntrustedInputException e)
            {
                skipped($"{uri}: {e.Message}");
                continue;
            }
            if (bytes is null) continue;   // removed meanwhile
            var record = LedgerRecord.Parse(bytes, table, parts[0], out string? problem);
            if (record is null) { skipped($"{uri}: {problem}"); continue; }
            if (record.Name + ".json" != parts[1]) { skipped($"{uri}: its name is not its content's (it was edited)"); continue; }
            records.Add(record);
        }
        return [.. records.OrderBy(r => r.Time).ThenBy(r => r.Name, StringComparer.Ordinal)];
    }
}
