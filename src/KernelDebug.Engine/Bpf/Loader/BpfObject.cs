using System.Buffers.Binary;
using System.Collections;
using System.Management.Automation;
using System.Text;
using KernelDebug.Native;

namespace KernelDebug.Bpf;

/// <summary>A map of a loaded object. Its fd lives as long as the object.</summary>
public sealed class BpfObjectMap
{
    public string Name { get; init; } = "";
    public uint Id { get; init; }
    public string Type { get; init; } = "";
    public uint KeySize { get; init; }
    public uint ValueSize { get; init; }
    public uint MaxEntries { get; init; }
    public uint Flags { get; init; }
    public string? DataSection { get; init; }
    /// <summary>Where the map is pinned in bpffs (LIBBPF_PIN_BY_NAME), or null.</summary>
    public string? PinPath { get; init; }
    /// <summary>True when the pinned map was already there and was reused, as libbpf reuses it (its contents kept).</summary>
    public bool PinReused { get; init; }
    public string ObjectName { get; init; } = "";
    public BpfObject Object { get; init; } = null!;
    internal BpfMapSpec Spec { get; init; } = null!;
    internal SafeFileDescriptor Fd { get; init; } = null!;
    public override string ToString() => Name;
}

/// <summary>A program of a loaded object, with the attachments Start-BpfProgram made.</summary>
public sealed class BpfObjectProgram
{
    public string Name { get; init; } = "";
    public uint Id { get; init; }
    public string Type { get; init; } = "";
    public string SectionName { get; init; } = "";
    public BpfAttachKind AttachKind { get; init; }
    public string AttachTarget { get; init; } = "";
    public int InstructionCount { get; init; }
    public string ObjectName { get; init; } = "";
    public bool IsAttached => Attachments.Count > 0;
    public BpfObject Object { get; init; } = null!;
    public List<BpfAttachment> Attachments { get; } = new();
    internal BpfProgramSpec Spec { get; init; } = null!;
    internal SafeFileDescriptor Fd { get; init; } = null!;
    public override string ToString() => Name;
}

/// <summary>The program's verifier rejected it: the log's last lines and the instruction it stopped at.</summary>
public sealed class BpfVerifierException : KernelDebugException
{
    public BpfVerifierException(string message, int errno, string log, int? instruction)
        : base(message, "BpfVerifierRejected", Native.Errno.ToCategory(errno) is ErrorCategory.PermissionDenied ? ErrorCategory.InvalidData : Native.Errno.ToCategory(errno))
    {
        VerifierLog = log;
        FailingInstruction = instruction;
        KernelErrno = errno;
    }

    public string VerifierLog { get; }
    public int? FailingInstruction { get; }
    public int KernelErrno { get; }
}

/// <summary>
/// A BPF object loaded into the kernel: its BTF, maps (global data written, .rodata frozen) and programs (linked with
/// their subprograms, CO-RE-relocated against the running kernel). It owns every fd: Dispose detaches and closes all.
/// Loading rolls back what it made when any step fails.
/// </summary>
public sealed class BpfObject : IDisposable
{
    private static readonly List<BpfObject> Loaded = new();
    private readonly List<IDisposable> _owned = new();
    private bool _disposed;

    public string Name { get; private init; } = "";
    public string Path { get; private init; } = "";
    public string License { get; private init; } = "";
    public ItemList<BpfObjectProgram> Programs { get; private set; } = ItemList<BpfObjectProgram>.Empty;
    public ItemList<BpfObjectMap> Maps { get; private set; } = ItemList<BpfObjectMap>.Empty;
    public uint BtfId { get; private set; }
    // The object's BTF (event and map value types); a method, not a property, so that output stays flat.
    internal BtfSpec? Btf { get; private init; }

    /// <summary>The object's BTF (event and map value types); null when it was built without -g.</summary>
    public BtfSpec? GetBtf() => Btf;
    public int CoreRelocations { get; private set; }
    public TimeSpan LoadTime { get; private set; }
    public bool IsDisposed => _disposed;
    /// <summary>What loading fell back on (BTF the kernel refused, func/line info dropped).</summary>
    public ItemList<string> Warnings => new(_warnings.ToArray());
    private readonly List<string> _warnings = new();
    internal BpfObjectSpec Spec { get; private init; } = null!;

