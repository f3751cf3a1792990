BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasKmemleak = Test-KernelDebugCapability Kmemleak
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Fixtures = Join-Path $RepoRoot 'tests/fixtures/memory'
    $script:KmemleakCap = Get-KernelDebugCapability -Name Kmemleak
}

Describe 'Get-KmemleakReport on real reports' {
    It 'reads the debug kernel''s 13 leaks, from the kernel log copy and from debugfs alike' {
        $all = @(Get-KmemleakReport -Path (Join-Path $Fixtures kmemleak-6.1-test-module.txt))
        $all | Should -HaveCount 26
        $fromLog = $all[0..12]; $fromFile = $all[13..25]
        for ($i = 0; $i -lt 13; $i++) {
            $fromLog[$i].Address | Should -Be $fromFile[$i].Address
            $fromLog[$i].Jiffies | Should -Be $fromFile[$i].Jiffies
            [Convert]::ToHexString($fromLog[$i].HexDump) | Should -Be ([Convert]::ToHexString($fromFile[$i].HexDump))
            ($fromLog[$i].Backtrace | ForEach-Object ToString) -join '|' | Should -Be (($fromFile[$i].Backtrace | ForEach-Object ToString) -join '|')
        }
        $o = $fromFile[0]
        $o.PSObject.TypeNames[0] | Should -Be 'KernelDebug.KmemleakObject'
        $o.Address | Should -Be 0xffff888006083ec0u
        $o.Size | Should -Be 32
        $o.Comm | Should -Be 'insmod'
        $o.ProcessId | Should -Be 106
        $o.Jiffies | Should -Be 4294676799
        $o.Age | Should -BeNullOrEmpty
        $o.HexDump | Should -HaveCount 32
        $o.HexDump[0] | Should -Be 0x30
        $o.HexDump[31] | Should -Be 0x55
        $o.Backtrace | Should -HaveCount 8
        $o.Backtrace[0].Symbol | Should -Be 'kmalloc_trace'
        $o.Backtrace[1].Symbol | Should -BeNullOrEmpty
        $o.Backtrace[1].Address | Should -Be 0xffffffffc0598058u -Because 'frames in freed module init text are bare addresses'
        ($fromFile | Where-Object Size -eq 4096).Count | Should -Be 7 -Because 'two kmalloc(4096) and five vmalloc areas'
        $o.Crc | Should -BeNullOrEmpty
    }

    It 'reads the kernel document''s sample with (age …s)' {
        $o = Get-KmemleakReport -Path (Join-Path $Fixtures kmemleak-doc.txt)
        $o.Comm | Should -Be 'modprobe'
        $o.Age | Should -Be ([TimeSpan]::FromSeconds(375.486))
        [System.Text.Encoding]::ASCII.GetString($o.HexDump[0..15]) | Should -Be 'kkkkkkkkkkkkkkkk'
        $o.Backtrace[0].Address | Should -Be 0xffffffffc01d2036u
        $o.Backtrace[1].Symbol | Should -Be 'do_one_initcall'
        $o.Backtrace[1].Offset | Should -Be 0x41
    }

    It 'reads backtrace (crc …) with file:line and [inline] frames (syzbot, 6.18) and real pointers (6.11)' {
        $s = @(Get-KmemleakReport -Path (Join-Path $Fixtures kmemleak-syzbot-6.18-crc-fileline.txt))
        $s | Should -HaveCount 2
        $s[0].Crc | Should -Be 0x45b79b1
        $s[1].Crc | Should -Be 0x894df7a1u
        $s[0].Backtrace | Should -HaveCount 12
        $s[0].Backtrace[0].Inlined | Should -BeTrue
        $s[0].Backtrace[0].File | Should -Be 'include/linux/kmemleak.h'
        $s[0].Backtrace[3].Symbol | Should -Be 'kmem_cache_alloc_noprof'
        $s[0].Backtrace[3].Line | Should -Be 5287
        $p = Get-KmemleakReport -Path (Join-Path $Fixtures kmemleak-6.11-crc-pointers.txt)
        $p.Crc | Should -Be 0x6c7031ca
        $p.Backtrace[0].Address | Should -Be 0xffffffff81418ef7u
        $p.Backtrace[0].Symbol | Should -Be 'kmem_cache_alloc_node_noprof'
        $p.Backtrace | Should -HaveCount 12
    }

    It 'names the allocating frame past the allocator (AllocatedIn) and lists with hex address and crc' {
        $s = @(Get-KmemleakReport -Path (Join-Path $Fixtures kmemleak-syzbot-6.18-crc-fileline.txt))
        $s[0].AllocatedIn.Symbol | Should -Not -Match '^(kmem|kmalloc|slab|__kmalloc)'
        $o = Get-KmemleakReport -Path (Join-Path $Fixtures kmemleak-6.1-test-module.txt) | Select-Object -Last 1
        $o.AllocatedIn.Address | Should -Be 0xffffffffc0598300u -Because 'the module init code that allocated is already freed: a bare address'
        $o.AllocatedIn.Symbol | Should -BeNullOrEmpty
        $l = Get-KmemleakReport -Path (Join-Path $Fixtures kmemleak-6.11-crc-pointers.txt) | Format-List | Out-String -Width 200
        $l | Should -Match 'Address\s+: 0xffff8881028beb00'
        $l | Should -Match 'Crc\s+: 0x6c7031ca'
        $l | Should -Match 'AllocatedIn\s+: __alloc_skb\+0x132/0x180'
        $l | Should -Match 'HexDump\s+: 90 b0 21 17'
    }

    It 'shows a table with the allocating frame' {
        $t = Get-KmemleakReport -Path (Join-Path $Fixtures kmemleak-6.11-crc-pointers.txt) | Format-Table | Out-String -Width 200
        $t | Should -Match '0xffff8881028beb00'
        $t | Should -Match '__alloc_skb'
    }

    It 'keeps every leak of a log holding lines with 20-digit numbers' {
        $fixture = Join-Path $Fixtures 'kmemleak-6.1-test-module.txt'
        $log = Join-Path $TestDrive 'overflow.txt'
        $bad = @(
            '[99999999999999999999.000000] kmemleak: a corrupt stamp'
            'unreferenced object 0x1ffffffffffffffffffff (size 99999999999999999999):'
            '  comm "x", pid 99999999999, jiffies 99999999999999999999999 (age 1.0s)'
        )
        Set-Content $log ($bad + (Get-Content $fixture))
        $r = @(Get-KmemleakReport -Path $log -ErrorVariable err -ErrorAction SilentlyContinue)
        $err | Should -BeNullOrEmpty
        $r | Should -HaveCount 26
    }
}

