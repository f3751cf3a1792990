# The health check of about_KernelDebug_HealthChecks: "no new kmemleak leak and no KASAN or KFENCE report since boot",
# plus tests that the Should operator it uses fails when it should.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasKmsg = Test-KernelDebugCapability KernelLog
    $script:HasKmemleak = Test-KernelDebugCapability Kmemleak
    # Get-KasanReport can report only what a built-in detector finds.
    $script:HasDetector = (Test-KernelDebugCapability Kasan) -or (Test-KernelDebugCapability Kfence) -or (Test-KernelDebugCapability Ubsan)
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    # The operator ships in the module folder, as about_KernelDebug_HealthChecks tells users to load it.
    . (Join-Path (Get-Module KernelDebug).ModuleBase 'KernelDebug.Memory.Pester.ps1')
    $script:Fixtures = Join-Path $RepoRoot 'tests/fixtures/memory'
}

Describe 'Kernel memory health' -Tag HealthCheck {
    It 'has no KASAN, KFENCE or UBSAN report since boot' -Skip:(-not ($HasKmsg -and $HasDetector)) {
        Get-KasanReport | Should -HaveNoMemoryErrors
    }

    It 'has no new kmemleak leak' -Skip:(-not $HasKmemleak) {
        Invoke-KmemleakScan -Wait | Should -HaveNoMemoryErrors
    }
}

Describe 'Should -HaveNoMemoryErrors' {
    It 'passes on nothing read from a saved log' {
        Get-KasanReport -Path (Join-Path $Fixtures kmemleak-6.11-crc-pointers.txt) | Should -HaveNoMemoryErrors
        @() | Should -HaveNoMemoryErrors
        $null | Should -HaveNoMemoryErrors
    }

    It 'fails on nothing when the kernel has no detector Get-KasanReport reads (no KASAN, KFENCE or UBSAN here)' -Skip:($HasDetector -or -not $HasKmsg) {
        { Get-KasanReport -WarningAction SilentlyContinue | Should -HaveNoMemoryErrors } |
            Should -Throw -ExpectedMessage '*no detector could report any: Get-KasanReport proves nothing: no detector it reads is built into this kernel*Kasan: *Kfence: *Ubsan: *'
        # Named detectors must each be present, whatever else the kernel has.
        { Get-KasanReport -Detector KASAN -WarningAction SilentlyContinue | Should -HaveNoMemoryErrors } | Should -Throw -ExpectedMessage '*Kasan: *'
    }

    It 'judges nothing in a fresh session before any cmdlet ran (the operator loads the engine itself)' {
        $pester = Join-Path (Get-Module Pester).ModuleBase Pester.psd1
        $operator = Join-Path (Get-Module KernelDebug).ModuleBase KernelDebug.Memory.Pester.ps1
        $out = Invoke-ChildPwsh @('-NoProfile', '-NonInteractive', '-Command',
            "Import-Module '$pester'; Import-Module '$env:KERNELDEBUG_MODULE_PATH'; . '$operator'; try { @() | Should -HaveNoMemoryErrors; 'PASSED' } catch { `$_.Exception.Message }")
        $text = $out -join "`n"
        $any = @(Get-KernelDebugCapability -Name Kasan, Kfence, Ubsan, Kmemleak | Where-Object Available).Count -gt 0
        if ($any) { $text | Should -Be 'PASSED' } else { $text | Should -BeLike '*Should -HaveNoMemoryErrors proves nothing: no detector it reads is built into this kernel*Kmemleak: *' }
    }

    It 'fails on nothing when kmemleak, which the last command read, is missing' -Skip:$HasKmemleak {
        try { Invoke-KmemleakScan -ErrorAction Stop } catch { $_.FullyQualifiedErrorId | Should -BeLike 'KmemleakNotAvailable*' }
        { @() | Should -HaveNoMemoryErrors } | Should -Throw -ExpectedMessage '*Invoke-KmemleakScan proves nothing: a detector it was asked to read is not built into this kernel*Kmemleak: *'
    }

    It 'fails on a KASAN report, naming it' {
        $r = Get-KasanReport -Path (Join-Path $Fixtures kasan-6.1-lkdtm.txt)
        { $r | Should -HaveNoMemoryErrors } | Should -Throw -ExpectedMessage '*found 2:*KASAN: use-after-free Read in lkdtm_READ_AFTER_FREE (task sh/105 at 35.864561 s*KASAN: slab-out-of-bounds Write*'
        $r | Should -Not -HaveNoMemoryErrors
    }

    It 'fails on a kmemleak suspect, naming where it was allocated' {
        $l = Get-KmemleakReport -Path (Join-Path $Fixtures kmemleak-6.11-crc-pointers.txt)
        { $l | Should -HaveNoMemoryErrors -Because 'the test must not leak' } |
            Should -Throw -ExpectedMessage '*because the test must not leak*kmemleak: 224 bytes at 0xffff8881028beb00 allocated by vsock_test/1218 in __alloc_skb*'
    }
}

Describe 'about_KernelDebug_HealthChecks' {
    It 'is shipped as a help topic that shows the operator' {
        (Get-Help about_KernelDebug_HealthChecks | Out-String) | Should -Match 'Should -HaveNoMemoryErrors'
    }
}
