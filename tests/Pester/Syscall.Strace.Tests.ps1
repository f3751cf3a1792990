# strace's -e inject=, -y / -yy and -k on the ptrace engine, with strace as the oracle.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:HasStrace = [bool](Get-Command strace -ErrorAction Ignore)
    $script:CanPtrace = Test-KernelDebugCapability Ptrace
    # The system python itself, not a version manager's shim script (which would run bash first).
    $script:HasPython = Test-Path /usr/bin/python3
    $script:HasGcc = [bool](Get-Command gcc -ErrorAction Ignore)
    $script:IsX64 = [System.Runtime.InteropServices.RuntimeInformation]::ProcessArchitecture -eq 'X64'
    # strace -k needs a strace built with libdw or libunwind; its -h lists -k only then.
    $script:StraceHasK = $HasStrace -and ((& strace -h 2>&1) -join "`n") -match '(?m)^\s+-k'
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    # strace's lines (-o file) as name / args / return / errno / injected.
    function ConvertFrom-StraceLog([string] $Path) {
        foreach ($l in Get-Content $Path) {
            if ($l -match '^(\w+)\((.*)\)\s+= (\S+)(?: (E\w+) \([^)]*\))?( \(INJECTED\))?$') {
                [pscustomobject]@{ Name = $Matches[1]; Args = $Matches[2]; Return = $Matches[3]; Error = $Matches[4]; Injected = [bool]$Matches[5] }
            }
        }
    }
    # Ports and inodes differ from run to run; the shape of the text must not.
    function Format-Unstable([string] $Text) {
        $Text -replace '\[\d+(->\d+)?\]', '[I]' -replace ':\[(\d+\.\d+\.\d+\.\d+):\d+', ':[$1:P' -replace '->(\d+\.\d+\.\d+\.\d+):\d+', '->$1:P' -replace 'htons\(\d+\)', 'htons(P)' -replace '\[\d+\]', '[I]' -replace 'IPPROTO_IP\)', '0)'
    }
    $script:Work = Join-Path ([IO.Path]::GetTempPath()) "kd-strace-$PID"
    New-Item -ItemType Directory -Force $Work | Out-Null
    foreach ($n in 'a', 'b', 'c') { Set-Content -Path (Join-Path $Work $n) -Value $n }
    $script:Cat = (Get-Command cat -CommandType Application | Select-Object -First 1).Source
    $script:Python = '/usr/bin/python3'
    # A loopback TCP conversation: listen, connect, accept, send, receive, close.
    $script:SocketProgram = 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));s.listen();c=socket.create_connection(s.getsockname());a,_=s.accept();c.send(b"x");a.recv(1);a.close();c.close();s.close()'
}

AfterAll { Remove-Item -Recurse -Force $Work -ErrorAction Ignore }

