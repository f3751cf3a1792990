using System.Buffers.Binary;
using System.Globalization;
using System.Management.Automation;
using System.Text;
using KernelDebug.Native;

namespace KernelDebug.Bpf;

internal enum BpfExternKind { Kconfig, Ksym, Kfunc }

/// <summary>
/// An extern variable of a BPF object: `extern int CONFIG_HZ __kconfig;` (a value from the kernel's config, served in
/// the read-only .kconfig map) or `extern const void sym __ksym;` (a kernel symbol's address; typed, a vmlinux BTF id).
/// </summary>
internal sealed class BpfExtern
{
    public string Name = "";
    public BpfExternKind Kind;
    public bool Weak;
    /// <summary>The variable's type in the object's BTF (modifiers and typedefs resolved); 0 for `void`.</summary>
    public uint TypeId;
    public uint Size;
    public uint Alignment;
    /// <summary>Its place in the .kconfig map's value.</summary>
    public uint Offset;
}

/// <summary>
/// Resolves a BPF object's externs as libbpf does: kconfig values from /proc/config.gz (or /boot/config-release),
/// LINUX_KERNEL_VERSION and friends computed; ksyms from kallsyms (untyped) or vmlinux BTF (typed, per-CPU variables).
/// </summary>
internal static class BpfExterns
{
    internal const string KconfigSection = ".kconfig", KsymsSection = ".ksyms";

    /// <summary>The externs the object's BTF declares in .kconfig and .ksyms, laid out for the .kconfig map.</summary>
    public static List<BpfExtern> Collect(BtfSpec btf, IReadOnlyDictionary<string, bool> undefinedWeak, string path, out uint kconfigSize)
    {
        var list = new List<BpfExtern>();
        foreach (var sec in btf.Types.Where(t => t.Kind == BtfKind.Datasec && t.Name is KconfigSection or KsymsSection))
            foreach (var m in sec.Members)
            {
                var v = btf[m.Type];
                if (v is null || string.IsNullOrEmpty(v.Name)) continue;
                bool weak = undefinedWeak.TryGetValue(v.Name, out var w) && w;
                if (v.Kind == BtfKind.Func)
                {
                    list.Add(new BpfExtern { Name = v.Name, Kind = BpfExternKind.Kfunc, Weak = weak });
                    continue;
                }
                var type = btf.Resolve(v.Type);
                uint typeId = type?.Id ?? 0;
                if (sec.Name == KsymsSection)
                {
                    list.Add(new BpfExtern { Name = v.Name, Kind = BpfExternKind.Ksym, Weak = weak, TypeId = type is null ? 0 : typeId });
                    continue;
                }
                uint size = (uint)btf.SizeOf(typeId);
                uint align = type?.Kind == BtfKind.Array ? 1 : Math.Clamp(size, 1, 8);
                if (!v.Name.StartsWith("CONFIG_", StringComparison.Ordinal) && !v.Name.StartsWith("LINUX_", StringComparison.Ordinal))
                    throw new KernelDebugException($"'{path}': the __kconfig extern '{v.Name}' names neither a CONFIG_ option nor a LINUX_ value.", "BpfObjectInvalid", ErrorCategory.InvalidData) { Target = v.Name };
                list.Add(new BpfExtern { Name = v.Name, Kind = BpfExternKind.Kconfig, Weak = weak, TypeId = typeId, Size = size, Alignment = align });
            }
        // As libbpf lays them out: by alignment, largest first, then by name.
        uint off = 0;
        foreach (var e in list.Where(e => e.Kind == BpfExternKind.Kconfig).OrderByDescending(e => e.Alignment).ThenBy(e => e.Name, StringComparer.Ordinal))
        {
            off = (off + e.Alignment - 1) / e.Alignment * e.Alignment;
            e.Offset = off;
            off += e.Size;
        }
        kconfigSize = off; // as libbpf sizes the map: up to the last value's end
        return list;
    }

