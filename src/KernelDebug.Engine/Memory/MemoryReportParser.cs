using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace KernelDebug.Memory;

/// <summary>
/// Finds KASAN, KFENCE and UBSAN reports in kernel log lines and turns them into MemoryErrorReport objects.
/// Incremental: Feed each log entry as it comes (for -Follow); a report is returned when its closing line arrives,
/// and Flush returns one left open at the end of the input. Lines of other printk callers interleaved with a report
/// are left out when the log carries caller ids.
/// </summary>
public sealed class MemoryReportParser
{
    private const RegexOptions Opts = RegexOptions.Compiled | RegexOptions.CultureInvariant;
    // 4.3–4.12 put the address in the header ("… in f+0x1/0x2 at addr ffff…"), the first ones said "on address X" without a function.
    private static readonly Regex KasanStart = new(@"^BUG: KASAN: (?<type>.+?) (?:in (?<func>\S+)(?: at addr (?<addr>[0-9a-fA-F]+))?|on address\s+(?<addr>\S+))", Opts);
    private static readonly Regex KfenceStart = new(@"^BUG: KFENCE: (?<type>.+?) in (?<func>\S+)", Opts);
    private static readonly Regex UbsanStart = new(@"^UBSAN: (?<type>.+?) in (?<loc>\S+)", Opts);
    private static readonly Regex Separator = new(@"^={20,}\s*$", Opts);
    private static readonly Regex EndTrace = new(@"^-+\[ end trace", Opts);
    private static readonly Regex KasanAccess = new(@"^(?<acc>Read|Write) (?:of size (?<size>\d+) ?)?(?:at addr (?<addr>[0-9a-fA-Fx]+) )?by task (?<task>.+)/(?<pid>\d+)", Opts);
    private static readonly Regex KasanFree = new(@"^Free of addr (?<addr>[0-9a-fA-Fx]+) by task (?<task>.+)/(?<pid>\d+)", Opts);
    private static readonly Regex KfenceAccess = new(@"^(?<kind>Out-of-bounds|Use-after-free|Invalid) (?<acc>read|write) at (?<addr>0x[0-9a-fA-F]+)", Opts);
    private static readonly Regex KfenceFree = new(@"^Invalid free of (?<addr>0x[0-9a-fA-F]+)", Opts);
    private static readonly Regex KfenceCorrupt = new(@"^Corrupted memory at (?<addr>0x[0-9a-fA-F]+)", Opts);
    private static readonly Regex KfenceObject = new(@"^kfence-#\d+:? \[?(?<start>0x[0-9a-fA-F]+)-(?<end>0x[0-9a-fA-F]+), size=(?<size>\d+), cache=(?<cache>[^\]\s]+)\]?(?: allocated by task (?<pid>\d+))?", Opts);
    private static readonly Regex TrackHeader = new(@"^(?<kind>Allocated|allocated|Freed|freed) by task (?<pid>\d+)(?: on cpu (?<cpu>\d+))?", Opts);
    private static readonly Regex CpuLine = new(@"^CPU: (?<cpu>\d+) (?:UID: \d+ )?PID: (?<pid>\d+) Comm: (?<comm>.+?)(?: (?<taint>Not tainted|Tainted: [^\d]*?))?\s+(?<ver>\d+\.\d+\S*)", Opts);
    // The 4.3–4.9 layout: "Object at X, in cache C size: N", then "Allocated:" / "Freed:" with "PID = N" on the next line,
    // and "Address belongs to variable v+0x18/0x40" for globals.
    private static readonly Regex OldObject = new(@"^Object at (?<addr>[0-9a-fA-F]+), in cache (?<cache>\S+) size: (?<size>\d+)", Opts);
    private static readonly Regex OldTrackHeader = new(@"^(?<kind>Allocated|Freed):$", Opts);
    private static readonly Regex OldTrackPid = new(@"^PID = (?<pid>\d+)$", Opts);
    private static readonly Regex OldVariable = new(@"^Address belongs to variable (?<var>\S+)", Opts);
    private static readonly Regex CallTraceHeader = new(@"^Call [Tt]race:", Opts);
    private static readonly Regex ObjectAt = new(@"^The buggy address belongs to the object at (?<addr>[0-9a-fA-Fx]+)", Opts);
    private static readonly Regex CacheLine = new(@"^which belongs to the cache (?<cache>\S+) of size (?<size>\d+)", Opts);
    private static readonly Regex Located = new(@"^The buggy address is located (?<n>\d+) bytes (?<where>inside of|to the right of|to the left of)", Opts);
    private static readonly Regex Region = new(@"(?<size>\d+)-byte region \[(?<start>[0-9a-fA-Fx]+),", Opts);
    private static readonly Regex ShadowLine = new(@"^\s*>?[0-9a-fA-F]{8,}: ", Opts);
    private static readonly Regex CaretLine = new(@"^\s+\^\s*$", Opts);
    private static readonly Regex StackNoise = new(@"^(<\/?(TASK|IRQ|NMI|SOFTIRQ|EOI)>|RIP:|RSP:|RAX:|RBX:|RCX:|RDX:|RBP:|RSI:|RDI:|R\d+:|Code:|FS:|CS:|CR\d:|DR\d:|PKRU:|\S+ \S+: [0-9a-f]{16})", Opts);

