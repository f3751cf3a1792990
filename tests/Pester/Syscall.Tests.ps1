BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasStrace = [bool](Get-Command strace -ErrorAction Ignore)
    $script:CanPtrace = Test-KernelDebugCapability Ptrace
    $script:HasBusybox = Test-Path /bin/busybox
    # The -Command tests (the strace oracles among them) run for both engines; the BPF one where it works here.
    $script:Engines = @(@{ Engine = 'Ptrace' }) + @(if ([KernelDebug.Syscall.SyscallEngineSelector]::BpfWorks().Item1) { @{ Engine = 'Bpf' } })
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    # strace's lines (-o file, -f: each prefixed by the pid) as name / return / errno, unfinished and resumed joined.
    function ConvertFrom-StraceLog([string] $Path) {
        $pending = @{}
        foreach ($line in Get-Content $Path) {
            $procId = if ($line -match '^(\d+)\s+') { $Matches[1] } else { '' }
            $l = $line -replace '^\d+\s+', ''
            if ($l -match '^(.*?)\s*<unfinished \.\.\.>$') { $pending[$procId] = $Matches[1]; continue }
            if ($l -match '^<\.\.\. \w+ resumed>\s?(.*)$') {
                $rest = $Matches[1]
                $head = $pending[$procId]; $pending.Remove($procId)
                if (-not $head) { continue }
                $l = if ($head.EndsWith('(') -or $rest.StartsWith(')')) { "$head$rest" } else { "$head $rest" }
            }
            if ($l -match '^(\w+)\((.*)\)\s+= (\S+)(?: (E\w+) \(.*\))?') {
                [pscustomobject]@{ Name = $Matches[1]; Args = $Matches[2]; Return = $Matches[3]; Error = $Matches[4] }
            }
        }
    }
    function Get-ProcState([int] $Id) {
        $status = Get-Content "/proc/$Id/status" -ErrorAction Ignore
        [pscustomobject]@{
            State     = ($status | Where-Object { $_ -like 'State:*' }) -replace 'State:\s*', ''
            TracerPid = [int](@($status | Where-Object { $_ -like 'TracerPid:*' })[0] -replace 'TracerPid:\s*', '')
        }
    }
    $script:Busybox = '/bin/busybox'
    $script:Work = Join-Path ([IO.Path]::GetTempPath()) "kd-syscall-$PID"
    New-Item -ItemType Directory -Force $Work | Out-Null
}

AfterAll { Remove-Item -Recurse -Force $Work -ErrorAction Ignore }

