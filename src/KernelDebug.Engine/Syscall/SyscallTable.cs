using System.Management.Automation;
using System.Runtime.InteropServices;
using KernelDebug.Native;

namespace KernelDebug.Syscall;

/// <summary>strace's syscall classes (-e trace=%file …), learned from the flags of strace's sysent tables.</summary>
[Flags]
public enum SyscallClass
{
    None = 0, Desc = 1 << 0, File = 1 << 1, Ipc = 1 << 2, Network = 1 << 3, Process = 1 << 4, Signal = 1 << 5,
    Memory = 1 << 6, Stat = 1 << 7, Lstat = 1 << 8, Fstat = 1 << 9, StatLike = 1 << 10, Statfs = 1 << 11,
    Fstatfs = 1 << 12, StatfsLike = 1 << 13, Pure = 1 << 14, Creds = 1 << 15, Clock = 1 << 16,
}

/// <summary>How an argument is shown: the decoders key on this.</summary>
public enum ArgumentKind
{
    Int, UInt, Hex, Octal, Ptr, Fd, AtFd, Path, Str, InBuf, OutBuf, OpenFlags, Mode, Prot, MapFlags, Signal,
    CloneFlags, Ioctl, FcntlCmd, Whence, AccessMode, AtFlags, Stat, Sockaddr, OutSockaddr, FdPair, Argv, Envp,
    AddressFamily, SocketType, SigHow, WaitStatus, WaitOptions, ArchPrctl, Resource, GrndFlags, FutexOp, SigSet, OutSigSet,
}

/// <summary>One argument of a syscall's signature; LengthArgument names the argument that sizes a buffer or sockaddr.</summary>
public sealed record SyscallParameter(string Name, ArgumentKind Kind, int LengthArgument)
{
    /// <summary>Output arguments are read when the call returns (strace prints them at exit).</summary>
    public bool IsOutput => Kind is ArgumentKind.OutBuf or ArgumentKind.Stat or ArgumentKind.FdPair
        or ArgumentKind.OutSockaddr or ArgumentKind.WaitStatus or ArgumentKind.OutSigSet;
}

/// <summary>One syscall: its numbers on x86_64 and aarch64 (-1 where absent), classes and argument signature.</summary>
public sealed class SyscallInfo
{
    private readonly string _arguments;
    private readonly string? _arm64Arguments;
    private SyscallParameter[]? _parameters, _arm64Parameters;

    public SyscallInfo(string name, int x64, int arm64, SyscallClass classes, string arguments,
        bool returnsAddress = false, string? arm64Arguments = null)
    {
        Name = name;
        X64Number = x64;
        Arm64Number = arm64;
        Classes = classes;
        ReturnsAddress = returnsAddress;
        _arguments = arguments;
        _arm64Arguments = arm64Arguments;
    }

    public string Name { get; }
    public int X64Number { get; }
    public int Arm64Number { get; }
    public SyscallClass Classes { get; }
    public bool ReturnsAddress { get; }

    public int NumberFor(Architecture architecture) =>
        (int)SyscallNumbers.PickFor(architecture, X64Number, Arm64Number);

    public IReadOnlyList<SyscallParameter> ParametersFor(Architecture architecture) =>
        architecture == Architecture.Arm64 && _arm64Arguments is not null
            ? _arm64Parameters ??= Parse(_arm64Arguments)
            : _parameters ??= Parse(_arguments);

    private static SyscallParameter[] Parse(string spec)
    {
        var parts = spec.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var names = parts.Select(p => p[..p.IndexOf(':')]).ToList();
        return parts.Select(p =>
        {
            var colon = p.IndexOf(':');
            var kind = p[(colon + 1)..];
            int length = -1;
            var paren = kind.IndexOf('(');
            if (paren >= 0)
            {
                length = names.IndexOf(kind[(paren + 1)..^1]);
                kind = kind[..paren];
            }
            return new SyscallParameter(p[..colon], Enum.Parse<ArgumentKind>(kind), length);
        }).ToArray();
    }

    public override string ToString() => Name;
}

/// <summary>The syscall table of one architecture, and the names and classes -Syscall accepts.</summary>
public static partial class SyscallTable
{
    private static readonly Dictionary<Architecture, (Dictionary<int, SyscallInfo> ByNumber, Dictionary<string, SyscallInfo> ByName)> Tables = new();

    /// <summary>strace's class names (with and without the leading %) and what they select.</summary>
    public static readonly IReadOnlyDictionary<string, SyscallClass> ClassNames = new Dictionary<string, SyscallClass>(StringComparer.OrdinalIgnoreCase)
    {
        ["%file"] = SyscallClass.File, ["%desc"] = SyscallClass.Desc, ["%net"] = SyscallClass.Network,
        ["%network"] = SyscallClass.Network, ["%process"] = SyscallClass.Process, ["%memory"] = SyscallClass.Memory,
        ["%signal"] = SyscallClass.Signal, ["%ipc"] = SyscallClass.Ipc, ["%stat"] = SyscallClass.Stat,
        ["%lstat"] = SyscallClass.Lstat, ["%fstat"] = SyscallClass.Fstat, ["%%stat"] = SyscallClass.StatLike,
        ["%statfs"] = SyscallClass.Statfs, ["%fstatfs"] = SyscallClass.Fstatfs, ["%%statfs"] = SyscallClass.StatfsLike,
        ["%pure"] = SyscallClass.Pure, ["%creds"] = SyscallClass.Creds, ["%clock"] = SyscallClass.Clock,
    };

