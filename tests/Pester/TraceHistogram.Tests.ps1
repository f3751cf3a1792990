# Get-TraceHistogram: saved hist files (real kernel output in tests/fixtures/ftrace/hist) through the cmdlet, and the
# live hist file where the kernel has hist triggers (this host has none: there the error must say so).
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasHist = Test-KernelDebugCapability HistTriggers
    $script:HasInstances = Test-KernelDebugCapability TraceInstances
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Hist = Join-Path $RepoRoot 'tests/fixtures/ftrace/hist'
}

Describe 'Get-TraceHistogram' {
    It 'reads a saved hist file: the debug kernel''s execname histogram' {
        $h = Get-TraceHistogram -Path (Join-Path $Hist 'kd-debug-6.1-execname.hist')
        $h.PSObject.TypeNames[0] | Should -Be 'KernelDebug.TraceHistogram'
        $h.Hits | Should -Be 19
        $h.Buckets.Count | Should -Be 4
        $h.Buckets[3].Labels.common_pid | Should -Be 'ls'
        $h.Buckets[3].Keys.common_pid | Should -Be 153
        $h.Buckets[3].Keys.common_pid | Should -BeOfType [int]
        ($h.Buckets | Measure-Object HitCount -Sum).Sum | Should -Be 19
    }

    It 'types keys by the event named with -Path (sched_process_fork''s child_comm is text)' -Skip:(-not (Test-Path "$TraceFs/events/sched/sched_process_fork")) {
        $h = Get-TraceHistogram -Path (Join-Path $Hist 'fork-child-comm-paused.hist') -Event sched:sched_process_fork
        $h.Paused | Should -BeTrue
        $h.Event | Should -Be 'sched_process_fork'
        $h.Buckets[0].Keys.child_comm | Should -Be 'dconf worker'
        $h.Entries | Should -Be 21
    }

    It 'says the kernel has no hist triggers where it has none' -Skip:($HasHist -or -not $HasInstances) {
        $i = New-FtraceInstance
        try {
            $e = { Get-TraceHistogram $i sched:sched_switch -ErrorAction Stop } | Should -Throw -ErrorId 'HistTriggersMissing*' -PassThru
            $e.CategoryInfo.Category | Should -Be NotImplemented
            $e.Exception.Message | Should -Match 'CONFIG_HIST_TRIGGERS'
        }
        finally { Remove-FtraceInstance $i }
    }

    It 'reads a live hist trigger''s table' -Skip:(-not $HasHist -or -not $HasInstances) {
        $i = New-FtraceInstance
        try {
            Add-Content "$($i.Path)/events/sched/sched_switch/trigger" 'hist:keys=common_pid.execname'
            Start-Sleep -Milliseconds 500
            $h = Get-TraceHistogram $i sched:sched_switch
            $h.Trigger | Should -BeLike 'hist:keys=common_pid.execname*'
            $h.Buckets.Count | Should -BeGreaterThan 0
            ($h.Buckets | Measure-Object HitCount -Sum).Sum | Should -Be ($h.Hits - $h.Dropped)
        }
        finally { Remove-FtraceInstance $i }
    }

    It 'refuses a missing file' {
        { Get-TraceHistogram -Path (Join-Path $Hist 'none.hist') -ErrorAction Stop } | Should -Throw -ErrorId 'HistFileNotReadable*'
    }
}
