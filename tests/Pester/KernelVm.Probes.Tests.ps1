# KernelVm: runs only inside the debug-kernel guest (build.ps1 -Task VmTest); the host run excludes the tag.
# The probes cmdlets live: New-Kprobe and New-Eprobe in the group kerneldebug_<pid>, enabled only in a New-FtraceInstance
# instance, hits read with Receive-TraceEvent as typed fields, removed with Remove-Kprobe / Remove-DynamicEvent.
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
        $script:Inst = New-FtraceInstance
    }
    AfterAll {
        Get-Kprobe -Group $KdGroup -ErrorAction Ignore | Remove-Kprobe -Force -ErrorAction Continue
        if ($Inst) { Remove-FtraceInstance $Inst -ErrorAction Continue }
    }

    It 'New-Kprobe on vfs_read with a fetched argument: Receive-TraceEvent gets the count dd asked for' {
        $p = New-Kprobe -Name vfsr -Group $KdGroup -Symbol vfs_read -Argument 'len=%dx:u64' -Instance $Inst.Name
        $p.Kind | Should -Be 'Kprobe'
        Read-RawFile "$TraceFs/kprobe_events" | Should -Match ([regex]::Escape("p:$KdGroup/vfsr vfs_read len=%dx:u64"))
        (Get-Kprobe -Name vfsr -Group $KdGroup).Arguments | Should -Be @('len=%dx:u64')
        # Enabled in the instance only: the top level does not record it.
        (Read-RawFile "$($Inst.Path)/events/$KdGroup/vfsr/enable").Trim() | Should -Be '1'
        (Read-RawFile "$TraceFs/events/$KdGroup/vfsr/enable").Trim() | Should -Be '0'
        $ddPid = Invoke-DdRead
        $hits = @(Receive-TraceEvent -Instance $Inst -NoWait | Where-Object { $_.Name -eq 'vfsr' -and $_.ProcessId -eq $ddPid })
        $hits | Should -Not -BeNullOrEmpty -Because "dd (pid $ddPid) read $File through vfs_read"
        $hits[0].System | Should -Be $KdGroup
        $hits[0].len | Should -BeOfType [uint64] -Because 'the :u64 fetch type arrives typed'
        $hits.len | Should -Contain ([uint64] 12345) -Because 'dd asked for bs=12345 bytes'
    }

    It 'New-Kprobe -Return fetches $retval: the length dd got back' {
        $null = New-Kprobe -Name vfsr_ret -Group $KdGroup -Symbol vfs_read -Return -Argument 'ret=$retval:s64' -Instance $Inst.Name
        (Get-Kprobe -Name vfsr_ret -Group $KdGroup).IsReturn | Should -BeTrue
        $ddPid = Invoke-DdRead
        $hits = @(Receive-TraceEvent -Instance $Inst -NoWait | Where-Object { $_.Name -eq 'vfsr_ret' -and $_.ProcessId -eq $ddPid })
        $hits | Should -Not -BeNullOrEmpty -Because "dd (pid $ddPid) returned from vfs_read"
        $hits.ret | Should -Contain ([long] $FileLength) -Because "$File has $FileLength bytes"
    }

    It 'New-Kprobe -Address takes a kernel address as PowerShell spells it (hex string, or the negative Int64 of a hex literal)' {
        $line = Get-Content /proc/kallsyms | Where-Object { $_ -match ' [Tt] vfs_read$' } | Select-Object -First 1
        $address = [Convert]::ToUInt64($line.Split(' ')[0], 16)
        $address | Should -BeGreaterThan ([uint64][long]::MaxValue) -Because 'a kernel text address has the top bit set'
        $a = New-Kprobe -Name byaddr -Group $KdGroup -Address ('0x{0:x}' -f $address)
        $a.Kind | Should -Be 'Kprobe'
        $asLiteral = [BitConverter]::ToInt64([BitConverter]::GetBytes($address), 0)   # what 0xffffffff8... is to PowerShell
        $asLiteral | Should -BeLessThan 0
        (New-Kprobe -Name byliteral -Group $KdGroup -Address $asLiteral).Kind | Should -Be 'Kprobe'
        (Get-Kprobe -Group $KdGroup -Name byaddr, byliteral).Name | Should -Be @('byaddr', 'byliteral')
        Remove-Kprobe -Group $KdGroup -Name byaddr, byliteral
        Get-Kprobe -Group $KdGroup -Name byaddr, byliteral -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'Remove-Kprobe refuses an enabled probe without -Force, and with it leaves kprobe_events as it was' {
        { Get-Kprobe -Name vfsr -Group $KdGroup | Remove-Kprobe -ErrorAction Stop } | Should -Throw -ErrorId 'ProbeInUse*'
        Get-Kprobe -Group $KdGroup | Remove-Kprobe -Force
        Read-RawFile "$TraceFs/kprobe_events" | Should -BeExactly $KprobesBefore
        Test-Path "$TraceFs/events/$KdGroup/vfsr" | Should -BeFalse
    }

    # -ForEach data is built at discovery, before BeforeAll knows the group: {0} is filled in by the test.
    It 'agrees with the kernel on <Case>: error kind and column, and nothing kept' -ForEach @(
        @{ Case = 'a bad register'; Template = 'p:{0}/bad vfs_read arg=%nosuchreg'; Errno = 22 }
        @{ Case = 'an unknown symbol'; Template = 'p:{0}/nosym kerneldebug_no_such_function'; Errno = 2 }
        @{ Case = 'a bad fetch type'; Template = 'p:{0}/badtype vfs_read arg=%di:u7'; Errno = 22 }
        @{ Case = 'a missing group name'; Template = 'p:/nogroup vfs_read'; Errno = 22 }
        @{ Case = '$retval on an entry probe'; Template = 'p:{0}/ret vfs_read a=$retval'; Errno = 22 }
        @{ Case = 'a kretprobe with an offset'; Template = 'r:{0}/roff vfs_read+8'; Errno = 22 }
        @{ Case = 'a maxactive on an entry probe'; Template = 'p4:{0}/max vfs_read'; Errno = 22 }
        @{ Case = 'a maxactive too big'; Template = 'r99999:{0}/max vfs_read'; Errno = 22 }
        @{ Case = 'a stack slot out of range'; Template = 'p:{0}/stk vfs_read a=$stack99999'; Errno = 22 }
        # Kinds that changed with Linux 6.5: the validator follows the running kernel's version.
        @{ Case = '$argN off the function entry'; Template = 'p:{0}/argoff vfs_read+4 a=$arg1'; Errno = 22 }
        @{ Case = 'a bare (BTF) name'; Template = 'p:{0}/btf vfs_read count'; Errno = 22 }
    ) {
        $definition = $Template -f $KdGroup
        # The kernel's verdict, written raw: errno, then error_log's kind and caret column.
        Get-RawWriteErrno "$TraceFs/kprobe_events" $definition | Should -Be $Errno
        $kernel = Get-RawLastError trace_kprobe
        $kernel.Command | Should -BeExactly $definition
        # Ours, before any write.
        $ours = [KernelDebug.Probes.ProbeValidator]::Validate($definition, 'KprobeEvents', [KernelDebug.Probes.HostProbeEnvironment]::new($TraceFs))
        $ours | Should -Not -BeNullOrEmpty -Because "the kernel refused it: $($kernel.Kind)"
        # Kinds, not texts: kernels reword some messages (6.1 'Maxactive is not for kprobe', later 'Maxactive is only for function exit').
        [KernelDebug.Probes.ProbeErrors]::FromText($kernel.Kind) | Should -Be $ours.Kind -Because "the kernel said '$($kernel.Kind)', we said '$($ours.Message)'"
        $ours.Position | Should -Be $kernel.Column -Because "the kernel's caret is under '$($definition.Substring($kernel.Column))'"
        Read-RawFile "$TraceFs/kprobe_events" | Should -BeExactly $KprobesBefore
    }

    It 'New-Kprobe reports a bad argument as the kernel would, with the column, and writes nothing' {
        $log = Read-RawFile "$TraceFs/error_log"
        New-Kprobe -Name bad -Group $KdGroup -Symbol vfs_read -Argument 'arg=%nosuchreg' -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ProbeBadRegName,*'
        $err[0].Exception.Position | Should -Be ("p:$KdGroup/bad vfs_read ".Length + 4)
        Read-RawFile "$TraceFs/error_log" | Should -BeExactly $log -Because 'our validation refused it before the kernel saw it'
        Read-RawFile "$TraceFs/kprobe_events" | Should -BeExactly $KprobesBefore
    }
}

