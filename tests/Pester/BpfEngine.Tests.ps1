BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasBpf = Test-KernelDebugCapability Bpf
    $script:HasBpftool = [bool](Get-Command bpftool -CommandType Application -ErrorAction Ignore)
    $script:HasClang = [bool](Get-Command clang -CommandType Application -ErrorAction Ignore) -and (Test-Path /usr/include/bpf/bpf_helpers.h)
    $script:HasPerl = [bool](Get-Command perl -CommandType Application -ErrorAction Ignore)
    $script:HasBpftrace = Test-KernelDebugCapability Bpftrace
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Fixtures = Join-Path $RepoRoot 'tests/fixtures/bpf'
    $script:Programs = Join-Path $RepoRoot 'src/KernelDebug.Engine/Bpf/Programs'
    # A process that calls getppid(2) n times and exits; its pid, once it has.
    function Invoke-Getppid([int] $N) {
        $p = Start-Process perl -ArgumentList '-e', "`"getppid() for 1..$N`"" -PassThru -Wait
        $p.Id
    }
    function Get-BpftoolProgram([uint32] $Id) { & bpftool -j prog show id $Id | ConvertFrom-Json }
    function Get-BpftoolMap([uint32] $Id) { & bpftool -j map show id $Id | ConvertFrom-Json }
}

Describe 'Import-BpfObject: the module''s own kd_events' -Skip:(-not ($HasBpf -and $HasBpftool)) {
    BeforeAll {
        $script:Obj = Import-BpfObject -BuiltIn kd_events -Constant @{ target_tgid = 4242; burst = 1 }
    }
    AfterAll { if ($Obj) { Remove-BpfObject $Obj } }

    It 'loads its two programs with the types bpftool reports' {
        $Obj.Programs.Name | Sort-Object | Should -Be @('kd_getppid', 'kd_sys_enter')
        foreach ($p in $Obj.Programs) {
            $b = Get-BpftoolProgram $p.Id
            $b.name | Should -Be $p.Name
            $b.type | Should -Be $p.Type
        }
        ($Obj.Programs | Where-Object Name -eq kd_getppid).Type | Should -Be 'tracepoint'
        ($Obj.Programs | Where-Object Name -eq kd_sys_enter).Type | Should -Be 'raw_tracepoint'
    }

    It 'creates BTF-defined and global-data maps as bpftool sees them' {
        $byName = @{}
        foreach ($m in $Obj.Maps) { $byName[$m.Name] = $m }
        $byName.Keys | Sort-Object | Should -Be @('.bss', '.data', '.rodata', 'counts', 'events', 'perf_events')
        (Get-BpftoolMap $byName['events'].Id).type | Should -Be 'ringbuf'
        (Get-BpftoolMap $byName['events'].Id).max_entries | Should -Be (4MB)
        (Get-BpftoolMap $byName['counts'].Id).type | Should -Be 'hash'
        (Get-BpftoolMap $byName['counts'].Id).bytes_value | Should -Be 8
        (Get-BpftoolMap $byName['.rodata'].Id).frozen | Should -Be 1
        (Get-BpftoolMap $byName['.data'].Id).frozen | Should -Be 0
        # The programs hold the maps they reference: the loader's relocations put these fds in their instructions.
        $progMaps = (Get-BpftoolProgram ($Obj.Programs | Where-Object Name -eq kd_getppid).Id).map_ids
        $progMaps | Should -Contain $byName['events'].Id
        $progMaps | Should -Contain $byName['.rodata'].Id
    }

    It 'wrote -Constant into .rodata before freezing it' {
        $rodata = $Obj.Maps | Where-Object Name -eq .rodata
        $dump = & bpftool -j map dump id $rodata.Id | ConvertFrom-Json
        $vars = @($dump[0].formatted.value.'.rodata')
        ($vars | Where-Object { $_.target_tgid -ne $null }).target_tgid | Should -Be 4242
        ($vars | Where-Object { $_.burst -ne $null }).burst | Should -Be 1
    }

    It 'loaded its BTF into the kernel' {
        $Obj.BtfId | Should -BeGreaterThan 0
        (Get-BpftoolProgram ($Obj.Programs | Where-Object Name -eq kd_getppid).Id).btf_id | Should -Be $Obj.BtfId
    }

    It 'applied its CO-RE relocations' {
        $Obj.CoreRelocations | Should -BeGreaterOrEqual 8
    }

    It 'closes every program and map on Remove-BpfObject' {
        $o = Import-BpfObject -BuiltIn kd_events
        $ids = $o.Programs.Id
        $mapIds = $o.Maps.Id
        Remove-BpfObject $o
        $o.IsDisposed | Should -BeTrue
        # The kernel frees them once the last fd is closed (RCU: give it a moment).
        $deadline = [DateTime]::UtcNow.AddSeconds(10)
        do { Start-Sleep -Milliseconds 100; $left = @(& bpftool -j prog show | ConvertFrom-Json | Where-Object id -in $ids) } while ($left.Count -and [DateTime]::UtcNow -lt $deadline)
        $left | Should -BeNullOrEmpty
        @(& bpftool -j map show | ConvertFrom-Json | Where-Object id -in $mapIds) | Should -BeNullOrEmpty
    }

    It 'loads nothing with -WhatIf' {
        Import-BpfObject -BuiltIn kd_events -WhatIf | Should -BeNullOrEmpty
    }
}

Describe 'Import-BpfObject errors' -Skip:(-not $HasBpf) {
    It 'names an unknown constant and lists the variables there are' {
        { Import-BpfObject -BuiltIn kd_events -Constant @{ no_such_var = 1 } -ErrorAction Stop } | Should -Throw -ErrorId 'BpfConstantNotFound,KernelDebug.Commands.ImportBpfObjectCommand'
        $err = $null
        Import-BpfObject -BuiltIn kd_events -Constant @{ no_such_var = 1 } -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].Exception.Message | Should -Match 'target_tgid'
    }

    It 'refuses a value out of range of the variable''s BTF type' {
        { Import-BpfObject -BuiltIn kd_events -Constant @{ use_perf = 300 } -ErrorAction Stop } | Should -Throw -ErrorId 'BpfConstantInvalid,KernelDebug.Commands.ImportBpfObjectCommand'
    }

    It 'gives the verifier''s verdict, the failing instruction and the log, not a bare EACCES' {
        $err = $null
        Import-BpfObject (Join-Path $Fixtures 'verifier_reject.bpf.o') -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -Be 'BpfVerifierRejected,KernelDebug.Commands.ImportBpfObjectCommand'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidData'
        $err[0].Exception.Message | Should -Match "rejected program 'reads_past_value'"
        $err[0].Exception.Message | Should -Match 'invalid access to map value'
        $err[0].Exception.FailingInstruction | Should -BeGreaterThan 0
        $err[0].Exception.VerifierLog | Should -Match 'processed \d+ insns'
        # Nothing of the object is left behind: its array map was closed again.
        @(& bpftool -j map show | ConvertFrom-Json | Where-Object name -eq 'values') | Where-Object { $_.pids.pid -contains $PID } | Should -BeNullOrEmpty
    }

    It 'says which file is not a BPF object' {
        { Import-BpfObject /bin/true -ErrorAction Stop } | Should -Throw -ErrorId 'BpfObjectInvalid,KernelDebug.Commands.ImportBpfObjectCommand'
    }
}

Describe 'Events through the ring buffer and the perf event array' -Skip:(-not ($HasBpf -and $HasPerl)) {
    It 'delivers one ring buffer record per getppid(2), with CO-RE-read fields matching the process' {
        $o = Import-BpfObject -BuiltIn kd_events
        try {
            $o.Programs | Where-Object Name -eq kd_getppid | Start-BpfProgram | Out-Null
            $perl = Invoke-Getppid 25
            $records = @(Receive-BpfEvent $o -Map events -Duration 00:00:02 | Where-Object tgid -eq $perl)
            $records.Count | Should -Be 25
            $records[0].PSObject.TypeNames[0] | Should -Be 'KernelDebug.Btf.kd_event'
            $records.comm | Select-Object -Unique | Should -Be 'perl'
            $records.kind | Select-Object -Unique | Should -Be 'KD_EVENT_SYSCALL'
            # syscall_nr read through CO-RE from trace_event_raw_sys_enter.id: getppid's number (110 on x86_64, 173 on arm64).
            $records.syscall_nr | Select-Object -Unique | Should -Be $(if ((uname -m) -eq 'aarch64') { 173 } else { 110 })
            # ppid read through CO-RE as task->real_parent->tgid: this pwsh started perl.
            $records.ppid | Select-Object -Unique | Should -Be $PID
            $records.tgid_exists | Select-Object -Unique | Should -Be 1
            $records.missing_exists | Select-Object -Unique | Should -Be 0
            $records.task_exists | Select-Object -Unique | Should -Be 1
            $records.tgid_size | Select-Object -Unique | Should -Be 4
            # bpf_core_enum_value(enum pid_type, PIDTYPE_TGID): what the kernel's BTF says.
            $enum = & bpftool btf dump file /sys/kernel/btf/vmlinux format raw | Select-String -Pattern "^\s+'PIDTYPE_TGID' val=(\d+)" | Select-Object -First 1
            $records.pidtype_tgid | Select-Object -Unique | Should -Be ([int]$enum.Matches[0].Groups[1].Value)
            # seq comes from a .bss counter shared by all CPUs: the process's records are in order.
            $seq = $records.seq
            (Compare-Object $seq ($seq | Sort-Object) -SyncWindow 0) | Should -BeNullOrEmpty
        }
        finally { Remove-BpfObject $o }
    }

    It 'filters by a .rodata constant the verifier sees' {
        $o = Import-BpfObject -BuiltIn kd_events -Constant @{ target_tgid = 1 }
        try {
            $o | Start-BpfProgram -Name kd_getppid | Out-Null
            $null = Invoke-Getppid 10
            @(Receive-BpfEvent $o -Map events -Duration 00:00:01) | Should -BeNullOrEmpty
        }
        finally { Remove-BpfObject $o }
    }

    It 'delivers through per-CPU perf buffers with -Constant use_perf, burst' {
        # A perf event array only carries records while a reader has its buffers in the map: the workload runs after.
        $o = Import-BpfObject -BuiltIn kd_events -Constant @{ use_perf = 1; burst = 3 }
        try {
            $o | Start-BpfProgram -Name kd_getppid | Out-Null
            $job = Start-ThreadJob { Start-Sleep -Milliseconds 1500; (Start-Process perl -ArgumentList '-e', '"getppid() for 1..10"' -PassThru -Wait).Id }
            $records = @(Receive-BpfEvent $o -Map perf_events -Duration 00:00:04 | Where-Object comm -eq perl)
            $perl = $job | Wait-Job | Receive-Job
            $job | Remove-Job
            $records = @($records | Where-Object tgid -eq $perl)
            $records.Count | Should -Be 30
            ($records.index | Group-Object | Sort-Object Name | ForEach-Object Count) | Should -Be @(10, 10, 10)
            $records.kind | Select-Object -Unique | Should -Be 'KD_EVENT_BURST'
        }
        finally { Remove-BpfObject $o }
    }

    It 'decodes the .data counter and the raw tracepoint''s hash map with Read-BpfMap' {
        $o = Import-BpfObject -BuiltIn kd_events -Constant @{ target_tgid = $PID }
        try {
            $o | Start-BpfProgram | Out-Null
            Start-Sleep -Milliseconds 300
            $counts = @($o.Maps | Where-Object Name -eq counts | Read-BpfMap)
            # This pwsh makes system calls all the time; each entry is a syscall number with its count.
            $counts.Count | Should -BeGreaterThan 0
            $counts | ForEach-Object { $_.Key | Should -BeOfType [uint32]; $_.Value | Should -BeGreaterThan 0 }
            ($o.Maps | Where-Object Name -eq .data | Read-BpfMap).Value.emitted | Should -BeOfType [uint64]
        }
        finally { Remove-BpfObject $o }
    }

    It 'Stop-BpfProgram detaches: no records after it' {
        $o = Import-BpfObject -BuiltIn kd_events
        try {
            $o | Start-BpfProgram -Name kd_getppid | Out-Null
            $o | Stop-BpfProgram
            ($o.Programs | Where-Object Name -eq kd_getppid).IsAttached | Should -BeFalse
            $perl = Invoke-Getppid 5
            @(Receive-BpfEvent $o -Map events -Duration 00:00:01 | Where-Object tgid -eq $perl) | Should -BeNullOrEmpty
        }
        finally { Remove-BpfObject $o }
    }

    It 'Invoke-BpfObject streams, then unloads everything also when the pipeline stops early' {
        $job = Start-ThreadJob { Start-Sleep -Milliseconds 2500; perl -e 'getppid() for 1..50' }
        $first = @(Invoke-BpfObject -BuiltIn kd_events -Program kd_getppid -Duration 00:00:20 | Where-Object comm -eq perl | Select-Object -First 3)
        $job | Wait-Job | Remove-Job
        $first.Count | Should -Be 3
        [KernelDebug.Bpf.BpfObject]::Session | Where-Object Name -eq kd_events | Should -BeNullOrEmpty
        $deadline = [DateTime]::UtcNow.AddSeconds(10)
        do { Start-Sleep -Milliseconds 100; $left = @(& bpftool -j prog show | ConvertFrom-Json | Where-Object { $_.name -eq 'kd_getppid' -and $_.pids.pid -contains $PID }) } while ($left.Count -and [DateTime]::UtcNow -lt $deadline)
        $left | Should -BeNullOrEmpty
    }
}

Describe 'Legacy maps and subprograms' -Skip:(-not ($HasBpf -and $HasPerl)) {
    It 'loads a maps-section object and counts through a .text subprogram' {
        $o = Import-BpfObject (Join-Path $Fixtures 'legacy_maps.bpf.o')
        try {
            $m = $o.Maps | Where-Object Name -eq legacy_counts
            $m.Type | Should -Be 'array'
            $m.MaxEntries | Should -Be 4
            $o | Start-BpfProgram | Out-Null
            $null = Invoke-Getppid 7
            $before = @(Read-BpfMap -Id $m.Id -Raw)
            ([BitConverter]::ToUInt64([byte[]]$before[2].ValueBytes, 0)) | Should -BeGreaterOrEqual 7
        }
        finally { Remove-BpfObject $o }
    }
}

Describe 'The module''s BPF programs match their sources' -Skip:(-not $HasClang) {
    It '<_> rebuilds to the committed bytes' -ForEach @('kd_events', 'kd_syscount') {
        $out = Join-Path ([IO.Path]::GetTempPath()) "kd-rebuild-$PID-$_.o"
        Push-Location $Programs
        try {
            & clang -target bpf -g -O2 '-fdebug-compilation-dir=.' "-I/usr/include/$((uname -m).Trim())-linux-gnu" -c "$_.bpf.c" -o $out
            $LASTEXITCODE | Should -Be 0
            (Get-FileHash $out).Hash | Should -Be (Get-FileHash (Join-Path $Programs "$_.bpf.o")).Hash -Because "build.ps1 -Task BpfPrograms regenerates $_.bpf.o from $_.bpf.c"
        }
        finally { Pop-Location; Remove-Item $out -ErrorAction Ignore }
    }
}

Describe 'BCC libbpf-tools objects built from unmodified sources' -Skip:(-not $HasBpf) {
    BeforeAll { $script:Lbt = Join-Path $RepoRoot 'tests/fixtures/bpf/libbpf-tools' }

    It 'loads <_> with its CO-RE relocations' -ForEach @('execsnoop', 'opensnoop', 'exitsnoop', 'bashreadline', 'syscount') {
        $o = Import-BpfObject (Join-Path $Lbt "$_.bpf.o") -ErrorAction Stop
        try {
            $o.Programs.Count | Should -BeGreaterThan 0
            # bpftool prints the name from the BTF func info the loader passed (the kernel keeps only 15 characters).
            foreach ($p in $o.Programs) { (Get-BpftoolProgram $p.Id).name | Should -Be $p.Name }
            if ($_ -ne 'bashreadline') { $o.CoreRelocations | Should -BeGreaterThan 0 }
        }
        finally { Remove-BpfObject $o }
    }

    It 'execsnoop and exitsnoop report what bpftrace reports for the same processes' -Skip:(-not ($HasBpftrace -and $HasBpftool)) {
        # The workload: a copy of sh under a name of its own, run five times with exit codes 1..5.
        $name = "kdx$PID"
        $exe = Join-Path ([IO.Path]::GetTempPath()) $name
        Copy-Item /bin/sh $exe
        $log = Join-Path ([IO.Path]::GetTempPath()) "kd-bpftrace-$PID.txt"
        $script = 'tracepoint:sched:sched_process_exec { printf("exec %d %s\n", pid, comm); } ' +
            'tracepoint:sched:sched_process_exit /pid == tid/ { printf("exit %d %s %d\n", pid, comm, curtask->exit_code >> 8); }'
        $psi = [System.Diagnostics.ProcessStartInfo]::new((Get-Command bpftrace -CommandType Application | Select-Object -First 1).Source)
        foreach ($a in '-B', 'none', '-o', $log, '-e', $script) { $psi.ArgumentList.Add($a) }
        $bt = [System.Diagnostics.Process]::Start($psi)
        $exec = Import-BpfObject (Join-Path $Lbt 'execsnoop.bpf.o')
        $exit = Import-BpfObject (Join-Path $Lbt 'exitsnoop.bpf.o')
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            # bpftrace prints "Attaching" before it loads: wait until bpftool shows its two programs.
            while (@(& bpftool -j prog show | ConvertFrom-Json | Where-Object { $_.pids.pid -contains $bt.Id }).Count -lt 2 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 200 }
            $exec, $exit | Start-BpfProgram | Out-Null
            # Perf event arrays carry records only while their reader is open: the workload starts once both readers are
            # about to read (each sets its event just before Receive-BpfEvent), and a second later. Each reader stops at
            # the workload's fifth record, or after 30 s (a loaded machine starts thread jobs late).
            $ready = [Threading.CountdownEvent]::new(2)
            $job = Start-ThreadJob -ArgumentList $exe, $ready {
                param($exe, $ready)
                $null = $ready.Wait(30000)
                Start-Sleep -Milliseconds 1000
                foreach ($i in 1..5) { & $exe -c "exit $i" }
            }
            $execJob = Start-ThreadJob -ArgumentList $exec, $env:KERNELDEBUG_MODULE_PATH, $name, $ready {
                param($o, $module, $name, $ready)
                Import-Module $module
                $ready.Signal()
                Receive-BpfEvent $o -Map events -Type event -Duration 00:00:30 | Where-Object comm -eq $name | Select-Object -First 5
            }
            # exitsnoop's struct event is only a local variable, so clang left it out of the BTF: its records come out raw
            # and are read at exitsnoop.h's offsets, as exitsnoop's own user part reads them.
            $ready.Signal()
            $exits = @(Receive-BpfEvent $exit -Map events -Duration 00:00:30 | ForEach-Object {
                    $d = [byte[]]$_.Data
                    [pscustomobject]@{
                        pid = [BitConverter]::ToUInt32($d, 16); exit_code = [BitConverter]::ToInt32($d, 32)
                        comm = [Text.Encoding]::ASCII.GetString($d, 36, 16).TrimEnd([char]0)
                    }
                } | Where-Object comm -eq $name | Select-Object -First 5)
            $execs = @($execJob | Wait-Job | Receive-Job | Where-Object comm -eq $name)
            $job | Wait-Job | Remove-Job
            $execJob | Remove-Job
            Start-Sleep -Milliseconds 500
        }
        finally {
            Remove-BpfObject $exec, $exit
            if (-not $bt.HasExited) { & kill -INT $bt.Id; if (-not $bt.WaitForExit(5000)) { $bt.Kill() } }
            $bt.WaitForExit()
            Remove-Item $exe -ErrorAction Ignore
        }
        $lines = @(Get-Content $log | Where-Object { $_ -match " $name( |$)" })
        Remove-Item $log -ErrorAction Ignore
        $btExec = @($lines | Where-Object { $_ -like 'exec *' } | ForEach-Object { [int]($_ -split ' ')[1] })
        $btExit = @($lines | Where-Object { $_ -like 'exit *' } | ForEach-Object { $f = $_ -split ' '; "$($f[1]):$($f[3])" })
        $btExec.Count | Should -Be 5
        # execsnoop: the pid and the program of each successful execve, as bpftrace saw them exec.
        ($execs.pid | Sort-Object) | Should -Be ($btExec | Sort-Object)
        $execs.args | Select-Object -Unique | Should -Be $exe
        $execs.retval | Select-Object -Unique | Should -Be 0
        # exitsnoop: the pid and exit code of each, as bpftrace read them from the task.
        (@($exits | ForEach-Object { "$($_.pid):$($_.exit_code)" }) | Sort-Object) | Should -Be ($btExit | Sort-Object)
        ($exits.exit_code | Sort-Object) | Should -Be @(1, 2, 3, 4, 5)
    }
}

Describe 'Extern variables: __kconfig and __ksym, resolved as libbpf resolves them' -Skip:(-not ($HasBpf -and $HasBpftool -and $HasPerl)) {
    BeforeAll {
        $script:Config = @{}
        if (Test-Path /proc/config.gz) {
            $gz = [IO.Compression.GZipStream]::new([IO.File]::OpenRead('/proc/config.gz'), [IO.Compression.CompressionMode]::Decompress)
            $text = [IO.StreamReader]::new($gz).ReadToEnd()
            foreach ($l in $text -split "`n") { if ($l -match '^(CONFIG_\w+)=(.*)$') { $Config[$Matches[1]] = $Matches[2] } }
        }
        $script:HasConfig = $Config.Count -gt 0
        # Loads a fixture aimed at a perl that calls getppid(2) n times, runs it, and gives its .bss, the perl's pid and
        # bpftool's translation of the first program.
        function Invoke-FixtureRun([string] $Name, [int] $Calls) {
            $perl = Start-Process perl -ArgumentList '-e', "`"sleep 1; getppid() for 1..$Calls`"" -PassThru
            $o = Import-BpfObject (Join-Path $Fixtures "$Name.bpf.o") -Constant @{ target_tgid = $perl.Id } -ErrorAction Stop
            try {
                $o.Programs | Start-BpfProgram | Out-Null
                $perl.WaitForExit()
                [pscustomobject]@{
                    Bss = (Read-BpfMap -Id ($o.Maps | Where-Object DataSection -eq '.bss').Id).Value
                    ProcessId = $perl.Id
                    Xlated = (& bpftool prog dump xlated id $o.Programs[0].Id 2>$null) -join "`n"
                }
            }
            finally { Remove-BpfObject $o; if (-not $perl.HasExited) { $perl.Kill() } }
        }
    }

    It 'fills the read-only .kconfig map from the kernel config, and a ksym from kallsyms' -Skip:(-not (Test-Path /proc/config.gz)) {
        $o = Import-BpfObject (Join-Path $Fixtures 'externs.bpf.o') -Constant @{ target_tgid = 0 } -ErrorAction Stop
        try {
            $kc = $o.Maps | Where-Object DataSection -eq '.kconfig'
            $kc | Should -Not -BeNullOrEmpty
            (Get-BpftoolMap $kc.Id).frozen | Should -Be 1
            $v = (Read-BpfMap -Id $kc.Id).Value
            $rel = ((Get-Content /proc/sys/kernel/osrelease) -split '[.-]')[0..2] | ForEach-Object { [int]($_ -replace '\D.*$', '') }
            $v.LINUX_KERNEL_VERSION | Should -Be (($rel[0] -shl 16) + ($rel[1] -shl 8) + [Math]::Min($rel[2], 255))
            $v.CONFIG_HZ | Should -Be ([int]$Config['CONFIG_HZ'])
            $v.CONFIG_BPF_SYSCALL | Should -BeTrue
            "$($v.CONFIG_EXT4_FS)" | Should -Be $(switch ($Config['CONFIG_EXT4_FS']) { 'y' { 'TRI_YES' } 'm' { 'TRI_MODULE' } default { 'TRI_NO' } })
            $v.CONFIG_KD_NO_SUCH_OPTION | Should -Be 0
            $v.CONFIG_DEFAULT_HOSTNAME | Should -Be ($Config['CONFIG_DEFAULT_HOSTNAME'].Trim('"'))
        }
        finally { Remove-BpfObject $o }
    }

    It 'the program reads them: config values, the address of schedule from kallsyms, 0 for a weak missing symbol' -Skip:(-not (Test-Path /proc/config.gz)) {
        $bss = (Invoke-FixtureRun externs 3).Bss
        $bss.out_runs | Should -Be 3
        $bss.out_hz | Should -Be ([int]$Config['CONFIG_HZ'])
        $bss.out_bpf | Should -Be 1
        $bss.out_missing | Should -Be 0
        $bss.out_no_symbol | Should -Be 0
        $schedule = (Select-String -Path /proc/kallsyms -Pattern '^([0-9a-f]+) [Tt] schedule$' | Select-Object -First 1).Matches[0].Groups[1].Value
        ('{0:x16}' -f [uint64]$bss.out_schedule) | Should -Be $schedule
        $bss.out_hostname | Should -Be ($Config['CONFIG_DEFAULT_HOSTNAME'].Trim('"'))
    }

    It 'lays out .kconfig byte for byte as libbpf does (bpftool prog loadall as the oracle)' -Skip:(-not (Test-Path /proc/config.gz)) {
        $pins = "/sys/fs/bpf/kerneldebug_test_$PID"
        New-Item -ItemType Directory "$pins/p", "$pins/m" -Force | Out-Null
        $o = $null
        try {
            & bpftool prog loadall (Join-Path $Fixtures 'externs.bpf.o') "$pins/p" pinmaps "$pins/m" 2>$null
            $LASTEXITCODE | Should -Be 0
            $theirs = (& bpftool -j map dump pinned "$pins/m/externs_kconfig" | ConvertFrom-Json)[0].value | ForEach-Object { [Convert]::ToByte($_, 16) }
            $o = Import-BpfObject (Join-Path $Fixtures 'externs.bpf.o') -ErrorAction Stop
            $ours = [byte[]](Read-BpfMap -Id ($o.Maps | Where-Object DataSection -eq '.kconfig').Id -Raw)[0].ValueBytes
            ($ours | ForEach-Object { '{0:x2}' -f $_ }) -join ' ' | Should -Be (($theirs | ForEach-Object { '{0:x2}' -f $_ }) -join ' ')
        }
        finally { if ($o) { Remove-BpfObject $o }; Remove-Item -Recurse -Force $pins -ErrorAction Ignore }
    }

    It 'passes a typed __ksym to the kernel by its BTF id: loads where kallsyms has the per-CPU variable, else the kernel''s own refusal' {
        $hasRunqueues = [bool](Select-String -Path /proc/kallsyms -Pattern ' runqueues$' -Quiet)
        if ($hasRunqueues) {
            $bss = (Invoke-FixtureRun externs_typed 1).Bss
            $bss.out_runs | Should -Be 1
            $bss.out_rq_cpu_ok | Should -Be 1
        }
        else {
            # Without CONFIG_KALLSYMS_ALL the kernel cannot find the variable's address; libbpf's load fails the same way.
            $err = $null
            try { Import-BpfObject (Join-Path $Fixtures 'externs_typed.bpf.o') -ErrorAction Stop | Remove-BpfObject } catch { $err = $_ }
            $err | Should -Not -BeNullOrEmpty
            $err.FullyQualifiedErrorId | Should -BeLike 'BpfVerifierRejected*'
            $err.Exception.Message | Should -Match "kernel symbol 'runqueues'"
        }
    }

    It 'links kfunc calls to the kernel''s functions: bpf_task_from_pid and bpf_task_release pass the verifier and run' {
        $run = Invoke-FixtureRun kfunc 3
        $run.Bss.out_runs | Should -BeGreaterThan 0
        $run.Bss.out_found | Should -Be 1
        $run.Bss.out_tgid | Should -Be $run.ProcessId
        # bpftool shows the calls as calls of the kernel functions by name.
        $run.Xlated | Should -Match 'call bpf_task_from_pid'
    }

    It 'names a strong extern the kernel does not have' {
        $e = { Import-BpfObject (Join-Path $Fixtures 'externs_missing.bpf.o') -ErrorAction Stop } | Should -Throw -ErrorId 'BpfExternNotFound,KernelDebug.Commands.ImportBpfObjectCommand' -PassThru
        $e.Exception.Message | Should -Match 'CONFIG_KD_NO_SUCH_OPTION'
        $e.CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }
}