    /// <summary>The objects this session loaded and has not removed.</summary>
    public static IReadOnlyList<BpfObject> Session { get { lock (Loaded) return Loaded.ToList(); } }

    /// <summary>Where maps marked LIBBPF_PIN_BY_NAME are pinned unless the caller says otherwise (libbpf's default).</summary>
    public const string DefaultPinRoot = "/sys/fs/bpf";

    public static BpfObject Load(string path, IDictionary? constants = null, string? pinRoot = null) => Load(BpfObjectSpec.Read(path), constants, pinRoot);

    public static BpfObject Load(BpfObjectSpec spec, IDictionary? constants = null, string? pinRoot = null)
    {
        if (constants is not null)
            foreach (DictionaryEntry c in constants) spec.SetConstant(c.Key.ToString() ?? "", c.Value);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var obj = new BpfObject { Name = spec.Name, Path = spec.Path, License = spec.License, Btf = spec.Btf, Spec = spec, PinRoot = pinRoot ?? DefaultPinRoot };
        try
        {
            obj.LoadAll();
        }
        catch
        {
            // Rollback: pins this load made go with it (ones it reused stay, they were someone's).
            obj.Unpin(onlyMade: true);
            obj.Dispose();
            throw;
        }
        obj.LoadTime = sw.Elapsed;
        lock (Loaded) Loaded.Add(obj);
        return obj;
    }

    private SafeFileDescriptor Own(SafeFileDescriptor fd)
    {
        _owned.Add(fd);
        return fd;
    }

    private unsafe void LoadAll()
    {
        // 1. BTF: optional for the kernel; without it maps lose their types and programs their line info.
        SafeFileDescriptor? btfFd = null;
        if (Spec.KernelBtf is { } kbtf)
        {
            try { btfFd = Own(LoadBtf(kbtf)); }
            catch (KernelDebugException e) when (e.Category != ErrorCategory.PermissionDenied) { _warnings.Add($"The kernel refused the object's BTF ({e.Message}); loading without it."); }
            if (btfFd is not null)
            {
                var info = new BpfBtfInfo();
                BpfInspector.GetInfo(btfFd, ref info);
                BtfId = info.Id;
            }
        }

        // 2. Maps.
        var maps = new List<BpfObjectMap>();
        foreach (var m in Spec.Maps)
        {
            string? pin = m.Pinning == 1 ? PinRoot.TrimEnd('/') + "/" + m.PinName : null;
            var reused = pin is null ? null : OpenPinned(m, pin);
            var fd = Own(reused ?? CreateMap(m, btfFd));
            var info = BpfInspector.ReadMapInfo(fd);
            if (pin is not null && reused is null)
            {
                Pin(fd, pin, m.Name);
                _madePins.Add(pin);
            }
            if (reused is null && m.InitialData is { } data && !m.DataSection!.StartsWith(".bss", StringComparison.Ordinal))
            {
                UpdateElem(fd, 0, data, m.Name);
            }
            if (reused is null && m.IsReadOnly)
            {
                var freeze = new BpfIdAttr { StartId = (uint)fd.Fd };
                Interop.Bpf(Interop.BPF_MAP_FREEZE, ref freeze, "bpf(BPF_MAP_FREEZE)", m.Name);
            }
            maps.Add(new BpfObjectMap
            {
                Name = m.Name, Id = info.Id, Type = BpfNames.MapType(m.Type), KeySize = m.KeySize, ValueSize = m.ValueSize, MaxEntries = m.MaxEntries,
                Flags = m.Flags, DataSection = m.DataSection, ObjectName = Name, Object = this, Spec = m, Fd = fd, PinPath = pin, PinReused = reused is not null,
            });
        }
        Maps = maps;

        // 3. Programs.
        var relocator = Spec.Btf is not null && Spec.Functions.Any(f => f.CoreRelos.Count > 0)
            ? new BpfCoreRelocator(Spec.Btf, BpfCoreRelocator.KernelBtf ?? throw new KernelDebugException(
                "The object uses CO-RE relocations, but this kernel has no BTF (/sys/kernel/btf/vmlinux). Build a kernel with CONFIG_DEBUG_INFO_BTF=y.",
                "BpfKernelBtfMissing", ErrorCategory.NotImplemented))
            : null;
        var programs = new List<BpfObjectProgram>();
        foreach (var p in Spec.Programs)
        {
            var linked = Link(p, relocator, maps);
            var fd = Own(LoadProgram(p, linked, btfFd));
            var info = new BpfProgInfo();
            BpfInspector.GetInfo(fd, ref info);
            programs.Add(new BpfObjectProgram
            {
                Name = p.Name, Id = info.Id, Type = BpfNames.ProgramType(p.Type), SectionName = p.SectionName, AttachKind = p.AttachKind,
                AttachTarget = p.AttachTarget, InstructionCount = linked.Insns.Length / 8, ObjectName = Name, Object = this, Spec = p, Fd = fd,
            });
        }
        Programs = programs;
    }

