BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasKmsg = Test-KernelDebugCapability KernelLog
    $script:HasDmesg = [bool](Get-Command dmesg -CommandType Application -ErrorAction Ignore)
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Fixtures = Join-Path $RepoRoot 'tests/fixtures/memory'
    function Write-Kmsg([string] $Text) {
        # One write() per record; <14> is user.info. Without the newline the kernel keeps the record open for a
        # continuation and readers do not see it until the next record is logged.
        $fs = [System.IO.File]::OpenWrite('/dev/kmsg')
        try { $b = [System.Text.Encoding]::UTF8.GetBytes("$Text`n"); $fs.Write($b, 0, $b.Length) } finally { $fs.Dispose() }
    }
}

Describe 'Get-KernelLog (live /dev/kmsg)' -Skip:(-not $HasKmsg) {
    It 'agrees with dmesg --json on every message and time' -Skip:(-not $HasDmesg) {
        $ours = @(Get-KernelLog)
        $theirs = @((& dmesg --json | ConvertFrom-Json).dmesg)
        $n = [Math]::Min($ours.Count, $theirs.Count)
        $n | Should -BeGreaterThan 10
        # Another process may log between the two reads: compare the records both saw.
        for ($i = 0; $i -lt $n; $i++) {
            $ours[$i].Message.TrimEnd("`n") | Should -BeExactly $theirs[$i].msg.TrimEnd("`n") -Because "record $i"
            [Math]::Round($ours[$i].TimeSinceBoot.TotalSeconds, 6) | Should -Be ([double] $theirs[$i].time) -Because "record $i"
            if ($theirs[$i].PSObject.Properties['fac']) {
                $ours[$i].Facility.ToString().ToLowerInvariant() | Should -Be $theirs[$i].fac -Because "record $i"
                [int] $ours[$i].Level | Should -Be $theirs[$i].pri -Because "record $i"
            }
            else {
                # util-linux 2.38 prints "pri" as facility | level, unshifted (user.info comes out as 7): the level for kern records.
                ([int] $ours[$i].Facility -bor [int] $ours[$i].Level) | Should -Be $theirs[$i].pri -Because "record $i"
            }
        }
    }

    It 'agrees with dmesg -x on level and facility' -Skip:(-not $HasDmesg) {
        $ours = @(Get-KernelLog)
        # dmesg -x: "kern  :info  : [    1.433437] message"; only the first line of a record carries the prefix.
        $theirs = @(& dmesg -x | Where-Object { $_ -match '^(\w+)\s*:(\w+)\s*: \[' } | ForEach-Object { , @($Matches[1], $Matches[2]) })
        $n = [Math]::Min($ours.Count, $theirs.Count)
        for ($i = 0; $i -lt $n; $i++) {
            $ours[$i].Facility.ToString().ToLowerInvariant() | Should -Be $theirs[$i][0] -Because "record $i"
            $ours[$i].Level.ToString().ToLowerInvariant() | Should -Be $theirs[$i][1] -Because "record $i"
        }
    }

    It 'numbers records with the kernel sequence and dates them from the boot time' {
        $e = @(Get-KernelLog)
        for ($i = 1; $i -lt $e.Count; $i++) { $e[$i].Sequence | Should -BeGreaterThan $e[$i - 1].Sequence }
        $uptime = [double]((Get-Content /proc/uptime -Raw) -split ' ')[0]
        $boot = (Get-Date).AddSeconds(-$uptime)
        ($e[0].Timestamp - $e[0].TimeSinceBoot - $boot).Duration().TotalSeconds | Should -BeLessThan 2
    }

    It 'carries SUBSYSTEM and DEVICE from the record dictionary, as /dev/kmsg shows them' {
        $withDevice = @(Get-KernelLog | Where-Object Device)
        if ($withDevice.Count -eq 0) { Set-ItResult -Skipped -Because 'no record in this boot log has a DEVICE= line' ; return }
        $raw = & timeout 2 cat /dev/kmsg
        $e = $withDevice[0]
        $i = [Array]::FindIndex([string[]] $raw, [Predicate[string]] { param($l) $l -match "^\d+,$($e.Sequence),\d+," })
        $i | Should -BeGreaterOrEqual 0
        $raw[($i + 1)..($i + 4)] | Should -Contain " SUBSYSTEM=$($e.Subsystem)"
        $raw[($i + 1)..($i + 4)] | Should -Contain " DEVICE=$($e.Device)"
    }

    It 'unescapes \xNN bytes (tab, UTF-8, backslash) and reads the facility of a user-space record' {
        $marker = "kerneldebug_$PID escape`tté\back $(Get-Random)"
        Write-Kmsg "<14>$marker"
        $e = Get-KernelLog -Facility User | Where-Object Message -eq $marker
        $e | Should -HaveCount 1
        $e.Level | Should -Be 'Info'
        $e.Facility | Should -Be 'User'
        (& timeout 2 cat /dev/kmsg | Where-Object { $_ -like "*kerneldebug_$PID escape*" } | Select-Object -Last 1) | Should -Match '\\x09t\\xc3\\xa9\\x5cback'
    }

    It 'filters by level, with the dmesg + forms' {
        $all = @(Get-KernelLog)
        $warnPlus = @(Get-KernelLog -Level warn+)
        $warnPlus.Count | Should -Be @($all | Where-Object { [int] $_.Level -le 4 }).Count
        @(Get-KernelLog -Level Info).Count | Should -Be @($all | Where-Object Level -eq 'Info').Count
        @(Get-KernelLog -Level +notice | Where-Object { [int] $_.Level -lt 5 }).Count | Should -Be 0
    }

    It 'filters by -Since' {
        $cut = (Get-KernelLog | Select-Object -Last 1).Timestamp
        $marker = "kerneldebug_$PID since $(Get-Random)"
        Start-Sleep -Milliseconds 20
        Write-Kmsg "<14>$marker"
        $after = @(Get-KernelLog -Since $cut.AddMilliseconds(10))
        $after.Message | Should -Contain $marker
        $after | ForEach-Object { $_.Timestamp | Should -BeGreaterOrEqual $cut.AddMilliseconds(10) }
    }

    It 'follows new records until the pipeline has enough' {
        $marker = "kerneldebug_$PID follow $(Get-Random)"
        $job = Start-ThreadJob { param($m) Start-Sleep -Milliseconds 700; $fs = [System.IO.File]::OpenWrite('/dev/kmsg'); $b = [System.Text.Encoding]::UTF8.GetBytes("<14>$m`n"); $fs.Write($b, 0, $b.Length); $fs.Dispose() } -ArgumentList $marker
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $e = Get-KernelLog -Follow | Where-Object Message -eq $marker | Select-Object -First 1
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 10
        $e.Message | Should -Be $marker
        $e.Facility | Should -Be 'User'
        $job | Wait-Job | Remove-Job
    }
}

