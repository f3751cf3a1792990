# KernelVm: runs only inside the debug-kernel guest (build.ps1 -Task VmTest); the host run excludes the tag.
# The ftrace cmdlets with the function tracers live (the host refuses them), and hist triggers through raw tracefs
# writes (the module has no hist cmdlet). Under TCG every tracer switch patches kernel text and takes 10-20 s, so each
# test switches on and off once, and patches only a few functions: graphing the whole kernel stalls the guest.
BeforeAll {
    . (Join-Path $PSScriptRoot 'KernelVm.Raw.ps1')
    $script:Dd = (Get-Command dd -CommandType Application | Select-Object -First 1).Source
    $script:DdArgs = @('if=/etc/hostname', 'of=/dev/null', 'bs=12345', 'count=1')
    function Invoke-DdRead { Invoke-Traced $Dd $DdArgs }
    # What Invoke-Ftrace -Instance / changes at the top level, to compare before and after.
    function Get-TopLevelSettings {
        foreach ($f in 'current_tracer', 'tracing_on', 'trace_clock', 'set_ftrace_filter', 'set_ftrace_pid', 'set_event_pid', 'options/function-fork', 'options/event-fork') {
            "$f=$(Read-RawFile "$TraceFs/$f")"
        }
    }
}

Describe 'The function tracer on the debug kernel' -Tag KernelVm -Skip:(-not $env:KERNELDEBUG_VM) {
    BeforeAll { $script:Inst = New-FtraceInstance }
    AfterAll {
        if ($Inst -and (Test-Path $Inst.Path)) {
            Set-FtraceTracer -Instance $Inst -Name nop -ErrorAction Continue
            Remove-FtraceInstance $Inst -ErrorAction Continue
        }
    }

    It 'Set-FtraceFilter vfs_* and Set-FtraceTracer function in an instance: Receive-TraceEvent gets the vfs_read of a traced process' {
        # The filter goes first, so only vfs_* is patched when the tracer starts.
        Set-FtraceFilter -Instance $Inst -Function 'vfs_*'
        $filter = @(Get-FtraceFilter -Instance $Inst -Kind Filter)
        $filter.Value | Should -Contain 'vfs_read'
        $filter.Value | Where-Object { $_ -notlike 'vfs_*' } | Should -BeNullOrEmpty
        Set-FtraceTracer -Instance $Inst -Name function
        try {
            (Get-FtraceTracer -Instance $Inst -Current).Name | Should -Be 'function'
            $ddPid = Invoke-DdRead
            Stop-Ftrace -Instance $Inst
            $records = @(Receive-TraceEvent -Instance $Inst -NoWait | Where-Object ProcessId -eq $ddPid)
        }
        finally { Set-FtraceTracer -Instance $Inst -Name nop }
        $records | Should -Not -BeNullOrEmpty
        $records[0].System | Should -Be 'ftrace'
        $records[0].Name | Should -Be 'function'
        # The guest's kallsyms, through the module's symbol layer: the function holding each address.
        $symbols = [KernelDebug.Symbols.Kallsyms]::Current
        $resolve = { param($ip) $symbols.Find([uint64] $ip).Name }
        $functions = $records | ForEach-Object { & $resolve $_.ip }
        $functions | Where-Object { $_ -notlike 'vfs_*' } | Should -BeNullOrEmpty -Because 'only vfs_* is in the filter'
        $functions | Should -Contain 'vfs_read'
        (& $resolve ($records | Where-Object { (& $resolve $_.ip) -eq 'vfs_read' })[0].parent_ip) | Should -BeLike 'ksys_read*'
        Clear-FtraceFilter -Instance $Inst -Kind Filter
        Get-FtraceFilter -Instance $Inst -Kind Filter | Should -BeNullOrEmpty
        (Read-RawFile "$TraceFs/current_tracer").Trim() | Should -Be 'nop' -Because 'the top level was not touched'
    }

    It 'Invoke-Ftrace -Function vfs_read returns FunctionCall records of the command alone, and removes its instance' {
        $before = @(Get-FtraceInstance | Where-Object Name -like "kerneldebug_$($PID)_*").Name
        $calls = @(Invoke-Ftrace -Command $Dd -ArgumentList $DdArgs -Function vfs_read)
        $calls | Should -Not -BeNullOrEmpty
        $calls | ForEach-Object { $_ | Should -BeOfType [KernelDebug.FunctionCall] }
        $calls.Function | Sort-Object -Unique | Should -Be 'vfs_read'
        @($calls.ProcessId | Sort-Object -Unique).Count | Should -Be 1 -Because 'set_ftrace_pid holds only dd'
        $calls.Comm | Should -Contain 'dd'
        $calls.Parent | Where-Object { $_ -like 'ksys_read*' } | Should -Not -BeNullOrEmpty
        @(Get-FtraceInstance | Where-Object Name -like "kerneldebug_$($PID)_*").Name | Should -Be $before
    }
}

