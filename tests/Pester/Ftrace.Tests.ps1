BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasInstances = Test-KernelDebugCapability TraceInstances
    $script:HasSyscalls = Test-KernelDebugCapability SyscallTracepoints
    $script:HasFunctionTracer = Test-KernelDebugCapability FunctionTracer
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    function Get-OwnInstances { Get-ChildItem "$TraceFs/instances" -Directory | Where-Object Name -like "kerneldebug_$($PID)_*" | ForEach-Object Name }
    function Read-TraceFile([string] $Path) { [System.IO.File]::ReadAllText($Path) }
}

Describe 'FtraceInstance cmdlets' -Skip:(-not $HasInstances) {
    It 'makes kerneldebug_<pid>_<n>, lists it and removes it' {
        $i = New-FtraceInstance
        try {
            $i.PSObject.TypeNames[0] | Should -Be 'KernelDebug.FtraceInstance'
            $i.Name | Should -Match "^kerneldebug_$($PID)_\d+$"
            "$TraceFs/instances/$($i.Name)" | Should -Exist
            (Get-FtraceInstance $i.Name).Name | Should -Be $i.Name
            $i.CurrentTracer | Should -Be 'nop'
            $i.TracingOn | Should -BeTrue
        }
        finally { Remove-FtraceInstance $i }
        "$TraceFs/instances/$($i.Name)" | Should -Not -Exist
    }

    It 'sets the clock and buffer size it is given' {
        $i = New-FtraceInstance -Clock mono -BufferSizeKb 512
        try {
            Read-TraceFile "$TraceFs/instances/$($i.Name)/trace_clock" | Should -Match '\[mono\]'
            # The kernel rounds the size up to whole pages.
            [int](Read-TraceFile "$TraceFs/instances/$($i.Name)/buffer_size_kb").Trim() | Should -BeGreaterOrEqual 512
            [int](Read-TraceFile "$TraceFs/instances/$($i.Name)/buffer_size_kb").Trim() | Should -BeLessThan 600
        }
        finally { $i | Remove-FtraceInstance }
    }

    It 'makes nothing with -WhatIf' {
        $before = @(Get-OwnInstances)
        New-FtraceInstance -WhatIf | Should -BeNullOrEmpty
        @(Get-OwnInstances) | Should -Be $before
    }

    It 'refuses the top level and names with a slash' {
        { Remove-FtraceInstance / -ErrorAction Stop } | Should -Throw -ErrorId 'CannotRemoveTopLevel*'
        { New-FtraceInstance 'a/b' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidInstanceName*'
        $before = @(Get-ChildItem "$TraceFs/instances" -Name)
        foreach ($bad in 'kd*', 'kd?x', 'kd[1]', 'kd$(id)', "kd`$x", 'kd x', 'kd"x', 'kd;x') {
            { New-FtraceInstance $bad -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidInstanceName*' -Because "'$bad'"
        }
        foreach ($bad in "kd$([char]0x202E)x", "kd$([char]0x200B)x", "kd$([char]0x2066)x") {
            { New-FtraceInstance $bad -ErrorAction Stop } | Should -Throw -ErrorId 'UnsafeUserString*' -Because "U+$([int]$bad[2]):X4"
        }
        @(Get-ChildItem "$TraceFs/instances" -Name | Where-Object { $_ -notin $before -and $_ -notlike 'kerneldebug_*' }) | Should -BeNullOrEmpty
        # Bidi and zero-width characters are refused in every user string, like control characters.
        $i = New-FtraceInstance
        try { { Write-TraceMarker "a$([char]0x202E)b" -Instance $i -ErrorAction Stop } | Should -Throw -ErrorId 'UnsafeUserString*' }
        finally { Remove-FtraceInstance $i }
    }

    It 'tells a user without privileges that tracefs is closed to it, not that instances are missing' -Skip:(-not (Test-CanRunAsNobody)) {
        if (Test-NobodyOpens "$TraceFs/README") { Set-ItResult -Skipped -Because 'tracefs is open to every user on this host'; return }
        $probe = { param($what, $block) try { $null = & $block; "$what|ok|" } catch { "$what|$($_.FullyQualifiedErrorId)|$($_.CategoryInfo.Category)" } }
        $lines = Invoke-AsNobody ("`$p = { $probe }; " +
            "& `$p list { Get-FtraceInstance -ErrorAction Stop }; & `$p new { New-FtraceInstance -ErrorAction Stop }; & `$p get { Get-FtraceInstance kerneldebug_1_1 -ErrorAction Stop }")
        $rows = @{}
        foreach ($l in $lines) { $f = "$l" -split '\|'; if ($f.Count -eq 3) { $rows[$f[0]] = $f } }
        foreach ($what in 'list', 'new', 'get') {
            $rows[$what][1] | Should -BeLike 'TraceFsAccessDenied*' -Because "$what as nobody printed: $($lines -join "`n")"
            $rows[$what][2] | Should -Be 'PermissionDenied'
        }
    }

    It 'removes several instances named in one -Force list' {
        # "Remove-FtraceInstance -Force a,b" failed to bind: the names came as one array the -Instance transformation passed through.
        $names = "kerneldebug_1_${PID}a", "kerneldebug_1_${PID}b"
        foreach ($n in $names) { New-Item -ItemType Directory "$TraceFs/instances/$n" | Out-Null }
        try {
            Remove-FtraceInstance -Force $names[0], $names[1]
            foreach ($n in $names) { "$TraceFs/instances/$n" | Should -Not -Exist }
        }
        finally { foreach ($n in $names) { if (Test-Path "$TraceFs/instances/$n") { [System.IO.Directory]::Delete("$TraceFs/instances/$n") } } }
    }

    It 'leaves an instance of another live session alone unless -Force' {
        # pid 1 is always alive: an instance named for it looks like another session's.
        $name = 'kerneldebug_1_' + $PID
        New-Item -ItemType Directory "$TraceFs/instances/$name" | Out-Null
        try {
            Remove-FtraceInstance $name -ErrorAction SilentlyContinue -ErrorVariable err
            $err[0].FullyQualifiedErrorId | Should -BeLike 'FtraceInstanceInUse*'
            "$TraceFs/instances/$name" | Should -Exist
            Remove-FtraceInstance $name -Force
            "$TraceFs/instances/$name" | Should -Not -Exist
        }
        finally { if (Test-Path "$TraceFs/instances/$name") { [System.IO.Directory]::Delete("$TraceFs/instances/$name") } }
    }
}

Describe 'Tracers and function filters' -Skip:(-not $HasInstances) {
    BeforeAll { $script:I = New-FtraceInstance }
    AfterAll { Remove-FtraceInstance $I }

    It 'lists exactly available_tracers and marks the current one' {
        $expected = (Read-TraceFile "$TraceFs/instances/$($I.Name)/available_tracers").Trim() -split '\s+'
        $t = Get-FtraceTracer -Instance $I
        $t.Name | Sort-Object | Should -Be ($expected | Sort-Object)
        ($t | Where-Object IsCurrent).Name | Should -Be 'nop'
    }

    It 'refuses a tracer the kernel does not have' {
        { Set-FtraceTracer no_such_tracer -Instance $I -ErrorAction Stop } | Should -Throw -ErrorId 'TracerNotFound*'
    }

    It 'explains a refused function tracer' -Skip:$HasFunctionTracer {
        { Set-FtraceTracer function -Instance $I -ErrorAction Stop } | Should -Throw -ExpectedMessage '*refused the function tracer*'
        (Read-TraceFile "$TraceFs/instances/$($I.Name)/current_tracer").Trim() | Should -Be 'nop'
    }

    It 'never lets a glob become a filter command or several globs' {
        foreach ($bad in 'vfs_read:traceoff', 'vfs_read ksys_read', '!vfs_read', "vfs_read`nksys_read") {
            $e = { Set-FtraceFilter -Function $bad -Instance $I -ErrorAction Stop } | Should -Throw -PassThru
            $e.FullyQualifiedErrorId | Should -Match '^(InvalidFunctionGlob|UnsafeUserString),' -Because $bad
            $e.Exception.Position | Should -BeOfType [int]
        }
        { Set-FtraceFilter -Function vfs_read -Module 'ext4:x' -Instance $I -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidModuleName*'
    }

    It 'says why function filters cannot be set where the function tracer is refused' -Skip:$HasFunctionTracer {
        $e = { Set-FtraceFilter -Function vfs_read -Instance $I -ErrorAction Stop } | Should -Throw -PassThru
        $e.CategoryInfo.Category | Should -Be 'PermissionDenied'
        $e.ErrorDetails.RecommendedAction | Should -Match 'FunctionTracer'
        Get-FtraceFilter -Instance $I -ErrorAction SilentlyContinue -ErrorVariable err | Should -BeNullOrEmpty
        @($err).Count | Should -Be 1
    }

    It 'sets, reads and clears function filters live' -Skip:(-not $HasFunctionTracer) {
        Set-FtraceFilter -Function vfs_read -Instance $I
        (Get-FtraceFilter -Instance $I -Kind Filter).Value | Should -Contain 'vfs_read'
        Clear-FtraceFilter -Instance $I -Kind Filter
        Get-FtraceFilter -Instance $I -Kind Filter | Should -BeNullOrEmpty
    }
}

Describe 'Trace events' -Skip:(-not $HasInstances) {
    BeforeAll { $script:I = New-FtraceInstance }
    AfterAll { Remove-FtraceInstance $I }

    It 'parses sched_switch fields as the format file gives them' {
        $e = Get-TraceEvent sched:sched_switch -Instance $I
        $e.PSObject.TypeNames[0] | Should -Be 'KernelDebug.TraceEventInfo'
        $e.Id | Should -Be ([int](Read-TraceFile "$TraceFs/events/sched/sched_switch/id"))
        $lines = (Read-TraceFile "$TraceFs/events/sched/sched_switch/format") -split "`n" | Where-Object { $_ -match 'field:' -and $_ -notmatch 'common_' }
        $e.Fields.Count | Should -Be $lines.Count
        foreach ($l in $lines) {
            $null = $l -match 'field:.*?(\w+)(\[\d*\])?;\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d)'
            $f = $e.Fields | Where-Object Name -eq $Matches[1]
            $f.Offset | Should -Be ([int]$Matches[3])
            $f.Size | Should -Be ([int]$Matches[4])
            $f.Signed | Should -Be ($Matches[5] -eq '1')
        }
        ($e.Fields | Where-Object Name -eq prev_comm).Kind | Should -Be 'Array'
    }

    It 'finds __data_loc fields' {
        $f = (Get-TraceEvent sched:sched_process_exec).Fields | Where-Object Name -eq filename
        $f.Kind | Should -Be 'DataLocation'
        $f.IsString | Should -BeTrue
    }

    It 'matches a system name without a colon and reports unknown events' {
        (Get-TraceEvent sched).System | Select-Object -Unique | Should -Be 'sched'
        Get-TraceEvent nosuch:event -ErrorAction SilentlyContinue -ErrorVariable err
        $err[0].FullyQualifiedErrorId | Should -BeLike 'TraceEventNotFound*'
    }

    It 'enables with a filter and disables again, clearing the filter' {
        Enable-TraceEvent sched:sched_switch -Filter 'prev_pid == 1' -Instance $I
        $dir = "$TraceFs/instances/$($I.Name)/events/sched/sched_switch"
        (Read-TraceFile "$dir/enable").Trim() | Should -Be '1'
        (Read-TraceFile "$dir/filter").Trim() | Should -Be 'prev_pid == 1'
        (Get-TraceEvent -Instance $I -Enabled).Name | Should -Be 'sched_switch'
        Disable-TraceEvent sched:sched_switch -Instance $I
        (Read-TraceFile "$dir/enable").Trim() | Should -Be '0'
        (Read-TraceFile "$dir/filter").Trim() | Should -Be 'none'
        # -Filter '' is no filter, as for New-Uprobe.
        Enable-TraceEvent sched:sched_switch -Filter '' -Instance $I
        (Read-TraceFile "$dir/enable").Trim() | Should -Be '1'
        (Read-TraceFile "$dir/filter").Trim() | Should -Be 'none'
        Disable-TraceEvent sched:sched_switch -Instance $I
    }

    It 'turns a bad filter into an error with the kernel message and caret, and enables nothing' {
        # prev_pid exists in sched_switch but not in sched_wakeup: the second write fails, the first must be undone.
        $e = { Enable-TraceEvent sched:sched_switch, sched:sched_wakeup -Filter 'prev_pid == 1' -Instance $I -ErrorAction Stop } | Should -Throw -PassThru
        $e.FullyQualifiedErrorId | Should -BeLike 'TraceEventFilterInvalid*'
        $e.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $e.Exception.Message | Should -Match 'Field not found'
        $e.Exception.Position | Should -BeOfType [int]
        foreach ($ev in 'sched_switch', 'sched_wakeup') {
            (Read-TraceFile "$TraceFs/instances/$($I.Name)/events/sched/$ev/enable").Trim() | Should -Be '0'
            (Read-TraceFile "$TraceFs/instances/$($I.Name)/events/sched/$ev/filter").Trim() | Should -Be 'none'
        }
        $e = { Enable-TraceEvent sched:sched_switch -Filter 'prev_pid == abc' -Instance $I -ErrorAction Stop } | Should -Throw -PassThru
        $e.Exception.Message | Should -Match 'did you forget quotes'
        $e.Exception.Position | Should -Be 13
        # The kernel refuses this one with ESRCH, not EINVAL: its parse_error text must still come through.
        $e = { Enable-TraceEvent sched:sched_switch -Filter 'prev_comm ~ "[' -Instance $I -ErrorAction Stop } | Should -Throw -PassThru
        $e.FullyQualifiedErrorId | Should -BeLike 'TraceEventFilterInvalid*'
        $e.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $e.Exception.Message | Should -Match 'Missing matching quote'
        (Read-TraceFile "$TraceFs/instances/$($I.Name)/events/sched/sched_switch/filter").Trim() | Should -Be 'none'
    }

    It 'takes events from Get-TraceEvent through the pipeline' {
        Get-TraceEvent sched:sched_process_fork -Instance $I | Enable-TraceEvent -PassThru | ForEach-Object Enabled | Should -BeTrue
        Get-TraceEvent -Instance $I -Enabled | Disable-TraceEvent
        Get-TraceEvent -Instance $I -Enabled | Should -BeNullOrEmpty
    }

    It 'completes event, tracer and instance names' {
        $c = TabExpansion2 -inputScript 'Enable-TraceEvent sched:sched_swi' -cursorColumn 33
        $c.CompletionMatches.CompletionText | Should -Contain 'sched:sched_switch'
        $c = TabExpansion2 -inputScript 'Set-FtraceTracer n' -cursorColumn 18
        $c.CompletionMatches.CompletionText | Should -Contain 'nop'
        $c = TabExpansion2 -inputScript "Start-Ftrace $($I.Name.Substring(0, 14))" -cursorColumn (13 + 14)
        $c.CompletionMatches.CompletionText | Should -Contain $I.Name
    }
}

Describe 'Recording and Receive-TraceEvent' -Skip:(-not $HasInstances) {
    BeforeEach { $script:I = New-FtraceInstance -Clock mono }
    AfterEach { Remove-FtraceInstance $I }

    It 'writes markers, stops, clears and reads to the end of the data' {
        Write-TraceMarker 'kd marker one' -Instance $I
        Stop-Ftrace $I
        (Read-TraceFile "$TraceFs/instances/$($I.Name)/tracing_on").Trim() | Should -Be '0'
        Write-TraceMarker 'not recorded' -Instance $I -WarningVariable w -WarningAction SilentlyContinue
        $w | Should -Match 'Tracing is off'
        $r = @(Receive-TraceEvent $I -NoWait)
        $r.Count | Should -Be 1
        $r[0].PSObject.TypeNames[0] | Should -Be 'KernelDebug.TraceRecord'
        $r[0].System | Should -Be 'ftrace'
        $r[0].Name | Should -Be 'print'
        $r[0].buf | Should -Be "kd marker one`n" -Because 'the kernel ends a marker with a newline'
        "/proc/$PID/task/$($r[0].ProcessId)" | Should -Exist -Because 'common_pid is the writing thread of this process'
        $r[0].Time | Should -BeGreaterThan (Get-Date).AddMinutes(-1)
        $r[0].Time | Should -BeLessThan (Get-Date).AddSeconds(1)
        Start-Ftrace $I
        Write-TraceMarker 'kd marker two' -Instance $I
        Clear-FtraceBuffer $I
        Receive-TraceEvent $I -NoWait | Should -BeNullOrEmpty
    }

    It 'says so when the kernel cuts a marker longer than trace_marker takes (about 4 KiB)' {
        $long = 'k' * 5000
        Write-TraceMarker $long -Instance $I -ErrorVariable err -ErrorAction SilentlyContinue
        $err | Should -HaveCount 1
        $err[0].FullyQualifiedErrorId | Should -BeLike 'TraceMarkerTruncated*'
        $err[0].CategoryInfo.Category | Should -Be 'LimitsExceeded'
        $r = @(Receive-TraceEvent $I -NoWait)
        $r | Should -HaveCount 1
        $kept = $r[0].buf.TrimEnd("`n").Length
        $kept | Should -BeLessThan 5000
        $err[0].Exception.Message | Should -BeLike "*first $kept of the marker's 5000 bytes*"
        Write-TraceMarker ('k' * 1000) -Instance $I -ErrorVariable err2
        $err2 | Should -BeNullOrEmpty
    }

    It 'streams live records in time order with each field a property, until -Count' {
        Enable-TraceEvent sched:sched_switch -Instance $I
        $r = Receive-TraceEvent $I -Count 50
        $r.Count | Should -Be 50
        for ($k = 1; $k -lt $r.Count; $k++) { $r[$k].Timestamp | Should -BeGreaterOrEqual $r[$k - 1].Timestamp }
        @($r | Where-Object prev_pid -eq $r[0].prev_pid).Count | Should -BeGreaterThan 0
        $r[0].Fields['next_comm'] | Should -BeOfType [string]
        $r[0].prev_pid | Should -BeOfType [int]
        ($r.Cpu | Sort-Object -Unique).Count | Should -BeGreaterThan 0
    }

    It 'stops after -Duration' {
        Enable-TraceEvent sched:sched_process_exec -Instance $I
        $sw = [Diagnostics.Stopwatch]::StartNew()
        Receive-TraceEvent $I -Duration 00:00:01 | Out-Null
        $sw.Elapsed.TotalSeconds | Should -BeGreaterOrEqual 0.9
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 5
    }

    It 'gives sched_wakeup''s comm and pid fields under comm_field and pid, not the record''s own Comm, as the kernel renders them' {
        Enable-TraceEvent sched:sched_wakeup -Instance $I
        # A child that exits wakes this process: the waker (the record's task) differs from the woken task (the fields).
        foreach ($n in 1..3) { /bin/sleep 0.01 }
        Stop-Ftrace $I
        # The kernel's own text of the same events (trace does not consume; Receive-TraceEvent then reads the raw buffer).
        $text = @{}
        foreach ($line in (Read-TraceFile "$TraceFs/instances/$($I.Name)/trace") -split "`n") {
            if ($line -match '\[(\d+)\]\s+\S+\s+(\d+\.\d{6}): sched_wakeup: comm=(.*) pid=(\d+) prio=') { $text["$([int]$Matches[1])|$($Matches[2])"] = @{ Comm = $Matches[3]; Pid = [int]$Matches[4] } }
        }
        $r = @(Receive-TraceEvent $I -NoWait | Where-Object Name -eq sched_wakeup)
        $r.Count | Should -BeGreaterThan 0
        foreach ($w in $r) {
            $w.comm_field | Should -BeExactly $w.Fields['comm']
            $w.pid | Should -Be $w.Fields['pid']
            $w.comm | Should -BeExactly $w.Comm -Because 'the record''s own property keeps its meaning'
            $kernel = $text["$($w.Cpu)|$($w.TimestampText)"]
            if ($kernel) {
                $w.comm_field | Should -BeExactly $kernel.Comm -Because "the kernel rendered this event as comm=$($kernel.Comm)"
                $w.pid | Should -Be $kernel.Pid
            }
        }
        @($r | Where-Object { $text.ContainsKey("$($_.Cpu)|$($_.TimestampText)") }).Count | Should -BeGreaterThan 0 -Because 'the records are the events the trace file shows'
        @($r | Where-Object { $_.comm_field -ne $_.Comm -or $_.pid -ne $_.ProcessId }).Count | Should -BeGreaterThan 0 -Because 'a wakeup names another task than the waker'
        # Everything under its property name: the colliding field as comm_field, the others as themselves.
        $names = $r[0].PSObject.Properties.Name
        $names | Should -Contain 'comm_field'
        $names | Should -Contain 'target_cpu'
        ($names | Where-Object { $_ -eq 'comm' }) | Should -BeExactly @('Comm')
    }

    It 'decodes syscalls and __data_loc strings from a real run' -Skip:(-not $HasSyscalls) {
        Enable-TraceEvent sched:sched_process_exec, syscalls:sys_exit_openat -Instance $I
        /bin/true
        Stop-Ftrace $I
        $r = Receive-TraceEvent $I -NoWait
        ($r | Where-Object Name -eq sched_process_exec | Where-Object filename -eq '/bin/true') | Should -Not -BeNullOrEmpty
        ($r | Where-Object Name -eq sys_exit_openat)[0].ret | Should -BeOfType [long]
    }
}

Describe 'Reliability: nothing left behind, nobody else touched' -Skip:(-not $HasInstances) {
    It 'leaves no private instance after Select-Object -First 1' {
        $before = @(Get-OwnInstances)
        $r = Receive-TraceEvent -Event sched:sched_switch | Select-Object -First 1
        $r.Name | Should -Be 'sched_switch'
        @(Get-OwnInstances) | Should -Be $before
    }

    It 'leaves no private instance when the pipeline is stopped (Ctrl+C)' {
        $before = @(Get-OwnInstances)
        $ps = [powershell]::Create()
        $null = $ps.AddScript("Import-Module '$env:KERNELDEBUG_MODULE_PATH'; Receive-TraceEvent -Event 'sched:*'")
        $h = $ps.BeginInvoke()
        $deadline = (Get-Date).AddSeconds(20)
        while (@(Get-OwnInstances).Count -le $before.Count -and (Get-Date) -lt $deadline) { Start-Sleep -Milliseconds 50 }
        @(Get-OwnInstances).Count | Should -BeGreaterThan $before.Count -Because 'the stream made its private instance'
        Start-Sleep -Milliseconds 300
        $ps.Stop()
        $ps.Dispose()
        @(Get-OwnInstances) | Should -Be $before
    }

    It 'kills the traced command and removes its instance when Invoke-Ftrace is stopped' {
        $before = @(Get-OwnInstances)
        $ps = [powershell]::Create()
        $null = $ps.AddScript("Import-Module '$env:KERNELDEBUG_MODULE_PATH'; Invoke-Ftrace -Command sleep -ArgumentList 60 -Event sched:sched_switch")
        $h = $ps.BeginInvoke()
        $deadline = (Get-Date).AddSeconds(20)
        $sleeper = $null
        while (-not $sleeper -and (Get-Date) -lt $deadline) {
            Start-Sleep -Milliseconds 100
            $sleeper = Get-Process sleep -ErrorAction SilentlyContinue | Where-Object { (Get-Content "/proc/$($_.Id)/status" -ErrorAction SilentlyContinue) -match "^PPid:\s+$PID$" }
        }
        $sleeper | Should -Not -BeNullOrEmpty -Because 'Invoke-Ftrace started sleep as a child of this process'
        $ps.Stop()
        $ps.Dispose()
        @(Get-OwnInstances) | Should -Be $before
        Start-Sleep -Milliseconds 200
        Test-Path "/proc/$($sleeper.Id)" | Should -BeFalse -Because 'the traced command is killed and reaped'
    }

    It 'leaves state someone else set up untouched' {
        # Another tool's instance, with an enabled event and a filter.
        $foreign = "$TraceFs/instances/othertool_$PID"
        New-Item -ItemType Directory $foreign | Out-Null
        try {
            [System.IO.File]::AppendAllText("$foreign/events/sched/sched_switch/filter", 'prev_pid == 1')
            [System.IO.File]::AppendAllText("$foreign/events/sched/sched_switch/enable", '1')
            $topEvents = Read-TraceFile "$TraceFs/set_event"
            $topTracer = Read-TraceFile "$TraceFs/current_tracer"
            Receive-TraceEvent -Event sched:sched_switch -Filter 'prev_pid != 1' -Count 3 | Out-Null
            Invoke-Ftrace -Command /bin/true -Event sched:sched_switch | Out-Null
            $i = New-FtraceInstance; Enable-TraceEvent 'sched:*' -Instance $i; Remove-FtraceInstance $i
            (Read-TraceFile "$foreign/events/sched/sched_switch/filter").Trim() | Should -Be 'prev_pid == 1'
            (Read-TraceFile "$foreign/events/sched/sched_switch/enable").Trim() | Should -Be '1'
            Read-TraceFile "$TraceFs/set_event" | Should -Be $topEvents
            Read-TraceFile "$TraceFs/current_tracer" | Should -Be $topTracer
        }
        finally {
            [System.IO.File]::AppendAllText("$foreign/events/sched/sched_switch/enable", '0')
            [System.IO.Directory]::Delete($foreign)
        }
    }

    It 'keeps two sessions apart, each in its own instance' {
        $a = New-FtraceInstance; $b = New-FtraceInstance
        try {
            $jobs = foreach ($pair in @(@($a.Name, 'from A'), @($b.Name, 'from B'))) {
                $ps = [powershell]::Create()
                $null = $ps.AddScript("Import-Module '$env:KERNELDEBUG_MODULE_PATH'; 1..5 | ForEach-Object { Write-TraceMarker '$($pair[1])' -Instance '$($pair[0])' }")
                [pscustomobject]@{ Ps = $ps; Handle = $ps.BeginInvoke() }
            }
            foreach ($j in $jobs) { $j.Ps.EndInvoke($j.Handle); $j.Ps.Dispose() }
            $ra = Receive-TraceEvent $a -NoWait
            $rb = Receive-TraceEvent $b -NoWait
            $ra.buf.TrimEnd() | Should -Be (1..5 | ForEach-Object { 'from A' })
            $rb.buf.TrimEnd() | Should -Be (1..5 | ForEach-Object { 'from B' })
        }
        finally { Remove-FtraceInstance $a, $b }
    }
}

Describe 'Invoke-Ftrace' -Skip:(-not $HasInstances) {
    It 'records only the command''s process tree and removes its instance' {
        $before = @(Get-OwnInstances)
        $r = Invoke-Ftrace -Command ls -ArgumentList /etc/hostname -Event sched:sched_process_exec, sched:sched_process_exit, sched:sched_switch
        @(Get-OwnInstances) | Should -Be $before
        $exec = $r | Where-Object Name -eq sched_process_exec
        @($exec).Count | Should -Be 1
        $exec.filename | Should -Be '/usr/bin/ls'
        # sched_switch is kept when either side is in the pid filter.
        foreach ($x in $r) {
            if ($x.Name -eq 'sched_switch') { $exec.ProcessId | Should -BeIn @($x.prev_pid, $x.next_pid) }
            else { $x.ProcessId | Should -Be $exec.ProcessId }
        }
        ($r | Where-Object Name -eq sched_process_exit).ProcessId | Should -Be $exec.ProcessId
    }

    It 'names a command that has already exited by the time its records are read (saved_cmdlines)' {
        $r = @(Invoke-Ftrace -Command /bin/true -Event syscalls:sys_enter_exit_group, sched:sched_process_exit)
        $r.Count | Should -BeGreaterOrEqual 2
        $r | ForEach-Object { $_.Comm | Should -Be 'true' -Because "$($_.Name) of pid $($_.ProcessId)" }
    }

    It 'follows processes a script block starts (event-fork)' {
        $r = Invoke-Ftrace { /bin/true; /bin/true } -Event sched:sched_process_exec
        @($r | Where-Object filename -eq '/bin/true').Count | Should -Be 2
    }

    It 'returns function calls and call trees where the kernel allows the function tracers' -Skip:(-not $HasFunctionTracer) {
        $calls = Invoke-Ftrace -Command cat -ArgumentList /etc/hostname -Function 'vfs_read'
        ($calls | Where-Object { $_ -is [KernelDebug.FunctionCall] }).Function | Should -Contain 'vfs_read'
        $trees = Invoke-Ftrace -Command cat -ArgumentList /etc/hostname -Tracer function_graph
        $trees | Where-Object { $_ -is [KernelDebug.FunctionGraphCall] -and $_.IsComplete } | Should -Not -BeNullOrEmpty
    }

    It 'records in an instance it is given and puts back every setting it changed' {
        $i = New-FtraceInstance -Clock global -BufferSizeKb 256
        try {
            $d = "$TraceFs/instances/$($i.Name)"
            [KernelDebug.Host.ControlFile]::Append("$d/set_event_pid", "$PID")
            [KernelDebug.Host.ControlFile]::Append("$d/events/sched/sched_process_exit/filter", 'prio > 1000')
            $files = 'tracing_on', 'trace_clock', 'buffer_size_kb', 'options/event-fork', 'set_event_pid', 'set_event', 'events/sched/sched_process_exec/filter', 'events/sched/sched_process_exit/filter'
            $before = $files | ForEach-Object { Read-TraceFile "$d/$_" }
            $t = 'the caller''s own $t'
            $r = Invoke-Ftrace -Instance $i.Name -Command /bin/true -Event sched:sched_process_exec, sched:sched_process_exit -Filter 'common_pid > 0'
            $t | Should -Be 'the caller''s own $t' -Because 'the cmdlet must not set variables in the caller''s scope'
            @($r | Where-Object Name -eq sched_process_exec).filename | Should -Be '/bin/true'
            @($r | Where-Object Name -eq sched_process_exit).Count | Should -Be 1
            for ($n = 0; $n -lt $files.Count; $n++) { Read-TraceFile "$d/$($files[$n])" | Should -Be $before[$n] -Because "$($files[$n]) is put back" }
        }
        finally { Remove-FtraceInstance $i }
    }

    It 'says what is missing when asked for nothing, or for a program that does not exist' {
        { Invoke-Ftrace -Command /bin/true -ErrorAction Stop } | Should -Throw -ErrorId 'NothingToTrace*'
        { Invoke-Ftrace -Command /no/such/program -Event sched:sched_switch -ErrorAction Stop } | Should -Throw -ErrorId 'CommandNotFound*'
        @(Get-OwnInstances) | Should -BeNullOrEmpty
    }
}
