using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace BackupDR.PowerShell;

/// <summary>
/// Loads the engine and the AWS SDK from deps/ into a private AssemblyLoadContext, so BackupDR
/// works beside modules that load another AWSSDK.Core (AWS.Tools.*) in the same session.
/// Only the engine's name is redirected; everything else (BCL, PowerShell) comes from Default.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    internal const string EngineAssemblyName = "BackupDR.Engine";

    private static readonly DependencyLoadContext Dependencies =
        new(Path.Combine(Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location)!, "deps"));

    public void OnImport() => AssemblyLoadContext.Default.Resolving += ResolveEngine;

    public void OnRemove(PSModuleInfo psModuleInfo) => AssemblyLoadContext.Default.Resolving -= ResolveEngine;

    private static Assembly? ResolveEngine(AssemblyLoadContext context, AssemblyName name) =>
        name.Name == EngineAssemblyName ? Dependencies.LoadFromAssemblyName(name) : null;

    private sealed class DependencyLoadContext(string folder) : AssemblyLoadContext("BackupDR.Dependencies", isCollectible: false)
    {
        protected override Assembly? Load(AssemblyName name)
        {
            string path = Path.Combine(folder, name.Name + ".dll");
            return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
        }
    }
}