Describe 'The function_graph tracer on the debug kernel' -Tag KernelVm -Skip:(-not $env:KERNELDEBUG_VM) {
    It 'lists function_graph only at the top level on 6.1' {
        $inst = New-FtraceInstance
        try { (Get-FtraceTracer -Instance $inst).Name | Should -Not -Contain 'function_graph' }
        finally { Remove-FtraceInstance $inst }
        (Get-FtraceTracer -Instance /).Name | Should -Contain 'function_graph'
    }

    It 'Invoke-Ftrace -Instance / -Tracer function_graph assembles vfs_read call trees with durations, and puts the top level back' {
        $before = Get-TopLevelSettings
        # Only vfs_read and two of its callees are patched: set_ftrace_filter through -Function.
        $patched = 'vfs_read', 'rw_verify_area', 'security_file_permission'
        $out = @(Invoke-Ftrace -Instance / -Command $Dd -ArgumentList $DdArgs -Tracer function_graph -Function $patched)
        Get-TopLevelSettings | Should -Be $before -Because 'every setting Invoke-Ftrace changed is put back'
        $trees = @($out | Where-Object { $_ -is [KernelDebug.FunctionGraphCall] -and $_.Function -eq 'vfs_read' -and $_.IsComplete })
        $trees | Should -Not -BeNullOrEmpty -Because "Invoke-Ftrace returned: $(($out | Select-Object -First 10) -join '; ')"
        $withChildren = @($trees | Where-Object { $_.Children.Count -gt 0 })
        $withChildren | Should -Not -BeNullOrEmpty
        foreach ($t in $withChildren) {
            $t.Depth | Should -Be 0
            $t.Duration | Should -BeGreaterThan ([TimeSpan]::Zero)
            $childSum = [TimeSpan]::FromTicks((($t.Children | Where-Object IsComplete).Duration | Measure-Object Ticks -Sum).Sum)
            $childSum | Should -BeLessOrEqual $t.Duration -Because 'a callee cannot take longer than its caller'
            $t.Children.Depth | Sort-Object -Unique | Should -Be 1
            $t.Descendants().Function | Where-Object { $_ -notin $patched } | Should -BeNullOrEmpty -Because 'only the filtered functions are patched'
        }
        $withChildren.Children.Function | Should -Contain 'rw_verify_area'
        @($out.ProcessId | Sort-Object -Unique).Count | Should -Be 1 -Because 'set_ftrace_pid holds only dd'
    }
}

Describe 'Hist triggers on the debug kernel' -Tag KernelVm -Skip:(-not $env:KERNELDEBUG_VM) {
    BeforeAll {
        $script:Inst = New-RawInstance
        $script:Ev = "$Inst/events/syscalls/sys_enter_openat"
        $script:HistTrigger = 'hist:keys=common_pid.execname:vals=hitcount'
    }
    AfterAll {
        if (Test-Path $Ev) {
            Add-RawLine "$Ev/enable" '0'
            if ((Read-RawFile "$Ev/trigger") -match '^hist:') { [KernelDebug.Host.ControlFile]::Truncate("$Ev/trigger") }
        }
        Remove-RawInstance $Inst
    }

    It 'counts sys_enter_openat per process, in agreement with the event records' {
        Add-RawLine "$Ev/trigger" $HistTrigger
        Add-RawLine "$Ev/enable" '1'
        $ddPid = Invoke-DdRead
        Add-RawLine "$Ev/enable" '0'
        $histText = Read-RawFile "$Ev/hist"
        $records = @((Read-RawFile "$Inst/trace") -split "`n" | Where-Object { $_ -match "^\s*dd-$ddPid\s.*\bsys_openat\(" })
        $histText -match "(?m)^\{ common_pid: dd\s+\[\s*$ddPid\] \} hitcount:\s+(\d+)$" | Should -BeTrue -Because "the histogram has a row for dd:`n$histText"
        [int] $Matches[1] | Should -Be $records.Count -Because 'the histogram and the trace saw the same openat calls of dd'
        $records.Count | Should -BeGreaterThan 0
        $histText | Should -Match '(?m)^\s+Hits: \d+$'
        Get-RawWriteErrno "$Ev/trigger" "!$HistTrigger" | Should -Be 0 -Because "'!$HistTrigger' removes the trigger"
        Read-RawFile "$Ev/trigger" | Should -Match '^# Available triggers:'
    }
}
