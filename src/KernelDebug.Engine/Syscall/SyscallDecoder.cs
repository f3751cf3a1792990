using System.Buffers.Binary;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;

namespace KernelDebug.Syscall;

/// <summary>
/// Turns syscall registers into typed, strace-formatted arguments. Input arguments are decoded at syscall entry
/// (execve's strings are gone after it), output arguments (read buffers, struct stat, pipe fds) at exit.
/// </summary>
public sealed class SyscallDecoder
{
    private readonly ISyscallMemory _memory;
    private readonly Architecture _arch;

    public SyscallDecoder(ISyscallMemory memory, Architecture arch, int maxStringLength = 32)
    {
        _memory = memory;
        _arch = arch;
        MaxStringLength = maxStringLength;
    }

    public int MaxStringLength { get; }

    /// <summary>With -DecodeFd: says what fd arguments refer to (strace -y); null leaves them as numbers.</summary>
    internal FileDescriptorDecoder? Fds { get; init; }

    /// <summary>An fd as strace -y prints it: 3&lt;/etc/passwd&gt;, with the typed descriptor on the argument.</summary>
    private SyscallArgument FdArgument(string name, int fd, ulong raw, int tid)
    {
        var d = Fds?.Describe(tid, fd);
        return new(name, fd, raw, d is null ? fd.ToString() : $"{fd}<{d.Text}>") { Descriptor = d };
    }

    private const int PathMax = 4096;

