using BackupDR.Engine;

namespace BackupDR.PowerShell;

/// <summary>The engine's options (<see cref="Say"/>) as this module's parameters and commands.</summary>
internal static class Phrasing
{
    public static string? Phrase(string name, string? value) => name switch
    {
        Say.Names.Resume => "-Resume",
        Say.Names.Force => "-Force",
        Say.Names.Mode => $"-Mode {value}",
        Say.Names.Checkpoint => "-CheckpointUri",
        Say.Names.Region => "-Region",
        Say.Names.Profile => "-ProfileName",
        Say.Names.Level => $"-Level {value}",
        Say.Names.CompareTable => "-TableName",
        Say.Names.List => "Get-DynamoBackup",
        Say.Names.Details => "$Error[0] | Format-List * -Force",
        // A parameter of the cmdlet that ran: max-read-capacity-units → -MaxReadCapacityUnits.
        _ => "-" + string.Concat(name.Split('-').Select(p => p.Length == 0 ? p : char.ToUpperInvariant(p[0]) + p[1..])) + (value is null ? "" : " " + value),
    };

    public static string Render(string message) => Say.Render(message, Phrase);
}
