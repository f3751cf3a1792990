using System.Globalization;
using System.Text.RegularExpressions;

namespace KernelDebug.Memory;

/// <summary>
/// Parses one stack frame line in the forms the kernel and syzbot print:
/// "func+0x1a/0x40", "? func+0x1a/0x40", "func+0x1a/0x40 [module]", "[&lt;ffffffff815e6cd6&gt;] func+0x45/0x5f",
/// "[&lt;ffffffff815e6cd6&gt;] ? func+…", "func+0x1a/0x40 mm/slub.c:4975", "func mm/slub.c:4975 [inline]",
/// and a bare "0xffffffffc0598058" (a frame in freed module text).
/// </summary>
public static class KernelFrameParser
{
    private static readonly Regex Frame = new(
        @"^(?:\[<(?<addr>[0-9a-fA-F]+)>\]\s*)?(?<q>\?\s+)?" +
        @"(?:(?<raw>0x[0-9a-fA-F]+)|(?<sym>[A-Za-z_.$][\w.$]*)(?:\+0x(?<off>[0-9a-fA-F]+)/0x(?<size>[0-9a-fA-F]+))?)" +
        @"(?:\s+\[(?<mod>[\w-]+)\])?" +
        @"(?:\s+(?<file>[\w./+-]+):(?<line>\d+)(?::\d+)?)?" +
        @"(?:\s+\[(?<mod2>[\w-]+)\])?" +
        @"(?<inl>\s+\[inline\])?\s*$",
        RegexOptions.Compiled | RegexOptions.CultureInvariant);

    public static bool TryParse(string text, out KernelReportFrame frame)
    {
        frame = null!;
        var line = text.Trim();
        if (line.Length == 0) return false;
        var m = Frame.Match(line);
        if (!m.Success) return false;
        bool hasOffset = m.Groups["off"].Success, hasFile = m.Groups["file"].Success, inlined = m.Groups["inl"].Success;
        var module = m.Groups["mod"].Success ? m.Groups["mod"].Value : m.Groups["mod2"].Success ? m.Groups["mod2"].Value : null;
        if (module == "inline") { module = null; inlined = true; }
        // Numbers too large for their type (a corrupt or hostile line) make the line no frame, never an exception.
        ulong? address = null;
        if (m.Groups["addr"].Success)
        {
            if (!TryHex(m.Groups["addr"].Value, out ulong a)) return false;
            address = a;
        }
        if (m.Groups["raw"].Success)
        {
            if (!TryHex(m.Groups["raw"].Value[2..], out ulong raw)) return false;
            frame = new KernelReportFrame
            {
                Address = raw,
                Reliable = !m.Groups["q"].Success,
                Module = module,
            };
            return true;
        }
        // A bare word is not a frame unless something marks it as one.
        if (!hasOffset && !hasFile && !inlined && address is null) return false;
        ulong off = 0, size = 0;
        int lineNo = 0;
        if (hasOffset && !(TryHex(m.Groups["off"].Value, out off) && TryHex(m.Groups["size"].Value, out size))) return false;
        if (hasFile && !int.TryParse(m.Groups["line"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out lineNo)) return false;
        frame = new KernelReportFrame
        {
            Symbol = m.Groups["sym"].Value,
            Offset = hasOffset ? off : null,
            Size = hasOffset ? size : null,
            Module = module,
            Address = address,
            Inlined = inlined,
            Reliable = !m.Groups["q"].Success,
            File = hasFile ? m.Groups["file"].Value : null,
            Line = hasFile ? lineNo : null,
        };
        return true;
    }

    private static bool TryHex(string s, out ulong value) => ulong.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);

    // The allocator, free and stack-saving code every allocation and free track starts in (kmalloc_trace, __kmalloc_noprof,
    // kmem_cache_alloc_lru, slab_post_alloc_hook, kasan_save_stack, __kmem_cache_free, …): not where the caller is.
    private static readonly Regex AllocatorFrame = new(
        @"^_*(kmemleak\w*|kmalloc\w*|kmem_cache\w*|kzalloc\w*|kcalloc\w*|krealloc\w*|kvrealloc\w*|kvmalloc\w*|kvzalloc\w*|kvfree\w*|kfree|kfree_sensitive|" +
        @"slab\w*|kasan\w*|kfence\w*|save_stack\w*|stack_trace\w*|stack_depot\w*|set_track|do_kmalloc\w*|vmalloc\w*|vzalloc\w*|alloc_pages\w*|" +
        @"free_pages\w*|alloc_slab\w*|memcg_slab\w*|mempool_alloc\w*|mempool_free\w*|kmemdup\w*|kstrdup\w*|cache_alloc\w*|kmem_\w*)$",
        RegexOptions.Compiled | RegexOptions.CultureInvariant);

    /// <summary>True for a frame of the allocator or of KASAN's stack saving.</summary>
    public static bool IsAllocatorFrame(string symbol) => AllocatorFrame.IsMatch(NormalizeSymbol(symbol));

    /// <summary>
    /// The first reliable frame outside the allocator: who allocated or freed. A bare address counts (code of a module
    /// whose init text is already freed, as kmemleak-test's leaks show).
    /// </summary>
    public static KernelReportFrame? FirstCaller(IEnumerable<KernelReportFrame> stack) =>
        stack.FirstOrDefault(f => f.Reliable && (f.Symbol is { } s ? !IsAllocatorFrame(s) : f.Address is not null));

    private static readonly Regex CompilerSuffix = new(@"(\.(cold|isra|constprop|part|llvm|lto_priv)(\.\d+)?)+$", RegexOptions.Compiled);

    /// <summary>The function without compiler clone suffixes (.cold, .isra.0, .constprop.0, .part.0): equal across builds.</summary>
    public static string NormalizeSymbol(string symbol) => CompilerSuffix.Replace(symbol, string.Empty);
}
