BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $PSScriptRoot 'PerfCommon.ps1')
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $PSScriptRoot 'PerfCommon.ps1')
    $script:Workload = New-PerfWorkload $TestDrive

    # Our samples in the text perf script -F comm,pid,tid,time,ip,sym,dso prints (perf prints call-chain frames as DSO addresses).
    function Format-PerfScript($Samples, [bool] $CallGraph) {
        # Whitespace is normalized as in Get-PerfScript, so a comm holding spaces (thread names do) compares equal.
        $(foreach ($s in $Samples) {
            # perf script's time column is seconds.microseconds, truncated: from the typed Time (a TimeSpan, 100 ns ticks).
            $us = [long][math]::Truncate($s.Time.Ticks / 10)
            $head = '{0} {1}/{2} {3}.{4:D6}:' -f $s.Comm, $s.ProcessId, $s.ThreadId, [long][math]::Truncate($us / 1000000), ($us % 1000000)
            if ($CallGraph) { $head; foreach ($f in $s.CallChain) { '{0:x} {1} ({2})' -f $f.Offset, $f.Symbol, $f.Dso } }
            else { '{0} {1:x} {2} ({3})' -f $head, $s.Ip, $s.Symbol, $s.Dso }
        }) | ForEach-Object { $_.Trim() -replace '\s+', ' ' }
    }
    function Get-PerfScript([string] $Data, [string] $Fields = 'comm,pid,tid,time,ip,sym,dso') {
        & perf script -i $Data -F $Fields 2>$null | Where-Object { $_.Trim() } | ForEach-Object { $_.Trim() -replace '\s+', ' ' }
    }
}

