using System.Text.RegularExpressions;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Aws;
using BackupDR.Engine.Catalog;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine.Ledger;

/// <summary>Which tables, held to what (docs/ledger.md). A limit left out is not checked; the backup's age always is.</summary>
public sealed class ComplianceRequest
{
    /// <summary>Where the tables' backups are (s3://bucket/prefix or a folder).</summary>
    public required string TargetUri { get; init; }

    /// <summary>Names or wildcard patterns; patterns (and none: "*") are matched against the tables of the account and region.</summary>
    public IReadOnlyList<string> TableNames { get; init; } = [];
    public IReadOnlyList<string> Exclude { get; init; } = [];
    public TimeSpan MaxAge { get; init; } = TimeSpan.FromDays(1);
    public TimeSpan? MaxValidationAge { get; init; }
    public TimeSpan? MaxDrillAge { get; init; }
    public TimeSpan? MaxRto { get; init; }

    /// <summary>Read the backups' entries and records from this ledger; null: from the target itself (its backups and journal).</summary>
    public LedgerOptions? Ledger { get; init; }
    public AwsOptions Aws { get; init; } = new();
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>One table's answer.</summary>
public sealed class ComplianceRow
{
    public required string TableName { get; init; }
    public bool Compliant => Reasons.Count == 0;

    /// <summary>Why not, each "Code: explanation" (NoBackup, BackupTooOld, BackupDamaged, NotValidated, ValidationTooOld, NeverDrilled, DrillFailed, DrillTooOld, RtoTooLong).</summary>
    public List<string> Reasons { get; } = [];
    public string? LatestBackupId { get; set; }
    public string? LatestBackupUri { get; set; }
    public DateTimeOffset? LatestBackupTime { get; set; }
    public DateTimeOffset? LastFullValidation { get; set; }
    public DateTimeOffset? LastDrill { get; set; }
    public bool? LastDrillPassed { get; set; }
    public TimeSpan? LastDrillRto { get; set; }

