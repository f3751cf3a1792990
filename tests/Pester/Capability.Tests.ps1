BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Caps = @{}
    Get-KernelDebugCapability | ForEach-Object { $Caps[$_.Name] = $_ }
    $script:Config = if (Test-Path /proc/config.gz) {
        $t = [System.IO.Compression.GZipStream]::new([System.IO.File]::OpenRead('/proc/config.gz'), [System.IO.Compression.CompressionMode]::Decompress)
        try { [System.IO.StreamReader]::new($t).ReadToEnd() } finally { $t.Dispose() }
    }
    function Test-Readable([string] $Path) { try { [System.IO.File]::ReadAllText($Path) | Out-Null; $true } catch { $false } }
}

Describe 'Get-KernelDebugCapability' {
    It 'reports every capability the foundation promises, each with a reason' {
        $expected = 'TraceFs', 'DebugFs', 'TraceEvents', 'SyscallTracepoints', 'TraceInstances', 'FunctionTracer', 'FunctionGraphTracer',
            'Kprobes', 'Uprobes', 'Eprobes', 'Fprobes', 'HistTriggers', 'PerfEvents', 'PerfHardwareCounters', 'PerfKernelProfiling',
            'Bpf', 'Btf', 'BpfProgramTypes', 'BpfRingBuffer', 'BpfLinks', 'BpfCoRe', 'Ptrace', 'SyscallEngine', 'MeasureSyscallEngine', 'Kmemleak', 'Kasan', 'Kfence', 'Ubsan', 'KernelLog', 'Lockdown', 'Perf', 'Bpftrace', 'Bpftool', 'SystemTap', 'Strace', 'Ltrace'
        foreach ($n in $expected) {
            $Caps.Keys | Should -Contain $n
            $Caps[$n].Detail | Should -Not -BeNullOrEmpty
            $Caps[$n].PSObject.TypeNames[0] | Should -Be 'KernelDebug.Capability'
            if (-not $Caps[$n].Available) { $Caps[$n].Remedy | Should -Not -BeNullOrEmpty -Because "$n is missing and should say how to get it" }
        }
    }

    It 'finds tracefs through mountinfo' {
        $Caps.TraceFs.Available | Should -BeTrue
        $Caps.TraceFs.Detail | Should -Match ([regex]::Escape($TraceFs))
    }

    It 'agrees with the tracefs files on kprobes, uprobes and instances' {
        $Caps.Kprobes.Available | Should -Be (Test-Path "$TraceFs/kprobe_events")
        $Caps.Uprobes.Available | Should -Be (Test-Path "$TraceFs/uprobe_events")
        $Caps.TraceInstances.Available | Should -Be (Test-Path "$TraceFs/instances")
        $Caps.SyscallTracepoints.Available | Should -Be (Test-Path "$TraceFs/events/syscalls/sys_enter_openat")
    }

    It 'names the missing kernel option when the config says it is off' {
        if ($Config -and $Config -match '# CONFIG_KPROBES is not set') {
            $Caps.Kprobes.Detail | Should -Match 'CONFIG_KPROBES'
        }
        if ($Config -and $Config -match '# CONFIG_KASAN is not set') { $Caps.Kasan.Detail | Should -Match 'without CONFIG_KASAN' }
        if ($Config -and $Config -match '# CONFIG_HIST_TRIGGERS is not set') { $Caps.HistTriggers.Detail | Should -Match 'CONFIG_HIST_TRIGGERS' }
        if (-not $Config) { Set-ItResult -Skipped -Because 'this kernel has no /proc/config.gz' }
    }

    It 'calls the function tracer usable only when its function list can be read' {
        $listed = (Get-Content "$TraceFs/available_tracers" -Raw) -split '\s+' -contains 'function'
        $readable = Test-Readable "$TraceFs/available_filter_functions"
        $Caps.FunctionTracer.Available | Should -Be ($listed -and $readable)
        if ($listed -and -not $readable) { $Caps.FunctionTracer.Detail | Should -Match 'available_filter_functions: EPERM|EACCES' }
    }

    It 'agrees with perf stat on hardware counters' -Skip:(-not (Get-Command perf -ErrorAction Ignore)) {
        $out = & perf stat '-x,' -e cycles:u -- /bin/true 2>&1 | Out-String
        $perfCan = $out -notmatch '<not supported>|<not counted>|not supported'
        $Caps.PerfHardwareCounters.Available | Should -Be $perfCan -Because "perf stat said: $out"
    }

    It 'agrees with bpftool on the bpf() syscall' -Skip:(-not (Get-Command bpftool -ErrorAction Ignore)) {
        & bpftool prog show *> $null
        $Caps.Bpf.Available | Should -Be ($LASTEXITCODE -eq 0)
    }

    It 'reports the programs that are on PATH, available when they run' {
        # Each program's own harmless command is the oracle of whether it works.
        $programs = @(
            @('Strace', 'strace', @('-V')), @('Ltrace', 'ltrace', @('-V')), @('Perf', 'perf', @('--version')),
            @('Bpftrace', 'bpftrace', @('--version')), @('Bpftool', 'bpftool', @('version')), @('TraceCmd', 'trace-cmd', @('list', '-t')))
        foreach ($p in $programs) {
            $onPath = [bool](Get-Command $p[1] -CommandType Application -ErrorAction Ignore)
            if (-not $onPath) { $Caps[$p[0]].Available | Should -BeFalse; $Caps[$p[0]].Remedy | Should -Match 'apt-get install'; continue }
            $Caps[$p[0]].Detail | Should -Match ([regex]::Escape($p[1]))
            & $p[1] @($p[2]) *> $null
            $Caps[$p[0]].Available | Should -Be ($LASTEXITCODE -eq 0) -Because "'$($p[1]) $($p[2])' exited $LASTEXITCODE; Detail: $($Caps[$p[0]].Detail)"
        }
    }

    It 'agrees with the kernel''s own files on debugfs, events, hist triggers, fprobes, eprobes, BTF and the memory debuggers' {
        $debugFs = (Get-Content /proc/self/mountinfo | Where-Object { ($_ -split ' - ')[1] -like 'debugfs *' } | Select-Object -First 1) -split ' ' | Select-Object -Index 4
        $Caps.DebugFs.Available | Should -Be ([bool] $debugFs)
        $Caps.TraceEvents.Available | Should -Be ([bool] (Get-Content "$TraceFs/available_events" -TotalCount 1))
        $Caps.HistTriggers.Available | Should -Be (Test-Path "$TraceFs/events/sched/sched_switch/hist")
        $readme = Get-Content "$TraceFs/README" -Raw
        $Caps.Fprobes.Available | Should -Be ((Test-Path "$TraceFs/dynamic_events") -and $readme.Contains('f[:[<group>/][<event>]]'))
        if ($Config -and $Config -match '(?m)^(# )?CONFIG_EPROBE_EVENTS[= ]') {
            $Caps.Eprobes.Available | Should -Be ($Config -match '(?m)^CONFIG_EPROBE_EVENTS=y')
        }
        if ($Config) { $Caps.Kasan.Available | Should -Be ($Config -match '(?m)^CONFIG_KASAN=y') }
        if ($Config) { $Caps.Ubsan.Available | Should -Be ($Config -match '(?m)^CONFIG_UBSAN=y') }
        $Caps.Btf.Available | Should -Be (Test-Path /sys/kernel/btf/vmlinux)
        $Caps.BpfCoRe.Available | Should -Be (Test-Path /sys/kernel/btf/vmlinux)
        # Which syscall engine Get-SyscallTrace runs by default, and why; Bpf exactly where kd_syscalls loads.
        $Caps.SyscallEngine.Detail | Should -Match ($(if ([KernelDebug.Syscall.SyscallEngineSelector]::BpfWorks().Item1) { 'runs the Bpf engine by default' } else { 'runs the Ptrace engine' }))
        $Caps.Kfence.Available | Should -Be ((Test-Path /sys/module/kfence/parameters/sample_interval) -and (Get-Content /sys/module/kfence/parameters/sample_interval) -ne '0')
        $kmemleakOpens = [bool] $debugFs -and (Test-Path "$debugFs/kmemleak") -and $(try { [System.IO.File]::OpenHandle("$debugFs/kmemleak", 'Open', 'Read').Dispose(); $true } catch { $false })
        $Caps.Kmemleak.Available | Should -Be $kmemleakOpens
        foreach ($n in 'DebugFs', 'TraceEvents', 'HistTriggers', 'Fprobes', 'Eprobes', 'Kasan', 'Btf', 'Kfence', 'Ubsan', 'Kmemleak') {
            if (-not $Caps[$n].Available) { $Caps[$n].Detail | Should -Match 'CONFIG_|absent|not |no ' -Because "$n should say why: $($Caps[$n].Detail)" }
        }
    }

    It 'agrees with perf stat on software events and system-wide kernel counting' -Skip:(-not (Get-Command perf -ErrorAction Ignore)) {
        $sw = & perf stat '-x,' -e task-clock -- /bin/true 2>&1 | Out-String
        $Caps.PerfEvents.Available | Should -Be ($LASTEXITCODE -eq 0 -and $sw -notmatch '<not supported>') -Because "perf stat said: $sw"
        $all = & perf stat '-x,' -a -e cpu-clock -- /bin/true 2>&1 | Out-String
        $kallsyms = @(Get-Content /proc/kallsyms -TotalCount 50 | Where-Object { $_ -notlike '0000000000000000 *' }).Count -gt 0
        $Caps.PerfKernelProfiling.Available | Should -Be ($LASTEXITCODE -eq 0 -and $all -notmatch '<not supported>' -and $kallsyms) -Because "perf stat -a said: $all"
    }

    It 'reports the lockdown mode that securityfs shows' -Skip:(-not (Get-Command unshare -ErrorAction Ignore) -or [Environment]::UserName -ne 'root') {
        # securityfs is read in a private mount namespace, so the host's mounts stay as they are.
        $text = & unshare --mount --propagation private -- sh -c 'mountpoint -q /sys/kernel/security || mount -t securityfs none /sys/kernel/security; cat /sys/kernel/security/lockdown 2>/dev/null' 2>$null
        if (-not $text) { Set-ItResult -Skipped -Because 'this kernel has no lockdown file in securityfs (the lockdown LSM is not built in)'; return }
        $mode = [regex]::Match($text, '\[(\w+)\]').Groups[1].Value
        $Caps.Lockdown.Available | Should -Be ($mode -eq 'none') -Because "securityfs says: $text"
        if ($mode -ne 'none') { $Caps.Lockdown.Detail | Should -Match "locked down in $mode mode" }
    }

    It 'reports the Yama ptrace scope as the kernel has it' {
        if (Test-Path /proc/sys/kernel/yama/ptrace_scope) {
            $Caps.Ptrace.Detail | Should -Match "ptrace_scope=$((Get-Content /proc/sys/kernel/yama/ptrace_scope).Trim())"
        } else {
            $Caps.Ptrace.Detail | Should -Match 'Yama is not active'
        }
    }

    It 'agrees with /dev/kmsg on the kernel log' {
        # Reading /dev/kmsg at its end blocks, so the oracle is whether it opens.
        $opens = try { [System.IO.File]::OpenHandle('/dev/kmsg', 'Open', 'Read').Dispose(); $true } catch { $false }
        $Caps.KernelLog.Available | Should -Be $opens
    }

    It 'formats as one table of Area, Name, Available and Detail' {
        $view = (Get-FormatData -TypeName KernelDebug.Capability).FormatViewDefinition | Where-Object { $_.Control -is [System.Management.Automation.TableControl] }
        $view.Control.Headers.Label | Should -Be @('Area', 'Name', 'Available', 'Detail')
        $view.Control.GroupBy | Should -BeNullOrEmpty -Because 'the probes come in the issue''s order, so grouping would repeat group headers'
        $text = $Caps.Values | Sort-Object Name | Out-String -Width 200
        ([regex]::Matches($text, '(?m)^Area\s+Name\s+Available\s+Detail')).Count | Should -Be 1
    }

    It 'filters by wildcard' {
        $r = Get-KernelDebugCapability -Name 'Perf*'
        $r.Name | Should -Be @('PerfEvents', 'PerfHardwareCounters', 'PerfKernelProfiling', 'Perf')
    }

    It 'reports an unknown name as ObjectNotFound' {
        Get-KernelDebugCapability -Name NoSuchThing -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err[0].FullyQualifiedErrorId | Should -BeLike 'CapabilityNotFound*'
    }

    It 'takes names from the pipeline by property name' {
        $r = [pscustomobject]@{ Name = 'TraceFs' } | Get-KernelDebugCapability
        $r.Name | Should -Be 'TraceFs'
    }

    It 'completes capability names' {
        $line = 'Get-KernelDebugCapability -Name Kpr'
        $c = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        $c.CompletionMatches.CompletionText | Should -Contain 'Kprobes'
    }
}

