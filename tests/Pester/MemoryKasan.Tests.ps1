BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasKmsg = Test-KernelDebugCapability KernelLog
    $script:MissingDetectors = @(Get-KernelDebugCapability -Name Kasan, Kfence, Ubsan | Where-Object -Not Available).Count
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

    It 'reads <File> (<Why>)' -ForEach @(
        @{ File = 'kasan-syzbot-3.18-null-ptr-deref.txt'; Why = '3.18: "on address (null)", no function in the header'
           Expect = @{ BugType = 'null-ptr-deref'; AccessType = 'Read'; AccessSize = 4; Address = 0; Task = 'syz-executor'; ProcessId = 22534; Cpu = 3; KernelVersion = '3.18.0' } }
        @{ File = 'kasan-syzbot-4.3-old-layout.txt'; Why = '4.3: "at addr" in the header, "Read of size 8 by task", "Object at …, in cache", "Allocated:"/"PID = "'
           Expect = @{ BugType = 'use-after-free'; AccessType = 'Read'; AccessSize = 8; Address = 0xffff8800b5a9f8c0u; Function = '__lock_acquire'; ProcessId = 20709; KernelVersion = '4.3.5+' }
           Object = @{ Cache = 'shmem_inode_cache'; Size = 1168; Offset = 816 }; Alloc = @(20706, 13); Free = @(20702, 7) }
        @{ File = 'kasan-syzbot-4.9-old-layout-no-stack.txt'; Why = '4.9: "(stack is not available)" tracks'
           Expect = @{ BugType = 'slab-out-of-bounds'; AccessType = 'Read'; AccessSize = 8; Address = 0xffff8801a85de8c0u; Function = 'sg_remove_request'; ProcessId = 6860 }
           Object = @{ Cache = 'fasync_cache'; Size = 96; Offset = 64 }; Alloc = @(0, 0); Free = @(0, 0) }
        @{ File = 'kasan-syzbot-4.9-wild-memory-access.txt'; Why = '4.9 wild-memory-access'
           Expect = @{ BugType = 'wild-memory-access'; AccessType = 'Read'; AccessSize = 4096; Address = 0xffe70873f7f2b000u; Function = 'sg_read'; ProcessId = 13133; Title = 'KASAN: wild-memory-access Read in sg_read' } }
        @{ File = 'kasan-syzbot-4.9-console-dropped.txt'; Why = 'a console line led by "** 93 printk messages dropped **"'
           Expect = @{ BugType = 'slab-out-of-bounds'; Address = 0xffff8801c464b568u; Function = 'do_raw_write_lock'; TimeSinceBoot = [TimeSpan]::FromTicks(3229621390) } }
        @{ File = 'kasan-syzbot-4.14-stack-oob.txt'; Why = '4.14 stack-out-of-bounds'
           Expect = @{ BugType = 'stack-out-of-bounds'; AccessType = 'Read'; AccessSize = 4; Address = 0xffff8801ca7c7960u; Function = 'xfrm_state_find'; ProcessId = 12380; Title = 'KASAN: stack-out-of-bounds Read in xfrm_state_find' } }
        @{ File = 'kasan-syzbot-4.15-corrupt-pid.txt'; Why = 'a corrupted stack prints a pid past Int32: no exception'
           Expect = @{ BugType = 'slab-out-of-bounds'; AccessType = 'Write'; AccessSize = 88; Function = '__unwind_start'; ProcessId = 4078 } }
        @{ File = 'kasan-syzbot-4.16-double-free.txt'; Why = '4.16 double-free, no access line'
           Expect = @{ BugType = 'double-free'; AccessType = $null; Function = 'kvfree'; ProcessId = 4260; Title = 'KASAN: double-free in kvfree' }
           Object = @{ Cache = 'kmalloc-32'; Size = 32; Offset = 0 }; Alloc = @(7667, 10); Free = @(7667, 9) }
        @{ File = 'kasan-syzbot-4.19-global-oob-console.txt'; Why = '4.19 global-out-of-bounds; fuzzer lines without time stamps inside the report'
           Expect = @{ BugType = 'global-out-of-bounds'; AccessType = 'Read'; AccessSize = 1; Address = 0xffffffff88000008u; Function = 'memcmp'; ProcessId = 8786 }
           Object = @{ Variable = '__start_rodata' } }
        @{ File = 'kasan-syzbot-5.1-null-ptr-deref.txt'; Why = '5.1 null-ptr-deref'
           Expect = @{ BugType = 'null-ptr-deref'; AccessType = 'Read'; AccessSize = 1; Address = 0; Function = 'read_word_at_a_time'; Task = 'v4l_id'; ProcessId = 5436 } }
        @{ File = 'kasan-syzbot-5.11-arm64-tag-invalid-access.txt'; Why = 'arm64 tag-based KASAN: tagged pointer, [C0] caller ids'
           Expect = @{ BugType = 'invalid-access'; AccessType = 'Read'; AccessSize = $null; Address = 0x03ff00002b8b2da0; Function = '__run_timers.part.0'; ProcessId = 5829; Caller = 'C0' }
           Object = @{ Cache = 'kmalloc-4k'; Size = 4096; Offset = 3488 }; Alloc = @(5829, 26); Free = @(5074, 22) }
        @{ File = 'kasan-syzbot-6.0-stack-oob.txt'; Why = '6.0 stack-out-of-bounds'
           Expect = @{ BugType = 'stack-out-of-bounds'; AccessType = 'Read'; AccessSize = 8; Address = 0xffffc9000b7df95fu; Function = 'lock_acquire'; ProcessId = 13922; KernelVersion = '6.0.0-rc6-syzkaller' } }
        @{ File = 'kasan-6.1.70-global-oob-inline-headers.txt'; Why = 'the header repeated per inlined frame is one report'
           Expect = @{ BugType = 'global-out-of-bounds'; AccessSize = 1; Address = 0xffffffff8b09cb60u; Function = 'validate_nla'; ProcessId = 323862; Task = 'syz.1.66276' }
           Object = @{ Variable = 'wwan_rtnl_policy' } }
        @{ File = 'kasan-syzbot-6.8-global-oob.txt'; Why = '6.8 global-out-of-bounds, symbolized'
           Expect = @{ BugType = 'global-out-of-bounds'; AccessSize = 8; Address = 0xffffffff94884578u; Function = 'timer_is_static_object'; ProcessId = 7343; Cpu = 1 }
           Object = @{ Variable = 'xa_init_flags.__key' } }
        @{ File = 'kfence-syzbot-5.11-use-after-free.txt'; Why = 'KFENCE use-after-free (syzbot 5.11)'
           Expect = @{ Detector = 'KFENCE'; BugType = 'use-after-free'; AccessType = 'Read'; Address = 0xffff88823bc8cf68u; Function = 'memcmp'; ProcessId = 9991 }
           Object = @{ Cache = 'kmalloc-512'; Size = 424; Offset = 360 }; Alloc = @(9997, 11); Free = @(9997, 11) }
        @{ File = 'kfence-5.11-kunit-double-free.txt'; Why = 'KFENCE invalid free (double free, KUnit)'
           Expect = @{ Detector = 'KFENCE'; BugType = 'invalid-free'; AccessType = 'Free'; Address = 0xffff8c2aae244fe0u; Function = 'test_double_free'; Title = 'KFENCE: invalid-free in test_double_free' }
           Object = @{ Cache = 'kmalloc-32'; Size = 32; Offset = 0 }; Alloc = @(116, 6); Free = @(116, 5) }
        @{ File = 'ubsan-syzbot-4.5-overflow.txt'; Why = 'UBSAN 4.5: the check named by the handler, the function past handle_overflow'
           Expect = @{ Detector = 'UBSAN'; BugType = 'add-overflow'; Function = 'ip_idents_reserve'; Location = './arch/x86/include/asm/atomic.h:156:2'; ProcessId = 3235 } }
        @{ File = 'ubsan-syzbot-5.4-undefined-behaviour.txt'; Why = 'UBSAN 5.4: a .cold handler clone'
           Expect = @{ Detector = 'UBSAN'; BugType = 'shift-out-of-bounds'; Function = 'xprt_calc_majortimeo'; Location = 'net/sunrpc/xprt.c:597:14'; Description = "shift exponent 536871040 is too large for 64-bit type 'long unsigned int'" } }
        @{ File = 'ubsan-syzbot-6.14-shift-jfs.txt'; Why = 'UBSAN 6.14 shift-out-of-bounds, "CPU: 0 UID: 0 PID:"'
           Expect = @{ Detector = 'UBSAN'; BugType = 'shift-out-of-bounds'; Function = 'dbAllocAG'; Location = 'fs/jfs/jfs_dmap.c:1400:9'; ProcessId = 5822; Cpu = 0; Description = 'shift exponent -335544310 is negative' } }
    ) {
        $r = @(Get-Fixture $File)
        $r | Should -HaveCount 1
        $r = $r[0]
        foreach ($k in $Expect.Keys) { $r.$k | Should -Be $Expect[$k] -Because $k }
        if (-not $Expect.ContainsKey('Detector')) { $r.Detector | Should -Be 'KASAN' }
        if ($Object) { foreach ($k in $Object.Keys) { $r.Object.$k | Should -Be $Object[$k] -Because "Object.$k" } }
        if ($Alloc) { $r.AllocatedBy.ProcessId | Should -Be $Alloc[0]; $r.AllocatedBy.Stack | Should -HaveCount $Alloc[1] }
        if ($Free) { $r.FreedBy.ProcessId | Should -Be $Free[0]; $r.FreedBy.Stack | Should -HaveCount $Free[1] }
        $r.Raw | Should -Not -Match 'executing program' -Because 'user-space text on the console is not part of the report'
        $r.Signature | Should -Match '^[0-9a-f]{16}$'
    }

    It 'keeps the frames between the TASK markers, with file:line, in CallTrace of a symbolized report' {
        $r = Get-Fixture kasan-syzbot-6.8-global-oob.txt
        $r.CallTrace | Should -HaveCount 35
        $r.CallTrace[5].Symbol | Should -Be 'timer_is_static_object'
        $r.CallTrace[5].File | Should -Be 'kernel/time/timer.c'
        $r.CallTrace[5].Line | Should -Be 735
        $r.CallTrace[-1].Symbol | Should -Be 'entry_SYSCALL_64_after_hwframe'
        (Get-Fixture kasan-6.1.70-global-oob-inline-headers.txt).Raw -split "`n" | Select-Object -First 2 |
            Should -Be @('BUG: KASAN: global-out-of-bounds in validate_nla lib/nlattr.c:388 [inline]', 'BUG: KASAN: global-out-of-bounds in __nla_validate_parse+0x19d7/0x29a0 lib/nlattr.c:603')
    }

    It 'expands wildcards in -Path and reports a directory or a pattern that matches nothing' {
        @(Get-KasanReport -Path (Join-Path $Fixtures 'kfence-*.txt')).Count | Should -Be @(Get-ChildItem (Join-Path $Fixtures 'kfence-*.txt') | Get-KasanReport).Count
        @(Get-KasanReport -Path (Join-Path $Fixtures 'kfence-*.txt')).Count | Should -BeGreaterThan 6
        Get-KasanReport -Path $Fixtures -ErrorVariable e1 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $e1[0].FullyQualifiedErrorId | Should -BeLike 'LogFileIsDirectory*'
        Get-KernelLog -Path (Join-Path $Fixtures 'nothing-*.txt') -ErrorVariable e2 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $e2[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'lists a report with a hex address, its call trace one frame a line, and the callers that allocated and freed' {
        $t = (Get-Fixture kasan-6.1-lkdtm.txt)[0] | Format-List | Out-String -Width 200
        $t | Should -Match 'Address\s+: 0xffff888006639010'
        $t | Should -Match 'FreedBy\s+: task 105: lkdtm_READ_AFTER_FREE\.cold\+0x7a/0x200' -Because 'the allocator and KASAN frames of the track are skipped'
        $t | Should -Match '(?m)^\s+direct_entry\.cold\+0x2e/0x62$'
        (Get-Fixture kasan-6.1-lkdtm.txt)[0].FreedBy.Caller.Symbol | Should -Be 'lkdtm_READ_AFTER_FREE.cold'
    }

    It 'filters by detector' {
        @(Get-KasanReport -Path (Join-Path $Fixtures kfence-doc-5.8.txt), (Join-Path $Fixtures kasan-doc-4.19.txt) -Detector KASAN).Count | Should -Be 1
    }

    It 'keeps every report of a log holding one line with a 20-digit timestamp' {
        $fixture = Join-Path $Fixtures 'kasan-6.1-lkdtm.txt'
        $expected = @(Get-KasanReport -Path $fixture).Count
        $log = Join-Path $TestDrive 'overflow.txt'
        Set-Content $log (@('[99999999999999999999.000000] a corrupt stamp', '[ 0.1] [<ffffffffffffffffffffffffff>] frame_too_big+0x1/0x2') + (Get-Content $fixture))
        $r = @(Get-KasanReport -Path $log -ErrorVariable err -ErrorAction SilentlyContinue)
        $err | Should -BeNullOrEmpty
        $r.Count | Should -Be $expected
        $expected | Should -BeGreaterThan 0
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

Describe 'Get-KasanReport without a detector' {
    BeforeAll {
        $script:Missing = @(Get-KernelDebugCapability -Name Kasan, Kfence, Ubsan | Where-Object -Not Available)
    }

    It 'warns that an empty result proves nothing when no detector is built in, naming each with its remedy' -Skip:($MissingDetectors -lt 3 -or -not $HasKmsg) {
        $r = @(Get-KasanReport -WarningVariable w -WarningAction SilentlyContinue)
        $r | Should -BeNullOrEmpty
        $w | Should -HaveCount 1
        "$w" | Should -BeLike '*no detector it reads is built into this kernel*An empty result does not mean healthy*'
        foreach ($c in $Missing) { "$w" | Should -BeLike "*$($c.Name): $($c.Detail)*$($c.Remedy)*" }
    }

    It 'warns about a named detector the kernel lacks' -Skip:(-not $HasKmsg -or (Test-KernelDebugCapability Kasan)) {
        $null = Get-KasanReport -Detector KASAN -WarningVariable w -WarningAction SilentlyContinue
        "$w" | Should -BeLike '*a detector it was asked to read is*Kasan: *'
    }

    It 'ends with MemoryErrorDetectorMissing and the remedy under -RequireDetector' -Skip:(-not $HasKmsg -or (Test-KernelDebugCapability Kasan)) {
        $err = { Get-KasanReport -Detector KASAN -RequireDetector } | Should -Throw -ErrorId 'MemoryErrorDetectorMissing*' -PassThru
        $err.CategoryInfo.Category | Should -Be 'NotInstalled'
        $err.ErrorDetails.RecommendedAction | Should -BeLike '*CONFIG_KASAN*'
    }

    It 'neither warns nor errors on a saved log' {
        $null = Get-KasanReport -Path (Join-Path $Fixtures kasan-6.1-lkdtm.txt) -WarningVariable w
        $w | Should -BeNullOrEmpty
    }
}
