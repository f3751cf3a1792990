# DWARF call graphs: Get-PerfSample's unwinding of --call-graph dwarf samples against perf script on the same file,
# frame by frame, and Start-PerfRecord -CallGraph Dwarf's files read by perf script.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $PSScriptRoot 'PerfCommon.ps1')
    $script:HaveGzip = [bool](Get-Command gzip -CommandType Application -ErrorAction Ignore)
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $PSScriptRoot 'PerfCommon.ps1')
    # A known deep chain, main -> level1 ... level8 -> leaf, all noinline, -O2 without frame pointers: only CFI unwinds it.
    $script:Deep = Join-Path $TestDrive 'deep'
    if ($HavePerf) { & gcc -O2 -fomit-frame-pointer -g -o $Deep (Join-Path $RepoRoot 'tests/fixtures/perf/dwarf/deep.c') }
    $script:DeepChain = 'leaf', 'level8', 'level7', 'level6', 'level5', 'level4', 'level3', 'level2', 'level1', 'main'

    # perf script's call chains ("ip sym" per frame), one array per sample. perf 6.1 (libunwind) ends a chain whose
    # stack copy runs out inside a frame with one more frame, ip 0 - 1 ([unknown]): that artefact is dropped.
    function Get-PerfScriptChains([string] $Path) {
        $chains = [System.Collections.Generic.List[object]]::new()
        $cur = $null
        foreach ($line in (& perf script -i $Path -F ip,sym --no-inline 2>$null)) {
            if (-not $line.Trim()) { if ($null -ne $cur) { $chains.Add(@($cur)); $cur = $null }; continue }
            if ($null -eq $cur) { $cur = [System.Collections.Generic.List[string]]::new() }
            $t = $line.Trim() -split '\s+', 2
            if ($t[0] -ne 'ffffffffffffffff') { $cur.Add("$($t[0]) $($t[1])") }
        }
        if ($null -ne $cur) { $chains.Add(@($cur)) }
        , $chains.ToArray()
    }

    function Get-OurChains($Samples) {
        foreach ($s in $Samples) { , @($s.CallChain | ForEach-Object { '{0:x} {1}' -f $_.Offset, $_.Symbol }) }
    }

    # How many samples have the same chain in both, frame by frame; the first few that differ, for the message.
    function Compare-Chains($Ours, $Theirs) {
        $agree = 0; $diffs = [System.Collections.Generic.List[string]]::new()
        for ($i = 0; $i -lt [Math]::Min($Ours.Count, $Theirs.Count); $i++) {
            if (($Ours[$i] -join '|') -ceq ($Theirs[$i] -join '|')) { $agree++ }
            elseif ($diffs.Count -lt 3) { $diffs.Add("sample ${i}: ours [$($Ours[$i] -join ', ')] perf [$($Theirs[$i] -join ', ')]") }
        }
        [pscustomobject]@{ Agree = $agree; Count = $Ours.Count; PerfCount = $Theirs.Count; Differences = $diffs -join "`n" }
    }

    function Test-DeepChain($Samples) {
        # Samples in leaf whose unwound chain holds the whole known chain, in order.
        @($Samples | Where-Object Symbol -eq 'leaf' | Where-Object {
                $names = @($_.CallChain | Where-Object { -not $_.Kernel } | Select-Object -ExpandProperty Symbol)
                ($names[0..9] -join ',') -eq ($DeepChain -join ',')
            }).Count
    }
}

Describe 'Get-PerfSample unwinds DWARF call graphs' {
    It 'agrees with perf script frame by frame on a -O2 program built without frame pointers' -Skip:(-not $HavePerf) {
        $data = Join-Path $TestDrive 'deep.data'
        & perf record -q -o $data --call-graph dwarf -F 999 -- $Deep 800 2>&1 | Out-Null
        $LASTEXITCODE | Should -Be 0
        $samples = @(Get-PerfSample $data)
        $samples.Count | Should -BeGreaterThan 50
        $r = Compare-Chains @(Get-OurChains $samples) (Get-PerfScriptChains $data)
        $r.Count | Should -Be $r.PerfCount
        $r.Agree | Should -BeGreaterOrEqual ([int]($r.Count * 0.97)) -Because $r.Differences
        # Not an empty agreement: most samples are in leaf, under the whole chain down to main.
        Test-DeepChain $samples | Should -BeGreaterThan ($samples.Count / 2)
    }

    It 'agrees with perf script on a distro binary (gzip) and its libc' -Skip:(-not ($HavePerf -and $HaveGzip)) {
        $in = Join-Path $TestDrive 'gzip.in'
        $bytes = [byte[]]::new(12MB); [System.Random]::new(18).NextBytes($bytes)
        [System.IO.File]::WriteAllText($in, [Convert]::ToBase64String($bytes))
        $data = Join-Path $TestDrive 'gzip.data'
        & perf record -q -o $data --call-graph dwarf -F 999 -- gzip -kf -6 $in 2>&1 | Out-Null
        $LASTEXITCODE | Should -Be 0
        $samples = @(Get-PerfSample $data)
        $samples.Count | Should -BeGreaterThan 50
        $r = Compare-Chains @(Get-OurChains $samples) (Get-PerfScriptChains $data)
        $r.Count | Should -Be $r.PerfCount
        $r.Agree | Should -BeGreaterOrEqual ([int]($r.Count * 0.95)) -Because $r.Differences
        # Unwound through gzip's own functions into libc's __libc_start_main, not stopped at the sampled pc.
        @($samples | Where-Object { @($_.CallChain | Where-Object Symbol -like '__libc_start*').Count -gt 0 }).Count | Should -BeGreaterThan ($samples.Count / 2)
    }

    It 'reads the DWARF recording of the corpus as perf does' {
        $data = Join-Path $RepoRoot 'tests/fixtures/perf/corpus/local-dwarf.data'
        $samples = @(Get-PerfSample $data)
        $samples.Count | Should -Be 5
        if ((Test-Path /tmp/kd-corpus-workload) -and $HavePerf) {
            $r = Compare-Chains @(Get-OurChains $samples) (Get-PerfScriptChains $data)
            $r.Agree | Should -Be $r.Count -Because $r.Differences
        }
        else { Set-ItResult -Skipped -Because 'the recorded binary (/tmp/kd-corpus-workload, make-local.sh) is not on this host' }
    }
}

