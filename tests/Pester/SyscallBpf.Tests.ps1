# Get-SyscallTrace's BPF engine against its ptrace engine, call by call, and its loss accounting.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:CanBpf = [KernelDebug.Syscall.SyscallEngineSelector]::BpfWorks().Item1
    $script:CanPtrace = Test-KernelDebugCapability Ptrace
    $script:HasGcc = [bool](Get-Command gcc -CommandType Application -ErrorAction Ignore)
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Work = Join-Path ([IO.Path]::GetTempPath()) "kd-syscallbpf-$PID"
    New-Item -ItemType Directory -Force $Work | Out-Null

    # One run's calls as comparable lines, per process. What differs from run to run for reasons that are not the
    # engine is normalised (and only that):
    #  - process and thread ids (a fresh pid each run) -> PID;
    #  - addresses: ASLR places mappings, stacks and heaps anew each run -> 0xADDR;
    #  - getrandom's bytes;
    #  - the client's ephemeral port on loopback -> htons(EPHEMERAL) (the server port is fixed).
    # Processes are compared as a set of sequences: which child runs first after a fork is the scheduler's choice.
    function ConvertTo-CallLines($Records, [int] $ServerPort = 0) {
        $events = @($Records | Where-Object { $_ -is [KernelDebug.SyscallEvent] })
        $ids = @($events.ProcessId) + @($events.ThreadId) | Sort-Object -Unique -Descending
        $byProcess = [ordered]@{}
        foreach ($e in $events) {
            $line = "$e"
            foreach ($id in $ids) { $line = $line -replace "\b$id\b", 'PID' }
            $line = $line -replace '0x[0-9a-f]{5,}', '0xADDR'
            $line = $line -replace '^getrandom\(".*?"(\.\.\.)?, ', 'getrandom(RANDOM, '
            $line = $line -replace 'htons\((\d+)\)', { if ([int]$_.Groups[1].Value -eq $ServerPort) { $_.Value } else { 'htons(EPHEMERAL)' } }
            $key = "p$($e.ProcessId)"
            if (-not $byProcess.Contains($key)) { $byProcess[$key] = [Collections.Generic.List[string]]::new() }
            $byProcess[$key].Add($line)
        }
        , @($byProcess.Values | ForEach-Object { $_ -join "`n" } | Sort-Object)
    }

    function Compare-Engines([string] $Command, [string[]] $Arguments, [int] $ServerPort = 0, [switch] $FollowFork) {
        $p = @(Get-SyscallTrace -Engine Ptrace -Command $Command -ArgumentList $Arguments -FollowFork:$FollowFork -DiscardOutput)
        $b = @(Get-SyscallTrace -Engine Bpf -Command $Command -ArgumentList $Arguments -FollowFork:$FollowFork -DiscardOutput)
        $pl = ConvertTo-CallLines $p $ServerPort
        $bl = ConvertTo-CallLines $b $ServerPort
        [pscustomobject]@{ Ptrace = $p; Bpf = $b; PtraceLines = $pl; BpfLines = $bl }
    }

    function Assert-SameCalls($r, [string] $Ignore) {
        $r.BpfLines.Count | Should -Be $r.PtraceLines.Count -Because 'both engines see the same processes'
        for ($i = 0; $i -lt $r.PtraceLines.Count; $i++) {
            $pp = @($r.PtraceLines[$i] -split "`n" | Where-Object { -not $Ignore -or $_ -notmatch $Ignore })
            $bb = @($r.BpfLines[$i] -split "`n" | Where-Object { -not $Ignore -or $_ -notmatch $Ignore })
            for ($j = 0; $j -lt [Math]::Max($pp.Count, $bb.Count); $j++) {
                $bb[$j] | Should -Be $pp[$j] -Because "process $i, call $j"
            }
        }
    }
}

AfterAll { Remove-Item -Recurse -Force $Work -ErrorAction Ignore }

