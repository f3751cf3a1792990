# KernelVm: runs only inside the debug-kernel guest (build.ps1 -Task VmTest); the host run excludes the tag.
# Dynamic probes through the raw tracefs writes the probes cmdlets will make (see KernelVm.Raw.ps1): probes go into
# the group kerneldebug_<pid>, are enabled only in a private instance, and are removed again.
# The traced program is dd: one read() of a known size, of a file of known length, by a process whose pid we know.
BeforeAll {
    . (Join-Path $PSScriptRoot 'KernelVm.Raw.ps1')
    $script:Dd = (Get-Command dd -CommandType Application | Select-Object -First 1).Source
    $script:File = '/etc/hostname'
    $script:FileLength = (Get-Item $File).Length
    function Invoke-DdRead { Invoke-Traced $Dd @("if=$File", 'of=/dev/null', 'bs=12345', 'count=1') }
}

Describe 'kprobes and kretprobes on the debug kernel' -Tag KernelVm -Skip:(-not $env:KERNELDEBUG_VM) {
    BeforeAll {
        $script:KprobesBefore = Read-RawFile "$TraceFs/kprobe_events"
        $script:Inst = New-RawInstance
        $script:Entry = "$KdGroup/vfsr"
        $script:Exit = "$KdGroup/vfsr_ret"
    }
    AfterAll { Remove-RawProbeSet $Inst kprobe_events $Entry, $Exit }

    It 'a kprobe on vfs_read with a fetched argument records the read of a traced process' {
        Add-RawProbe kprobe_events "p:$Entry vfs_read count=%dx:u64"
        Read-RawFile "$TraceFs/kprobe_events" | Should -Match ([regex]::Escape("p:$Entry vfs_read count=%dx:u64"))
        $hits = Invoke-RawEventRun $Inst $Entry { Invoke-DdRead } '\(vfs_read\+0x0/0x[0-9a-f]+\) count=(\d+)$'
        $hits | Should -Not -BeNullOrEmpty -Because "dd read $File through vfs_read"
        $hits -match 'count=12345$' | Should -Not -BeNullOrEmpty -Because 'dd asked for bs=12345 bytes'
        # Only the instance saw it: the top-level buffer has no record of our probe.
        Read-RawFile "$TraceFs/trace" | Should -Not -Match "vfsr: \(vfs_read"
    }

    It 'a kretprobe on vfs_read fetches $retval, the length dd got back' {
        Add-RawProbe kprobe_events "r:$Exit vfs_read ret=`$retval:s64"
        $hits = Invoke-RawEventRun $Inst $Exit { Invoke-DdRead } '\(\S+ <- vfs_read\) ret=-?\d+$'
        $rets = $hits | ForEach-Object { [long] ($_ -replace '^.* ret=', '') }
        $rets | Should -Contain $FileLength -Because "$File has $FileLength bytes"
    }

    It 'removing the probes leaves kprobe_events as it was' {
        Remove-RawProbe kprobe_events $Entry
        Remove-RawProbe kprobe_events $Exit
        Read-RawFile "$TraceFs/kprobe_events" | Should -BeExactly $KprobesBefore
        Test-Path "$TraceFs/events/$Entry" | Should -BeFalse
    }

    # -ForEach data is built at discovery, before BeforeAll knows the group: {0} is filled in by the test.
    It 'the kernel rejects <Case> with errno <Errno>, error kind and column in error_log, and keeps nothing' -ForEach @(
        @{ Case = 'a bad register'; Template = 'p:{0}/bad vfs_read arg=%nosuchreg'; Errno = 22; Kind = 'Invalid register name'; At = '%nosuchreg' }
        @{ Case = 'an unknown symbol'; Template = 'p:{0}/nosym kerneldebug_no_such_function'; Errno = 2; Kind = 'Invalid probed address or symbol'; At = 'kerneldebug_no_such_function' }
        @{ Case = 'a bad fetch type'; Template = 'p:{0}/badtype vfs_read arg=%di:u7'; Errno = 22; Kind = 'Unknown type is specified'; At = 'u7' }
        @{ Case = 'a missing group name'; Template = 'p:/nogroup vfs_read'; Errno = 22; Kind = 'Group name is not specified'; At = '/nogroup vfs_read' }
    ) {
        $Definition = $Template -f $KdGroup
        Get-RawWriteErrno "$TraceFs/kprobe_events" $Definition | Should -Be $Errno
        $e = Get-RawLastError trace_kprobe
        $e.Kind | Should -BeExactly $Kind
        $e.Command | Should -BeExactly $Definition
        $e.Command.Substring($e.Column) | Should -BeExactly $At -Because 'the caret points at the offending part'
        Read-RawFile "$TraceFs/kprobe_events" | Should -BeExactly $KprobesBefore
    }
}

Describe 'eprobes on the debug kernel' -Tag KernelVm -Skip:(-not $env:KERNELDEBUG_VM) {
    BeforeAll {
        $script:DynamicBefore = Read-RawFile "$TraceFs/dynamic_events"
        $script:Inst = New-RawInstance
        $script:Ep = "$KdGroup/openat"
    }
    AfterAll { Remove-RawProbeSet $Inst dynamic_events $Ep }

    It 'an eprobe on syscalls/sys_enter_openat fetches the file name as a user string' {
        Add-RawProbe dynamic_events "e:$Ep syscalls/sys_enter_openat file=+0(`$filename):ustring"
        Read-RawFile "$TraceFs/dynamic_events" | Should -Match ([regex]::Escape("e:$Ep syscalls.sys_enter_openat file=+0(`$filename):ustring"))
        $hits = Invoke-RawEventRun $Inst $Ep { Invoke-DdRead } '\(syscalls\.sys_enter_openat\) file=".*"$'
        $files = $hits | ForEach-Object { $_ -replace '^.* file="(.*)"$', '$1' }
        $files | Should -Contain $File
    }

    It 'removing the eprobe leaves dynamic_events as it was and the syscall event untouched' {
        Remove-RawProbe dynamic_events $Ep
        Read-RawFile "$TraceFs/dynamic_events" | Should -BeExactly $DynamicBefore
        (Read-RawFile "$Inst/events/syscalls/sys_enter_openat/enable").Trim() | Should -Be '0'
    }
}