Describe 'Maps pinned by name (LIBBPF_PIN_BY_NAME)' -Skip:(-not ($HasBpf -and $HasBpftool -and $HasPerl)) {
    BeforeAll {
        $script:Pins = "/sys/fs/bpf/kerneldebug_test_$PID"
        $script:Obj = Join-Path $Fixtures 'pinned.bpf.o'
    }
    AfterAll { Remove-Item -Recurse -Force $Pins -ErrorAction Ignore }

    It 'pins at -PinPath/name; a second load reuses the map with its contents, as libbpf does; -Unpin removes the pin' {
        $perl = Start-Process perl -ArgumentList '-e', '"sleep 1; getppid() for 1..4"' -PassThru
        $a = Import-BpfObject $Obj -PinPath $Pins -Constant @{ target_tgid = $perl.Id } -ErrorAction Stop
        try {
            $m = $a.Maps | Where-Object Name -eq 'kd_pinned_getpp'
            $m.PinPath | Should -Be "$Pins/kd_pinned_getppid_calls"
            $m.PinReused | Should -BeFalse
            (& bpftool -j map show pinned $m.PinPath | ConvertFrom-Json).id | Should -Be $m.Id
            $a.Programs | Start-BpfProgram | Out-Null
            $perl.WaitForExit()
            Remove-BpfObject $a
            Test-Path $m.PinPath | Should -BeTrue -Because 'a pinned map outlives its object'

            $perl = Start-Process perl -ArgumentList '-e', '"sleep 1; getppid() for 1..3"' -PassThru
            $b = Import-BpfObject $Obj -PinPath $Pins -Constant @{ target_tgid = $perl.Id } -ErrorAction Stop
            $mb = $b.Maps | Where-Object Name -eq 'kd_pinned_getpp'
            $mb.PinReused | Should -BeTrue
            $mb.Id | Should -Be $m.Id
            $b.Programs | Start-BpfProgram | Out-Null
            $perl.WaitForExit()
            ([BitConverter]::ToUInt64([byte[]](Read-BpfMap -Id $mb.Id -Raw)[0].ValueBytes, 0)) | Should -Be 7
            Remove-BpfObject $b -Unpin
            Test-Path $m.PinPath | Should -BeFalse
        }
        finally { foreach ($o in @($a, $b)) { if ($o -and -not $o.IsDisposed) { Remove-BpfObject $o -Unpin } } }
    }

    It 'refuses a map pinned there with another shape, naming both, and leaves it alone' {
        New-Item -ItemType Directory $Pins -Force | Out-Null
        & bpftool map create "$Pins/kd_pinned_getppid_calls" type array key 4 value 4 entries 2 name other 2>$null
        $LASTEXITCODE | Should -Be 0
        try {
            $e = { Import-BpfObject $Obj -PinPath $Pins -ErrorAction Stop } | Should -Throw -ErrorId 'BpfPinnedMapIncompatible,KernelDebug.Commands.ImportBpfObjectCommand' -PassThru
            $e.Exception.Message | Should -Match 'value 4 B, 2 entries'
            Test-Path "$Pins/kd_pinned_getppid_calls" | Should -BeTrue
        }
        finally { Remove-Item "$Pins/kd_pinned_getppid_calls" -Force -ErrorAction Ignore }
    }

    It 'says when -PinPath is not on a BPF file system, and pins nothing' {
        $dir = Join-Path ([IO.Path]::GetTempPath()) "kerneldebug_pin_$PID"
        try {
            { Import-BpfObject $Obj -PinPath $dir -ErrorAction Stop } | Should -Throw -ErrorId 'BpfPinPathInvalid,KernelDebug.Commands.ImportBpfObjectCommand'
        }
        finally { Remove-Item -Recurse -Force $dir -ErrorAction Ignore }
    }
}
