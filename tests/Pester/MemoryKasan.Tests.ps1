BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasKmsg = Test-KernelDebugCapability KernelLog
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Fixtures = Join-Path $RepoRoot 'tests/fixtures/memory'
    function Get-Fixture([string] $Name) { Get-KasanReport -Path (Join-Path $Fixtures $Name) }
}

Describe 'Get-KasanReport on real reports' {
    It 'reads the debug kernel''s LKDTM reports (6.1, dmesg timestamps, <TASK>, "?" frames)' {
        $r = @(Get-Fixture kasan-6.1-lkdtm.txt)
        $r | Should -HaveCount 2
        $uaf = $r[0]
        $uaf.PSObject.TypeNames[0] | Should -Be 'KernelDebug.MemoryErrorReport'
        $uaf.Detector | Should -Be 'KASAN'
        $uaf.BugType | Should -Be 'use-after-free'
        $uaf.AccessType | Should -Be 'Read'
        $uaf.AccessSize | Should -Be 4
        $uaf.Address | Should -Be 0xffff888006639010u
        $uaf.Function | Should -Be 'lkdtm_READ_AFTER_FREE.cold'
        $uaf.Task | Should -Be 'sh'
        $uaf.ProcessId | Should -Be 105
        $uaf.Cpu | Should -Be 1
        $uaf.KernelVersion | Should -Be '6.1.192'
        $uaf.TimeSinceBoot.TotalSeconds | Should -Be 35.864561
        $uaf.Title | Should -Be 'KASAN: use-after-free Read in lkdtm_READ_AFTER_FREE'
        # 17 frames between <TASK> and </TASK>, register lines skipped; "? " frames kept but marked unreliable.
        $uaf.CallTrace | Should -HaveCount 17
        @($uaf.CallTrace | Where-Object { -not $_.Reliable }).Count | Should -Be 7
        $uaf.CallTrace[5].Symbol | Should -Be 'lkdtm_READ_AFTER_FREE.cold'
        $uaf.CallTrace[5].Offset | Should -Be 0x119
        $uaf.CallTrace[5].Size | Should -Be 0x200
        $uaf.AllocatedBy.ProcessId | Should -Be 105
        $uaf.AllocatedBy.Stack | Should -HaveCount 10
        $uaf.AllocatedBy.Stack[3].Symbol | Should -Be 'lkdtm_READ_AFTER_FREE'
        $uaf.FreedBy.Stack | Should -HaveCount 13
        "$($uaf.AllocatedBy)" | Should -Be 'task 105: lkdtm_READ_AFTER_FREE+0x3d/0xa0'
        $uaf.Object.Cache | Should -Be 'kmalloc-1k'
        $uaf.Object.Size | Should -Be 1024
        $uaf.Object.Offset | Should -Be 16
        $uaf.ShadowMemory | Should -HaveCount 6
        $uaf.ShadowMemory[2] | Should -BeLike '*>ffff888006639000: fa fb*'
        $uaf.Raw | Should -Match '^BUG: KASAN: use-after-free'
        $uaf.Raw | Should -Not -Match '\[\s+35\.'
        $r[1].BugType | Should -Be 'slab-out-of-bounds'
        $r[1].AccessType | Should -Be 'Write'
        $r[1].Object.Offset | Should -Be 1024 -Because '0 bytes to the right of a 1024-byte region'
        $r[1].FreedBy | Should -BeNullOrEmpty
        $r[1].Tainted | Should -Be 'G    B'
    }

    It 'reads the kernel document''s KASAN sample (4.19, module frames, no <TASK>)' {
        $r = Get-Fixture kasan-doc-4.19.txt
        $r.BugType | Should -Be 'slab-out-of-bounds'
        $r.Function | Should -Be 'kmalloc_oob_right'
        $r.CallTrace[4].Module | Should -Be 'test_kasan'
        $r.AllocatedBy.ProcessId | Should -Be 2760
        $r.FreedBy.ProcessId | Should -Be 815
        $r.Object.Offset | Should -Be 123
        $r.Title | Should -Be 'KASAN: slab-out-of-bounds Write in kmalloc_oob_right'
    }

    It 'keeps only the report''s own lines when another task''s printk interleaves (caller ids)' {
        $r = @(Get-Fixture kasan-6.13-idxd-lkp-caller.txt)
        $r | Should -HaveCount 1
        $r.Caller | Should -Be 'T1644'
        $r.BugType | Should -Be 'slab-use-after-free'
        $r.Function | Should -Be 'idxd_dma_complete_txd'
        $r.CallTrace[2].Module | Should -Be 'idxd'
        $r.AllocatedBy.ProcessId | Should -Be 3664
        $r.AllocatedBy.Stack | Should -HaveCount 13
        $r.FreedBy.Stack | Should -HaveCount 17
        $r.Raw | Should -Not -Match 'opt/deb'
        $r.Object.Offset | Should -Be 20
        $r.KernelVersion | Should -Be '6.13.0-rc1-00054-g98d187a98903'
    }

    It 'reads syzbot''s symbolized reports: file:line and [inline] frames, page_owner stacks kept out' {
        $r = Get-Fixture kasan-syzbot-6.5-page-owner.txt
        $r.CallTrace | Should -HaveCount 23
        $r.CallTrace[0].Symbol | Should -Be '__dump_stack'
        $r.CallTrace[0].Inlined | Should -BeTrue
        $r.CallTrace[0].File | Should -Be 'lib/dump_stack.c'
        $r.CallTrace[0].Line | Should -Be 88
        $r.CallTrace[5].Symbol | Should -Be 'btrfs_mount_root'
        $r.CallTrace[5].Inlined | Should -BeFalse
        $r.AllocatedBy | Should -BeNullOrEmpty
        $r.ShadowMemory | Should -HaveCount 6
        $u = Get-Fixture kasan-syzbot-6.12-udf-inline.txt
        $u.Title | Should -Be 'KASAN: use-after-free Read in crc_itu_t'
        $u.ProcessId | Should -Be 5309
        $u.CallTrace[-1].Symbol | Should -Be 'entry_SYSCALL_64_after_hwframe'
    }

    It 'reads the KFENCE document''s five reports (out-of-bounds, use-after-free, invalid free, corruption, invalid access)' {
        $r = @(Get-Fixture kfence-doc-5.8.txt)
        $r.Detector | Sort-Object -Unique | Should -Be 'KFENCE'
        $r.BugType | Should -Be @('out-of-bounds', 'use-after-free', 'invalid-free', 'memory-corruption', 'invalid-access')
        $r.AccessType | Should -Be @('Read', 'Read', 'Free', $null, 'Read')
        $r[0].Object.Cache | Should -Be 'kmalloc-32'
        $r[0].Object.Offset | Should -Be -1 -Because '1B left of kfence-#17'
        $r[0].AllocatedBy.ProcessId | Should -Be 507
        $r[0].CallTrace | Should -HaveCount 5
        $r[1].FreedBy.Stack[0].Symbol | Should -Be 'test_use_after_free_read'
        $r[3].Object.Offset | Should -Be 73
        $r[4].Object | Should -BeNullOrEmpty
    }

    It 'reads a syzbot KFENCE report (5.14 layout) and keeps the oops register trace out of CallTrace' {
        $r = Get-Fixture kfence-syzbot-5.14.txt
        $r.Object.Cache | Should -Be 'names_cache'
        $r.AllocatedBy.Cpu | Should -Be 0
        $r.AllocatedBy.Stack | Should -HaveCount 8
        $r.FreedBy.Stack | Should -HaveCount 10
        $r.CallTrace | Should -HaveCount 11
        $r.CallTrace[0].Symbol | Should -Be 'kvm_fastop_exception'
        $r.Task | Should -Be 'kdevtmpfs'
    }

    It 'reads UBSAN reports old (4.4, [<addr>] frames) and new (6.11, end trace)' {
        $old = Get-Fixture ubsan-doc-4.4.txt
        $old.Detector | Should -Be 'UBSAN'
        $old.BugType | Should -Be 'shift-out-of-bounds' -Because 'the handler frame names the check when the header does not'
        $old.Location | Should -Be '../include/linux/bitops.h:110:33'
        $old.Description | Should -Match '^shift exponent 32'
        $old.CallTrace[0].Address | Should -Be 0xffffffff815e6cd6u
        $old.CallTrace[3].Reliable | Should -BeFalse
        $old.Function | Should -Be '_mix_pool_bytes'
        $new = @(Get-Fixture ubsan-syzbot-6.11-f2fs.txt)
        $new | Should -HaveCount 1
        $new.BugType | Should -Be 'array-index-out-of-bounds'
        $new.Location | Should -Be 'fs/f2fs/node.c:1170:12'
        $new.Description | Should -BeLike 'index 18446744073709550692 is out of range*'
        $new.Function | Should -Be 'f2fs_truncate_inode_blocks'
        $new.Raw | Should -Match 'end trace \]---$'
    }

    It 'gives a report the same signature with or without log prefixes, and different bugs different ones' {
        $tmp = Join-Path ([System.IO.Path]::GetTempPath()) "kerneldebug_$PID.txt"
        try {
            Get-Content (Join-Path $Fixtures kasan-6.1-lkdtm.txt) | ForEach-Object { $_ -replace '^\[\s*\d+\.\d+\] ', '' } | Set-Content $tmp
            $a = @(Get-Fixture kasan-6.1-lkdtm.txt)
            $b = @(Get-KasanReport -Path $tmp)
            $b.Signature | Should -Be $a.Signature
            $b[0].Raw | Should -Be $a[0].Raw
        }
        finally { Remove-Item $tmp -ErrorAction Ignore }
        $a[0].Signature | Should -Not -Be $a[1].Signature
        $a[0].Signature | Should -Match '^[0-9a-f]{16}$'
    }

    It 'reads a task name with a space, and signs a repeat of a bug in another boot alike (debug kernel console)' {
        $r = Get-Fixture kasan-6.1-lkdtm-console-comm-space.txt
        $r.Task | Should -Be 'Pipeline Execut'
        $r.ProcessId | Should -Be 131
        $r.Cpu | Should -Be 0
        $r.KernelVersion | Should -Be '6.1.192'
        $r.Address | Should -Not -Be (Get-Fixture kasan-6.1-lkdtm.txt)[0].Address
        $r.Signature | Should -Be (Get-Fixture kasan-6.1-lkdtm.txt)[0].Signature
    }

    It 'filters by detector' {
        @(Get-KasanReport -Path (Join-Path $Fixtures kfence-doc-5.8.txt), (Join-Path $Fixtures kasan-doc-4.19.txt) -Detector KASAN).Count | Should -Be 1
    }
}

Describe 'Get-KasanReport on the live kernel log' -Skip:(-not $HasKmsg) {
    It 'finds the same reports as parsing a dmesg dump of this boot' {
        $live = @(Get-KasanReport)
        $tmp = Join-Path ([System.IO.Path]::GetTempPath()) "kerneldebug_$PID.txt"
        try {
            & dmesg > $tmp
            @(Get-KasanReport -Path $tmp).Signature | Should -Be $live.Signature
        }
        finally { Remove-Item $tmp -ErrorAction Ignore }
        if (-not (Test-KernelDebugCapability Kasan)) { $live | Should -BeNullOrEmpty -Because 'this kernel has no KASAN, so its log has no report' }
    }

    It 'follows the log and stops on Ctrl+C / Select-Object' {
        # No report arrives on this kernel: the pipeline is stopped by a timer that cancels it like Ctrl+C.
        $ps = [powershell]::Create()
        $null = $ps.AddScript("Import-Module '$env:KERNELDEBUG_MODULE_PATH'; Get-KasanReport -Follow")
        $h = $ps.BeginInvoke()
        Start-Sleep -Milliseconds 800
        $h.IsCompleted | Should -BeFalse
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $ps.Stop()
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 3
        $ps.Dispose()
    }
}