Describe 'Get-SyscallTrace -Command (<Engine>)' -ForEach $Engines -Skip:(-not $CanPtrace) {
    It 'matches strace record by record: names, return values, errors, and open/read/close arguments' -Skip:(-not $HasStrace) {
        $log = Join-Path $Work 'cat.strace'
        & strace -f -o $log /bin/cat /etc/hostname /nonexistent-kd 2>$null | Out-Null
        $theirs = @(ConvertFrom-StraceLog $log)
        $ours = @(Get-SyscallTrace -Engine $Engine -Command /bin/cat -ArgumentList /etc/hostname, /nonexistent-kd 2>$null | Where-Object { $_ -is [KernelDebug.SyscallEvent] })
        $ours.Count | Should -BeGreaterThan 20
        ($ours.Name -join ' ') | Should -Be ($theirs.Name -join ' ')
        for ($i = 0; $i -lt $ours.Count; $i++) {
            $o = $ours[$i]; $t = $theirs[$i]
            "$($o.Name) $($o.Error)" | Should -Be "$($t.Name) $($t.Error)" -Because "record $i"
            if ($o.Name -in 'openat', 'read', 'close', 'write', 'access', 'newfstatat', 'pread64', 'exit_group') {
                $o.ReturnText | Should -Be $t.Return -Because "record $i ($($o.Name))"
            }
            if ($o.Name -in 'openat', 'close', 'read', 'write', 'access', 'newfstatat', 'pread64') {
                $o.ArgumentText | Should -Be $t.Args -Because "record $i ($($o.Name))"
            }
        }
        $open = $ours | Where-Object { $_.Name -eq 'openat' -and $_.Arguments[1].Value -eq '/nonexistent-kd' }
        $open.Error | Should -Be 'ENOENT'
        $open.ReturnValue | Should -Be -2
        $open.ErrorMessage | Should -Be 'No such file or directory'
        $open.Arguments[2].Value | Should -Be @('O_RDONLY')
        $open.Arguments.Name | Should -Be @('dfd', 'filename', 'flags')
    }

    It 'prints signal masks, signal names and flag words as strace does' -Skip:(-not $HasStrace) {
        $log = Join-Path $Work 'sh.strace'
        & strace -f -o $log /bin/sh -c '/bin/true' 2>$null
        $names = 'rt_sigprocmask', 'rt_sigaction', 'arch_prctl', 'getrandom', 'prlimit64'
        $theirs = @(ConvertFrom-StraceLog $log | Where-Object Name -in 'rt_sigprocmask')
        $ours = @(Get-SyscallTrace -Engine $Engine -Command /bin/sh -ArgumentList '-c', '/bin/true' -FollowFork -Syscall $names | Where-Object Name -in 'rt_sigprocmask')
        $theirs.Count | Should -BeGreaterThan 0
        # Parent and child interleave differently from run to run: compare the calls, not their order.
        (@($ours.ArgumentText | Sort-Object) -join "`n") | Should -Be (@($theirs.Args | Sort-Object) -join "`n")
        $arch = Get-SyscallTrace -Engine $Engine -Command /bin/cat -ArgumentList /etc/hostname -Syscall $names | Where-Object Name -in 'arch_prctl', 'prlimit64', 'getrandom', 'rt_sigaction'
        ($arch | Where-Object Name -eq 'arch_prctl')?.Arguments[0].Text | Should -BeIn @('ARCH_SET_FS', $null)
        ($arch | Where-Object Name -eq 'prlimit64').Arguments[1].Text | Should -Be 'RLIMIT_STACK'
        ($arch | Where-Object Name -eq 'getrandom').Arguments[2].Text | Should -Be 'GRND_NONBLOCK'
    }

    It 'reports the exit and the first record is the execve of the command' {
        $all = @(Get-SyscallTrace -Engine $Engine -Command /bin/true)
        $all[0].Name | Should -Be 'execve'
        $all[0].Arguments[0].Value | Should -Be '/bin/true'
        $all[-1] | Should -BeOfType KernelDebug.SyscallProcessExit
        $all[-1].ExitCode | Should -Be 0
        $all[-2].Name | Should -Be 'exit_group'
        $all[-2].ReturnText | Should -Be '?'
    }

    # Ptrace only: the BPF engine never stops the tracee, so it sees no signal delivery (it does see the death).
    It 'reports a delivered signal and the death by it, as strace does' -Skip:(-not $HasStrace -or $Engine -eq 'Bpf') {
        $all = @(Get-SyscallTrace -Engine $Engine -Command /bin/sh -ArgumentList '-c', 'kill -TERM $$')
        $sig = $all | Where-Object { $_ -is [KernelDebug.SyscallSignal] }
        $sig.Signal | Should -Be 'SIGTERM'
        $sig.Code | Should -Be 'SI_USER'
        $sig.SenderProcessId | Should -Be $all[-1].ProcessId
        $all[-1].Signal | Should -Be 'SIGTERM'
        $log = Join-Path $Work 'kill.strace'
        & strace -o $log /bin/sh -c 'kill -TERM $$' 2>$null
        (Get-Content $log) -match '^--- SIGTERM \{si_signo=SIGTERM, si_code=SI_USER' | Should -Not -BeNullOrEmpty
        "$($sig)" -replace 'si_pid=\d+', '' | Should -Be ((Get-Content $log | Where-Object { $_ -like '--- SIGTERM*' }) -replace 'si_pid=\d+', '')
    }

    It 'follows forks with -FollowFork and sees every child execve' {
        $all = @(Get-SyscallTrace -Engine $Engine -Command /bin/sh -ArgumentList '-c', '/bin/true; /bin/true; exit 3' -FollowFork -Syscall execve, exit_group)
        ($all | Where-Object { $_.Name -eq 'execve' -and $_.Arguments[0].Value -eq '/bin/true' }).Count | Should -Be 2
        $exits = $all | Where-Object { $_ -is [KernelDebug.SyscallProcessExit] }
        @($exits.ProcessId | Sort-Object -Unique).Count | Should -Be 3
        ($exits | Where-Object ProcessId -eq $all[0].ProcessId).ExitCode | Should -Be 3
    }

    It 'selects with -Syscall through a seccomp filter and finds the same calls as a full trace' {
        $full = @(Get-SyscallTrace -Engine $Engine -Command /bin/cat -ArgumentList /etc/hostname | Where-Object Name -eq 'openat')
        $only = @(Get-SyscallTrace -Engine $Engine -Command /bin/cat -ArgumentList /etc/hostname -Syscall openat)
        $events = @($only | Where-Object { $_ -is [KernelDebug.SyscallEvent] })
        $events.Count | Should -Be $full.Count
        ($events.ArgumentText -join "`n") | Should -Be ($full.ArgumentText -join "`n")
        $only[-1] | Should -BeOfType KernelDebug.SyscallProcessExit
    }

    # Ptrace only: the seccomp filter is how the ptrace engine narrows; the BPF engine filters in its own program.
    It 'installs the seccomp filter only for a narrow selection' -Skip:($Engine -eq 'Bpf') {
        $grep = (Get-Command grep -CommandType Application | Select-Object -First 1).Source
        $narrow = Get-SyscallTrace -Engine $Engine -Command $grep -ArgumentList '^Seccomp:', /proc/self/status -Syscall write -MaxStringLength 100 | Where-Object Name -eq write
        $narrow.Arguments[1].Text | Should -Be '"Seccomp:\t2\n"'
        $full = Get-SyscallTrace -Engine $Engine -Command $grep -ArgumentList '^Seccomp:', /proc/self/status -MaxStringLength 100 | Where-Object Name -eq write
        $full.Arguments[1].Text | Should -Be '"Seccomp:\t0\n"'
    }

    It 'keeps the children of a seccomp-filtered command working without -FollowFork' {
        # The filter is inherited: an untraced child would get ENOSYS for openat. Children are followed silently.
        $r = @(Get-SyscallTrace -Engine $Engine -Command /bin/sh -ArgumentList '-c', '/bin/cat /etc/hostname > /dev/null' -Syscall openat)
        $r[-1].ExitCode | Should -Be 0
        @($r.ProcessId | Sort-Object -Unique) | Should -Be @($r[0].ProcessId)
        $f = @(Get-SyscallTrace -Engine $Engine -Command /bin/sh -ArgumentList '-c', '/bin/cat /etc/hostname > /dev/null' -Syscall openat -FollowFork)
        ($f | Where-Object { $_.Name -eq 'openat' -and $_.Arguments[1].Value -eq '/etc/hostname' }).ReturnValue | Should -BeGreaterOrEqual 0
    }

    It 'takes classes, -FailedOnly and -Path' {
        $file = @(Get-SyscallTrace -Engine $Engine -Command /bin/cat -ArgumentList /etc/hostname -Syscall %file | Where-Object { $_ -is [KernelDebug.SyscallEvent] })
        $file.Name | Sort-Object -Unique | Should -Not -Contain 'read'
        $file.Name | Should -Contain 'openat'
        $failed = @(Get-SyscallTrace -Engine $Engine -Command /bin/cat -ArgumentList /nonexistent-kd -FailedOnly 2>$null | Where-Object { $_ -is [KernelDebug.SyscallEvent] })
        $failed.Count | Should -BeGreaterThan 0
        $failed | ForEach-Object { $_.Error | Should -Not -BeNullOrEmpty }
        $path = @(Get-SyscallTrace -Engine $Engine -Command /bin/cat -ArgumentList /etc/hostname -Path '/etc/host*' | Where-Object { $_ -is [KernelDebug.SyscallEvent] })
        $path.Name | Should -Be @('openat')
    }

    It 'kills and reaps a started command when stopped early' {
        $first = Get-SyscallTrace -Engine $Engine -Command /bin/sleep -ArgumentList 30 | Select-Object -First 1
        $first.Name | Should -Be 'execve'
        Start-Sleep -Milliseconds 200
        Get-Process -Id $first.ProcessId -ErrorAction Ignore | Should -BeNullOrEmpty
    }

    It 'limits strings with -MaxStringLength' {
        $w = Get-SyscallTrace -Engine $Engine -Command /bin/echo -ArgumentList 'hello world' -Syscall write -MaxStringLength 5 | Where-Object Name -eq 'write'
        $w.Arguments[1].Text | Should -Be '"hello"...'
        [Text.Encoding]::ASCII.GetString($w.Arguments[1].Value) | Should -Be 'hello'
        $w.ReturnValue | Should -Be 12
    }
}

