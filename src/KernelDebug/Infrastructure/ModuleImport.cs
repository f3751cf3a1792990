using System.Management.Automation;

namespace KernelDebug.Commands;

/// <summary>Import-Module runs this first: the module's dependencies resolve from its own load context.</summary>
public sealed class ModuleImport : IModuleAssemblyInitializer
{
    public void OnImport() => DependencyLoadContext.Hook();
}
