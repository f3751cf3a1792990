# Torture: two and three sessions on the same event, the same shared instance, the same probe name and the same output
# path, and the holder of a shared instance SIGKILLed. Three child pwsh sessions (tests/Torture.psm1) are started once
# and meet at a barrier before each case (ready-<case>-<n> files, then the go-<case> file), so their cmdlets race; a
# session left out of a case skips it. Each writes one result per case. A case judges the results (a refused session
# must be refused with the stable ResourceBusy/ResourceExists error; one that ran must have all its records), then
# checks what is left: instances, probes and temp files of the sessions' pids, the output file, the shared instance's
# settings and the module's state file. The last case checks that the sessions ended and left no process behind.
# Outcomes go to torture.jsonl (Add-TortureResult). The sessions live through all cases: about 60 s on an idle host,
# over 3 minutes at a load average of 30 on two cores (child pwsh start-up and first calls dominate).

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasInstances = Test-KernelDebugCapability TraceInstances
    $script:HasUprobes = Test-KernelDebugCapability Uprobes
}

Describe 'Torture: sessions racing' -Tag Torture -Skip:(-not $HasInstances) {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'Common.ps1')
        Import-Module (Join-Path $PSScriptRoot '../Torture.psm1') -Force
        $script:Suite = 'Races'
        $script:Sync = Join-Path ([IO.Path]::GetTempPath()) "kd-torture-races-$PID"
        Remove-Item $Sync -Recurse -Force -ErrorAction Ignore
        New-Item -ItemType Directory $Sync | Out-Null
        $script:Shared = "kerneldebug_torture_races_$PID"
        $script:Probe = "race$PID"
        $script:Out = Join-Path $Sync 'race.data'
        $script:Cases = 'event', 'instance2', 'instance3', 'probe', 'path', 'kill'

        # One script for every session; $me is its number. Each case's body returns the text after 'ok'.
        $bodies = @{
            event = '@(Invoke-Ftrace -Command /bin/true -Event sched:sched_process_exec | Where-Object filename -eq ''/bin/true'').Count'
            instance2 = "@(Invoke-Ftrace -Instance $Shared -Event sched:sched_process_exec -Command /bin/sh -ArgumentList '-c', 'sleep 1; /bin/true' | Where-Object filename -eq '/bin/true').Count"
            instance3 = "@(Invoke-Ftrace -Instance $Shared -Event sched:sched_process_exec -Command /bin/sh -ArgumentList '-c', 'sleep 1; /bin/true' | Where-Object filename -eq '/bin/true').Count"
            probe = "(New-Uprobe -Name $Probe -Path /bin/bash -Symbol (@('readline', 'main', 'xmalloc')[`$me])).FullName"
            path = "(Start-PerfRecord -Path '$Out' -Command /bin/sh -ArgumentList '-c', 'i=0; while [ `$i -lt 100000 ]; do i=`$((i+1)); done' -Wait).Samples"
            kill = "Invoke-Ftrace -Instance $Shared -Event sched:sched_process_exec -Filter 'common_pid > 1' -BufferSizeKb 512 { [IO.File]::WriteAllText('$Sync/holding', `"`$PID`"); Start-Sleep 60 } | Out-Null; 'not killed'"
        }
        $dispatch = ($Cases | ForEach-Object { "'$_' { $($bodies[$_]) }" }) -join "`n"
        $script:SessionScript = {
            param([int] $Me)
            @"
`$me = $Me
`$sync = '$Sync'
# Written whole, then renamed: the harness never reads a file half made.
function Write-Sync([string] `$Name, [string] `$Text) { [IO.File]::WriteAllText("`$sync/`$Name.tmp", `$Text); [IO.File]::Move("`$sync/`$Name.tmp", "`$sync/`$Name", `$true) }
foreach (`$k in '$($Cases -join "', '")') {
    Write-Sync "ready-`$k-`$me" "`$PID"
    while (-not (Test-Path "`$sync/go-`$k")) { Start-Sleep -Milliseconds 10 }
    if (Test-Path "`$sync/skip-`$k-`$me") { Write-Sync "result-`$k-`$me" 'skip'; continue }
    try { `$r = switch (`$k) {
$dispatch
        }; `$text = "ok `$r" }
    catch { `$text = 'error ' + (`$_.FullyQualifiedErrorId -split ',')[0] + ' ' + `$_.CategoryInfo.Category + ' ' + `$_.Exception.Message }
    Write-Sync "result-`$k-`$me" `$text
}
"@
        }
        $torture = Join-Path $PSScriptRoot '../Torture.psm1'
        $script:Jobs = foreach ($n in 0..2) {
            Start-ThreadJob -ScriptBlock {
                param($Torture, $Body, $Module)
                $env:KERNELDEBUG_MODULE_PATH = $Module
                Import-Module $Torture
                Invoke-TortureChild -Script $Body -PhaseTimeout ([TimeSpan]::FromSeconds(420)) -ExitTimeout ([TimeSpan]::FromSeconds(20))
            } -ArgumentList $torture, (& $SessionScript $n), $env:KERNELDEBUG_MODULE_PATH
        }
        $script:Pids = @{}

        function Wait-File([string[]] $Path, [int] $TimeoutSeconds) {
            $clock = [Diagnostics.Stopwatch]::StartNew()
            while (@($Path | Where-Object { -not (Test-Path $_) }).Count -gt 0) {
                if ($clock.Elapsed.TotalSeconds -gt $TimeoutSeconds) { return $false }
                Start-Sleep -Milliseconds 20
            }
            $true
        }

        function Start-Case([string] $Case, [int[]] $Sessions) {
            # Waits for every session at the barrier, then lets the chosen ones go (the others skip).
            if (-not (Wait-File @(0..2 | ForEach-Object { "$Sync/ready-$Case-$_" }) 120)) { throw "the sessions did not reach case $Case" }
            foreach ($n in 0..2) {
                $script:Pids[$n] = [int](Get-Content "$Sync/ready-$Case-$n")
                if ($n -notin $Sessions) { Set-Content "$Sync/skip-$Case-$n" '' }
            }
            Set-Content "$Sync/go-$Case" ''
        }

        function Get-CaseResults([string] $Case, [int[]] $Sessions, [int] $TimeoutSeconds = 60) {
            # The result of each session that took part: Kind (ok, error, none) and Rest.
            $null = Wait-File @($Sessions | ForEach-Object { "$Sync/result-$Case-$_" }) $TimeoutSeconds
            foreach ($n in $Sessions) {
                $f = "$Sync/result-$Case-$n"
                if (-not (Test-Path $f)) { [pscustomobject]@{ Session = $n; Kind = 'none'; Rest = "no result within $TimeoutSeconds s" }; continue }
                $parts = (Get-Content $f -Raw).Trim() -split ' ', 2
                [pscustomobject]@{ Session = $n; Kind = $parts[0]; Rest = if ($parts.Count -gt 1) { $parts[1] } else { '' } }
            }
        }

        function Get-SharedSettings {
            $dir = "$TraceFs/instances/$Shared"
            (@('tracing_on', 'trace_clock', 'buffer_size_kb', 'options/event-fork', 'set_event_pid', 'events/sched/sched_process_exec/enable', 'events/sched/sched_process_exec/filter') |
                ForEach-Object { "${_}=$([IO.File]::ReadAllText("$dir/$_").Trim())" }) -join '; '
        }

        function Complete-Case([string] $Case, $Before, [string[]] $Problems, [string] $Outcome, [string[]] $OutputPath = @()) {
            $left = @(Assert-NoKernelDebugLeftovers -Before $Before -OwnerProcessId @($Pids.Values) -OutputPath $OutputPath)
            if ($left -and $Outcome -eq 'clean') { $Outcome = 'leaked' }
            $detail = (@($Problems) + $left | Where-Object { $_ }) -join '; '
            Add-TortureResult -Suite $Suite -Case $Case -Outcome $Outcome -Detail $detail
            $detail | Should -BeNullOrEmpty
            $Outcome | Should -Be 'clean'
        }

        function Test-Shared([string] $Case, [int[]] $Sessions) {
            # Sessions recording in one shared instance: one at a time, each one that ran sees its /bin/true once,
            # the others are refused naming the holder; the instance ends as it was, with no state file.
            $null = New-FtraceInstance -Name $Shared -BufferSizeKb 256 -Clock global
            try {
                [IO.File]::WriteAllText("$TraceFs/instances/$Shared/tracing_on", '0')
                $settings = Get-SharedSettings
                $before = Get-KernelDebugStateSnapshot
                Start-Case $Case $Sessions
                $problems = @(); $outcome = 'clean'; $ok = 0
                foreach ($r in Get-CaseResults $Case $Sessions) {
                    if ($r.Kind -eq 'ok') { $ok++; if ($r.Rest -ne '1') { $outcome = 'lost'; $problems += "session $($r.Session) saw $($r.Rest) exec records of its /bin/true, not 1" } }
                    elseif ($r.Kind -eq 'none') { $outcome = 'hung'; $problems += "session $($r.Session): $($r.Rest)" }
                    elseif ($r.Rest -notmatch '^FtraceInstanceBusy ResourceBusy .*process \d+') { $outcome = 'crashed'; $problems += "session $($r.Session): $($r.Rest)" }
                }
                if ($ok -lt 1) { $outcome = 'lost'; $problems += 'no session recorded' }
                if ((Get-SharedSettings) -ne $settings) { if ($outcome -eq 'clean') { $outcome = 'leaked' }; $problems += "instance now $(Get-SharedSettings), was $settings" }
                if (Test-Path "/run/kerneldebug/instance.$Shared.json") { if ($outcome -eq 'clean') { $outcome = 'leaked' }; $problems += 'state file left' }
                Complete-Case "$($Sessions.Count) sessions, one shared instance" $before $problems $outcome
            }
            finally { Remove-FtraceInstance -Name $Shared -Force -ErrorAction Ignore }
        }
    }

    AfterAll {
        Set-Content "$Sync/go-end" '' -ErrorAction Ignore
        Remove-FtraceInstance -Name $Shared -Force -ErrorAction Ignore
        Get-Uprobe -Group kerneldebug -Name $Probe -ErrorAction Ignore | Remove-Uprobe -Force -ErrorAction Ignore
        $Jobs | Stop-Job -ErrorAction Ignore
        $Jobs | Remove-Job -Force -ErrorAction Ignore
        Remove-Item $Sync -Recurse -Force -ErrorAction Ignore
    }

    It '3 sessions trace one event, each in its own private instance, and each gets all its records' {
        $before = Get-KernelDebugStateSnapshot
        Start-Case event 0, 1, 2
        $problems = @(); $outcome = 'clean'
        foreach ($r in Get-CaseResults event 0, 1, 2) {
            if ($r.Kind -eq 'none') { $outcome = 'hung'; $problems += "session $($r.Session): $($r.Rest)" }
            elseif ($r.Kind -ne 'ok') { $outcome = 'crashed'; $problems += "session $($r.Session): $($r.Rest)" }
            elseif ($r.Rest -ne '1') { $outcome = 'lost'; $problems += "session $($r.Session) saw $($r.Rest) exec records of its /bin/true, not 1" }
        }
        Complete-Case '3 sessions, one event' $before $problems $outcome
    }

    It '2 sessions record in one shared instance: one at a time, the other refused, the instance as it was' {
        Test-Shared instance2 0, 1
    }

    It '3 sessions record in one shared instance: one at a time, the others refused, the instance as it was' {
        Test-Shared instance3 0, 1, 2
    }

    It '3 sessions make a probe of one name: one is made, the others are refused, no multi-probe event' {
        $before = Get-KernelDebugStateSnapshot
        Start-Case probe $(if ($HasUprobes) { 0, 1, 2 } else { @() })
        if (-not $HasUprobes) { Set-ItResult -Skipped -Because 'this kernel has no uprobes'; return }
        $problems = @(); $outcome = 'clean'; $ok = 0
        try {
            foreach ($r in Get-CaseResults probe 0, 1, 2) {
                if ($r.Kind -eq 'ok') { $ok++ }
                elseif ($r.Kind -eq 'none') { $outcome = 'hung'; $problems += "session $($r.Session): $($r.Rest)" }
                elseif ($r.Rest -notmatch '^ProbeExists ResourceExists') { $outcome = 'crashed'; $problems += "session $($r.Session): $($r.Rest)" }
            }
            $defs = @((Get-Content (Join-Path $TraceFs 'uprobe_events')) -match "^[pr]:kerneldebug/$Probe ")
            if ($ok -ne 1) { $outcome = 'lost'; $problems += "$ok sessions made the probe, not 1" }
            if ($defs.Count -ne 1) { $outcome = 'leaked'; $problems += "uprobe_events lists $($defs.Count) definitions of kerneldebug/$Probe (a multi-probe event)" }
        }
        finally { Get-Uprobe -Group kerneldebug -Name $Probe -ErrorAction Ignore | Remove-Uprobe -Force -ErrorAction Ignore }
        Complete-Case '3 sessions, one probe name' $before $problems $outcome
    }

    It '3 sessions record to one output path: one recording at a time, the others refused, the file whole' {
        $before = Get-KernelDebugStateSnapshot -OutputPath $Out
        Start-Case path 0, 1, 2
        $problems = @(); $outcome = 'clean'; $ok = 0
        foreach ($r in Get-CaseResults path 0, 1, 2) {
            if ($r.Kind -eq 'ok') { $ok++ }
            elseif ($r.Kind -eq 'none') { $outcome = 'hung'; $problems += "session $($r.Session): $($r.Rest)" }
            elseif ($r.Rest -notmatch '^PerfRecordPathBusy ResourceBusy') { $outcome = 'crashed'; $problems += "session $($r.Session): $($r.Rest)" }
        }
        if ($ok -lt 1) { $outcome = 'lost'; $problems += 'no session recorded' }
        try { if (@(Get-PerfSample -Path $Out -ErrorAction Stop).Count -lt 1) { $outcome = 'lost'; $problems += 'the file holds no samples' } }
        catch { $outcome = 'lost'; $problems += "the file is not readable: $($_.Exception.Message)" }
        Complete-Case '3 sessions, one output path' $before $problems $outcome -OutputPath $Out
    }

    It 'a session SIGKILLed while it holds a shared instance: the next is refused while it lives, then puts its settings back' {
        $null = New-FtraceInstance -Name $Shared -BufferSizeKb 256 -Clock global
        try {
            [IO.File]::WriteAllText("$TraceFs/instances/$Shared/tracing_on", '0')
            $settings = Get-SharedSettings
            $before = Get-KernelDebugStateSnapshot
            Start-Case kill 2
            $problems = @(); $outcome = 'clean'
            if (-not (Wait-File "$Sync/holding" 60)) {
                $outcome = 'hung'
                $problems += "the holder did not start recording ($(if (Test-Path "$Sync/result-kill-2") { Get-Content "$Sync/result-kill-2" -Raw } else { 'no result' }))"
            }
            else {
                try { Invoke-Ftrace -Instance $Shared -Event sched:sched_process_exec -Command /bin/true | Out-Null; $problems += 'a second session was let in'; $outcome = 'lost' }
                catch { if ($_.FullyQualifiedErrorId -notlike 'FtraceInstanceBusy*' -or $_.Exception.Message -notmatch "process $($Pids[2])\b") { $outcome = 'crashed'; $problems += "second session: $($_.FullyQualifiedErrorId) $($_.Exception.Message)" } }
                & kill -s KILL $Pids[2]
                for ($i = 0; $i -lt 100 -and (Test-Path "/proc/$($Pids[2])"); $i++) { Start-Sleep -Milliseconds 50 }
                # The next session puts back what the dead one changed, then records.
                $r = @(Invoke-Ftrace -Instance $Shared -Event sched:sched_process_exec -Command /bin/true | Where-Object filename -eq '/bin/true')
                if ($r.Count -ne 1) { $outcome = 'lost'; $problems += "the next session saw $($r.Count) records, not 1" }
            }
            if ((Get-SharedSettings) -ne $settings) { $outcome = 'leaked'; $problems += "instance now $(Get-SharedSettings), was $settings" }
            if (Test-Path "/run/kerneldebug/instance.$Shared.json") { $outcome = 'leaked'; $problems += 'state file left' }
            Complete-Case 'shared-instance holder SIGKILLed, next session' $before $problems $outcome
        }
        finally { Remove-FtraceInstance -Name $Shared -Force -ErrorAction Ignore }
    }

    It 'the sessions end and leave no process, instance or probe behind' {
        $runs = @($Jobs | Wait-Job -Timeout 60 | Receive-Job -ErrorAction Continue)
        $problems = @(); $outcome = 'clean'
        if ($runs.Count -ne 3) { $outcome = 'hung'; $problems += "$($runs.Count) of 3 sessions ended" }
        foreach ($r in $runs) {
            if (-not $r.Exited) { $outcome = 'hung'; $problems += "session $($r.ProcessId) did not exit" }
            elseif ($r.StandardError -match 'Unhandled exception|Fatal error|AccessViolation') { $outcome = 'crashed'; $problems += "session $($r.ProcessId): $($r.StandardError.Trim())" }
            $problems += @(Get-TaggedProcess $r.Tag | ForEach-Object { "process: $($_.ProcessId) $($_.Command) state $($_.State)" })
            Remove-Item $r.WorkDirectory -Recurse -Force -ErrorAction Ignore
        }
        if ($problems -and $outcome -eq 'clean') { $outcome = 'leaked' }
        $before = [pscustomobject]@{ Instances = @(); DynamicEvents = @(); TempFiles = @() }
        Complete-Case '3 sessions end' $before $problems $outcome
    }
}