Describe 'Measure-Syscall' -Skip:(-not $CanPtrace) {
    # A static program: the two runs happen one after the other, and a uretprobe that another session puts on libc
    # meanwhile adds uretprobe (syscall 335) calls to every dynamic program's run (and makes strace 6.1's tracee die of
    # SIGSEGV). busybox maps no libc, and its cat makes the same calls whether stdout is a pipe or a file.
    It 'counts calls and errors per syscall exactly as strace -f -c' -Skip:(-not ($HasStrace -and $HasBusybox)) {
        $log = Join-Path $Work 'c.strace'
        & strace -f -c -o $log $Busybox cat /etc/hostname /nonexistent-kd 2>$null | Out-Null
        $LASTEXITCODE | Should -Be 1 -Because 'cat fails on the missing file under strace, and nothing else happened to it'
        $theirs = @{}
        foreach ($line in Get-Content $log) {
            $f = -split $line
            if ($f.Count -ge 5 -and $f[0] -match '^\d' -and $f[-1] -ne 'total') {
                $theirs[$f[-1]] = @{ Calls = [long]$f[3]; Errors = if ($f.Count -ge 6) { [long]$f[4] } else { 0 } }
            }
        }
        $ours = @(Measure-Syscall -Command $Busybox -ArgumentList cat, /etc/hostname, /nonexistent-kd 2>$null)
        $theirs.Keys | Should -Contain 'openat'
        $theirs['openat'].Errors | Should -Be 1
        $ours.Count | Should -Be $theirs.Count
        foreach ($o in $ours) {
            $theirs.ContainsKey($o.Name) | Should -BeTrue -Because "$($o.Name) is in strace -c"
            "$($o.Name) $($o.Calls) $($o.Errors)" | Should -Be "$($o.Name) $($theirs[$o.Name].Calls) $($theirs[$o.Name].Errors)"
        }
        [math]::Round(($ours | Measure-Object Percent -Sum).Sum) | Should -Be 100
        $ours[0].PSObject.TypeNames[0] | Should -Be 'KernelDebug.SyscallSummary'
    }
}

