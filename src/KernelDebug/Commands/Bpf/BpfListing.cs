using System.Management.Automation;

namespace KernelDebug.Commands;

/// <summary>The shared loop of the Get-Bpf* cmdlets: all objects, or each requested id with a non-terminating error for an id that is gone.</summary>
internal static class BpfListing
{
    public static void Emit<T>(PSCmdlet cmdlet, uint[]? ids, Func<IReadOnlyCollection<uint>?, IEnumerable<T>> list, Func<T, bool> keep)
    {
        try
        {
            if (ids is null)
            {
                foreach (var o in list(null)) if (keep(o)) cmdlet.WriteObject(o);
                return;
            }
            foreach (var id in ids)
            {
                try
                {
                    foreach (var o in list(new[] { id })) if (keep(o)) cmdlet.WriteObject(o);
                }
                catch (Exception e) when (CmdletErrors.IsExpected(e)) { cmdlet.WriteKernelError(e, id); }
            }
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { cmdlet.ThrowKernelError(e); }
    }

    /// <summary>The ids of -Id and of the pipeline-bound parameter together; null (all objects) when neither is given.</summary>
    public static uint[]? Union(uint[]? a, uint[]? b) => a is null && b is null ? null : (a ?? Array.Empty<uint>()).Concat(b ?? Array.Empty<uint>()).Distinct().ToArray();

    public static Func<string, bool> Matcher(string? glob)
    {
        if (glob is null) return _ => true;
        var p = WildcardPattern.Get(glob, WildcardOptions.IgnoreCase);
        return p.IsMatch;
    }
}
