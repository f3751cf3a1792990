# Torture: two and three sessions (child pwsh processes started together) on the same event, the same shared instance,
# the same probe name and the same output path, and a holder of a shared instance killed while the next session waits.
# Each session prints one RESULT line; the case judges them (a refused session must be refused with the stable
# ResourceBusy/ResourceExists error, a session that ran must have all its records), then checks what is left: tracefs
# instances and probes of the children, processes, temp files, the output file, the shared instance's settings and
# the module's state files. Outcomes go to torture.jsonl through Add-TortureResult.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasInstances = Test-KernelDebugCapability TraceInstances
    $script:HasUprobes = Test-KernelDebugCapability Uprobes
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    Import-Module (Join-Path $PSScriptRoot '../Torture.psm1') -Force
    $script:Suite = 'Races'

    function Invoke-Sessions([string[]] $Scripts) {
        # Runs the scripts in child pwsh processes at once; each waits for a common start time after its import, so
        # their cmdlets meet. Returns the runs (Invoke-TortureChild objects) in order.
        $start = [DateTime]::UtcNow.AddSeconds(6).ToString('o')
        $torture = Join-Path $PSScriptRoot '../Torture.psm1'
        $jobs = foreach ($s in $Scripts) {
            $body = "`$at = [DateTime]::Parse('$start').ToUniversalTime(); while ([DateTime]::UtcNow -lt `$at) { Start-Sleep -Milliseconds 5 }`n" +
                "Set-TorturePhase racing`ntry {`n$s`n} catch { Write-Output ('RESULT error ' + (`$_.FullyQualifiedErrorId -split ',')[0] + ' ' + `$_.CategoryInfo.Category + ' ' + `$_.Exception.Message) }"
            Start-ThreadJob -ScriptBlock {
                param($Torture, $Body, $Module)
                $env:KERNELDEBUG_MODULE_PATH = $Module
                Import-Module $Torture
                Invoke-TortureChild -Script $Body -PhaseTimeout ([TimeSpan]::FromSeconds(60))
            } -ArgumentList $torture, $body, $env:KERNELDEBUG_MODULE_PATH
        }
        $jobs | Wait-Job -Timeout 120 | Out-Null
        foreach ($j in $jobs) { Receive-Job $j -ErrorAction Continue; Remove-Job $j -Force }
    }

    function Get-Result($Run) {
        # The RESULT line of a session: kind (ok, busy, exists, error) and the rest.
        $line = @($Run.StandardOutput -split "`n" | Where-Object { $_ -like 'RESULT *' }) | Select-Object -Last 1
        if (-not $line) { return [pscustomobject]@{ Kind = 'none'; Rest = "no RESULT (exit $($Run.ExitCode), stderr: $($Run.StandardError.Trim()))" } }
        $f = $line.Trim() -split ' ', 3
        [pscustomobject]@{ Kind = $f[1]; Rest = if ($f.Count -gt 2) { $f[2] } else { '' } }
    }

    function Get-SharedSettings([string] $Dir) {
        foreach ($f in 'tracing_on', 'trace_clock', 'buffer_size_kb', 'options/event-fork', 'set_event_pid', 'events/sched/sched_process_exec/enable', 'events/sched/sched_process_exec/filter') {
            "${f}=$([IO.File]::ReadAllText("$Dir/$f").Trim())"
        }
    }

    function Complete-Case([string] $Case, $Runs, $Before, [string[]] $Problems, [string] $Outcome = 'clean', [string[]] $OutputPath = @()) {
        # Hung or crashed children first, then leftovers of the children's pids and tags; records the outcome.
        foreach ($r in $Runs) {
            if (-not $r.Exited) { $Outcome = 'hung'; $Problems += "session $($r.ProcessId) did not exit" }
            elseif ($r.StandardError -match 'Unhandled exception|Fatal error|AccessViolation') { $Outcome = 'crashed'; $Problems += "session $($r.ProcessId): $($r.StandardError.Trim())" }
        }
        $left = @()
        foreach ($r in $Runs) {
            $left += @(Assert-NoKernelDebugLeftovers -Before $Before -OwnerProcessId $r.ProcessId -Tag $r.Tag -OutputPath $OutputPath)
            Remove-Item $r.WorkDirectory -Recurse -Force -ErrorAction Ignore
        }
        if ($left -and $Outcome -eq 'clean') { $Outcome = 'leaked' }
        Add-TortureResult -Suite $Suite -Case $Case -Outcome $Outcome -Detail (($Problems + $left) -join '; ')
        [pscustomobject]@{ Outcome = $Outcome; Detail = ($Problems + $left) -join '; ' }
    }
}

