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

Describe 'Symbols only when they are right (build-ids)' -Tag 'Perf', 'Corpus' {
    BeforeAll {
        $script:Bin = Join-Path $TestDrive 'bid-workload'
        if ($HavePerf) {
            # A build-id of its own, so that no copy of an earlier build (perf's ~/.debug cache) has it.
            $unique = -join ((1..20) | ForEach-Object { '{0:x2}' -f (Get-Random -Maximum 256) })
            & gcc -O1 -fno-omit-frame-pointer "-Wl,--build-id=0x$unique" -o $Bin (Join-Path $RepoRoot 'tests/fixtures/perf/workload.c')
            $script:Orig = Join-Path $TestDrive 'bid-orig.data'
            & perf record -q -g -F 999 --no-buildid-cache -o $Orig -- $Bin 100 0 0 100000000 2>$null | Out-Null
            # The same recording, its binary's build-id changed wherever the file holds it (HEADER_BUILD_ID, MMAP2).
            $id = (@(& readelf -n $Bin) -match 'Build ID:' -replace '.*Build ID:\s*', '')[0].Trim()
            $bytes = [IO.File]::ReadAllBytes($Orig)
            $idBytes = [Convert]::FromHexString($id)
            $hex = [Convert]::ToHexString($bytes); $at = $hex.IndexOf([Convert]::ToHexString($idBytes))
            $script:Found = $at -ge 0 -and $at % 2 -eq 0
            while ($at -ge 0) { if ($at % 2 -eq 0) { $bytes[$at / 2] = $bytes[$at / 2] -bxor 0xff }; $at = $hex.IndexOf([Convert]::ToHexString($idBytes), $at + 1) }
            $script:Altered = Join-Path $TestDrive 'bid-altered.data'
            [IO.File]::WriteAllBytes($Altered, $bytes)
        }
        function Get-TopFrames([string] $Path) { Get-PerfSample -Path $Path | ForEach-Object { '{0:x} {1} {2}' -f $_.Ip, $_.Symbol, $_.Dso } }
        function Get-PerfTopFrames([string] $Path) {
            & perf script -i $Path -F ip,sym,dso -G 2>$null | Where-Object { $_.Trim() } | ForEach-Object { if ($_ -match '^\s*([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$') { '{0} {1} {2}' -f $matches[1], $matches[2], $matches[3] } }
        }
    }

    It 'resolves a binary whose build-id is the recorded one, as perf script' -Skip:(-not $HavePerf) {
        $ours = @(Get-TopFrames $Orig)
        $ours | Should -Be @(Get-PerfTopFrames $Orig)
        ($ours -match " spin_inner $([regex]::Escape($Bin))$").Count | Should -BeGreaterThan 0
    }

    It 'leaves [unknown] a binary at the recorded path whose build-id differs, as perf script does' -Skip:(-not $HavePerf) {
        $Found | Should -BeTrue -Because 'the recording holds the binary''s build-id'
        $ours = @(Get-TopFrames $Altered)
        $ours | Should -Be @(Get-PerfTopFrames $Altered)
        ($ours -match [regex]::Escape($Bin)) | Should -Not -BeNullOrEmpty
        ($ours -match [regex]::Escape($Bin)) | Should -Not -Match '^\S+ (spin_inner|work|main) '
    }

    It 'finds the binary under -SymbolPath by its build-id (root/.build-id/xx/rest.debug)' -Skip:(-not $HavePerf) {
        $id = (@(& readelf -n $Bin) -match 'Build ID:' -replace '.*Build ID:\s*', '')[0].Trim()
        $root = Join-Path $TestDrive 'symroot'
        $dir = Join-Path $root ".build-id/$($id.Substring(0, 2))"
        $null = New-Item -ItemType Directory $dir -Force
        Copy-Item $Bin (Join-Path $dir "$($id.Substring(2)).debug")
        # Moved away from the recorded path: only the copy under the root has the recorded build-id.
        $moved = Join-Path $TestDrive 'bid-orig-moved.data'
        Copy-Item $Orig $moved
        Rename-Item $Bin "$Bin.away"
        try {
            (@(Get-PerfSample -Path $moved) | Where-Object Symbol -eq 'spin_inner').Count | Should -Be 0
            (@(Get-PerfSample -Path $moved -SymbolPath $root) | Where-Object Symbol -eq 'spin_inner').Count | Should -BeGreaterThan 0
        }
        finally { Rename-Item "$Bin.away" $Bin }
    }

    It 'names no kernel symbol of a recording from another machine (<Name>)' -ForEach @(
        @{ Name = 'mstange-sleep.compressed.pipe.data' }, @{ Name = 'perfparser-parallel_static_gcc_perf.data.zstd' }, @{ Name = 'perfparser-contentsize.data' }
    ) {
        # Another kernel (aarch64 6.5; x86_64 5.18 with its build-id; 4.9): this host's kallsyms would give wrong names
        # (perf 6.1 here prints them for the first two: it checks no build-id of a pipe-mode file).
        $kernel = @(Get-PerfSample -Path (Join-Path $Corpus $Name) | Where-Object { $_.Ip -ge 0xffff000000000000 })
        $kernel.Count | Should -BeGreaterThan 0
        $kernel.Symbol | Select-Object -Unique | Should -Be '[unknown]'
    }

    It 'names this boot''s kernel symbols from this host''s kallsyms, as perf script' -Skip:(-not $HavePerf) {
        $data = Join-Path $TestDrive 'kernel-here.data'
        & perf record -q -F 999 -o $data -- $Bin 300 0 3000 1000 2>$null | Out-Null
        $ours = @(Get-TopFrames $data)
        $ours | Should -Be @(Get-PerfTopFrames $data)
        @($ours -match '\[kernel\.kallsyms\]$' -notmatch '\[unknown\]').Count | Should -BeGreaterThan 0
    }
}
