# The KernelDebug health-check suite (about_KernelDebug_HealthChecks). Invoke-KernelDebugHealthCheck runs it; so can
# Invoke-Pester directly, with the same parameters as -Data:
#   $c = New-PesterContainer -Path (Join-Path (Get-Module KernelDebug).ModuleBase KernelDebug.HealthCheck.Tests.ps1) -Data @{ RequiredCapability = 'Uprobes' }
#   Invoke-Pester -Container $c -Output Detailed
# A check whose detector or feature is missing is Skipped with the reason (Failed with -RequireDetector), never Passed.
param(
    # The module to test with (default: KernelDebug from the module path, or the one already loaded).
    [string] $ModulePath,
    # Capabilities the runbook needs (Get-KernelDebugCapability names).
    [string[]] $RequiredCapability = @(),
    # tracefs instances the runbook recorded into, still present: their per-CPU stats must show no lost event.
    [string[]] $Instance = @(),
    # A missing memory-error detector fails the check instead of skipping it.
    [bool] $RequireDetector = $false
)

BeforeDiscovery {
    $script:Detectors = @(
        @{ Name = 'KASAN'; Capability = 'Kasan' }
        @{ Name = 'KFENCE'; Capability = 'Kfence' }
        @{ Name = 'UBSAN'; Capability = 'Ubsan' }
    )
}

BeforeAll {
    if ($ModulePath) { Import-Module $ModulePath -ErrorAction Stop }
    elseif (-not (Get-Module KernelDebug)) { Import-Module KernelDebug -ErrorAction Stop }
    . (Join-Path (Get-Module KernelDebug).ModuleBase 'KernelDebug.Memory.Pester.ps1')

    # Skipped with the reason when the capability is missing, or failed with it under -RequireDetector.
    function Assert-Detector([string] $Capability, [bool] $Required) {
        $cap = Get-KernelDebugCapability -Name $Capability
        if ($cap.Available) { return }
        $why = "$($cap.Name) is not available: $($cap.Detail). $($cap.Remedy)".Trim()
        if ($Required) { throw $why }
        Set-ItResult -Skipped -Because $why
    }
}

Describe 'Memory error reports' -Tag MemoryReports {
    It '<Name>: no report since boot' -ForEach $Detectors {
        Assert-Detector $Capability $RequireDetector
        Assert-Detector KernelLog $true
        Get-KasanReport -Detector $Name -RequireDetector | Should -HaveNoMemoryErrors
    }

    It 'kmemleak: no suspected leak' {
        Assert-Detector Kmemleak $RequireDetector
        Get-KmemleakReport | Should -HaveNoMemoryErrors
    }
}

Describe 'Nothing left behind' -Tag Leftovers {
    BeforeAll {
        # Objects named for a process that is certainly gone (the same test the module's own sweep uses).
        $script:Orphans = @([KernelDebug.Host.OrphanSweep]::Find($null, $null))
        function Format-Orphan($o) { "$($o.Name) left by process $($o.OwnerProcessId), $($o.Why)" }
    }

    It 'no kerneldebug tracefs instance of a process that is gone' {
        $left = @($Orphans | Where-Object Kind -eq 'instance' | ForEach-Object { Format-Orphan $_ })
        $left | Should -BeNullOrEmpty -Because "these instances were left behind: $($left -join '; '). Remove them with Remove-FtraceInstance (any KernelDebug cmdlet that makes an instance also sweeps them)"
    }

    It 'no kerneldebug probe or dynamic event of a process that is gone' {
        $left = @($Orphans | Where-Object Kind -eq 'probe' | ForEach-Object { Format-Orphan $_ })
        $left | Should -BeNullOrEmpty -Because "these probes were left behind: $($left -join '; '). Remove them with Remove-DynamicEvent -Force"
    }
}

Describe 'No lost trace events' -Tag LostEvents {
    It 'lost no event in <_>' -ForEach $(if ($Instance) { $Instance } else { , '(no instance named)' }) {
        if (-not $Instance) { Set-ItResult -Skipped -Because 'no -Instance named: give the instances the runbook recorded into, before it removes them' }
        $i = Get-FtraceInstance -Name $_ -ErrorAction Stop
        $lost = foreach ($cpu in $i.Cpus) {
            $s = [KernelDebug.Ftrace.TraceStreamReader]::ReadCpuStats($i, $cpu)
            if ($s.Item1 -or $s.Item2) { "cpu$($cpu): $($s.Item1) overwritten (overrun), $($s.Item2) dropped" }
        }
        $lost | Should -BeNullOrEmpty -Because "the ring buffer of $_ lost events ($($lost -join '; ')): read faster, filter, or use a larger buffer (New-FtraceInstance -BufferSizeKb)"
    }
}

Describe 'Required capabilities' -Tag Capabilities {
    It '<_> is available' -ForEach $(if ($RequiredCapability) { $RequiredCapability } else { , '(none declared)' }) {
        if (-not $RequiredCapability) { Set-ItResult -Skipped -Because 'the runbook declared no -RequiredCapability' }
        $cap = Get-KernelDebugCapability -Name $_
        $cap | Should -Not -BeNullOrEmpty -Because "$_ is not a capability name"
        $cap.Available | Should -BeTrue -Because "$($cap.Name) is required: $($cap.Detail). $($cap.Remedy)".Trim()
    }
}