    private static unsafe SafeFileDescriptor LoadBtf(byte[] btf)
    {
        fixed (byte* b = btf)
        {
            var attr = new BpfBtfLoadAttr { Btf = (ulong)b, BtfSize = (uint)btf.Length };
            long fd = Interop.bpf(Interop.BPF_BTF_LOAD, &attr, (uint)sizeof(BpfBtfLoadAttr));
            if (fd >= 0) return new SafeFileDescriptor((int)fd);
            int err = Errno.Last;
            if (err is Errno.EPERM or Errno.EACCES) throw new KernelDebugException(err, "bpf(BPF_BTF_LOAD)") { Remedy = BpfInspector.BpfRemedy };
            var log = new byte[1 << 20];
            fixed (byte* l = log)
            {
                attr = new BpfBtfLoadAttr { Btf = (ulong)b, BtfSize = (uint)btf.Length, BtfLogBuf = (ulong)l, BtfLogSize = (uint)log.Length, BtfLogLevel = 1 };
                fd = Interop.bpf(Interop.BPF_BTF_LOAD, &attr, (uint)sizeof(BpfBtfLoadAttr));
                if (fd >= 0) return new SafeFileDescriptor((int)fd);
                err = Errno.Last;
            }
            var lines = LastLines(log, 3);
            throw new KernelDebugException($"bpf(BPF_BTF_LOAD) failed: {Errno.Message(err)} ({Errno.Name(err)}): {lines}", "BpfBtfRejected", Errno.ToCategory(err));
        }
    }

    private static unsafe SafeFileDescriptor CreateMap(BpfMapSpec m, SafeFileDescriptor? btf)
    {
        var attr = new BpfMapCreateAttr { MapType = m.Type, KeySize = m.KeySize, ValueSize = m.ValueSize, MaxEntries = m.MaxEntries, MapFlags = m.Flags };
        var name = Encoding.ASCII.GetBytes(m.Name);
        for (int i = 0; i < Math.Min(15, name.Length); i++) attr.MapName[i] = name[i];
        // Typed when the BTF was accepted: bpftool and Read-BpfMap decode the values then.
        if (btf is not null && (m.BtfKeyTypeId != 0 || m.BtfValueTypeId != 0) && m.Type != 27)
        {
            var typed = attr;
            typed.BtfFd = (uint)btf.Fd;
            typed.BtfKeyTypeId = m.BtfKeyTypeId;
            typed.BtfValueTypeId = m.BtfValueTypeId;
            long fd = Interop.bpf(Interop.BPF_MAP_CREATE, &typed, (uint)sizeof(BpfMapCreateAttr));
            if (fd >= 0) return new SafeFileDescriptor((int)fd);
        }
        long r = Interop.bpf(Interop.BPF_MAP_CREATE, &attr, (uint)sizeof(BpfMapCreateAttr));
        if (r < 0)
            throw new KernelDebugException(Errno.Last, $"bpf(BPF_MAP_CREATE) of {BpfNames.MapType(m.Type)} map", m.Name) { Remedy = BpfInspector.BpfRemedy };
        return new SafeFileDescriptor((int)r);
    }

    internal static unsafe void UpdateElem(SafeFileDescriptor fd, uint key, byte[] value, string name)
    {
        fixed (byte* v = value)
        {
            var attr = new BpfMapElemAttr { MapFd = (uint)fd.Fd, Key = (ulong)&key, ValueOrNextKey = (ulong)v };
            Interop.Bpf(Interop.BPF_MAP_UPDATE_ELEM, ref attr, "bpf(BPF_MAP_UPDATE_ELEM)", name);
        }
    }

