# Sessions meeting on one instance, probe name or output path (issue 14, item 4), and loss accounting (item 6).
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasInstances = Test-KernelDebugCapability TraceInstances
    $script:HasUprobes = Test-KernelDebugCapability Uprobes
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    function Read-TraceFile([string] $Path) { [System.IO.File]::ReadAllText($Path).Trim() }

    function Start-ChildSession([string] $Command) {
        # A second session: a pwsh process of its own with the module imported. Returns the Process.
        $self = [Environment]::ProcessPath
        $psi = [System.Diagnostics.ProcessStartInfo]::new($self)
        if ((Split-Path $self -Leaf) -eq 'dotnet') { $psi.ArgumentList.Add((Join-Path $PSHOME 'pwsh.dll')) }
        foreach ($a in '-NoProfile', '-NonInteractive', '-Command', "Import-Module '$env:KERNELDEBUG_MODULE_PATH'; $Command") { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        [System.Diagnostics.Process]::Start($psi)
    }

    function Wait-Until([scriptblock] $Condition, [int] $TimeoutSeconds = 30, [string] $What) {
        $clock = [Diagnostics.Stopwatch]::StartNew()
        while (-not (& $Condition)) {
            if ($clock.Elapsed.TotalSeconds -gt $TimeoutSeconds) { throw "timed out after $TimeoutSeconds s waiting for $What" }
            Start-Sleep -Milliseconds 100
        }
    }

    function Test-HoldsFlock([int] $ProcessId) {
        [bool]((Get-Content /proc/locks) -match "^\d+: FLOCK\s+ADVISORY\s+WRITE\s+$ProcessId\s")
    }

    function Stop-Child($Process) {
        if ($Process -and -not $Process.HasExited) { $Process.Kill(); $Process.WaitForExit(10000) | Out-Null }
    }

    function Get-SharedSettings([string] $Dir) {
        # One line per setting a recording changes: comparable as a whole with -BeExactly.
        $h = [ordered]@{
            tracing_on = Read-TraceFile "$Dir/tracing_on"
            trace_clock = Read-TraceFile "$Dir/trace_clock"
            buffer_size_kb = Read-TraceFile "$Dir/buffer_size_kb"
            event_fork = Read-TraceFile "$Dir/options/event-fork"
            set_event_pid = Read-TraceFile "$Dir/set_event_pid"
            sched_switch = Read-TraceFile "$Dir/events/sched/sched_switch/enable"
            sched_process_exec = Read-TraceFile "$Dir/events/sched/sched_process_exec/enable"
        }
        ($h.GetEnumerator() | ForEach-Object { "$($_.Key)=$($_.Value)" }) -join "`n"
    }
    function Get-Setting([string] $Dir, [string] $Key) {
        ((Get-SharedSettings $Dir) -split "`n" | Where-Object { $_ -like "$Key=*" }) -replace '^[^=]*='
    }
}

