# Torture: seeded fuzz corpora through the cmdlets. Real inputs (an ELF program, a perf.data that perf record made, kernel
# log fixtures, trace event format files) are mutated with a fixed seed and a fixed number of cases; each case must end
# with records or a clean error of the module (KernelDebugException, a category other than NotSpecified) within a time
# limit. Outcome per corpus: crashed when a raw .NET exception escaped, hung when a case ran over the limit.
# KERNELDEBUG_TORTURE_FUZZ_CASES changes the number of cases per corpus (default 150).

BeforeDiscovery {
    $script:Corpora = @(
        @{ Corpus = 'ELF (New-Uprobe -WhatIf)' }
        @{ Corpus = 'perf.data (Get-PerfSample)' }
        @{ Corpus = 'kernel log (Get-KernelLog, Get-KasanReport, Get-KmemleakReport)' }
        @{ Corpus = 'trace format (TraceEventFormat.Parse)' }
    )
}

BeforeAll {
    . $PSScriptRoot/Common.ps1
    Import-Module (Join-Path $PSScriptRoot '../Torture.psm1') -Force
    $script:Cases = if ($env:KERNELDEBUG_TORTURE_FUZZ_CASES) { [int] $env:KERNELDEBUG_TORTURE_FUZZ_CASES } else { 150 }
    $script:Seed = 14
    $script:Limit = [TimeSpan]::FromSeconds(10)
    $script:Work = Join-Path ([IO.Path]::GetTempPath()) "kd-torture-fuzz-$PID"
    New-Item -ItemType Directory -Path $script:Work -Force | Out-Null
    $script:Runspace = New-TortureRunspace

    function Invoke-Corpus([string] $Name, [byte[][]] $Seeds, [string] $Extension, [string] $Script) {
        # Runs the cases; returns the outcome, the counts and the first failures.
        $random = [Random]::new($script:Seed)
        $crashed = 0; $hung = 0; $ok = 0; $refused = 0; $notes = @()
        for ($i = 0; $i -lt $script:Cases; $i++) {
            $orig = $Seeds[$i % $Seeds.Count]
            $bytes = New-MutatedBytes -Bytes $orig -Random $random
            $path = Join-Path $script:Work "case$i$Extension"
            [IO.File]::WriteAllBytes($path, $bytes)
            $r = Invoke-TortureTimed -Runspace $script:Runspace -Script $Script -Parameters @{ Path = $path } -Timeout $script:Limit
            $script:Runspace = $r.Runspace
            if ($r.TimedOut) { $hung++; if ($notes.Count -lt 5) { $notes += "case ${i}: over $($script:Limit.TotalSeconds) s" }; continue }
            $v = Get-TortureErrorVerdict $r.Errors
            if ($v.Verdict -eq 'crashed') {
                $crashed++
                if ($notes.Count -lt 5) { $notes += "case ${i}: $($v.Detail)"; Copy-Item $path (Join-Path (Split-Path (Get-TortureResultPath)) "fuzz-$($Name -replace '\W', '')-case$i$Extension") -ErrorAction Ignore }
            }
            elseif ($r.Errors.Count) { $refused++ } else { $ok++ }
            Remove-Item $path -ErrorAction Ignore
        }
        $outcome = if ($crashed) { 'crashed' } elseif ($hung) { 'hung' } else { 'clean' }
        $detail = "$($script:Cases) cases, seed $($script:Seed): $ok decoded, $refused refused cleanly, $crashed crashed, $hung hung$(if ($notes) { '; ' + ($notes -join '; ') })"
        Add-TortureResult -Suite Fuzz -Case $Name -Outcome $outcome -Detail $detail
        [pscustomobject]@{ Outcome = $outcome; Detail = $detail; Decoded = $ok }
    }
}

AfterAll {
    if ($script:Runspace) { $script:Runspace.Dispose() }
    Remove-Item $script:Work -Recurse -Force -ErrorAction Ignore
}

Describe 'Torture: fuzzed input' -Tag Torture {
    It 'survives mutated <Corpus>' -TestCases $script:Corpora {
        param($Corpus)
        switch -Wildcard ($Corpus) {
            'ELF*' {
                # The fixture program (tests/fixtures/perf/workload.c, with symbols and DWARF): every mutation must
                # resolve spin_inner to an offset inside the file or fail cleanly; -WhatIf keeps the kernel out of it.
                if (-not (Get-Command gcc -ErrorAction Ignore)) { Set-ItResult -Skipped -Because 'gcc is not installed'; return }
                & gcc -O1 -g -o (Join-Path $script:Work 'workload') (Join-Path $RepoRoot 'tests/fixtures/perf/workload.c')
                $seeds = @(, [IO.File]::ReadAllBytes((Join-Path $script:Work 'workload')))
                $script = 'param($Path) New-Uprobe -Name kerneldebug_fuzz -Path $Path -Symbol spin_inner -WhatIf -ErrorAction Stop 6>$null'
                $r = Invoke-Corpus 'ELF' $seeds '.elf' $script
            }
            'perf.data*' {
                if (-not (Get-Command perf -ErrorAction Ignore)) { Set-ItResult -Skipped -Because 'perf is not installed'; return }
                $data = Join-Path $script:Work 'seed.data'
                & perf record -q -e cpu-clock -F 2000 -o $data -- /bin/sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done' *> $null
                $LASTEXITCODE | Should -Be 0
                $seeds = @(, [IO.File]::ReadAllBytes($data))
                $r = Invoke-Corpus 'perf.data' $seeds '.data' 'param($Path) $null = Get-PerfSample -Path $Path -ErrorAction Stop'
            }
            'kernel log*' {
                $seeds = @(Get-ChildItem (Join-Path $RepoRoot 'tests/fixtures/memory') -Filter '*.txt' | Sort-Object Name |
                    Select-Object -First 8 | ForEach-Object { , [IO.File]::ReadAllBytes($_.FullName) })
                $script = 'param($Path) $null = Get-KernelLog -Path $Path -ErrorAction Stop; $null = Get-KasanReport -Path $Path -ErrorAction Stop; $null = Get-KmemleakReport -Path $Path -ErrorAction Stop'
                $r = Invoke-Corpus 'kernel log' $seeds '.txt' $script
            }
            'trace format*' {
                $seeds = @(Get-ChildItem (Join-Path $RepoRoot 'tests/fixtures/ftrace/sched-syscalls/formats') -Filter '*.format' | Sort-Object Name |
                    ForEach-Object { , [IO.File]::ReadAllBytes($_.FullName) })
                $script = 'param($Path) $null = [KernelDebug.TraceEventFormat]::Parse(''fuzz'', [IO.File]::ReadAllText($Path))'
                $r = Invoke-Corpus 'trace format' $seeds '.format' $script
            }
        }
        $r.Outcome | Should -Be 'clean' -Because $r.Detail
        # Some mutations must still decode, or the corpus never reached the parser (the case could not fail).
        $r.Decoded | Should -BeGreaterThan 0 -Because $r.Detail
    }
}
