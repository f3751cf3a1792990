using System.Management.Automation;
using KernelDebug.Common;
using KernelDebug.Memory;

namespace KernelDebug.Commands;

/// <summary>What Get-KernelLog and Get-KasanReport share: resolving saved log paths and reading /dev/kmsg, once or following it.</summary>
public abstract class KernelLogCommandBase : PSCmdlet
{
    private PipelinePump<object>? _pump;

    /// <summary>
    /// The paths as file-system paths, wildcards expanded (like Get-Content -Path); a missing file, a pattern that
    /// matches none, or a directory is a non-terminating error.
    /// </summary>
    protected IEnumerable<(string Given, string Resolved)> ResolveLogFiles(IEnumerable<string> paths)
    {
        foreach (var p in paths)
        {
            var resolved = new List<string>();
            try
            {
                if (WildcardPattern.ContainsWildcardCharacters(p)) resolved.AddRange(SessionState.Path.GetResolvedProviderPathFromPSPath(p, out _));
                else resolved.Add(SessionState.Path.GetUnresolvedProviderPathFromPSPath(p));
            }
            catch (ItemNotFoundException) { }
            catch (Exception e) when (e is ArgumentException or ProviderNotFoundException or ProviderInvocationException) { this.WriteKernelError(e, p); continue; }
            if (resolved.Count == 0)
            {
                WriteError(new ErrorRecord(new FileNotFoundException($"No log file matches '{p}'.", p), "LogFileNotFound", ErrorCategory.ObjectNotFound, p));
                continue;
            }
            foreach (var r in resolved)
            {
                if (Directory.Exists(r))
                    WriteError(new ErrorRecord(new IOException($"'{r}' is a directory; give a saved log file."), "LogFileIsDirectory", ErrorCategory.InvalidArgument, p));
                else if (!File.Exists(r))
                    WriteError(new ErrorRecord(new FileNotFoundException($"Cannot find the log file '{r}'.", r), "LogFileNotFound", ErrorCategory.ObjectNotFound, p));
                else yield return (p, r);
            }
        }
    }

    /// <summary>
    /// Hands every record of /dev/kmsg to onEntry on the pipeline thread; with follow, keeps waiting for new ones until
    /// Ctrl+C. Overwritten records (EPIPE) become warnings.
    /// </summary>
    protected void ReadLiveLog(bool follow, Action<KernelLogEntry> onEntry)
    {
        KernelLogReader reader;
        try { reader = new KernelLogReader(); }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e, KernelLogReader.DevicePath); return; }
        using (reader)
        {
            try
            {
                if (!follow)
                {
                    while (reader.ReadNext() is { } entry) onEntry(entry);
                    int lost = reader.TakeLostCount();
                    if (lost > 0) WriteWarning(KernelLogReader.LostRecordsMessage(lost));
                    return;
                }
                using var pump = _pump = new PipelinePump<object>(1024);
                var producer = pump.RunProducer(reader.Follow);
                try
                {
                    foreach (var item in pump.Drain())
                    {
                        if (item is KernelLogEntry entry) onEntry(entry);
                        else WriteWarning((string)item);
                    }
                }
                finally
                {
                    pump.Cancel();
                    producer.Wait(TimeSpan.FromSeconds(2)); // it polls in 200 ms steps; the reader must outlive it
                    _pump = null;
                }
            }
            catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e, KernelLogReader.DevicePath); }
        }
    }

    protected override void StopProcessing() => _pump?.Cancel();
}
