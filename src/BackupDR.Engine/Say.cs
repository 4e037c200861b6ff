using System.Text;

namespace BackupDR.Engine;

/// <summary>
/// How the engine names a remedy without naming a host's syntax. A message says "run the restore again
/// with ⟨resume⟩"; each host phrases ⟨resume⟩ in its own terms (<c>-Resume</c> for a cmdlet,
/// <c>"resume": true</c> in a Lambda event) with <see cref="Render"/> where the message leaves the engine.
/// A message never rendered still reads: the neutral phrasing is the option's name.
/// </summary>
public static class Say
{
    private const char Open = '⟨';
    private const char Close = '⟩';

    /// <summary>An option of the operation, optionally with a value: <c>⟨name⟩</c> or <c>⟨name=value⟩</c>.</summary>
    public static string Option(string name, object? value = null) => value is null ? $"{Open}{name}{Close}" : $"{Open}{name}={value}{Close}";

    // The options messages name, so each host knows the set it must phrase.
    public static string Resume => Option(Names.Resume);
    public static string Force => Option(Names.Force);
    public static string Mode(object mode) => Option(Names.Mode, mode);
    public static string CheckpointLocation => Option(Names.Checkpoint);
    public static string Region => Option(Names.Region);
    public static string Profile => Option(Names.Profile);
    public static string Level(object level) => Option(Names.Level, level);
    public static string CompareTable => Option(Names.CompareTable);
    public static string AllowGaps => Option(Names.AllowGaps);
    public static string PointInTime => Option(Names.PointInTime);
    public static string KeySchema => Option(Names.KeySchema);
    public static string Revert => Option(Names.Revert);

    /// <summary>"list the backups" as the host does it (Get-DynamoBackup).</summary>
    public static string ListBackups => Option(Names.List);

    /// <summary>How to see a failure's full detail in the host.</summary>
    public static string ErrorDetails => Option(Names.Details);

    public static class Names
    {
        public const string Resume = "resume";
        public const string Force = "force";
        public const string Mode = "mode";
        public const string Checkpoint = "checkpoint";
        public const string Region = "region";
        public const string Profile = "profile";
        public const string Level = "level";
        public const string CompareTable = "compare-table";
        public const string AllowGaps = "allow-gaps";
        public const string PointInTime = "point-in-time";
        public const string KeySchema = "key-schema";
        public const string Revert = "revert";
        public const string List = "list";
        public const string Details = "details";
    }

    /// <summary>
    /// The message with every option phrased by <paramref name="phrase"/> (name, value or null → text);
    /// a null phrase falls back to the neutral one.
    /// </summary>
    public static string Render(string message, Func<string, string?, string?> phrase)
    {
        if (message.IndexOf(Open) < 0) return message;
        var text = new StringBuilder(message.Length + 16);
        int at = 0;
        while (true)
        {
            int open = message.IndexOf(Open, at);
            int close = open < 0 ? -1 : message.IndexOf(Close, open + 1);
            if (close < 0)
            {
                text.Append(message, at, message.Length - at);
                return text.ToString();
            }
            text.Append(message, at, open - at);
            string token = message[(open + 1)..close];
            int eq = token.IndexOf('=');
            string name = eq < 0 ? token : token[..eq];
            string? value = eq < 0 ? null : token[(eq + 1)..];
            text.Append(phrase(name, value) ?? NeutralPhrase(name, value));
            at = close + 1;
        }
    }

    /// <summary>The message phrased without a host: each option by its name.</summary>
    public static string Neutral(string message) => Render(message, (_, _) => null);

    private static string NeutralPhrase(string name, string? value) => name switch
    {
        Names.List => "the list of backups",
        Names.Details => "the full error",
        _ => value is null ? $"the {name} option" : $"the {name} option set to {value}",
    };

    /// <summary>The exception with its message (and its options) phrased for a host: same id, kind, target and cause.</summary>
    public static BackupDRException Rendered(BackupDRException e, Func<string, string?, string?> phrase)
    {
        string message = Render(e.Message, phrase);
        return message == e.Message ? e : new BackupDRException(e.ErrorId, e.Kind, message, e.Target, e.InnerException);
    }
}
