# Dynamic probes: uprobes live on this kernel (bash readline, libc getenv), kprobes/eprobes/fprobes where the kernel has them.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasUprobes = Test-KernelDebugCapability Uprobes
    $script:HasKprobes = Test-KernelDebugCapability Kprobes
    $script:HasEprobes = Test-KernelDebugCapability Eprobes
    $script:HasFprobes = Test-KernelDebugCapability Fprobes
    $script:HasPerf = [bool](Get-Command perf -CommandType Application -ErrorAction Ignore)
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    # The engine's types (PrivateInstance, TraceStreamReader, ProbeValidator) by name.
    Add-Type -Path (Join-Path (Split-Path $env:KERNELDEBUG_MODULE_PATH) 'KernelDebug.Engine.dll')
    $script:G = "kerneldebug_$PID"
    $script:Libc = @('/lib/x86_64-linux-gnu/libc.so.6', '/lib/aarch64-linux-gnu/libc.so.6', '/usr/lib64/libc.so.6') | Where-Object { Test-Path $_ } | Select-Object -First 1

    function Get-ProbeFiles {
        # Byte-exact contents of the three probe lists.
        $h = [ordered]@{}
        foreach ($f in 'kprobe_events', 'uprobe_events', 'dynamic_events') {
            $p = Join-Path $TraceFs $f
            $h[$f] = if (Test-Path $p) { [Convert]::ToBase64String([IO.File]::ReadAllBytes($p)) } else { '<absent>' }
        }
        $h
    }

    function Read-Hits($Instance) {
        # The ftrace area's reader: what the instance's ring buffer holds now, as typed records.
        @(Receive-TraceEvent -Instance $Instance -NoWait)
    }

    function Get-PerfOffset([string] $File, [string] $Function) {
        $out = & perf probe -x $File -D $Function 2>&1 | Out-String
        [regex]::Matches($out, ':0x([0-9a-f]+)') | ForEach-Object { [Convert]::ToUInt64($_.Groups[1].Value, 16) }
    }

    function Invoke-KernelVerdict([string] $Command) {
        # Writes a definition to uprobe_events as any tool would (one write, O_APPEND) and returns the kernel's verdict.
        $log = Join-Path $TraceFs 'error_log'
        $before = [IO.File]::ReadAllText($log)
        $ok = $true
        try {
            $fs = [IO.File]::Open((Join-Path $TraceFs 'uprobe_events'), 'Append', 'Write')
            try { $b = [Text.Encoding]::UTF8.GetBytes($Command); $fs.Write($b, 0, $b.Length) } finally { $fs.Dispose() }
        } catch { $ok = $false }
        if ($ok) { return 'accepted' }
        $entry = [KernelDebug.Probes.TraceErrorLog]::FindNew($before, [IO.File]::ReadAllText($log), $Command)
        if (-not $entry) { return 'refused without an error_log entry' }
        "$([KernelDebug.Probes.ProbeErrors]::FromText($entry.Message))@$($entry.Position)"
    }
}

AfterAll {
    Get-Uprobe -Group $G -ErrorAction Ignore | Remove-Uprobe -Force -ErrorAction Ignore
}

