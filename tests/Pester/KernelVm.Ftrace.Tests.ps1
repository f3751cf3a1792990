# KernelVm: runs only inside the debug-kernel guest (build.ps1 -Task VmTest); the host run excludes the tag.
# The function tracers and hist triggers through the raw tracefs writes the ftrace cmdlets will make (KernelVm.Raw.ps1).
# Under TCG every tracer switch patches kernel text and takes 10-20 s, so each test switches on and off once.
BeforeAll {
    . (Join-Path $PSScriptRoot 'KernelVm.Raw.ps1')
    $script:Dd = (Get-Command dd -CommandType Application | Select-Object -First 1).Source
    function Invoke-DdRead { Invoke-Traced $Dd @('if=/etc/hostname', 'of=/dev/null', 'bs=12345', 'count=1') }

    function ConvertFrom-RawGraph([string[]] $Lines, [string] $Root) {
        # function_graph text to call trees: per CPU, "f() {" opens a frame, "}" closes it with the duration,
        # "f();" is a leaf with its duration. Returns the trees rooted at $Root.
        $stacks = @{}
        foreach ($l in $Lines) {
            if ($l -notmatch '^\s*(\d+)\)\s+(?:[!#@*+$-]?\s*([\d.]+) us\s+)?\|\s+(.*?)\s*$') { continue }
            $cpu = $Matches[1]; $dur = $Matches[2]; $body = $Matches[3]
            if (-not $stacks.ContainsKey($cpu)) { $stacks[$cpu] = [System.Collections.Generic.Stack[object]]::new() }
            $st = $stacks[$cpu]
            if ($body -match '^([\w.]+)\(\) \{$') {
                $node = [pscustomobject]@{ Name = $Matches[1]; Duration = $null; Children = [System.Collections.Generic.List[object]]::new() }
                if ($st.Count) { $st.Peek().Children.Add($node) }
                $st.Push($node)
            }
            elseif ($body -match '^([\w.]+)\(\);$') {
                $leaf = [pscustomobject]@{ Name = $Matches[1]; Duration = [double] $dur; Children = @() }
                if ($st.Count) { $st.Peek().Children.Add($leaf) }
            }
            elseif ($body -match '^\}' -and $st.Count) {
                $node = $st.Pop(); if ($dur) { $node.Duration = [double] $dur }
                if ($node.Name -eq $Root -and $node.Duration) { $node }
            }
        }
    }
}

Describe 'The function tracer on the debug kernel' -Tag KernelVm -Skip:(-not $env:KERNELDEBUG_VM) {
    BeforeAll { $script:Inst = New-RawInstance }
    AfterAll {
        if (Test-Path $Inst) { Add-RawLine "$Inst/current_tracer" 'nop' }
        Remove-RawInstance $Inst
    }

    It 'traces vfs_* in a private instance: function records for the read of a traced process' {
        # Set-FtraceFilter 'vfs_*' then Set-FtraceTracer function, in the instance; the filter goes first so only vfs_* is patched.
        Add-RawLine "$Inst/set_ftrace_filter" 'vfs_*'
        $filter = (Read-RawFile "$Inst/set_ftrace_filter") -split "`n" | Where-Object { $_ }
        $filter | Should -Contain 'vfs_read'
        $filter | Where-Object { $_ -notlike 'vfs_*' } | Should -BeNullOrEmpty
        Add-RawLine "$Inst/current_tracer" 'function'
        try {
            $ddPid = Invoke-DdRead
            Add-RawLine "$Inst/tracing_on" '0'
            $records = @((Read-RawFile "$Inst/trace") -split "`n" | Where-Object { $_ -match "^\s*dd-$ddPid\s+\[\d+\] \S+\s+[\d.]+: (\w+) <-(\S+)$" } |
                ForEach-Object { $null = $_ -match ': (\w+) <-(\S+)$'; [pscustomobject]@{ Function = $Matches[1]; Parent = $Matches[2] } })
        }
        finally { Add-RawLine "$Inst/current_tracer" 'nop' }
        $records | Should -Not -BeNullOrEmpty
        $records.Function | Where-Object { $_ -notlike 'vfs_*' } | Should -BeNullOrEmpty -Because 'only vfs_* is in the filter'
        $records | Where-Object { $_.Function -eq 'vfs_read' -and $_.Parent -like 'ksys_read*' } | Should -Not -BeNullOrEmpty
        # The top level stayed as it was.
        (Read-RawFile "$TraceFs/current_tracer").Trim() | Should -Be 'nop'
    }
}

