# Invoke-KernelDebugHealthCheck and its shipped suite (module/KernelDebug.HealthCheck.Tests.ps1): a check whose detector
# or feature is missing is never passed; leftovers, lost events and declared capabilities are found on the live kernel.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:MemoryChecks = @(
        @{ Test = 'KASAN: no report since boot'; Capability = 'Kasan' }
        @{ Test = 'KFENCE: no report since boot'; Capability = 'Kfence' }
        @{ Test = 'UBSAN: no report since boot'; Capability = 'Ubsan' }
        @{ Test = 'kmemleak: no suspected leak'; Capability = 'Kmemleak' }
    )
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Xml = Join-Path $TestDrive 'health.xml'
    $script:All = @(Invoke-KernelDebugHealthCheck -RequiredCapability TraceEvents, Kprobes -OutputPath $Xml)
    function Get-Result([object[]] $Results, [string] $Name) { $Results | Where-Object Name -eq $Name }
    function Get-DeadPid {
        $p = Start-Process /bin/true -PassThru
        $p.WaitForExit()
        $p.Id
    }
}

Describe 'Invoke-KernelDebugHealthCheck' {
    It 'returns one result per test of the suite, with the host name' {
        $All.Count | Should -Be 9 -Because '4 memory checks, 2 leftover checks, the skipped lost-event check and the 2 capabilities named'
        $All | ForEach-Object { $_.PSObject.TypeNames[0] | Should -Be 'KernelDebug.HealthCheckResult' }
        ($All.ComputerName | Sort-Object -Unique) | Should -Be ([Environment]::MachineName)
        ($All.Check | Sort-Object -Unique) | Should -Be @('Capabilities', 'Leftovers', 'LostEvents', 'MemoryReports')
    }

    It '<Test> is not passed when the kernel lacks <Capability>, and says why' -ForEach $MemoryChecks {
        $cap = Get-KernelDebugCapability -Name $Capability
        $r = Get-Result $All $Test
        $r | Should -HaveCount 1
        if ($cap.Available) {
            $r.Result | Should -BeIn @('Passed', 'Failed') -Because "$Capability is available: $($cap.Detail)"
        }
        else {
            $r.Result | Should -Be 'Skipped'
            $r.Reason | Should -BeLike "$Capability is not available: $($cap.Detail)*"
        }
    }

    It 'fails, not skips, a missing detector with -RequireDetector' {
        $r = @(Invoke-KernelDebugHealthCheck -Check MemoryReports -RequireDetector)
        $r | Should -HaveCount 4
        foreach ($m in $MemoryChecks) {
            $cap = Get-KernelDebugCapability -Name $m.Capability
            $one = Get-Result $r $m.Test
            if (-not $cap.Available) {
                $one.Result | Should -Be 'Failed'
                $one.Reason | Should -BeLike "*$($m.Capability) is not available*"
            }
            else { $one.Result | Should -Not -Be 'Skipped' }
        }
    }

    It 'passes a capability the host has and fails one it lacks, with the remedy' {
        (Get-Result $All 'TraceEvents is available').Result | Should -Be 'Passed'
        $kprobes = Get-KernelDebugCapability -Name Kprobes
        $r = Get-Result $All 'Kprobes is available'
        if ($kprobes.Available) { $r.Result | Should -Be 'Passed' }
        else {
            $r.Result | Should -Be 'Failed'
            $r.Reason | Should -BeLike "*Kprobes is required: $($kprobes.Detail)*$($kprobes.Remedy)*"
        }
    }

    It 'skips the capability and lost-event checks with the reason when the runbook names none' {
        $r = @(Invoke-KernelDebugHealthCheck -Check Capabilities, LostEvents)
        $r | Should -HaveCount 2
        $r.Result | Should -Be @('Skipped', 'Skipped')
        ($r | Where-Object Check -eq Capabilities).Reason | Should -Be 'the runbook declared no -RequiredCapability'
        ($r | Where-Object Check -eq LostEvents).Reason | Should -BeLike 'no -Instance named*'
    }

    It 'refuses an unknown capability name' {
        { Invoke-KernelDebugHealthCheck -RequiredCapability NoSuchThing } | Should -Throw -ErrorId 'CapabilityNotFound*'
    }

    It 'writes NUnit XML that CI can read, with the same counts' {
        $doc = [xml] (Get-Content -Raw $Xml)
        $cases = @($doc.SelectNodes('//test-case'))
        $cases.Count | Should -Be $All.Count
        [int] $doc.'test-results'.failures | Should -Be @($All | Where-Object Result -eq Failed).Count
        @($cases | Where-Object result -eq 'Ignored').Count + @($cases | Where-Object result -eq 'Skipped').Count |
            Should -Be @($All | Where-Object Result -eq Skipped).Count
        ($cases | Where-Object { $_.name -like '*Kprobes is available*' }).result | Should -Be $(if (Test-KernelDebugCapability Kprobes) { 'Success' } else { 'Failure' })
    }
}