    /// <summary>The program with its subprograms appended (each once), calls and map references resolved, CO-RE applied.</summary>
    internal sealed record Linked(byte[] Insns, BtfExtRecord[] FuncInfo, BtfExtRecord[] LineInfo);

    private Linked Link(BpfProgramSpec p, BpfCoreRelocator? relocator, List<BpfObjectMap> maps)
    {
        var order = new List<BpfFunction> { p.Function };
        var start = new Dictionary<BpfFunction, int> { [p.Function] = 0 };
        int total = p.Function.InsnCount;
        for (int i = 0; i < order.Count; i++)
            foreach (var call in order[i].Calls)
            {
                var target = Spec.Functions.FirstOrDefault(f => f.Contains(call.Section, call.TargetInsn))
                    ?? throw new KernelDebugException($"Program '{p.Name}': a call in '{order[i].Name}' targets no function.", "BpfObjectInvalid", ErrorCategory.InvalidData);
                if ((long)target.Offset / 8 != call.TargetInsn)
                    throw new KernelDebugException($"Program '{p.Name}': a call in '{order[i].Name}' jumps into the middle of '{target.Name}'.", "BpfObjectInvalid", ErrorCategory.InvalidData);
                if (start.ContainsKey(target)) continue;
                start[target] = total;
                total += target.InsnCount;
                order.Add(target);
            }
        var insns = new byte[total * 8];
        var funcInfo = new List<BtfExtRecord>();
        var lineInfo = new List<BtfExtRecord>();
        foreach (var f in order)
        {
            int at = start[f];
            var code = (byte[])f.Insns.Clone();
            if (relocator is not null)
                foreach (var r in f.CoreRelos)
                {
                    string access = Spec.Ext!.Str(r.B);
                    var kind = (BpfCoreKind)r.C;
                    var value = relocator.Resolve(r.A, access, kind);
                    BpfCoreRelocator.Patch(code, r.Insn, value, $"{f.Name} {kind} {access}");
                    CoreRelocations++;
                }
            foreach (var (k, map, value, addend) in f.MapRefs)
            {
                code[k * 8 + 1] = (byte)((code[k * 8 + 1] & 0x0f) | ((value ? 2 : 1) << 4)); // BPF_PSEUDO_MAP_VALUE / BPF_PSEUDO_MAP_FD
                BinaryPrimitives.WriteInt32LittleEndian(code.AsSpan(k * 8 + 4), maps[map].Fd.Fd);
                BinaryPrimitives.WriteInt32LittleEndian(code.AsSpan(k * 8 + 12), value ? (int)addend : 0);
            }
            foreach (var (k, sec, targetInsn) in f.Calls)
            {
                var target = Spec.Functions.First(x => x.Contains(sec, targetInsn));
                int rel = start[target] - (at + k) - 1;
                BinaryPrimitives.WriteInt32LittleEndian(code.AsSpan(k * 8 + 4), rel);
            }
            code.CopyTo(insns, at * 8);
            foreach (var r in f.FuncInfo) funcInfo.Add(r with { Insn = r.Insn + at });
            foreach (var r in f.LineInfo) lineInfo.Add(r with { Insn = r.Insn + at });
        }
        return new Linked(insns, funcInfo.OrderBy(r => r.Insn).ToArray(), lineInfo.OrderBy(r => r.Insn).ToArray());
    }

