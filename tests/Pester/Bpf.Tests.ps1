BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasBpf = Test-KernelDebugCapability Bpf
    $script:HasBpftrace = Test-KernelDebugCapability Bpftrace
    $script:HasStap = [bool](Get-Command stap -CommandType Application -ErrorAction Ignore)
    $script:HasBpftool = [bool](Get-Command bpftool -CommandType Application -ErrorAction Ignore)
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    # Runs a script in a child pwsh that imports the module, behind a launcher (setpriv, env) given as its first words.
    function Invoke-ChildPwsh([string[]] $Launcher, [string] $Script) {
        $self = [Environment]::ProcessPath
        [string[]] $pwshArgs = if ((Split-Path $self -Leaf) -eq 'dotnet') { @((Join-Path $PSHOME 'pwsh.dll')) } else { @() }
        $cmd = "Import-Module '$env:KERNELDEBUG_MODULE_PATH'; $Script"
        & $Launcher[0] @($Launcher | Select-Object -Skip 1) $self @pwshArgs -NoProfile -NonInteractive -Command $cmd 2>&1 | Out-String
    }
    function Get-BpftoolPrograms { @(& bpftool -j prog show | ConvertFrom-Json) }
    function ConvertTo-OldBpftoolText([string] $Text) {
        # bpftool before 7.4 (this host's is 7.1) predates the per-CPU address move of kernel 6.9 and prints it as a plain move.
        if ((& bpftool version | Select-Object -First 1) -match 'v7\.[0-3]\.') { $Text -replace '= &\(void __percpu \*\)\((r\d+)\)$', '= $1' } else { $Text }
    }
}