Describe 'Get-SyscallTrace -Engine Ptrace -ProcessId' -Skip:(-not $CanPtrace) {
    BeforeEach {
        # Not a child of this pwsh (.NET reaps its own children): the loop outlives the sh that started it.
        $pidFile = Join-Path $Work 'target.pid'
        Start-Process /bin/sh -ArgumentList '-c', "`"(while :; do echo x > /dev/null; sleep 0.05; done) >/dev/null 2>&1 & echo `$! > $pidFile`"" -Wait
        $script:Target = Get-Process -Id ([int](Get-Content $pidFile))
        Start-Sleep -Milliseconds 200
    }
    AfterEach { $Target | Stop-Process -Force -ErrorAction Ignore }

    It 'refuses a child of this session with a clear reason instead of hanging' {
        $child = Start-Process /bin/sleep -ArgumentList 30 -PassThru
        try {
            { Get-SyscallTrace -Engine Ptrace -ProcessId $child.Id -ErrorAction Stop } | Should -Throw -ErrorId 'TraceeIsChildOfThisProcess,KernelDebug.Commands.GetSyscallTraceCommand'
            (Get-ProcState $child.Id).TracerPid | Should -Be 0
        }
        finally { $child | Stop-Process -Force }
    }

    It 'attaches, and after an early pipeline stop the process runs on untraced' {
        $first = @(Get-SyscallTrace -Engine Ptrace -ProcessId $Target.Id | Select-Object -First 5)
        $first.Count | Should -Be 5
        $first[0].ProcessId | Should -Be $Target.Id
        $first[0].Comm | Should -Be 'sh'
        Start-Sleep -Milliseconds 300
        $s = Get-ProcState $Target.Id
        $s.TracerPid | Should -Be 0
        $s.State | Should -Not -Match '^[tT]'
        $Target.HasExited | Should -BeFalse
    }

    It 'detaches on Ctrl+C (StopProcessing) and leaves the process running' {
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddCommand('Import-Module').AddArgument($env:KERNELDEBUG_MODULE_PATH).AddStatement().
                AddCommand('Get-SyscallTrace').AddParameter('Engine', 'Ptrace').AddParameter('ProcessId', $Target.Id)
            $out = [System.Management.Automation.PSDataCollection[psobject]]::new()
            $in = [System.Management.Automation.PSDataCollection[psobject]]::new(); $in.Complete()
            $async = $ps.BeginInvoke($in, $out)
            for ($i = 0; $i -lt 100 -and $out.Count -lt 3; $i++) { Start-Sleep -Milliseconds 100 }
            $out.Count | Should -BeGreaterOrEqual 3
            (Get-ProcState $Target.Id).TracerPid | Should -Not -Be 0
            $ps.Stop()
            # Stop() returns once the pipeline is stopping; the invocation completes just after.
            $async.AsyncWaitHandle.WaitOne(10000) | Should -BeTrue
        }
        finally { $ps.Dispose() }
        Start-Sleep -Milliseconds 300
        $s = Get-ProcState $Target.Id
        $s.TracerPid | Should -Be 0
        $s.State | Should -Not -Match '^[tT]'
        $Target.HasExited | Should -BeFalse
    }

    It 'stops after -Duration, detaches, and takes the pid from Get-Process' {
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $r = @(Get-Process -Id $Target.Id | Get-SyscallTrace -Engine Ptrace -Duration 00:00:01 -Syscall %process)
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 8
        ($r | Where-Object { $_.Name -in 'clone', 'wait4', 'execve' }).Count | Should -BeGreaterThan 0
        (Get-ProcState $Target.Id).TracerPid | Should -Be 0
        (Get-ProcState $Target.Id).State | Should -Not -Match '^[tT]'
    }

    It 'refuses a process that is already traced, naming the tracer' -Skip:(-not $HasStrace) {
        $strace = Start-Process strace -ArgumentList '-o', '/dev/null', '-p', $Target.Id -PassThru
        try {
            for ($i = 0; $i -lt 50 -and (Get-ProcState $Target.Id).TracerPid -eq 0; $i++) { Start-Sleep -Milliseconds 100 }
            { Get-SyscallTrace -Engine Ptrace -ProcessId $Target.Id -Duration 00:00:01 -ErrorAction Stop } |
                Should -Throw -ErrorId 'ProcessAlreadyTraced,KernelDebug.Commands.GetSyscallTraceCommand'
        }
        finally { $strace | Stop-Process -Force -ErrorAction Ignore; $strace.WaitForExit() }
    }

    It 'names the tracing process, not its thread, when the tracer is a thread of another process' {
        # Get-SyscallTrace traces from a thread of its own: TracerPid is that thread's id, which names no process.
        $job = Start-ThreadJob { param($m, $p) Import-Module $m; Get-SyscallTrace -Engine Ptrace -ProcessId $p -Duration 00:00:08 | Out-Null } -ArgumentList $env:KERNELDEBUG_MODULE_PATH, $Target.Id
        try {
            for ($i = 0; $i -lt 80 -and (Get-ProcState $Target.Id).TracerPid -eq 0; $i++) { Start-Sleep -Milliseconds 100 }
            $tracer = (Get-ProcState $Target.Id).TracerPid
            $tracer | Should -Not -Be 0
            $tracer | Should -Not -Be $PID -Because 'the tracing thread is not the main thread'
            $e = { Get-SyscallTrace -Engine Ptrace -ProcessId $Target.Id -Duration 00:00:01 -ErrorAction Stop } | Should -Throw -PassThru
            $e.FullyQualifiedErrorId | Should -BeLike 'ProcessAlreadyTraced*'
            $e.Exception.Message | Should -Match "already traced by process $PID \(.+\), from its thread $tracer"
        }
        finally { $job | Wait-Job -Timeout 20 | Out-Null; $job | Remove-Job -Force }
    }
}