    private static readonly string[] Machinery =
    {
        "dump_stack", "__dump_stack", "dump_stack_lvl", "show_stack", "dump_backtrace", "print_address_description",
        "print_report", "kasan_report", "__kasan_report", "kasan_report_invalid_free", "kasan_check_range", "check_memory_region",
        "ubsan_epilogue", "ubsan_prologue", "handle_overflow", "handle_null_ptr_deref", "handle_misaligned_access", "handle_object_size_mismatch",
        "kfence_report_error", "kfence_handle_page_fault", "report_bug",
    };
    private static readonly string[] MachineryPrefixes = { "__asan_", "__hwasan_", "__kasan_", "kasan_", "__ubsan_handle_", "__kfence_", "kfence_", "__pfx_" };

    private enum Section { None, CallTrace, Alloc, Free, Ignore, Shadow, Variable, UbsanDescription }

    private Builder? _current;

    /// <summary>Feeds one log entry (its lines); returns the reports it completed.</summary>
    public IEnumerable<MemoryErrorReport> Feed(KernelLogEntry entry)
    {
        List<MemoryErrorReport>? done = null;
        int offset = 0;
        foreach (var line in entry.Message.Split('\n'))
        {
            var r = FeedLine(line, entry, offset++ == 0 ? entry.LineNumber : entry.LineNumber + offset - 1);
            if (r is not null) (done ??= new()).Add(r);
        }
        return done ?? (IEnumerable<MemoryErrorReport>)Array.Empty<MemoryErrorReport>();
    }

    /// <summary>A report still open at the end of the input (no closing separator), or null.</summary>
    public MemoryErrorReport? Flush()
    {
        var b = _current;
        _current = null;
        return b?.Build();
    }

    /// <summary>Parses all reports in a sequence of log entries.</summary>
    public static IEnumerable<MemoryErrorReport> Parse(IEnumerable<KernelLogEntry> entries)
    {
        var p = new MemoryReportParser();
        foreach (var e in entries)
            foreach (var r in p.Feed(e)) yield return r;
        if (p.Flush() is { } last) yield return last;
    }

    private MemoryErrorReport? FeedLine(string rawLine, KernelLogEntry entry, int? lineNumber)
    {
        var line = rawLine.TrimEnd();
        var text = line.TrimStart();
        var b = _current;
        // Another task's printk interleaved with the report: not part of it.
        if (b is not null && b.Caller is not null && entry.Caller is not null && entry.Caller != b.Caller) return null;
        // In a log whose lines carry time stamps, a line without one is not the kernel's (a fuzzer's or a shell's output on the console).
        if (b is not null && (b.R.TimeSinceBoot is not null || b.R.Timestamp is not null) && entry.TimeSinceBoot is null && entry.Timestamp is null) return null;

        MemoryErrorReport? finished = null;
        Match m;
        if ((m = KasanStart.Match(text)).Success || (m = KfenceStart.Match(text)).Success || (m = UbsanStart.Match(text)).Success)
        {
            var detector = text.StartsWith("BUG: KASAN", StringComparison.Ordinal) ? MemoryErrorDetector.KASAN
                : text.StartsWith("BUG: KFENCE", StringComparison.Ordinal) ? MemoryErrorDetector.KFENCE : MemoryErrorDetector.UBSAN;
            // Symbolized reports repeat the header once per inlined frame ("BUG: KASAN: … in f file.c:1 [inline]", then
            // "… in g+0x1/0x2 file.c:2"): one report, named by the first (innermost) function.
            if (b is not null && b.HeaderOnly && b.R.Detector == detector) { b.Raw.Add(line); return null; }
            finished = b?.Build();
            _current = b = new Builder(detector, entry, lineNumber);
            b.Start(m);
            b.Raw.Add(line);
            return finished;
        }
        if (b is null) return null;

        if (Separator.IsMatch(text) || EndTrace.IsMatch(text))
        {
            b.Raw.Add(line);
            _current = null;
            return b.Build();
        }
        b.Raw.Add(line);
        if (text.Length > 0) b.HeaderOnly = false;
        b.Handle(line, text);
        return null;
    }

