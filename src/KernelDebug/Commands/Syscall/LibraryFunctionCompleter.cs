using System.Collections;
using KernelDebug.Probes;
using KernelDebug.Syscall.LibraryCalls;

namespace KernelDebug.Commands;

/// <summary>-Function of the library-call cmdlets: the functions the -Library already typed (libc by default) exports.</summary>
public sealed class LibraryFunctionCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(string commandName, string parameterName, IDictionary fakeBoundParameters)
    {
        var library = fakeBoundParameters["Library"] as string ?? "libc";
        int? pid = fakeBoundParameters["ProcessId"] switch
        {
            int p => p,
            int[] { Length: > 0 } a => a[0],
            _ => null,
        };
        var elf = KernelDebug.Symbols.ElfFile.Open(LibraryResolver.Resolve(library, pid));
        return elf.Symbols.Where(LibraryResolver.IsExported).Select(s => s.Name).Distinct().ToList();
    }
}
