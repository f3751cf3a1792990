using System.Buffers.Binary;
using KernelDebug.Perf.Unwind;

namespace KernelDebug.Perf
{
    /// <summary>The DWARF call graphs of the decoder: user stacks unwound from PERF_SAMPLE_REGS_USER and PERF_SAMPLE_STACK_USER.</summary>
    public sealed partial class PerfDataDecoder
    {
        private const ulong DwarfSampleBits = PerfFormat.SampleRegsUser | PerfFormat.SampleStackUser;

        /// <summary>perf script's default --max-stack (PERF_MAX_STACK_DEPTH): frames unwound at most per sample.</summary>
        private const int MaxUnwoundFrames = 127;

        private DwarfUnwinder? _unwinder;
        private bool _unwinderChecked;
        private UnwindArch _unwindArch;
        private readonly ulong[] _unwound = new ulong[MaxUnwoundFrames];
        private readonly Dictionary<string, CallFrameInfo?> _cfiFiles = new(StringComparer.Ordinal);
        private MapList? _unwindMaps;
        private DwarfUnwinder.Locator? _locator;
        private static readonly Lazy<byte[]?> OwnVdso = new(EhFrameSource.ReadOwnVdso);

        /// <summary>Samples whose user stack was unwound, and frames found (for the bench and tests).</summary>
        public long UnwoundSamples { get; private set; }
        public long UnwoundFrames { get; private set; }

        /// <summary>
        /// Reads the branch stack, user registers and user stack that follow the call chain at p, unwinds the user
        /// stack and appends its frames to _chainBuffer after the count already there; returns the new count.
        /// </summary>
        private int UnwindUser(long off, ReadOnlySpan<byte> r, int p, Layout layout, int pid, MapList? maps, int count)
        {
            ulong st = layout.SampleType;
            if ((st & PerfFormat.SampleRaw) != 0) p += 4 + (int)BinaryPrimitives.ReadUInt32LittleEndian(r[p..]);
            if ((st & PerfFormat.SampleBranchStack) != 0)
            {
                ulong nr = U64(r, p);
                p += 8;
                if ((layout.Attr.Attr.BranchSampleType & PerfFormat.BranchHwIndex) != 0) p += 8;
                if (nr > (ulong)((r.Length - p) / 24)) throw PerfDataFile.Corrupt(_file.Path, $"the sample at offset {off} claims {nr} branch entries");
                p += (int)nr * 24;
            }
            ulong abi = U64(r, p);
            p += 8;
            ulong mask = layout.Attr.Attr.SampleRegsUser;
            int regBytes = abi == 0 ? 0 : 8 * System.Numerics.BitOperations.PopCount(mask);
            if (regBytes > r.Length - p) throw PerfDataFile.Corrupt(_file.Path, $"the sample at offset {off} is shorter than its user registers");
            var regs = r.Slice(p, regBytes);
            p += regBytes;
            ulong stackSize = U64(r, p);
            p += 8;
            if (stackSize == 0 || abi == 0) return count; // a kernel thread, or no user context
            if (stackSize > (ulong)(r.Length - p - 8)) throw PerfDataFile.Corrupt(_file.Path, $"the sample at offset {off} claims a {stackSize}-byte user stack");
            ulong dynSize = U64(r, p + (int)stackSize);
            // No stack copied (the kernel could not read it, e.g. during execve): perf unwinds nothing, not even the pc.
            if (dynSize == 0) return count;
            var stack = r.Slice(p, (int)Math.Min(stackSize, dynSize));
            if (Unwinder() is not { } unwinder) return count;
            _unwindMaps = maps;
            _locator ??= LocateCfi;
            int n = unwinder.Unwind(regs, mask, stack, _locator, _unwound);
            if (n == 0) return count;
            UnwoundSamples++;
            UnwoundFrames += n;
            if (_chainBuffer.Length < count + n) Array.Resize(ref _chainBuffer, count + n);
            for (int i = 0; i < n; i++) _chainBuffer[count++] = ResolveUser(pid, maps, _unwound[i]);
            return count;
        }

        /// <summary>PERF_SAMPLE_BRANCH_CALL_STACK: the branch stack is the hardware's call stack (perf's evsel__has_branch_callstack).</summary>
        private static bool LbrCallStack(Layout layout) =>
            (layout.SampleType & PerfFormat.SampleBranchStack) != 0 && (layout.Attr.Attr.BranchSampleType & PerfFormat.BranchCallStack) != 0;