    private sealed class Builder
    {
        public readonly MemoryErrorReport R;
        public readonly List<string> Raw = new();
        public readonly string? Caller;
        public bool HeaderOnly = true;
        private readonly List<KernelReportFrame> _callTrace = new();
        private List<KernelReportFrame>? _alloc, _free;
        private int? _allocPid, _freePid, _allocCpu, _freeCpu;
        private string? _objectCache, _variable;
        private long? _objectSize, _locatedOffset;
        private ulong? _objectAddress;
        private string? _locatedWhere;
        private readonly List<string> _shadow = new();
        private readonly List<string> _description = new();
        private Section _section;

        public Builder(MemoryErrorDetector detector, KernelLogEntry entry, int? lineNumber)
        {
            R = new MemoryErrorReport
            {
                Detector = detector,
                Timestamp = entry.Timestamp,
                TimeSinceBoot = entry.TimeSinceBoot,
                Caller = entry.Caller,
                Source = entry.Source,
                LineNumber = lineNumber,
            };
            Caller = entry.Caller;
        }

        public void Start(Match m)
        {
            var type = m.Groups["type"].Value.Trim();
            switch (R.Detector)
            {
                case MemoryErrorDetector.KASAN:
                    R.BugType = type;
                    if (m.Groups["func"].Success) R.Function = FunctionOf(m.Groups["func"].Value);
                    if (m.Groups["addr"].Success) R.Address = m.Groups["addr"].Value == "(null)" ? 0 : TryHex(m.Groups["addr"].Value);
                    break;
                case MemoryErrorDetector.KFENCE:
                    // "out-of-bounds read", "use-after-free write", "invalid free", "memory corruption", "invalid read".
                    foreach (var acc in new[] { "read", "write" })
                        if (type.EndsWith(" " + acc, StringComparison.Ordinal)) { R.AccessType = char.ToUpperInvariant(acc[0]) + acc[1..]; type = type[..^(acc.Length + 1)]; }
                    if (type == "invalid free") R.AccessType = "Free";
                    R.BugType = type == "invalid" ? "invalid-access" : type.Replace(' ', '-');
                    R.Function = FunctionOf(m.Groups["func"].Value);
                    break;
                default:
                    R.BugType = type;
                    R.Location = m.Groups["loc"].Value;
                    _section = Section.UbsanDescription;
                    break;
            }
        }

        private static string FunctionOf(string text) =>
            KernelFrameParser.TryParse(text, out var f) && f.Symbol is not null ? f.Symbol : text;

