# Import-TraceDat and Export-TraceDat, with trace-cmd report as the oracle both ways: trace-cmd's files read by us
# against its report, and our files read by trace-cmd report against our records.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasInstances = Test-KernelDebugCapability TraceInstances
    $script:HasTraceCmd = [bool](Get-Command trace-cmd -CommandType Application -ErrorAction Ignore)
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Fixtures = Join-Path $RepoRoot 'tests/fixtures/ftrace/tracedat'
    $script:Zstd = Join-Path $Fixtures 'sched-syscalls-v7-zstd.dat'
    $script:Work = Join-Path ([IO.Path]::GetTempPath()) "kd-tracedat-$PID"
    New-Item -ItemType Directory $Work -Force | Out-Null
    function Get-OwnInstances { Get-ChildItem "$TraceFs/instances" -Directory | Where-Object Name -like "kerneldebug_$($PID)_*" | ForEach-Object Name }
    function Expand-Fixture([string] $Name) {
        $out = Join-Path $Work ($Name -replace '\.gz$')
        $in = [IO.File]::OpenRead((Join-Path $Fixtures $Name))
        try {
            $gz = [IO.Compression.GZipStream]::new($in, [IO.Compression.CompressionMode]::Decompress)
            $o = [IO.File]::Create($out)
            try { $gz.CopyTo($o) } finally { $o.Dispose(); $gz.Dispose() }
        }
        finally { $in.Dispose() }
        $out
    }
    # trace-cmd report's event lines as (comm, pid, cpu, time, event) without the buffer-name prefix.
    function Get-ReportLine([string] $File, [string[]] $Flags = @()) {
        $rx = '^(?:(?<buf>\S+): +)?\s*(?<comm>.*?)-(?<pid>\d+)\s+\[(?<cpu>\d+)\]\s+(?<ts>\d+\.\d+):\s+(?<event>[^:\s]+):\s*(?<rest>.*)$'
        foreach ($l in (& trace-cmd report @Flags -i $File 2>$null)) {
            if ($l -match $rx) {
                [pscustomobject]@{ Comm = $Matches.comm.Trim(); Pid = [int]$Matches.pid; Cpu = [int]$Matches.cpu; Time = $Matches.ts; Event = $Matches.event; Rest = $Matches.rest.Trim() }
            }
        }
    }
}

AfterAll { Remove-Item $Work -Recurse -Force -ErrorAction Ignore }

Describe 'Import-TraceDat' {
    It 'reads trace-cmd''s version <Version> file as its report lists it (comm, pid, CPU, time, event, fields)' -ForEach @(
        @{ Version = '6'; File = 'sched-syscalls-v6.dat.gz' }
        @{ Version = '7'; File = 'sched-syscalls-v7.dat.gz' }
        @{ Version = '7 zstd'; File = 'sched-syscalls-v7-zstd.dat' }
    ) {
        $path = if ($File -like '*.gz') { Expand-Fixture $File } else { Join-Path $Fixtures $File }
        $records = @(Import-TraceDat $path)
        $records[0].PSObject.TypeNames[0] | Should -Be 'KernelDebug.TraceRecord'
        # trace-cmd report -R of the same file, recorded when the fixture was made.
        $gz = [IO.Compression.GZipStream]::new([IO.File]::OpenRead((Join-Path $Fixtures 'sched-syscalls.report-R.txt.gz')), [IO.Compression.CompressionMode]::Decompress)
        $report = try { [IO.StreamReader]::new($gz).ReadToEnd() } finally { $gz.Dispose() }
        $lines = @($report -split "`n" | Where-Object { $_ -match '^\S+: ' })
        $records.Count | Should -Be $lines.Count
        foreach ($i in 0, 1, 100, ($records.Count - 1)) {
            $r = $records[$i]
            $lines[$i] | Should -Match ([regex]::Escape("$($r.Comm)-$($r.ProcessId)") + '\s+' + [regex]::Escape(('[{0:D3}] {1}: {2}:' -f $r.Cpu, $r.TimestampText, $r.Name)))
        }
        $switch = $records | Where-Object Name -eq sched_switch | Select-Object -First 1
        $switch.prev_comm | Should -BeOfType [string]
        $switch.next_pid | Should -BeOfType [int]
        $switch.Instance | Should -BeLike 'kerneldebug_fixture_*'
    }

    It 'filters by event and counts, and says which buffers a file has' {
        @(Import-TraceDat $Zstd -Event sched:sched_switch).Name | Sort-Object -Unique | Should -Be 'sched_switch'
        @(Import-TraceDat $Zstd -Event sched).System | Sort-Object -Unique | Should -Be 'sched'
        @(Import-TraceDat $Zstd -Count 7).Count | Should -Be 7
        @(Import-TraceDat $Zstd -Instance 'kerneldebug_fixture_*' -Count 3).Count | Should -Be 3
        # trace-cmd extract saved the (empty) top-level buffer beside the instance's.
        @(Import-TraceDat $Zstd -Instance /).Count | Should -Be 0
        { Import-TraceDat $Zstd -Instance nosuch -ErrorAction Stop } | Should -Throw -ErrorId 'TraceDatBufferNotFound*'
    }

    It 'reads files from Get-ChildItem and with wildcards' {
        @(Get-Item $Zstd | Import-TraceDat -Count 2).Count | Should -Be 2
        @(Import-TraceDat (Join-Path $Fixtures 'sched-syscalls-v7-z*.dat') -Count 2).Count | Should -Be 2
    }

    It 'refuses a missing file and one that is not a trace.dat, with their error ids' {
        { Import-TraceDat (Join-Path $Work 'none.dat') -ErrorAction Stop } | Should -Throw -ErrorId 'TraceDatNotFound*'
        $bad = Join-Path $Work 'bad.dat'
        Set-Content $bad 'not a trace'
        { Import-TraceDat $bad -ErrorAction Stop } | Should -Throw -ErrorId 'TraceDatInvalid*'
    }

    It 'reads a version 6 file from another (32-bit) machine' {
        $path = Expand-Fixture 'buildroot-i686-v6.dat.gz'
        $records = @(Import-TraceDat $path)
        $records.Count | Should -Be 102
        $records[0].Comm | Should -Be 'trace-cmd'
        $records[0].TimestampText | Should -Be '585.229564'
        $records[0].Instance | Should -BeNullOrEmpty
    }
}