    private unsafe SafeFileDescriptor LoadProgram(BpfProgramSpec p, Linked linked, SafeFileDescriptor? btf)
    {
        uint attachBtfId = 0;
        if (p.Type == 26 /* tracing */)
        {
            var vmlinux = BpfCoreRelocator.KernelBtf ?? throw new KernelDebugException(
                $"Program '{p.Name}' ({p.SectionName}) attaches through the kernel's BTF, which this kernel does not have (CONFIG_DEBUG_INFO_BTF).", "BpfKernelBtfMissing", ErrorCategory.NotImplemented) { Target = p.Name };
            string want = p.AttachKind == BpfAttachKind.TracepointBtf ? "btf_trace_" + p.AttachTarget : p.AttachTarget;
            var kind = p.AttachKind == BpfAttachKind.TracepointBtf ? BtfKind.Typedef : BtfKind.Func;
            attachBtfId = vmlinux.Named(want).FirstOrDefault(t => t.Kind == kind)?.Id
                ?? throw new KernelDebugException($"Program '{p.Name}' attaches to '{p.AttachTarget}', which the kernel's BTF does not have.", "BpfAttachTargetNotFound", ErrorCategory.ObjectNotFound) { Target = p.AttachTarget };
        }
        var license = Encoding.ASCII.GetBytes((License.Length > 0 ? License : "GPL") + "\0");
        var name = Encoding.ASCII.GetBytes(BpfObjectSpec.MapNameOf(p.Name));
        var funcs = new byte[linked.FuncInfo.Length * 8];
        for (int i = 0; i < linked.FuncInfo.Length; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(funcs.AsSpan(i * 8), (uint)linked.FuncInfo[i].Insn);
            BinaryPrimitives.WriteUInt32LittleEndian(funcs.AsSpan(i * 8 + 4), linked.FuncInfo[i].A);
        }
        var lines = new byte[linked.LineInfo.Length * 16];
        for (int i = 0; i < linked.LineInfo.Length; i++)
        {
            var r = linked.LineInfo[i];
            BinaryPrimitives.WriteUInt32LittleEndian(lines.AsSpan(i * 16), (uint)r.Insn);
            BinaryPrimitives.WriteUInt32LittleEndian(lines.AsSpan(i * 16 + 4), r.A);
            BinaryPrimitives.WriteUInt32LittleEndian(lines.AsSpan(i * 16 + 8), r.B);
            BinaryPrimitives.WriteUInt32LittleEndian(lines.AsSpan(i * 16 + 12), r.C);
        }
        bool withInfo = btf is not null && funcs.Length > 0;
        fixed (byte* insns = linked.Insns)
        fixed (byte* lic = license)
        fixed (byte* fi = funcs)
        fixed (byte* li = lines)
        {
            ulong pInsns = (ulong)insns, pLic = (ulong)lic, pFi = (ulong)fi, pLi = (ulong)li;
            BpfProgLoadAttr Attr(bool info, byte* log, uint logSize, uint level)
            {
                var a = new BpfProgLoadAttr
                {
                    ProgType = p.Type, InsnCnt = (uint)(linked.Insns.Length / 8), Insns = pInsns, License = pLic,
                    KernVersion = Spec.KernelVersion, ExpectedAttachType = p.ExpectedAttachType, AttachBtfId = attachBtfId,
                    LogBuf = (ulong)log, LogSize = logSize, LogLevel = level,
                };
                for (int i = 0; i < name.Length && i < 15; i++) a.ProgName[i] = name[i];
                if (info)
                {
                    a.ProgBtfFd = (uint)btf!.Fd;
                    a.FuncInfoRecSize = 8; a.FuncInfo = pFi; a.FuncInfoCnt = (uint)linked.FuncInfo.Length;
                    if (lines.Length > 0) { a.LineInfoRecSize = 16; a.LineInfo = pLi; a.LineInfoCnt = (uint)linked.LineInfo.Length; }
                }
                return a;
            }
            var attr = Attr(withInfo, null, 0, 0);
            long fd = Interop.bpf(Interop.BPF_PROG_LOAD, &attr, (uint)sizeof(BpfProgLoadAttr));
            if (fd >= 0) return new SafeFileDescriptor((int)fd);
            int err = Errno.Last;
            if (withInfo && err == Errno.EINVAL)
            {
                // func/line info the kernel refused: retry without before blaming the program.
                attr = Attr(false, null, 0, 0);
                fd = Interop.bpf(Interop.BPF_PROG_LOAD, &attr, (uint)sizeof(BpfProgLoadAttr));
                if (fd >= 0) { _warnings.Add($"Program '{p.Name}' loaded without its BTF func and line info, which the kernel refused."); return new SafeFileDescriptor((int)fd); }
                withInfo = false;
            }
            if (err is Errno.EPERM && !IsRoot())
                throw new KernelDebugException(err, "bpf(BPF_PROG_LOAD)", p.Name) { Remedy = BpfInspector.BpfRemedy };
            // Again with the verifier's log; a bigger buffer while the kernel says it was too small.
            for (uint size = 1 << 20; ; size *= 4)
            {
                var log = new byte[size];
                fixed (byte* l = log)
                {
                    attr = Attr(withInfo, l, size, 1);
                    fd = Interop.bpf(Interop.BPF_PROG_LOAD, &attr, (uint)sizeof(BpfProgLoadAttr));
                    if (fd >= 0) return new SafeFileDescriptor((int)fd);
                    int e2 = Errno.Last;
                    if (e2 == Errno.ENOSPC && size < (1 << 26)) continue;
                    throw Rejected(p, e2, log);
                }
            }
        }
    }

