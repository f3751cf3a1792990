using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace KernelDebug.Symbols;

/// <summary>
/// The kernel's symbol list (/proc/kallsyms, or a copy of another machine's), parsed once: every line in file order
/// with its address, type letter, name and module, and the views the module's areas ask for: perf's address lookup
/// (text, weak, data and bss symbols, perf's duplicate and end rules), "name+0xoff" for ftrace, exact addresses for the
/// BPF disassembler, name → address, and name counts for probe validation, completion and capability probes.
/// </summary>
/// <remarks>
/// Cache rule (<see cref="Current"/>): this host's kallsyms is read once and reused while the boot id
/// (/proc/sys/kernel/random/boot_id) and the module list (/proc/modules) are unchanged and the copy is younger than
/// <see cref="MaxAge"/>. A reboot or a module (un)load re-reads it at once; BPF programs (JIT images, module [bpf]) and
/// other runtime text (ftrace trampolines) come and go without a cheap signal, so they are at most MaxAge stale.
/// </remarks>
public sealed class Kallsyms
{
    /// <summary>How long this host's cached copy serves at most (for the [bpf] symbols, which change without a signal).</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(60);

    private readonly ulong[] _addresses;
    private readonly char[] _types;
    private readonly string[] _names;
    private readonly string?[] _modules;
    private readonly Lazy<(SymbolTable Table, int[] Entries)> _perf;
    private readonly Lazy<Dictionary<string, ulong>> _perfNames;
    private readonly Lazy<(ulong[] Addresses, int[] Entries)> _text;
    private readonly Lazy<Dictionary<ulong, int>> _exact;
    private readonly Lazy<Dictionary<string, int>> _textCounts;

