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
        ulong? address = m.Groups["addr"].Success ? ulong.Parse(m.Groups["addr"].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture) : null;
        if (m.Groups["raw"].Success)
        {
            frame = new KernelReportFrame
            {
                Address = ulong.Parse(m.Groups["raw"].Value.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                Reliable = !m.Groups["q"].Success,
                Module = module,
            };
            return true;
        }
        // A bare word is not a frame unless something marks it as one.
        if (!hasOffset && !hasFile && !inlined && address is null) return false;
        frame = new KernelReportFrame
        {
            Symbol = m.Groups["sym"].Value,
            Offset = hasOffset ? ulong.Parse(m.Groups["off"].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture) : null,
            Size = hasOffset ? ulong.Parse(m.Groups["size"].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture) : null,
            Module = module,
            Address = address,
            Inlined = inlined,
            Reliable = !m.Groups["q"].Success,
            File = hasFile ? m.Groups["file"].Value : null,
            Line = hasFile ? int.Parse(m.Groups["line"].Value, CultureInfo.InvariantCulture) : null,
        };
        return true;
    }

    private static readonly Regex CompilerSuffix = new(@"(\.(cold|isra|constprop|part|llvm|lto_priv)(\.\d+)?)+$", RegexOptions.Compiled);

    /// <summary>The function without compiler clone suffixes (.cold, .isra.0, .constprop.0, .part.0): equal across builds.</summary>
    public static string NormalizeSymbol(string symbol) => CompilerSuffix.Replace(symbol, string.Empty);
}