Describe 'Get-SyscallTrace -Inject' -Skip:(-not $CanPtrace -or -not $IsX64) {
    It 'fails openat from the <When> call on as strace -e inject=openat:error=ENOENT:when=<When> does: same calls, same stderr' -Skip:(-not $HasStrace) -ForEach @(
        @{ When = '2+' }, @{ When = '4+' }, @{ When = '3+2' }
    ) {
        Push-Location $Work
        try {
            $log = Join-Path $Work "inject$($When -replace '\W', '_').strace"
            $theirErr = Join-Path $Work 'their.err'
            & strace -o $log -e trace=openat -e "inject=openat:error=ENOENT:when=$When" $Cat a b c 2>$theirErr | Out-Null
            $theirs = @(ConvertFrom-StraceLog $log)
            $ourErr = Join-Path $Work 'our.err'
            $ours = @(Get-SyscallTrace -Command $Cat -ArgumentList a, b, c -Syscall openat -DiscardOutput -RedirectStandardError $ourErr `
                    -Inject @{ Syscall = 'openat'; Error = 'ENOENT'; When = $When } | Where-Object { $_ -is [KernelDebug.SyscallEvent] })
            $theirs.Count | Should -BeGreaterThan 1
            ($ours | ForEach-Object { "$($_.ArgumentText) = $($_.ReturnText) $($_.Error) $($_.Injected)" }) -join "`n" |
                Should -Be (($theirs | ForEach-Object { "$($_.Args) = $($_.Return) $($_.Error) $($_.Injected)" }) -join "`n")
            @($ours | Where-Object Injected).Count | Should -BeGreaterThan 0
            ($ours | Where-Object Injected)[0].ToString() | Should -BeLike '* = -1 ENOENT (No such file or directory) (INJECTED)'
            # The program saw the faults: its messages are strace's run's, bar the program name it was started as.
            ((Get-Content $ourErr) -replace '^[^:]*: ', '') -join "`n" | Should -Be (((Get-Content $theirErr) -replace '^[^:]*: ', '') -join "`n")
        }
        finally { Pop-Location }
    }

    It 'injects into calls it does not trace, and without a seccomp filter (no -Syscall)' -Skip:(-not $HasStrace) {
        Push-Location $Work
        try {
            $ourErr = Join-Path $Work 'our2.err'
            $r = @(Get-SyscallTrace -Command $Cat -ArgumentList a -Syscall read -DiscardOutput -RedirectStandardError $ourErr -Inject 'openat:error=EACCES:when=4+')
            (Get-Content $ourErr) | Should -Match ': a: Permission denied$'
            $r[-1].ExitCode | Should -Be 1
            $all = @(Get-SyscallTrace -Command $Cat -ArgumentList a -DiscardOutput -RedirectStandardError $ourErr -Inject 'openat:error=EACCES:when=4+')
            ($all | Where-Object { $_.Name -eq 'openat' -and $_.Arguments[1].Value -eq 'a' }).Error | Should -Be 'EACCES'
            ($all | Where-Object { $_.Name -eq 'openat' -and $_.Arguments[1].Value -eq 'a' }).Injected | Should -BeTrue
        }
        finally { Pop-Location }
    }

    It 'makes a call succeed with a chosen value (retval=), as strace does' -Skip:(-not $HasStrace -or -not $HasPython) {
        $theirOut = & strace -o (Join-Path $Work 'retval.strace') -e trace=getppid -e inject=getppid:retval=4242 $Python -c 'import os;print(os.getppid())'
        $theirs = @(ConvertFrom-StraceLog (Join-Path $Work 'retval.strace'))
        $out = Join-Path $Work 'retval.out'
        $ours = @(Get-SyscallTrace -Command $Python -ArgumentList '-c', 'import os;print(os.getppid())' -Syscall getppid -RedirectStandardOutput $out `
                -Inject @{ Syscall = 'getppid'; ReturnValue = 4242 } | Where-Object { $_ -is [KernelDebug.SyscallEvent] })
        (Get-Content $out) | Should -Be $theirOut
        (Get-Content $out) | Should -Be '4242'
        $ours.Count | Should -Be $theirs.Count
        $ours[0].ReturnValue | Should -Be 4242
        $ours[0].Injected | Should -BeTrue
        $ours[0].ToString() | Should -Be "getppid() = $($theirs[0].Return) (INJECTED)"
    }

    It 'delivers a signal on entering the call (signal=) and delays it (DelayEnter)' -Skip:(-not $HasPython) {
        $r = @(Get-SyscallTrace -Command $Python -ArgumentList '-c', 'import os;os.getppid();print(1)' -Syscall getppid -DiscardOutput -Inject @{ Syscall = 'getppid'; Signal = 'SIGUSR1' })
        ($r | Where-Object { $_ -is [KernelDebug.SyscallSignal] }).Signal | Should -Be 'SIGUSR1'
        $r[-1].Signal | Should -Be 'SIGUSR1'
        $d = @(Get-SyscallTrace -Command $Python -ArgumentList '-c', 'import os;os.getppid()' -Syscall getppid -Inject @{ Syscall = 'getppid'; DelayEnter = [timespan]::FromMilliseconds(300) } |
                Where-Object Name -eq getppid)
        $d[0].Duration.TotalMilliseconds | Should -BeGreaterOrEqual 300
        $d[0].Injected | Should -BeFalse
    }

    It 'counts Measure-Syscall''s injected calls as errors' {
        Push-Location $Work
        try {
            $m = Measure-Syscall -Command $Cat -ArgumentList a, b -DiscardOutput -RedirectStandardError /dev/null -Inject @{ Syscall = 'openat'; Error = 'ENOENT'; When = '4+' } |
                Where-Object Name -eq openat
            $m.Errors | Should -BeGreaterOrEqual 2
        }
        finally { Pop-Location }
    }

    It 'rejects <Case> with ErrorId <Id>' -ForEach @(
        @{ Case = 'an unknown errno'; Spec = @{ Syscall = 'openat'; Error = 'ENOPE' }; Id = 'UnknownErrno' }
        @{ Case = 'an unknown syscall'; Spec = @{ Syscall = 'opnat'; Error = 'ENOENT' }; Id = 'UnknownSyscall' }
        @{ Case = 'error and retval together'; Spec = @{ Syscall = 'openat'; Error = 'ENOENT'; ReturnValue = 1 }; Id = 'InvalidInjection' }
        @{ Case = 'a bad when='; Spec = @{ Syscall = 'openat'; Error = 'ENOENT'; When = '0+' }; Id = 'InvalidInjection' }
        @{ Case = 'an unknown signal'; Spec = 'openat:signal=SIGNOPE'; Id = 'UnknownSignal' }
    ) {
        { Get-SyscallTrace -Command /bin/true -Inject $Spec -ErrorAction Stop } | Should -Throw -ErrorId "$Id,KernelDebug.Commands.GetSyscallTraceCommand"
    }

    It 'rejects an unknown hashtable key while binding' {
        { Get-SyscallTrace -Command /bin/true -Inject @{ Syscall = 'openat'; Errror = 'ENOENT' } -ErrorAction Stop } | Should -Throw '*Unknown -Inject key*Errror*'
    }
}

Describe 'Get-SyscallTrace -DecodeFd' -Skip:(-not $CanPtrace) {
    It 'shows fd arguments and results as strace -y does on cat' -Skip:(-not $HasStrace) {
        $log = Join-Path $Work 'y.strace'
        & strace -y -o $log -e trace=openat,read,close,newfstatat,fstat,pread64 $Cat /etc/hostname | Out-Null
        # fds 1 and 2 are a pipe for strace's run and /dev/null for ours: leave them out.
        $theirs = @(ConvertFrom-StraceLog $log | Where-Object Args -NotMatch '^[12]<')
        $ours = @(Get-SyscallTrace -Command $Cat -ArgumentList /etc/hostname -DecodeFd -DiscardOutput -Syscall openat, read, close, newfstatat, fstat, pread64 |
                Where-Object { $_ -is [KernelDebug.SyscallEvent] -and $_.ArgumentText -notmatch '^[12]<' })
        $theirs.Count | Should -BeGreaterThan 5
        ($ours | ForEach-Object { "$($_.Name)($($_.ArgumentText)) = $($_.ReturnText)" }) -join "`n" |
            Should -Be (($theirs | ForEach-Object { "$($_.Name)($($_.Args)) = $($_.Return)" }) -join "`n")
        $open = $ours | Where-Object { $_.Name -eq 'openat' -and $_.Arguments[1].Value -eq '/etc/hostname' }
        $open.ReturnDescriptor.Kind | Should -Be 'File'
        $open.ReturnDescriptor.Target | Should -Be (Resolve-Path /etc/hostname).Path
        $read = $ours | Where-Object Name -eq read | Select-Object -Last 1
        $read.Arguments[0].Descriptor.Target | Should -Be $open.ReturnDescriptor.Target
        $read.Arguments[0].Value | Should -Be $open.ReturnValue
    }

    It 'shows sockets as strace -y (socket:[inode]) and -yy (TCP:[local->remote]) on a loopback conversation' -Skip:(-not $HasStrace -or -not $HasPython) {
        $calls = 'socket', 'bind', 'listen', 'connect', 'accept4', 'sendto', 'recvfrom', 'getsockname', 'getpeername', 'close'
        foreach ($detail in $false, $true) {
            $log = Join-Path $Work "sock$detail.strace"
            & strace $(if ($detail) { '-yy' } else { '-y' }) -o $log -e trace=$($calls -join ',') $Python -c $SocketProgram
            $theirs = @(ConvertFrom-StraceLog $log | Where-Object { $_.Args -match '^\d+<(socket|TCP)' -or $_.Return -match '<(socket|TCP)' })
            $params = @{ DecodeFd = (-not $detail); DecodeFdDetail = $detail }
            $ours = @(Get-SyscallTrace -Command $Python -ArgumentList '-c', $SocketProgram -Syscall $calls @params |
                    Where-Object { $_ -is [KernelDebug.SyscallEvent] -and ($_.ArgumentText -match '^\d+<(socket|TCP)' -or $_.ReturnText -match '<(socket|TCP)') })
            $theirs.Count | Should -BeGreaterThan 8
            # The fd (first argument) and the result carry the decoding; the other arguments are Syscall.Tests' business.
            ($ours | ForEach-Object { Format-Unstable "$($_.Name)($(($_.ArgumentText -split ', ')[0])) = $($_.ReturnText)" }) -join "`n" |
                Should -Be (($theirs | ForEach-Object { Format-Unstable "$($_.Name)($(($_.Args -split ', ')[0])) = $($_.Return)" }) -join "`n") -Because "strace $(if ($detail) { '-yy' } else { '-y' })"
            $send = $ours | Where-Object Name -eq sendto
            $send.Arguments[0].Descriptor.Kind | Should -Be 'Socket'
            $send.Arguments[0].Descriptor.Protocol | Should -Be 'TCP'
            $send.Arguments[0].Descriptor.Inode | Should -BeGreaterThan 0
            if ($detail) {
                $send.Arguments[0].Descriptor.LocalAddress | Should -Match '^127\.0\.0\.1:\d+$'
                $send.Arguments[0].Descriptor.RemoteAddress | Should -Match '^127\.0\.0\.1:\d+$'
            }
        }
    }

    It 'shows pipe ends and AT_FDCWD''s directory' -Skip:(-not $HasPython) {
        Push-Location $Work
        try { $r = @(Get-SyscallTrace -Command $Python -ArgumentList '-c', 'import os;r,w=os.pipe();os.write(w,b"x")' -Syscall pipe2, write, openat -DecodeFdDetail) }
        finally { Pop-Location }
        $pipe = $r | Where-Object Name -eq pipe2 | Select-Object -Last 1
        $pipe.Arguments[0].Text | Should -Match '^\[\d+<pipe:\[(\d+)\]>, \d+<pipe:\[\1\]>\]$'
        ($r | Where-Object Name -eq write | Select-Object -Last 1).Arguments[0].Descriptor.Kind | Should -Be 'Pipe'
        ($r | Where-Object Name -eq openat | Select-Object -First 1).Arguments[0].Text | Should -Be "AT_FDCWD<$((Resolve-Path $Work).Path)>"
    }
}

Describe 'Get-SyscallTrace -StackTrace' -Skip:(-not $CanPtrace -or -not $IsX64 -or -not $HasGcc) {
    BeforeAll {
        $src = Join-Path $Work 'stack.c'
        Set-Content $src @'
#include <unistd.h>
void g(void) { write(1, "x\n", 2); }
void f(void) { g(); }
int main(void) { f(); return 0; }
'@
        $script:StackProgram = Join-Path $Work 'stack'
        & gcc -O0 -fno-omit-frame-pointer -o $StackProgram $src
    }

    It 'walks main -> f -> g -> write by frame pointers and names each frame' {
        $w = @(Get-SyscallTrace -Command $StackProgram -Syscall write -StackTrace -DiscardOutput | Where-Object Name -eq write)
        $w.Count | Should -Be 1
        $frames = @($w[0].StackTrace)
        $frames[0].Module | Should -Match 'libc\.so'
        $frames[0].Symbol | Should -Match 'write'
        @($frames[1..3].Symbol) | Should -Be @('g', 'f', 'main')
        @($frames[1..3].Module) | Should -Be @($StackProgram, $StackProgram, $StackProgram)
        $frames[1].Offset | Should -BeGreaterThan 0
        $frames[1].ToString() | Should -Match "^$([regex]::Escape($StackProgram))\(g\+0x[0-9a-f]+\) \[0x[0-9a-f]+\]$"
    }

    It 'finds the frames strace -k finds, at the same file offsets' -Skip:(-not $StraceHasK) {
        $log = Join-Path $Work 'k.strace'
        & strace -k -o $log -e trace=write $StackProgram | Out-Null
        $theirs = @(Get-Content $log | Where-Object { $_ -match '^ > ' } | ForEach-Object {
                if ($_ -match '^ > (\S+)\(([^+)]*)(?:\+0x([0-9a-f]+))?\) \[0x([0-9a-f]+)\]') { [pscustomobject]@{ Module = $Matches[1]; Symbol = $Matches[2]; Offset = $Matches[4] } }
            })
        $ours = @(Get-SyscallTrace -Command $StackProgram -Syscall write -StackTrace -DiscardOutput | Where-Object Name -eq write)[0].StackTrace
        $mine = @($theirs | Where-Object Module -eq $StackProgram)
        @($mine.Symbol)[0..2] | Should -Be @('g', 'f', 'main')
        # Our frames of the program are strace's, frame for frame, address for address, down to main (strace's DWARF
        # unwinder goes on through libc's frame-less start code to _start, where the rbp chain ends).
        @($ours | Where-Object Module -eq $StackProgram | ForEach-Object { '{0} {1:x}' -f $_.Symbol, $_.ModuleOffset }) |
            Should -Be @($mine[0..2] | ForEach-Object { "$($_.Symbol) $($_.Offset)" })
        $ours[0].ModuleOffset | Should -Be ([Convert]::ToUInt64($theirs[0].Offset, 16))
    }

    It 'keeps StackTrace through serialization' {
        $w = @(Get-SyscallTrace -Command $StackProgram -Syscall write -StackTrace -DiscardOutput | Where-Object Name -eq write)[0]
        $back = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($w))
        $back.StackTrace[1].Symbol | Should -Be 'g'
        $back.StackTrace[1].Address | Should -Be $w.StackTrace[1].Address
    }
}
