# Measure-Syscall on the Bpf engine (kd_syscount: sums in the kernel) against the Ptrace engine and strace -c -f, on a
# static C workload whose syscalls are deterministic; -CGroup on a fresh cgroup v2; -All beside a concurrent workload.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasStrace = [bool](Get-Command strace -ErrorAction Ignore)
    $script:HasGcc = [bool](Get-Command gcc -ErrorAction Ignore) -and (Test-Path "/usr/lib/$((uname -m).Trim())-linux-gnu/libc.a")
    $script:CanBpf = (Get-KernelDebugCapability MeasureSyscallEngine).Available
    $script:CanPtrace = Test-KernelDebugCapability Ptrace
    $script:Cgroup2 = (Get-Content /proc/self/mountinfo | ForEach-Object { $h, $t = $_ -split ' - '; if (($t -split ' ')[0] -eq 'cgroup2') { ($h -split ' ')[4] } }) | Select-Object -First 1
    $script:CanCgroup = $Cgroup2 -and [Environment]::UserName -eq 'root'
    $script:HasPids = [bool](Get-Content /proc/self/mountinfo | Where-Object { $_ -match ' - cgroup cgroup .*\bpids\b' })
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Work = Join-Path ([IO.Path]::GetTempPath()) "kd-syscount-$PID"
    New-Item -ItemType Directory -Force $Work | Out-Null
    # Static: no libc to map, so no uretprobe another session put on libc adds calls to the run.
    $script:Workload = Join-Path $Work 'workload'
    if (Get-Command gcc -ErrorAction Ignore) {
        & gcc -static -O2 -o $Workload (Join-Path $RepoRoot 'tests/fixtures/syscall/syscount-workload.c')
    }
    $script:Cgroup2 = (Get-Content /proc/self/mountinfo | ForEach-Object { $h, $t = $_ -split ' - '; if (($t -split ' ')[0] -eq 'cgroup2') { ($h -split ' ')[4] } }) | Select-Object -First 1

    # strace -c's table as name -> calls, errors.
    function Get-StraceCount([string[]] $Command) {
        $log = Join-Path $Work "strace-$([guid]::NewGuid()).txt"
        & strace -f -c -o $log @Command 2>$null | Out-Null
        $t = @{}
        foreach ($line in Get-Content $log) {
            $f = -split $line
            if ($f.Count -ge 5 -and $f[0] -match '^\d' -and $f[-1] -ne 'total') {
                $t[$f[-1]] = [pscustomobject]@{ Calls = [long]$f[3]; Errors = if ($f.Count -ge 6) { [long]$f[4] } else { 0 } }
            }
        }
        Remove-Item $log
        $t
    }
    function ConvertTo-Table($Rows) { $t = @{}; foreach ($r in $Rows) { $t[$r.Name] = $r }; $t }
    function Format-Counts($Table) { ($Table.Keys | Sort-Object | ForEach-Object { "$_ $($Table[$_].Calls) $($Table[$_].Errors)" }) -join '; ' }

    # Runs Measure-Syscall in a thread job of this process (so -All must leave it out too) and waits until its programs
    # are attached; the caller starts the workload then and collects the rows with Receive-Job -Wait.
    function Start-Measure([hashtable] $Parameters) {
        $job = Start-ThreadJob -ArgumentList $env:KERNELDEBUG_MODULE_PATH, $Parameters -ScriptBlock {
            param($Module, $P)
            Import-Module $Module
            Measure-Syscall @P -Verbose
        }
        $deadline = [DateTime]::UtcNow.AddSeconds(120)
        while (-not ($job.Verbose | Where-Object Message -like 'Counting:*') -and $job.State -in 'NotStarted', 'Running' -and [DateTime]::UtcNow -lt $deadline) {
            Start-Sleep -Milliseconds 100
        }
        if (-not ($job.Verbose | Where-Object Message -like 'Counting:*')) {
            $e = $job.Error | Select-Object -First 1
            Remove-Job $job -Force
            throw "Measure-Syscall did not attach: $e"
        }
        $job
    }
}