Describe 'Get-KernelDebugCapability for a user without privileges' {
    It 'says tracefs and debugfs are closed to it, not that their files are absent, and tells it to run as root' -Skip:(-not (Test-CanRunAsNobody)) {
        $lines = Invoke-AsNobody "Get-KernelDebugCapability | ForEach-Object { '{0}|{1}|{2}|{3}' -f `$_.Name, `$_.Available, `$_.Detail, `$_.Remedy }"
        $tracefsOpen = Test-NobodyOpens "$TraceFs/README"
        $debugFs = (Get-Content /proc/self/mountinfo | Where-Object { ($_ -split ' - ')[1] -like 'debugfs *' } | Select-Object -First 1) -split ' ' | Select-Object -Index 4
        $debugfsOpen = Test-NobodyOpens $debugFs
        $kmsgOpens = Test-NobodyOpens /dev/kmsg
        $caps = @{}
        foreach ($l in $lines) { $f = "$l" -split '\|'; if ($f.Count -eq 4) { $caps[$f[0]] = $f } }
        $caps.Count | Should -BeGreaterThan 25 -Because "the run as nobody printed: $($lines -join "`n")"
        if ($tracefsOpen) { Set-ItResult -Skipped -Because 'tracefs is open to every user on this host'; return }
        foreach ($n in 'TraceFs', 'TraceEvents', 'SyscallTracepoints', 'TraceInstances', 'FunctionTracer', 'FunctionGraphTracer', 'Kprobes', 'Uprobes', 'Eprobes', 'Fprobes', 'HistTriggers') {
            $caps[$n][1] | Should -Be 'False' -Because "$n as nobody: $($caps[$n] -join ' | ')"
            $caps[$n][2] | Should -Match 'tracefs is mounted at .*, but this process cannot read it \(README: EACCES\)' -Because "$n should name the real reason"
            $caps[$n][3] | Should -Match 'root' -Because "$n should say how to get it"
        }
        if (-not $debugfsOpen) {
            foreach ($n in 'DebugFs', 'Kmemleak') {
                $caps[$n][1] | Should -Be 'False'
                $caps[$n][2] | Should -Match 'debugfs is mounted at .*, but this process cannot read it'
            }
        }
        $caps.KernelLog[1] | Should -Be "$kmsgOpens"
        if (-not $kmsgOpens) { $caps.KernelLog[3] | Should -Match 'root|CAP_SYSLOG|dmesg_restrict' }
        # BPF_PROG_GET_NEXT_ID needs CAP_SYS_ADMIN whatever unprivileged_bpf_disabled says.
        $caps.Bpf[1] | Should -Be 'False'
        $caps.Bpf[3] | Should -Match 'root'
    }
}

Describe 'Test-KernelDebugCapability' {
    It 'is true only when all are available' {
        Test-KernelDebugCapability -Name TraceFs | Should -Be $Caps.TraceFs.Available
        Test-KernelDebugCapability -Name TraceFs, Kprobes | Should -Be ($Caps.TraceFs.Available -and $Caps.Kprobes.Available)
    }

    It 'refuses an unknown name' {
        { Test-KernelDebugCapability -Name Bogus } | Should -Throw -ErrorId 'CapabilityNotFound*'
    }
}

Describe 'Finding and mounting tracefs and debugfs' {
    It 'mounts tracefs at /sys/kernel/tracing and debugfs at /sys/kernel/debug when they are not mounted, and says so with -Verbose' -Skip:(-not (Get-Command unshare -ErrorAction Ignore) -or [Environment]::UserName -ne 'root') {
        # A private mount namespace: unmounting there leaves the host's mounts alone. tracefs first (it may sit inside debugfs).
        $script = "foreach (`$t in 'tracefs', 'debugfs') { Get-Content /proc/self/mountinfo | Where-Object { `$_ -match `" - `$t `" } | ForEach-Object { (`$_ -split ' ')[4] } | Sort-Object Length -Descending | ForEach-Object { umount `$_ } }; " +
            "if (Get-Content /proc/self/mountinfo | Where-Object { `$_ -match ' - (tracefs|debugfs) ' }) { 'STILL-MOUNTED' }; " +
            "Import-Module '$env:KERNELDEBUG_MODULE_PATH'; `$c = Get-KernelDebugCapability -Name TraceFs, DebugFs -Verbose 4>&1; `$c | ForEach-Object { `"`$_`" }; " +
            "if (Get-Content /proc/self/mountinfo | Where-Object { `$_ -match ' /sys/kernel/tracing .* - tracefs ' }) { 'TRACEFS-MOUNTED-AGAIN' }; " +
            "if (Get-Content /proc/self/mountinfo | Where-Object { `$_ -match ' /sys/kernel/debug .* - debugfs ' }) { 'DEBUGFS-MOUNTED-AGAIN' }"
        $self = [Environment]::ProcessPath
        [string[]] $pwshArgs = if ((Split-Path $self -Leaf) -eq 'dotnet') { @((Join-Path $PSHOME 'pwsh.dll')) } else { @() }
        $out = & unshare --mount --propagation private -- $self @pwshArgs -NoProfile -NonInteractive -Command $script 2>&1 | Out-String
        $out | Should -Not -Match 'STILL-MOUNTED'
        $out | Should -Match 'Mounted tracefs at /sys/kernel/tracing \(it was not mounted\)'
        $out | Should -Match 'Mounted debugfs at /sys/kernel/debug \(it was not mounted\)'
        $out | Should -Match 'TraceFs: available \(tracefs is mounted at /sys/kernel/tracing\)'
        $out | Should -Match 'DebugFs: available \(debugfs is mounted at /sys/kernel/debug\)'
        $out | Should -Match 'TRACEFS-MOUNTED-AGAIN'
        $out | Should -Match 'DEBUGFS-MOUNTED-AGAIN'
        # The host's own mounts are untouched.
        (Get-Content /proc/self/mountinfo | Where-Object { $_ -match ' - tracefs ' }) | Should -Not -BeNullOrEmpty
        (Get-Content /proc/self/mountinfo | Where-Object { $_ -match ' - debugfs ' }) | Should -Not -BeNullOrEmpty
    }

    It 'says so with -Verbose when a cmdlet that makes kernel objects mounts tracefs' -Skip:(-not (Get-Command unshare -ErrorAction Ignore) -or [Environment]::UserName -ne 'root') {
        $script = "Get-Content /proc/self/mountinfo | Where-Object { `$_ -match ' - tracefs ' } | ForEach-Object { (`$_ -split ' ')[4] } | Sort-Object Length -Descending | ForEach-Object { umount `$_ }; " +
            "Import-Module '$env:KERNELDEBUG_MODULE_PATH'; `$i = New-FtraceInstance -Verbose 4>&1 | ForEach-Object { if (`$_ -is [System.Management.Automation.VerboseRecord]) { 'VERBOSE ' + `$_.Message } else { `$_ } }; " +
            "`$i | Where-Object { `$_ -is [string] }; `$i | Where-Object { `$_ -isnot [string] } | Remove-FtraceInstance -Confirm:`$false; 'REMOVED'"
        $self = [Environment]::ProcessPath
        [string[]] $pwshArgs = if ((Split-Path $self -Leaf) -eq 'dotnet') { @((Join-Path $PSHOME 'pwsh.dll')) } else { @() }
        $out = & unshare --mount --propagation private -- $self @pwshArgs -NoProfile -NonInteractive -Command $script 2>&1 | Out-String
        $out | Should -Match 'VERBOSE Mounted tracefs at /sys/kernel/tracing \(it was not mounted\)'
        $out | Should -Match 'REMOVED'
    }

    It 'says so with -Verbose when the read-only <Command> mounts tracefs' -Skip:(-not (Get-Command unshare -ErrorAction Ignore) -or [Environment]::UserName -ne 'root') -ForEach @(
        @{ Command = 'Get-FtraceInstance -IncludeTopLevel'; Expect = '^OBJECT /$' }
        @{ Command = 'Get-FtraceTracer'; Expect = '^OBJECT nop$' }
        @{ Command = 'Get-TraceEvent -Name sched:sched_switch'; Expect = '^OBJECT sched:sched_switch$' }
        @{ Command = 'Get-PerfEvent -Name sched:sched_switch'; Expect = '^OBJECT sched:sched_switch$' }
    ) {
        # The ftrace engine and perf's tracepoint lookup find tracefs without a logger; the mount still reaches -Verbose.
        $script = "Get-Content /proc/self/mountinfo | Where-Object { `$_ -match ' - tracefs ' } | ForEach-Object { (`$_ -split ' ')[4] } | Sort-Object Length -Descending | ForEach-Object { umount `$_ }; " +
            "if (Get-Content /proc/self/mountinfo | Where-Object { `$_ -match ' - tracefs ' }) { 'STILL-MOUNTED' }; " +
            "Import-Module '$env:KERNELDEBUG_MODULE_PATH'; $Command -Verbose 4>&1 | ForEach-Object { if (`$_ -is [System.Management.Automation.VerboseRecord]) { 'VERBOSE ' + `$_.Message } else { 'OBJECT ' + `$(if (`$_.PSObject.Properties['System']) { `"`$(`$_.System):`$(`$_.Name)`" } else { `$_.Name }) } }; " +
            "`$Error | ForEach-Object { 'ERROR ' + `$_ }"
        $self = [Environment]::ProcessPath
        [string[]] $pwshArgs = if ((Split-Path $self -Leaf) -eq 'dotnet') { @((Join-Path $PSHOME 'pwsh.dll')) } else { @() }
        $out = & unshare --mount --propagation private -- $self @pwshArgs -NoProfile -NonInteractive -Command $script 2>&1 | Out-String
        $out | Should -Not -Match 'STILL-MOUNTED'
        $out | Should -Not -Match 'ERROR '
        $out | Should -Match '(?m)^VERBOSE Mounted tracefs at /sys/kernel/tracing \(it was not mounted\)\.\r?$'
        $out | Should -Match "(?m)$($Expect.TrimEnd('$'))\r?$"
        # Said once, before the first object.
        ([regex]::Matches($out, 'Mounted tracefs')).Count | Should -Be 1
        $out.IndexOf('VERBOSE Mounted tracefs') | Should -BeLessThan $out.IndexOf('OBJECT ')
    }
}