Describe 'Get-PerfSample' {
    It 'equals perf script on a perf record -g of a program (<Name>)' -Skip:(-not $HavePerf) -ForEach @(
        @{ Name = 'call graph'; Options = @('-g'); CallGraph = $true }
        @{ Name = 'no call graph'; Options = @(); CallGraph = $false }
    ) {
        $data = Join-Path $TestDrive "prog-$($Options.Count).data"
        & perf record @Options -F 2000 -o $data -- $Workload 500 4 200 150000000 1 2>$null | Out-Null
        $theirs = @(Get-PerfScript $data)
        $samples = Get-PerfSample -Path $data
        $samples.Count | Should -BeGreaterThan 50
        $samples[0].PSObject.TypeNames[0] | Should -Be 'KernelDebug.PerfSample'
        $ours = @(Format-PerfScript $samples $CallGraph)
        $ours.Count | Should -Be $theirs.Count
        $diff = Compare-Object $ours $theirs -SyncWindow 0
        $diff | Should -BeNullOrEmpty -Because ($diff | Select-Object -First 6 | Out-String)
        # The program's own functions are resolved from its symbol table.
        ($samples | Where-Object Dso -eq $Workload).Symbol | Should -Contain 'spin_inner'
    }

    It 'gives the same first samples when the pipeline ends early, and decodes the file whole again after' -Skip:(-not $HavePerf) {
        $data = Join-Path $TestDrive 'first.data'
        & perf record -g -F 2000 -o $data -- $Workload 300 2 100 100000000 2>$null | Out-Null
        $all = @(Get-PerfSample -Path $data)
        $all.Count | Should -BeGreaterThan 20
        $first = @(Get-PerfSample -Path $data | Select-Object -First 3)
        ($first | ForEach-Object { '{0} {1:x} {2}' -f $_.Timestamp, $_.Ip, $_.CallChain.Count }) |
            Should -Be ($all[0..2] | ForEach-Object { '{0} {1:x} {2}' -f $_.Timestamp, $_.Ip, $_.CallChain.Count })
        # The file is free again and decodes whole: the stopped decoder left nothing behind.
        @(Get-PerfSample -Path $data).Count | Should -Be $all.Count
    }

    It 'agrees with perf script on a system-wide call-graph recording (99.5% of lines)' -Skip:(-not $HavePerf) {
        $data = Join-Path $TestDrive 'all.data'
        & perf record -a -g -o $data -- $Workload 200 10 100 50000000 2>$null | Out-Null
        $theirs = @(Get-PerfScript $data)
        $ours = @(Format-PerfScript (Get-PerfSample $data) $true)
        $ours.Count | Should -Be $theirs.Count
        $same = 0; $differ = @()
        for ($i = 0; $i -lt $ours.Count; $i++) { if ($ours[$i] -ceq $theirs[$i]) { $same++ } elseif ($differ.Count -lt 6) { $differ += "ours: $($ours[$i]) | perf: $($theirs[$i])" } }
        ($same / $theirs.Count) | Should -BeGreaterOrEqual 0.995 -Because ($differ -join "`n")
    }

    It 'names kernel frames from a given kallsyms as perf script --kallsyms does' -Skip:(-not $HavePerf) {
        $data = Join-Path $TestDrive 'kallsyms.data'
        & perf record -a -F 999 -o $data -- $Workload 200 10 100 50000000 2>$null | Out-Null
        # A copy of this host's kallsyms, as one would bring from the recording machine (read as root: addresses visible).
        $copy = Join-Path $TestDrive 'kallsyms.copy'
        [IO.File]::WriteAllBytes($copy, [IO.File]::ReadAllBytes('/proc/kallsyms'))
        $kernel = { param($ip) [UInt64]::Parse($ip, 'AllowHexSpecifier') -ge 0xffff800000000000u }
        $theirs = @(& perf script -i $data --kallsyms $copy -F ip,sym 2>$null | ForEach-Object { $_.Trim() -replace '\s+', ' ' } |
            Where-Object { $_ -and (& $kernel ($_ -split ' ')[0]) })
        $ours = @(Get-PerfSample $data -Kallsyms $copy | Where-Object { $_.Ip -ge 0xffff800000000000u } | ForEach-Object { '{0:x} {1}' -f $_.Ip, $_.Symbol })
        $theirs.Count | Should -BeGreaterThan 20
        $ours.Count | Should -Be $theirs.Count
        $same = 0; $differ = @()
        for ($i = 0; $i -lt $ours.Count; $i++) { if ($ours[$i] -ceq $theirs[$i]) { $same++ } elseif ($differ.Count -lt 6) { $differ += "ours: $($ours[$i]) | perf: $($theirs[$i])" } }
        ($same / $theirs.Count) | Should -BeGreaterOrEqual 0.995 -Because ($differ -join "`n")
        ($ours -notmatch '\[unknown\]').Count | Should -BeGreaterThan 20
    }

    It 'moves a given kallsyms to the recorded kernel''s _text (KASLR) as perf script --kallsyms does' -Skip:(-not $HavePerf) {
        # The corpus's system-wide recording, with this host's kallsyms moved by 0x3a00000 as another boot's KASLR
        # would place them: derived from real data, and only meaningful when this host runs the recorded kernel build.
        $data = Join-Path $PSScriptRoot '../fixtures/perf/corpus/local-system.data'
        $recorded = (& perf buildid-list -i $data -H 2>$null | Where-Object { $_ -match '\[kernel.kallsyms\]' }) -replace ' .*'
        $here = & perf buildid-list -k 2>$null
        if (-not $recorded -or $recorded -ne $here) { Set-ItResult -Skipped -Because 'this host does not run the kernel build the fixture was recorded on'; return }
        $shifted = Join-Path $TestDrive 'shifted.kallsyms'
        $lines = foreach ($l in [IO.File]::ReadAllLines('/proc/kallsyms')) {
            $a, $rest = $l -split ' ', 2
            $v = [UInt64]::Parse($a, 'AllowHexSpecifier')
            if ($v -ne 0) { $v = $v + [UInt64] 0x3a00000 }
            '{0:x16} {1}' -f $v, $rest
        }
        [IO.File]::WriteAllLines($shifted, [string[]] $lines)
        $theirs = @(& perf script -i $data --kallsyms $shifted -F ip,sym 2>$null | ForEach-Object { $_.Trim() -replace '\s+', ' ' } |
            Where-Object { $_ -match '^ffff' })
        $ours = @(Get-PerfSample $data -Kallsyms $shifted | Where-Object { $_.Ip -ge 0xffff800000000000u } | ForEach-Object { '{0:x} {1}' -f $_.Ip, $_.Symbol })
        # The fixture has few kernel samples (5 with perf 6.1): every one must agree, and be named.
        $theirs.Count | Should -BeGreaterOrEqual 3
        $ours | Should -Be $theirs
        @($ours -match '\[unknown\]').Count | Should -Be 0
    }

    It 'refuses a -Kallsyms file that does not exist, or lists no addresses' {
        $data = Join-Path $TestDrive 'nokallsyms.data'
        { Get-PerfSample -Path (Join-Path $TestDrive 'missing.data') -Kallsyms (Join-Path $TestDrive 'no-such-kallsyms') -ErrorAction Stop } |
            Should -Throw -ErrorId 'KallsymsNotFound*'
        $hidden = Join-Path $TestDrive 'hidden.kallsyms'
        Set-Content -Path $hidden -Value "0000000000000000 T _text`n0000000000000000 t vfs_read"
        { Get-PerfSample -Path (Join-Path $TestDrive 'missing.data') -Kallsyms $hidden -ErrorAction Stop } | Should -Throw -ErrorId 'KallsymsNoAddresses*'
    }

    It 'names the events of a multi-event recording as perf script does' -Skip:(-not $HavePerf) {
        $data = Join-Path $TestDrive 'multi.data'
        & perf record -e 'cpu-clock/period=1000000/,page-faults/period=50/' -o $data -- $Workload 300 0 0 10000000 2>$null | Out-Null
        $theirs = Get-PerfScript $data 'event' | ForEach-Object { $_.TrimEnd(':') }
        $ours = (Get-PerfSample $data).Event
        $ours | Should -Be $theirs
        $ours | Should -Contain 'page-faults/period=50/'
    }

    It 'symbolizes a program deleted after the recording from perf record''s build-id cache' -Skip:(-not $HavePerf) {
        $copy = Join-Path $TestDrive 'deleted-workload'
        Copy-Item $Workload $copy
        $data = Join-Path $TestDrive 'deleted.data'
        & perf record -o $data -- $copy 100 0 0 50000000 2>$null | Out-Null
        Remove-Item $copy
        $theirs = @(Get-PerfScript $data)
        $ours = @(Format-PerfScript (Get-PerfSample $data) $false)
        Compare-Object $ours $theirs -SyncWindow 0 | Should -BeNullOrEmpty
        ($ours -match 'spin_inner').Count | Should -BeGreaterThan 0
    }

    It 'reports a missing file as ObjectNotFound' {
        Get-PerfSample -Path (Join-Path $TestDrive 'none.data') -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'PerfDataNotFound*'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'fails cleanly (no SIGBUS crash) when the file is truncated while it is read' -Skip:(-not $HavePerf) {
        # A mapped file cut short under the reader killed pwsh with SIGBUS (AccessViolationException): run it in a child.
        $data = Join-Path $TestDrive 'cut.data'
        # Much larger than what the decoder reads ahead of the pipeline (4 flush rounds, each at most the ring buffers).
        & perf record -g -F 20000 -o $data -- $Workload 1500 4 200 3000000000 1 2>$null | Out-Null
        (Get-Item $data).Length | Should -BeGreaterThan 4MB
        $script = @"
Import-Module '$env:KERNELDEBUG_MODULE_PATH'
`$n = 0
Get-PerfSample -Path '$data' -ErrorVariable err -ErrorAction SilentlyContinue | ForEach-Object {
    if (`$n++ -eq 1) { & truncate -s 200 '$data' }
}
"samples `$n"
"error `$(`$err[-1].FullyQualifiedErrorId)|`$(`$err[-1].CategoryInfo.Category)"
"@
        $out = Invoke-ChildPwsh @('-NoProfile', '-NonInteractive', '-Command', $script) 2>&1
        $LASTEXITCODE | Should -Be 0 -Because ($out | Out-String)
        $out | Should -Contain 'error PerfDataTruncatedWhileRead,KernelDebug.Commands.GetPerfSampleCommand|InvalidData' -Because ($out | Out-String)
    }

    It 'reads the whole old file while Start-PerfRecord writes the same path, which keeps the old one as .old' -Skip:(-not $HavePerf) {
        $data = Join-Path $TestDrive 'rewritten.data'
        & perf record -g -F 5000 -o $data -- $Workload 800 4 200 200000000 1 2>$null | Out-Null
        $expected = (Get-PerfSample -Path $data | Measure-Object).Count
        $before = (Get-FileHash $data).Hash
        $n = 0
        Get-PerfSample -Path $data | ForEach-Object {
            # FileMode.Create used to truncate the inode being read: now the recording goes to a temporary file.
            if ($n++ -eq 5) { $null = Start-PerfRecord -Path $data -Command $Workload -ArgumentList 50, 0, 0, 1000000 -Wait }
        }
        $n | Should -Be $expected
        (Get-FileHash "$data.old").Hash | Should -Be $before
        (Get-PerfSample -Path $data | Measure-Object).Count | Should -BeGreaterThan 0
        Test-Path "$data.kerneldebug-tmp" | Should -BeFalse
    }

    It 'refuses <Name> as a perf.data file without hanging' -ForEach @(
        @{ Name = '/dev/zero'; Make = { param($p) '/dev/zero' } }
        @{ Name = 'a directory'; Make = { param($p) (New-Item -ItemType Directory $p).FullName } }
    ) {
        $path = & $Make (Join-Path $TestDrive "special-$($Name -replace '\W')")
        $job = Start-ThreadJob { param($m, $p) Import-Module $m; Get-PerfSample -Path $p -ErrorVariable e -ErrorAction SilentlyContinue; $e[0].FullyQualifiedErrorId; "$($e[0].CategoryInfo.Category)" } -ArgumentList $env:KERNELDEBUG_MODULE_PATH, $path
        $done = Wait-Job $job -Timeout 20
        $out = Receive-Job $job; Remove-Job $job -Force
        $done | Should -Not -BeNullOrEmpty -Because 'it must not hang'
        $out[0] | Should -BeLike 'PerfDataNotARegularFile*'
        $out[1] | Should -Be 'InvalidArgument'
    }

    It 'reports a truncated or corrupt perf.data as InvalidData, without hanging' -Skip:(-not $HavePerf) {
        $data = Join-Path $TestDrive 'whole.data'
        & perf record -g -o $data -- $Workload 100 0 0 10000000 2>$null | Out-Null
        $bytes = [System.IO.File]::ReadAllBytes($data)
        $cases = @{
            'header-only.data' = $bytes[0..60]
            'garbage.data'     = [byte[]](1..4096 | ForEach-Object { $_ % 251 })
        }
        $flipped = [byte[]]$bytes.Clone()
        # A record size of 0 in the middle of the data section.
        $dataOffset = [BitConverter]::ToInt64($bytes, 40)
        $flipped[$dataOffset + 6] = 0; $flipped[$dataOffset + 7] = 0
        $cases['zero-size-record.data'] = $flipped
        foreach ($name in $cases.Keys) {
            $path = Join-Path $TestDrive $name
            [System.IO.File]::WriteAllBytes($path, [byte[]]$cases[$name])
            $null = Get-PerfSample -Path $path -ErrorVariable err -ErrorAction SilentlyContinue
            $err.Count | Should -BeGreaterThan 0 -Because $name
            $err[-1].FullyQualifiedErrorId | Should -BeLike 'PerfDataCorrupt*' -Because $name
            $err[-1].CategoryInfo.Category | Should -Be 'InvalidData'
        }
    }
}