        public void Handle(string line, string text)
        {
            Match m;
            // Stack lines first: inside a stack section a frame line is a frame, whatever it looks like.
            if (_section is Section.CallTrace or Section.Alloc or Section.Free or Section.Ignore or Section.Variable)
            {
                if (KernelFrameParser.TryParse(text, out var frame))
                {
                    switch (_section)
                    {
                        case Section.CallTrace: _callTrace.Add(frame); break;
                        case Section.Alloc: _alloc!.Add(frame); break;
                        case Section.Free: _free!.Add(frame); break;
                        case Section.Variable: _variable ??= frame.Symbol; break;
                    }
                    return;
                }
                if (text.Length > 0 && StackNoise.IsMatch(text)) return;
                if ((m = OldTrackPid.Match(text)).Success && _section is Section.Alloc or Section.Free)
                {
                    if (_section == Section.Alloc) _allocPid = Int(m.Groups["pid"].Value); else _freePid = Int(m.Groups["pid"].Value);
                    return;
                }
                _section = Section.None;
            }
            if (_section == Section.Shadow)
            {
                if (ShadowLine.IsMatch(line) || CaretLine.IsMatch(line)) { _shadow.Add(line); return; }
                _section = Section.None;
            }
            if (text.Length == 0)
            {
                if (_section != Section.UbsanDescription) _section = Section.None;
                return;
            }

            if ((m = CpuLine.Match(text)).Success)
            {
                R.Cpu ??= Int(m.Groups["cpu"].Value);
                R.ProcessId ??= Int(m.Groups["pid"].Value);
                R.Task ??= m.Groups["comm"].Value;
                R.KernelVersion ??= m.Groups["ver"].Value;
                if (m.Groups["taint"].Success) R.Tainted ??= m.Groups["taint"].Value == "Not tainted" ? string.Empty : m.Groups["taint"].Value["Tainted: ".Length..].Trim();
                if (_section == Section.UbsanDescription) _section = Section.None;
                return;
            }
            if (_section == Section.UbsanDescription)
            {
                if (CallTraceHeader.IsMatch(text)) _section = Section.None;
                else { _description.Add(text); return; }
            }
            if ((m = KasanAccess.Match(text)).Success)
            {
                R.AccessType = m.Groups["acc"].Value;
                if (m.Groups["size"].Success) R.AccessSize = Int(m.Groups["size"].Value);
                if (m.Groups["addr"].Success) R.Address = TryHex(m.Groups["addr"].Value);
                R.Task = m.Groups["task"].Value;
                R.ProcessId = Int(m.Groups["pid"].Value);
                return;
            }
            if ((m = KasanFree.Match(text)).Success)
            {
                R.AccessType = "Free";
                R.Address = TryHex(m.Groups["addr"].Value);
                R.Task = m.Groups["task"].Value;
                R.ProcessId = Int(m.Groups["pid"].Value);
                return;
            }
            if ((m = KfenceAccess.Match(text)).Success || (m = KfenceFree.Match(text)).Success || (m = KfenceCorrupt.Match(text)).Success)
            {
                R.Address ??= TryHex(m.Groups["addr"].Value);
                // The KFENCE access stack comes right after this line, without a "Call Trace:" header.
                _section = _callTrace.Count == 0 ? Section.CallTrace : Section.Ignore;
                return;
            }
            if ((m = KfenceObject.Match(text)).Success)
            {
                _objectAddress = TryHex(m.Groups["start"].Value);
                _objectSize = Long(m.Groups["size"].Value);
                _objectCache = m.Groups["cache"].Value;
                if (m.Groups["pid"].Success) { _allocPid = Int(m.Groups["pid"].Value); _alloc = new(); _section = Section.Alloc; }
                return;
            }
            if ((m = TrackHeader.Match(text)).Success)
            {
                int? pid = Int(m.Groups["pid"].Value);
                int? cpu = m.Groups["cpu"].Success ? Int(m.Groups["cpu"].Value) : null;
                if (m.Groups["kind"].Value is "Allocated" or "allocated") { _allocPid = pid; _allocCpu = cpu; _alloc = new(); _section = Section.Alloc; }
                else { _freePid = pid; _freeCpu = cpu; _free = new(); _section = Section.Free; }
                return;
            }
            if ((m = OldTrackHeader.Match(text)).Success)
            {
                if (m.Groups["kind"].Value == "Allocated") { _alloc = new(); _section = Section.Alloc; }
                else { _free = new(); _section = Section.Free; }
                return;
            }
            if ((m = OldObject.Match(text)).Success)
            {
                _objectAddress = TryHex(m.Groups["addr"].Value);
                _objectCache = m.Groups["cache"].Value;
                _objectSize = Long(m.Groups["size"].Value);
                return;
            }
            if ((m = OldVariable.Match(text)).Success) { _variable ??= FunctionOf(m.Groups["var"].Value); return; }
            if (CallTraceHeader.IsMatch(text))
            {
                // A second trace (the register dump of an oops that follows, or a page-owner trace) is not the access stack.
                _section = _callTrace.Count == 0 ? Section.CallTrace : Section.Ignore;
                return;
            }
            if ((m = ObjectAt.Match(text)).Success) { _objectAddress = TryHex(m.Groups["addr"].Value); return; }
            if ((m = CacheLine.Match(text)).Success)
            {
                _objectCache = m.Groups["cache"].Value;
                _objectSize = Long(m.Groups["size"].Value);
                return;
            }
            if ((m = Located.Match(text)).Success)
            {
                _locatedOffset = Long(m.Groups["n"].Value);
                _locatedWhere = m.Groups["where"].Value;
                return;
            }
            if ((m = Region.Match(text)).Success)
            {
                _objectSize ??= Long(m.Groups["size"].Value);
                _objectAddress ??= TryHex(m.Groups["start"].Value);
                return;
            }
            if (text.StartsWith("The buggy address belongs to the variable", StringComparison.Ordinal)) { _section = Section.Variable; return; }
            if (text.StartsWith("Memory state around the buggy address", StringComparison.Ordinal)) { _section = Section.Shadow; return; }
            if (text.StartsWith("page last allocated", StringComparison.Ordinal) || text.StartsWith("page last free", StringComparison.Ordinal) ||
                text.EndsWith("potentially related work creation:", StringComparison.Ordinal) || text.StartsWith("Last call_rcu", StringComparison.Ordinal) ||
                text.StartsWith("Second to last call_rcu", StringComparison.Ordinal))
            {
                _section = Section.Ignore;
            }
        }