Describe 'New-Uprobe on this kernel' -Skip:(-not $HasUprobes) {
    AfterEach { Get-Uprobe -Group $G | Remove-Uprobe -Force }

    It 'resolves bash readline to the file offset perf probe -x computes, and lists it back' {
        $p = New-Uprobe -Name rl -Path /bin/bash -Symbol readline -Group $G -Argument 'prompt=+0(%di):string'
        $p.PSObject.TypeNames[0] | Should -Be 'KernelDebug.ProbeDefinition'
        $p.Kind | Should -Be 'Uprobe'
        $p.FullName | Should -Be "$G/rl"
        if ($HasPerf) { Get-PerfOffset /bin/bash readline | Should -Contain $p.Offset }
        $listed = (Get-Content (Join-Path $TraceFs 'uprobe_events')) -match "^p:$G/rl "
        $listed | Should -HaveCount 1
        $back = Get-Uprobe -Group $G -Name rl
        $back.Offset | Should -Be $p.Offset
        $back.Definition | Should -Be $listed[0]
        $back.Arguments[0].Name | Should -Be 'prompt'
        $back.Arguments[0].Type | Should -Be 'string'
        $back.IsReturn | Should -BeFalse
        $back.Enabled | Should -BeFalse
        # The kernel allows one reference counter offset per place, and says nothing when refusing a second: we say why.
        New-Uprobe -Name rlclash -Path /bin/bash -Address $p.Offset -ReferenceCounterOffset 0x10 -Group $G -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ProbeRefusedByKernel*'
        $err[0].Exception.Message | Should -Match "$G/rl probes the same place with reference counter offset none"
        Remove-Uprobe -Group $G -Name rl
        # The same place by file offset, with a USDT-style reference counter, listed back with it.
        $a = New-Uprobe -Name rladdr -Path /bin/bash -Address $p.Offset -ReferenceCounterOffset 0x10 -Group $G
        $a.Offset | Should -Be $p.Offset
        $a.ReferenceCounterOffset | Should -Be 0x10
        $a.Definition | Should -Match '\(0x10\)$'
    }

    It 'records readline entries and returns with their strings when bash actually reads a line' {
        $pi = New-FtraceInstance
        try {
            $i = $pi.Name
            New-Uprobe -Name rl -Path /bin/bash -Symbol readline -Group $G -Argument 'prompt=+0(%di):string' -Enable -Instance $i | Out-Null
            $ret = New-Uprobe -Name rlret -Path /bin/bash -Symbol readline -Group $G -Return -Argument 'line=+0(%ax):string' -Enable -Instance $i
            $ret.EnabledIn | Should -Be @($i)
            "echo kd-probe-line`nexit`n" | & /bin/bash --norc --noprofile -i 2>&1 | Out-Null
            $hits = Read-Hits $pi
            $lines = @($hits | Where-Object Name -eq rlret | ForEach-Object { $_.Fields['line'] })
            $lines | Should -Contain 'echo kd-probe-line'
            $lines | Should -Contain 'exit'
            @($hits | Where-Object Name -eq rl).Count | Should -BeGreaterOrEqual 2
            ($hits | Where-Object Name -eq rl | Select-Object -First 1).Comm | Should -Be 'bash'
        }
        finally {
            Get-Uprobe -Group $G | Remove-Uprobe -Force
            $pi | Remove-FtraceInstance
        }
    }

    It 'fetches a libc argument and return value (getenv) from a program that calls it' -Skip:(-not (Test-Path /bin/date)) {
        # date calls getenv("TZ") (tzset); the entry probe is filtered on the fetched string.
        $pi = New-FtraceInstance
        try {
            $i = $pi.Name
            New-Uprobe -Name getenv -Path $Libc -Symbol getenv -Group $G -Argument 'name=+0(%di):string' -Enable -Instance $i -Filter 'name == "TZ"' | Out-Null
            New-Uprobe -Name getenvret -Path $Libc -Symbol getenv -Group $G -Return -Argument 'value=+0(%ax):string', 'ptr=$retval:x64' -Enable -Instance $i | Out-Null
            & /usr/bin/env TZ=KDT-3 /bin/date +%Z | Should -Be 'KDT'
            $all = @(Read-Hits $pi)
            $hits = @($all | Where-Object Comm -eq 'date')
            $entry = @($hits | Where-Object Name -eq getenv)
            $entry.Count | Should -BeGreaterOrEqual 1 -Because "records: $(($all | ForEach-Object { "$($_.Comm):$($_.Name)" } | Select-Object -First 12) -join ', ')"
            $entry | ForEach-Object { $_.Fields['name'] } | Should -Be (@('TZ') * $entry.Count) -Because 'the filter keeps only getenv("TZ")'
            # The argument named name collides with the record's Name (the event): it is name_field, and Name stays the event.
            $entry | ForEach-Object { $_.name_field } | Should -Be (@('TZ') * $entry.Count)
            $entry | ForEach-Object { $_.Name } | Should -Be (@('getenv') * $entry.Count)
            $returns = @($hits | Where-Object { $_.Name -eq 'getenvret' -and $_.Fields['value'] -eq 'KDT-3' })
            $returns.Count | Should -Be $entry.Count -Because 'each getenv("TZ") returned the value we set'
            $returns[0].Fields['ptr'] | Should -Not -Be 0
        }
        finally {
            Get-Uprobe -Group $G | Remove-Uprobe -Force
            $pi | Remove-FtraceInstance
        }
    }

    It 'refuses to remove a probe enabled only in an instance unless -Force, which disables it there first' {
        $pi = New-FtraceInstance
        try {
            $i = $pi.Name
            New-Uprobe -Name busy -Path /bin/bash -Symbol readline -Group $G -Enable -Instance $i | Out-Null
            (Get-Uprobe -Group $G -Name busy).Enabled | Should -BeTrue
            Get-Uprobe -Group $G -Name busy | Remove-Uprobe -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
            $err[0].FullyQualifiedErrorId | Should -BeLike 'ProbeInUse*'
            Get-Uprobe -Group $G -Name busy | Should -Not -BeNullOrEmpty
            Remove-Uprobe -Group $G -Name busy -Force
            Get-Uprobe -Group $G -Name busy -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            @(Get-Content (Join-Path $TraceFs 'uprobe_events')) -match "$G/busy" | Should -BeNullOrEmpty
        }
        finally { $pi | Remove-FtraceInstance }
    }

    It 'takes pipeline input, lists owned probes only with -Owned, and changes nothing under -WhatIf' {
        $before = Get-ProbeFiles
        New-Uprobe -Name wi -Path /bin/bash -Symbol readline -Group $G -WhatIf | Should -BeNullOrEmpty
        (Get-ProbeFiles).uprobe_events | Should -Be $before.uprobe_events
        1..3 | ForEach-Object { New-Uprobe -Name "p$_" -Path /bin/bash -Symbol readline -Group $G } | Out-Null
        $owned = Get-Uprobe -Owned
        ($owned | Where-Object Group -eq $G).Count | Should -Be 3
        $owned | ForEach-Object { $_.Group | Should -Match '^kerneldebug(_|$)' }
        (Get-DynamicEvent -Owned -Kind Uprobe | Where-Object Group -eq $G).Count | Should -Be 3
        Get-Uprobe -Group $G -Name p2 | Remove-Uprobe -WhatIf
        (Get-Uprobe -Group $G).Count | Should -Be 3
        [pscustomobject]@{ Name = 'p1'; Group = $G } | Remove-Uprobe
        Get-Uprobe -Group $G | Remove-Uprobe
        Get-Uprobe -Group $G | Should -BeNullOrEmpty
    }

    It 'leaves another running session''s process group alone under -Owned (shown with -WhatIf)' {
        # pid 1 is always running: kerneldebug_1 stands for another live session's probes.
        try {
            New-Uprobe -Name other -Path /bin/bash -Symbol readline -Group kerneldebug_1 | Out-Null
            New-Uprobe -Name mine -Path /bin/bash -Symbol readline -Group $G | Out-Null
            $out = Remove-Uprobe -Owned -WhatIf -Verbose 4>&1 | Out-String
            $out | Should -Match 'Leaving group kerneldebug_1'
            $out | Should -Not -Match "Leaving group $G"
            (Get-Uprobe -Group kerneldebug_1, $G).Name | Should -Be @('other', 'mine')
        }
        finally { Remove-Uprobe -Group kerneldebug_1 -Name other -Force -ErrorAction SilentlyContinue }
        Get-Uprobe -Group kerneldebug_1 | Should -BeNullOrEmpty
    }

    It 'refuses newline, #, ; and control characters before writing anything' {
        $before = Get-ProbeFiles
        foreach ($bad in "a=%ax`nr:$G/x /bin/bash:0x1", 'a=%ax#c', 'a=%ax;b=%bx', "a=%ax$([char]7)") {
            New-Uprobe -Name inj -Path /bin/bash -Symbol readline -Group $G -Argument $bad -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -BeLike 'UnsafeUserString*'
        }
        New-Uprobe -Name "in`nj" -Path /bin/bash -Symbol readline -Group $G -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'UnsafeUserString*'
        (Get-ProbeFiles).uprobe_events | Should -Be $before.uprobe_events
    }

    It 'leaves no half-made probe when enabling fails (a filter the kernel refuses, an instance that does not exist)' {
        $before = Get-ProbeFiles
        $pi = New-FtraceInstance
        try {
            New-Uprobe -Name half -Path /bin/bash -Symbol readline -Group $G -Argument 'prompt=+0(%di):string' -Instance $pi.Name -Filter 'prompt ==' -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err[0].FullyQualifiedErrorId | Should -BeLike 'TraceEventFilterInvalid,*'
            $err[0].Exception.Message | Should -Match '\^'
            (Get-ProbeFiles).uprobe_events | Should -Be $before.uprobe_events
            Test-Path (Join-Path $pi.Path "events/$G/half") | Should -BeFalse
        }
        finally { $pi | Remove-FtraceInstance }
        New-Uprobe -Name half -Path /bin/bash -Symbol readline -Group $G -Instance "kerneldebug_no_such_instance_$PID" -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'FtraceInstanceNotFound,*'
        (Get-ProbeFiles).uprobe_events | Should -Be $before.uprobe_events
    }

    It 'refuses a second probe of an existing name before the kernel would merge it or refuse it' {
        # The kernel adds a same-kind definition to an existing event (a multi-probe event) and refuses one with other
        # arguments (DIFF_ARG_TYPE); the module refuses both up front with one stable error.
        New-Uprobe -Name dup -Path /bin/bash -Symbol readline -Group $G -Argument 'a=%ax' | Out-Null
        New-Uprobe -Name dup -Path /bin/bash -Symbol readline -Group $G -Argument 'b=%bx:u8' -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ProbeExists*'
        $err[0].CategoryInfo.Category | Should -Be 'ResourceExists'
        $err[0].Exception.Message | Should -Match "$G/dup already exists"
        (Get-Uprobe -Group $G -Name dup).Arguments.Name | Should -Be 'a'
    }

    It 'removes the probes of a ProbeScope (the engine API for probes that live for one call) when it ends' {
        $events = [KernelDebug.Probes.DynamicEvents]::new($TraceFs, $null)
        $scope = [KernelDebug.Probes.ProbeScope]::new($events)
        $i = New-FtraceInstance
        try {
            $a = $scope.AddUprobe('kd_scope_malloc', $Libc, 'malloc', 0, $false, [string[]] @('size=%di:u64'))
            $b = $scope.AddUprobe('kd_scope_malloc_ret', $Libc, 'malloc', 0, $true, [string[]] @('ptr=$retval:x64'))
            $a.Group | Should -Be $G
            if ($HasPerf) { Get-PerfOffset $Libc malloc | Should -Contain $a.Offset }
            (Get-Uprobe -Group $G).Name | Should -Be @('kd_scope_malloc', 'kd_scope_malloc_ret')
            $events.Enable($G, 'kd_scope_malloc', $i.Name, $null)   # enabled: Dispose must disable it first
        }
        finally { $scope.Dispose(); $i | Remove-FtraceInstance }
        Get-Uprobe -Group $G | Should -BeNullOrEmpty
    }

    It 'takes -Address as typed (hex strings, hex literals past Int32), refuses one past the end of the file, warns of one outside the code' {
        $before = Get-ProbeFiles
        $rl = Get-PerfOffset /bin/bash readline | Select-Object -First 1
        if (-not $rl) { $rl = (New-Uprobe -Name tmp -Path /bin/bash -Symbol readline -Group $G).Offset; Remove-Uprobe -Group $G -Name tmp }
        (New-Uprobe -Name hex -Path /bin/bash -Address ('0x{0:x}' -f $rl) -Group $G).Offset | Should -Be $rl
        # 0xffffffff is Int32 -1 to PowerShell: it binds as the address meant, which lies past the end of bash.
        New-Uprobe -Name far -Path /bin/bash -Address 0xffffffff -Group $G -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'OffsetOutsideFile,*'
        $err[0].Exception.Message | Should -Match '0xffffffff is past the end of /bin/bash'
        $w = New-Uprobe -Name hdr -Path /bin/bash -Address 0 -Group $G -WarningVariable warn -WarningAction SilentlyContinue
        $w.Offset | Should -Be 0
        "$warn" | Should -Match 'not in an executable segment'
        Get-Uprobe -Group $G | Remove-Uprobe
        (Get-ProbeFiles).uprobe_events | Should -Be $before.uprobe_events
    }

    It 'resolves a versioned libc function as perf probe -x does (the default version), by name@VERSION too, and warns of an IFUNC' {
        # memcpy: memcpy@GLIBC_2.2.5 (a plain function) and memcpy@@GLIBC_2.14 (the default, an IFUNC).
        $m = New-Uprobe -Name memcpy -Path $Libc -Symbol memcpy -Group $G -WarningVariable warn -WarningAction SilentlyContinue
        if ($HasPerf) { Get-PerfOffset $Libc memcpy | Should -Contain $m.Offset }
        "$warn" | Should -Match 'GNU indirect function'
        $old = New-Uprobe -Name memcpy_old -Path $Libc -Symbol 'memcpy@GLIBC_2.2.5' -Group $G -WarningVariable warn2 -WarningAction SilentlyContinue
        $old.Offset | Should -Not -Be $m.Offset
        $warn2 | Should -BeNullOrEmpty
        (New-Uprobe -Name memcpy_new -Path $Libc -Symbol 'memcpy@@GLIBC_2.14' -Group $G -WarningAction SilentlyContinue).Offset | Should -Be $m.Offset
        Get-Uprobe -Group $G | Remove-Uprobe
    }

    It 'reports an unknown ELF function and a missing file as ObjectNotFound, with nothing written' {
        $before = Get-ProbeFiles
        New-Uprobe -Name nf -Path /bin/bash -Symbol no_such_function_kd -Group $G -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'SymbolNotFound*'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        New-Uprobe -Name nf -Path /no/such/file -Symbol main -Group $G -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        (Get-ProbeFiles).uprobe_events | Should -Be $before.uprobe_events
    }
}

