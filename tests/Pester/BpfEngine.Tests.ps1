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
            # Perf event arrays carry records only while their reader is open: the workload starts once both are.
            $job = Start-ThreadJob -ArgumentList $exe {
                param($exe)
                Start-Sleep -Milliseconds 2000
                foreach ($i in 1..5) { & $exe -c "exit $i" }
            }
            $execJob = Start-ThreadJob -ArgumentList $exec, $env:KERNELDEBUG_MODULE_PATH {
                param($o, $module)
                Import-Module $module
                Receive-BpfEvent $o -Map events -Type event -Duration 00:00:05
            }
            # exitsnoop's struct event is only a local variable, so clang left it out of the BTF: its records come out raw
            # and are read at exitsnoop.h's offsets, as exitsnoop's own user part reads them.
            $exits = @(Receive-BpfEvent $exit -Map events -Duration 00:00:05 | ForEach-Object {
                    $d = [byte[]]$_.Data
                    [pscustomobject]@{
                        pid = [BitConverter]::ToUInt32($d, 16); exit_code = [BitConverter]::ToInt32($d, 32)
                        comm = [Text.Encoding]::ASCII.GetString($d, 36, 16).TrimEnd([char]0)
                    }
                } | Where-Object comm -eq $name)
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