Describe 'Get-KernelLog -Path (saved logs)' {
    It 'reads dmesg, dmesg -r, dmesg -x and cat /dev/kmsg output of this host like the live log' -Skip:(-not ($HasKmsg -and $HasDmesg)) {
        $dir = Join-Path ([System.IO.Path]::GetTempPath()) "kerneldebug_$PID"
        New-Item -ItemType Directory $dir -Force | Out-Null
        try {
            $live = @(Get-KernelLog)
            & dmesg > "$dir/plain.txt"; & dmesg -r > "$dir/raw.txt"; & dmesg -x > "$dir/decode.txt"
            & timeout 2 cat /dev/kmsg > "$dir/kmsg.txt"
            foreach ($f in 'plain', 'raw', 'decode', 'kmsg') {
                $saved = @(Get-KernelLog -Path "$dir/$f.txt")
                $n = [Math]::Min($live.Count, $saved.Count)
                $n | Should -BeGreaterThan 10
                for ($i = 0; $i -lt $n; $i++) {
                    $saved[$i].Message | Should -BeExactly $live[$i].Message -Because "$f record $i"
                    $saved[$i].TimeSinceBoot | Should -Be $live[$i].TimeSinceBoot -Because "$f record $i"
                    # util-linux 2.38 dmesg -r prints <fac|level> without shifting the facility (user.info comes out as <7>),
                    # so raw output is an oracle for kernel-facility records only.
                    if ($f -ne 'plain' -and -not ($f -eq 'raw' -and $live[$i].Facility -ne 'Kern')) { $saved[$i].Level | Should -Be $live[$i].Level -Because "$f record $i" }
                }
            }
            $k = @(Get-KernelLog -Path "$dir/kmsg.txt")
            $k[0].Sequence | Should -Be $live[0].Sequence
            ($k | Where-Object Device | Select-Object -First 1).Device | Should -Be ($live | Where-Object Device | Select-Object -First 1).Device
        }
        finally { Remove-Item $dir -Recurse -Force }
    }

    It 'reads dmesg --time-format iso, -T, -d and -e output of this host like the live log' -Skip:(-not ($HasKmsg -and $HasDmesg)) {
        $dir = Join-Path ([System.IO.Path]::GetTempPath()) "kerneldebug_$PID"
        New-Item -ItemType Directory $dir -Force | Out-Null
        try {
            $live = @(Get-KernelLog)
            & dmesg --time-format iso > "$dir/iso.txt"; & dmesg -T > "$dir/ctime.txt"; & dmesg -d > "$dir/delta.txt"; & dmesg -e > "$dir/reltime.txt"
            foreach ($f in 'iso', 'ctime', 'delta', 'reltime') {
                $saved = @(Get-KernelLog -Path "$dir/$f.txt")
                $n = [Math]::Min($live.Count, $saved.Count)
                $n | Should -BeGreaterThan 10
                [Math]::Abs($saved.Count - $live.Count) | Should -BeLessOrEqual 2 -Because "$f has one entry per record (another process may log in between)"
                for ($i = 0; $i -lt $n; $i++) {
                    $saved[$i].Message | Should -BeExactly $live[$i].Message -Because "$f record $i"
                    switch ($f) {
                        # util-linux 2.38 prints the record's own microseconds after boot second + record second, so iso
                        # stamps, like -T's, are right to the second only (and its boot time may differ from ours by a fraction).
                        { $_ -in 'iso', 'ctime' } { [Math]::Abs(($saved[$i].Timestamp - $live[$i].Timestamp).TotalSeconds) | Should -BeLessThan 2 -Because "$f record $i" }
                        'delta' { $saved[$i].TimeSinceBoot | Should -Be $live[$i].TimeSinceBoot -Because "delta record $i" }
                    }
                }
            }
        }
        finally { Remove-Item $dir -Recurse -Force }
    }

    It 'reads a serial console log with [seconds][ Tpid] caller ids (0-day CI report)' {
        $e = @(Get-KernelLog -Path (Join-Path $Fixtures 'kasan-6.13-idxd-lkp-caller.txt'))
        $withCaller = @($e | Where-Object Caller)
        $withCaller.Count | Should -BeGreaterThan 5
        $withCaller | ForEach-Object { $_.Caller | Should -Match '^[TC]\d+$' }
        ($e | Where-Object Message -like 'BUG: KASAN:*').Count | Should -BeGreaterOrEqual 1
    }

    It 'turns [seconds] into Timestamp with -BootTime, and filters with -Since' {
        $boot = [datetime] '2026-01-02 03:04:05'
        $e = @(Get-KernelLog -Path (Join-Path $Fixtures 'kasan-6.1-lkdtm.txt') -BootTime $boot)
        $bug = $e | Where-Object Message -like 'BUG: KASAN: use-after-free*'
        $bug.Timestamp | Should -Be $boot.AddSeconds(35.864561)
        @(Get-KernelLog -Path (Join-Path $Fixtures 'kasan-6.1-lkdtm.txt') -BootTime $boot -Since $boot.AddSeconds(35.88)).Count | Should -BeLessThan $e.Count
    }

    It 'reports a missing file as ObjectNotFound' {
        Get-KernelLog -Path /nonexistent/kerneldebug.log -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'reads dmesg -e and -T stamps of days 1 to 9 (a space before the day), as of days 10 to 31' {
        # dmesg -e prints strftime's %b%e: "[Dec 7 03:28]" on days 1-9, "[Nov25 21:12]" after; -T prints "Mon Dec  7".
        $log = Join-Path $TestDrive 'days.txt'
        Set-Content $log @(
            '[Dec 7 03:28] Linux version 6.18.0 (first)'
            '[  +0.000012] Command line: quiet'
            '[Nov25 21:12] two-digit day'
            '[Mon Dec  7 03:28:49 2026] ctime one-digit day'
            '[Wed Nov 25 21:00:00 2026] ctime two-digit day'
        )
        $e = @(Get-KernelLog -Path $log)
        $e.Message | Should -Be @('Linux version 6.18.0 (first)', 'Command line: quiet', 'two-digit day', 'ctime one-digit day', 'ctime two-digit day')
        $e[3].Timestamp | Should -Be ([datetime]'2026-12-07 03:28:49')
        $e[4].Timestamp | Should -Be ([datetime]'2026-11-25 21:00:00')
    }

    It 'reads dmesg -T stamps of every day of a month (days 1-9 padded with a space), whatever today is' {
        # The stamps are made here for fixed dates, not read from the clock: the test means the same on any day.
        $days = 1..31 | ForEach-Object { [datetime]::new(2026, 12, $_, 3, 28, 49) }
        $log = Join-Path $TestDrive 'month.txt'
        Set-Content $log ($days | ForEach-Object {
            '[{0} {1} {2,2} {3:HH:mm:ss} {3:yyyy}] day {3:%d}' -f $_.ToString('ddd', [cultureinfo]::InvariantCulture), $_.ToString('MMM', [cultureinfo]::InvariantCulture), $_.Day, $_
        })
        $e = @(Get-KernelLog -Path $log)
        $e.Count | Should -Be 31
        $e.Timestamp | Should -Be $days
        $e.Message | Should -Be ($days | ForEach-Object { "day $($_.Day)" })
    }

    It 'keeps the other records of a log with one out-of-range timestamp (<Name>)' -ForEach @(
        @{ Name = 'dmesg [seconds]'; Bad = '[99999999999999999999.000000] bad stamp' }
        @{ Name = '/dev/kmsg record'; Bad = '6,7,99999999999999999999,-;bad stamp' }
        @{ Name = '/dev/kmsg record, 19 digits'; Bad = '6,7,9999999999999999999,-;bad stamp' }
    ) {
        $log = Join-Path $TestDrive 'overflow.txt'
        Set-Content $log @('[    1.000000] before', $Bad, '[    2.500000] after')
        $e = @(Get-KernelLog -Path $log -BootTime ([datetime]'2026-01-01') -ErrorVariable err -ErrorAction SilentlyContinue)
        $err | Should -BeNullOrEmpty
        $e | Should -HaveCount 3
        $e[0].Message | Should -Be 'before'
        $e[1].Message | Should -BeLike '*bad stamp'
        $e[1].TimeSinceBoot | Should -BeNullOrEmpty
        $e[2].Message | Should -Be 'after'
        $e[2].TimeSinceBoot | Should -Be ([timespan]::FromSeconds(2.5))
    }

    It 'refuses <Name> as a log file at once, without hanging or growing' -ForEach @(
        @{ Name = 'a FIFO'; Make = { param($p) & mkfifo $p; $p } }
        @{ Name = '/dev/zero'; Make = { param($p) '/dev/zero' } }
    ) {
        $path = & $Make (Join-Path $TestDrive "log-$($Name -replace '\W')")
        foreach ($cmd in 'Get-KernelLog', 'Get-KasanReport', 'Get-KmemleakReport') {
            $job = Start-ThreadJob { param($m, $c, $p) Import-Module $m; & $c -Path $p -ErrorVariable e -ErrorAction SilentlyContinue; $e[0].FullyQualifiedErrorId; "$($e[0].CategoryInfo.Category)" } -ArgumentList $env:KERNELDEBUG_MODULE_PATH, $cmd, $path
            $done = Wait-Job $job -Timeout 20
            if (-not $done -and $Name -eq 'a FIFO') { [IO.File]::OpenWrite($path).Dispose(); $null = Wait-Job $job -Timeout 10 }
            if (-not $done) { Stop-Job $job }
            $out = Receive-Job $job; Remove-Job $job -Force
            $done | Should -Not -BeNullOrEmpty -Because "$cmd must not hang"
            $out[0] | Should -BeLike 'LogFileNotARegularFile*' -Because $cmd
            $out[1] | Should -Be 'InvalidArgument'
        }
    }
}