Describe 'Get-BpfProgram, Get-BpfMap, Get-BpfLink against bpftool with a live bpftrace' -Skip:(-not ($HasBpftrace -and $HasBpftool)) {
    BeforeAll {
        # bpftrace loads programs and maps and holds them while it runs: a second loader next to the xunit oracle tests.
        $before = (Get-BpftoolPrograms).id
        $psi = [System.Diagnostics.ProcessStartInfo]::new((Get-Command bpftrace -CommandType Application | Select-Object -First 1).Source)
        foreach ($a in '-e', 'tracepoint:syscalls:sys_enter_getppid { @calls[tid] = count(); } interval:s:30 { exit(); }') { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true
        $script:Bt = [System.Diagnostics.Process]::Start($psi)
        $deadline = [DateTime]::UtcNow.AddSeconds(20)
        # bpftool here reports no holder pids, so bpftrace's programs are the new ones of the types its two probes load.
        do {
            Start-Sleep -Milliseconds 200
            $script:Theirs = @(Get-BpftoolPrograms | Where-Object { $_.id -notin $before -and $_.type -in 'tracepoint', 'perf_event' -and $_.map_ids })
        } until ($Theirs.Count -ge 2 -or [DateTime]::UtcNow -gt $deadline)
    }
    AfterAll {
        if ($Bt -and -not $Bt.HasExited) { $Bt.Kill($true); $Bt.WaitForExit() }
    }

    It 'sees the programs bpftrace loaded, with bpftool''s ids, types, names and tags' {
        $Theirs.Count | Should -BeGreaterOrEqual 2
        foreach ($t in $Theirs) {
            $p = Get-BpfProgram -Id $t.id
            $p.Type | Should -Be $t.type
            $p.Name | Should -Be $t.name
            $p.Tag | Should -Be $t.tag
            $p.XlatedSize | Should -Be $t.bytes_xlated
            $p.ProcessIds | Should -Contain $Bt.Id
            @($p.MapIds) | Should -Be @($t.map_ids | Where-Object { $_ })
        }
    }

    It 'lists the same maps as bpftool map show' {
        $bpftoolMaps = & bpftool -j map show | ConvertFrom-Json
        $ours = Get-BpfMap
        $mine = $Theirs.map_ids | Sort-Object -Unique
        $mine.Count | Should -BeGreaterThan 0
        foreach ($m in $bpftoolMaps | Where-Object { $_.id -in $mine }) {
            $o = $ours | Where-Object Id -eq $m.id
            $o.Type | Should -Be $m.type
            $o.KeySize | Should -Be $m.bytes_key
            $o.ValueSize | Should -Be $m.bytes_value
            $o.MaxEntries | Should -Be $m.max_entries
            $o.Name | Should -Be $m.name
            $o.ProcessIds | Should -Contain $Bt.Id
        }
    }

    It 'decodes the instructions exactly as bpftool prog dump xlated' {
        foreach ($t in $Theirs) {
            $dump = & bpftool -j prog dump xlated id $t.id | ConvertFrom-Json
            (Get-BpfProgram -Id $t.id -Instructions).Instructions.Text | ForEach-Object { ConvertTo-OldBpftoolText $_ } | Should -Be $dump.disasm
        }
    }

    It 'reads the per-thread call counts bpftrace keeps, as bpftool map dump does' {
        1..3 | ForEach-Object { $null = & sh -c 'echo $PPID' }   # dash calls getppid() for $PPID
        $hash = Get-BpfMap -Id ($Theirs.map_ids | Sort-Object -Unique) | Where-Object Type -like '*hash' | Select-Object -First 1
        $hash | Should -Not -BeNullOrEmpty
        $ours = @(Read-BpfMap -Id $hash.Id)
        $dump = @(& bpftool -j map dump id $hash.Id | ConvertFrom-Json)
        $ours.Count | Should -BeGreaterThan 0
        $ours.Count | Should -Be $dump.Count
        $hex = { param($bytes) ($bytes | ForEach-Object { '0x{0:x2}' -f $_ }) -join ' ' }
        foreach ($e in $ours) {
            $match = $dump | Where-Object { ($_.key -join ' ') -eq (& $hex $e.KeyBytes) }
            $match | Should -Not -BeNullOrEmpty
            if ($hash.IsPerCpu) {
                $e.CpuValues.Count | Should -Be $match.values.Count
                for ($c = 0; $c -lt $e.CpuValues.Count; $c++) { (& $hex $e.CpuValues[$c]) | Should -Be ($match.values[$c].value -join ' ') }
            } else {
                (& $hex $e.ValueBytes) | Should -Be ($match.value -join ' ')
            }
        }
    }

    It 'pipes programs into Get-BpfMap and links into Get-BpfProgram' {
        $p = Get-BpfProgram -Id $Theirs[0].id
        (($p | Get-BpfMap).Id | Sort-Object) | Should -Be ($p.MapIds | Sort-Object)
        foreach ($l in Get-BpfLink) { ($l | Get-BpfProgram -ErrorAction SilentlyContinue).Id | Should -BeIn @($l.ProgramId, $null) }
    }

    It 'filters programs by name with a wildcard' {
        $name = $Theirs[0].name
        (Get-BpfProgram -Name "$($name.Substring(0, [Math]::Min(4, $name.Length)))*").Name | Should -Contain $name
    }

    It 'shows programs, maps and links in tables' {
        (Get-BpfProgram | Out-String) | Should -Match 'Tag'
        (Get-BpfMap | Out-String) | Should -Match 'MaxEntries'
    }
}

Describe 'Invoke-Bpftrace' -Skip:(-not $HasBpftrace) {
    It 'turns printf lines, maps, histograms and stats into objects (interval probe)' {
        $out = Invoke-Bpftrace -Expression 'interval:ms:50 { @n = count(); @h = hist(5); @l = lhist(15, 0, 100, 10); @s = stats(4); @k[1, "a"] = 3; @by["x"] = 2; printf("tick %d\n", 1); } interval:ms:400 { exit(); }'
        $lines = $out | Where-Object { $_ -is [KernelDebug.BpftraceText] }
        $lines.Count | Should -BeGreaterOrEqual 3
        $lines[0].Text | Should -Be 'tick 1'
        $lines[0].Kind | Should -Be 'printf'
        $n = $out | Where-Object { $_ -is [KernelDebug.BpftraceMap] -and $_.Name -eq '@n' }
        $n.IsScalar | Should -BeTrue
        $n.Value | Should -Be $lines.Count
        $h = $out | Where-Object { $_ -is [KernelDebug.BpftraceHistogram] -and $_.Name -eq '@h' }
        $h.Buckets.Count | Should -Be 1
        $h.Buckets[0].Min | Should -Be 4
        $h.Buckets[0].Max | Should -Be 7
        $h.Buckets[0].Range | Should -Be '[4, 8)'
        $h.Buckets[0].Count | Should -Be $lines.Count
        $h.Buckets[0].Bar | Should -Be ('@' * 52)
        ($h | Out-String) | Should -Match '\[4, 8\)\s+\d+ \|@{52}\|'
        $l = $out | Where-Object { $_ -is [KernelDebug.BpftraceHistogram] -and $_.Name -eq '@l' }
        $l.Buckets[0].Range | Should -Be '[10, 20)'
        $s = $out | Where-Object { $_ -is [KernelDebug.BpftraceStats] }
        $s.Count | Should -Be $lines.Count
        $s.Average | Should -Be 4
        $s.Total | Should -Be (4 * $lines.Count)
        $k = $out | Where-Object { $_ -is [KernelDebug.BpftraceMap] -and $_.Name -eq '@k' }
        $k.Entries[[Tuple]::Create(1, 'a')] | Should -Be 3
        ($out | Where-Object { $_ -is [KernelDebug.BpftraceMap] -and $_.Name -eq '@by' }).Entries['x'] | Should -Be 2
        # The whole stream prints as bpftrace prints it.
        $text = $out | Out-String
        $text | Should -Match "(?m)^tick 1\r?\n^tick 1$"
        $text | Should -Match "(?m)^@n: $($lines.Count)$"
        $text | Should -Match '(?m)^@k\[1, a\]: 3$'
        $text | Should -Match "(?m)^@s: count $($lines.Count), average 4, total $(4 * $lines.Count)$"
    }

    It 'types integer keys as integers (tracepoint probe, -Command)' {
        # bpftrace starts the command after attaching and ends when it exits: its execve is counted under its pid.
        $out = Invoke-Bpftrace -Expression 'tracepoint:syscalls:sys_enter_execve { @calls[pid] = count(); }' -Command true
        $m = $out | Where-Object { $_ -is [KernelDebug.BpftraceMap] -and $_.Name -eq '@calls' }
        $m.Entries.Count | Should -BeGreaterThan 0
        $m.Entries.Keys | ForEach-Object { $_ | Should -BeOfType [int] }
        $m.Entries.Values | ForEach-Object { $_ | Should -BeGreaterThan 0 }
        $first = @($m.Entries.Keys)[0]
        $m.Entries[$first] | Should -Be @($m.Entries.Values)[0] -Because 'an integer key indexes by key, not by position'
    }

    It 'ends with SIGINT after -Duration and still emits the maps' {
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $out = Invoke-Bpftrace -Expression 'tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }' -Duration 00:00:01.5
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 15
        $m = $out | Where-Object { $_ -is [KernelDebug.BpftraceMap] }
        $m.Entries.Count | Should -BeGreaterThan 0
        $m.Entries.Values | ForEach-Object { $_ | Should -BeGreaterThan 0 }
    }

    It 'traces a command through a uprobe, started with -Command' {
        $libc = (Get-Content /proc/self/maps | Where-Object { $_ -match '/libc\.so\.6$' } | Select-Object -First 1) -replace '^.* (/\S+)$', '$1'
        $out = Invoke-Bpftrace -Expression "uprobe:${libc}:clock_nanosleep /pid == cpid/ { printf(`"sleeping %d\n`", pid); }" -Command sleep -ArgumentList 0.2
        $line = $out | Where-Object { $_ -is [KernelDebug.BpftraceText] -and $_.Text -like 'sleeping *' }
        $line | Should -Not -BeNullOrEmpty
    }

    It 'follows the process given by -ProcessId and ends with it' {
        # bpftrace 0.17 resolves uprobes and USDT through -p and exits when that process exits.
        $sleeper = [System.Diagnostics.Process]::Start('/bin/sleep', '1.5')
        try {
            $sw = [System.Diagnostics.Stopwatch]::StartNew()
            $out = Invoke-Bpftrace -Expression 'interval:s:30 { printf("timeout\n"); exit(); }' -ProcessId $sleeper.Id -ErrorVariable err -ErrorAction SilentlyContinue
            $sw.Elapsed.TotalSeconds | Should -BeLessThan 20
            $err | Should -BeNullOrEmpty
            $out | Where-Object { $_ -is [KernelDebug.BpftraceText] -and $_.Text -eq 'timeout' } | Should -BeNullOrEmpty
        } finally { if (-not $sleeper.HasExited) { $sleeper.Kill() } }
    }

    It 'says why bpftrace failed when it prints no ERROR line' {
        $null = Invoke-Bpftrace -Expression 'uprobe:/usr/bin/true:no_such_function_kd { }' -ErrorVariable err -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
        $err.Count | Should -BeGreaterThan 0
        $err[-1].Exception.Message | Should -Be 'bpftrace exited with code 1: No probes to attach'
        $err[-1].FullyQualifiedErrorId | Should -BeLike 'BpftraceFailed*'
    }

    It 'reports a program error with bpftrace''s message and place' {
        $r = Invoke-Bpftrace -Expression 'BEGIN { printf("%d\n", nope); }' -ErrorVariable err -ErrorAction SilentlyContinue
        $r | Should -BeNullOrEmpty
        $err.Count | Should -Be 1
        $err[0].Exception.Message | Should -Match "Unknown identifier: 'nope'"
        $err[0].FullyQualifiedErrorId | Should -BeLike 'BpftraceProgramError*'
        $err[0].CategoryInfo.Category | Should -Be 'ParserError'
        $err[0].TargetObject.Line | Should -Be 1
        $err[0].TargetObject.Column | Should -Be 24
    }

    It 'reports a missing tracepoint as an error and leaves RLIMIT_MEMLOCK noise in verbose' {
        $null = Invoke-Bpftrace -Expression 'tracepoint:nosuch:event { }' -ErrorVariable err -ErrorAction SilentlyContinue -WarningVariable warn -WarningAction SilentlyContinue
        $err[0].Exception.Message | Should -Match 'tracepoint not found: nosuch:event'
        $warn | Where-Object { "$_" -match 'RLIMIT_MEMLOCK' } | Should -BeNullOrEmpty
    }

    It 'refuses -ArgumentList values bpftrace would split: <Value>' -ForEach @(
        @{ Value = 'a b' }, @{ Value = 'a;b' }, @{ Value = '$HOME' }, @{ Value = '*' }, @{ Value = "a`tb" }, @{ Value = '' }
    ) {
        { Invoke-Bpftrace -Expression 'BEGIN { exit(); }' -Command sleep -ArgumentList $Value -ErrorAction Stop } | Should -Throw -ErrorId 'UnsafeCommandArgument*'
    }

    It 'resolves a relative -Command path against the current location and hands the command''s output to the host' {
        # bpftrace -c needs an absolute path; the command shares bpftrace's stdout, so its lines are not bpftrace's JSON.
        Push-Location /usr
        try {
            $out = Invoke-Bpftrace -Expression 'tracepoint:syscalls:sys_enter_execve /pid == cpid/ { printf("exec %s\n", str(args->filename)); }' `
                -Command bin/echo -ArgumentList kd-relative -InformationVariable info -WarningVariable warn -WarningAction SilentlyContinue 6> $null
        } finally { Pop-Location }
        $out.Text | Should -Be 'exec /usr/bin/echo'
        "$info" | Should -Be 'kd-relative'
        $info[0].Tags | Should -Contain 'PSHOST'
        $warn | Should -BeNullOrEmpty
    }

    It 'emits join(), time(), cat() and print() output as typed text objects' {
        $out = Invoke-Bpftrace -Expression 'tracepoint:syscalls:sys_enter_execve /pid == cpid/ { join(args->argv); time("%Y\n"); cat("/proc/sys/kernel/osrelease"); print(5); print((1, "two")); exit(); }' `
            -Command /bin/echo -ArgumentList kd-join 6> $null
        $out | ForEach-Object { $_ | Should -BeOfType [KernelDebug.BpftraceText] }
        @($out.Kind) | Should -Be @('join', 'time', 'cat', 'value', 'value')
        $out[0].Text | Should -Be '/bin/echo kd-join'
        $out[1].Text | Should -Be ([DateTime]::Now.Year.ToString())
        $out[2].Text | Should -Be (Get-Content /proc/sys/kernel/osrelease)
        $out[3].Value | Should -BeOfType [int]
        $out[3].Value | Should -Be 5
        $out[4].Value | Should -Be @(1, 'two')
    }

    It 'refuses a -Duration that is not longer than zero: <Value>' -ForEach @(@{ Value = '-00:00:01' }, @{ Value = '00:00:00' }) {
        { Invoke-Bpftrace -Expression 'BEGIN { exit(); }' -Duration $Value -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidDuration*' -ExpectedMessage '-Duration must be longer than zero*'
    }

    It 'says there is no such process for a -ProcessId that does not exist (bpftrace says only ": No such process")' {
        $gone = [System.Diagnostics.Process]::Start('/bin/true'); $gone.WaitForExit()
        { Invoke-Bpftrace -Expression 'BEGIN { exit(); }' -ProcessId $gone.Id -ErrorAction Stop } | Should -Throw -ErrorId 'ProcessNotFound*' -ExpectedMessage "There is no process with id $($gone.Id)."
    }

    It 'hands the command''s stderr to the host too, not as bpftrace warnings' {
        # dd reports on stderr, which it shares with bpftrace.
        $null = Invoke-Bpftrace -Expression 'tracepoint:syscalls:sys_enter_read /pid == cpid/ { @reads = count(); }' -Command dd -ArgumentList 'if=/dev/null', 'of=/dev/null' `
            -InformationVariable info -WarningVariable warn -WarningAction SilentlyContinue 6> $null
        $warn | Should -BeNullOrEmpty
        @($info | ForEach-Object { "$_" }) | Should -Contain '0+0 records in'
    }

    It 'says which relative -Command path it did not find' {
        Push-Location ([IO.Path]::GetTempPath())
        try {
            { Invoke-Bpftrace -Expression 'BEGIN { exit(); }' -Command ./kd-no-such-program -ErrorAction Stop } |
                Should -Throw -ErrorId 'CommandNotFound*' -ExpectedMessage "*no file $(Join-Path ([IO.Path]::GetTempPath()) 'kd-no-such-program')*"
        } finally { Pop-Location }
    }

    It 'prints maps, stats and histograms exactly as bpftrace prints them' {
        # bpftrace itself (text output) is the oracle for the format view: a BEGIN-only program gives both runs the same maps.
        $program = 'BEGIN { @n = count(); @n = count(); @sum["k"] = sum(40); @avg = avg(7); @min = min(-3); @max = max(12); @st = stats(10); @st = stats(-4); ' +
            '@k[1, "x"] = count(); @k[2, "yy"] = count(); @k[2, "yy"] = count(); @neg = hist(-9); @neg = hist(0); @neg = hist(1); @neg = hist(3000); @neg = hist(3000); ' +
            '@big = hist(1500000); @big = hist(1 << 30); @lin = lhist(5, 10, 100, 10); @lin = lhist(55, 10, 100, 10); @lin = lhist(500, 10, 100, 10); ' +
            '@kilo = lhist(2048, 0, 4096, 1024); @keyed[7] = hist(100); @keyed[9] = hist(9); @lkeyed["a"] = lhist(3, 0, 10, 2); exit(); }'
        $bpftrace = (Get-Command bpftrace -CommandType Application | Select-Object -First 1).Source
        $theirs = @(& $bpftrace -e $program 2> $null | Where-Object { $_.Trim() -and $_ -notlike 'Attaching *' } | ForEach-Object { $_.TrimEnd() })
        $ours = @((Invoke-Bpftrace -Expression $program | Out-String -Width 200) -split '\r?\n' | Where-Object { $_.Trim() } | ForEach-Object { $_.TrimEnd() })
        $theirs.Count | Should -BeGreaterThan 30
        $ours | Should -Be $theirs
    }

    It 'leaves no bpftrace process behind when the pipeline stops early' {
        $before = @(Get-Process bpftrace -ErrorAction Ignore | Where-Object { $_.Parent.Id -eq $PID }).Count
        Invoke-Bpftrace -Expression 'interval:ms:20 { printf("x\n"); }' | Select-Object -First 2 | Should -HaveCount 2
        Start-Sleep -Milliseconds 500
        @(Get-Process bpftrace -ErrorAction Ignore | Where-Object { $_.Parent.Id -eq $PID }).Count | Should -Be $before
    }

    It 'turns Ctrl+C in an interactive console into SIGINT and still emits the maps' -Skip:(-not (Get-Command python3 -CommandType Application -ErrorAction Ignore)) {
        # A real terminal: python's pty runs a child pwsh, types Ctrl+C while bpftrace runs, and collects what the child printed.
        $dir = Join-Path ([IO.Path]::GetTempPath()) "kd-ctrlc-$PID"
        New-Item -ItemType Directory $dir -Force | Out-Null
        try {
            Set-Content "$dir/run.ps1" @"
Import-Module '$env:KERNELDEBUG_MODULE_PATH'
`$r = Invoke-Bpftrace -Expression 'tracepoint:raw_syscalls:sys_enter { @n = count(); }'
'GOT: ' + ((`$r | ForEach-Object { `$_.GetType().Name + '=' + `$_ }) -join ' ; ')
"@
            Set-Content "$dir/send_ctrl_c.py" @'
import os, pty, select, sys, time
argv = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out, start, sent = b"", time.time(), False
while time.time() - start < 90:
    r, _, _ = select.select([fd], [], [], 0.5)
    if r:
        try: data = os.read(fd, 4096)
        except OSError: break
        if not data: break
        out += data
    if not sent and time.time() - start > 12:
        os.write(fd, b"\x03"); sent = True
    if os.waitpid(pid, os.WNOHANG)[0]: break
sys.stdout.write(out.decode(errors="replace"))
'@
            $self = [Environment]::ProcessPath
            $pwshArgs = if ((Split-Path $self -Leaf) -eq 'dotnet') { @($self, (Join-Path $PSHOME 'pwsh.dll')) } else { @($self) }
            $text = & python3 "$dir/send_ctrl_c.py" @pwshArgs -NoProfile -File "$dir/run.ps1" | Out-String
            $text | Should -Match 'GOT: BpftraceMap=@n: \d+'
        } finally { Remove-Item $dir -Recurse -Force }
    }

    It 'runs a program from a file' {
        $f = Join-Path ([IO.Path]::GetTempPath()) "kd-$PID.bt"
        Set-Content $f 'BEGIN { printf("from file\n"); exit(); }'
        try { (Invoke-Bpftrace -Path $f).Text | Should -Be 'from file' } finally { Remove-Item $f }
    }
}

Describe 'Invoke-SystemTap' -Skip:(-not $HasStap) {
    It 'parses a script at stage 1 and emits the parse tree' {
        $out = Invoke-SystemTap -Stage 1 -Script 'probe begin { printf("hi\n"); exit() }'
        $out[0] | Should -BeOfType [KernelDebug.SystemTapOutput]
        $out.Text | Should -Contain '# parse tree dump'
        ($out.Text -join "`n") | Should -Match 'probe begin'
        $out[0].Stage | Should -Be 1
    }

    It 'reports a <Kind> (stage <Stage>) with file, line and column' -ForEach @(
        @{ Stage = 1; Kind = 'parse error'; Source = "probe begin {`n  x = `n}"; Line = 3; Column = 1; Message = '^expected literal string or number' }
        @{ Stage = 2; Kind = 'semantic error'; Source = "probe begin {`n  nosuchfn(1)`n}"; Line = 2; Column = 3; Message = '^unresolved function nosuchfn' }
    ) {
        $f = Join-Path ([IO.Path]::GetTempPath()) "kd-$PID.stp"
        Set-Content $f $Source
        try {
            $null = Invoke-SystemTap -Stage $Stage -Path $f -ErrorVariable err -ErrorAction SilentlyContinue
            $err.Count | Should -Be 1
            $err[0].TargetObject.Kind | Should -Be $Kind
            $err[0].TargetObject.Message | Should -Match $Message
            ($err[0].TargetObject.File, $err[0].TargetObject.Line, $err[0].TargetObject.Column) | Should -Be @($f, $Line, $Column)
            $err[0].Exception.Message | Should -Match ([regex]::Escape("${f}:${Line}:${Column}: $Kind"))
            $err[0].CategoryInfo.Category | Should -Be 'ParserError'
            $err[0].FullyQualifiedErrorId | Should -BeLike 'SystemTapScriptError*'
            $err[0].ErrorDetails.RecommendedAction | Should -BeNullOrEmpty -Because 'the mistake is the script''s own'
        } finally { Remove-Item $f }
    }

    It 'refuses command arguments stap''s wordexp would expand or hand to a shell: <Value>' -ForEach @(
        @{ Value = 'a|b' }, @{ Value = '$(id)' }, @{ Value = '`id`' }, @{ Value = '~' }, @{ Value = '{a,b}' }, @{ Value = 'a>b' }
    ) {
        { Invoke-SystemTap -Stage 1 -Script 'probe begin { exit() }' -Command sleep -ArgumentList $Value -ErrorAction Stop } | Should -Throw -ErrorId 'UnsafeCommandArgument*'
    }

    It 'refuses a -Duration that is not longer than zero' {
        { Invoke-SystemTap -Stage 1 -Script 'probe begin { exit() }' -Duration -00:00:01 -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidDuration*'
    }

    It 'leaves no stub build tree behind' {
        $null = Invoke-SystemTap -Stage 1 -Script 'probe begin { exit() }'
        Get-ChildItem ([IO.Path]::GetTempPath()) -Filter "kerneldebug_${PID}_stap_*" | Should -BeNullOrEmpty
    }

    It 'explains what stages 4 and 5 need when headers are missing: stage <Stage>' -Skip:(Test-KernelDebugCapability SystemTap) -ForEach @(@{ Stage = 4 }, @{ Stage = 5 }) {
        { Invoke-SystemTap -Stage $Stage -Script 'probe begin { exit() }' -ErrorAction Stop } |
            Should -Throw -ErrorId 'SystemTapHeadersMissing*' -ExpectedMessage "SystemTap stage $Stage needs the kernel headers for *; only stages 1-3 (parse, elaborate, translate) run without them."
    }

    It 'elaborates (stage 2) and translates (stage 3) a script that needs no kernel debug info' {
        $two = Invoke-SystemTap -Stage 2 -Script 'probe begin { printf("hi\n"); exit() }'
        $two | ForEach-Object { $_.Stage | Should -Be 2 }
        $two.Text | Should -Contain '# probes'
        $two.Text | Should -Contain 'begin /* <- begin */'
        $three = Invoke-SystemTap -Stage 3 -Script 'probe begin { printf("hi\n"); exit() }'
        $three.Text | Should -Contain 'MODULE_LICENSE("GPL");'
        Get-ChildItem ([IO.Path]::GetTempPath()) -Filter "kerneldebug_${PID}_stap_*" | Should -BeNullOrEmpty
    }

    It 'says a kernel probe point needs the headers and debug info it lacks' -Skip:(Test-KernelDebugCapability SystemTap) {
        $null = Invoke-SystemTap -Stage 2 -Script 'probe syscall.openat { printf("x") }' -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -BeGreaterThan 0
        $err[0].TargetObject.Kind | Should -Be 'semantic error'
        $err[0].TargetObject.Column | Should -Be 7
        $err[0].ErrorDetails.RecommendedAction | Should -Match 'kernel probe points .* cannot be resolved here: install linux-headers-'
    }

    It 'runs a script at stage 5' -Skip:(-not (Test-KernelDebugCapability SystemTap)) {
        (Invoke-SystemTap -Script 'probe begin { printf("live\n"); exit() }').Text | Should -Be 'live'
    }
}

Describe 'Bpf capability details' {
    It 'names the bpf capabilities of this process from CapEff' {
        $c = Get-KernelDebugCapability -Name Bpf
        $c.Detail | Should -Match 'CapEff 0x[0-9a-f]+'
        $eff = [Convert]::ToUInt64(((Get-Content /proc/self/status | Where-Object { $_ -like 'CapEff:*' }) -split '\s+')[1], 16)
        if ($eff -band (1 -shl 21)) { $c.Detail | Should -Match 'CAP_SYS_ADMIN' }
    }

    It 'says which capabilities are missing when CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN are dropped' -Skip:(-not (Get-Command setpriv -CommandType Application -ErrorAction Ignore) -or [Environment]::UserName -ne 'root') {
        $drop = '-bpf,-perfmon,-sys_admin'
        $out = Invoke-ChildPwsh @('setpriv', "--inh-caps=$drop", "--bounding-set=$drop", '--') (
            "`$c = Get-KernelDebugCapability -Name Bpf, Bpftrace; `$c | ForEach-Object { 'CAP ' + `$_.Name + ' ' + `$_.Available + ' | ' + `$_.Detail + ' | ' + `$_.Remedy }; " +
            "try { Get-BpfProgram -ErrorAction Stop } catch { 'ERR ' + `$_.FullyQualifiedErrorId + ' | ' + `$_.Exception.Message + ' | ' + `$_.ErrorDetails.RecommendedAction }")
        $out | Should -Match 'CAP Bpf False \| the bpf\(\) syscall refused BPF_PROG_GET_NEXT_ID with EPERM'
        $out | Should -Match 'missing CAP_BPF, CAP_PERFMON: loading tracing programs needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN'
        $out | Should -Match 'Run as root, or grant CAP_BPF and CAP_PERFMON'
        $out | Should -Match 'CAP Bpftrace False \| /usr/bin/bpftrace: bpftrace v[\d.]+; but the bpf\(\) syscall refused'
        $out | Should -Match 'ERR [^|]*\| .*EPERM'
    }

    It 'says bpftrace is missing when it is not on PATH, and Invoke-Bpftrace says how to install it' {
        $out = Invoke-ChildPwsh @('env', 'PATH=/nonexistent') (
            "`$c = Get-KernelDebugCapability -Name Bpftrace; 'CAP ' + `$c.Available + ' | ' + `$c.Detail + ' | ' + `$c.Remedy; " +
            "try { Invoke-Bpftrace -Expression 'BEGIN { exit(); }' -ErrorAction Stop } catch { 'ERR ' + `$_.FullyQualifiedErrorId + ' | ' + `$_.CategoryInfo.Category }")
        $out | Should -Match 'CAP False \| bpftrace is not on PATH \| Install it: apt-get install bpftrace'
        $out | Should -Match 'ERR BpftraceNotFound,KernelDebug.Commands.InvokeBpftraceCommand \| NotInstalled'
    }

    It 'names the lockdown mode the Lockdown probe finds' {
        $lockdown = Get-KernelDebugCapability -Name Lockdown
        $bpf = Get-KernelDebugCapability -Name Bpf
        if ($lockdown.Available) { $bpf.Detail | Should -Not -Match 'lockdown=' }
        else {
            $mode = [regex]::Match($lockdown.Detail, 'locked down in (\w+) mode').Groups[1].Value
            $mode | Should -BeIn 'integrity', 'confidentiality'
            $bpf.Detail | Should -Match "lockdown=${mode}: "
        }
    }

    It 'says what SystemTap lacks beyond stage 3' -Skip:(-not $HasStap) {
        $c = Get-KernelDebugCapability -Name SystemTap
        $release = (Get-Content /proc/sys/kernel/osrelease).Trim()
        if (-not (Test-Path "/lib/modules/$release/build")) {
            $c.Available | Should -BeFalse
            $c.Detail | Should -Match ([regex]::Escape("the kernel headers for $release are missing (/lib/modules/$release/build does not exist), so scripts can only be parsed, elaborated and translated (stages 1-3"))
            $c.Detail | Should -Match ([regex]::Escape('compiling and running them (stages 4-5) needs the headers'))
            $c.Remedy | Should -Match "linux-headers-$([regex]::Escape($release))"
        } elseif (-not $c.Available) { $c.Detail | Should -Match 'no kernel debug info' }
    }

    It 'says which bpftrace probe types work here, as bpftrace --info and kprobe_events tell' -Skip:(-not $HasBpftrace) {
        $c = Get-KernelDebugCapability -Name Bpftrace
        if (-not (Test-Path "$TraceFs/kprobe_events")) { $c.Detail | Should -Match 'kprobe probes will fail \(the kernel was built without CONFIG_KPROBES' }
        else { $c.Detail | Should -Not -Match 'kprobe probes will fail' }
        # bpftrace's own feature report is the oracle for the other probe types.
        $info = & (Get-Command bpftrace -CommandType Application | Select-Object -First 1).Source --info 2>&1 | Out-String
        $no = @([regex]::Match($info, '(?ms)^Probe types\r?\n(.*?)(\r?\n\S|\z)').Groups[1].Value -split '\r?\n' |
            Where-Object { $_ -match '^\s+(\S+): no\s*$' } | ForEach-Object { $Matches[1] } | Where-Object { $_ -ne 'kprobe' })
        if ($no) { $c.Detail | Should -Match ([regex]::Escape("bpftrace --info finds no support for $($no -join ', ') probes")) }
        if ($no -contains 'kfunc') {
            # And it is so: a kfunc probe fails with bpftrace's reason.
            $null = Invoke-Bpftrace -Expression 'kfunc:vfs_read { exit(); }' -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].Exception.Message | Should -Match 'kfunc/kretfunc not available'
        }
    }
}