    public static IReadOnlyList<SyscallInfo> All => Entries;

    public static Architecture Current => RuntimeInformation.ProcessArchitecture;

    private static (Dictionary<int, SyscallInfo> ByNumber, Dictionary<string, SyscallInfo> ByName) For(Architecture arch)
    {
        lock (Tables)
        {
            if (Tables.TryGetValue(arch, out var t)) return t;
            var byNumber = new Dictionary<int, SyscallInfo>();
            var byName = new Dictionary<string, SyscallInfo>(StringComparer.Ordinal);
            foreach (var e in Entries)
            {
                int n = e.NumberFor(arch);
                if (n < 0) continue;
                byNumber[n] = e;
                byName[e.Name] = e;
            }
            return Tables[arch] = (byNumber, byName);
        }
    }

    /// <summary>The syscalls of an architecture, by number.</summary>
    public static IEnumerable<SyscallInfo> ForArchitecture(Architecture arch) => For(arch).ByNumber.OrderBy(k => k.Key).Select(k => k.Value);

    public static SyscallInfo? ByNumber(int number, Architecture? arch = null) =>
        For(arch ?? Current).ByNumber.TryGetValue(number, out var s) ? s : null;

    public static SyscallInfo? ByName(string name, Architecture? arch = null) =>
        For(arch ?? Current).ByName.TryGetValue(name, out var s) ? s : null;

    /// <summary>The name strace prints for a number: the table's, or syscall_0x1b8 for an unknown one.</summary>
    public static string NameOf(int number, Architecture? arch = null) =>
        ByNumber(number, arch)?.Name ?? $"syscall_0x{number:x}";

    /// <summary>
    /// Resolves -Syscall's values: names, wildcards (open*), classes (%file), and a leading ! or - to exclude
    /// (as strace's -e trace=!…). Unknown names are an error listing the bad ones; nothing selected is an error too.
    /// </summary>
    public static HashSet<int> Resolve(IEnumerable<string> selectors, Architecture? arch = null)
    {
        var table = For(arch ?? Current);
        var include = new HashSet<int>();
        var exclude = new HashSet<int>();
        var unknown = new List<string>();
        bool anyInclude = false;
        foreach (var raw in selectors.SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            bool negate = raw.StartsWith('!') || (raw.StartsWith('-') && raw.Length > 1);
            var sel = negate ? raw[1..] : raw;
            if (!negate) anyInclude = true;
            var target = negate ? exclude : include;
            IEnumerable<KeyValuePair<int, SyscallInfo>> matches;
            if (ClassNames.TryGetValue(sel, out var cls))
                matches = table.ByNumber.Where(k => (k.Value.Classes & cls) != 0);
            else if (sel is "all" or "%all")
                matches = table.ByNumber;
            else if (WildcardPattern.ContainsWildcardCharacters(sel))
            {
                var p = WildcardPattern.Get(sel, WildcardOptions.IgnoreCase);
                matches = table.ByNumber.Where(k => p.IsMatch(k.Value.Name)).ToList();
                if (!matches.Any()) unknown.Add(raw);
            }
            else if (table.ByName.TryGetValue(sel, out var one))
                matches = new[] { new KeyValuePair<int, SyscallInfo>(one.NumberFor(arch ?? Current), one) };
            else
            {
                unknown.Add(raw);
                continue;
            }
            foreach (var m in matches) target.Add(m.Key);
        }
        if (unknown.Count > 0)
        {
            var classes = string.Join(" ", ClassNames.Keys.Where(k => k is not "%network"));
            var hint = unknown.Select(u => Suggest(u.TrimStart('!', '-'), table.ByName.Keys)).FirstOrDefault(h => h is not null);
            throw new KernelDebugException(
                $"Unknown syscall name or class: {string.Join(", ", unknown)}.{(hint is null ? "" : $" Did you mean '{hint}'?")} " +
                $"Use syscall names of {arch ?? Current} (Get-SyscallTrace completes them), wildcards, or the classes {classes}.",
                "UnknownSyscall", ErrorCategory.InvalidArgument) { Target = string.Join(",", unknown) };
        }
        if (!anyInclude) include.UnionWith(table.ByNumber.Keys);
        include.ExceptWith(exclude);
        return include;
    }

    private static string? Suggest(string name, IEnumerable<string> known) =>
        known.Where(k => k.Contains(name, StringComparison.OrdinalIgnoreCase) || name.Contains(k, StringComparison.OrdinalIgnoreCase))
            .OrderBy(k => Math.Abs(k.Length - name.Length)).FirstOrDefault();
}