Describe 'Bad input' {
    It 'names a command that does not exist' {
        { Get-SyscallTrace -Command /nonexistent/kd-prog -ErrorAction Stop } | Should -Throw -ErrorId 'CommandNotFound,KernelDebug.Commands.GetSyscallTraceCommand'
    }
    It 'names a pid that does not exist' {
        { Get-SyscallTrace -ProcessId 999999 -ErrorAction Stop } | Should -Throw -ErrorId 'ProcessNotFound,KernelDebug.Commands.GetSyscallTraceCommand'
    }
    It 'names an unknown syscall and suggests one' {
        $e = { Measure-Syscall -Command /bin/true -Syscall opnat -ErrorAction Stop } | Should -Throw -ErrorId 'UnknownSyscall,KernelDebug.Commands.MeasureSyscallCommand' -PassThru
        $e.Exception.Message | Should -Match "opnat"
    }
    It 'completes syscall names and classes' {
        $c = TabExpansion2 -inputScript 'Get-SyscallTrace -Syscall opena' -cursorColumn 31
        $c.CompletionMatches.CompletionText | Should -Contain 'openat'
        $c = TabExpansion2 -inputScript 'Get-SyscallTrace -Syscall %fi' -cursorColumn 29
        $c.CompletionMatches.CompletionText | Should -Contain '%file'
    }
}
