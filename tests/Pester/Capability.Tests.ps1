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
            'Bpf', 'Btf', 'Ptrace', 'Kmemleak', 'Kasan', 'Kfence', 'KernelLog', 'Lockdown', 'Perf', 'Bpftrace', 'Bpftool', 'SystemTap', 'Strace', 'Ltrace'
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

Describe 'Test-KernelDebugCapability' {
    It 'is true only when all are available' {
        Test-KernelDebugCapability -Name TraceFs | Should -Be $Caps.TraceFs.Available
        Test-KernelDebugCapability -Name TraceFs, Kprobes | Should -Be ($Caps.TraceFs.Available -and $Caps.Kprobes.Available)
    }

    It 'refuses an unknown name' {
        { Test-KernelDebugCapability -Name Bogus } | Should -Throw -ErrorId 'CapabilityNotFound*'
    }
}

Describe 'Finding and mounting tracefs' {
    It 'mounts tracefs at /sys/kernel/tracing when it is not mounted, and says so with -Verbose' -Skip:(-not (Get-Command unshare -ErrorAction Ignore) -or [Environment]::UserName -ne 'root') {
        # A private mount namespace: unmounting tracefs there leaves the host's mount alone.
        $script = "Get-Content /proc/self/mountinfo | Where-Object { `$_ -match ' - tracefs ' } | ForEach-Object { (`$_ -split ' ')[4] } | Sort-Object Length -Descending | ForEach-Object { umount `$_ }; if (Get-Content /proc/self/mountinfo | Where-Object { `$_ -match ' - tracefs ' }) { 'STILL-MOUNTED' }; " +
            "Import-Module '$env:KERNELDEBUG_MODULE_PATH'; `$c = Get-KernelDebugCapability -Name TraceFs -Verbose 4>&1; `$c | ForEach-Object { `"`$_`" }; " +
            "if (Get-Content /proc/self/mountinfo | Where-Object { `$_ -match ' /sys/kernel/tracing .* - tracefs ' }) { 'MOUNTED-AGAIN' }"
        $self = [Environment]::ProcessPath
        [string[]] $pwshArgs = if ((Split-Path $self -Leaf) -eq 'dotnet') { @((Join-Path $PSHOME 'pwsh.dll')) } else { @() }
        $out = & unshare --mount --propagation private -- $self @pwshArgs -NoProfile -NonInteractive -Command $script 2>&1 | Out-String
        $out | Should -Not -Match 'STILL-MOUNTED'
        $out | Should -Match 'Mounted tracefs at /sys/kernel/tracing \(it was not mounted\)'
        $out | Should -Match 'TraceFs: available \(tracefs is mounted at /sys/kernel/tracing\)'
        $out | Should -Match 'MOUNTED-AGAIN'
        # The host's own mount is untouched.
        (Get-Content /proc/self/mountinfo | Where-Object { $_ -match ' - tracefs ' }) | Should -Not -BeNullOrEmpty
    }
}