    /// <summary>Decodes the input arguments; output arguments get a placeholder to be completed by <see cref="DecodeExit"/>.</summary>
    public SyscallArgument?[] DecodeEntry(SyscallInfo? info, int tid, ulong[] args)
    {
        var ps = info?.ParametersFor(_arch);
        if (ps is null)
            return args.Select((a, i) => (SyscallArgument?)Hex($"arg{i}", a)).ToArray();
        var result = new SyscallArgument?[ps.Count];
        for (int i = 0; i < ps.Count; i++)
        {
            if (ps[i].IsOutput) continue;
            if (Omitted(info!, ps, i, args)) { result[i] = null; continue; }
            // A decoder must never end the trace: anything it cannot make sense of is shown raw.
            try { result[i] = DecodeInput(ps[i], args[i], tid, args); }
            catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or FormatException or OverflowException or InvalidOperationException)
            { result[i] = Hex(ps[i].Name, args[i]); }
        }
        return result;
    }

    /// <summary>Fills the output arguments once the call returned; a failed call shows their addresses as strace does.</summary>
    public SyscallArgument[] DecodeExit(SyscallInfo? info, int tid, ulong[] args, SyscallArgument?[] entry, long ret, bool failed)
    {
        var ps = info?.ParametersFor(_arch);
        if (ps is null) return entry.Where(a => a is not null).Select(a => a!).ToArray();
        var list = new List<SyscallArgument>(ps.Count);
        for (int i = 0; i < ps.Count; i++)
        {
            if (!ps[i].IsOutput) { if (entry[i] is { } a) list.Add(a); continue; }
            SyscallArgument output;
            try { output = failed ? Pointer(ps[i].Name, args[i]) : DecodeOutput(ps[i], args[i], tid, args, ret); }
            catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or FormatException or OverflowException or InvalidOperationException)
            { output = Hex(ps[i].Name, args[i]); }
            list.Add(output);
        }
        return list.ToArray();
    }

    /// <summary>strace leaves out open's mode unless O_CREAT or O_TMPFILE asks for one.</summary>
    private bool Omitted(SyscallInfo info, IReadOnlyList<SyscallParameter> ps, int i, ulong[] args)
    {
        if (ps[i].Kind != ArgumentKind.Mode || i == 0 || ps[i - 1].Kind != ArgumentKind.OpenFlags) return false;
        ulong flags = args[i - 1];
        return (flags & 0x40) == 0 && (flags & SyscallConstants.TmpFile(_arch)) != SyscallConstants.TmpFile(_arch);
    }

    private SyscallArgument DecodeInput(SyscallParameter p, ulong raw, int tid, ulong[] args)
    {
        switch (p.Kind)
        {
            case ArgumentKind.Int: { long v = AsInt(raw); return new(p.Name, v, raw, v.ToString()); }
            case ArgumentKind.UInt: return new(p.Name, raw, raw, raw.ToString());
            case ArgumentKind.Hex: return Hex(p.Name, raw);
            case ArgumentKind.Octal: return new(p.Name, raw, raw, "0" + Convert.ToString((long)raw, 8));
            case ArgumentKind.Ptr: return Pointer(p.Name, raw);
            case ArgumentKind.Fd: return FdArgument(p.Name, (int)raw, raw, tid);
            case ArgumentKind.AtFd:
            {
                int fd = (int)raw;
                if (fd != -100) return FdArgument(p.Name, fd, raw, tid);
                var cwd = Fds?.WorkingDirectory(tid);
                return new(p.Name, fd, raw, cwd is null ? "AT_FDCWD" : $"AT_FDCWD<{cwd.Text}>") { Descriptor = cwd };
            }
            case ArgumentKind.Path: return String(p.Name, tid, raw, PathMax);
            case ArgumentKind.Str: return String(p.Name, tid, raw, MaxStringLength);
            case ArgumentKind.InBuf:
                return Buffer(p.Name, tid, raw, p.LengthArgument >= 0 ? (long)args[p.LengthArgument] : 0);
            case ArgumentKind.OpenFlags:
            {
                // The access mode is a two-bit value, not a flag.
                var accmode = (raw & 3) switch { 0 => "O_RDONLY", 1 => "O_WRONLY", 2 => "O_RDWR", _ => "O_ACCMODE" };
                var rest = Flags(raw & ~3UL & 0xffffffff, SyscallConstants.OpenFlags(_arch), allowZero: true);
                var names = rest.Names.Prepend(accmode).ToArray();
                return new(p.Name, names, raw, string.Join("|", names) + (rest.Leftover != 0 ? $"|0x{rest.Leftover:x}" : ""));
            }
            case ArgumentKind.Mode: return Mode(p.Name, raw);
            case ArgumentKind.Prot:
                return raw == 0 ? new(p.Name, Array.Empty<string>(), raw, "PROT_NONE") : FlagArgument(p.Name, raw, SyscallConstants.Prot);
            case ArgumentKind.MapFlags:
            {
                var type = SyscallConstants.MapType.FirstOrDefault(t => t.Item1 == (raw & 0xf)).Item2 ?? $"{raw & 0xf:#x}";
                var rest = Flags(raw & ~0xfUL, SyscallConstants.MapFlags, allowZero: true);
                var names = rest.Names.Prepend(type).ToArray();
                return new(p.Name, names, raw, string.Join("|", names) + (rest.Leftover != 0 ? $"|0x{rest.Leftover:x}" : ""));
            }
            case ArgumentKind.CloneFlags:
            {
                // The low byte is the exit signal.
                var f = Flags(raw & ~0xffUL, SyscallConstants.CloneFlags, allowZero: true);
                var names = f.Names.ToList();
                if ((raw & 0xff) != 0) names.Add(SyscallConstants.SignalName((int)(raw & 0xff)));
                var text = names.Count == 0 ? "0" : string.Join("|", names) + (f.Leftover != 0 ? $"|0x{f.Leftover:x}" : "");
                return new(p.Name, names.ToArray(), raw, text);
            }
            case ArgumentKind.Signal:
            {
                int s = (int)raw;
                return new(p.Name, SyscallConstants.SignalName(s), raw, SyscallConstants.SignalName(s));
            }
            case ArgumentKind.Ioctl:
            {
                ulong cmd = raw & 0xffffffff;
                return SyscallConstants.Ioctls.TryGetValue(cmd, out var n) ? new(p.Name, n, raw, n) : new(p.Name, cmd, raw, $"0x{cmd:x}");
            }
            case ArgumentKind.FcntlCmd:
                return SyscallConstants.FcntlCommands.TryGetValue(raw & 0xffffffff, out var fc) ? new(p.Name, fc, raw, fc) : new(p.Name, raw, raw, raw.ToString());
            case ArgumentKind.Whence:
                return raw < (ulong)SyscallConstants.Whence.Length ? new(p.Name, SyscallConstants.Whence[raw], raw, SyscallConstants.Whence[raw]) : new(p.Name, raw, raw, raw.ToString());
            case ArgumentKind.SigHow:
                return raw < 3 ? new(p.Name, SyscallConstants.SigHow[raw], raw, SyscallConstants.SigHow[raw]) : new(p.Name, raw, raw, raw.ToString());
            case ArgumentKind.AccessMode:
                return (raw & 0xffffffff) == 0 ? new(p.Name, Array.Empty<string>(), raw, "F_OK") : FlagArgument(p.Name, raw & 0xffffffff, SyscallConstants.AccessMode);
            case ArgumentKind.AtFlags:
                return (raw & 0xffffffff) == 0 ? new(p.Name, Array.Empty<string>(), raw, "0") : FlagArgument(p.Name, raw & 0xffffffff, SyscallConstants.AtFlags);
            case ArgumentKind.AddressFamily:
                return SyscallConstants.AddressFamilies.TryGetValue(raw, out var af) ? new(p.Name, af, raw, af) : new(p.Name, raw, raw, raw.ToString());
            case ArgumentKind.SocketType:
            {
                var names = new List<string>();
                if (SyscallConstants.SocketTypes.TryGetValue(raw & 0xf, out var st)) names.Add(st);
                else if ((raw & 0xf) != 0) names.Add((raw & 0xf).ToString());
                var f = Flags(raw & ~0xfUL, SyscallConstants.SocketTypeFlags, allowZero: true);
                names.AddRange(f.Names);
                return new(p.Name, names.ToArray(), raw, names.Count == 0 ? "0" : string.Join("|", names));
            }
            case ArgumentKind.WaitOptions:
                return (raw & 0xffffffff) == 0 ? new(p.Name, Array.Empty<string>(), raw, "0") : FlagArgument(p.Name, raw & 0xffffffff, SyscallConstants.WaitOptions);
            case ArgumentKind.GrndFlags:
                return raw == 0 ? new(p.Name, Array.Empty<string>(), raw, "0") : FlagArgument(p.Name, raw, SyscallConstants.GrndFlags);
            case ArgumentKind.ArchPrctl:
                return SyscallConstants.ArchPrctl.TryGetValue(raw, out var ap) ? new(p.Name, ap, raw, ap) : new(p.Name, raw, raw, $"0x{raw:x}");
            case ArgumentKind.Resource:
                return raw < (ulong)SyscallConstants.Resources.Length ? new(p.Name, SyscallConstants.Resources[raw], raw, SyscallConstants.Resources[raw]) : new(p.Name, raw, raw, raw.ToString());
            case ArgumentKind.FutexOp:
            {
                // Low 7 bits: the command; 128 FUTEX_PRIVATE_FLAG, 256 FUTEX_CLOCK_REALTIME.
                ulong cmd = raw & 0x7f;
                var text = cmd < (ulong)SyscallConstants.FutexOps.Length ? SyscallConstants.FutexOps[cmd] : cmd.ToString();
                if ((raw & 128) != 0) text += "_PRIVATE";
                if ((raw & 256) != 0) text += "|FUTEX_CLOCK_REALTIME";
                return new(p.Name, text, raw, text);
            }
            case ArgumentKind.SigSet: return SigSet(p.Name, tid, raw);
            case ArgumentKind.Sockaddr:
                return Sockaddr(p.Name, tid, raw, p.LengthArgument >= 0 ? (int)args[p.LengthArgument] : 128);
            case ArgumentKind.Argv: return Argv(p.Name, tid, raw);
            case ArgumentKind.Envp:
            {
                int count = CountPointers(tid, raw);
                return new(p.Name, count, raw, raw == 0 ? "NULL" : $"0x{raw:x} /* {count} var{(count == 1 ? "" : "s")} */");
            }
            default: return Hex(p.Name, raw);
        }
    }

    private SyscallArgument DecodeOutput(SyscallParameter p, ulong raw, int tid, ulong[] args, long ret)
    {
        switch (p.Kind)
        {
            case ArgumentKind.OutBuf:
                // getcwd and readlink return the length; read returns the byte count.
                return Buffer(p.Name, tid, raw, Math.Max(0, ret));
            case ArgumentKind.Stat: return Stat(p.Name, tid, raw);
            case ArgumentKind.OutSigSet: return SigSet(p.Name, tid, raw);
            case ArgumentKind.FdPair:
            {
                Span<byte> b = stackalloc byte[8];
                if (_memory.Read(tid, raw, b) != 8) return Pointer(p.Name, raw);
                int a = BinaryPrimitives.ReadInt32LittleEndian(b), c = BinaryPrimitives.ReadInt32LittleEndian(b[4..]);
                if (Fds is not null)
                {
                    var da = Fds.Describe(tid, a);
                    var dc = Fds.Describe(tid, c);
                    string Show(int fd, SyscallFileDescriptor? d) => d is null ? fd.ToString() : $"{fd}<{d.Text}>";
                    return new(p.Name, new[] { a, c }, raw, $"[{Show(a, da)}, {Show(c, dc)}]");
                }
                return new(p.Name, new[] { a, c }, raw, $"[{a}, {c}]");
            }
            case ArgumentKind.OutSockaddr:
            {
                int len = 128;
                if (p.LengthArgument >= 0 && _memory.ReadWord(tid, args[p.LengthArgument]) is { } w) len = (int)(uint)w;
                return Sockaddr(p.Name, tid, raw, len);
            }
            case ArgumentKind.WaitStatus:
            {
                if (raw == 0) return Pointer(p.Name, raw);
                Span<byte> b = stackalloc byte[4];
                if (_memory.Read(tid, raw, b) != 4) return Pointer(p.Name, raw);
                int s = BinaryPrimitives.ReadInt32LittleEndian(b);
                string text = (s & 0x7f) == 0 ? $"[{{WIFEXITED(s) && WEXITSTATUS(s) == {(s >> 8) & 0xff}}}]"
                    : (s & 0xff) == 0x7f ? $"[{{WIFSTOPPED(s) && WSTOPSIG(s) == {SyscallConstants.SignalName((s >> 8) & 0xff)}}}]"
                    : $"[{{WIFSIGNALED(s) && WTERMSIG(s) == {SyscallConstants.SignalName(s & 0x7f)}{((s & 0x80) != 0 ? " && WCOREDUMP(s)" : "")}}}]";
                return new(p.Name, s, raw, text);
            }
            default: return Hex(p.Name, raw);
        }
    }

    /// <summary>A sigset_t as strace prints it: [CHLD TERM], or ~[…] naming the absent ones when most are set.</summary>
    private SyscallArgument SigSet(string name, int tid, ulong address)
    {
        if (address == 0) return new(name, null, address, "NULL");
        if (_memory.ReadWord(tid, address) is not { } set) return Pointer(name, address);
        bool inverted = System.Numerics.BitOperations.PopCount(set) > 32;
        ulong shown = inverted ? ~set : set;
        var names = new List<string>();
        for (int sig = 1; sig <= 64; sig++)
            if ((shown & (1UL << (sig - 1))) != 0) names.Add(SyscallConstants.SignalName(sig).Replace("SIG", ""));
        var all = Enumerable.Range(1, 64).Where(sig => (set & (1UL << (sig - 1))) != 0).Select(SyscallConstants.SignalName).ToArray();
        return new(name, all, address, (inverted ? "~[" : "[") + string.Join(" ", names) + "]");
    }

    private static long AsInt(ulong raw)
    {
        long v = (long)raw;
        if (v >= int.MinValue && v <= int.MaxValue) return v;
        // An int passed in a 64-bit register without sign extension.
        return (raw >> 32) == 0 ? (int)(uint)raw : v;
    }

    private static SyscallArgument Hex(string name, ulong raw) => new(name, raw, raw, raw == 0 ? "0" : $"0x{raw:x}");

    private static SyscallArgument Pointer(string name, ulong raw) => new(name, raw == 0 ? null : raw, raw, raw == 0 ? "NULL" : $"0x{raw:x}");

    private static SyscallArgument Mode(string name, ulong raw)
    {
        uint mode = (uint)raw;
        var type = (mode & 0xF000) != 0 ? SyscallConstants.FileType(mode) + "|" : "";
        return new(name, mode, raw, type + "0" + Convert.ToString(mode & 0xFFF, 8).PadLeft(3, '0'));
    }

    private static (List<string> Names, ulong Leftover) Flags(ulong value, IEnumerable<(ulong Value, string Name)> table, bool allowZero)
    {
        var names = new List<string>();
        // Multi-bit flags first (O_SYNC contains O_DSYNC, O_TMPFILE contains O_DIRECTORY).
        foreach (var (bit, name) in table.OrderByDescending(t => System.Numerics.BitOperations.PopCount(t.Value)))
        {
            if (bit != 0 && (value & bit) == bit) { names.Add(name); value &= ~bit; }
        }
        return (names, value);
    }

    private static SyscallArgument FlagArgument(string name, ulong raw, IEnumerable<(ulong, string)> table)
    {
        var f = Flags(raw, table, false);
        var text = string.Join("|", f.Names) + (f.Leftover != 0 ? (f.Names.Count > 0 ? "|" : "") + $"0x{f.Leftover:x}" : "");
        return new(name, f.Names.ToArray(), raw, text.Length == 0 ? "0" : text);
    }

    private SyscallArgument String(string name, int tid, ulong address, int max)
    {
        if (address == 0) return new(name, null, address, "NULL");
        var s = _memory.ReadCString(tid, address, max);
        if (s is null) return new(name, null, address, $"0x{address:x}");
        var value = Encoding.UTF8.GetString(s.Value.Bytes);
        return new(name, value, address, Quote(s.Value.Bytes, s.Value.Truncated));
    }

    private SyscallArgument Buffer(string name, int tid, ulong address, long length)
    {
        if (address == 0) return new(name, null, address, "NULL");
        int shown = (int)Math.Min(length, MaxStringLength);
        var bytes = new byte[shown];
        int n = _memory.Read(tid, address, bytes);
        if (n < shown && shown > 0) return new(name, null, address, $"0x{address:x}");
        return new(name, bytes, address, Quote(bytes, length > shown));
    }

    /// <summary>strace's string quoting: C escapes, octal for other non-printables, "..." after a truncated string.</summary>
    public static string Quote(ReadOnlySpan<byte> bytes, bool truncated)
    {
        var sb = new StringBuilder(bytes.Length + 8).Append('"');
        for (int i = 0; i < bytes.Length; i++)
        {
            byte b = bytes[i];
            switch (b)
            {
                case (byte)'"': sb.Append("\\\""); break;
                case (byte)'\\': sb.Append("\\\\"); break;
                case (byte)'\n': sb.Append("\\n"); break;
                case (byte)'\t': sb.Append("\\t"); break;
                case (byte)'\r': sb.Append("\\r"); break;
                case (byte)'\f': sb.Append("\\f"); break;
                case (byte)'\v': sb.Append("\\v"); break;
                default:
                    if (b >= 0x20 && b < 0x7f) sb.Append((char)b);
                    else
                    {
                        // Three digits when a digit follows, so the escape cannot swallow it.
                        bool digitNext = i + 1 < bytes.Length && bytes[i + 1] >= (byte)'0' && bytes[i + 1] <= (byte)'7';
                        sb.Append('\\').Append(digitNext ? Convert.ToString(b, 8).PadLeft(3, '0') : Convert.ToString(b, 8));
                    }
                    break;
            }
        }
        sb.Append('"');
        if (truncated) sb.Append("...");
        return sb.ToString();
    }

    private int CountPointers(int tid, ulong address)
    {
        if (address == 0) return 0;
        int n = 0;
        while (n < 100000 && _memory.ReadWord(tid, address + (ulong)(8 * n)) is { } w && w != 0) n++;
        return n;
    }

    private SyscallArgument Argv(string name, int tid, ulong address)
    {
        if (address == 0) return new(name, null, address, "NULL");
        var items = new List<string>();
        var texts = new List<string>();
        for (int i = 0; ; i++)
        {
            var w = _memory.ReadWord(tid, address + (ulong)(8 * i));
            if (w is null) return new(name, items.ToArray(), address, $"0x{address:x}");
            if (w == 0) break;
            if (i >= MaxStringLength) { texts.Add("..."); break; }
            var s = _memory.ReadCString(tid, w.Value, MaxStringLength);
            items.Add(s is null ? "" : Encoding.UTF8.GetString(s.Value.Bytes));
            texts.Add(s is null ? $"0x{w:x}" : Quote(s.Value.Bytes, s.Value.Truncated));
        }
        return new(name, items.ToArray(), address, "[" + string.Join(", ", texts) + "]");
    }

    private SyscallArgument Stat(string name, int tid, ulong address)
    {
        var b = new byte[144];
        if (_memory.Read(tid, address, b) < 128) return Pointer(name, address);
        bool x64 = _arch != Architecture.Arm64;
        uint mode = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(x64 ? 24 : 16));
        var st = new SyscallStat
        {
            Device = BinaryPrimitives.ReadUInt64LittleEndian(b),
            Inode = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(8)),
            Mode = mode,
            LinkCount = x64 ? BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(16)) : BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(20)),
            UserId = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(x64 ? 28 : 24)),
            GroupId = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(x64 ? 32 : 28)),
            RawDevice = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(x64 ? 40 : 32)),
            Size = BinaryPrimitives.ReadInt64LittleEndian(b.AsSpan(48)),
            Blocks = BinaryPrimitives.ReadInt64LittleEndian(b.AsSpan(64)),
            Text = "",
        };
        var modeText = SyscallConstants.FileType(mode) + "|0" + Convert.ToString(mode & 0xFFF, 8).PadLeft(3, '0');
        bool device = (mode & 0xF000) is 0x2000 or 0x6000;
        var text = device
            ? $"{{st_mode={modeText}, st_rdev=makedev(0x{Major(st.RawDevice):x}, 0x{Minor(st.RawDevice):x}), ...}}"
            : $"{{st_mode={modeText}, st_size={st.Size}, ...}}";
        return new(name, new SyscallStat
        {
            Device = st.Device, Inode = st.Inode, Mode = st.Mode, LinkCount = st.LinkCount, UserId = st.UserId,
            GroupId = st.GroupId, RawDevice = st.RawDevice, Size = st.Size, Blocks = st.Blocks, Text = text,
        }, address, text);
    }

    private static ulong Major(ulong dev) => ((dev >> 32) & 0xfffff000) | ((dev >> 8) & 0xfff);
    private static ulong Minor(ulong dev) => ((dev >> 12) & 0xffffff00) | (dev & 0xff);

    private SyscallArgument Sockaddr(string name, int tid, ulong address, int length)
    {
        if (address == 0) return new(name, null, address, "NULL");
        length = Math.Clamp(length, 0, 128);
        var b = new byte[length];
        if (length < 2 || _memory.Read(tid, address, b) < length) return Pointer(name, address);
        return DecodeSockaddr(name, address, b);
    }

    /// <summary>A sockaddr as strace prints it; Value is an IPEndPoint for inet families, the path for AF_UNIX.</summary>
    public static SyscallArgument DecodeSockaddr(string name, ulong address, ReadOnlySpan<byte> b)
    {
        ushort family = BinaryPrimitives.ReadUInt16LittleEndian(b);
        var fam = SyscallConstants.AddressFamilies.TryGetValue(family, out var f) ? f : family.ToString();
        switch (family)
        {
            case 2 when b.Length >= 8:
            {
                int port = BinaryPrimitives.ReadUInt16BigEndian(b[2..]);
                var ip = new IPAddress(b.Slice(4, 4));
                return new(name, new IPEndPoint(ip, port), address, $"{{sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr(\"{ip}\")}}");
            }
            case 10 when b.Length >= 24:
            {
                int port = BinaryPrimitives.ReadUInt16BigEndian(b[2..]);
                uint flow = BinaryPrimitives.ReadUInt32BigEndian(b[4..]);
                var ip = new IPAddress(b.Slice(8, 16).ToArray());
                uint scope = b.Length >= 28 ? BinaryPrimitives.ReadUInt32LittleEndian(b[24..]) : 0;
                return new(name, new IPEndPoint(ip, port), address,
                    $"{{sa_family=AF_INET6, sin6_port=htons({port}), sin6_flowinfo=htonl({flow}), inet_pton(AF_INET6, \"{ip}\", &sin6_addr), sin6_scope_id={scope}}}");
            }
            case 1:
            {
                var path = b[2..];
                if (path.Length == 0) return new(name, "", address, "{sa_family=AF_UNIX}");
                bool abstractName = path[0] == 0;
                if (abstractName) path = path[1..];
                int nul = path.IndexOf((byte)0);
                if (nul >= 0 && !abstractName) path = path[..nul];
                var value = (abstractName ? "@" : "") + Encoding.UTF8.GetString(path);
                return new(name, value, address, $"{{sa_family=AF_UNIX, sun_path={(abstractName ? "@" : "")}{Quote(path, false)}}}");
            }
            default:
                return new(name, fam, address, $"{{sa_family={fam}, sa_data=...}}");
        }
    }
}
