# Torture: files that are not what a reader expects: a FIFO (nobody writes to it), /dev/zero (endless), a directory, a
# symbolic link (to a regular file: followed like any path; to a FIFO: refused like the FIFO), /dev/tty-like devices, and a
# file truncated while it is read. Each reader must end within the time limit with records or a clean error of the module.

BeforeDiscovery {
    $readers = 'Get-PerfSample', 'Get-KernelLog', 'Get-KasanReport', 'Get-KmemleakReport', 'Get-PerfReport'
    $kinds = 'fifo', 'dev-zero', 'directory', 'symlink-to-fifo', 'dev-null'
    $script:SpecialCases = foreach ($r in $readers) { foreach ($k in $kinds) { @{ Reader = $r; Kind = $k } } }
}

BeforeAll {
    . $PSScriptRoot/Common.ps1
    Import-Module (Join-Path $PSScriptRoot '../Torture.psm1') -Force
    $script:Work = Join-Path ([IO.Path]::GetTempPath()) "kd-torture-special-$PID"
    New-Item -ItemType Directory -Path $script:Work -Force | Out-Null
    $script:Runspace = New-TortureRunspace
    $script:Limit = [TimeSpan]::FromSeconds(10)

    function Get-SpecialPath([string] $Kind) {
        switch ($Kind) {
            'fifo' { $p = Join-Path $script:Work 'fifo'; if (-not (Test-Path $p)) { & mkfifo $p }; $p }
            'dev-zero' { '/dev/zero' }
            'dev-null' { '/dev/null' }
            'directory' { $script:Work }
            'symlink-to-fifo' {
                $f = Get-SpecialPath 'fifo'
                $p = Join-Path $script:Work 'link'
                if (-not (Test-Path $p)) { New-Item -ItemType SymbolicLink -Path $p -Target $f | Out-Null }
                $p
            }
        }
    }
}

AfterAll {
    if ($script:Runspace) { $script:Runspace.Dispose() }
    Remove-Item $script:Work -Recurse -Force -ErrorAction Ignore
}

Describe 'Torture: special files' -Tag Torture {
    It '<Reader> -Path on a <Kind>' -TestCases $script:SpecialCases {
        param($Reader, $Kind)
        $path = Get-SpecialPath $Kind
        if ($Reader -in 'Get-PerfSample', 'Get-PerfReport' -and $Kind -like '*fifo') {
            # perf reads a FIFO as a pipe-mode stream and waits for its writer (perf report -i fifo): so do these. Nobody
            # writes here, so the case is that a stop (Ctrl+C) ends the wait at once, with nothing left blocked.
            $before = $script:Runspace
            $r = Invoke-TortureTimed -Runspace $script:Runspace -Script "param(`$Path) `$null = $Reader -Path `$Path -ErrorAction Stop" -Parameters @{ Path = $path } -Timeout ([TimeSpan]::FromSeconds(2))
            $script:Runspace = $r.Runspace
            $stopped = [object]::ReferenceEquals($r.Runspace, $before)
            $outcome = if (-not $r.TimedOut) { 'lost' } elseif ($stopped) { 'clean' } else { 'hung' }
            $detail = if (-not $r.TimedOut) { "ended without a writer: $($r.Errors | Select-Object -First 1)" } elseif ($stopped) { 'waited for a writer; stopped' } else { 'did not stop' }
            Add-TortureResult -Suite SpecialFiles -Case "$Reader $Kind" -Outcome $outcome -Detail $detail
            $outcome | Should -Be 'clean' -Because $detail
            return
        }
        $r = Invoke-TortureTimed -Runspace $script:Runspace -Script "param(`$Path) `$null = $Reader -Path `$Path -ErrorAction Stop" -Parameters @{ Path = $path } -Timeout $script:Limit
        $script:Runspace = $r.Runspace
        $v = Get-TortureErrorVerdict $r.Errors
        $outcome = if ($r.TimedOut) { 'hung' } else { $v.Verdict }
        $detail = if ($r.TimedOut) { "over $($script:Limit.TotalSeconds) s" } elseif ($r.Errors) { "$($r.Errors[0].FullyQualifiedErrorId): $($r.Errors[0].Exception.Message)" } else { 'no error' }
        Add-TortureResult -Suite SpecialFiles -Case "$Reader $Kind" -Outcome $outcome -Detail $detail
        $outcome | Should -Be 'clean' -Because $detail
        if ($Kind -ne 'dev-null') {
            # Not a regular file: refused, not read (an empty /dev/null may read as nothing).
            $r.Errors.Count | Should -BeGreaterThan 0 -Because "$Reader must refuse a $Kind"
            "$($r.Errors[0].CategoryInfo.Category)" | Should -Be 'InvalidArgument' -Because $detail
        }
    }

    It 'Get-PerfSample reads a file truncated while it is read: records or PerfDataTruncatedWhileRead, never a crash' {
        if (-not (Get-Command perf -ErrorAction Ignore)) { Set-ItResult -Skipped -Because 'perf is not installed'; return }
        $data = Join-Path $script:Work 'trunc.data'
        & perf record -q -e cpu-clock -F 4000 -o $data -- /bin/sh -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done' *> $null
        $LASTEXITCODE | Should -Be 0
        $bytes = [IO.File]::ReadAllBytes($data)
        $outcomes = foreach ($i in 1..5) {
            [IO.File]::WriteAllBytes($data, $bytes)
            # A truncation a few ms into the read, from another process (as a writer reusing the path would).
            $cut = Start-Process -FilePath /bin/sh -ArgumentList '-c', "sleep 0.0$i; truncate -s $([int]($bytes.Length / (1 + $i))) '$data'" -PassThru
            $r = Invoke-TortureTimed -Runspace $script:Runspace -Script 'param($Path) @(Get-PerfSample -Path $Path -ErrorAction Stop).Count' -Parameters @{ Path = $data } -Timeout $script:Limit
            $script:Runspace = $r.Runspace
            $cut.WaitForExit()
            if ($r.TimedOut) { 'hung' } else { (Get-TortureErrorVerdict $r.Errors).Verdict }
        }
        $outcome = if ($outcomes -contains 'crashed') { 'crashed' } elseif ($outcomes -contains 'hung') { 'hung' } else { 'clean' }
        Add-TortureResult -Suite SpecialFiles -Case 'Get-PerfSample truncated while read' -Outcome $outcome -Detail ($outcomes -join ',')
        $outcome | Should -Be 'clean'
    }
}
