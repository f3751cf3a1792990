# Every perf.data of tests/fixtures/perf/corpus (recorded here and on other machines, see its README) read by
# Get-PerfSample and compared with perf script sample by sample: pid, tid, time, ip, period, event. Where perf is
# installed and reads the file, it is the oracle; otherwise its recorded output in corpus/expected/.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $PSScriptRoot 'PerfCommon.ps1')
    $script:Corpus = Join-Path $RepoRoot 'tests/fixtures/perf/corpus'
    $script:Files = Get-ChildItem $Corpus -File | Where-Object { $_.Name -notmatch '\.(md|sh|py|txt)$' -and $_.Name -ne 'local-truncated.data' } |
        ForEach-Object { @{ Name = $_.Name; Path = $_.FullName } }
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $PSScriptRoot 'PerfCommon.ps1')
    $script:Corpus = Join-Path $RepoRoot 'tests/fixtures/perf/corpus'
    $script:HavePerfScript = [bool](Get-Command perf -CommandType Application -ErrorAction Ignore)

    # perf script -F pid,tid,time,ip,period,event --ns -G, one normalized line per sample.
    function ConvertFrom-PerfScript([string[]] $Lines) {
        foreach ($l in $Lines) {
            if ($l -match '^\s*(-?\d+)/(-?\d+)\s+(\d+)\.(\d{9}):\s+(\d+)\s+(\S+?):?\s+([0-9a-f]+)\s*$') {
                '{0}/{1} {2}.{3} {4} {5} {6}' -f $matches[1], $matches[2], $matches[3], $matches[4], $matches[5], $matches[6], $matches[7]
            }
            elseif ($l.Trim()) { "unparsed: $l" }
        }
    }
    function ConvertTo-Line($s) {
        '{0}/{1} {2}.{3:D9} {4} {5} {6:x}' -f $s.ProcessId, $s.ThreadId, [uint64][math]::Floor($s.Timestamp / 1e9), ($s.Timestamp % 1000000000), $s.Period, $s.Event, $s.Ip
    }
    # The oracle: perf here when it reads the file (perf 6.1 refuses attr size 136 and COMPRESSED2), else the recorded output.
    function Get-Oracle([string] $Path) {
        if ($HavePerfScript) {
            $out = & perf script -i $Path -F pid,tid,time,ip,period,event --ns -G 2>&1
            $text = @($out | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] } | ForEach-Object { "$_" })
            if ($LASTEXITCODE -eq 0 -and -not ($text -match 'failed to process type|incompatible file format')) {
                return @{ Source = 'perf'; Lines = @(ConvertFrom-PerfScript @($out | Where-Object { $_ -is [string] })) }
            }
        }
        @{ Source = 'recorded'; Lines = @(ConvertFrom-PerfScript (Get-Content (Join-Path $Corpus "expected/$(Split-Path -Leaf $Path).txt"))) }
    }
}