Describe 'kmemleak cmdlets on this host' {
    It 'fail with what is missing and how to get it when kmemleak is absent' -Skip:$HasKmemleak {
        foreach ($cmd in { Get-KmemleakReport }, { Invoke-KmemleakScan }, { Clear-KmemleakReport -Confirm:$false }, { Set-KmemleakOption -ScanInterval 600 -Confirm:$false }) {
            $err = $null
            try { & $cmd } catch { $err = $_ }
            $err | Should -Not -BeNullOrEmpty
            $err.FullyQualifiedErrorId | Should -BeLike 'KmemleakNotAvailable*'
            $err.CategoryInfo.Category | Should -Be 'NotInstalled'
            $err.Exception.Message | Should -Match ([regex]::Escape($KmemleakCap.Detail))
            $err.ErrorDetails.RecommendedAction | Should -Be $KmemleakCap.Remedy
        }
    }

    It 'declares ConfirmImpact High, so every host-wide kmemleak change asks by default' {
        $attr = (Get-Command Set-KmemleakOption).ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)
        $attr[0].ConfirmImpact | Should -Be ([System.Management.Automation.ConfirmImpact]::High)
    }

    It 'asks for a setting' {
        { Set-KmemleakOption } | Should -Throw -ErrorId 'InvalidArgument*'
    }

    It 'scans and lists live leaks' -Skip:(-not $HasKmemleak) {
        # Runs where the kernel has kmemleak (the project's VM tests add KernelVm-tagged ones with a leaking module).
        $before = @(Get-KmemleakReport)
        $new = @(Invoke-KmemleakScan)
        $after = @(Get-KmemleakReport)
        $after.Count | Should -BeGreaterOrEqual $new.Count
        foreach ($o in $new) { $after.Address | Should -Contain $o.Address }
    }
}