Describe 'Torture: sessions racing' -Tag Torture -Skip:(-not $HasInstances) {
    It '<Sessions> sessions trace one event, each in its own private instance, and each gets all its records' -TestCases @(
        @{ Sessions = 3 }
    ) {
        param($Sessions)
        $before = Get-KernelDebugStateSnapshot
        # Each traces its own /bin/true: exactly one exec of it in each session's records, whatever the others do.
        $script = '$r = @(Invoke-Ftrace -Command /bin/true -Event sched:sched_process_exec | Where-Object filename -eq ''/bin/true''); Write-Output "RESULT ok $($r.Count)"'
        $runs = @(Invoke-Sessions (@($script) * $Sessions))
        $problems = @(); $outcome = 'clean'
        foreach ($r in $runs) {
            $res = Get-Result $r
            if ($res.Kind -ne 'ok') { $outcome = 'crashed'; $problems += "session $($r.ProcessId): $($res.Kind) $($res.Rest)" }
            elseif ([int]$res.Rest -ne 1) { $outcome = 'lost'; $problems += "session $($r.ProcessId) got $($res.Rest) exec records of its /bin/true, not 1" }
        }
        $v = Complete-Case "$Sessions sessions, one event" $runs $before $problems $outcome
        $v.Detail | Should -BeNullOrEmpty
        $v.Outcome | Should -Be 'clean'
    }

    It '<Sessions> sessions record in one shared instance: one at a time, the others refused, the instance as it was' -TestCases @(
        @{ Sessions = 2 }, @{ Sessions = 3 }
    ) {
        param($Sessions)
        $name = "kerneldebug_torture_races_$PID"
        $shared = New-FtraceInstance -Name $name -BufferSizeKb 256 -Clock global
        $dir = "$TraceFs/instances/$name"
        [IO.File]::WriteAllText("$dir/tracing_on", '0')
        try {
            $settings = Get-SharedSettings $dir
            $before = Get-KernelDebugStateSnapshot
            # Long enough that the sessions overlap; the exec of /bin/true is the record each must see once.
            $script = "`$r = @(Invoke-Ftrace -Instance $name -Event sched:sched_process_exec -Command /bin/sh -ArgumentList '-c', 'sleep 2; /bin/true' | Where-Object filename -eq '/bin/true'); Write-Output `"RESULT ok `$(`$r.Count)`""
            $runs = @(Invoke-Sessions (@($script) * $Sessions))
            $problems = @(); $outcome = 'clean'; $ok = 0
            foreach ($r in $runs) {
                $res = Get-Result $r
                switch ($res.Kind) {
                    'ok' { $ok++; if ([int]$res.Rest -ne 1) { $outcome = 'lost'; $problems += "session $($r.ProcessId) got $($res.Rest) exec records of /bin/true, not 1" } }
                    'error' {
                        if ($res.Rest -notmatch '^FtraceInstanceBusy ResourceBusy .*process \d+') { $outcome = 'crashed'; $problems += "session $($r.ProcessId): $($res.Rest)" }
                    }
                    default { $outcome = 'crashed'; $problems += "session $($r.ProcessId): $($res.Kind) $($res.Rest)" }
                }
            }
            if ($ok -lt 1) { $outcome = 'lost'; $problems += 'no session recorded' }
            $now = Get-SharedSettings $dir
            if (($now -join '|') -ne ($settings -join '|')) { if ($outcome -eq 'clean') { $outcome = 'leaked' }; $problems += "instance changed: $(Compare-Object $settings $now | ForEach-Object { "$($_.SideIndicator)$($_.InputObject)" })" }
            if (Test-Path "/run/kerneldebug/instance.$name.json") { if ($outcome -eq 'clean') { $outcome = 'leaked' }; $problems += 'state file left' }
            $v = Complete-Case "$Sessions sessions, one shared instance" $runs $before $problems $outcome
            $v.Detail | Should -BeNullOrEmpty
            $v.Outcome | Should -Be 'clean'
        }
        finally { Remove-FtraceInstance -Name $name -Force -ErrorAction Ignore }
    }

    It 'a session killed while it holds a shared instance: the next one is refused while it lives, then puts its settings back' {
        $name = "kerneldebug_torture_kill_$PID"
        $shared = New-FtraceInstance -Name $name -BufferSizeKb 256 -Clock global
        $dir = "$TraceFs/instances/$name"
        [IO.File]::WriteAllText("$dir/tracing_on", '0')
        try {
            $settings = Get-SharedSettings $dir
            $before = Get-KernelDebugStateSnapshot
            $holder = "Invoke-Ftrace -Instance $name -Event sched:sched_process_exec -Filter 'common_pid > 1' -BufferSizeKb 512 { Set-TorturePhase recording; Start-Sleep 30 } | Out-Null"
            $run = Invoke-TortureChild -Script $holder -Signal KILL -Phase recording -Delay ([TimeSpan]::FromMilliseconds(200))
            $problems = @(); $outcome = 'clean'
            if (-not $run.PhaseReached) { $problems += "the holder did not start recording: $($run.StandardError.Trim())" }
            # The next session puts back what the dead one changed, then records.
            $r = @(Invoke-Ftrace -Instance $name -Event sched:sched_process_exec -Command /bin/true | Where-Object filename -eq '/bin/true')
            if ($r.Count -ne 1) { $outcome = 'lost'; $problems += "the next session got $($r.Count) records, not 1" }
            $now = Get-SharedSettings $dir
            if (($now -join '|') -ne ($settings -join '|')) { $outcome = 'leaked'; $problems += "instance changed: $(Compare-Object $settings $now | ForEach-Object { "$($_.SideIndicator)$($_.InputObject)" })" }
            if (Test-Path "/run/kerneldebug/instance.$name.json") { $outcome = 'leaked'; $problems += 'state file left' }
            $v = Complete-Case 'shared-instance holder SIGKILLed, next session' @($run) $before $problems $outcome
            $v.Detail | Should -BeNullOrEmpty
            $v.Outcome | Should -Be 'clean'
        }
        finally { Remove-FtraceInstance -Name $name -Force -ErrorAction Ignore }
    }

    It '<Sessions> sessions make a probe of one name: one is made, the others are refused, no multi-probe event' -Skip:(-not $HasUprobes) -TestCases @(
        @{ Sessions = 3 }
    ) {
        param($Sessions)
        $probe = "race$PID"
        $before = Get-KernelDebugStateSnapshot
        $symbols = 'readline', 'main', 'xmalloc'
        $scripts = foreach ($i in 0..($Sessions - 1)) {
            "`$p = New-Uprobe -Name $probe -Path /bin/bash -Symbol $($symbols[$i]); Write-Output `"RESULT ok `$(`$p.FullName)`""
        }
        try {
            $runs = @(Invoke-Sessions $scripts)
            $problems = @(); $outcome = 'clean'; $ok = 0
            foreach ($r in $runs) {
                $res = Get-Result $r
                switch ($res.Kind) {
                    'ok' { $ok++ }
                    'error' { if ($res.Rest -notmatch '^ProbeExists ResourceExists') { $outcome = 'crashed'; $problems += "session $($r.ProcessId): $($res.Rest)" } }
                    default { $outcome = 'crashed'; $problems += "session $($r.ProcessId): $($res.Kind) $($res.Rest)" }
                }
            }
            $defs = @((Get-Content (Join-Path $TraceFs 'uprobe_events')) -match "^[pr]:kerneldebug/$probe ")
            if ($ok -ne 1) { $outcome = 'lost'; $problems += "$ok sessions made the probe, not 1" }
            if ($defs.Count -ne 1) { $outcome = 'leaked'; $problems += "uprobe_events lists $($defs.Count) definitions of kerneldebug/$probe (a multi-probe event)" }
        }
        finally { Get-Uprobe -Group kerneldebug -Name $probe -ErrorAction Ignore | Remove-Uprobe -Force -ErrorAction Ignore }
        $v = Complete-Case "$Sessions sessions, one probe name" $runs $before $problems $outcome
        $v.Detail | Should -BeNullOrEmpty
        $v.Outcome | Should -Be 'clean'
    }

    It '<Sessions> sessions record to one output path: one recording, the others refused, the file whole' -TestCases @(
        @{ Sessions = 3 }
    ) {
        param($Sessions)
        $out = Join-Path ([IO.Path]::GetTempPath()) "kd-torture-races-$PID.data"
        $before = Get-KernelDebugStateSnapshot -OutputPath $out
        $script = "`$r = Start-PerfRecord -Path '$out' -Command /bin/sh -ArgumentList '-c', 'i=0; while [ `$i -lt 200000 ]; do i=`$((i+1)); done' -Wait; Write-Output `"RESULT ok `$(`$r.Samples)`""
        try {
            $runs = @(Invoke-Sessions (@($script) * $Sessions))
            $problems = @(); $outcome = 'clean'; $ok = 0
            foreach ($r in $runs) {
                $res = Get-Result $r
                switch ($res.Kind) {
                    'ok' { $ok++ }
                    'error' { if ($res.Rest -notmatch '^PerfRecordPathBusy ResourceBusy') { $outcome = 'crashed'; $problems += "session $($r.ProcessId): $($res.Rest)" } }
                    default { $outcome = 'crashed'; $problems += "session $($r.ProcessId): $($res.Kind) $($res.Rest)" }
                }
            }
            if ($ok -lt 1) { $outcome = 'lost'; $problems += 'no session recorded' }
            try { $n = @(Get-PerfSample -Path $out -ErrorAction Stop).Count; if ($n -lt 1) { $outcome = 'lost'; $problems += 'the file holds no samples' } }
            catch { $outcome = 'lost'; $problems += "the file is not readable: $($_.Exception.Message)" }
            $v = Complete-Case "$Sessions sessions, one output path" $runs $before $problems $outcome -OutputPath $out
        }
        finally { Remove-Item $out, "$out.old" -ErrorAction Ignore }
        $v.Detail | Should -BeNullOrEmpty
        $v.Outcome | Should -Be 'clean'
    }
}
