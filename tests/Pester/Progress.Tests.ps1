# Write-Progress on long work: records arrive in the Progress stream of a hosted PowerShell (as in a job), at most
# every 250 ms apart after the first, end with a Completed record, and none are written under
# $ProgressPreference = 'SilentlyContinue'.
BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Work = Join-Path ([IO.Path]::GetTempPath()) "kd-progress-$PID"
    New-Item -ItemType Directory $Work -Force | Out-Null
    $script:Data = Join-Path $Work 'perf.data'
    $null = Start-PerfRecord -Command /bin/dd -ArgumentList 'if=/dev/zero', 'of=/dev/null', 'bs=1', 'count=400000' -Path $Data -Frequency 4999 -Wait -ProgressAction SilentlyContinue

    function Invoke-WithProgress([string] $Script, [string] $Preference = 'Continue') {
        # Runs $Script in a fresh runspace with the module; returns its progress records and how long it took.
        $iss = [Management.Automation.Runspaces.InitialSessionState]::CreateDefault2()
        $iss.ImportPSModule($env:KERNELDEBUG_MODULE_PATH)
        $ps = [powershell]::Create($iss)
        try {
            $ps.Runspace.SessionStateProxy.SetVariable('ProgressPreference', $Preference)
            $ps.Runspace.SessionStateProxy.Path.SetLocation($Work) | Out-Null
            $sw = [Diagnostics.Stopwatch]::StartNew()
            $out = $ps.AddScript($Script).Invoke()
            $elapsed = $sw.Elapsed
            $ps.Streams.Error | ForEach-Object { throw "the command failed: $_" }
            [pscustomobject]@{ Progress = @($ps.Streams.Progress); Output = $out; Elapsed = $elapsed }
        }
        finally { $ps.Dispose() }
    }

    function Test-ProgressShape($Run, [string] $ActivityLike, [int] $AtLeast = 1) {
        $p = $Run.Progress
        $updates = @($p | Where-Object RecordType -eq 'Processing')
        $updates.Count | Should -BeGreaterOrEqual $AtLeast -Because 'the work reports progress'
        $updates | ForEach-Object { $_.Activity | Should -BeLike $ActivityLike }
        $p[-1].RecordType | Should -Be 'Completed' -Because 'the bar is ended when the work ends'
        @($p | Where-Object RecordType -eq 'Completed').Count | Should -Be 1
        # Throttled: the first at once, then at most one per 250 ms (one interval of slack for timer rounding).
        $updates.Count | Should -BeLessOrEqual ([math]::Floor($Run.Elapsed.TotalMilliseconds / 250) + 2) -Because "$($updates.Count) updates in $($Run.Elapsed)"
        $pcts = @($updates | Where-Object PercentComplete -ge 0 | ForEach-Object PercentComplete)
        $pcts | ForEach-Object { $_ | Should -BeLessOrEqual 100 }
        $pcts | Should -Be @($pcts | Sort-Object) -Because 'percent complete only grows'
    }
}

AfterAll {
    if ($Work) { Remove-Item $Work -Recurse -Force -ErrorAction Ignore }
}

