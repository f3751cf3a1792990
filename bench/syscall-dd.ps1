<#
.SYNOPSIS
    Syscall tracing overhead: dd (1M syscalls) bare, under Get-SyscallTrace, under strace, and with a seccomp-narrowed selection.
.DESCRIPTION
    Runs the variants in turns (-Repeat rounds, every variant once per round), so that machine load drifting during
    the run hits all of them alike. Two times per run: Wall, the whole command as a user sees it (cmdlet or strace
    startup, exec, the workload, teardown), and Work, the workload's own time as dd reports it ("copied, N s"; dd's
    stderr is captured by pointing this process's fd 2 at a file during the run, so every variant inherits it alike).
    The sub-second variants run -QuickRepeat times per round (best kept). Prints the best of each, the median of the per-round ratios to strace -f and to strace --seccomp-bpf, and the
    load average before and after.
    The tracer and the tracee share one CPU (a ptrace round trip across vCPUs of this VM is 5-7x slower): Get-SyscallTrace
    pins its tracer thread and the launched command to the CPU it starts on; strace is pinned with taskset.
#>
param(
    [string] $ModulePath = (Get-ChildItem (Join-Path $PSScriptRoot '../output/KernelDebug') -Filter KernelDebug.psd1 -Recurse | Select-Object -First 1).FullName,
    [int] $Count = 500000,
    [int] $Repeat = 3,
    [int] $QuickRepeat = 5,
    [int] $Cpu = 0
)
Import-Module $ModulePath -Force
$dd = (Get-Command dd -CommandType Application | Select-Object -First 1).Source
$ddArgs = 'if=/dev/zero', 'of=/dev/null', 'bs=1', "count=$Count"

Add-Type -Namespace KernelDebugBench -Name Fd -MemberDefinition @'
[System.Runtime.InteropServices.DllImport("libc", SetLastError = true)] public static extern int dup(int fd);
[System.Runtime.InteropServices.DllImport("libc", SetLastError = true)] public static extern int dup2(int fd, int to);
[System.Runtime.InteropServices.DllImport("libc", SetLastError = true)] public static extern int close(int fd);
'@
$stderrFile = Join-Path ([IO.Path]::GetTempPath()) "kerneldebug-bench-$PID.err"

# Runs one variant with fd 2 pointing at a file; returns wall seconds and dd's own seconds.
function Measure-Run([scriptblock] $Run) {
    $file = [IO.File]::OpenHandle($stderrFile, 'Create', 'Write')
    $saved = [KernelDebugBench.Fd]::dup(2)
    [void][KernelDebugBench.Fd]::dup2($file.DangerousGetHandle().ToInt32(), 2)
    try {
        $sw = [Diagnostics.Stopwatch]::StartNew()
        & $Run | Out-Null
        $wall = $sw.Elapsed.TotalSeconds
    }
    finally {
        [void][KernelDebugBench.Fd]::dup2($saved, 2)
        [void][KernelDebugBench.Fd]::close($saved)
        $file.Dispose()
    }
    $m = [regex]::Match((Get-Content -Raw $stderrFile), 'copied, ([0-9.e+-]+) s')
    [pscustomobject]@{ Wall = $wall; Work = if ($m.Success) { [double]$m.Groups[1].Value } else { [double]::NaN } }
}

$strace = 'strace -f -o /dev/null'
$seccomp = 'strace --seccomp-bpf -f -e trace=openat'
$variants = [ordered]@{
    'bare'                                    = { & taskset -c $Cpu $dd @ddArgs }
    'Get-SyscallTrace (all)'                  = { Get-SyscallTrace -Engine Ptrace -Command $dd -ArgumentList $ddArgs }
    'Measure-Syscall (all)'                   = { Measure-Syscall -Command $dd -ArgumentList $ddArgs }
    'strace -f -o /dev/null'                  = { & taskset -c $Cpu strace -f -o /dev/null $dd @ddArgs }
    'strace -c -f'                            = { & taskset -c $Cpu strace -c -f -o /dev/null $dd @ddArgs }
    'Get-SyscallTrace -Syscall openat'        = { Get-SyscallTrace -Engine Ptrace -Command $dd -ArgumentList $ddArgs -Syscall openat }
    'strace --seccomp-bpf -f -e trace=openat' = { & taskset -c $Cpu strace --seccomp-bpf -f -e trace=openat -o /dev/null $dd @ddArgs }
}

