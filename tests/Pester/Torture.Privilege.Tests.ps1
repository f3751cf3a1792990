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

Describe 'Torture: root without capabilities' -Tag Torture {
    # uid 0 with an empty bounding set and SECBIT_NOROOT: it still owns tracefs's files (so ftrace, probes and its own
    # child's tracing run), but bpf() and /dev/kmsg need capabilities. Every operation runs, cleans up after itself
    # (this session is not nobody: what it makes, it makes), or is refused as PermissionDenied.
    It 'every operation runs or is refused as PermissionDenied, and nothing is left' {
        if ([Environment]::UserName -ne 'root' -or -not (Get-Command setpriv -ErrorAction Ignore)) { Set-ItResult -Skipped -Because 'needs root and setpriv to drop capabilities'; return }
        $ops = [ordered]@{
            'Get-FtraceInstance' = 'Get-FtraceInstance -ErrorAction Stop | Out-Null'
            'Receive-TraceEvent' = 'Receive-TraceEvent -Event sched:sched_switch -Count 1 -ErrorAction Stop | Out-Null'
            'New-FtraceInstance' = 'New-FtraceInstance -Name "kerneldebug_${PID}_nocap" -ErrorAction Stop | Remove-FtraceInstance -ErrorAction Stop'
            'New-Uprobe' = 'New-Uprobe -Name "kerneldebug_${PID}_nocap" -Path /bin/true -Address 0x1000 -WarningAction Ignore -ErrorAction Stop | Remove-DynamicEvent -ErrorAction Stop'
            'Measure-PerfCounter' = 'Measure-PerfCounter -Command /bin/true -Event task-clock -ErrorAction Stop | Out-Null'
            'Get-SyscallTrace' = 'Get-SyscallTrace -Command /bin/true -ErrorAction Stop | Out-Null'
            'Get-KernelLog' = 'Get-KernelLog -ErrorAction Stop | Select-Object -First 1 | Out-Null'
            'Get-BpfProgram' = 'Get-BpfProgram -ErrorAction Stop | Out-Null'
            'Import-BpfObject' = 'Import-BpfObject -BuiltIn kd_events -ErrorAction Stop | Remove-BpfObject'
        }
        $body = foreach ($k in $ops.Keys) {
            "try { $($ops[$k]); '$k|ok' } catch { `$e = `$_; '$k|error|{0}|{1}|{2}|{3}' -f (`$e.FullyQualifiedErrorId -split ',')[0], `$e.CategoryInfo.Category, `$e.Exception.GetType().FullName, (`$e.Exception.Message -replace '[\r\n|]', ' ') }"
        }
        $script = "Import-Module '$env:KERNELDEBUG_MODULE_PATH'; 'pid|' + `$PID; " + ($body -join '; ')
        $before = Get-KernelDebugStateSnapshot
        $self = [Environment]::ProcessPath
        [string[]] $run = if ((Split-Path $self -Leaf) -eq 'dotnet') { @($self, (Join-Path $PSHOME 'pwsh.dll')) } else { @($self) }
        $lines = @(& setpriv --bounding-set=-all --inh-caps=-all '--securebits=+noroot,+noroot_locked,+no_setuid_fixup,+no_setuid_fixup_locked,+keep_caps_locked' @run -NoProfile -NonInteractive -Command $script 2>&1 | ForEach-Object ToString)
        $childPid = ($lines | Where-Object { $_ -like 'pid|*' } | Select-Object -First 1) -replace '^pid\|', ''
        # The capabilities were really dropped: bpf() refused (else this case tests nothing).
        ($lines | Where-Object { $_ -like 'Get-BpfProgram|*' }) | Should -BeLike 'Get-BpfProgram|error|*|PermissionDenied|*'
        $failures = @()
        foreach ($k in $ops.Keys) {
            $line = $lines | Where-Object { $_ -like "$k|*" } | Select-Object -First 1
            $v = if (-not $line) { 'crashed', "no result line (output: $(($lines | Select-Object -Last 3) -join ' / '))" } else { Get-OperationVerdict $line }
            $left = if ($childPid -match '^\d+$') { @(Assert-NoKernelDebugLeftovers -Before $before -OwnerProcessId ([int] $childPid)) } else { @() }
            $outcome = if ($v[0] -ne 'clean') { $v[0] } elseif ($left) { 'leaked' } else { 'clean' }
            Add-TortureResult -Suite Privilege -Case "root without capabilities $k" -Outcome $outcome -Detail "$($v[1])$(if ($left) { '; ' + ($left -join '; ') })"
            if ($outcome -ne 'clean') { $failures += "${k}: $outcome $($v[1]) $left" }
        }
        $failures | Should -BeNullOrEmpty
    }
}