    private static bool IsRoot() => Interop.geteuid() == 0;

    private static string LastLines(byte[] log, int n)
    {
        int len = System.Array.IndexOf(log, (byte)0);
        var text = Encoding.UTF8.GetString(log, 0, len < 0 ? log.Length : len);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return string.Join(Environment.NewLine, lines.Skip(Math.Max(0, lines.Length - n)));
    }

    private static BpfVerifierException Rejected(BpfProgramSpec p, int err, byte[] log)
    {
        int len = System.Array.IndexOf(log, (byte)0);
        var text = Encoding.UTF8.GetString(log, 0, len < 0 ? log.Length : len);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // The failing instruction: the last "N: (op) ..." line before the verdict.
        int? insn = null;
        string? insnLine = null;
        foreach (var line in Enumerable.Reverse(lines))
        {
            int colon = line.IndexOf(':');
            if (colon > 0 && int.TryParse(line.AsSpan(0, colon), out var n) && line.Length > colon + 2 && line[colon + 2] == '(') { insn = n; insnLine = line.Trim(); break; }
        }
        var tail = lines.Skip(Math.Max(0, lines.Length - 12)).ToList();
        string verdict = tail.LastOrDefault(l => !l.StartsWith("processed ", StringComparison.Ordinal) && !l.StartsWith("verification time", StringComparison.Ordinal)) ?? Errno.Message(err);
        var msg = new StringBuilder($"The kernel's verifier rejected program '{p.Name}' ({p.SectionName}): {verdict.Trim()} ({Errno.Name(err)}).");
        if (insnLine is not null) msg.Append($" At instruction {insn}: {insnLine}.");
        msg.Append(Environment.NewLine).Append("Last lines of the verifier log:").Append(Environment.NewLine).Append(string.Join(Environment.NewLine, tail));
        return new BpfVerifierException(msg.ToString(), err, text, insn) { Target = p.Name };
    }

    /// <summary>The program of that name; throws BpfProgramNotFound listing the names there are.</summary>
    public BpfObjectProgram Program(string name) => Programs.FirstOrDefault(p => p.Name == name)
        ?? throw new KernelDebugException($"Object '{Name}' has no program '{name}' (it has {string.Join(", ", Programs.Select(p => p.Name))}).", "BpfProgramNotFound", ErrorCategory.ObjectNotFound) { Target = name };

    /// <summary>The map of that name; throws BpfMapNotFound listing the names there are.</summary>
    public BpfObjectMap Map(string name) => Maps.FirstOrDefault(m => m.Name == name)
        ?? throw new KernelDebugException($"Object '{Name}' has no map '{name}' (it has {string.Join(", ", Maps.Select(m => m.Name))}).", "BpfMapNotFound", ErrorCategory.ObjectNotFound) { Target = name };

    internal void Adopt(IDisposable d) { lock (_owned) _owned.Add(d); }

    /// <summary>The bpffs directory this object's LIBBPF_PIN_BY_NAME maps are pinned in.</summary>
    public string PinRoot { get; private init; } = DefaultPinRoot;

    private readonly List<string> _madePins = new();

    /// <summary>
    /// Removes the pins of this object's maps (all of them, or only those this load made); a map lives on while a
    /// program or another process holds it. Returns the paths removed.
    /// </summary>
    public IReadOnlyList<string> Unpin(bool onlyMade = false)
    {
        var paths = onlyMade ? _madePins.ToList() : Maps.Where(m => m.PinPath is not null).Select(m => m.PinPath!).ToList();
        var removed = new List<string>();
        foreach (var p in paths)
            if (Interop.unlink(p) == 0) removed.Add(p);
        _madePins.Clear();
        return removed;
    }