        /// <summary>
        /// An LBR call stack's user frames, as perf script (callee order, no stitching) gives them: the kernel part of
        /// the call chain up to its user context, then the target of the newest call (where the sampled function
        /// starts), then each call's source address, newest first. Returns the new count.
        /// </summary>
        private int LbrUser(long off, ReadOnlySpan<byte> r, int p, Layout layout, int pid, MapList? maps, int count)
        {
            if ((layout.SampleType & PerfFormat.SampleRaw) != 0) p += 4 + (int)BinaryPrimitives.ReadUInt32LittleEndian(r[p..]);
            ulong nr = U64(r, p);
            p += 8;
            if ((layout.Attr.Attr.BranchSampleType & PerfFormat.BranchHwIndex) != 0) p += 8;
            if (nr > (ulong)((r.Length - p) / 24)) throw PerfDataFile.Corrupt(_file.Path, $"the sample at offset {off} claims {nr} branch entries");
            if (nr == 0) return count;
            int n = (int)Math.Min(nr, (ulong)MaxUnwoundFrames);
            if (_chainBuffer.Length < count + n + 1) Array.Resize(ref _chainBuffer, count + n + 1);
            _chainBuffer[count++] = ResolveUser(pid, maps, U64(r, p + 8));
            for (int i = 0; i < n; i++) _chainBuffer[count++] = ResolveUser(pid, maps, U64(r, p + 24 * i));
            return count;
        }

        /// <summary>The unwinder for the recording's architecture (HEADER_ARCH, else this host's), or null for one it does not know.</summary>
        private DwarfUnwinder? Unwinder()
        {
            if (_unwinderChecked) return _unwinder;
            _unwinderChecked = true;
            var arch = UnwindRegisters.FromUname(_file.FeatureString(PerfFormat.FeatArch)) ?? System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
            {
                System.Runtime.InteropServices.Architecture.X64 => UnwindArch.X64,
                System.Runtime.InteropServices.Architecture.Arm64 => UnwindArch.Arm64,
                _ => (UnwindArch?)null,
            };
            if (arch is { } a)
            {
                _unwindArch = a;
                _unwinder = new DwarfUnwinder(a);
            }
            else _warnings.Add($"'{_file.Path}' has DWARF call graphs of an architecture ({_file.FeatureString(PerfFormat.FeatArch)}) the unwinder does not know (x86_64 and aarch64): their user frames are left out.");
            return _unwinder;
        }

        private CallFrameInfo? LocateCfi(ulong ip, out ulong link)
        {
            link = 0;
            if (_unwindMaps?.Find(ip) is not { } map || map.Anonymous) return null;
            if (!map.CfiLooked)
            {
                map.Cfi = CfiOf(map);
                map.CfiLooked = true;
            }
            if (map.Cfi is not { } cfi) return null;
            // perf maps [vdso] from its start whatever the record's pgoff says.
            ulong fileOffset = map.Path == "[vdso]" ? ip - map.Start : ip - map.Start + map.Pgoff;
            if (cfi.Loads.ToAddress(fileOffset) is not { } address) return null;
            link = address;
            return cfi;
        }

        /// <summary>
        /// The CFI of a mapped file: the file whose build-id is the recorded one (the same candidates as its symbols),
        /// the file at its path when none was recorded, this process's vDSO for [vdso].
        /// </summary>
        private CallFrameInfo? CfiOf(Map map)
        {
            if (map.Path == "[vdso]")
                return Cfi("[vdso]", () => OwnVdso.Value is { } image ? EhFrameSource.FromImage(image) : EhFrameSource.Empty);
            if (map.Path.Length == 0 || map.Path[0] == '[' || map.Path.StartsWith("//", StringComparison.Ordinal)) return null;
            string? id = map.BuildId ?? (_file.BuildIds.TryGetValue(map.Path, out var b) ? b : null);
            if (id is null || id.Length < 3) return Cfi(map.Path, () => EhFrameSource.Load(map.Path));
            foreach (var candidate in SymbolCandidates(map.Path, id))
            {
                if (!File.Exists(candidate)) continue;
                var cfi = Cfi(candidate, () => EhFrameSource.Load(candidate));
                if (cfi?.BuildId == id) return cfi;
            }
            return null;
        }

        private CallFrameInfo? Cfi(string key, Func<EhFrameSource> load)
        {
            if (_cfiFiles.TryGetValue(key, out var known)) return known;
            var source = load();
            var cfi = (source.EhFrame ?? source.DebugFrame) is null || source.Arch != _unwindArch ? null : new CallFrameInfo(source);
            _cfiFiles[key] = cfi;
            return cfi;
        }
    }
}
