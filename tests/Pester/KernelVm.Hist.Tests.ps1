# KernelVm: runs only inside the debug-kernel guest (build.ps1 -Task VmTest, or tests/vm/Invoke-VmTest.ps1 -Include
# KernelVm.Hist*); the host run excludes the tag. Hist triggers, synthetic events and the wakeup-latency histogram
# through the cmdlets, with the kernel as the oracle: the raw hist file, the trigger file, the instance's error_log
# (its kind and caret column for the selftests' bad definitions) and synthetic_events.
BeforeAll {
    . (Join-Path $PSScriptRoot 'KernelVm.Raw.ps1')
    $script:Dd = (Get-Command dd -CommandType Application | Select-Object -First 1).Source
    $script:DdArgs = @('if=/etc/hostname', 'of=/dev/null', 'bs=12345', 'count=1')
    function Invoke-DdRead { Invoke-Traced $Dd $DdArgs }
    function Get-HistLines([string] $Path) { @((Read-RawFile $Path) -split "`n" | Where-Object { $_ -like 'hist:*' }) }
    function Get-MyInstances { @(Get-FtraceInstance | Where-Object Name -like "kerneldebug_$($PID)_*").Name }
}

Describe 'New-TraceHistogram and its control cmdlets on the debug kernel' -Tag KernelVm -Skip:(-not $env:KERNELDEBUG_VM) {
    BeforeAll {
        $script:Inst = New-FtraceInstance
        $script:EvDir = "$($Inst.Path)/events/syscalls/sys_enter_openat"
    }
    AfterAll { if ($Inst -and (Test-Path $Inst.Path)) { Remove-FtraceInstance $Inst -ErrorAction Continue } }

    It 'counts openat per process like the raw hist file, and pauses, continues, clears and removes it' {
        $h = New-TraceHistogram $Inst syscalls:sys_enter_openat -Key common_pid.execname -Sort hitcount.descending
        $h.PSObject.TypeNames[0] | Should -Be 'KernelDebug.TraceHistogram'
        $h.Trigger | Should -BeLike 'hist:keys=common_pid.execname:vals=hitcount:sort=hitcount.descending*'
        Get-HistLines "$EvDir/trigger" | Should -HaveCount 1
        $ddPid = Invoke-DdRead
        $raw = Read-RawFile "$EvDir/hist"
        $raw -match "(?m)^\{ common_pid: dd\s+\[\s*$ddPid\] \} hitcount:\s+(\d+)$" | Should -BeTrue -Because "the kernel's table has dd:`n$raw"
        $rawCount = [int] $Matches[1]
        $live = Get-TraceHistogram $Inst syscalls:sys_enter_openat
        $row = $live.Buckets | Where-Object { $_.Keys.common_pid -eq $ddPid }
        $row.Labels.common_pid | Should -Be 'dd'
        $row.HitCount | Should -Be $rawCount

        $live | Suspend-TraceHistogram
        (Get-TraceHistogram $Inst syscalls:sys_enter_openat).Paused | Should -BeTrue
        $paused = Invoke-DdRead
        (Get-TraceHistogram $Inst syscalls:sys_enter_openat).Buckets.Keys.common_pid | Should -Not -Contain $paused -Because 'a paused trigger counts nothing'
        Resume-TraceHistogram -Instance $Inst -Event syscalls:sys_enter_openat
        (Get-TraceHistogram $Inst syscalls:sys_enter_openat).Paused | Should -BeFalse
        $resumed = Invoke-DdRead
        (Get-TraceHistogram $Inst syscalls:sys_enter_openat).Buckets.Keys.common_pid | Should -Contain $resumed

        Get-TraceHistogram $Inst syscalls:sys_enter_openat | Clear-TraceHistogram
        (Get-TraceHistogram $Inst syscalls:sys_enter_openat).Buckets.Keys.common_pid | Should -Not -Contain $resumed -Because 'clear empties the table'
        Get-HistLines "$EvDir/trigger" | Should -HaveCount 1 -Because 'the trigger stays'

        Get-TraceHistogram $Inst syscalls:sys_enter_openat | Remove-TraceHistogram
        Get-HistLines "$EvDir/trigger" | Should -HaveCount 0
    }

    It 'log2 keys with a value and a filter: the kernel prints the trigger as written' {
        $h = New-TraceHistogram $Inst kmem:kmalloc -Key bytes_req.log2 -Value bytes_alloc -Filter 'bytes_req > 64' -Size 4096
        try {
            $h.Trigger | Should -Be 'hist:keys=bytes_req.log2:vals=hitcount,bytes_alloc:sort=hitcount:size=4096 if bytes_req > 64'
            Invoke-DdRead | Out-Null
            $t = Get-TraceHistogram $Inst kmem:kmalloc
            $t.Buckets | ForEach-Object { $_.Keys.bytes_req | Should -BeGreaterThan 64 }
            $t.Buckets | ForEach-Object { [Math]::Log2($_.Keys.bytes_req) % 1 | Should -Be 0 }
        }
        finally { $h | Remove-TraceHistogram }
        Get-HistLines "$($Inst.Path)/events/kmem/kmalloc/trigger" | Should -HaveCount 0
    }

    It 'a trigger the kernel refuses (one already there) carries the kernel''s kind and column from error_log' {
        $h = New-TraceHistogram $Inst sched:sched_switch -Key next_pid
        try {
            $e = { New-TraceHistogram $Inst sched:sched_switch -Key next_pid -ErrorAction Stop } | Should -Throw -ErrorId 'HistTriggerEexist*' -PassThru
            $e.Exception.Message | Should -Match 'Hist trigger already exists'
            $e.Exception.Message | Should -Match 'kernel error_log'
            $e.CategoryInfo.Category | Should -Be ResourceExists
        }
        finally { $h | Remove-TraceHistogram }
    }

    It 'the validator''s kind and column equal the kernel''s for the selftest case <Line>' -ForEach @(
        @{ Line = 'hist:keys=common_pid:vals=bytes_req:sort=common_pid,junk'; Sort = @('common_pid', 'junk'); Values = @('bytes_req') }
        @{ Line = 'hist:keys=common_pid:vals=bytes_req:sort=common_pid.junk'; Sort = @('common_pid.junk'); Values = @('bytes_req') }
        @{ Line = 'hist:keys=common_pid:vals=bytes_req,bytes_alloc:sort=common_pid,bytes_req,bytes_alloc'; Sort = @('common_pid', 'bytes_req', 'bytes_alloc'); Values = @('bytes_req', 'bytes_alloc') }
        @{ Line = 'hist:keys=common_pid,nosuch'; Sort = @(); Values = @(); Keys = @('common_pid', 'nosuch') }
        @{ Line = 'hist:keys=bytes_req.junk'; Sort = @(); Values = @(); Keys = @('bytes_req.junk') }
    ) {
        $trigger = "$($Inst.Path)/events/kmem/kmalloc/trigger"
        Get-RawWriteErrno $trigger $Line | Should -Not -Be 0
        $entry = [KernelDebug.Probes.TraceErrorLog]::Parse((Read-RawFile "$($Inst.Path)/error_log")) | Select-Object -Last 1
        $entry.Command | Should -Be $Line
        $spec = [KernelDebug.HistTriggerSpec]::new()
        $spec.Keys = [string[]] $(if ($Keys) { $Keys } else { @('common_pid') })
        $spec.Values = [string[]] $Values
        $spec.Sort = [string[]] $Sort
        $mine = [KernelDebug.Ftrace.HistTriggers]::Build($spec, [KernelDebug.Ftrace.TraceEventCatalog]::GetFormat('kmem', 'kmalloc'), $null, $null)
        $mine.Item1 | Should -Be $Line
        [KernelDebug.HistErrors]::Text($mine.Item2.Kind) | Should -Be $entry.Message
        $mine.Item2.Position | Should -Be $entry.Position
    }
}

