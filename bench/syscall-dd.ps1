<#
.SYNOPSIS
    Syscall tracing overhead: dd (1M syscalls) bare, under Get-SyscallTrace, under strace, and with a seccomp-narrowed selection.
.DESCRIPTION
    Runs each variant side by side in one run and prints the best of -Repeat wall times and the ratios to the bare run.
    The tracer and the tracee share one CPU (a ptrace round trip across vCPUs of this VM is 5-7x slower): Get-SyscallTrace
    pins its tracer thread and the launched command to the CPU it starts on; strace is pinned with taskset.
#>
param(
    [string] $ModulePath = (Get-ChildItem (Join-Path $PSScriptRoot '../output/KernelDebug') -Filter KernelDebug.psd1 -Recurse | Select-Object -First 1).FullName,
    [int] $Count = 500000,
    [int] $Repeat = 3
)
Import-Module $ModulePath -Force
$dd = (Get-Command dd -CommandType Application | Select-Object -First 1).Source
$ddArgs = 'if=/dev/zero', 'of=/dev/null', 'bs=1', "count=$Count"
$cpu = 0

function Measure-Best([scriptblock] $Run) {
    $best = [double]::MaxValue
    for ($i = 0; $i -lt $Repeat; $i++) {
        $sw = [Diagnostics.Stopwatch]::StartNew()
        & $Run | Out-Null
        $best = [math]::Min($best, $sw.Elapsed.TotalSeconds)
    }
    $best
}

& taskset -c $cpu $dd @ddArgs 2>$null | Out-Null  # warm-up: page cache and pwsh's native-command path
$rows = [ordered]@{}
$rows['bare'] = Measure-Best { & taskset -c $cpu $dd @ddArgs 2>$null }
$rows['Get-SyscallTrace (all)'] = Measure-Best { Get-SyscallTrace -Command $dd -ArgumentList $ddArgs 2>$null | Out-Null }
$rows['Measure-Syscall (all)'] = Measure-Best { Measure-Syscall -Command $dd -ArgumentList $ddArgs 2>$null }
$rows['strace -f -o /dev/null'] = Measure-Best { & taskset -c $cpu strace -f -o /dev/null $dd @ddArgs 2>$null }
$rows['strace -c -f'] = Measure-Best { & taskset -c $cpu strace -c -f -o /dev/null $dd @ddArgs 2>$null }
$rows['Get-SyscallTrace -Syscall openat'] = Measure-Best { Get-SyscallTrace -Command $dd -ArgumentList $ddArgs -Syscall openat 2>$null | Out-Null }
$rows['strace --seccomp-bpf -f -e trace=openat'] = Measure-Best { & taskset -c $cpu strace --seccomp-bpf -f -e trace=openat -o /dev/null $dd @ddArgs 2>$null }

$bare = $rows['bare']
$rows.GetEnumerator() | ForEach-Object {
    [pscustomobject]@{ Variant = $_.Key; Seconds = [math]::Round($_.Value, 3); VsBare = [math]::Round($_.Value / $bare, 1); PerSyscallUs = [math]::Round(($_.Value - $bare) / (2 * $Count) * 1e6, 2) }
} | Format-Table -AutoSize | Out-String | Write-Host
'Ratios: Get-SyscallTrace/strace = {0:N2}; Measure-Syscall/strace -c = {1:N2}; -Syscall openat/strace --seccomp-bpf = {2:N2}' -f `
    ($rows['Get-SyscallTrace (all)'] / $rows['strace -f -o /dev/null']), ($rows['Measure-Syscall (all)'] / $rows['strace -c -f']),
    ($rows['Get-SyscallTrace -Syscall openat'] / $rows['strace --seccomp-bpf -f -e trace=openat']) | Write-Host
