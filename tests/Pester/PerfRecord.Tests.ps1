BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $PSScriptRoot 'PerfCommon.ps1')
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $PSScriptRoot 'PerfCommon.ps1')
    $script:Workload = New-PerfWorkload $TestDrive
    function Format-PerfScript($Samples) {
        foreach ($s in $Samples) {
            $ts = [uint64]$s.Timestamp
            '{0} {1}/{2} {3}.{4:D6}:' -f $s.Comm, $s.ProcessId, $s.ThreadId, [uint64][math]::Truncate($ts / 1000000000), [uint64][math]::Truncate(($ts % 1000000000) / 1000)
            foreach ($f in $s.CallChain) { '{0:x} {1} ({2})' -f $f.Offset, $f.Symbol, $f.Dso }
        }
    }
    function Get-PerfEventFdCount { @(Get-ChildItem "/proc/$PID/fd" -ErrorAction Ignore | Where-Object { $_.LinkTarget -eq 'anon_inode:[perf_event]' }).Count }
}

Describe 'Start-PerfRecord' {
    It 'records a command and its child into a perf.data that perf report and perf script read' -Skip:(-not $HavePerf) {
        $data = Join-Path $TestDrive 'cmd.data'
        $before = Get-PerfEventFdCount
        $r = Start-PerfRecord -Command $Workload -ArgumentList 300, 2, 100, 150000000, 1 -CallGraph FramePointer -Path $data -Wait
        $r.PSObject.TypeNames[0] | Should -Be 'KernelDebug.PerfRecording'
        $r.State | Should -Be 'Completed'
        $r.ExitCode | Should -Be 0
        $r.Samples | Should -BeGreaterThan 20
        Get-PerfEventFdCount | Should -Be $before -Because 'every perf event fd is closed when the recording ends'

        $report = & perf report -i $data --stdio --sort comm,sym 2>&1 | Out-String
        $LASTEXITCODE | Should -Be 0 -Because $report
        $report | Should -Match "Samples: $($r.Samples)\s+of event 'cpu-clock'"
        $report | Should -Match 'spin_inner'

        $theirs = @(& perf script -i $data -F comm,pid,tid,time,ip,sym,dso 2>$null | Where-Object { $_.Trim() } | ForEach-Object { $_.Trim() -replace '\s+', ' ' })
        $samples = Get-PerfSample -Recording $r
        @($samples).Count | Should -Be $r.Samples
        $ours = @(Format-PerfScript $samples)
        Compare-Object $ours $theirs -SyncWindow 0 | Should -BeNullOrEmpty
        # inherit: the forked child is sampled too.
        @($samples.ProcessId | Sort-Object -Unique).Count | Should -Be 2
        ($samples | Where-Object ProcessId -eq $r.ProcessId).Comm | Select-Object -First 1 | Should -Be 'workload'
    }

    It 'records a running process for a duration (Wait-PerfRecord), with a fixed period' -Skip:(-not $HavePerf) {
        $data = Join-Path $TestDrive 'pid.data'
        $p = Start-Process -FilePath $Workload -ArgumentList 0, 0, 0, 3000000000 -PassThru
        try {
            $r = Start-PerfRecord -ProcessId $p.Id -Duration '00:00:00.5' -Period 1000000 -Path $data
            $r.State | Should -Be 'Running'
            $r = $r | Wait-PerfRecord -Timeout '00:00:10'
            $r.State | Should -Be 'Stopped'
            $samples = Get-PerfSample $data
            @($samples).Count | Should -BeGreaterThan 0
            $samples.ProcessId | Sort-Object -Unique | Should -Be $p.Id
            $samples | ForEach-Object { $_.Period | Should -Be 1000000 }
            # The mappings were synthesized from /proc, so the program's functions resolve.
            ($samples | Where-Object Symbol -eq 'spin_inner').Count | Should -BeGreaterThan 0
            & perf script -i $data 2>&1 | Out-Null
            $LASTEXITCODE | Should -Be 0
        }
        finally { $p | Stop-Process -Force -ErrorAction Ignore }
    }

    It 'records the whole system until Stop-PerfRecord, taking the recording from the pipeline' -Skip:(-not $HavePerf) {
        $data = Join-Path $TestDrive 'sys.data'
        $r = Start-PerfRecord -SystemWide -Path $data -Frequency 499
        Start-Sleep -Milliseconds 400
        $stopped = $r | Stop-PerfRecord -PassThru
        $stopped.State | Should -Be 'Stopped'
        (& perf report -i $data --stdio 2>&1 | Out-String) | Should -Match "Samples: $($r.Samples)\s+of event 'cpu-clock'"
        (Get-PerfSample $data | Measure-Object).Count | Should -Be $r.Samples
        @(Get-PerfSample $data | Select-Object -ExpandProperty Cpu -Unique).Count | Should -BeGreaterThan 0
    }

    It 'Get-PerfRecord lists this session''s recordings with state, path and counts; Stop-PerfRecord takes them from it' -Skip:(-not $HavePerf) {
        $done = Start-PerfRecord -Command $Workload -ArgumentList 50, 0, 0, 50000000 -Path (Join-Path $TestDrive 'listed-done.data') -Wait
        $running = Start-PerfRecord -SystemWide -Path (Join-Path $TestDrive 'listed-running.data') -Frequency 499
        try {
            Start-Sleep -Milliseconds 300
            $listed = @(Get-PerfRecord | Where-Object Id -in $done.Id, $running.Id)
            $listed.Id | Should -Be @($done.Id, $running.Id)
            $listed[0].State | Should -Be 'Completed'
            $listed[0].Samples | Should -Be $done.Samples
            $listed[0].Path | Should -Be (Join-Path $TestDrive 'listed-done.data')
            $listed[1].State | Should -Be 'Running'
            # The samples written so far: a running recording's count grows.
            (Get-PerfRecord -Id $running.Id).Samples | Should -BeGreaterThan 0
            (Get-PerfRecord -State Completed).Id | Should -Contain $done.Id
            (Get-PerfRecord -State Completed).Id | Should -Not -Contain $running.Id
            $stopped = @(Get-PerfRecord -Id $running.Id -State Running | Stop-PerfRecord -PassThru)
            $stopped.Id | Should -Be $running.Id
            (Get-PerfRecord -Id $running.Id).State | Should -Be 'Stopped'
            (Get-PerfRecord -Id $running.Id).Lost | Should -Be $running.Lost
            # Its count is the file's, as perf counts it.
            (& perf report -i $running.Path --stdio 2>&1 | Out-String) | Should -Match "Samples: $((Get-PerfRecord -Id $running.Id).Samples)\s+of event"
            $null = Get-PerfRecord -Id 987654 -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -BeLike 'PerfRecordingNotFound*'
            $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        }
        finally { $running | Stop-PerfRecord -ErrorAction Ignore }
    }

    It 'creates nothing with -WhatIf' {
        $data = Join-Path $TestDrive 'whatif.data'
        Start-PerfRecord -SystemWide -Path $data -WhatIf | Should -BeNullOrEmpty
        $data | Should -Not -Exist
    }

    It 'refuses <Case> with a clear error' -ForEach @(
        @{ Case = 'an unknown event'; Params = @{ Event = 'no-such-event'; SystemWide = $true }; Id = 'PerfEventNotFound*' }
        @{ Case = 'a process that does not exist'; Params = @{ ProcessId = 999999 }; Id = 'ProcessNotFound*' }
        @{ Case = 'a command that does not exist'; Params = @{ Command = '/no/such/program' }; Id = 'CommandNotFound*' }
    ) {
        $a = $Params
        { Start-PerfRecord @a -Path (Join-Path $TestDrive 'bad.data') } | Should -Throw -ErrorId $Id
    }

    It 'refuses a second recording to the path another recording is writing, and lets the first finish' {
        $data = Join-Path $TestDrive 'twice.data'
        $first = Start-PerfRecord -Path $data -SystemWide -Event cpu-clock -Frequency 99
        try {
            { Start-PerfRecord -Path $data -SystemWide -Event cpu-clock -Frequency 99 } | Should -Throw -ErrorId 'PerfRecordPathBusy*'
            Test-Path $data | Should -BeFalse -Because 'the file appears when the recording is finished'
        }
        finally { $first | Stop-PerfRecord }
        (Get-PerfSample -Path $data | Measure-Object).Count | Should -BeGreaterThan 0
        Test-Path "$data.kerneldebug-tmp" | Should -BeFalse
        # The next recording to the path keeps this one as .old, as perf record does.
        $hash = (Get-FileHash $data).Hash
        Start-PerfRecord -Path $data -SystemWide -Event cpu-clock -Frequency 99 -Duration '00:00:00.3' -Wait | Out-Null
        (Get-FileHash "$data.old").Hash | Should -Be $hash
    }

    It 'never writes through a symbolic link planted at the temporary name' {
        $data = Join-Path $TestDrive 'linked.data'
        $victim = Join-Path $TestDrive 'victim'
        Set-Content $victim 'keep me'
        $null = New-Item -ItemType SymbolicLink -Path "$data.kerneldebug-tmp" -Target $victim
        { Start-PerfRecord -Path $data -SystemWide -Event cpu-clock -Duration '00:00:00.2' -Wait } | Should -Throw -ErrorId 'PerfRecordTemporaryIsLink*'
        Get-Content $victim | Should -Be 'keep me'
    }

    It 'reports a command the kernel cannot execute, leaving nothing open' {
        $bad = Join-Path $TestDrive 'not-a-program'
        Set-Content $bad 'this is not an executable format'
        & chmod +x $bad
        $before = Get-PerfEventFdCount
        { Start-PerfRecord -Command $bad -Path (Join-Path $TestDrive 'noexec.data') } | Should -Throw -ErrorId 'execve.ENOEXEC*'
        Get-PerfEventFdCount | Should -Be $before
    }

    It 'says that an event the host cannot count cannot be sampled' -Skip:(Test-KernelDebugCapability PerfHardwareCounters) {
        { Start-PerfRecord -SystemWide -Event cycles -Path (Join-Path $TestDrive 'hw.data') } | Should -Throw -ErrorId 'PerfEventNotSupported*'
        Get-PerfEventFdCount | Should -Be 0
    }
}