Describe 'Synthetic events and the wakeup latency histogram on the debug kernel' -Tag KernelVm -Skip:(-not $env:KERNELDEBUG_VM) {
    It 'New-SyntheticEvent makes an event that Get-SyntheticEvent lists and that has its own event directory, and Remove-SyntheticEvent removes it' {
        $name = "kerneldebug_vmtest_$PID"
        $e = New-SyntheticEvent $name -Field 'pid_t pid', 'u64 lat' -Interface SyntheticEvents
        try {
            $e.PSObject.TypeNames[0] | Should -Be 'KernelDebug.SyntheticEvent'
            $e.Fields | Should -Be @('pid_t pid', 'u64 lat')
            (Read-RawFile "$TraceFs/synthetic_events") | Should -Match "(?m)^$name\s+pid_t pid; u64 lat"
            Test-Path "$TraceFs/events/synthetic/$name/format" | Should -BeTrue
            (Get-SyntheticEvent $name).Name | Should -Be $name
        }
        finally { Remove-SyntheticEvent $name }
        (Read-RawFile "$TraceFs/synthetic_events") | Should -Not -Match $name
    }

    It 'New-SyntheticEvent -Interface DynamicEvents writes "s:" where the README documents it, and refuses clearly where not' {
        $name = "kerneldebug_vmdyn_$PID"
        if ((Read-RawFile "$TraceFs/README") -match 's:\[synthetic/\]') {
            New-SyntheticEvent $name -Field 'u64 lat' -Interface DynamicEvents | Out-Null
            try { (Read-RawFile "$TraceFs/dynamic_events") | Should -Match "s:synthetic/$name" }
            finally { Remove-SyntheticEvent $name }
        }
        else {
            { New-SyntheticEvent $name -Field 'u64 lat' -Interface DynamicEvents -ErrorAction Stop } | Should -Throw -ErrorId 'SyntheticDynamicEventsMissing*'
        }
        (Read-RawFile "$TraceFs/synthetic_events") | Should -Not -Match $name
    }

    It 'a hist trigger fires a synthetic event onmatch (the selftest''s wakeup_latency), and the synthetic event takes a hist of its own' {
        $name = "kerneldebug_vmlat_$PID"
        $inst = New-FtraceInstance
        New-SyntheticEvent $name -Field 'pid_t pid', 'char comm[16]', 'u64 lat' -Interface SyntheticEvents | Out-Null
        $made = @()
        try {
            $made += New-TraceHistogram $inst sched:sched_waking -Key pid -Variable 'ts0=common_timestamp.usecs'
            $made += New-TraceHistogram $inst sched:sched_switch -Key next_pid -Variable 'wakeup_lat=common_timestamp.usecs-$ts0' -OnMatch sched.sched_waking -Action "trace($name,next_pid,next_comm,`$wakeup_lat)"
            $made += New-TraceHistogram $inst "synthetic:$name" -Key pid, lat.log2
            Start-Sleep -Seconds 2
            $t = Get-TraceHistogram $inst "synthetic:$name"
            $t.Buckets.Count | Should -BeGreaterThan 0 -Because 'tasks woke up in two seconds'
            $t.Buckets | ForEach-Object { [Math]::Log2([double] $_.Keys.lat) % 1 | Should -Be 0 }
            { Remove-SyntheticEvent $name -ErrorAction Stop } | Should -Throw -ErrorId 'SyntheticEventBusy*' -Because 'triggers still use it'
        }
        finally {
            [array]::Reverse($made)
            $made | Remove-TraceHistogram
            # Read before the instance goes (its trigger file goes with it).
            $left = @(Get-HistLines "$($inst.Path)/events/sched/sched_switch/trigger")
            Remove-SyntheticEvent $name
            Remove-FtraceInstance $inst
        }
        $left | Should -HaveCount 0
    }

    It 'Measure-WakeupLatency returns per-task log2 buckets and leaves no trigger, synthetic event or instance' {
        $before = Get-MyInstances
        # pwsh's own threads, kworkers and the timer wake up often enough in three seconds.
        $w = @(Measure-WakeupLatency -Duration 3)
        $w.Count | Should -BeGreaterThan 0
        $w[0].PSObject.TypeNames[0] | Should -Be 'KernelDebug.WakeupLatencyHistogram'
        foreach ($task in $w) {
            $task.Count | Should -Be (($task.Buckets | Measure-Object Count -Sum).Sum)
            $task.Buckets | ForEach-Object { [Math]::Log2([double] $_.UpToMicroseconds) % 1 | Should -Be 0 }
            $task.MaxMicroseconds | Should -Be $task.Buckets[-1].UpToMicroseconds
        }
        Get-MyInstances | Should -Be $before
        (Read-RawFile "$TraceFs/synthetic_events") | Should -Not -Match 'kerneldebug_wakeup_lat'
    }
}