Describe 'eprobes on the debug kernel' -Tag KernelVm -Skip:(-not $env:KERNELDEBUG_VM) {
    BeforeAll {
        $script:DynamicBefore = Read-RawFile "$TraceFs/dynamic_events"
        $script:Inst = New-FtraceInstance
    }
    AfterAll {
        Get-DynamicEvent -Group $KdGroup -ErrorAction Ignore | Remove-DynamicEvent -Force -ErrorAction Continue
        if ($Inst) { Remove-FtraceInstance $Inst -ErrorAction Continue }
    }

    It 'New-Eprobe on syscalls:sys_enter_openat fetches the file name as a user string' {
        $e = New-Eprobe -Name openat -Group $KdGroup -TargetEvent syscalls:sys_enter_openat -Argument 'file=+0($filename):ustring' -Instance $Inst.Name
        $e.Kind | Should -Be 'Eprobe'
        Read-RawFile "$TraceFs/dynamic_events" | Should -Match ([regex]::Escape("e:$KdGroup/openat syscalls.sys_enter_openat file=+0(`$filename):ustring"))
        $ddPid = Invoke-DdRead
        $hits = @(Receive-TraceEvent -Instance $Inst -NoWait | Where-Object { $_.Name -eq 'openat' -and $_.ProcessId -eq $ddPid })
        $hits.file | Should -Contain $File
        $hits[0].file | Should -BeOfType [string]
    }

    It 'agrees with the kernel on a field the attached event lacks: error kind and column, and nothing kept' {
        $definition = "e:$KdGroup/nofield syscalls.sys_enter_openat a=`$nofield"
        Get-RawWriteErrno "$TraceFs/dynamic_events" $definition | Should -Be 2 -Because 'the kernel answers a missing field with ENOENT'
        $kernel = Get-RawLastError event_probe
        $kernel.Command | Should -BeExactly $definition
        $ours = [KernelDebug.Probes.ProbeValidator]::Validate($definition, 'DynamicEvents', [KernelDebug.Probes.HostProbeEnvironment]::new($TraceFs))
        [KernelDebug.Probes.ProbeErrors]::FromText($kernel.Kind) | Should -Be $ours.Kind -Because "the kernel said '$($kernel.Kind)', we said '$($ours.Message)'"
        $ours.Position | Should -Be $kernel.Column
    }

    It 'Remove-DynamicEvent -Force leaves dynamic_events as it was and the syscall event untouched' {
        Get-DynamicEvent -Group $KdGroup | Remove-DynamicEvent -Force
        Read-RawFile "$TraceFs/dynamic_events" | Should -BeExactly $DynamicBefore
        (Read-RawFile "$($Inst.Path)/events/syscalls/sys_enter_openat/enable").Trim() | Should -Be '0'
    }
}