Describe 'Get-SyscallTrace -Engine Bpf equals -Engine Ptrace, call by call' -Skip:(-not ($CanBpf -and $CanPtrace)) {
    It 'cat: the same calls, arguments (paths, read buffers, struct stat) and return values' {
        $r = Compare-Engines /bin/cat @('/etc/hostname', '/nonexistent-kd')
        @($r.Bpf | Where-Object { $_ -is [KernelDebug.SyscallEvent] }).Count | Should -BeGreaterThan 20
        Assert-SameCalls $r
        $open = $r.Bpf | Where-Object { $_.Name -eq 'openat' -and $_.Arguments[1].Value -eq '/nonexistent-kd' }
        $open.Error | Should -Be 'ENOENT'
        $read = $r.Bpf | Where-Object { $_.Name -eq 'read' -and $_.ReturnValue -gt 0 } | Select-Object -Last 1
        [Text.Encoding]::ASCII.GetString($read.Arguments[1].Value) | Should -Be ((Get-Content -Raw /etc/hostname).Substring(0, [Math]::Min(32, (Get-Content -Raw /etc/hostname).Length)))
        $r.Bpf[0].Name | Should -Be 'execve'
        $r.Bpf[-1] | Should -BeOfType KernelDebug.SyscallProcessExit
        $r.Bpf[-1].ExitCode | Should -Be 1
    }

    It 'ls -la: directory listing, statx/newfstatat, getdents64 and writes' {
        $dir = Join-Path $Work 'ls'
        New-Item -ItemType Directory -Force $dir | Out-Null
        'a' | Set-Content (Join-Path $dir 'one'); 'bb' | Set-Content (Join-Path $dir 'two')
        $r = Compare-Engines /bin/ls @('-la', $dir)
        Assert-SameCalls $r
        ($r.Bpf | Where-Object Name -eq 'getdents64').Count | Should -BeGreaterThan 0
    }

    It 'a forking shell with a pipe (-FollowFork): every process, its execve and pipe fds' {
        $r = Compare-Engines /bin/sh @('-c', 'cat /etc/hostname | wc -c; /bin/true') -FollowFork
        # Ordering only: the shell's wait4 returns whichever child ended first (pids are normalised, so it compares equal).
        # When SIGCHLD arrives decides whether the shell polls (wait4 WNOHANG), blocks in wait4 or returns through its
        # handler (rt_sigreturn): those calls are left out, the rest must be the same in both engines.
        $r.PtraceLines.Count | Should -BeGreaterOrEqual 3
        Assert-SameCalls $r -Ignore '^(wait4|rt_sigreturn)\('
        @(($r.Bpf | Where-Object { $_.Name -eq 'pipe2' } | Select-Object -First 1).Arguments[0].Value).Count | Should -Be 2
        @($r.Bpf | Where-Object { $_.Name -eq 'execve' -and -not $_.Error } | ForEach-Object { $_.Arguments[0].Value }) | Should -Contain '/usr/bin/wc'
    }

    It 'a loopback network program: sockaddrs in and out, send/recv buffers' -Skip:(-not $HasGcc) {
        $exe = Join-Path $Work 'loopback'
        & gcc -O1 -o $exe (Join-Path $PSScriptRoot '../fixtures/syscall/loopback.c')
        $LASTEXITCODE | Should -Be 0
        $port = Get-Random -Minimum 20000 -Maximum 30000
        $r = Compare-Engines $exe @("$port") -ServerPort $port
        Assert-SameCalls $r
        $b = $r.Bpf | Where-Object { $_ -is [KernelDebug.SyscallEvent] }
        ($b | Where-Object Name -eq 'connect').Arguments[1].Text | Should -Be "{sa_family=AF_INET, sin_port=htons($port), sin_addr=inet_addr(`"127.0.0.1`")}"
        ($b | Where-Object Name -eq 'accept').Arguments[1].Value.Address.ToString() | Should -Be '127.0.0.1'
        (@($b | Where-Object Name -eq 'recvfrom')[0]).Arguments[1].Text | Should -Be '"hello"'
        (@($b | Where-Object Name -eq 'recvfrom')[1]).Arguments[4].Value.Address.ToString() | Should -Be '127.0.0.1'
        $r.Bpf[-1].ExitCode | Should -Be 0
    }
}

Describe 'Get-SyscallTrace -Engine Bpf' -Skip:(-not $CanBpf) {
    It 'filters in the kernel: -Syscall classes, -FailedOnly, -SuccessfulOnly' {
        $file = @(Get-SyscallTrace -Engine Bpf -Command /bin/cat -ArgumentList /etc/hostname, /nonexistent-kd -Syscall %file -DiscardOutput 2>$null | Where-Object { $_ -is [KernelDebug.SyscallEvent] })
        $file.Name | Should -Not -Contain 'read'
        $file.Name | Should -Contain 'openat'
        $failed = @(Get-SyscallTrace -Engine Bpf -Command /bin/cat -ArgumentList /nonexistent-kd -Failed -DiscardOutput 2>$null)
        $failed.Count | Should -BeGreaterThan 0
        $failed | ForEach-Object { $_.Error | Should -Not -BeNullOrEmpty }
        $ok = @(Get-SyscallTrace -Engine Bpf -Command /bin/cat -ArgumentList /nonexistent-kd -Successful -DiscardOutput 2>$null | Where-Object { $_ -is [KernelDebug.SyscallEvent] })
        $ok.Count | Should -BeGreaterThan 10
        $ok | Where-Object { $_.Error -and $_.ReturnText -ne '?' } | Should -BeNullOrEmpty
    }

    It 'follows forks of a -ProcessId target in the kernel and ends when they ended' {
        $sh = Get-Command sh -CommandType Application | Select-Object -First 1
        # Not a child of this pwsh (its SIGCHLD handling does not matter to BPF, but keep the target independent).
        $marker = Join-Path $Work 'go'
        $script = Join-Path $Work 'wait.sh'
        "while [ ! -e $marker ]; do sleep 0.05; done; /bin/true; /bin/true" | Set-Content $script
        $p = Start-Process -FilePath $sh.Source -ArgumentList $script -PassThru
        try {
            $job = Start-ThreadJob { param($m, $id) Import-Module $m; Get-SyscallTrace -Engine Bpf -ProcessId $id -FollowFork -Syscall execve, exit_group -Duration 00:00:30 } -ArgumentList $env:KERNELDEBUG_MODULE_PATH, $p.Id
            # The job runs in this process: its programs are attached once kd_syscalls is in the session (and a moment more).
            $deadline = (Get-Date).AddSeconds(60)
            while (-not ([KernelDebug.Bpf.BpfObject]::Session | Where-Object { $_.Name -eq 'kd_syscalls' -and ($_.Programs | Where-Object IsAttached).Count -eq 4 }) -and (Get-Date) -lt $deadline) { Start-Sleep -Milliseconds 100 }
            New-Item -ItemType File $marker | Out-Null
            $all = @($job | Wait-Job -Timeout 40 | Receive-Job)
            ($all | Where-Object { $_.Name -eq 'execve' -and $_.Arguments[0].Value -eq '/bin/true' }).Count | Should -Be 2
            ($all | Where-Object { $_ -is [KernelDebug.SyscallProcessExit] -and $_.ProcessId -eq $p.Id }).ExitCode | Should -Be 0
            $job.State | Should -Be 'Completed'
        }
        finally { $p | Stop-Process -ErrorAction Ignore; $job | Remove-Job -Force -ErrorAction Ignore }
    }

    It 'counts records lost to a full ring buffer, warns, and fails with -MaxLostEvents' {
        # A 64 KiB buffer and a consumer held up by a slow pipeline: dd's calls overflow it.
        $warn = $null
        $caught = $null
        $n = 0
        try {
            Get-SyscallTrace -Engine Bpf -BufferSize 65536 -MaxLostEvents 0 -Command /bin/dd -ArgumentList 'if=/dev/zero', 'of=/dev/null', 'bs=1', 'count=200000' -DiscardOutput -WarningVariable warn -WarningAction SilentlyContinue |
                ForEach-Object { $n++ }
        }
        catch { $caught = $_ }
        "$warn" | Should -Match 'lost to a full BPF ring buffer'
        $caught.FullyQualifiedErrorId | Should -Be 'SyscallEventsLost,KernelDebug.Commands.GetSyscallTraceCommand'
        $n | Should -BeLessThan 400000
        # Without -MaxLostEvents the loss is a warning and the records that came through are output.
        $warn = $null
        $m = (Get-SyscallTrace -Engine Bpf -BufferSize 65536 -Command /bin/dd -ArgumentList 'if=/dev/zero', 'of=/dev/null', 'bs=1', 'count=200000' -DiscardOutput -WarningVariable warn -WarningAction SilentlyContinue | Measure-Object).Count
        "$warn" | Should -Match 'lost to a full BPF ring buffer'
        $m | Should -BeGreaterThan 0
    }

    It 'loses nothing with the default buffer on dd''s 1M calls' {
        $warn = $null
        $count = (Get-SyscallTrace -Engine Bpf -MaxLostEvents 0 -Command /bin/dd -ArgumentList 'if=/dev/zero', 'of=/dev/null', 'bs=1', 'count=500000' -DiscardOutput -Syscall read, write -WarningVariable warn | Measure-Object).Count
        $warn | Should -BeNullOrEmpty
        # 500000 reads and writes of one byte, plus dd's few of its own (locale files, the summary on stderr).
        $count | Should -BeGreaterOrEqual 1000000
        $count | Should -BeLessThan 1000100
    }

    It 'says which engine runs in Get-KernelDebugCapability' {
        $row = Get-KernelDebugCapability -Name SyscallEngine
        $row.Detail | Should -Match 'Bpf engine by default'
        (Get-SyscallTrace -Command /bin/true -Verbose 4>&1 | Where-Object { $_ -is [Management.Automation.VerboseRecord] } | Select-Object -First 1).Message | Should -Match '^Syscall engine: Bpf'
        (Get-SyscallTrace -Command /bin/true -Engine Ptrace -Verbose 4>&1 | Where-Object { $_ -is [Management.Automation.VerboseRecord] } | Select-Object -First 1).Message | Should -Match '^Syscall engine: Ptrace'
    }
}