AfterAll { Remove-Item -Recurse -Force $Work -ErrorAction Ignore }

Describe 'Measure-Syscall -Engine Bpf against -Engine Ptrace and strace -c -f' -Skip:(-not ($CanBpf -and $HasGcc -and $HasStrace)) {
    It 'counts every syscall and error exactly as strace -c -f and the Ptrace engine (<Arguments>)' -ForEach @(
        @{ Arguments = @('1000') }
        @{ Arguments = @('300', '77', '3') }
    ) {
        $theirs = Get-StraceCount (@($Workload) + $Arguments)
        $bpf = ConvertTo-Table @(Measure-Syscall -Engine Bpf -Command $Workload -ArgumentList $Arguments -FollowFork)
        $n = [int]$Arguments[0]
        $forks = if ($Arguments.Count -ge 3) { [int]$Arguments[2] } else { 0 }
        # The workload's own numbers first: a count that is off shows here, against the program's source.
        $bpf['getppid'].Calls | Should -Be ($n * ($forks + 1))
        $bpf['openat'].Calls | Should -Be ([int]($n * 1.5) * ($forks + 1))
        $bpf['openat'].Errors | Should -Be ($n * ($forks + 1))
        $bpf['read'].Calls | Should -Be ([int]($n / 2) * ($forks + 1))
        $bpf['execve'].Calls | Should -Be 1 -Because 'the launched command is counted from its execve, and the launcher''s calls before it are not'
        if ($forks) { $bpf['fork'].Calls | Should -Be $forks; $bpf['sched_get_priority_max'].Calls | Should -Be (77 * ($forks + 1)) }
        # Then the whole table, name by name, against strace.
        Format-Counts $bpf | Should -Be (Format-Counts $theirs)
        if ($CanPtrace) {
            $ptrace = ConvertTo-Table @(Measure-Syscall -Engine Ptrace -Command $Workload -ArgumentList $Arguments -FollowFork)
            Format-Counts $bpf | Should -Be (Format-Counts $ptrace)
        }
    }

    It 'keeps the output type and the rows'' invariants' {
        $rows = @(Measure-Syscall -Engine Bpf -Command $Workload -ArgumentList 200)
        $rows[0].PSObject.TypeNames[0] | Should -Be 'KernelDebug.SyscallSummary'
        [math]::Round(($rows | Measure-Object Percent -Sum).Sum) | Should -Be 100
        foreach ($r in $rows) {
            $r.TotalTime | Should -BeGreaterThan ([TimeSpan]::Zero)
            $r.AverageTime.Ticks | Should -Be ([long]($r.TotalTime.Ticks / $r.Calls)) -Because 'AverageTime is TotalTime / Calls'
        }
        # Sorted by time, as strace -c.
        $times = $rows.TotalTime
        (Compare-Object $times ($times | Sort-Object -Descending) -SyncWindow 0) | Should -BeNullOrEmpty
    }

    It 'counts only the syscalls -Syscall names' {
        $rows = @(Measure-Syscall -Engine Bpf -Command $Workload -ArgumentList 100 -Syscall getppid, read)
        ($rows.Name | Sort-Object) -join ',' | Should -Be 'getppid,read'
        ($rows | Where-Object Name -eq getppid).Calls | Should -Be 100
    }

    It 'follows forks of -ProcessId in the kernel, and ends when the processes have' {
        # A shell that waits for a file, then runs the workload with two forked children; it is measured by pid.
        $go = Join-Path $Work 'go-pid'
        $p = Start-Process sh -ArgumentList '-c', "`"while [ ! -e $go ]; do sleep 0.05; done; exec $Workload 250 33 2`"" -PassThru
        try {
            $job = Start-Measure @{ Engine = 'Bpf'; ProcessId = $p.Id; FollowFork = $true }
            New-Item $go | Out-Null
            $rows = ConvertTo-Table @($job | Receive-Job -Wait -AutoRemoveJob)
            $rows['getppid'].Calls | Should -Be 750 -Because 'the process and the two children it forked made 250 each'
            $rows['sched_get_priority_max'].Calls | Should -Be 99
            $rows['fork'].Calls | Should -Be 2
        }
        finally { $p.Kill(); Remove-Item $go -ErrorAction Ignore }
    }

    It 'reports a missing pid as an error of its own' {
        $err = $null
        $rows = Measure-Syscall -Engine Bpf -ProcessId 999999999 -ErrorVariable err -ErrorAction SilentlyContinue
        $rows | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'ProcessNotFound,KernelDebug.Commands.MeasureSyscallCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }
}

Describe 'Measure-Syscall -CGroup' -Skip:(-not ($CanBpf -and $HasGcc -and $CanCgroup)) {
    BeforeAll {
        $script:Cg = Join-Path $Cgroup2 "kerneldebug_test_$PID"
        New-Item -ItemType Directory $Cg | Out-Null
    }
    AfterAll {
        # A cgroup is removed with rmdir once it has no processes (its files cannot be deleted one by one).
        if (Test-Path $Cg) {
            foreach ($p in Get-Content "$Cg/cgroup.procs" -ErrorAction Ignore) { Stop-Process -Id $p -Force -ErrorAction Ignore }
            $deadline = [DateTime]::UtcNow.AddSeconds(10)
            while ((Get-Content "$Cg/cgroup.procs" -ErrorAction Ignore) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
            [IO.Directory]::Delete($Cg)
        }
    }

    It 'counts a process in the cgroup and its children, and not one outside it' {
        $go = Join-Path $Work 'go-cg'
        # Inside: a shell moves itself into the cgroup, waits, and runs the workload (getppid x 400 in it and in one forked child).
        $in = Start-Process sh -ArgumentList '-c', "`"echo `$`$ > $Cg/cgroup.procs && while [ ! -e $go ]; do sleep 0.05; done; exec $Workload 400 0 1`"" -PassThru
        # Outside: the same program with other numbers, at the same time.
        $out = Start-Process sh -ArgumentList '-c', "`"while [ ! -e $go ]; do sleep 0.05; done; exec $Workload 300 111`"" -PassThru
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            while (-not (Get-Content "$Cg/cgroup.procs") -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
            Get-Content "$Cg/cgroup.procs" | Should -Contain $in.Id
            # A -CGroup run lasts until its -Duration (or Ctrl+C): long enough for both workloads under load.
            $job = Start-Measure @{ CGroup = $Cg; Duration = [TimeSpan]::FromSeconds(10) }
            New-Item $go | Out-Null
            $rows = ConvertTo-Table @($job | Receive-Job -Wait -AutoRemoveJob)
            $in.HasExited | Should -BeTrue
            $out.HasExited | Should -BeTrue
            $rows['getppid'].Calls | Should -Be 800 -Because 'the process in the cgroup and its forked child made 400 each'
            # (openat is not exact here: the shell's sleeps, in the cgroup too, fail a few while loading libc.)
            $rows['fork'].Calls | Should -Be 1
            $rows.ContainsKey('sched_get_priority_max') | Should -BeFalse -Because 'only the process outside the cgroup made it'
        }
        finally { $in.Kill(); $out.Kill(); Remove-Item $go -ErrorAction Ignore }
    }

    It 'takes a cgroup path as /proc/PID/cgroup shows it' {
        $rows = @(Measure-Syscall -CGroup "/kerneldebug_test_$PID" -Duration 00:00:00.2 -Verbose 4>&1)
        ($rows | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -like 'cgroup *' }).Message |
            Should -Be "cgroup $Cg`: id $(& stat -c %i $Cg), level 1."
    }

    It 'says a missing cgroup is not found' {
        $e = { Measure-Syscall -CGroup "/kerneldebug_no_such_cgroup_$PID" -Duration 00:00:01 -ErrorAction Stop } |
            Should -Throw -ErrorId 'CGroupNotFound,KernelDebug.Commands.MeasureSyscallCommand' -PassThru
        $e.CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'says a cgroup v1 directory is not cgroup v2, and where v2 is' -Skip:(-not $HasPids) {
        $v1 = (Get-Content /proc/self/mountinfo | Where-Object { $_ -match ' - cgroup cgroup .*\bpids\b' } | Select-Object -First 1) -split ' ' | Select-Object -Index 4
        $e = { Measure-Syscall -CGroup $v1 -Duration 00:00:01 -ErrorAction Stop } | Should -Throw -ErrorId 'CGroupNotVersion2,KernelDebug.Commands.MeasureSyscallCommand' -PassThru
        $e.Exception.Message | Should -Match 'cgroup v1'
        $e.Exception.Message | Should -Match ([regex]::Escape($Cgroup2))
        $e.CategoryInfo.Category | Should -Be 'InvalidArgument'
    }

    It 'says a directory outside any cgroup file system is not cgroup v2' {
        { Measure-Syscall -CGroup $Work -Duration 00:00:01 -ErrorAction Stop } | Should -Throw -ErrorId 'CGroupNotVersion2,KernelDebug.Commands.MeasureSyscallCommand'
    }
}

Describe 'Measure-Syscall -All' -Skip:(-not ($CanBpf -and $HasGcc)) {
    BeforeAll {
        Add-Type -Namespace KernelDebugTest -Name SchedPrio -MemberDefinition @'
[System.Runtime.InteropServices.DllImport("libc")] public static extern int sched_get_priority_min(int policy);
'@
    }

    It 'sees a concurrent workload, and not this PowerShell (any of its threads)' {
        $go = Join-Path $Work 'go-all'
        $w = Start-Process sh -ArgumentList '-c', "`"while [ ! -e $go ]; do sleep 0.05; done; exec $Workload 500 2222`"" -PassThru
        try {
            $job = Start-Measure @{ All = $true; Duration = [TimeSpan]::FromSeconds(8) }
            New-Item $go | Out-Null
            # This process makes a syscall nothing else here makes, 3333 times, while the run counts.
            for ($i = 0; $i -lt 3333; $i++) { [void][KernelDebugTest.SchedPrio]::sched_get_priority_min(1) }
            $rows = ConvertTo-Table @($job | Receive-Job -Wait -AutoRemoveJob)
            $w.HasExited | Should -BeTrue
            $rows['sched_get_priority_max'].Calls | Should -BeGreaterOrEqual 2222 -Because 'the concurrent workload made 2222'
            $rows['getppid'].Calls | Should -BeGreaterOrEqual 500
            $rows['openat'].Errors | Should -BeGreaterOrEqual 500
            # Other sessions' processes may call it, but not 3333 times in these seconds: this pwsh is left out.
            $mine = if ($rows.ContainsKey('sched_get_priority_min')) { $rows['sched_get_priority_min'].Calls } else { 0 }
            $mine | Should -BeLessThan 3333
        }
        finally { $w.Kill(); Remove-Item $go -ErrorAction Ignore }
    }

    It 'needs the Bpf engine' {
        $e = { Measure-Syscall -All -Engine Ptrace -Duration 00:00:01 -ErrorAction Stop } | Should -Throw -ErrorId 'BpfEngineRequired,KernelDebug.Commands.MeasureSyscallCommand' -PassThru
        $e.Exception.Message | Should -Match 'Bpf engine'
        { Measure-Syscall -CGroup / -Engine Ptrace -Duration 00:00:01 -ErrorAction Stop } | Should -Throw -ErrorId 'BpfEngineRequired,KernelDebug.Commands.MeasureSyscallCommand'
    }
}

Describe 'The MeasureSyscallEngine capability row' {
    It 'names the engine Measure-Syscall picks, and why' {
        $c = Get-KernelDebugCapability MeasureSyscallEngine
        $c.Detail | Should -Match "^Measure-Syscall runs on the $(if ($c.Available) { 'Bpf' } else { 'Ptrace' }) engine: "
        $v = @(Measure-Syscall -Command /bin/true -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -like 'Engine *' })
        $v[0].Message | Should -BeLike "Engine $(if ($c.Available) { 'Bpf' } else { 'Ptrace' }):*"
    }
}
