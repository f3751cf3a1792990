using System.Collections;
using System.Management.Automation;

namespace KernelDebug.Commands;

/// <summary>
/// Lets -Inject take hashtables (@{ Syscall='openat'; Error='ENOENT'; When='2+' }) and strace's own text
/// ('openat:error=ENOENT:when=2+') besides SyscallInjection objects. Names are checked when tracing starts.
/// </summary>
public sealed class SyscallInjectionTransformationAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        var input = inputData is PSObject p ? p.BaseObject : inputData;
        var items = input is IEnumerable e and not string and not IDictionary ? e.Cast<object>() : new[] { input };
        var result = new List<SyscallInjection>();
        foreach (var raw in items)
        {
            var item = raw is PSObject pso ? pso.BaseObject : raw;
            try
            {
                result.Add(item switch
                {
                    SyscallInjection i => i,
                    IDictionary d => SyscallInjection.FromDictionary(d),
                    string s => SyscallInjection.Parse(s),
                    _ => throw new ArgumentException($"-Inject takes hashtables, SyscallInjection objects or strace's inject text, not {item?.GetType().Name ?? "null"}."),
                });
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidCastException or OverflowException)
            {
                throw new ArgumentTransformationMetadataException(ex.Message, ex);
            }
        }
        return result.ToArray();
    }
}