Describe 'The function_graph tracer on the debug kernel' -Tag KernelVm -Skip:(-not $env:KERNELDEBUG_VM) {
    BeforeAll {
        # 6.1 offers function_graph only at the top level (instances list just function and nop): save what we touch.
        $script:Saved = @{
            Tracer = (Read-RawFile "$TraceFs/current_tracer").Trim()
            On     = (Read-RawFile "$TraceFs/tracing_on").Trim()
            Graph  = Read-RawFile "$TraceFs/set_graph_function"
            Filter = Read-RawFile "$TraceFs/set_ftrace_filter"
        }
        function Restore-RawList([string] $File, [string] $Text) {
            [KernelDebug.Host.ControlFile]::Truncate("$TraceFs/$File")
            foreach ($f in $Text -split "`n" | Where-Object { $_ -and $_ -notmatch '^#' }) { Add-RawLine "$TraceFs/$File" $f }
        }
    }
    AfterAll {
        Add-RawLine "$TraceFs/current_tracer" $Saved.Tracer
        Add-RawLine "$TraceFs/tracing_on" $Saved.On
        Restore-RawList set_graph_function $Saved.Graph
        Restore-RawList set_ftrace_filter $Saved.Filter
    }

    It 'lists function_graph only at the top level on 6.1' {
        $inst = New-RawInstance
        try { (Read-RawFile "$inst/available_tracers") -split '\s+' | Should -Not -Contain 'function_graph' }
        finally { Remove-RawInstance $inst }
        (Read-RawFile "$TraceFs/available_tracers") -split '\s+' | Should -Contain 'function_graph'
    }

    It 'records vfs_read call trees with durations, children nested inside' {
        # Graph vfs_read, patching only it and two of its callees: the whole kernel graphed under TCG floods the buffer
        # (interrupts nest inside every call) and stalls the guest.
        $Saved.Graph -split "`n" | Where-Object { $_ -and $_ -notmatch '^#' } | Should -BeNullOrEmpty -Because 'a fresh guest graphs all functions'
        foreach ($f in 'vfs_read', 'rw_verify_area', 'security_file_permission') { Add-RawLine "$TraceFs/set_ftrace_filter" $f }
        Add-RawLine "$TraceFs/set_graph_function" 'vfs_read'
        Add-RawLine "$TraceFs/current_tracer" 'function_graph'
        try {
            $null = Invoke-DdRead
            Add-RawLine "$TraceFs/tracing_on" '0'
            $text = Read-RawFile "$TraceFs/trace"
        }
        finally {
            Add-RawLine "$TraceFs/current_tracer" 'nop'
            Add-RawLine "$TraceFs/tracing_on" '1'
        }
        $trees = @(ConvertFrom-RawGraph ($text -split "`n") 'vfs_read')
        $trees | Should -Not -BeNullOrEmpty -Because "function_graph printed:`n$(($text -split "`n" | Select-Object -First 30) -join "`n")"
        $withChildren = @($trees | Where-Object { $_.Children.Count -gt 0 })
        $withChildren | Should -Not -BeNullOrEmpty
        foreach ($t in $withChildren) {
            $t.Duration | Should -BeGreaterThan 0
            $childSum = ($t.Children | Where-Object Duration | Measure-Object Duration -Sum).Sum
            $childSum | Should -BeLessOrEqual $t.Duration -Because 'a callee cannot take longer than its caller'
            # Only patched functions show up; a nested vfs_read (e.g. a read from inside a read) is one of them.
            $t.Children.Name | Where-Object { $_ -notin 'vfs_read', 'rw_verify_area', 'security_file_permission' } | Should -BeNullOrEmpty -Because 'only the filtered functions are patched'
        }
        $withChildren.Children.Name | Should -Contain 'rw_verify_area'
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
