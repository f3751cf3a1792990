# Torture: the cmdlets as nobody (no capabilities; Common.ps1's Invoke-AsNobody) at perf_event_paranoid 2 and 3 (set
# here, put back in finally). Each operation must end with its result or a clean error that says what is wrong: a
# refusal for lack of privilege is PermissionDenied (never "not found" or "no such feature"). Outcome crashed = the
# operation ended otherwise (a raw exception, NotSpecified, or a wrong diagnosis); leaked = the nobody session left
# something (instances, probes, processes, files).

BeforeDiscovery {
    $script:ParanoidCases = @(@{ Paranoid = 2 }, @{ Paranoid = 3 })
}

BeforeAll {
    . $PSScriptRoot/Common.ps1
    Import-Module (Join-Path $PSScriptRoot '../Torture.psm1') -Force
    $script:CanRun = Test-CanRunAsNobody

    # One child for all operations (a pwsh start costs seconds): each prints name|ok|errorid|category|exceptiontype|message.
    $script:Operations = [ordered]@{
        'Get-FtraceInstance' = 'Get-FtraceInstance -ErrorAction Stop | Out-Null'
        'Receive-TraceEvent' = 'Receive-TraceEvent -Event sched:sched_switch -Count 1 -ErrorAction Stop | Out-Null'
        'New-FtraceInstance' = 'New-FtraceInstance -Name kerneldebug_torture_nobody -ErrorAction Stop | Out-Null'
        'Enable-TraceEvent' = 'Enable-TraceEvent -Instance / -Name sched:sched_switch -ErrorAction Stop | Out-Null'
        'New-Uprobe' = 'New-Uprobe -Name kerneldebug_torture_nobody -Path /bin/true -Address 0x1000 -ErrorAction Stop | Out-Null'
        'Measure-PerfCounter' = 'Measure-PerfCounter -Command /bin/true -Event task-clock -ErrorAction Stop | Out-Null'
        'Start-PerfRecord' = 'Start-PerfRecord -Command /bin/true -Path "$HOME/nobody.data" -ErrorAction Stop | Wait-PerfRecord -ErrorAction Stop | Out-Null'
        'Get-SyscallTrace' = 'Get-SyscallTrace -Command /bin/true -ErrorAction Stop | Out-Null'
        'Get-KernelLog' = 'Get-KernelLog -ErrorAction Stop | Select-Object -First 1 | Out-Null'
        'Get-BpfProgram' = 'Get-BpfProgram -ErrorAction Stop | Out-Null'
    }
    function Get-NobodyScript {
        $ops = foreach ($k in $script:Operations.Keys) {
            "try { $($script:Operations[$k]); '$k|ok' } catch { `$e = `$_; '$k|error|{0}|{1}|{2}|{3}' -f (`$e.FullyQualifiedErrorId -split ',')[0], `$e.CategoryInfo.Category, `$e.Exception.GetType().FullName, (`$e.Exception.Message -replace '[\r\n|]', ' ') }"
        }
        "'pid|' + `$PID; " + ($ops -join '; ')
    }

    function Get-OperationVerdict([string] $Line) {
        # 'clean' for a result, or for a clean error whose category fits a refusal; else 'crashed' with the reason.
        $f = $Line -split '\|', 6
        if ($f[1] -eq 'ok') { return 'clean', 'ran' }
        $id, $cat, $type, $msg = $f[2], $f[3], $f[4], $f[5]
        if ($type -notlike 'KernelDebug.*' -and $type -notin 'System.UnauthorizedAccessException', 'System.Management.Automation.ActionPreferenceStopException') { return 'crashed', "raw $type ($id): $msg" }
        if ($cat -eq 'NotSpecified') { return 'crashed', "NotSpecified ($id): $msg" }
        # A refusal for lack of privilege must say so, not blame a missing feature or object.
        if ($cat -notin 'PermissionDenied', 'SecurityError') { return 'crashed', "misdiagnosed as $cat ($id): $msg" }
        'clean', "$cat ($id)"
    }
}

Describe 'Torture: unprivileged users' -Tag Torture {
    It 'as nobody at perf_event_paranoid <Paranoid>, every operation runs or is refused as PermissionDenied' -TestCases $script:ParanoidCases {
        param($Paranoid)
        if (-not $script:CanRun) { Set-ItResult -Skipped -Because 'needs root with unshare and setpriv to become nobody'; return }
        $knob = '/proc/sys/kernel/perf_event_paranoid'
        $saved = (Get-Content $knob).Trim()
        $before = Get-KernelDebugStateSnapshot
        try {
            Set-Content -Path $knob -Value $Paranoid
            $lines = @(Invoke-AsNobody (Get-NobodyScript))
        }
        finally { Set-Content -Path $knob -Value $saved }
        (Get-Content $knob).Trim() | Should -Be $saved
        $childPid = ($lines | Where-Object { $_ -like 'pid|*' } | Select-Object -First 1) -replace '^pid\|', ''
        $results = @($lines | Where-Object { $_ -match '^[\w-]+\|(ok|error)' })
        $failures = @()
        foreach ($k in $script:Operations.Keys) {
            $line = $results | Where-Object { $_ -like "$k|*" } | Select-Object -First 1
            if (-not $line) { $v = 'crashed', "no result line (output: $(($lines | Select-Object -Last 3) -join ' / '))" } else { $v = Get-OperationVerdict $line }
            # perf stat and perf record fall back to user-space-only events at paranoid 2: so must these two.
            if ($Paranoid -eq 2 -and $k -in 'Measure-PerfCounter', 'Start-PerfRecord' -and $line -notlike '*|ok') { $v = 'crashed', "refused where perf falls back to name:u: $($v[1])" }
            $left = if ($childPid -match '^\d+$') { @(Assert-NoKernelDebugLeftovers -Before $before -OwnerProcessId ([int] $childPid)) } else { @() }
            $outcome = if ($v[0] -ne 'clean') { $v[0] } elseif ($left) { 'leaked' } else { 'clean' }
            Add-TortureResult -Suite Privilege -Case "nobody paranoid=$Paranoid $k" -Outcome $outcome -Detail "$($v[1])$(if ($left) { '; ' + ($left -join '; ') })"
            if ($outcome -ne 'clean') { $failures += "${k}: $outcome $($v[1]) $left" }
        }
        $failures | Should -BeNullOrEmpty
    }
}
