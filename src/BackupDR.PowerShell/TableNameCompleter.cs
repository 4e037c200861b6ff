using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace BackupDR.PowerShell;

/// <summary>Completes table names from ListTables in the region the command line names (or the default).</summary>
public sealed class TableNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        try
        {
            return Complete(wordToComplete, fakeBoundParameters["Region"] as string, fakeBoundParameters["ProfileName"] as string);
        }
        catch (Exception)
        {
            return [];   // completion must never throw at the user
        }
    }

    private static IEnumerable<CompletionResult> Complete(string word, string? region, string? profile)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var names = Engine.Tables.TableSchema.ListTableNamesAsync(new Engine.Aws.AwsOptions(region, profile), timeout.Token).GetAwaiter().GetResult();
        return names.Where(n => n.StartsWith(word.Trim('\'', '"'), StringComparison.OrdinalIgnoreCase))
            .Select(n => new CompletionResult(n.Contains(' ') ? $"'{n}'" : n, n, CompletionResultType.ParameterValue, n))
            .ToList();
    }
}