        public MemoryErrorReport Build()
        {
            R.CallTrace = _callTrace.ToArray();
            if (_alloc is not null) R.AllocatedBy = new MemoryTrack { ProcessId = _allocPid, Cpu = _allocCpu, Stack = _alloc.ToArray(), Task = _allocPid == R.ProcessId ? R.Task : null };
            if (_free is not null) R.FreedBy = new MemoryTrack { ProcessId = _freePid, Cpu = _freeCpu, Stack = _free.ToArray(), Task = _freePid == R.ProcessId ? R.Task : null };
            if (_objectCache is not null || _objectSize is not null || _variable is not null || _objectAddress is not null)
            {
                long? offset = null;
                if (R.Address is { } a && _objectAddress is { } o) offset = (long)(Untag(a) - Untag(o));
                else if (_locatedOffset is { } n)
                    offset = _locatedWhere switch { "to the left of" => -n, "to the right of" => (_objectSize ?? 0) + n, _ => n };
                R.Object = new MemoryObjectInfo { Cache = _objectCache, Size = _objectSize, Address = _objectAddress, Offset = offset, Variable = _variable };
            }
            R.ShadowMemory = _shadow.ToArray();
            if (_description.Count > 0) R.Description = string.Join("\n", _description);

            var top = TopFrames(_callTrace, 3);
            // Reports without a function in the header (3.18's "on address", UBSAN) are named by the first frame past the reporting code.
            R.Function ??= top.FirstOrDefault();
            if (R.Detector == MemoryErrorDetector.UBSAN)
            {
                if (R.BugType.StartsWith("Undefined behaviour", StringComparison.Ordinal))
                {
                    // Kernels before 5.x print one generic header; the handler frame names the check.
                    var handler = _callTrace.FirstOrDefault(f => f.Symbol?.StartsWith("__ubsan_handle_", StringComparison.Ordinal) == true)?.Symbol;
                    if (handler is not null) R.BugType = KernelFrameParser.NormalizeSymbol(handler)["__ubsan_handle_".Length..].Replace('_', '-');
                }
            }
            var fn = R.Function is null ? "?" : KernelFrameParser.NormalizeSymbol(R.Function);
            R.Title = R.AccessType is null or "Free" ? $"{R.Detector}: {R.BugType} in {fn}" : $"{R.Detector}: {R.BugType} {R.AccessType} in {fn}";
            var key = $"{R.Detector}|{R.BugType}|{string.Join("|", top.Count > 0 ? top : new List<string> { fn })}";
            R.Signature = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..16].ToLowerInvariant();
            R.Raw = string.Join("\n", Raw);
            return R;
        }

        /// <summary>The first frames after the reporting machinery: reliable only, clone suffixes dropped, repeats collapsed.</summary>
        private static List<string> TopFrames(IEnumerable<KernelReportFrame> frames, int count)
        {
            var result = new List<string>();
            foreach (var f in frames)
            {
                if (!f.Reliable || f.Symbol is null) continue;
                var s = KernelFrameParser.NormalizeSymbol(f.Symbol);
                if (result.Count == 0 && IsMachinery(s)) continue;
                if (result.Count > 0 && result[^1] == s) continue;
                result.Add(s);
                if (result.Count == count) break;
            }
            return result;
        }

        private static bool IsMachinery(string s) =>
            Array.IndexOf(Machinery, s) >= 0 || MachineryPrefixes.Any(p => s.StartsWith(p, StringComparison.Ordinal));
    }

    private static int? Int(string s) => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;
    private static long? Long(string s) => long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;
    private static ulong? TryHex(string s) =>
        ulong.TryParse(s.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? s.AsSpan(2) : s.AsSpan(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var v) ? v : null;

    // Tag-based KASAN (arm64) prints pointers with the tag in the top byte, and the object's start untagged (0xff).
    private static ulong Untag(ulong address) => (address >> 56) is 0 ? address : address | 0xff00000000000000UL;
}