    /// <summary>The .kconfig map's value: each extern's value from the kernel's config, converted to its type.</summary>
    public static byte[] KconfigData(BtfSpec btf, List<BpfExtern> externs, uint size, string path)
    {
        var data = new byte[size];
        var config = Host.KernelConfig.Load();
        foreach (var e in externs.Where(e => e.Kind == BpfExternKind.Kconfig))
        {
            string? value = e.Name switch
            {
                "LINUX_KERNEL_VERSION" => KernelVersionCode().ToString(CultureInfo.InvariantCulture),
                // Every kernel this module runs on (5.15 and later) has both.
                "LINUX_HAS_BPF_COOKIE" => "y",
                "LINUX_HAS_SYSCALL_WRAPPER" => "y",
                _ => config?[e.Name],
            };
            if (value is null)
            {
                if (e.Weak) continue; // zero, as libbpf leaves a weak extern it has no value for
                throw new KernelDebugException(config is null
                        ? $"'{path}' reads the kernel config option {e.Name} (__kconfig), but this kernel's config is not readable: neither /proc/config.gz (CONFIG_IKCONFIG_PROC) nor /boot/config-{Release()} is present."
                        : $"'{path}' reads {e.Name} (__kconfig), which this kernel's config does not set{(e.Name.StartsWith("LINUX_", StringComparison.Ordinal) ? " (and the loader does not compute)" : "")}. Declare it __weak to get 0.",
                    "BpfExternNotFound", ErrorCategory.ObjectNotFound) { Target = e.Name };
            }
            Write(btf, e, value, data.AsSpan((int)e.Offset, (int)e.Size), path);
        }
        return data;
    }

    private static void Write(BtfSpec btf, BpfExtern e, string value, Span<byte> into, string path)
    {
        var type = btf[e.TypeId];
        KernelDebugException Wrong(string why) => new($"'{path}': the kernel config value {e.Name}={value} does not fit the extern's type ({why}).", "BpfExternInvalid", ErrorCategory.InvalidData) { Target = e.Name };
        bool tristate = value is "y" or "n" or "m";
        if (type is { Kind: BtfKind.Array })
        {
            // The config's strings come unquoted (Host.KernelConfig takes the quotes off).
            var s = Encoding.UTF8.GetBytes(value.Length >= 2 && value[0] == '"' && value[^1] == '"' ? value[1..^1] : value);
            s.AsSpan(0, Math.Min(s.Length, into.Length - 1)).CopyTo(into);
            return;
        }
        if (type is { Kind: BtfKind.Enum } && type.Name == "libbpf_tristate")
        {
            if (!tristate) throw Wrong("a tristate takes y, m or n");
            BinaryPrimitives.WriteInt32LittleEndian(into, value == "y" ? 1 : value == "m" ? 2 : 0);
            return;
        }
        if (type is { IsBool: true } || (type is { Kind: BtfKind.Int, IsChar: true } && tristate))
        {
            if (!tristate) throw Wrong("a bool or char takes y, m or n");
            into[0] = type.IsBool ? (byte)(value == "n" ? 0 : 1) : (byte)value[0];
            return;
        }
        if (type is not { Kind: BtfKind.Int or BtfKind.Enum }) throw Wrong($"{type?.Kind.ToString() ?? "void"} is not a type a config value converts to");
        if (tristate)
        {
            // y/m/n into an integer: 1, 2, 0 as in libbpf_tristate.
            value = value == "y" ? "1" : value == "m" ? "2" : "0";
        }
        ulong n = 0;
        bool ok;
        if (value.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) ok = ulong.TryParse(value.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out n);
        else if (value.StartsWith('-')) { ok = long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var sn); n = (ulong)sn; }
        else ok = ulong.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out n);
        if (!ok) throw Wrong("not a number");
        if (into.Length < 8 && !value.StartsWith('-') && n >> (into.Length * 8) != 0) throw Wrong($"does not fit {into.Length} bytes");
        Span<byte> all = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(all, n);
        all[..into.Length].CopyTo(into);
    }

    private static string Release()
    {
        try { return File.ReadAllText("/proc/sys/kernel/osrelease").Trim(); }
        catch (IOException) { return ""; }
        catch (UnauthorizedAccessException) { return ""; }
    }

    /// <summary>KERNEL_VERSION(a, b, c) of the running kernel, the patch level capped at 255 as the kernel's own macro does.</summary>
    public static uint KernelVersionCode()
    {
        var release = Release();
        var parts = release.Split('.', '-', '+');
        uint P(int i) => i < parts.Length && uint.TryParse(new string(parts[i].TakeWhile(char.IsAsciiDigit).ToArray()), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0;
        return (P(0) << 16) | (P(1) << 8) | Math.Min(P(2), 255);
    }
}
