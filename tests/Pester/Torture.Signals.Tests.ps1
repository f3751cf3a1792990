# Torture: SIGINT, SIGTERM, SIGHUP and SIGKILL at setup, mid-stream and teardown for the streaming cmdlets. Each case runs
# the cmdlet in a child pwsh (tests/Torture.psm1), signals it at the phase, then checks tracefs (instances and probes of
# the child's pid), processes (nothing the child launched left, stopped or running), temp files and the output file.
# After SIGKILL nothing can run in the child: what it left must be removed by the next session's orphan sweep, and the
# case is clean only when that sweep leaves nothing.
# By default a pairwise cover of the matrix runs (every cmdlet with every signal, every phase with every cmdlet and every
# signal: 36 cases); KERNELDEBUG_TORTURE_FULL=1 runs all 108.

BeforeDiscovery {
    $cmdlets = 'Receive-TraceEvent', 'Invoke-Ftrace', 'Get-SyscallTrace', 'Get-LibraryCallTrace', 'Start-PerfRecord', 'Invoke-Bpftrace',
        'Receive-BpfEvent', 'Invoke-BpfObject', 'Export-TraceDat'
    # KERNELDEBUG_TORTURE_CMDLETS=a,b runs only those cmdlets' cases (when working on one of them).
    if ($env:KERNELDEBUG_TORTURE_CMDLETS) { $cmdlets = @($cmdlets | Where-Object { $_ -in ($env:KERNELDEBUG_TORTURE_CMDLETS -split ',') }) }
    $signals = 'INT', 'TERM', 'HUP', 'KILL'
    $phases = 'setup', 'mid-stream', 'teardown'
    $script:SignalCases = foreach ($ci in 0..($cmdlets.Count - 1)) {
        foreach ($si in 0..($signals.Count - 1)) {
            $which = if ($env:KERNELDEBUG_TORTURE_FULL -eq '1') { $phases } else { , $phases[($ci + $si) % 3] }
            foreach ($p in $which) { @{ Cmdlet = $cmdlets[$ci]; Signal = $signals[$si]; Phase = $p } }
        }
    }
}

BeforeAll {
    . $PSScriptRoot/Common.ps1
    Import-Module (Join-Path $PSScriptRoot '../Torture.psm1') -Force
    $script:Loop = "while :; do /bin/true; sleep 0.05; done"
    # The BPF cases' records: every dash that starts calls getppid(2) once (kd_events' kd_getppid), so a thread job in
    # the child starts one every 50 ms; it dies with the child.
    $script:Getppid = "`$null = Start-ThreadJob { while (`$true) { & /bin/sh -c 'exit 0'; Start-Sleep -Milliseconds 50 } }; "
    $script:HasBpftrace = [bool](Get-Command bpftrace -ErrorAction Ignore)
    # The engine assembly (OrphanSweep, used after SIGKILL) loads with the first cmdlet that needs it.
    $null = Get-KernelDebugCapability -Name TraceFs

    function Get-CaseScript([string] $Cmdlet, [string] $Out) {
        # Phases: 'setup' just before the cmdlet starts (the signal follows a short delay), 'mid-stream' at the first
        # record, 'teardown' at the last one a Select-Object -First takes (the cmdlet is then being stopped).
        $mark = '| ForEach-Object -Begin { $n = 0 } -Process { $n++; if ($n -eq 1) { Set-TorturePhase mid-stream }; if ($n -eq 15) { Set-TorturePhase teardown } }'
        $loop = "'-c', '$script:Loop'"
        $body = switch ($Cmdlet) {
            'Receive-TraceEvent' { "Receive-TraceEvent -Event sched:sched_switch | Select-Object -First 15 $mark" }
            'Invoke-Ftrace' { "Invoke-Ftrace -Command /bin/sh -ArgumentList $loop -Event sched:sched_process_fork, sched:sched_process_exec | Select-Object -First 15 $mark" }
            'Get-SyscallTrace' { "Get-SyscallTrace -Command /bin/sh -ArgumentList $loop | Select-Object -First 15 $mark" }
            'Get-LibraryCallTrace' { "Get-LibraryCallTrace -Command /bin/sh -ArgumentList $loop -Function malloc, free | Select-Object -First 15 $mark" }
            'Invoke-Bpftrace' { "Invoke-Bpftrace -Expression 'tracepoint:syscalls:sys_enter_nanosleep { @n = count(); } interval:ms:40 { printf(""tick\n""); }' | Select-Object -First 15 $mark" }
            'Receive-BpfEvent' { "$script:Getppid`$o = Import-BpfObject -BuiltIn kd_events; `$o.Programs | Where-Object Name -eq kd_getppid | Start-BpfProgram | Out-Null; Receive-BpfEvent `$o -Map events | Select-Object -First 15 $mark" }
            'Invoke-BpfObject' { "$script:Getppid" + "Invoke-BpfObject -BuiltIn kd_events -Program kd_getppid | Select-Object -First 15 $mark" }
            'Export-TraceDat' {
                # No records reach the pipeline: mid-stream is a second into the 3 s recording, teardown its last 100 ms
                # (a thread job in the child marks them while the cmdlet runs).
                "`$null = Start-ThreadJob { `$f = `$env:KERNELDEBUG_TORTURE_PHASEFILE; Start-Sleep -Milliseconds 1000; [IO.File]::AppendAllText(`$f, ""mid-stream``n""); " +
                "Start-Sleep -Milliseconds 1900; [IO.File]::AppendAllText(`$f, ""teardown``n"") }; " +
                "Export-TraceDat -Path '$Out' -Event sched:sched_switch -Duration 00:00:03 | Out-Null"
            }
            'Start-PerfRecord' {
                # mid-stream: a second into the recording; teardown: when its -Duration ends and Wait-PerfRecord finishes it.
                "`$r = Start-PerfRecord -Path '$Out' -Command /bin/sh -ArgumentList $loop -Duration 00:00:03; Start-Sleep -Milliseconds 1000; Set-TorturePhase mid-stream; " +
                "Start-Sleep -Milliseconds 1900; Set-TorturePhase teardown; `$r | Wait-PerfRecord | Out-Null"
            }
        }
        "Set-TorturePhase setup`n$body`nSet-TorturePhase after`nStart-Sleep -Seconds 30"
    }

    function Test-Readable([string] $Path) {
        # An output file is readable when Get-PerfSample decodes it and perf script (the oracle) accepts it.
        try { $null = @(Get-PerfSample -Path $Path -ErrorAction Stop) } catch { return "Get-PerfSample: $($_.Exception.Message)" }
        if (Get-Command perf -ErrorAction Ignore) {
            $null = & perf script -i $Path 2>&1
            if ($LASTEXITCODE -ne 0) { return "perf script exited $LASTEXITCODE" }
        }
        $null
    }
}

