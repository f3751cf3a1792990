using System.Globalization;
using System.Management.Automation;

namespace KernelDebug.Commands.Probes;

/// <summary>
/// Lets an address or offset parameter (ulong) take what a user types for one: PowerShell reads the hex literal
/// 0xffffffff81000000 as a negative Int64 and 0xffffffff as Int32 -1, which would not bind to ulong; their bits are
/// the address meant. Strings in hex ("0x...", as /proc/kallsyms or perf print them) or decimal are taken too.
/// </summary>
public sealed class AddressTransformationAttribute : ArgumentTransformationAttribute
{
    public override object? Transform(EngineIntrinsics engineIntrinsics, object? inputData)
    {
        var item = inputData is PSObject pso ? pso.BaseObject : inputData;
        return item switch
        {
            int i when i < 0 => (ulong)(uint)i,
            long l when l < 0 => (ulong)l,
            string s when Parse(s.Trim()) is { } v => v,
            _ => inputData,
        };
    }

    private static ulong? Parse(string s)
    {
        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var h) ? h : null;
        return ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var d) ? d : null;
    }
}