Describe 'Get-PerfSample reads LBR call stacks' {
    It 'gives the chains perf script gives for perf record --call-graph lbr (a perf 5.4 file of the corpus)' -Skip:(-not $HavePerf) {
        $data = Join-Path $RepoRoot 'tests/fixtures/perf/corpus/perfparser-vector_static_gcc_perf.lbr.data'
        $samples = @(Get-PerfSample $data)
        $theirs = [System.Collections.Generic.List[object]]::new(); $cur = $null
        foreach ($line in (& perf script -i $data -F ip --no-inline 2>$null)) {
            if (-not $line.Trim()) { if ($null -ne $cur) { $theirs.Add(@($cur)); $cur = $null }; continue }
            if ($null -eq $cur) { $cur = [System.Collections.Generic.List[string]]::new() }
            $cur.Add($line.Trim())
        }
        if ($null -ne $cur) { $theirs.Add(@($cur)) }
        $samples.Count | Should -Be $theirs.Count
        $agree = 0; $strayLast = 0; $userLbr = 0
        for ($i = 0; $i -lt $samples.Count; $i++) {
            $ours = @($samples[$i].CallChain | ForEach-Object { '{0:x}' -f $_.Offset })
            $p = @($theirs[$i])
            if (($ours -join '|') -eq ($p -join '|')) { $agree++; if (@($samples[$i].CallChain | Where-Object { -not $_.Kernel }).Count -ge 3) { $userLbr++ } }
            # perf reads one entry of an empty branch stack anyway (past the record): one stray frame more than ours.
            elseif ($p.Count -eq $ours.Count + 1 -and (($p | Select-Object -First $ours.Count) -join '|') -eq ($ours -join '|')) { $strayLast++ }
        }
        $agree + $strayLast | Should -Be $samples.Count
        $agree | Should -BeGreaterThan ($samples.Count / 2)
        $userLbr | Should -BeGreaterThan 0 -Because 'user frames come from the branch stack'
    }
}

Describe 'Start-PerfRecord -CallGraph Dwarf' {
    It 'records user registers and stack as perf record --call-graph dwarf does, and perf script unwinds our file' -Skip:(-not $HavePerf) {
        $data = Join-Path $TestDrive 'ours.data'
        $r = Start-PerfRecord -Command $Deep -ArgumentList 800 -CallGraph Dwarf -Path $data -Wait
        $r.State | Should -Be 'Completed'
        $r.Samples | Should -BeGreaterThan 50
        $attr = (& perf evlist -v -i $data 2>&1) -join "`n"
        $attr | Should -Match 'sample_type: IP\|TID\|TIME\|ADDR\|CALLCHAIN\|CPU\|PERIOD\|REGS_USER\|STACK_USER\|IDENTIFIER\|DATA_SRC'
        $attr | Should -Match 'exclude_callchain_user: 1'
        $attr | Should -Match 'sample_regs_user: 0xff0fff'
        $attr | Should -Match 'sample_stack_user: 8192'
        $attr | Should -Match 'mmap_data: 1'
        $samples = @(Get-PerfSample -Recording $r)
        $samples.Count | Should -Be $r.Samples
        $theirs = Get-PerfScriptChains $data
        $r2 = Compare-Chains @(Get-OurChains $samples) $theirs
        $r2.Count | Should -Be $r2.PerfCount
        $r2.Agree | Should -BeGreaterOrEqual ([int]($r2.Count * 0.97)) -Because $r2.Differences
        # perf itself unwound the deep chain from our file.
        @($theirs | Where-Object { $_.Count -ge 10 -and $_[0] -match ' leaf$' -and $_[9] -match ' main$' }).Count | Should -BeGreaterThan ($samples.Count / 2)
        Test-DeepChain $samples | Should -BeGreaterThan ($samples.Count / 2)
    }

    It 'copies -StackSize bytes of stack' -Skip:(-not $HavePerf) {
        $data = Join-Path $TestDrive 'small.data'
        $r = Start-PerfRecord -Command $Deep -ArgumentList 100 -CallGraph Dwarf -StackSize 4096 -Path $data -Wait
        $r.State | Should -Be 'Completed'
        (& perf evlist -v -i $data 2>&1) -join "`n" | Should -Match 'sample_stack_user: 4096'
    }

    It 'refuses -StackSize without -CallGraph Dwarf' {
        { Start-PerfRecord -Command true -StackSize 4096 -Path (Join-Path $TestDrive 'x.data') -ErrorAction Stop } |
            Should -Throw -ErrorId 'StackSizeWithoutDwarf,KernelDebug.Commands.StartPerfRecordCommand'
    }
}
