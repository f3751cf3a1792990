using System.Management.Automation;
using KernelDebug.Symbols;

namespace KernelDebug.Commands;

/// <summary>-Kallsyms and -Vmlinux of the perf readers (perf report --kallsyms / --vmlinux): the recording machine's kernel symbols.</summary>
internal static class PerfKernelSymbols
{
    /// <summary>The given kallsyms and vmlinux, opened (either may be null: then this host's kallsyms serve a recording of this boot).</summary>
    public static (Kallsyms? Kallsyms, ElfFile? Vmlinux) Open(PSCmdlet cmdlet, string? kallsyms, string? vmlinux) =>
        (kallsyms is null ? null : Kallsyms.Open(cmdlet.GetUnresolvedProviderPathFromPSPath(kallsyms)),
         vmlinux is null ? null : ElfFile.Open(cmdlet.GetUnresolvedProviderPathFromPSPath(vmlinux)));
}
