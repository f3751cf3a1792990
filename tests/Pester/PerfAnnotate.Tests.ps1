# Get-PerfAnnotation against perf annotate --stdio (samples, percent, disassembly) and addr2line (source lines), on
# recordings perf makes here of a gcc -O2 -g program with two hot loops (DWARF 5, and DWARF 4 for the older tables).
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $PSScriptRoot 'PerfCommon.ps1')
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $PSScriptRoot 'PerfCommon.ps1')
    $script:Source = Join-Path $RepoRoot 'tests/fixtures/perf/hotspots.c'
    $script:Bin5 = Join-Path $TestDrive 'hot5'
    $script:Bin4 = Join-Path $TestDrive 'hot4'
    $script:Data5 = Join-Path $TestDrive 'hot5.data'
    $script:Data4 = Join-Path $TestDrive 'hot4.data'
    if ($HavePerf) {
        & gcc -O2 -g -o $Bin5 $Source
        & gcc -O2 -gdwarf-4 -o $Bin4 $Source
        # Enough work for a few hundred samples in each loop even when the machine is busy (cpu-clock counts CPU time).
        & perf record -F 2000 -o $Data5 -- $Bin5 60 200000000 2>$null | Out-Null
        & perf record -F 2000 -o $Data4 -- $Bin4 40 200000000 2>$null | Out-Null
    }

    function script:Get-PerfAnnotate([string] $Data, [string] $Symbol, [switch] $Samples) {
        # perf annotate --stdio's instruction lines: "  count :   addr:   text" (-n) or "  percent :   addr:   text".
        $lines = & perf annotate -i $Data --stdio -s $Symbol $(if ($Samples) { '-n' }) 2>$null
        foreach ($l in $lines) {
            if ($l -match '^\s+([\d.]+) :\s+([0-9a-f]+):\s+(.*)$') {
                [pscustomobject]@{ Value = [double]$Matches[1]; Address = [Convert]::ToUInt64($Matches[2], 16); Text = $Matches[3] }
            }
        }
    }
    # objdump's text without its comments and symbol names in <>, whitespace collapsed (see the cmdlet's NOTES).
    function script:Normalize([string] $Text) { (($Text -replace '\s+#.*$', '' -replace ' <[^>]*>', '') -replace '\s+', ' ').Trim() }
}