    /// <summary>Ledger or Backups: where the entries and records were read from. The backup itself is checked either way.</summary>
    public required string Source { get; init; }
}

/// <summary>
/// Is every table protected? For each table: its latest committed backup — which must verify at Quick level
/// now, whatever an index says — no older than the limit, validated Full (a record about that content) within
/// its limit, and a drill within its limit, passed, with an RTO under its limit. The entries and records come
/// from the ledger when one is named, else from the target's backups and journal: the rows are the same.
/// </summary>
public static class ComplianceChecker
{
    public static async Task<IReadOnlyList<ComplianceRow>> CheckAsync(ComplianceRequest request, IOperationHost host, CancellationToken cancellationToken)
    {
        Validate(request);
        var now = request.Time.GetUtcNow();
        var factory = new AwsClientFactory(request.Aws);
        using var target = BackupFolder.Open(BackupLocation.Parse(request.TargetUri), factory);
        using var dynamo = factory.CreateDynamoDB();
        try
        {
            await target.Store.EnsureAvailableAsync(cancellationToken).ConfigureAwait(false);
            var tables = await TablesAsync(request, dynamo, cancellationToken).ConfigureAwait(false);
            using var ledgerDynamo = request.Ledger is null ? null : new AwsClientFactory(request.Ledger.Aws).CreateDynamoDB();
            var ledger = ledgerDynamo is null ? null : new LedgerTable(ledgerDynamo, request.Ledger!.TableName);
            if (ledger is not null) await ledger.EnsureAsync(host, cancellationToken).ConfigureAwait(false);
            var journal = new RecordJournal(target);
            var rows = new List<ComplianceRow>();
            foreach (string table in tables)
            {
                var row = new ComplianceRow { TableName = table, Source = ledger is null ? "Backups" : "Ledger" };
                rows.Add(row);
                // Candidates, newest first, and the records about the table.
                List<(string Id, string Uri, string? Sha)> candidates;
                IReadOnlyList<LedgerRecord> records;
                if (ledger is null)
                {
                    var backups = new List<BackupInfo>();
                    await foreach (var b in new BackupCatalog(target).ListAsync(table, cancellationToken).ConfigureAwait(false)) backups.Add(b);
                    candidates = [.. backups.Where(b => b.Status == BackupStatus.Committed).OrderByDescending(b => b.BackupId, StringComparer.Ordinal).Select(b => (b.BackupId, b.Uri, b.SummarySha256))];
                    records = await journal.ReadAsync(table, s => host.Warning($"Not trusted: {s}."), cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    var (entries, recorded) = await ledger.ReadAsync(table, s => host.Warning($"Not trusted in the ledger: {s}."), cancellationToken).ConfigureAwait(false);
                    candidates = [.. entries.Where(e => e.Status == LedgerStatus.Committed && e.Uri is not null && LedgerSync.IsUnder(e.Uri, target))
                        .OrderByDescending(e => e.BackupId, StringComparer.Ordinal).Select(e => (e.BackupId, e.Uri!, e.SummarySha256))];
                    records = recorded;
                }
                await JudgeAsync(request, row, candidates, records, now, host, cancellationToken).ConfigureAwait(false);
            }
            return rows;
        }
        catch (Exception e) when (e is not BackupDRException)
        {
            throw AwsErrors.Translate(e, request.TargetUri);
        }
    }

    private static async Task JudgeAsync(ComplianceRequest request, ComplianceRow row, List<(string Id, string Uri, string? Sha)> candidates, IReadOnlyList<LedgerRecord> records,
        DateTimeOffset now, IOperationHost host, CancellationToken ct)
    {
        // The latest committed backup, as the backup itself says now: an index entry whose backup is gone is passed over.
        IntegrityReport? quick = null;
        (string Id, string Uri, string? Sha) latest = default;
        foreach (var candidate in candidates)
        {
            try
            {
                quick = await Operations.CheckIntegrityAsync(candidate.Uri, IntegrityLevel.Quick, request.Aws, host, ct).ConfigureAwait(false);
            }
            catch (BackupDRException e) when (e.ErrorId is ErrorIds.BackupNotFound)
            {
                host.Warning($"Backup {candidate.Id} of '{row.TableName}' is listed{(request.Ledger is null ? "" : " in the ledger")} at {candidate.Uri}, which is not there" +
                             (request.Ledger is null ? "." : "; a sync of the ledger marks it Missing."));
                continue;
            }
            if (!quick.IsCommitted)
            {
                host.Warning($"Backup {candidate.Id} of '{row.TableName}' is listed as committed{(request.Ledger is null ? "" : " in the ledger")}; the backup itself has no commit marker.");
                quick = null;
                continue;
            }
            latest = candidate;
            break;
        }
        if (quick is null)
        {
            row.Reasons.Add($"NoBackup: there is no committed backup of '{row.TableName}' under {request.TargetUri}.");
        }
        else
        {
            row.LatestBackupId = latest.Id;
            row.LatestBackupUri = latest.Uri;
            row.LatestBackupTime = Format.BackupFormat.StartOf(latest.Id!);
            if (row.LatestBackupTime is { } at && now - at > request.MaxAge)
            {
                row.Reasons.Add($"BackupTooOld: the latest committed backup, {latest.Id}, is {Span(now - at)} old (at most {Span(request.MaxAge)}).");
            }
            if (!quick.IsValid)
            {
                row.Reasons.Add($"BackupDamaged: the latest committed backup, {latest.Id}, fails a Quick check: {string.Join("; ", quick.Problems.Take(3))}.");
            }
            // Validation: a passed Full validation of exactly this content.
            var validated = records.Where(r => r.Kind == RecordKind.Validation && r.BackupId == latest.Id && r.SummarySha256 == quick.SummarySha256 && r.Passed && r.Level == "Full")
                .MaxBy(r => r.Time);
            row.LastFullValidation = validated?.Time;
            if (request.MaxValidationAge is { } maxValidation)
            {
                if (validated is null) row.Reasons.Add($"NotValidated: backup {latest.Id} has no Full validation that passed on record.");
                else if (now - validated.Time > maxValidation) row.Reasons.Add($"ValidationTooOld: backup {latest.Id} was last validated Full {Span(now - validated.Time)} ago (at most {Span(maxValidation)}).");
            }
        }
        // Drills: of any backup of the table, the latest.
        var drill = records.Where(r => r.Kind == RecordKind.Drill).MaxBy(r => r.Time);
        row.LastDrill = drill?.Time;
        row.LastDrillPassed = drill?.Passed;
        row.LastDrillRto = drill?.RtoSeconds is { } rto ? TimeSpan.FromSeconds(rto) : null;
        if (request.MaxDrillAge is { } maxDrill)
        {
            if (drill is null) row.Reasons.Add($"NeverDrilled: no drill of '{row.TableName}' is on record.");
            else if (!drill.Passed) row.Reasons.Add($"DrillFailed: the latest drill, {drill.Time:u}, failed: {string.Join("; ", drill.Problems.Take(2))}.");
            else if (now - drill.Time > maxDrill) row.Reasons.Add($"DrillTooOld: the latest drill was {Span(now - drill.Time)} ago (at most {Span(maxDrill)}).");
        }
        if (request.MaxRto is { } maxRto && drill is { Passed: true } && row.LastDrillRto > maxRto)
        {
            row.Reasons.Add($"RtoTooLong: the latest drill took {Span(row.LastDrillRto.Value)} to restore and verify (at most {Span(maxRto)}).");
        }
        else if (request.MaxRto is not null && request.MaxDrillAge is null && drill is null)
        {
            row.Reasons.Add($"NeverDrilled: no drill of '{row.TableName}' is on record, so its RTO is not known.");
        }
    }

    private static void Validate(ComplianceRequest request)
    {
        foreach (var (name, limit) in new[] { ("max-age", (TimeSpan?)request.MaxAge), ("max-validation-age", request.MaxValidationAge), ("max-drill-age", request.MaxDrillAge), ("max-rto", request.MaxRto) })
        {
            if (limit is { } l && l <= TimeSpan.Zero)
            {
                throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, $"{Say.Option(name)} must be longer than zero.", null);
            }
        }
        foreach (string pattern in request.TableNames.Concat(request.Exclude))
        {
            if (!IsPattern(pattern)) Tables.TableSchema.ValidateName(pattern);
            else if (pattern.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or '*' or '?')))
            {
                throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, $"'{pattern}' is not a table name or a pattern of one (letters, digits, _ - . and the wildcards * ?).", pattern);
            }
        }
        request.Ledger?.Validate();
        AwsClientFactory.ValidateRegion(request.Aws.Region);
    }

    private static bool IsPattern(string name) => name.Contains('*') || name.Contains('?');

    private static Regex Glob(string pattern) => new("^" + Regex.Escape(pattern).Replace("\\*", ".*").Replace("\\?", ".") + "$", RegexOptions.CultureInvariant);

    /// <summary>The tables asked for: names as given, patterns (or none: every table) against ListTables; then the exclusions.</summary>
    private static async Task<List<string>> TablesAsync(ComplianceRequest request, Amazon.DynamoDBv2.IAmazonDynamoDB dynamo, CancellationToken ct)
    {
        var asked = request.TableNames.Count == 0 ? ["*"] : request.TableNames;
        var names = new SortedSet<string>(asked.Where(n => !IsPattern(n)), StringComparer.Ordinal);
        var patterns = asked.Where(IsPattern).Select(Glob).ToList();
        if (patterns.Count > 0)
        {
            string? start = null;
            do
            {
                var page = await dynamo.ListTablesAsync(new ListTablesRequest { ExclusiveStartTableName = start }, ct).ConfigureAwait(false);
                foreach (string name in page.TableNames ?? []) if (patterns.Any(p => p.IsMatch(name))) names.Add(name);
                start = page.LastEvaluatedTableName;
            }
            while (!string.IsNullOrEmpty(start));
        }
        var exclude = request.Exclude.Select(Glob).ToList();
        return [.. names.Where(n => !exclude.Any(e => e.IsMatch(n)))];
    }

    private static string Span(TimeSpan t) => t.TotalDays >= 1 ? $"{t.TotalDays:N1} d" : t.TotalHours >= 1 ? $"{t.TotalHours:N1} h" : t.TotalMinutes >= 1 ? $"{t.TotalMinutes:N1} min" : $"{t.TotalSeconds:N1} s";
}
