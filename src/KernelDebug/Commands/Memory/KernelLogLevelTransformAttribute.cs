using System.Collections;
using System.Management.Automation;

namespace KernelDebug.Commands;

/// <summary>
/// Lets -Level take dmesg's range forms besides plain names: "err+" is err and every more severe level
/// (emerg … err), "+warn" is warn and every less severe one (warn … debug).
/// </summary>
public sealed class KernelLogLevelTransformAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        var items = inputData is IEnumerable e and not string ? e.Cast<object>() : new[] { inputData };
        var result = new List<object>();
        foreach (var raw in items)
        {
            var item = raw is PSObject pso ? pso.BaseObject : raw;
            if (item is string s)
            {
                s = s.Trim();
                if (s.EndsWith('+') && Enum.TryParse<KernelLogLevel>(s[..^1], true, out var upTo))
                {
                    for (int l = 0; l <= (int)upTo; l++) result.Add((KernelLogLevel)l);
                    continue;
                }
                if (s.StartsWith('+') && Enum.TryParse<KernelLogLevel>(s[1..], true, out var from))
                {
                    for (int l = (int)from; l <= (int)KernelLogLevel.Debug; l++) result.Add((KernelLogLevel)l);
                    continue;
                }
            }
            result.Add(raw!);
        }
        return result.ToArray();
    }
}
