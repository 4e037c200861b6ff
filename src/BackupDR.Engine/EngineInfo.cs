using System.Reflection;

namespace BackupDR.Engine;

/// <summary>Facts about this build of the engine.</summary>
public static class EngineInfo
{
    /// <summary>The informational version (from Directory.Build.props), without source-link metadata.</summary>
    public static string Version { get; } =
        (typeof(EngineInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0")
        .Split('+')[0];
}