    /// <summary>A map pinned at the path, when there is one: reused if it has the shape the object declares (libbpf's rule).</summary>
    private static unsafe SafeFileDescriptor? OpenPinned(BpfMapSpec m, string path)
    {
        var bytes = Encoding.UTF8.GetBytes(path + "\0");
        long fd;
        int err;
        fixed (byte* b = bytes)
        {
            var attr = new BpfObjAttr { PathName = (ulong)b };
            err = Interop.TryBpf(Interop.BPF_OBJ_GET, &attr, (uint)sizeof(BpfObjAttr), out fd);
        }
        if (err == Errno.ENOENT) return null;
        if (err != 0) throw new KernelDebugException(err, "bpf(BPF_OBJ_GET)", path) { Remedy = err is Errno.EPERM or Errno.EACCES ? BpfInspector.BpfRemedy : null };
        var handle = new SafeFileDescriptor((int)fd);
        var info = BpfInspector.ReadMapInfo(handle);
        if (info.Type != m.Type || info.KeySize != m.KeySize || info.ValueSize != m.ValueSize || info.MaxEntries != m.MaxEntries || info.MapFlags != m.Flags)
        {
            handle.Dispose();
            throw new KernelDebugException(
                $"The map pinned at {path} ({BpfNames.MapType(info.Type)}, key {info.KeySize} B, value {info.ValueSize} B, {info.MaxEntries} entries, flags 0x{info.MapFlags:x}) does not match map '{m.PinName}' of the object ({BpfNames.MapType(m.Type)}, key {m.KeySize} B, value {m.ValueSize} B, {m.MaxEntries} entries, flags 0x{m.Flags:x}). Remove the pin or load with another -PinPath.",
                "BpfPinnedMapIncompatible", ErrorCategory.ResourceExists) { Target = path };
        }
        return handle;
    }

    private static unsafe void Pin(SafeFileDescriptor fd, string path, string name)
    {
        // As libbpf does, the directory is made when missing (it must be on a BPF file system).
        string dir = System.IO.Path.GetDirectoryName(path) ?? "/";
        try { Directory.CreateDirectory(dir); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        var bytes = Encoding.UTF8.GetBytes(path + "\0");
        int err;
        fixed (byte* b = bytes)
        {
            var attr = new BpfObjAttr { PathName = (ulong)b, BpfFd = (uint)fd.Fd };
            err = Interop.TryBpf(Interop.BPF_OBJ_PIN, &attr, (uint)sizeof(BpfObjAttr), out _);
        }
        if (err == 0) return;
        if (err is Errno.EPERM or Errno.EINVAL or Errno.ENOENT && !IsBpfFs(dir))
            throw new KernelDebugException($"Cannot pin map '{name}' at {path}: {dir} is not on a BPF file system. Pin under /sys/fs/bpf (mount -t bpf bpf /sys/fs/bpf when it is not mounted).",
                "BpfPinPathInvalid", ErrorCategory.InvalidArgument) { Target = path };
        throw new KernelDebugException(err, "bpf(BPF_OBJ_PIN)", path) { Remedy = err is Errno.EPERM or Errno.EACCES ? BpfInspector.BpfRemedy : null };
    }

    private static bool IsBpfFs(string dir)
    {
        // /proc/self/mounts: a bpf mount that holds the directory.
        try
        {
            var full = System.IO.Path.GetFullPath(dir).TrimEnd('/') + "/";
            return File.ReadLines("/proc/self/mounts").Select(l => l.Split(' ')).Any(f => f.Length > 2 && f[2] == "bpf" && full.StartsWith(f[1].TrimEnd('/') + "/", StringComparison.Ordinal));
        }
        catch (IOException) { return false; }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var p in Programs) foreach (var a in p.Attachments.ToList()) a.Dispose();
        lock (_owned)
        {
            for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
            _owned.Clear();
        }
        lock (Loaded) Loaded.Remove(this);
    }

    public override string ToString() => Name;
}