Describe 'Progress records' {
    It 'Get-PerfSample reports its way through a perf.data file by bytes' {
        $run = Invoke-WithProgress "Get-PerfSample -Path '$Data' | Measure-Object | ForEach-Object Count"
        $run.Output[0] | Should -BeGreaterThan 100
        Test-ProgressShape $run 'Reading *perf.data'
        @($run.Progress | Where-Object RecordType -eq 'Processing')[0].StatusDescription | Should -Match '^\d+\.\d of \d+\.\d MiB, \d+ samples$'
    }

    It 'Get-PerfReport reports its way through the same file' {
        $run = Invoke-WithProgress "Get-PerfReport -Path '$Data' | Out-Null"
        Test-ProgressShape $run 'Reading *perf.data'
    }

    It 'Receive-TraceEvent -Duration shows how far through the duration it is, also while no records come' {
        # sched_process_exec: few records, so most updates come from the drain's idle ticks.
        $run = Invoke-WithProgress "Receive-TraceEvent -Event sched:sched_process_exec -Duration 00:00:01.5 | Out-Null"
        Test-ProgressShape $run 'Receive-TraceEvent' -AtLeast 3
        $u = @($run.Progress | Where-Object RecordType -eq 'Processing')
        $u[-1].PercentComplete | Should -BeGreaterThan 30
        $u[-1].SecondsRemaining | Should -BeLessOrEqual 2
        $u[-1].StatusDescription | Should -Match '^\d+ records from kerneldebug_\d+_\d+, \d+ of 2 s$'
    }

    It 'Get-SyscallTrace -Duration shows progress while the traced program sleeps' {
        $run = Invoke-WithProgress "Get-SyscallTrace -Command /bin/sleep -ArgumentList 1.2 -Duration 00:00:05 | Out-Null"
        Test-ProgressShape $run 'Get-SyscallTrace' -AtLeast 3
        @($run.Progress | Where-Object RecordType -eq 'Processing')[-1].StatusDescription | Should -Match '^\d+ syscalls, \d+ of 5 s$'
    }

    It 'Measure-Syscall without -Duration writes no progress (no known end)' {
        $run = Invoke-WithProgress "Measure-Syscall -Command /bin/sleep -ArgumentList 0.6 | Out-Null"
        $run.Progress | Should -BeNullOrEmpty
    }

    It 'Start-PerfRecord -Wait shows the samples so far and the -Duration' {
        $run = Invoke-WithProgress "Start-PerfRecord -SystemWide -Duration 00:00:01.2 -Path rec.data -Wait | Out-Null"
        Test-ProgressShape $run 'Recording * -> *rec.data' -AtLeast 3
        @($run.Progress | Where-Object RecordType -eq 'Processing')[-1].StatusDescription | Should -Match '^\d+ samples, \d+ s of 1 s$'
    }

    It 'Wait-PerfRecord shows progress while a recorded command runs' {
        $run = Invoke-WithProgress "Start-PerfRecord -Command /bin/sleep -ArgumentList 2 -Path wait.data | Wait-PerfRecord | Out-Null"
        Test-ProgressShape $run 'Recording * -> *wait.data' -AtLeast 3
    }

    It 'Watch-PerfTop shows each refresh' {
        $run = Invoke-WithProgress "Watch-PerfTop -Duration 00:00:01.5 -Interval 00:00:00.7 -Count 1 | Out-Null"
        Test-ProgressShape $run 'Watch-PerfTop' -AtLeast 3
        @($run.Progress | Where-Object RecordType -eq 'Processing').StatusDescription | Should -Contain (@($run.Progress | Where-Object StatusDescription -like 'Refresh 2:*')[0].StatusDescription)
    }

    It 'Invoke-KmemleakScan -Wait shows the wait for the second scan' {
        $kmemleak = Get-KernelDebugCapability -Name Kmemleak
        if (-not $kmemleak.Available) { Set-ItResult -Skipped -Because "this host has no kmemleak: $($kmemleak.Detail)"; return }
        $run = Invoke-WithProgress "Invoke-KmemleakScan -Wait -WaitSeconds 1 -Confirm:`$false | Out-Null"
        Test-ProgressShape $run 'Invoke-KmemleakScan' -AtLeast 3
    }

    It 'writes no progress record under $ProgressPreference = SilentlyContinue, and the output is the same' {
        $loud = Invoke-WithProgress "Get-PerfSample -Path '$Data' | Measure-Object | ForEach-Object Count"
        $quiet = Invoke-WithProgress "Get-PerfSample -Path '$Data' | Measure-Object | ForEach-Object Count" -Preference SilentlyContinue
        $quiet.Progress | Should -BeNullOrEmpty
        $quiet.Output[0] | Should -Be $loud.Output[0]
        $quietStream = Invoke-WithProgress "Receive-TraceEvent -Event sched:sched_process_exec -Duration 00:00:00.6 | Out-Null" -Preference SilentlyContinue
        $quietStream.Progress | Should -BeNullOrEmpty
        $quietAction = Invoke-WithProgress "Get-SyscallTrace -Command /bin/sleep -ArgumentList 0.6 -Duration 00:00:05 -ProgressAction SilentlyContinue | Out-Null"
        $quietAction.Progress | Should -BeNullOrEmpty -Because '-ProgressAction SilentlyContinue silences one command'
    }
}
