# KernelVm: runs only inside the debug-kernel guest (build.ps1 -Task VmTest); the host run excludes the tag.
# kmemleak and KASAN live through the memory cmdlets: Invoke-KmemleakScan / Get-KmemleakReport on the leaks of
# kmemleak-test.ko, Get-KasanReport on the reports LKDTM provokes (its debugfs trigger is written raw: the module has
# no cmdlet that crashes the kernel on purpose).
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

    It 'Invoke-KmemleakScan finds the leaks of kmemleak-test.ko, with their backtraces, from the second scan on' {
        # kmemleak reports an object on the scan after the one that first finds it unreferenced, and later still while a
        # stale copy of its address lingers (it is conservative): scan until all 13 show up, at most four times.
        # Each call returns only what it added, so the leaks are gathered over the calls.
        $leaks = [System.Collections.Generic.List[object]]::new()
        $scans = 0
        foreach ($l in Invoke-KmemleakScan -Wait -WaitSeconds 6) { $leaks.Add($l) }
        $scans += 2
        while ($scans -lt 5 -and @($leaks | Where-Object ProcessId -eq $LoaderPid).Count -lt 13) {
            foreach ($l in Invoke-KmemleakScan) { $leaks.Add($l) }
            $scans++
        }
        $ours = @($leaks | Where-Object ProcessId -eq $LoaderPid)
        $ours | Should -Not -BeNullOrEmpty -Because "the module loaded by pid $LoaderPid leaks on purpose"
        $ours[0] | Should -BeOfType [KernelDebug.KmemleakObject]
        # The sample leaks kmalloc(32), kmalloc(1024) and kmalloc(2048) pairs and vmalloc areas
        # (samples/kmemleak/kmemleak-test.c), 13 objects in all. kmemleak is conservative: a stale copy of a pointer
        # can hide any of them for several scans (seen: 10 of 13, and no 1024-byte object at all in one run).
        $ours.Count | Should -BeGreaterOrEqual 6
        $ours.Size | Where-Object { $_ -notin 32, 1024, 2048, 4096 } | Should -BeNullOrEmpty -Because 'only the sample''s sizes leak'
        @($ours.Size | Sort-Object -Unique).Count | Should -BeGreaterOrEqual 2
        foreach ($l in $ours) {
            $l.Backtrace.Symbol | Should -Contain 'do_init_module' -Because 'each leak was allocated in the module init function'
            $l.Address | Should -BeGreaterThan 0
        }
        $ours | Where-Object Size -lt 4096 | ForEach-Object { $_.Backtrace[0].Symbol | Should -BeLike '*kmalloc*' }
        # Get-KmemleakReport reads the same list without scanning.
        $report = @(Get-KmemleakReport | Where-Object ProcessId -eq $LoaderPid)
        # (ForEach-Object: an array's own Address method would shadow the elements' property.)
        $report | ForEach-Object Address | Should -Contain $ours[0].Address
    }

    It 'Set-KmemleakOption -AutoScan off stops kmemleak''s scan thread; -ScanInterval and -AutoScan on start it again' {
        # The kmemleak kthread exists while automatic scanning is on: the oracle for the settings (they have no read-back).
        function Test-ScanThread {
            [bool](Get-ChildItem /proc -Directory | Where-Object Name -match '^\d+$' |
                Where-Object { (Get-Content "$($_.FullName)/comm" -ErrorAction Ignore) -eq 'kmemleak' })
        }
        function Wait-ScanThread([bool] $Present) {
            $sw = [System.Diagnostics.Stopwatch]::StartNew()
            while ((Test-ScanThread) -ne $Present -and $sw.Elapsed.TotalSeconds -lt 10) { Start-Sleep -Milliseconds 200 }
            Test-ScanThread
        }
        try {
            Wait-ScanThread $true | Should -BeTrue -Because 'CONFIG_DEBUG_KMEMLEAK_AUTO_SCAN=y starts it at boot'
            Set-KmemleakOption -AutoScan off -WhatIf
            Test-ScanThread | Should -BeTrue -Because '-WhatIf changes nothing'
            Set-KmemleakOption -AutoScan off -Confirm:$false
            Wait-ScanThread $false | Should -BeFalse
            Set-KmemleakOption -ScanInterval 900 -Stack off -Confirm:$false
            Wait-ScanThread $true | Should -BeTrue -Because 'scan=<seconds> restarts the thread with the new period'
            Set-KmemleakOption -AutoScan off -Confirm:$false
            Wait-ScanThread $false | Should -BeFalse
        }
        finally { Set-KmemleakOption -AutoScan on -Stack on -Confirm:$false }
        Wait-ScanThread $true | Should -BeTrue
    }

    It 'Clear-KmemleakReport -WhatIf keeps the suspects; Clear-KmemleakReport empties the list' {
        $before = @(Get-KmemleakReport)
        $before.Count | Should -BeGreaterThan 0 -Because 'the earlier test left the module''s leaks reported'
        # The health check of about_KernelDebug_HealthChecks fails on them, naming where the module allocated (busybox
        # insmod's comm; the module's init code is freed, so the frame is a bare address).
        . (Join-Path (Get-Module KernelDebug).ModuleBase 'KernelDebug.Memory.Pester.ps1')
        { Get-KmemleakReport | Where-Object ProcessId -eq $LoaderPid | Should -HaveNoMemoryErrors } | Should -Throw -ExpectedMessage "*kmemleak: * bytes at 0x* allocated by busybox/$LoaderPid in 0xffffffff*"
        Clear-KmemleakReport -WhatIf
        @(Get-KmemleakReport).Count | Should -Be $before.Count
        Clear-KmemleakReport -Confirm:$false
        @(Get-KmemleakReport | Where-Object ProcessId -eq $LoaderPid) | Should -BeNullOrEmpty -Because 'cleared suspects are marked grey and never reported again'
        Invoke-KmemleakScan | Where-Object ProcessId -eq $LoaderPid | Should -HaveNoMemoryErrors
    }

    It 'Set-KmemleakOption -Disable changes nothing with -WhatIf, and asks even with -Confirm:$false (no one to answer: refused)' {
        Set-KmemleakOption -Disable -WhatIf
        { Get-KmemleakReport } | Should -Not -Throw
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript("Import-Module '$env:KERNELDEBUG_MODULE_PATH'; Set-KmemleakOption -Disable -Confirm:`$false")
            $err = $null
            try { $null = $ps.Invoke() } catch { $err = $_ }
            ($err -or $ps.HadErrors) | Should -BeTrue -Because 'a host that cannot prompt cannot confirm an irreversible change'
        }
        finally { $ps.Dispose() }
        { Get-KmemleakReport } | Should -Not -Throw -Because 'kmemleak is still on'
        Test-KernelDebugCapability Kmemleak | Should -BeTrue
    }

    It 'reads Get-KernelDebugCapability Kmemleak as available while it runs' {
        Test-KernelDebugCapability Kmemleak | Should -BeTrue
    }

    # Last: its scans would report the module's leaks before the test above looks for them.
    It 'Invoke-KmemleakScan -Wait shows progress through the wait for the second scan, then ends the bar' {
        # In a hosted PowerShell, as in a job: its Progress stream holds the records.
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript("Import-Module '$env:KERNELDEBUG_MODULE_PATH'; `$ProgressPreference = 'Continue'; Invoke-KmemleakScan -Wait -WaitSeconds 2 -Confirm:`$false | Out-Null").Invoke()
            @($ps.Streams.Error) | Should -BeNullOrEmpty
            $p = @($ps.Streams.Progress)
            $waits = @($p | Where-Object { $_.RecordType -eq 'Processing' -and $_.StatusDescription -like 'Waiting 2 s*' })
            $waits.Count | Should -BeGreaterOrEqual 3 -Because 'a record at once, then one per 250 ms of the 2 s wait'
            $waits.Count | Should -BeLessOrEqual 10
            @($p | Where-Object StatusDescription -eq 'Second scan').Count | Should -Be 1
            $p[-1].RecordType | Should -Be 'Completed'
        }
        finally { $ps.Dispose() }
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

    It 'READ_AFTER_FREE: Get-KasanReport reads a use-after-free report with allocation and free stacks' {
        $new = Invoke-Lkdtm 'READ_AFTER_FREE'
        $r = @(Get-KasanReport -Detector KASAN | Where-Object Function -like 'lkdtm_READ_AFTER_FREE*')
        $r.Count | Should -Be 1 -Because "the kernel log got:`n$($new -join "`n")"
        $r = $r[0]
        $r.BugType | Should -Be 'use-after-free'
        $r.AccessType | Should -Be 'Read'
        $r.AccessSize | Should -BeGreaterThan 0
        $r.Address | Should -BeGreaterThan 0
        Test-Path "/proc/$PID/task/$($r.ProcessId)" | Should -BeTrue -Because "the report names a thread of this process ($($r.Task))"
        $r.CallTrace.Symbol | Where-Object { $_ -like 'lkdtm_READ_AFTER_FREE*' } | Should -Not -BeNullOrEmpty
        $r.AllocatedBy | Should -Not -BeNullOrEmpty
        $r.AllocatedBy.Stack | Should -Not -BeNullOrEmpty
        $r.FreedBy | Should -Not -BeNullOrEmpty
        $r.FreedBy.Stack.Symbol | Where-Object { $_ -like 'lkdtm_READ_AFTER_FREE*' } | Should -Not -BeNullOrEmpty -Because 'the test frees the object itself'
        $r.Title | Should -BeLike 'KASAN: use-after-free Read in lkdtm_READ_AFTER_FREE*'
        # The same report as the raw log shows it, between the rulers.
        $block = Get-KasanBlock $new
        $block[1] | Should -Match "^BUG: KASAN: use-after-free in $([regex]::Escape($r.Function))"
    }

    It 'SLAB_LINEAR_OVERFLOW: Get-KasanReport reads a slab-out-of-bounds write and where it landed' {
        $null = Invoke-Lkdtm 'SLAB_LINEAR_OVERFLOW'
        $r = @(Get-KasanReport -Detector KASAN | Where-Object Function -like 'lkdtm_SLAB_LINEAR_OVERFLOW*')
        $r.Count | Should -Be 1
        $r[0].BugType | Should -Be 'slab-out-of-bounds'
        $r[0].AccessType | Should -Be 'Write'
        Test-Path "/proc/$PID/task/$($r[0].ProcessId)" | Should -BeTrue
        $r[0].Object | Should -Not -BeNullOrEmpty
        $r[0].Object.Offset | Should -BeGreaterOrEqual $r[0].Object.Size -Because 'the write landed to the right of the object'
    }

    It 'Get-KasanReport -Follow emits a new report when the kernel logs it, and ends when the pipeline has enough' {
        $mark = [double]((Get-Content /proc/uptime -Raw) -split ' ')[0]
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript("Import-Module '$env:KERNELDEBUG_MODULE_PATH'; Get-KasanReport -Follow | Where-Object { `$_.TimeSinceBoot.TotalSeconds -gt $mark } | Select-Object -First 1")
            $h = $ps.BeginInvoke()
            Start-Sleep -Seconds 2
            $h.IsCompleted | Should -BeFalse -Because 'the reports logged before the mark are filtered out and it keeps following'
            $null = Invoke-Lkdtm 'READ_AFTER_FREE'
            $h.AsyncWaitHandle.WaitOne([TimeSpan]::FromSeconds(60)) | Should -BeTrue -Because 'the report arrives through /dev/kmsg'
            $r = @($ps.EndInvoke($h))
            $r | Should -HaveCount 1
            $r[0].Title | Should -BeLike 'KASAN: use-after-free Read in lkdtm_READ_AFTER_FREE*'
            $r[0].AllocatedBy.Stack | Should -Not -BeNullOrEmpty
        }
        finally { $ps.Dispose() }
    }

    It 'fails the health check (Should -HaveNoMemoryErrors) naming both reports' {
        . (Join-Path (Get-Module KernelDebug).ModuleBase 'KernelDebug.Memory.Pester.ps1')
        { Get-KasanReport -Detector KASAN, KFENCE | Should -HaveNoMemoryErrors } |
            Should -Throw -ExpectedMessage '*KASAN: use-after-free Read in lkdtm_READ_AFTER_FREE*KASAN: slab-out-of-bounds Write in lkdtm_SLAB_LINEAR_OVERFLOW*'
    }

    It 'keeps the guest alive, tainted with a bad-page report' {
        # TAINT_BAD_PAGE (bit 5) marks that KASAN reported.
        ([int] (Get-Content /proc/sys/kernel/tainted)) -band 32 | Should -Be 32
    }
}