Describe 'Get-PerfAnnotation' {
    It 'lists the instructions perf annotate lists, with the same sample counts, for <_>' -ForEach 'alpha', 'beta' -Skip:(-not $HavePerf) {
        $perf = @(Get-PerfAnnotate $Data5 $_ -Samples)
        $perf.Count | Should -BeGreaterThan 5
        $ours = @(Get-PerfAnnotation -Path $Data5 -Symbol $_)
        ($ours | ForEach-Object Address) | Should -Be ($perf | ForEach-Object Address)
        for ($i = 0; $i -lt $perf.Count; $i++) { $ours[$i].Samples | Should -Be $perf[$i].Value -Because ('{0:x}' -f $perf[$i].Address) }
        ($ours | Measure-Object Samples -Sum).Sum | Should -BeGreaterThan 20
        $ours[0].SymbolSamples | Should -Be ($perf | Measure-Object Value -Sum).Sum
        $ours | ForEach-Object { $_.Offset | Should -Be ($_.Address - $ours[0].Address) }
    }

    It 'gives the percent of the symbol''s period as perf annotate does (local period), for <_>' -ForEach 'alpha', 'beta' -Skip:(-not $HavePerf) {
        $perf = @(Get-PerfAnnotate $Data5 $_)
        $ours = @(Get-PerfAnnotation -Path $Data5 -Symbol $_)
        $ours.Count | Should -Be $perf.Count
        for ($i = 0; $i -lt $perf.Count; $i++) { [Math]::Round($ours[$i].Percent, 2) | Should -BeLessOrEqual ($perf[$i].Value + 0.011) ; [Math]::Round($ours[$i].Percent, 2) | Should -BeGreaterOrEqual ($perf[$i].Value - 0.011) }
        [Math]::Round(($ours | Measure-Object Percent -Sum).Sum, 6) | Should -Be 100
    }

    It 'disassembles every instruction as objdump does in perf annotate, for <_>' -ForEach 'alpha', 'beta' -Skip:(-not $HavePerf) {
        $perf = @(Get-PerfAnnotate $Data5 $_)
        $perf.Count | Should -BeGreaterThan 5
        $ours = @(Get-PerfAnnotation -Path $Data5 -Symbol $_)
        for ($i = 0; $i -lt $perf.Count; $i++) { Normalize $ours[$i].Instruction | Should -BeExactly (Normalize $perf[$i].Text) -Because ('{0:x}' -f $perf[$i].Address) }
        $ours[0].Bytes | Should -Match '^[0-9a-f]+$'
    }

    It 'gives each instruction the source line addr2line gives (DWARF <Version>)' -ForEach @(@{ Version = 5; Bin = 'hot5'; Data = 'hot5.data' }, @{ Version = 4; Bin = 'hot4'; Data = 'hot4.data' }) -Skip:(-not $HavePerf -or -not (Get-Command addr2line -ErrorAction Ignore)) {
        $bin = Join-Path $TestDrive $Bin
        $data = Join-Path $TestDrive $Data
        & readelf --debug-dump=rawline $bin 2>$null | Select-String -Pattern "DWARF Version:\s+$Version" -Quiet | Should -BeTrue
        $rows = @('alpha', 'beta' | ForEach-Object { Get-PerfAnnotation -Path $data -Symbol $_ })
        $rows.Count | Should -BeGreaterThan 20
        $want = & addr2line -e $bin ($rows | ForEach-Object { '0x{0:x}' -f $_.Address })
        for ($i = 0; $i -lt $rows.Count; $i++) {
            # addr2line adds " (discriminator N)" for a block's discriminator: not a line of its own.
            $file, $line = ($want[$i] -replace ' \(discriminator \d+\)$', '') -split ':(?=\d+$|\?)'
            if ($line -eq '0' -or $file -eq '??') { $rows[$i].SourceLine | Should -BeNullOrEmpty; continue }
            "$(Split-Path -Leaf $rows[$i].SourceFile):$($rows[$i].SourceLine)" | Should -Be "$(Split-Path -Leaf $file):$line" -Because ('{0:x}' -f $rows[$i].Address)
        }
        # The full path, as addr2line prints it with DWARF 5's directory table; file names only need to agree on DWARF 4.
        if ($Version -eq 5) { $rows[0].SourceFile | Should -Be (($want[0] -split ':')[0]) }
    }

    It 'annotates samples from the pipeline and filters by event' -Skip:(-not $HavePerf) {
        $samples = Get-PerfSample -Path $Data5
        $a = @($samples | Get-PerfAnnotation -Symbol alpha)
        $b = @(Get-PerfAnnotation -Path $Data5 -Symbol alpha -Event cpu-clock)
        $a.Count | Should -BeGreaterThan 5
        ($a | ForEach-Object { "$($_.Address):$($_.Samples)" }) | Should -Be ($b | ForEach-Object { "$($_.Address):$($_.Samples)" })
        Get-PerfAnnotation -Path $Data5 -Symbol alpha -Event no-such-event -ErrorAction SilentlyContinue -ErrorVariable e | Should -BeNullOrEmpty
        $e[0].FullyQualifiedErrorId | Should -BeLike 'PerfSymbolNotSampled*'
        $e[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'shows the annotation as a table per symbol, as perf annotate --stdio' -Skip:(-not $HavePerf) {
        $text = Get-PerfAnnotation -Path $Data5 -Symbol beta | Out-String -Width 200
        $text | Should -Match 'Annotation: beta of hot5 for cpu-clock'
        $text | Should -Match '(?m)^\s+\d+\.\d\d\s+\d+\s+[0-9a-f]+: \w+'
        $text | Should -Match 'hotspots\.c:\d+'
    }

    It 'reports a corrupt file as an error' {
        $bad = Join-Path $TestDrive 'bad.data'
        [IO.File]::WriteAllBytes($bad, [byte[]](1..200))
        Get-PerfAnnotation -Path $bad -Symbol alpha -ErrorAction SilentlyContinue -ErrorVariable e | Should -BeNullOrEmpty
        $e[0].FullyQualifiedErrorId | Should -BeLike 'PerfDataCorrupt*'
    }
}