$loadBefore = (Get-Content /proc/loadavg) -replace ' \d+/.*$'
# Warm-up: page cache, pwsh's native-command path, and the cmdlets' JIT. The first calls in this session are timed
# on a short dd: what a user pays once per session (JIT), next to strace's own first start.
$short = 'if=/dev/zero', 'of=/dev/null', 'bs=1', 'count=1000'
$null = Measure-Run $variants['bare']
$firstStrace = (Measure-Run { & taskset -c $Cpu strace --seccomp-bpf -f -e trace=openat -o /dev/null $dd @short }).Wall
$firstOpenat = (Measure-Run { Get-SyscallTrace -Engine Ptrace -Command $dd -ArgumentList $short -Syscall openat }).Wall
$firstAll = (Measure-Run { Get-SyscallTrace -Engine Ptrace -Command $dd -ArgumentList $short }).Wall
$secondOpenat = (Measure-Run { Get-SyscallTrace -Engine Ptrace -Command $dd -ArgumentList $short -Syscall openat }).Wall
$secondStrace = (Measure-Run { & taskset -c $Cpu strace --seccomp-bpf -f -e trace=openat -o /dev/null $dd @short }).Wall

$runs = @{}
foreach ($name in $variants.Keys) { $runs[$name] = [Collections.Generic.List[object]]::new() }
# The sub-second variants (bare, seccomp-narrowed) are noisy under load: within each round they run -QuickRepeat
# times in turns among themselves and the round keeps the best of each.
$quick = 'bare', 'Get-SyscallTrace -Syscall openat', $seccomp
for ($round = 0; $round -lt $Repeat; $round++) {
    $best = @{}
    for ($q = 0; $q -lt $QuickRepeat; $q++) {
        foreach ($name in $quick) {
            $r = Measure-Run $variants[$name]
            if (-not $best[$name] -or $r.Wall -lt $best[$name].Wall) { $best[$name] = $r }
        }
    }
    foreach ($name in $variants.Keys) { $runs[$name].Add($(if ($name -in $quick) { $best[$name] } else { Measure-Run $variants[$name] })) }
}
$loadAfter = (Get-Content /proc/loadavg) -replace ' \d+/.*$'
Remove-Item $stderrFile -ErrorAction Ignore

function Get-Median([double[]] $x) { $s = $x | Sort-Object; if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 } }
# The ratio within each round (same load for both), then the median over rounds.
function Get-RoundRatio([string] $a, [string] $b, [string] $field) {
    Get-Median @(for ($i = 0; $i -lt $Repeat; $i++) { $runs[$a][$i].$field / $runs[$b][$i].$field })
}

$bare = ($runs['bare'].Wall | Measure-Object -Minimum).Minimum
$rows = foreach ($name in $variants.Keys) {
    $wall = ($runs[$name].Wall | Measure-Object -Minimum).Minimum
    $work = ($runs[$name].Work | Measure-Object -Minimum).Minimum
    [pscustomobject]@{
        Variant          = $name
        WallS            = [math]::Round($wall, 3)
        WorkS            = [math]::Round($work, 3)
        VsBare           = [math]::Round($wall / $bare, 1)
        UsPerSyscall     = [math]::Round(($wall - $bare) / (2 * $Count) * 1e6, 2)
        'Wall/strace'    = [math]::Round((Get-RoundRatio $name $strace Wall), 2)
        'Work/strace'    = [math]::Round((Get-RoundRatio $name $strace Work), 2)
        'Wall/strace-sb' = [math]::Round((Get-RoundRatio $name $seccomp Wall), 2)
        'Work/strace-sb' = [math]::Round((Get-RoundRatio $name $seccomp Work), 2)
    }
}
"dd count=$Count ($(2 * $Count) syscalls), $Repeat rounds in turns; load average before: $loadBefore, after: $loadAfter" | Write-Host
'Seconds: best of the rounds. Ratios: median over rounds of the ratio within a round; strace = strace -f -o /dev/null, strace-sb = strace --seccomp-bpf -f -e trace=openat.' | Write-Host
$rows | Format-Table -AutoSize | Out-String -Width 200 | Write-Host
'Goals (<= 1): Get-SyscallTrace (all) / strace -f: wall {0:N2}, work {1:N2}; Measure-Syscall / strace -c -f: wall {2:N2}, work {3:N2}; -Syscall openat / strace --seccomp-bpf: wall {4:N2}, work {5:N2}' -f `
    (Get-RoundRatio 'Get-SyscallTrace (all)' $strace Wall), (Get-RoundRatio 'Get-SyscallTrace (all)' $strace Work),
    (Get-RoundRatio 'Measure-Syscall (all)' 'strace -c -f' Wall), (Get-RoundRatio 'Measure-Syscall (all)' 'strace -c -f' Work),
    (Get-RoundRatio 'Get-SyscallTrace -Syscall openat' $seccomp Wall), (Get-RoundRatio 'Get-SyscallTrace -Syscall openat' $seccomp Work) | Write-Host
'Startup (dd count=1000): first calls in this session: Get-SyscallTrace -Syscall openat {0:N1} ms, then Get-SyscallTrace (all) {1:N1} ms, strace --seccomp-bpf {2:N1} ms; warm: {3:N1} ms vs strace {4:N1} ms' -f `
    ($firstOpenat * 1e3), ($firstAll * 1e3), ($firstStrace * 1e3), ($secondOpenat * 1e3), ($secondStrace * 1e3) | Write-Host