Describe 'perf.data corpus against perf script' -Tag 'Perf', 'Corpus' {
    It '<Name>: every sample as perf script gives it' -ForEach $Files {
        $oracle = Get-Oracle $Path
        $ours = @(Get-PerfSample -Path $Path -WarningVariable warn -WarningAction SilentlyContinue | ForEach-Object { ConvertTo-Line $_ })
        $oracle.Lines | Should -Not -Contain { $_ -like 'unparsed:*' }
        $diff = @(Compare-Object $oracle.Lines $ours -SyncWindow 0)
        $ours.Count | Should -Be $oracle.Lines.Count -Because "$($oracle.Source) oracle; warnings: $warn"
        $diff.Count | Should -Be 0 -Because "first differences ($($oracle.Source) oracle): $(($diff | Select-Object -First 4 | ForEach-Object { "$($_.SideIndicator) $($_.InputObject)" }) -join '; ')"
    }

    It 'reads every sample of a file cut short inside its data section, then warns at which offset' {
        $cut = Join-Path $Corpus 'local-truncated.data'
        $whole = @((Get-Oracle (Join-Path $Corpus 'local-fp.data')).Lines | ForEach-Object { $_ -replace ' \S+ (\S+)$', ' $1' })
        $ours = @(Get-PerfSample -Path $cut -WarningVariable warn -WarningAction SilentlyContinue -ErrorVariable err | ForEach-Object { (ConvertTo-Line $_) -replace ' \S+ (\S+)$', ' $1' })
        $err | Should -BeNullOrEmpty
        $ours.Count | Should -BeGreaterThan 10
        # The records are in time order (one thread): the samples before the cut are the first ones of the whole file.
        $ours | Should -Be $whole[0..($ours.Count - 1)]
        $warn.Count | Should -Be 1
        # The cut is at data offset + size / 2 (make-local.sh); the record it splits starts before it.
        "$($warn[0])" | Should -Match 'ends inside a record \(type 9, \d+ bytes\) at offset (\d+)'
        $at = [long]([regex]::Match("$($warn[0])", 'at offset (\d+)').Groups[1].Value)
        $at | Should -BeLessThan (Get-Item $cut).Length
        $at | Should -BeGreaterThan ((Get-Item $cut).Length - 65536)
    }

    It 'reads a symlinked perf.data (the target''s size, not the link''s)' {
        $link = Join-Path $TestDrive 'link.data'
        $null = New-Item -ItemType SymbolicLink -Path $link -Target (Join-Path $Corpus 'local-plain.data')
        $n = @(Get-PerfSample -Path (Join-Path $Corpus 'local-plain.data')).Count
        $n | Should -BeGreaterThan 0
        @(Get-PerfSample -Path $link).Count | Should -Be $n
    }

    It 'reads pipe mode from a FIFO (perf record -o - | …) as from the file' {
        $fifo = Join-Path $TestDrive 'perf.fifo'
        & mkfifo $fifo
        $source = Join-Path $Corpus 'local-zstd-pipe.data'
        # Written in pieces, as a pipe delivers them: records arrive split across reads.
        $writer = Start-ThreadJob {
            param($f, $s)
            $b = [IO.File]::ReadAllBytes($s)
            # Shared: .NET flocks its files, and the reader is in this process.
            $o = [IO.FileStream]::new($f, [IO.FileMode]::Open, [IO.FileAccess]::Write, [IO.FileShare]::ReadWrite)
            try { for ([int]$i = 0; $i -lt $b.Length; $i += 1000) { $o.Write($b, $i, [int][math]::Min(1000, $b.Length - $i)); $o.Flush() } }
            finally { $o.Dispose() }
        } -ArgumentList $fifo, $source
        try {
            $fromFifo = @(Get-PerfSample -Path $fifo | ForEach-Object { ConvertTo-Line $_ })
        }
        finally { $null = Wait-Job $writer -Timeout 20; Remove-Job $writer -Force }
        $fromFile = @(Get-PerfSample -Path $source | ForEach-Object { ConvertTo-Line $_ })
        $fromFile.Count | Should -BeGreaterThan 0
        $fromFifo | Should -Be $fromFile
    }

    It 'skips AUXTRACE payloads with a warning that says so' {
        # An AUXTRACE record (type 71) with a 4096-byte payload put before the data of a real pipe-mode file.
        $source = [IO.File]::ReadAllBytes((Join-Path $Corpus 'local-pipe.data'))
        $first = 16
        while ([BitConverter]::ToUInt32($source, $first) -ge 64) { $first += [BitConverter]::ToUInt16($source, $first + 6) }
        $aux = [byte[]]::new(48 + 4096)
        [BitConverter]::GetBytes([uint32]71).CopyTo($aux, 0); [BitConverter]::GetBytes([uint16]48).CopyTo($aux, 6)
        [BitConverter]::GetBytes([uint64]4096).CopyTo($aux, 8)
        for ($i = 48; $i -lt $aux.Length; $i++) { $aux[$i] = 0xff }
        $path = Join-Path $TestDrive 'aux.data'
        [IO.File]::WriteAllBytes($path, [byte[]]($source[0..($first - 1)] + $aux + $source[$first..($source.Length - 1)]))
        $expected = @(Get-PerfSample -Path (Join-Path $Corpus 'local-pipe.data') | ForEach-Object { ConvertTo-Line $_ })
        $ours = @(Get-PerfSample -Path $path -WarningVariable warn -WarningAction SilentlyContinue | ForEach-Object { ConvertTo-Line $_ })
        $ours | Should -Be $expected
        "$warn" | Should -Match '1 AUX trace records \(4096 bytes'
    }

    It 'says which format feature it does not support' {
        # A big-endian file: perf's magic byte-swapped.
        $bytes = [IO.File]::ReadAllBytes((Join-Path $Corpus 'local-plain.data'))
        [Array]::Reverse($bytes, 0, 8)
        $path = Join-Path $TestDrive 'be.data'
        [IO.File]::WriteAllBytes($path, $bytes)
        $null = Get-PerfSample -Path $path -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'PerfDataUnsupported*'
        "$($err[0])" | Should -Match 'big-endian'
    }
}

Describe 'Get-PerfReport against perf report --stdio on the corpus' -Tag 'Perf', 'Corpus' {
    # One table per event, periods from the attr (-c), group members split (:S), module dsos from the file ([kvm]).
    It '<Name>: per event, the same overhead by command and dso' -Skip:(-not $HavePerf) -ForEach @(
        @{ Name = 'local-group-S.data' }, @{ Name = 'local-group-s.data' }, @{ Name = 'local-period-c.data' }, @{ Name = 'local-zstd.data' },
        @{ Name = 'perfparser-contentsize.data' }, @{ Name = 'perfparser-parallel_static_gcc_perf.data.zstd' }, @{ Name = 'local-zstd-pipe.data' }
    ) {
        $path = Join-Path $Corpus $Name
        $perf = @{}; $event = $null
        foreach ($l in & perf report --stdio -i $path --no-group --no-children --sort comm,dso -g none -t '|' 2>$null) {
            if ($l -match "^# Samples: .* of events? '(.+)'") { $event = $matches[1]; $perf[$event] = [Collections.Generic.List[string]]::new() }
            elseif ($event -and $l -match '^\s*([\d.]+)%\s*\|(.*?)\s*\|(.*?)\s*$') { $perf[$event].Add(('{0:F2} {1} {2}' -f [double]$matches[1], $matches[2], $matches[3])) }
        }
        $perf.Count | Should -BeGreaterThan 0
        $rows = @(Get-PerfReport -Path $path -SortBy Comm, Dso)
        @($rows.Event | Select-Object -Unique) | Sort-Object | Should -Be @($perf.Keys | Sort-Object)
        foreach ($e in $perf.Keys) {
            $ours = @($rows | Where-Object Event -eq $e | ForEach-Object { '{0:F2} {1} {2}' -f $_.Overhead, $_.Comm, (Split-Path -Leaf $_.Dso) })
            # perf prints rows of equal overhead in an order of its own: compare as sets.
            @($ours | Sort-Object) | Should -Be @($perf[$e] | Sort-Object) -Because "event $e"
        }
    }
}
