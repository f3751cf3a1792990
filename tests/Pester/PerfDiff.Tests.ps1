# Compare-PerfReport against perf diff (delta, ratio, wdiff) on two recordings perf makes here of one program whose
# argument moves the work from one hot loop to the other.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $PSScriptRoot 'PerfCommon.ps1')
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $PSScriptRoot 'PerfCommon.ps1')
    $script:Bin = Join-Path $TestDrive 'hot'
    $script:A = Join-Path $TestDrive 'a.data'
    $script:B = Join-Path $TestDrive 'b.data'
    if ($HavePerf) {
        & gcc -O2 -g -o $Bin (Join-Path $RepoRoot 'tests/fixtures/perf/hotspots.c')
        & perf record -F 2000 -o $A -- $Bin 80 200000000 2>$null | Out-Null
        & perf record -F 2000 -o $B -- $Bin 20 200000000 2>$null | Out-Null
    }

    function script:Get-PerfDiff([string[]] $Arguments) {
        # perf diff's rows: [baseline%] [computed] dso [k|.] symbol; the baseline is the only column that is a
        # percent without a sign, the computed one is a signed percent (delta), a number, or N/A.
        foreach ($l in (& perf diff @Arguments $A $B 2>$null)) {
            if ($l -match '^#' -or $l -notmatch '^(?<cols>.*?)\s(?<dso>\S+)\s+\[(?<k>[k.])\] (?<sym>.*?)\s*$') { continue }
            $cols = -split $Matches.cols
            $row = [ordered]@{ Dso = $Matches.dso; Symbol = $Matches.sym; Kernel = $Matches.k -eq 'k'; Baseline = $null; Value = $null }
            foreach ($c in $cols) {
                if ($c -match '^\d+\.\d+%$') { $row.Baseline = [double]$c.TrimEnd('%') }
                elseif ($c -eq 'N/A') { $row.Value = 'N/A' }
                else { $row.Value = [double]$c.TrimEnd('%') }
            }
            [pscustomobject]$row
        }
    }
    function script:Key($o) { "$(Split-Path -Leaf $o.Dso) $($o.Symbol)" }
}

Describe 'Compare-PerfReport' {
    It 'gives perf diff''s baseline and delta for every entry' -Skip:(-not $HavePerf) {
        $perf = @(Get-PerfDiff @())
        $perf.Count | Should -BeGreaterThan 2
        $ours = @{}
        Compare-PerfReport -ReferencePath $A -DifferencePath $B | ForEach-Object { $ours[(Key $_)] = $_ }
        $ours.Count | Should -Be $perf.Count
        foreach ($p in $perf) {
            $o = $ours[(Key $p)]
            $o | Should -Not -BeNullOrEmpty -Because (Key $p)
            $o.Kernel | Should -Be $p.Kernel -Because (Key $p)
            if ($null -eq $p.Baseline) { $o.Baseline | Should -BeNullOrEmpty -Because (Key $p) } else { [Math]::Round($o.Baseline, 2) | Should -Be $p.Baseline -Because (Key $p) }
            if ($null -eq $p.Value) { $o.Delta | Should -BeNullOrEmpty -Because (Key $p) } else { [Math]::Abs($o.Delta - $p.Value) | Should -BeLessThan 0.0051 -Because (Key $p) }
        }
        # The work moved: beta grew and alpha shrank, the largest changes, first (perf's Delta Abs order).
        $first = @(Compare-PerfReport $A $B | Select-Object -First 2)
        ($first.Symbol | Sort-Object) | Should -Be 'alpha', 'beta'
        ($first | Where-Object Symbol -eq beta).Delta | Should -BeGreaterThan 20
        ($first | Where-Object Symbol -eq alpha).Delta | Should -BeLessThan -20
    }

    It 'gives perf diff -c ratio''s ratios, N/A for entries new in the second file' -Skip:(-not $HavePerf) {
        $perf = @(Get-PerfDiff '-c', 'ratio')
        $ours = @{}
        Compare-PerfReport $A $B -Compute Ratio | ForEach-Object { $ours[(Key $_)] = $_ }
        foreach ($p in $perf) {
            $o = $ours[(Key $p)]
            if ($p.Value -eq 'N/A' -or $null -eq $p.Value) { $o.Ratio | Should -BeNullOrEmpty -Because (Key $p); continue }
            [Math]::Round($o.Ratio, 6) | Should -Be $p.Value -Because (Key $p)
        }
        (Compare-PerfReport $A $B -Compute Ratio | Select-Object -First 1).Symbol | Should -Be 'beta'
    }

    It 'gives perf diff -c wdiff:2,3''s weighted differences' -Skip:(-not $HavePerf) {
        $perf = @(Get-PerfDiff '-c', 'wdiff:2,3')
        $ours = @{}
        Compare-PerfReport $A $B -Compute WeightedDiff -Weight 2, 3 | ForEach-Object { $ours[(Key $_)] = $_ }
        $checked = 0
        foreach ($p in $perf) {
            $o = $ours[(Key $p)]
            if ($p.Value -eq 'N/A' -or $null -eq $p.Value) { $o.WeightedDiff | Should -BeNullOrEmpty -Because (Key $p); continue }
            $o.WeightedDiff | Should -Be ([long]$p.Value) -Because (Key $p)
            $checked++
        }
        $checked | Should -BeGreaterThan 1
    }

    It 'compares two Get-PerfReport outputs as it compares the files' -Skip:(-not $HavePerf) {
        $fromFiles = Compare-PerfReport $A $B | ForEach-Object { '{0} {1:F6} {2:F6}' -f (Key $_), $_.Baseline, $_.Delta } | Sort-Object
        $before = Get-PerfReport $A
        $fromReports = Get-PerfReport $B | Compare-PerfReport -ReferenceObject $before | ForEach-Object { '{0} {1:F6} {2:F6}' -f (Key $_), $_.Baseline, $_.Delta } | Sort-Object
        $fromReports | Should -Be $fromFiles
    }

    It 'shows perf diff''s columns' -Skip:(-not $HavePerf) {
        $text = Compare-PerfReport $A $B | Out-String -Width 200
        $text | Should -Match '(?m)^\s+\d+\.\d\d%\s+\+\d+\.\d\d% hot\s+\[\.\] beta'
        $text = Compare-PerfReport $A $B -Compute Ratio | Out-String -Width 200
        $text | Should -Match '(?m)^\s+\d+\.\d\d%\s+\d+\.\d{6} hot\s+\[\.\] beta'
    }

    It 'refuses a zero weight and reports a corrupt file' {
        { Compare-PerfReport a b -Compute WeightedDiff -Weight 0, 1 } | Should -Throw -ErrorId 'PerfDiffWeight*'
        $bad = Join-Path $TestDrive 'bad.data'
        [IO.File]::WriteAllBytes($bad, [byte[]](1..200))
        Compare-PerfReport $bad $bad -ErrorAction SilentlyContinue -ErrorVariable e | Should -BeNullOrEmpty
        $e[0].FullyQualifiedErrorId | Should -BeLike 'PerfDataCorrupt*'
    }
}