    private Kallsyms(List<(ulong Address, char Type, string Name, string? Module)> entries)
    {
        _addresses = entries.Select(e => e.Address).ToArray();
        _types = entries.Select(e => e.Type).ToArray();
        _names = entries.Select(e => e.Name).ToArray();
        _modules = entries.Select(e => e.Module).ToArray();
        HasAddresses = _addresses.Any(a => a != 0);
        Modules = _modules.Where(m => m is not null).Distinct(StringComparer.Ordinal).ToArray()!;
        _perf = new(BuildPerfTable);
        _perfNames = new(() =>
        {
            var d = new Dictionary<string, ulong>(StringComparer.Ordinal);
            for (int i = 0; i < _names.Length; i++) if (IsPerfKept(i)) d.TryAdd(_names[i], _addresses[i]); // the first of a name wins
            return d;
        });
        _text = new(() =>
        {
            // Text and weak symbols, by address (stable: file order breaks ties).
            var order = Enumerable.Range(0, _names.Length).Where(i => _addresses[i] != 0 && _types[i] is 't' or 'T' or 'w' or 'W')
                .OrderBy(i => _addresses[i]).ToArray();
            return (order.Select(i => _addresses[i]).ToArray(), order);
        });
        _exact = new(() =>
        {
            var d = new Dictionary<ulong, int>();
            for (int i = 0; i < _addresses.Length; i++) if (_addresses[i] != 0) d.TryAdd(_addresses[i], i);
            return d;
        });
        _textCounts = new(() =>
        {
            var d = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < _names.Length; i++)
                if (_types[i] is 't' or 'T') d[_names[i]] = d.TryGetValue(_names[i], out var n) ? n + 1 : 1;
            return d;
        });
    }

    /// <summary>No symbols (an unreadable file): every lookup answers unknown.</summary>
    public static Kallsyms Empty { get; } = new(new List<(ulong, char, string, string?)>());

    /// <summary>How many lines were read (symbols with hidden, zero addresses included).</summary>
    public int Count => _names.Length;

    /// <summary>False when there are no symbols or every address is hidden (kptr_restrict, or not root).</summary>
    public bool HasAddresses { get; }

    /// <summary>True when perf's address lookup has symbols (addresses visible).</summary>
    public bool Available => _perf.Value.Entries.Length > 0;

    /// <summary>The modules named in the list ([bpf] and [__builtin__ftrace] included, as the kernel lists them).</summary>
    public IReadOnlyList<string> Modules { get; }

    private bool IsPerfKept(int i) => _addresses[i] != 0 && _types[i] is 'T' or 't' or 'W' or 'w' or 'D' or 'd' or 'B' or 'b';

    private (SymbolTable, int[]) BuildPerfTable()
    {
        // perf keeps text, weak, data and bss symbols; "name [module]" so module boundaries and perf's tie-break see the module.
        var list = new List<(ulong, ulong, string, int)>();
        var entries = new List<int>();
        for (int i = 0; i < _names.Length; i++)
        {
            if (!IsPerfKept(i)) continue;
            char t = _types[i];
            int rank = t is 'W' or 'w' ? 0 : char.IsLower(t) ? 1 : 2;
            list.Add((_addresses[i], 0, _modules[i] is { } m ? $"{_names[i]} [{m}]" : _names[i], rank));
            entries.Add(i);
        }
        return (new SymbolTable(list, kallsyms: true), entries.ToArray());
    }

    /// <summary>The symbol containing the address by perf's rules (sizes from the next symbol), or null.</summary>
    public KernelSymbol? Find(ulong address)
    {
        var (table, entries) = _perf.Value;
        int input = table.InputIndexOf(address, out _);
        if (input < 0) return null;
        int i = entries[input];
        return new KernelSymbol(_names[i], _modules[i], _addresses[i], _types[i]);
    }

    /// <summary>"name" at a text symbol's start, "name+0x1f" inside one, the hex address before the first (ftrace's %ps).</summary>
    public string Describe(ulong address)
    {
        var (addresses, entries) = _text.Value;
        int i = Array.BinarySearch(addresses, address);
        if (i >= 0)
        {
            while (i > 0 && addresses[i - 1] == address) i--; // the first listed at that address
            return _names[entries[i]];
        }
        i = ~i - 1;
        return i >= 0 ? $"{_names[entries[i]]}+0x{address - addresses[i]:x}" : $"0x{address:x}";
    }

    /// <summary>The first symbol (any type) listed at exactly this address, or null.</summary>
    public string? NameAt(ulong address) => _exact.Value.TryGetValue(address, out var i) ? _names[i] : null;

    /// <summary>The address of the first text, weak, data or bss symbol of that name with a visible address; null when none.</summary>
    public ulong? AddressOf(string name) => _perfNames.Value.TryGetValue(name, out var a) ? a : null;

    /// <summary>How many text symbols (t/T, any module) have this name: kprobes probe code, and a name can be ambiguous.</summary>
    public int TextSymbolCount(string name) => _textCounts.Value.TryGetValue(name, out var n) ? n : 0;

    /// <summary>True when any text symbol exists (the list was readable; addresses may be hidden).</summary>
    public bool HasTextSymbols => _textCounts.Value.Count > 0;

    /// <summary>The text symbols' names (t/T), in file order: what kprobes and fprobes take.</summary>
    public IEnumerable<string> TextSymbolNames()
    {
        for (int i = 0; i < _names.Length; i++) if (_types[i] is 't' or 'T') yield return _names[i];
    }

    /// <summary>True when a symbol name starts with the prefix (kernel features whose code is in the list).</summary>
    public bool AnyNameStartsWith(string prefix) => _names.Any(n => n.StartsWith(prefix, StringComparison.Ordinal));

    /// <summary>
    /// A kallsyms file the user names (perf report --kallsyms): throws KernelDebugException when it cannot be read
    /// (KallsymsNotFound, KallsymsAccessDenied, KallsymsNotARegularFile) or holds no addresses (KallsymsNoAddresses).
    /// </summary>
    public static Kallsyms Open(string path)
    {
        var (handle, _) = Host.RegularFile.OpenRead(path, "Kallsyms", "kallsyms file");
        byte[] text;
        using (var stream = new FileStream(handle, FileAccess.Read, 1))
        using (var copy = new MemoryStream())
        {
            stream.CopyTo(copy);
            text = copy.ToArray();
        }
        var symbols = Parse(text);
        if (!symbols.HasAddresses)
            throw new Native.KernelDebugException($"'{path}' lists no kernel symbol addresses.", "KallsymsNoAddresses", System.Management.Automation.ErrorCategory.InvalidData)
            { Target = path, Remedy = "Copy /proc/kallsyms as root (or with kernel.kptr_restrict=0) on the machine that recorded the file." };
        return symbols;
    }

    /// <summary>A kallsyms file (this host's or a copy); empty when it is missing or unreadable.</summary>
    public static Kallsyms Load(string path)
    {
        byte[] text;
        try { text = File.ReadAllBytes(path); }
        catch (IOException) { return Empty; }
        catch (UnauthorizedAccessException) { return Empty; }
        return Parse(text);
    }

    /// <summary>
    /// Parses kallsyms text: "ffffffff81000000 T _text" or "ffffffffc0000000 t fn\t[module]" (32-bit machines print
    /// 8 hex digits). Malformed lines are skipped.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static Kallsyms Parse(ReadOnlySpan<byte> text)
    {
        var entries = new List<(ulong, char, string, string?)>(text.Length / 40);
        var modules = new Dictionary<string, string>(StringComparer.Ordinal);
        while (!text.IsEmpty)
        {
            int nl = text.IndexOf((byte)'\n');
            var line = nl < 0 ? text : text[..nl];
            text = nl < 0 ? ReadOnlySpan<byte>.Empty : text[(nl + 1)..];
            int sp = line.IndexOf((byte)' ');
            if (sp is < 1 or > 16 || line.Length < sp + 4 || line[sp + 2] != ' ') continue;
            if (!Utf8Parser.TryParse(line[..sp], out ulong address, out int used, 'x') || used != sp) continue;
            char type = (char)line[sp + 1];
            var symbol = line[(sp + 3)..];
            int tab = symbol.IndexOf((byte)'\t');
            string name = Encoding.UTF8.GetString(tab < 0 ? symbol : symbol[..tab]).TrimEnd('\r');
            if (name.Length == 0) continue;
            string? module = null;
            if (tab >= 0)
            {
                var m = Encoding.UTF8.GetString(symbol[(tab + 1)..]).Trim().TrimStart('[').TrimEnd(']');
                if (m.Length > 0) module = modules.TryGetValue(m, out var known) ? known : modules[m] = m;
            }
            entries.Add((address, type, name, module));
        }
        return new Kallsyms(entries);
    }

    private static readonly object Gate = new();
    private static (Kallsyms Symbols, string? BootId, string? ModuleList, DateTime ReadAt)? _current;

    /// <summary>This host's kallsyms under the cache rule above; empty when unreadable.</summary>
    public static Kallsyms Current
    {
        get
        {
            string? boot = ReadText("/proc/sys/kernel/random/boot_id"), modules = ReadText("/proc/modules");
            lock (Gate)
            {
                if (_current is { } c && c.BootId == boot && c.ModuleList == modules && DateTime.UtcNow - c.ReadAt < MaxAge) return c.Symbols;
                var symbols = Load("/proc/kallsyms");
                _current = (symbols, boot, modules, DateTime.UtcNow);
                return symbols;
            }
        }
    }

    /// <summary>Drops the cached copy: the next Current reads the file again (tests).</summary>
    internal static void Forget()
    {
        lock (Gate) _current = null;
    }

    private static string? ReadText(string path)
    {
        try { return File.ReadAllText(path); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Count} kernel symbols, {Modules.Count} modules");
}
