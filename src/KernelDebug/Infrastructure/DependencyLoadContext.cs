using System.Reflection;
using System.Runtime.Loader;

namespace KernelDebug.Commands;

/// <summary>
/// The module's own load context for its third-party dependencies, as PSOpenAD and PSEtw do it: every dll in the
/// deps/ folder beside KernelDebug.dll (ELFSharp, Iced, whatever is added later) loads here, so another module that
/// loaded other versions of them into PowerShell's default context cannot clash with ours. KernelDebug.dll and
/// KernelDebug.Engine.dll stay in the default context, so the output types remain visible to PowerShell as [type]s.
/// </summary>
internal sealed class DependencyLoadContext : AssemblyLoadContext
{
    private static readonly object Sync = new();
    private static DependencyLoadContext? _instance;
    private static int _hooked;

    private DependencyLoadContext() : base(nameof(KernelDebug), isCollectible: false) { }

    /// <summary>deps/ beside this assembly; PowerShell's own probing (the module folder, $PSHOME) does not look there.</summary>
    public static string DependencyDirectory { get; } =
        Path.Combine(Path.GetDirectoryName(typeof(DependencyLoadContext).Assembly.Location) ?? string.Empty, "deps");

    internal static DependencyLoadContext Instance
    {
        get
        {
            if (_instance is { } ready) return ready;
            lock (Sync) return _instance ??= new DependencyLoadContext();
        }
    }

    /// <summary>
    /// Once per process, whatever the number of runspaces importing the module. Never taken off: KernelDebug.dll stays
    /// loaded after Remove-Module, and another runspace may still be using it.
    /// </summary>
    internal static void Hook()
    {
        if (Interlocked.Exchange(ref _hooked, 1) == 0) Default.Resolving += ResolveFromDefault;
    }

    /// <summary>
    /// The default context could not bind a name (not found, or a different version already loaded there): when it is
    /// one of ours and our file satisfies the version asked for, load it in our context.
    /// </summary>
    internal static Assembly? ResolveFromDefault(AssemblyLoadContext context, AssemblyName name)
    {
        var path = PathOf(name);
        if (path is null) return null;
        var version = AssemblyName.GetAssemblyName(path).Version;
        if (name.Version is not null && (version is null || version < name.Version)) return null;
        return Instance.LoadFromAssemblyName(name);
    }

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        // Ours from deps/; anything else (the framework, System.Management.Automation) from the default context.
        var path = PathOf(assemblyName);
        return path is null ? null : LoadFromAssemblyPath(path);
    }

    private static string? PathOf(AssemblyName name)
    {
        if (string.IsNullOrEmpty(name.Name) || name.Name.IndexOfAny(['/', '\\']) >= 0) return null;
        var path = Path.Combine(DependencyDirectory, name.Name + ".dll");
        return File.Exists(path) ? path : null;
    }
}
