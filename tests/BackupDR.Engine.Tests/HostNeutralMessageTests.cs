using System.Text.RegularExpressions;

namespace BackupDR.Engine.Tests;

/// <summary>
/// The engine serves a cmdlet and a Lambda function alike, so its messages name no cmdlet, parameter or
/// PowerShell expression: a remedy is an option (<see cref="Say"/>) each host phrases in its own terms.
/// </summary>
public sealed partial class HostNeutralMessageTests
{
    private static string EngineSource()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "BackupDR.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        return Path.Combine(dir!.FullName, "src", "BackupDR.Engine");
    }

    [Fact]
    public void No_engine_string_names_a_cmdlet_or_a_parameter()
    {
        var offences = new List<string>();
        int literals = 0;
        foreach (string file in Directory.EnumerateFiles(EngineSource(), "*.cs", SearchOption.AllDirectories).Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")))
        {
            foreach (var (line, number) in File.ReadLines(file).Select((l, i) => (l, i + 1)))
            {
                string code = line.TrimStart();
                if (code.StartsWith("//", StringComparison.Ordinal)) continue;
                foreach (Match literal in StringLiteral().Matches(line))
                {
                    literals++;
                    if (HostSyntax().Match(literal.Value) is { Success: true } bad) offences.Add($"{Path.GetFileName(file)}:{number}: {bad.Value.Trim()} in {literal.Value}");
                }
            }
        }
        Assert.True(literals > 500, $"only {literals} string literals found: the scan is not reading the engine");
        Assert.True(offences.Count == 0, "Engine messages that speak one host's language:\n" + string.Join("\n", offences));
    }

    [Theory]
    [InlineData("Run it again with -Resume.")]
    [InlineData("Check the name and -Region.")]
    [InlineData("List them with Get-DynamoBackup.")]
    [InlineData("Report it with $Error[0] | Format-List * -Force.")]
    public void The_scan_catches_what_it_looks_for(string message) => Assert.Matches(HostSyntax(), $"\"{message}\"");

    [Fact]
    public void Options_render_in_each_hosts_terms_and_neutrally_without_one()
    {
        string message = $"Run the restore again with {Say.Resume}, or choose {Say.Mode("Upsert")}.";
        Assert.Equal("Run the restore again with -Resume, or choose -Mode Upsert.",
            Say.Render(message, (name, value) => name == "resume" ? "-Resume" : name == "mode" ? $"-Mode {value}" : null));
        Assert.Equal("Run the restore again with the resume option, or choose the mode option set to Upsert.", Say.Neutral(message));
        Assert.Equal("no options here", Say.Neutral("no options here"));
    }

    [GeneratedRegex("\\$?@?\"(?:[^\"\\\\]|\\\\.)*\"")]
    private static partial Regex StringLiteral();

    // " -Resume", "(-Region", "-Mode X" at a word start; the module's cmdlets; PowerShell's $Error.
    [GeneratedRegex(@"(?:^|[\s(""])-[A-Z][a-z]+[A-Za-z]*\b|\b(?:Invoke|Test|Restore|Get|Remove|Deploy)-(?:Dynamo|Backup)\w*|\$Error\[")]
    private static partial Regex HostSyntax();
}