Describe 'Torture: signals to streaming cmdlets' -Tag Torture {
    It '<Cmdlet> gets SIG<Signal> at <Phase>' -TestCases $script:SignalCases {
        param($Cmdlet, $Signal, $Phase)
        if ($Cmdlet -eq 'Invoke-Bpftrace' -and -not $script:HasBpftrace) { Set-ItResult -Skipped -Because 'bpftrace is not installed'; return }
        $case = "$Cmdlet SIG$Signal $Phase"
        $out = Join-Path ([IO.Path]::GetTempPath()) "kd-torture-sig-$PID-$([guid]::NewGuid().ToString('n').Substring(0, 8)).data"
        $outputs = if ($Cmdlet -in 'Start-PerfRecord', 'Export-TraceDat') { @($out) } else { @() }
        $before = Get-KernelDebugStateSnapshot -OutputPath $outputs
        $delay = if ($Phase -eq 'setup') { [TimeSpan]::FromMilliseconds(300) } else { [TimeSpan]::Zero }
        $run = Invoke-TortureChild -Script (Get-CaseScript $Cmdlet $out) -Signal $Signal -Phase $Phase -Delay $delay `
            -PhaseTimeout ([TimeSpan]::FromSeconds(45)) -ExitTimeout ([TimeSpan]::FromSeconds(20))
        $outcome = 'clean'; $detail = @()
        try {
            if (-not $run.PhaseReached) { $detail += "phase $Phase not reached (phases: $($run.Phases -join ','); stderr: $($run.StandardError.Trim()))" }
            if (-not $run.Exited) { $outcome = 'hung'; $detail += "did not exit within 20 s of SIG$Signal" }
            elseif ($run.StandardError -match 'Unhandled exception|Fatal error|AccessViolation|core dumped' -or $run.ExitCode -in 134, 135, 139) {
                $outcome = 'crashed'; $detail += "exit $($run.ExitCode): $($run.StandardError.Trim())"
            }
            elseif ($Signal -ne 'INT' -and $run.PhaseReached) {
                # The conventional status: killed by the signal (128 + its number).
                $want = @{ TERM = 143; HUP = 129; KILL = 137 }[$Signal]
                if ($run.ExitCode -ne $want) { $detail += "exit code $($run.ExitCode), expected $want" }
            }
            $left = @(Assert-NoKernelDebugLeftovers -Before $before -Tag $run.Tag -OwnerProcessId $run.ProcessId -OutputPath $outputs)
            # A SIGKILLed recording keeps its temporary file: that is its data (read below), not a leak.
            $tmp = "$out.kerneldebug-tmp"
            if ($Signal -eq 'KILL') { $left = @($left | Where-Object { $_ -ne "tempfile: $tmp" }) }
            if ($Signal -eq 'KILL' -and $left) {
                # The next session's orphan sweep must remove what the killed one left.
                $swept = [KernelDebug.Host.OrphanSweep]::Run($null, $null)
                $detail += "swept $swept after SIGKILL"
                $left = @(Assert-NoKernelDebugLeftovers -Before $before -Tag $run.Tag -OwnerProcessId $run.ProcessId -OutputPath $outputs |
                    Where-Object { $_ -ne "tempfile: $tmp" })
            }
            if ($left -and $outcome -eq 'clean') { $outcome = 'leaked' }
            $detail += $left
            if ($Cmdlet -eq 'Start-PerfRecord' -and $outcome -eq 'clean' -and $run.PhaseReached -and $Phase -ne 'setup') {
                # Not lost: a finished file at the path, or, after SIGKILL, the temporary file readable up to the last checkpoint.
                $file = if (Test-Path $out) { $out } elseif ($Signal -eq 'KILL' -and (Test-Path $tmp)) { $tmp } else { $null }
                if (-not $file) { $outcome = 'lost'; $detail += "no recording at $out" }
                elseif ($why = Test-Readable $file) { $outcome = 'lost'; $detail += "$file unreadable: $why" }
            }
        }
        finally {
            foreach ($q in @(Get-TaggedProcess $run.Tag)) { & kill -s KILL $q.ProcessId 2>$null }
            Remove-Item "$out*" -Force -ErrorAction Ignore
            Remove-TortureWork $run
            Add-TortureResult -Suite Signals -Case $case -Outcome $outcome -Detail ($detail -join '; ')
        }
        $run.PhaseReached | Should -BeTrue -Because ($detail -join '; ')
        $outcome | Should -Be 'clean' -Because ($detail -join '; ')
        ($detail | Where-Object { $_ -like 'exit code*' }) | Should -BeNullOrEmpty
    }
}