Describe 'Export-TraceDat' -Skip:(-not $HasTraceCmd) {
    It 'saves records so that trace-cmd report prints what it prints for the original (version <Version>)' -ForEach @(
        @{ Version = 6; Compression = 'none' }
        @{ Version = 7; Compression = 'zstd' }
    ) {
        $out = Join-Path $Work "copy-$Version.dat"
        $file = Import-TraceDat $Zstd | Export-TraceDat $out -FileVersion $Version -Compression $Compression -PassThru
        $file | Should -BeOfType [IO.FileInfo]
        $original = @(Get-ReportLine $Zstd -Flags '-R')
        $ours = @(Get-ReportLine $out -Flags '-R')
        $ours.Count | Should -Be $original.Count
        $ours.Count | Should -BeGreaterThan 1000
        # One comparison of the whole text (a Should per line is slow); the first difference shows in the message.
        $text = { param($l) ($l | ForEach-Object { "$($_.Comm)-$($_.Pid) $($_.Cpu) $($_.Time) $($_.Event) $($_.Rest)" }) -join "`n" }
        & $text $ours | Should -BeExactly (& $text $original)
    }

    It 'writes nothing with -WhatIf and refuses to replace a file with -NoClobber' {
        $out = Join-Path $Work 'whatif.dat'
        Import-TraceDat $Zstd -Count 5 | Export-TraceDat $out -WhatIf
        $out | Should -Not -Exist
        Import-TraceDat $Zstd -Count 5 | Export-TraceDat $out
        $out | Should -Exist
        { Import-TraceDat $Zstd -Count 5 | Export-TraceDat $out -NoClobber -ErrorAction Stop } | Should -Throw -ErrorId 'TraceDatExists*'
        { Import-TraceDat $Zstd -Count 5 | Export-TraceDat $out -Compression zstd -ErrorAction Stop } | Should -Throw -ErrorId 'TraceDatCompression*'
        @(Get-ChildItem $Work | Where-Object Name -like 'whatif.dat.*') | Should -BeNullOrEmpty -Because 'no temporary page files are left'
    }

    It 'records events in a private instance, raw pages that trace-cmd report and Import-TraceDat read alike' -Skip:(-not $HasInstances) {
        $before = @(Get-OwnInstances)
        $out = Join-Path $Work 'live.dat'
        $job = Start-ThreadJob { 1..40 | ForEach-Object { Get-ChildItem /etc -ErrorAction Ignore | Out-Null; Start-Sleep -Milliseconds 20 } }
        try { Export-TraceDat $out -Event sched:sched_switch, syscalls:sys_enter_openat -Duration 00:00:01 }
        finally { $job | Wait-Job | Remove-Job }
        @(Get-OwnInstances) | Should -Be $before -Because 'the private instance is removed'
        $records = @(Import-TraceDat $out)
        $records.Count | Should -BeGreaterThan 20
        $records.Name | Should -Contain 'sched_switch'
        $records.Name | Should -Contain 'sys_enter_openat'
        $lines = @(Get-ReportLine $out)
        $lines.Count | Should -Be $records.Count
        # trace-cmd pads the comm column: compare comms trimmed.
        (($lines | ForEach-Object { "$($_.Comm)-$($_.Pid) [$($_.Cpu)] $($_.Time) $($_.Event)" }) -join "`n") |
            Should -BeExactly (($records | ForEach-Object { "$($_.Comm.Trim())-$($_.ProcessId) [$($_.Cpu)] $($_.TimestampText) $($_.Name)" }) -join "`n")
        # Fields as report -R prints them (name=value), for sched_switch.
        $raw = @(Get-ReportLine $out -Flags '-R')
        $raw.Count | Should -Be $records.Count
        $switches = @(for ($i = 0; $i -lt $raw.Count; $i++) { if ($records[$i].Name -eq 'sched_switch') { $i } })
        $switches.Count | Should -BeGreaterThan 5
        (($switches | ForEach-Object { $raw[$_].Rest -replace ' prev_prio=.* next_comm=', ' next_comm=' -replace ' next_prio=.*$' }) -join "`n") |
            Should -BeExactly (($switches | ForEach-Object { $r = $records[$_]; "prev_comm=$($r.prev_comm) prev_pid=$($r.prev_pid) next_comm=$($r.next_comm) next_pid=$($r.next_pid)" }) -join "`n")
    }

    It 'makes no instance with -WhatIf' -Skip:(-not $HasInstances) {
        $before = @(Get-OwnInstances)
        $out = Join-Path $Work 'whatif-live.dat'
        Export-TraceDat $out -Event sched:sched_switch -Duration 00:00:01 -WhatIf
        $out | Should -Not -Exist
        @(Get-OwnInstances) | Should -Be $before
    }
}
