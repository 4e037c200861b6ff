using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace BackupDR.Engine.Drill;

/// <summary>A drill's report as a file: Markdown (.md), HTML (.html, .htm) or JSON (.json), by the path's extension.</summary>
public static class DrillReportWriter
{
    /// <summary>Throws InvalidArgument, before the drill runs, for a path whose extension names no format or whose folder does not exist.</summary>
    public static void CheckPath(string path)
    {
        if (FormatOf(path) is null)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"'{path}' ends in neither .md, .html nor .json: the report's format is taken from the extension.", path);
        }
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is null || !Directory.Exists(folder))
        {
            throw new BackupDRException(ErrorIds.PathNotFound, ErrorKind.ObjectNotFound, $"The folder of '{path}' does not exist: create it first.", path);
        }
    }

    public static void Write(DrillReport report, string path)
    {
        string text = FormatOf(path) switch
        {
            "md" => Markdown(report),
            "html" => Html(report),
            _ => JsonSerializer.Serialize(report, DrillJsonContext.Default.DrillReport),
        };
        File.WriteAllText(path, text, new UTF8Encoding(false));
    }

    private static string? FormatOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".md" or ".markdown" => "md",
        ".html" or ".htm" => "html",
        ".json" => "json",
        _ => null,
    };

    private static IEnumerable<(string Name, string Value)> Facts(DrillReport r) =>
    [
        ("Table", r.TableName),
        ("Backup", $"{r.BackupId} ({r.BackupUri})"),
        ("Backup point", r.BackupTime?.ToString("u", CultureInfo.InvariantCulture) ?? "unknown"),
        ("RPO", r.Rpo is { } rpo ? Span(rpo) : "unknown"),
        ("RTO", $"{Span(r.Rto)} (restore {Span(r.RestoreDuration)}, verification {Span(r.VerifyDuration)})"),
        ("Items restored", r.ItemsRestored.ToString("N0", CultureInfo.InvariantCulture)),
        ("Items verified", r.ItemsVerified.ToString("N0", CultureInfo.InvariantCulture)),
        ("Scratch table", r.ScratchTableName + (r.ScratchTableRemoved ? " (removed)" : " (not removed)")),
        ("Started", r.StartTime.ToString("u", CultureInfo.InvariantCulture)),
        ("Ended", r.EndTime.ToString("u", CultureInfo.InvariantCulture)),
    ];

    private static string Markdown(DrillReport r)
    {
        var md = new StringBuilder();
        md.Append("# DR drill of ").Append(r.TableName).Append(": ").AppendLine(r.Passed ? "PASSED" : "FAILED").AppendLine();
        md.AppendLine("| | |").AppendLine("|---|---|");
        foreach (var (name, value) in Facts(r)) md.Append("| ").Append(name).Append(" | ").Append(Cell(value)).AppendLine(" |");
        md.AppendLine().AppendLine("## Checks").AppendLine().AppendLine("| check | result | detail |").AppendLine("|---|---|---|");
        foreach (var c in r.Checks) md.Append("| ").Append(c.Name).Append(" | ").Append(c.Passed ? "passed" : "**failed**").Append(" | ").Append(Cell(c.Detail)).AppendLine(" |");
        return md.ToString();

        static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\r", " ", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
    }

    private static string Html(DrillReport r)
    {
        var html = new StringBuilder("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
        string title = $"DR drill of {r.TableName}: {(r.Passed ? "PASSED" : "FAILED")}";
        html.Append(WebUtility.HtmlEncode(title)).Append("</title></head><body>\n<h1>").Append(WebUtility.HtmlEncode(title)).AppendLine("</h1>\n<table>");
        foreach (var (name, value) in Facts(r)) html.Append("<tr><th>").Append(WebUtility.HtmlEncode(name)).Append("</th><td>").Append(WebUtility.HtmlEncode(value)).AppendLine("</td></tr>");
        html.AppendLine("</table>\n<h2>Checks</h2>\n<table><tr><th>check</th><th>result</th><th>detail</th></tr>");
        foreach (var c in r.Checks)
        {
            html.Append("<tr><td>").Append(WebUtility.HtmlEncode(c.Name)).Append("</td><td>").Append(c.Passed ? "passed" : "<strong>failed</strong>")
                .Append("</td><td>").Append(WebUtility.HtmlEncode(c.Detail)).AppendLine("</td></tr>");
        }
        return html.AppendLine("</table>\n</body></html>").ToString();
    }

    private static string Span(TimeSpan t) => t.ToString(t.TotalDays >= 1 ? @"d\.hh\:mm\:ss" : @"hh\:mm\:ss\.f", CultureInfo.InvariantCulture);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true, WriteIndented = true)]
[JsonSerializable(typeof(DrillReport))]
internal sealed partial class DrillJsonContext : JsonSerializerContext;