Describe 'Malformed definitions: the kernel''s kind and column, nothing written' {
    BeforeDiscovery {
        $u = 'UprobeEvents'; $k = 'KprobeEvents'; $d = 'DynamicEvents'
        $g = "kerneldebug_$PID"
        $args129 = -join (1..129 | ForEach-Object { " a$_=%ax" })
        $nest15 = ('+0(' * 15) + '%ax' + (')' * 15)
        $script:Cases = @(
            @{ D = "p:$g/e /bin/bash:0x100 a=%foo"; F = $u; Kind = 'BadRegName' }
            @{ D = "p:$g/e /bin/bash:0x100 a=%eax"; F = $u; Kind = 'BadRegName' }
            @{ D = "p:$g/e /bin/bash:0x100 a=`$retval"; F = $u; Kind = 'RetvalOnProbe' }
            @{ D = "p:$g/e /bin/bash:0xzz"; F = $u; Kind = 'BadUprobeOffs' }
            @{ D = "p:$g/e /bin/bash:100x"; F = $u; Kind = 'BadUprobeOffs' }
            @{ D = "p:$g/e /bin/bash:0x100%foo"; F = $u; Kind = 'BadAddrSuffix' }
            @{ D = "p:$g/e /nonexistent/kd:0x100"; F = $u; Kind = 'FileNotFound' }
            @{ D = "p:$g/e /dev/null:0x100"; F = $u; Kind = 'NoRegularFile' }
            @{ D = "p:$g/e /bin/bash:0x100 a=%ax:u128"; F = $u; Kind = 'BadType' }
            @{ D = "p:$g/e /bin/bash:0x100 a=%ax:symbol"; F = $u; Kind = 'BadType' }
            @{ D = "p:$g/e /bin/bash:0x100 a=%ax:string"; F = $u; Kind = 'BadString' }
            @{ D = "p:$g/e /bin/bash:0x100 a=%ax:b3@30/32"; F = $u; Kind = 'BadBitfield' }
            @{ D = "p:$g/e /bin/bash:0x100 a=%ax:b0@1/8"; F = $u; Kind = 'BadBitfield' }
            @{ D = "p:$g/e /bin/bash:0x100 a=%ax:u8[0]"; F = $u; Kind = 'BadArrayNum' }
            @{ D = "p:$g/e /bin/bash:0x100 a=%ax:u8[65]"; F = $u; Kind = 'ArrayTooBig' }
            @{ D = "p:$g/e /bin/bash:0x100 a=+0(%ax):u8[2"; F = $u; Kind = 'ArrayNoClose' }
            @{ D = "p:$g/e /bin/bash:0x100 a=+0(%ax):u8[2]x"; F = $u; Kind = 'BadArraySuffix' }
            @{ D = "p:$g/$('e' * 64) /bin/bash:0x100"; F = $u; Kind = 'EventTooLong' }
            @{ D = "p:$('g' * 64)/e /bin/bash:0x100"; F = $u; Kind = 'GroupTooLong' }
            @{ D = "p:1g/e /bin/bash:0x100"; F = $u; Kind = 'BadGroupName' }
            @{ D = "p:$g/1e /bin/bash:0x100"; F = $u; Kind = 'BadEventName' }
            @{ D = "p:$g/e.x /bin/bash:0x100"; F = $u; Kind = 'BadEventName' }
            @{ D = "p:/e /bin/bash:0x100"; F = $u; Kind = 'NoGroupName' }
            @{ D = "p:$g/e /bin/bash:0x100$args129"; F = $u; Kind = 'TooManyArgs' }
            @{ D = "p:$g/e /bin/bash:0x100 a=`$foo"; F = $u; Kind = 'BadVar' }
            @{ D = "p:$g/e /bin/bash:0x100 a=`$stackx"; F = $u; Kind = 'BadVar' }
            @{ D = "p:$g/e /bin/bash:0x100 a=`$arg1"; F = $u; Kind = 'NofentryArgs' }
            @{ D = "p:$g/e /bin/bash:0x100 a=`$arg0"; F = $u; Kind = 'BadArgNum' }
            @{ D = "p:$g/e /bin/bash:0x100 a=@sym"; F = $u; Kind = 'SymOnUprobe' }
            @{ D = "p:$g/e /bin/bash:0x100 a=@1zz"; F = $u; Kind = 'BadMemAddr' }
            @{ D = "p:$g/e /bin/bash:0x100 a=@+zz"; F = $u; Kind = 'BadFileOffs' }
            @{ D = "p:$g/e /bin/bash:0x100 a=\x"; F = $u; Kind = 'BadImm' }
            @{ D = "p:$g/e /bin/bash:0x100 a=\`"abc"; F = $u; Kind = 'ImmstrNoClose' }
            @{ D = "p:$g/e /bin/bash:0x100 a=`$comm:u32"; F = $u; Kind = 'NeedStringType' }
            @{ D = "p:$g/e /bin/bash:0x100 a=+0(`$comm)"; F = $u; Kind = 'CommCantDeref' }
            @{ D = "p:$g/e /bin/bash:0x100 a=+0%ax"; F = $u; Kind = 'DerefNeedBrace' }
            @{ D = "p:$g/e /bin/bash:0x100 a=+zz(%ax)"; F = $u; Kind = 'BadDerefOffs' }
            @{ D = "p:$g/e /bin/bash:0x100 a=+0(%ax"; F = $u; Kind = 'DerefOpenBrace' }
            @{ D = "p:$g/e /bin/bash:0x100 a=$nest15"; F = $u; Kind = 'TooManyOps' }
            @{ D = "p:$g/e /bin/bash:0x100 a=+0(%ax):$('1' * 60)"; F = $u; Kind = 'ArgTooLong' }
            @{ D = "p:$g/e /bin/bash:0x100 a=&1"; F = $u; Kind = 'BadFetchArg' }
            @{ D = "p:$g/e /bin/bash:0x100 a="; F = $u; Kind = 'NoArgBody' }
            @{ D = "p:$g/e /bin/bash:0x100 =%ax"; F = $u; Kind = 'NoArgName' }
            @{ D = "p:$g/e /bin/bash:0x100 1a=%ax"; F = $u; Kind = 'BadArgName' }
            @{ D = "p:$g/e /bin/bash:0x100 a=%ax a=%bx"; F = $u; Kind = 'UsedArgName' }
            @{ D = "p:$g/e /bin/bash:0x100 common_pid=%ax"; F = $u; Kind = 'UsedArgName' }
            @{ D = "p:$g/e /bin/bash:0x100 $('n' * 33)=%ax"; F = $u; Kind = 'ArgNameTooLong' }
            @{ D = "p:$g/e /bin/bash:0x100 abc=foo"; F = $u; Kind = 'NosupBtfarg' }
            @{ D = "p:$g/e /bin/bash:0x100(5"; F = $u; Kind = 'RefcntOpenBrace' }
            @{ D = "p:$g/e /bin/bash:0x100(zz)"; F = $u; Kind = 'BadRefcnt' }
            @{ D = "p:$g/e /bin/bash:0x100(5)x"; F = $u; Kind = 'BadRefcntSuffix' }
            @{ D = "p:$g/e /bin/bash:0x100 a=%ax`nr:$g/x /bin/bash:0x100"; F = $u; Kind = 'UnsafeCharacter' }
            @{ D = "p:$g/e /bin/bash:0x100 a=%ax # comment"; F = $u; Kind = 'UnsafeCharacter' }
            @{ D = "p:$g/e vfs_read a=`$retval"; F = $k; Kind = 'RetvalOnProbe' }
            @{ D = "p:$g/e no_such_function_kd"; F = $k; Kind = 'BadProbeAddr' }
            @{ D = "r:$g/e vfs_read+8"; F = $k; Kind = 'BadRetprobe' }
            @{ D = "p4:$g/e vfs_read"; F = $k; Kind = 'BadMaxactType' }
            @{ D = "r99999:$g/e vfs_read"; F = $k; Kind = 'MaxactTooBig' }
            @{ D = "p:$g/e vfs_read a=@+10"; F = $k; Kind = 'FileOnKprobe' }
            @{ D = "p:$g/e vfs_read a=`$stack99999"; F = $k; Kind = 'BadStackNum' }
            @{ D = "p:$g/e vfs_read+4 a=`$arg1"; F = $k; Kind = 'NofentryArgs' }
            @{ D = "e:$g/e syscalls.sys_enter_openat a=%ax"; F = $d; Kind = 'BadVar' }
            @{ D = "e:$g/e syscalls.no_such_event_kd"; F = $d; Kind = 'BadAttachEvent' }
            @{ D = "e:$g/e sys_enter_openat"; F = $d; Kind = 'NoEventInfo' }
            @{ D = "e:$g/e syscalls.sys_enter_openat a=`$filename if"; F = $d; Kind = 'NoEpFilter' }
            @{ D = "f:$g/e vfs_read a=%ax"; F = $d; Kind = 'BadVar' }
            @{ D = "f:$g/e vfs_read%foo"; F = $d; Kind = 'BadAddrSuffix' }
            @{ D = "t:$g/e sched-switch"; F = $d; Kind = 'BadTpName' }
            @{ D = "t:$g/e no_such_tracepoint_kd"; F = $d; Kind = 'NoTracepoint' }
        )
    }

    BeforeAll {
        $script:Env = [KernelDebug.Probes.HostProbeEnvironment]::new($TraceFs)
        $script:Events = [KernelDebug.Probes.DynamicEvents]::new($TraceFs, $Env)
        $script:FilesBefore = Get-ProbeFiles
    }

    It 'refuses <D> as <Kind>' -ForEach $Cases {
        $e = [KernelDebug.Probes.ProbeValidator]::Validate($D, $F, $Env)
        $e | Should -Not -BeNullOrEmpty
        $e.Kind | Should -Be $Kind
        $e.Position | Should -BeGreaterOrEqual 0
        # The engine's write path (what New-*probe call) refuses it before its write, with the same kind and column.
        $x = { $Events.Create($D, $F) } | Should -Throw -PassThru
        $k = $x.Exception; while ($k -and $k -isnot [KernelDebug.Native.KernelDebugException]) { $k = $k.InnerException }
        $k.ErrorId | Should -Be "Probe$Kind"
        $k.Position | Should -Be $e.Position
        if ($F -eq 'UprobeEvents' -and $HasUprobes -and $Kind -ne 'UnsafeCharacter') {
            # The kernel itself, on the same line: same kind, same column.
            Invoke-KernelVerdict $D | Should -Be "$Kind@$($e.Position)"
        }
    }

    It 'has at least 40 cases' { $Cases.Count | Should -BeGreaterOrEqual 40 }

    It 'leaves kprobe_events, uprobe_events and dynamic_events byte-identical' {
        $after = Get-ProbeFiles
        foreach ($k in $FilesBefore.Keys) { $after[$k] | Should -BeExactly $FilesBefore[$k] -Because "$k must not change" }
    }

    It 'gives the same verdict through New-Kprobe, as an ErrorRecord with the column' {
        New-Kprobe -Name e -Symbol vfs_read -Group $G -Argument 'a=%foo' -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ProbeBadRegName,*'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err[0].Exception.Position | Should -Be ("p:$G/e vfs_read ".Length + 2)
        $err[0].Exception.Message | Should -Match '\^'
    }
}

Describe 'kprobes, eprobes and fprobes where this kernel lacks them' {
    # A missing kernel feature stops the whole command: a terminating error, whatever -ErrorAction says.
    It 'New-Kprobe fails clearly with the missing option and a remedy' -Skip:$HasKprobes {
        $err = { New-Kprobe -Name kd -Symbol vfs_read -Group $G -ErrorAction SilentlyContinue } | Should -Throw -ErrorId 'KprobeNotSupported*' -PassThru
        $err.CategoryInfo.Category | Should -Be 'NotInstalled'
        $err.Exception.Message | Should -Match 'CONFIG_KPROBE'
        $err.ErrorDetails.RecommendedAction | Should -Match 'CONFIG_KPROBES'
    }

    It 'New-Kprobe binds a kernel address written as PowerShell reads it (0xffffffff81000000 is a negative Int64)' -Skip:$HasKprobes {
        { New-Kprobe -Name kd -Address 0xffffffff81000000 -Group $G -ErrorAction SilentlyContinue } | Should -Throw -ErrorId 'KprobeNotSupported*' -Because 'the address bound; only the missing kprobes stop it'
    }

    It 'Get-Kprobe and Remove-Kprobe fail clearly' -Skip:$HasKprobes {
        $err = { Get-Kprobe -ErrorAction SilentlyContinue } | Should -Throw -PassThru
        $err.CategoryInfo.Category | Should -Be 'NotInstalled'
        $err2 = { Remove-Kprobe -Owned -ErrorAction SilentlyContinue } | Should -Throw -PassThru
        $err2.CategoryInfo.Category | Should -Be 'NotInstalled'
    }

    It 'New-Eprobe fails clearly' -Skip:$HasEprobes {
        $err = { New-Eprobe -Name kd -TargetEvent syscalls:sys_enter_openat -Group $G -Argument 'f=+0($filename):ustring' -ErrorAction SilentlyContinue } | Should -Throw -ErrorId 'EprobeNotSupported*' -PassThru
        $err.ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
    }

    It 'New-Fprobe fails clearly, for functions and tracepoints' -Skip:$HasFprobes {
        { New-Fprobe -Symbol vfs_read -Group $G -ErrorAction SilentlyContinue } | Should -Throw -ErrorId 'FprobeNotSupported*'
        { New-Fprobe -Tracepoint sched_switch -Group $G -ErrorAction SilentlyContinue } | Should -Throw -ErrorId 'TprobeNotSupported*'
    }
}

Describe 'kprobes live' -Skip:(-not $HasKprobes) {
    It 'creates a kprobe and kretprobe on vfs_read, lists them back and removes them' {
        try {
            $p = New-Kprobe -Name kdread -Symbol vfs_read -Group $G -Argument 'count=%dx:u64'
            $r = New-Kprobe -Name kdreadret -Symbol vfs_read -Group $G -Return -Argument 'ret=$retval:s64'
            (Get-Kprobe -Group $G).Name | Should -Be @('kdread', 'kdreadret')
            $r.IsReturn | Should -BeTrue
        }
        finally { Get-Kprobe -Group $G | Remove-Kprobe -Force }
        Get-Kprobe -Group $G | Should -BeNullOrEmpty
    }
}

Describe 'eprobes live' -Skip:(-not $HasEprobes) {
    It 'creates an eprobe on sys_enter_openat and removes it' {
        try {
            $e = New-Eprobe -Name kdopen -TargetEvent syscalls:sys_enter_openat -Group $G -Argument 'file=+0($filename):ustring'
            $e.Kind | Should -Be 'Eprobe'
            (Get-DynamicEvent -Group $G -Kind Eprobe).Name | Should -Be 'kdopen'
        }
        finally { Get-DynamicEvent -Group $G | Remove-DynamicEvent -Force }
    }
}

Describe 'fprobes live' -Skip:(-not $HasFprobes) {
    It 'creates an fprobe on vfs_read and removes it' {
        try {
            $f = New-Fprobe -Symbol vfs_read -Name kdf -Group $G
            $f.Kind | Should -Be 'Fprobe'
        }
        finally { Get-DynamicEvent -Group $G | Remove-DynamicEvent -Force }
    }
}

Describe 'Get-Uprobe | Enable-TraceEvent' -Skip:(-not $HasUprobes) {
    It 'binds a probe''s Group and Name by property name, enables its event in the instance, records its hits, and Disable-TraceEvent binds alike' -Skip:(-not (Test-Path /bin/date)) {
        $pi = New-FtraceInstance
        try {
            New-Uprobe -Name kdpipe -Path $Libc -Symbol getenv -Group $G -Argument 'name=+0(%di):string' | Out-Null
            $enabled = @(Get-Uprobe -Group $G -Name kdpipe | Enable-TraceEvent -Instance $pi -PassThru)
            $enabled.Count | Should -Be 1
            "$($enabled[0].System):$($enabled[0].Name)" | Should -Be "${G}:kdpipe"
            $enabled[0].Enabled | Should -BeTrue
            (Get-Content (Join-Path $TraceFs "instances/$($pi.Name)/events/$G/kdpipe/enable")) | Should -Be '1' -Because 'the kernel has the event on in this instance'
            (Get-Content (Join-Path $TraceFs "events/$G/kdpipe/enable")) | Should -Be '0' -Because 'the top-level buffer is not touched'
            & /usr/bin/env TZ=KDT-3 /bin/date +%Z | Should -Be 'KDT'
            $hits = @(Read-Hits $pi | Where-Object { $_.Name -eq 'kdpipe' -and $_.Comm -eq 'date' })
            $hits.Count | Should -BeGreaterOrEqual 1 -Because 'date calls getenv'
            Get-Uprobe -Group $G -Name kdpipe | Disable-TraceEvent -Instance $pi
            (Get-Content (Join-Path $TraceFs "instances/$($pi.Name)/events/$G/kdpipe/enable")) | Should -Be '0'
        }
        finally {
            Get-Uprobe -Group $G | Remove-Uprobe -Force
            $pi | Remove-FtraceInstance
        }
    }
}