Describe 'Two sessions on one shared instance' -Skip:(-not $HasInstances) {
    BeforeEach {
        $script:Name = "kerneldebug_races_$PID"
        $script:Shared = New-FtraceInstance -Name $Name -BufferSizeKb 512 -Clock global
        $script:Dir = "$TraceFs/instances/$Name"
        [IO.File]::WriteAllText("$Dir/tracing_on", '0')
        $script:Child = $null
    }
    AfterEach {
        Stop-Child $Child
        Remove-FtraceInstance -Name $Name -ErrorAction Ignore
        Remove-Item "/run/kerneldebug/instance.$Name.json" -ErrorAction Ignore
    }

    It 'refuses Invoke-Ftrace -Instance while another session records there, naming its pid, and changes nothing' {
        $script:Child = Start-ChildSession "Invoke-Ftrace -Instance $Name -Event sched:sched_process_exec { Start-Sleep 30 } | Out-Null"
        Wait-Until { (Read-TraceFile "$Dir/tracing_on") -eq '1' } -What 'the child to start recording'
        $during = Get-SharedSettings $Dir
        $err = $null
        try { Invoke-Ftrace -Instance $Name -Event sched:sched_switch { Start-Sleep -Milliseconds 50 } | Out-Null } catch { $err = @($_) }
        $err | Should -HaveCount 1
        $err[0].FullyQualifiedErrorId | Should -BeLike 'FtraceInstanceBusy*'
        $err[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
        $err[0].Exception.Message | Should -Match "process $($Child.Id)\b"
        # The refused run touched nothing of the holder's.
        Get-SharedSettings $Dir | Should -BeExactly $during -Because 'the second session is refused before it changes anything'
        Get-Setting $Dir sched_switch | Should -Be '0'
    }

    It 'refuses Receive-TraceEvent on the instance while another session reads it' {
        $script:Child = Start-ChildSession "Receive-TraceEvent -Instance $Name -Duration 00:00:30 | Out-Null"
        Wait-Until { Test-HoldsFlock $Child.Id } -What 'the child to take the lock'
        { Receive-TraceEvent -Instance $Name -NoWait } | Should -Throw -ErrorId 'FtraceInstanceBusy*'
    }

    It 'takes the top level (-Instance /) the same way, held for as short a time as the test can' {
        # The lock held through the engine in this process: a second open file description conflicts like another session.
        Add-Type -Path (Join-Path (Split-Path $env:KERNELDEBUG_MODULE_PATH) 'KernelDebug.Engine.dll')
        $held = [KernelDebug.Ftrace.InstanceLock]::Acquire([KernelDebug.FtraceInstance]::TopLevel, $null)
        try {
            $e = { Receive-TraceEvent -Instance / -NoWait } | Should -Throw -ErrorId 'FtraceInstanceBusy*' -PassThru
            $e.Exception.Message | Should -Match "process $PID\b"
            { Invoke-Ftrace -Instance / -Event sched:sched_process_exec { } } | Should -Throw -ErrorId 'FtraceInstanceBusy*'
        }
        finally { $held.Dispose() }
    }

    It 'puts back what a killed Invoke-Ftrace -Instance changed, when the next session takes the instance' {
        $before = Get-SharedSettings $Dir
        $script:Child = Start-ChildSession "Invoke-Ftrace -Instance $Name -Event sched:sched_switch, sched:sched_process_exec -BufferSizeKb 1024 { Start-Sleep 60 } | Out-Null"
        Wait-Until { (Read-TraceFile "$Dir/tracing_on") -eq '1' } -What 'the child to start recording'
        Get-Setting $Dir trace_clock | Should -Match '\[mono\]'
        Get-Setting $Dir set_event_pid | Should -Not -BeNullOrEmpty
        "/run/kerneldebug/instance.$Name.json" | Should -Exist
        $Child.Kill(); $Child.WaitForExit(10000) | Out-Null
        # The kill left the instance changed (what the issue saw) ...
        Get-Setting $Dir trace_clock | Should -Match '\[mono\]'
        Get-Setting $Dir sched_switch | Should -Be '1'
        # ... until the next session takes it: it puts back the dead one's settings before its own run.
        $v = Invoke-Ftrace -Instance $Name -Event sched:sched_process_exec { } -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        ($v.Message -join "`n") | Should -Match "process $($Child.Id) changed"
        Get-SharedSettings $Dir | Should -BeExactly $before
        "/run/kerneldebug/instance.$Name.json" | Should -Not -Exist
    }

    It 'puts back what a killed recording changed in the orphan sweep of any later cmdlet' {
        $before = Get-SharedSettings $Dir
        $script:Child = Start-ChildSession "Invoke-Ftrace -Instance $Name -Event sched:sched_switch -BufferSizeKb 1024 { Start-Sleep 60 } | Out-Null"
        Wait-Until { (Read-TraceFile "$Dir/tracing_on") -eq '1' } -What 'the child to start recording'
        $Child.Kill(); $Child.WaitForExit(10000) | Out-Null
        Get-Setting $Dir sched_switch | Should -Be '1'
        # New-FtraceInstance sweeps orphans first.
        $other = New-FtraceInstance
        Remove-FtraceInstance $other
        Get-SharedSettings $Dir | Should -BeExactly $before
        "/run/kerneldebug/instance.$Name.json" | Should -Not -Exist
    }

    It 'leaves a busy instance recording when Remove-FtraceInstance -Force cannot remove it' {
        [IO.File]::WriteAllText("$Dir/events/sched/sched_switch/enable", '1')
        [IO.File]::WriteAllText("$Dir/tracing_on", '1')
        # A reader of another session: an open per-CPU pipe makes the kernel refuse the rmdir (EBUSY).
        $reader = [IO.File]::Open("$Dir/per_cpu/cpu0/trace_pipe_raw", 'Open', 'Read', 'ReadWrite')
        try {
            $err = $null
            Remove-FtraceInstance -Name $Name -Force -ErrorVariable err -ErrorAction SilentlyContinue
            $err | Should -HaveCount 1
            $err[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
            "$Dir" | Should -Exist
            Read-TraceFile "$Dir/tracing_on" | Should -Be '1' -Because 'a refused removal must not stop the victim''s tracing'
            Read-TraceFile "$Dir/events/sched/sched_switch/enable" | Should -Be '1'
        }
        finally { $reader.Dispose() }
        Remove-FtraceInstance -Name $Name -Force
        "$Dir" | Should -Not -Exist
    }
}

Describe 'A probe name that exists' -Skip:(-not $HasUprobes) {
    AfterEach { Get-Uprobe -Group "kerneldebug_$PID" -ErrorAction Ignore | Remove-Uprobe -Force -ErrorAction Ignore }

    It 'is refused with ResourceExists, not merged into a multi-probe event' {
        $g = "kerneldebug_$PID"
        $null = New-Uprobe -Name dup -Path /bin/bash -Symbol readline -Group $g
        $err = $null
        New-Uprobe -Name dup -Path /bin/bash -Symbol main -Group $g -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
        $err | Should -HaveCount 1
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ProbeExists*'
        $err[0].CategoryInfo.Category | Should -Be 'ResourceExists'
        @((Get-Content (Join-Path $TraceFs 'uprobe_events')) -match "^p:$g/dup ") | Should -HaveCount 1
    }
}

Describe 'Loss accounting of a stream' -Skip:(-not $HasInstances) {
    BeforeEach {
        $script:Name = "kerneldebug_loss_$PID"
        $script:Shared = New-FtraceInstance -Name $Name -BufferSizeKb 64 -Clock mono
        $script:Dir = "$TraceFs/instances/$Name"
    }
    AfterEach { Remove-FtraceInstance -Name $Name -ErrorAction Ignore }

    It 'does not report losses from before the stream as lost while it ran' {
        # Overrun the small buffer before anyone reads it: the first page read says events were missed before it.
        1..4000 | ForEach-Object { Write-TraceMarker -Instance $Shared -Message "before $_ $('x' * 40)" }
        $overrun = (Get-Content "$Dir/per_cpu/cpu*/stats" | Where-Object { $_ -match '^overrun: (\d+)' } | ForEach-Object { [long]$Matches[1] } | Measure-Object -Sum).Sum
        $overrun | Should -BeGreaterThan 0 -Because 'the test needs losses before the stream'
        $w = $null
        $r = @(Receive-TraceEvent -Instance $Name -NoWait -WarningVariable w -WarningAction SilentlyContinue)
        $r.Count | Should -BeGreaterThan 0
        @($w | Where-Object { "$_" -like '*lost*' }) | Should -BeNullOrEmpty -Because 'nothing was lost while this stream ran'
    }

    It 'reports losses during the stream with figures that add up and stay within the kernel''s counters' {
        function Get-Overrun { (Get-Content "$Dir/per_cpu/cpu*/stats" | Where-Object { $_ -match '^overrun: (\d+)' } | ForEach-Object { [long]$Matches[1] } | Measure-Object -Sum).Sum }
        $before = Get-Overrun
        # A writer that outpaces a consumer stalled on its first record (the bounded hand-off then makes the reader
        # wait, and the small buffer overruns). Raw trace_marker writes: one write each, fast.
        $writer = Start-ThreadJob -ScriptBlock {
            param($Marker)
            $fs = [IO.FileStream]::new($Marker, 'Append', 'Write', 'ReadWrite', 1)
            try {
                Start-Sleep -Milliseconds 500
                foreach ($k in 1..20000) { $b = [Text.Encoding]::ASCII.GetBytes("during $k $('y' * 100)"); $fs.Write($b, 0, $b.Length); $fs.Flush() }
            }
            finally { $fs.Dispose() }
        } -ArgumentList "$Dir/trace_marker"
        try {
            $w = $null
            $script:stalled = $false
            Receive-TraceEvent -Instance $Name -Duration 00:00:04 -WarningVariable w -WarningAction SilentlyContinue |
                ForEach-Object { if (-not $script:stalled) { $script:stalled = $true; Start-Sleep -Seconds 2 } }
        }
        finally { $writer | Wait-Job | Remove-Job -Force }
        $after = Get-Overrun
        $lost = @($w | Where-Object { "$_" -like '*lost*' })
        $lost | Should -HaveCount 1
        "$($lost[0])" -match 'lost (\d+) events .* (\d+) overwritten .* and (\d+) dropped' | Should -BeTrue
        $total, $over, $dropped = [long]$Matches[1], [long]$Matches[2], [long]$Matches[3]
        $total | Should -Be ($over + $dropped)
        $over | Should -BeGreaterThan 0
        $over | Should -BeLessOrEqual ($after - $before) -Because 'only losses of the stream''s own window are counted'
    }

    It 'says how many records -Count read from a shared buffer and did not output, and the rest stay there' {
        [IO.File]::WriteAllText("$Dir/buffer_size_kb", '2048')
        1..3000 | ForEach-Object { Write-TraceMarker -Instance $Shared -Message "m $_" }
        $w = $null
        $first = @(Receive-TraceEvent -Instance $Name -Count 5 -WarningVariable w -WarningAction SilentlyContinue)
        $first | Should -HaveCount 5
        $consumed = @($w | Where-Object { "$_" -like '*not output*' })
        $consumed | Should -HaveCount 1
        "$($consumed[0])" -match '^(\d+) records were read from the buffer of' | Should -BeTrue
        $dropped = [long]$Matches[1]
        $rest = @(Receive-TraceEvent -Instance $Name -NoWait | Where-Object { $_.buf -like 'm *' })
        ($first.Count + $dropped + $rest.Count) | Should -Be 3000 -Because 'every marker was output, or counted in the warning, or is still in the buffer'
    }

    It 'says so for Select-Object -First too' {
        [IO.File]::WriteAllText("$Dir/buffer_size_kb", '2048')
        1..3000 | ForEach-Object { Write-TraceMarker -Instance $Shared -Message "m $_" }
        $w = $null
        $first = @(Receive-TraceEvent -Instance $Name -WarningVariable w -WarningAction SilentlyContinue | Select-Object -First 3)
        $first | Should -HaveCount 3
        "$(@($w | Where-Object { "$_" -like '*not output*' })[0])" -match '^(\d+) records were read' | Should -BeTrue
        $dropped = [long]$Matches[1]
        $rest = @(Receive-TraceEvent -Instance $Name -NoWait | Where-Object { $_.buf -like 'm *' })
        ($first.Count + $dropped + $rest.Count) | Should -Be 3000
    }

    It 'does not warn for records past -Count in a private instance (nobody else reads it)' {
        $w = $null
        $r = @(Receive-TraceEvent -Event sched:sched_switch -Count 3 -WarningVariable w -WarningAction SilentlyContinue)
        $r | Should -HaveCount 3
        @($w | Where-Object { "$_" -like '*not output*' }) | Should -BeNullOrEmpty
    }
}
