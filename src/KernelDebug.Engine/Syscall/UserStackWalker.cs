using System.Globalization;
using KernelDebug.Native;

namespace KernelDebug.Syscall;

/// <summary>
/// -StackTrace (strace -k) on the ptrace engine: the user stack of a stopped tracee by frame pointers (the rbp chain),
/// symbolized through <see cref="Symbolize"/>. strace -k unwinds with libdw's DWARF CFI; a frame-pointer walk is exact
/// for code built with -fno-omit-frame-pointer and partial for code without it (most distribution libraries), where
/// it stops at the first function that uses rbp for something else or skips its callers. The syscall wrapper's caller
/// is taken from the top of the stack when that word is a return address (glibc's wrappers make no frame).
/// </summary>
internal sealed class UserStackWalker
{
    private const int RbpOffset = 4 * 8; // struct user_regs_struct: r15 r14 r13 r12 rbp …
    private readonly TraceeMemory _memory;
    private readonly int _maxDepth;
    private readonly Dictionary<int, List<Mapping>> _maps = new();

    private sealed record Mapping(ulong Start, ulong End, bool Executable, ulong Offset, string Path);

    public UserStackWalker(TraceeMemory memory, int maxDepth)
    {
        _memory = memory;
        _maxDepth = maxDepth;
    }

    /// <summary>Forgets a process's mappings (after exec, mmap, munmap …): the next walk reads them again.</summary>
    public void Invalidate(int tgid) => _maps.Remove(tgid);

    public unsafe SyscallStackFrame[] Walk(int tid, int tgid, ulong ip, ulong sp)
    {
        long rbpWord;
        ulong fp = Interop.ptrace(Interop.PTRACE_PEEKUSER, tid, RbpOffset, (nint)(&rbpWord)) >= 0 ? (ulong)rbpWord : 0;
        var addresses = new List<ulong> { ip };
        ulong? top = _memory.ReadWord(tid, sp);
        ulong? topReturn = top is { } t && IsReturnAddress(tid, tgid, t) ? t : null;
        if (topReturn is { } tr) addresses.Add(tr);
        bool first = true;
        // Frames lie above the stack pointer and each saved rbp above the last: anything else ends the walk.
        ulong floor = sp;
        while (addresses.Count < _maxDepth && fp != 0 && fp >= floor && (fp & 7) == 0)
        {
            if (_memory.ReadWord(tid, fp + 8) is not { } ret || ret == 0) break;
            if (Find(tgid, ret) is not { Executable: true }) break;
            if (!(first && topReturn == ret)) addresses.Add(ret);
            first = false;
            if (_memory.ReadWord(tid, fp) is not { } next || next <= fp) break;
            floor = fp + 16;
            fp = next;
        }
        var frames = new SyscallStackFrame[addresses.Count];
        for (int i = 0; i < frames.Length; i++) frames[i] = Frame(tgid, addresses[i], caller: i > 0);
        return frames;
    }

    /// <summary>A word that points into executable code just after a call instruction (e8 rel32, or ff /2 through a register or memory).</summary>
    private bool IsReturnAddress(int tid, int tgid, ulong address)
    {
        if (Find(tgid, address) is not { Executable: true } m || address - m.Start < 7) return false;
        Span<byte> b = stackalloc byte[7];
        if (_memory.Read(tid, address - 7, b) != 7) return false;
        if (b[2] == 0xe8) return true;                                            // call rel32
        if (b[5] == 0xff && (b[6] & 0x38) == 0x10) return true;                   // call *%reg
        if (b[4] == 0xff && (b[5] & 0x38) == 0x10) return true;                   // call *disp8(%reg)
        if (b[1] == 0xff && (b[2] & 0x38) == 0x10) return true;                   // call *disp32(%reg) / *rip+disp32
        return false;
    }

    private SyscallStackFrame Frame(int tgid, ulong address, bool caller)
    {
        if (Find(tgid, address) is not { } m)
            return new SyscallStackFrame { Address = address, Module = "[unknown]", ModuleOffset = address };
        ulong fileOffset = address - m.Start + m.Offset;
        if (m.Path.Length == 0 || m.Path[0] == '[' && m.Path != "[vdso]")
            return new SyscallStackFrame { Address = address, Module = m.Path.Length == 0 ? "[anonymous]" : m.Path, ModuleOffset = fileOffset };
        // A return address is looked up one byte back: a call that ends a function returns past its end.
        var (symbol, start) = Symbolize(m.Path, fileOffset - (caller ? 1UL : 0), m.Path == "[vdso]" ? address - m.Start : null);
        ulong virt = symbol is null ? 0 : start.Address + (caller ? 1UL : 0);
        return new SyscallStackFrame
        {
            Address = address, Module = m.Path, ModuleOffset = fileOffset, Symbol = symbol,
            Offset = symbol is null ? 0 : virt - start.SymbolStart,
        };
    }

    /// <summary>
    /// The one call into the module's symbol layer (Symbols/ElfFile.cs: .symtab, debug files by build id, .dynsym, the vDSO):
    /// the function containing a file offset, the ELF address of the offset, and the function's start.
    /// </summary>
    private static (string? Symbol, (ulong Address, ulong SymbolStart) Start) Symbolize(string path, ulong fileOffset, ulong? vdsoOffset)
    {
        var elf = vdsoOffset is null ? Symbols.ElfFile.TryOpen(path) ?? Symbols.ElfFile.None(path) : Symbols.ElfFile.Vdso;
        ulong address = elf.OffsetToAddress(vdsoOffset ?? fileOffset);
        var name = elf.Table.Find(address, out var start);
        return (name, (address, start));
    }

    private Mapping? Find(int tgid, ulong address)
    {
        for (int attempt = 0; attempt < 2; attempt++)
        {
            if (!_maps.TryGetValue(tgid, out var maps) || attempt == 1)
                _maps[tgid] = maps = ReadMaps(tgid);
            int lo = 0, hi = maps.Count - 1;
            while (lo <= hi)
            {
                int mid = (lo + hi) >>> 1;
                if (address < maps[mid].Start) hi = mid - 1;
                else if (address >= maps[mid].End) lo = mid + 1;
                else return maps[mid];
            }
        }
        return null;
    }

    private static List<Mapping> ReadMaps(int tgid)
    {
        var list = new List<Mapping>();
        try
        {
            foreach (var line in File.ReadLines($"/proc/{tgid}/maps"))
            {
                // start-end perms offset dev inode path
                var f = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
                if (f.Length < 5) continue;
                int dash = f[0].IndexOf('-', StringComparison.Ordinal);
                if (dash < 0) continue;
                list.Add(new Mapping(
                    ulong.Parse(f[0].AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                    ulong.Parse(f[0].AsSpan(dash + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                    f[1].Length > 2 && f[1][2] == 'x',
                    ulong.Parse(f[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                    f.Length > 5 ? f[5].Trim() : ""));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { }
        return list;
    }
}