Describe 'The leftover check' {
    It 'finds a kerneldebug instance whose process is gone, and passes once it is removed' {
        # Other sessions' cmdlets sweep such instances at any moment: only a run after which it still exists counts.
        $seen = $null
        for ($try = 0; $try -lt 5 -and -not $seen; $try++) {
            $name = "kerneldebug_$(Get-DeadPid)_1"
            $path = Join-Path $TraceFs "instances/$name"
            try {
                $null = New-Item -ItemType Directory -Path $path
                $r = Get-Result @(Invoke-KernelDebugHealthCheck -Check Leftovers) 'no kerneldebug tracefs instance of a process that is gone'
                if (Test-Path $path) { $seen = $r }
            }
            finally { if (Test-Path $path) { [System.IO.Directory]::Delete($path) } }
        }
        $seen | Should -Not -BeNullOrEmpty -Because 'the leaked instance was swept by another session five times in a row'
        $seen.Result | Should -Be 'Failed'
        $seen.Reason | Should -BeLike "*$name left by process * which is gone*Remove-FtraceInstance*"

        $clean = @(Invoke-KernelDebugHealthCheck -Check Leftovers)
        $clean.Result | Should -Be @('Passed', 'Passed') -Because ($clean.Reason -join '; ')
    }
}

Describe 'The lost-event check' {
    BeforeAll {
        $script:Quiet = New-FtraceInstance
        $script:Overrun = New-FtraceInstance -BufferSizeKb 8
    }
    AfterAll {
        $Quiet, $Overrun | Where-Object { $_ } | Remove-FtraceInstance -Confirm:$false
    }

    It 'fails an instance whose ring buffer overwrote events and passes a quiet one' {
        # About 600 kB of markers through an 8 kB per-CPU buffer in overwrite mode.
        1..3000 | ForEach-Object { "kerneldebug health check filler $_ " + ('x' * 160) } | Write-TraceMarker -Instance $Overrun
        $r = @(Invoke-KernelDebugHealthCheck -Check LostEvents -Instance $Quiet.Name, $Overrun.Name)
        $r | Should -HaveCount 2
        (Get-Result $r "lost no event in $($Quiet.Name)").Result | Should -Be 'Passed'
        $bad = Get-Result $r "lost no event in $($Overrun.Name)"
        $bad.Result | Should -Be 'Failed'
        $bad.Reason | Should -Match "ring buffer of $($Overrun.Name) lost events \(cpu\d+: [1-9]\d* overwritten \(overrun\)"
    }

    It 'fails an instance that is gone' {
        $r = Invoke-KernelDebugHealthCheck -Check LostEvents -Instance kerneldebug_no_such_instance
        $r.Result | Should -Be 'Failed'
        $r.Reason | Should -BeLike "*kerneldebug_no_such_instance*"
    }
}

Describe 'The help topics' {
    It 'ship about_KernelDebug_Fleet with the fan-out and the cross-host summary, and the suite in about_KernelDebug_HealthChecks' {
        $fleet = Get-Help about_KernelDebug_Fleet | Out-String
        $fleet | Should -Match 'Invoke-Command -Session \$sessions -ThrottleLimit'
        $fleet | Should -Match 'Group-Object PSComputerName'
        (Get-Help about_KernelDebug_HealthChecks | Out-String) | Should -Match 'Invoke-KernelDebugHealthCheck'
    }
}
