# KernelVm: runs only inside the debug-kernel guest (build.ps1 -Task VmTest); the host run excludes the tag.
# kmemleak and KASAN live, through the raw debugfs writes and kernel-log reads the memory cmdlets will make
# (KernelVm.Raw.ps1): Invoke-RawKmemleakScan stands in for Invoke-KmemleakScan, Read-RawKernelLog for Get-KasanReport.
BeforeAll {
    . (Join-Path $PSScriptRoot 'KernelVm.Raw.ps1')
    # The initramfs puts the debug kernel's kmemleak-test.ko in /run/kd; busybox-static provides insmod/rmmod.
    $script:TestModule = '/run/kd/kmemleak-test.ko'
    $script:Busybox = '/bin/busybox'
}

Describe 'kmemleak on the debug kernel' -Tag KernelVm -Skip:(-not $env:KERNELDEBUG_VM) {
    BeforeAll {
        $script:Loaded = $false
        $script:LoaderPid = Invoke-Traced $Busybox @('insmod', $TestModule)
        $script:Loaded = $true
    }
    AfterAll {
        if ($Loaded) { $null = Invoke-Traced $Busybox @('rmmod', 'kmemleak_test') }
    }

    It 'finds the leaks of kmemleak-test.ko, with their backtraces, from the second scan on' {
        # kmemleak reports an object on the scan after the one that first finds it unreferenced, and later still while a
        # stale copy of its address lingers (it is conservative): scan until all 13 show up, at most four times.
        $null = Invoke-RawKmemleakScan
        for ($scan = 2; $scan -le 4; $scan++) {
            $leaks = @(Invoke-RawKmemleakScan | Where-Object Pid -eq $LoaderPid)
            if ($leaks.Count -ge 13) { break }
        }
        $leaks | Should -Not -BeNullOrEmpty -Because "the module loaded by pid $LoaderPid leaks on purpose"
        # The sample's kmalloc(32), kmalloc(1024) and kmalloc(2048) pairs (samples/kmemleak/kmemleak-test.c).
        foreach ($size in 32, 1024, 2048) {
            @($leaks | Where-Object Size -eq $size).Count | Should -BeGreaterOrEqual 1 -Because "kmemleak-test leaks two objects of $size bytes (kmemleak may still hide one)"
        }
        # kmemleak is conservative: a stale copy of a pointer can hide an object for several scans
        # (seen: 10 of 13, and one of the two 32-byte objects).
        $leaks.Count | Should -BeGreaterOrEqual 6
        foreach ($l in $leaks) {
            $l.Backtrace | Should -Contain 'do_init_module' -Because 'each leak was allocated in the module init function'
            $l.Address | Should -Match '^0x[0-9a-f]{16}$'
        }
        ($leaks | Where-Object Size -eq 32)[0].Backtrace[0] | Should -Match '^kmalloc'
    }

    It 'reads Get-KernelDebugCapability Kmemleak as available while it runs' {
        Test-KernelDebugCapability Kmemleak | Should -BeTrue
    }
}

Describe 'KASAN reports provoked through LKDTM on the debug kernel' -Tag KernelVm -Skip:(-not $env:KERNELDEBUG_VM) {
    BeforeAll {
        $script:Direct = Join-Path $DebugFs 'provoke-crash/DIRECT'
        function Invoke-Lkdtm([string] $Crash) {
            # Returns the kernel log lines the provocation added.
            $before = @(Read-RawKernelLog).Count
            Add-RawLine $Direct $Crash
            @(Read-RawKernelLog) | Select-Object -Skip $before
        }
        function Get-KasanBlock([string[]] $Lines) {
            # The report between the ===== rulers, without the [ time] prefixes.
            $text = @($Lines | ForEach-Object { $_ -replace '^\[\s*[\d.]+\] ?', '' })
            $start = [Array]::IndexOf($text, ('=' * 66))
            if ($start -lt 0) { return @() }
            $end = [Array]::IndexOf($text, ('=' * 66), $start + 1)
            if ($end -lt 0) { $end = $text.Count - 1 }
            $text[$start..$end]
        }
    }

    It 'lists the crash types this LKDTM has' {
        $types = (Read-RawFile $Direct) -split "`n" | Select-Object -Skip 1
        $types | Should -Contain 'READ_AFTER_FREE'
        $types | Should -Contain 'SLAB_LINEAR_OVERFLOW'
        $types | Should -Not -Contain 'SLAB_USE_AFTER_FREE' -Because 'that name came after 6.1'
    }

    It 'READ_AFTER_FREE gives a KASAN use-after-free report with allocation and free stacks' {
        $new = Invoke-Lkdtm 'READ_AFTER_FREE'
        $report = Get-KasanBlock $new
        $report | Should -Not -BeNullOrEmpty -Because "the kernel log got:`n$($new -join "`n")"
        $report[1] | Should -Match '^BUG: KASAN: use-after-free in lkdtm_READ_AFTER_FREE'
        # The task is the pwsh thread that wrote DIRECT; thread names hold spaces ("Pipeline Execut").
        $report[2] -match '^Read of size \d+ at addr [0-9a-f]{16} by task (.+)/(\d+)$' | Should -BeTrue -Because $report[2]
        Test-Path "/proc/$PID/task/$($Matches[2])" | Should -BeTrue -Because 'the report names a thread of this process'
        $report | Should -Contain 'Call Trace:'
        $report | Where-Object { $_ -match '^Allocated by task \d+:$' } | Should -Not -BeNullOrEmpty
        $report | Where-Object { $_ -match '^Freed by task \d+:$' } | Should -Not -BeNullOrEmpty
        $report[-1] | Should -Be ('=' * 66)
    }

    It 'SLAB_LINEAR_OVERFLOW gives a KASAN slab-out-of-bounds report' {
        $new = Invoke-Lkdtm 'SLAB_LINEAR_OVERFLOW'
        $report = Get-KasanBlock $new
        $report[1] | Should -Match '^BUG: KASAN: slab-out-of-bounds in lkdtm_SLAB_LINEAR_OVERFLOW'
        $report[2] -match '^Write of size \d+ at addr [0-9a-f]{16} by task (.+)/(\d+)$' | Should -BeTrue -Because $report[2]
        Test-Path "/proc/$PID/task/$($Matches[2])" | Should -BeTrue
        $report | Where-Object { $_ -match 'located \d+ bytes to the right of' } | Should -Not -BeNullOrEmpty
    }

    It 'keeps the guest alive, tainted with a bad-page report' {
        # TAINT_BAD_PAGE (bit 5) marks that KASAN reported.
        ([int] (Get-Content /proc/sys/kernel/tainted)) -band 32 | Should -Be 32
    }
}
