using System.Management.Automation;
using KernelDebug.Memory;

namespace KernelDebug.Commands;

/// <summary>Sets kmemleak's run-time parameters: scan period, task stack scanning, the automatic scan thread; or turns it off.</summary>
[Cmdlet(VerbsCommon.Set, "KmemleakOption", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = SettingsSet)]
public sealed class SetKmemleakOptionCommand : PSCmdlet
{
    private const string SettingsSet = "Settings";
    private const string DisableSet = "Disable";

    /// <summary>Seconds between automatic scans; 0 stops automatic scanning.</summary>
    [Parameter(ParameterSetName = SettingsSet)]
    [ValidateRange(0, int.MaxValue)]
    public int ScanInterval { get; set; }

    [Parameter(ParameterSetName = SettingsSet)]
    [ValidateSet("on", "off")]
    public string? Stack { get; set; }

    [Parameter(ParameterSetName = SettingsSet)]
    [ValidateSet("on", "off")]
    public string? AutoScan { get; set; }

    /// <summary>Turns kmemleak off until reboot (it cannot be turned on again).</summary>
    [Parameter(Mandatory = true, ParameterSetName = DisableSet)]
    public SwitchParameter Disable { get; set; }

    /// <summary>With -Disable: do not ask for confirmation.</summary>
    [Parameter(ParameterSetName = DisableSet)]
    public SwitchParameter Force { get; set; }

    // With ConfirmImpact High, ShouldProcess asks unless -Confirm:$false or $ConfirmPreference is None.
    private bool ShouldProcessAsked()
    {
        if (MyInvocation.BoundParameters.TryGetValue("Confirm", out var confirm))
            return ((SwitchParameter)confirm).IsPresent;
        return SessionState.PSVariable.GetValue("ConfirmPreference") is not ConfirmImpact.None;
    }

    protected override void EndProcessing()
    {
        var commands = new List<string>();
        if (Disable) commands.Add("off");
        if (AutoScan is not null) commands.Add($"scan={AutoScan}");
        if (MyInvocation.BoundParameters.ContainsKey(nameof(ScanInterval))) commands.Add($"scan={ScanInterval}");
        if (Stack is not null) commands.Add($"stack={Stack}");
        if (commands.Count == 0)
        {
            this.ThrowKernelError(new ArgumentException("Name at least one setting: -ScanInterval, -Stack, -AutoScan or -Disable."));
            return;
        }
        try
        {
            var path = Kmemleak.ControlFilePath(WriteVerbose);
            foreach (var c in commands)
            {
                if (!ShouldProcess(path, $"write '{c}'")) continue;
                // Turning kmemleak off cannot be undone until reboot: ask even when -Confirm:$false or
                // $ConfirmPreference = 'None' kept ShouldProcess from asking; only -Force skips the question.
                if (c == "off" && !Force && !ShouldProcessAsked() && !ShouldContinue("kmemleak stays off until the next reboot, and its current reports become unreadable once it frees its objects. Turn it off?", "Disable kmemleak"))
                    continue;
                Kmemleak.Command(path, c);
            }
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e); }
    }
}
