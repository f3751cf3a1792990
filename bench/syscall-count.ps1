<#
.SYNOPSIS
    Measure-Syscall's engines against bare, perf stat and strace -c -f: dd (1M syscalls) and a getppid loop (1M calls).
.DESCRIPTION
    Each workload runs, side by side in one run and in turns over -Repeat rounds:
      bare                                  the program alone
      perf stat -e raw_syscalls:sys_enter   the kernel's counting floor (a tracepoint counter, no per-call work)
      strace -c -f                          ptrace, one stop per entry and exit
      Measure-Syscall -Engine Ptrace        the module's ptrace engine (-PtraceScale times fewer calls: it is slow;
                                            its ratio is to bare at the same count)
      Measure-Syscall -Engine Bpf           kd_syscount: sums per syscall in the kernel, nothing per call to user space
    and, for dd, Measure-Syscall -All (system-wide, in a thread job of this process) while dd runs bare.
    Two times per run: Wall (the whole command: pwsh cmdlet or tool start-up, BPF load and attach, the workload,
    teardown) and Work (the workload's own time: dd's "copied, N s", the getppid program's own clock). Prints the
    best of each and the ratios to bare; the goals are Measure-Syscall -Engine Bpf <= 2x bare (Work) and dd under
    -All <= 5x bare with 0 lost.
#>
param(
    [string] $ModulePath = (Get-ChildItem (Join-Path $PSScriptRoot '../output/KernelDebug') -Filter KernelDebug.psd1 -Recurse | Select-Object -First 1).FullName,
    [int] $Calls = 1000000,
    [int] $Repeat = 3,
    [int] $PtraceScale = 10
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
$dir = Join-Path ([IO.Path]::GetTempPath()) "kd-bench-syscount-$PID"
New-Item -ItemType Directory -Force $dir | Out-Null
$loop = Join-Path $dir 'getppid-loop'
@'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) syscall(SYS_getppid);
	clock_gettime(CLOCK_MONOTONIC, &b);
	fprintf(stderr, "copied, %.6f s\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
	return 0;
}
'@ | Set-Content (Join-Path $dir 'getppid-loop.c')
& gcc -static -O2 -o $loop (Join-Path $dir 'getppid-loop.c')
if ($LASTEXITCODE) { throw 'gcc failed' }
$dd = (Get-Command dd -CommandType Application | Select-Object -First 1).Source
$errFile = Join-Path $dir 'stderr.txt'

# A workload's command line for n syscalls (dd makes a read and a write per byte).
$workloads = [ordered]@{
    'dd'      = { param($n) , @($dd, 'if=/dev/zero', 'of=/dev/null', 'bs=1', "count=$([long]($n / 2))") }
    'getppid' = { param($n) , @($loop, "$n") }
}

function Get-Work { $m = [regex]::Match((Get-Content -Raw $errFile), 'copied, ([0-9.e+-]+) s'); if ($m.Success) { [double]$m.Groups[1].Value } else { [double]::NaN } }
function Measure-Variant([scriptblock] $Run, [string[]] $Cmd) {
    Remove-Item $errFile -ErrorAction Ignore
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $out = & $Run $Cmd
    $wall = $sw.Elapsed.TotalSeconds
    [pscustomobject]@{ Wall = $wall; Work = Get-Work; Out = $out }
}

$variants = [ordered]@{
    'bare'                                = { param($c) & $c[0] @($c | Select-Object -Skip 1) 2> $errFile }
    'perf stat -e raw_syscalls:sys_enter' = { param($c) & perf stat -e raw_syscalls:sys_enter -o /dev/null -- @c 2> $errFile }
    'strace -c -f'                        = { param($c) & strace -c -f -o /dev/null @c 2> $errFile }
    'Measure-Syscall -Engine Ptrace'      = { param($c) Measure-Syscall -Engine Ptrace -Command $c[0] -ArgumentList @($c | Select-Object -Skip 1) -FollowFork -RedirectStandardError $errFile }
    'Measure-Syscall -Engine Bpf'         = { param($c) Measure-Syscall -Engine Bpf -Command $c[0] -ArgumentList @($c | Select-Object -Skip 1) -FollowFork -RedirectStandardError $errFile }
}
$hasPerf = [bool](Get-Command perf -ErrorAction Ignore)
if (-not $hasPerf) { $variants.Remove('perf stat -e raw_syscalls:sys_enter') }

$loadBefore = (Get-Content /proc/loadavg) -replace ' \d+/.*$'
# Warm-up: JIT of the cmdlet and both engines, page cache.
foreach ($w in $workloads.Keys) {
    $c = & $workloads[$w] 2000
    foreach ($v in $variants.Keys) { $null = Measure-Variant $variants[$v] $c }
}

$results = @{}
for ($round = 0; $round -lt $Repeat; $round++) {
    foreach ($w in $workloads.Keys) {
        foreach ($v in $variants.Keys) {
            $n = if ($v -like '*Ptrace*') { [long]($Calls / $PtraceScale) } else { $Calls }
            $r = Measure-Variant $variants[$v] (& $workloads[$w] $n)
            $key = "$w|$v"
            if (-not $results[$key]) { $results[$key] = [Collections.Generic.List[object]]::new() }
            $results[$key].Add($r)
            if ($v -like '*Ptrace*') {
                # Bare at the same scaled count, for the Ptrace engine's ratio.
                $b = Measure-Variant $variants['bare'] (& $workloads[$w] $n)
                if (-not $results["$w|bare/$PtraceScale"]) { $results["$w|bare/$PtraceScale"] = [Collections.Generic.List[object]]::new() }
                $results["$w|bare/$PtraceScale"].Add($b)
            }
            if ($v -eq 'Measure-Syscall -Engine Bpf') {
                # The Bpf engine's counts must be the workload's: every call, none lost.
                $counted = ($r.Out | Measure-Object Calls -Sum).Sum
                if ($counted -lt $Calls) { Write-Warning "$w under the Bpf engine: $counted calls counted, fewer than the workload's $Calls." }
            }
        }
    }
}

function Best($list, $field) { ($list.$field | Measure-Object -Minimum).Minimum }

# -All while dd runs bare: Measure-Syscall in a thread job of this process (which -All leaves out), dd started once it has attached.
$allRuns = [Collections.Generic.List[object]]::new()
# Long enough that dd ends inside the run even when it is several times slower than bare (a loaded host).
$allDuration = [TimeSpan]::FromSeconds([math]::Ceiling(5 * (Best $results['dd|bare'] Wall) + 5))
for ($round = 0; $round -lt $Repeat; $round++) {
    $job = Start-ThreadJob -ArgumentList $ModulePath, $allDuration -ScriptBlock {
        param($Module, $Duration)
        Import-Module $Module
        Measure-Syscall -All -Duration $Duration -Verbose
    }
    while (-not ($job.Verbose | Where-Object Message -like 'Counting:*') -and $job.State -in 'NotStarted', 'Running') { Start-Sleep -Milliseconds 50 }
    $r = Measure-Variant $variants['bare'] (& $workloads['dd'] $Calls)
    # The streams first: Receive-Job takes them away with the output.
    $null = $job | Wait-Job
    $lostLine = ($job.Verbose | Where-Object Message -like 'Lost:*').Message
    $warnings = @($job.Warning)
    $rows = @($job | Receive-Job)
    $job | Remove-Job
    $lost = if ($lostLine -match 'Lost: (\d+) calls, (\d+) processes, (\d+) skipped') { [long]$Matches[1] + [long]$Matches[3] } else { -1 }
    $rw = ($rows | Where-Object Name -in 'read', 'write' | Measure-Object Calls -Sum).Sum
    $allRuns.Add([pscustomobject]@{ Wall = $r.Wall; Work = $r.Work; Lost = $lost; Warnings = $warnings.Count; ReadWrite = $rw; Total = ($rows | Measure-Object Calls -Sum).Sum })
}
$loadAfter = (Get-Content /proc/loadavg) -replace ' \d+/.*$'
Remove-Item -Recurse -Force $dir -ErrorAction Ignore

"Measure-Syscall engines, $Calls syscalls per workload ($([long]($Calls / $PtraceScale)) for the Ptrace engine), best of $Repeat rounds; load average before: $loadBefore, after: $loadAfter" | Write-Host
$rows = foreach ($w in $workloads.Keys) {
    foreach ($v in $variants.Keys) {
        $list = $results["$w|$v"]
        $bare = if ($v -like '*Ptrace*') { $results["$w|bare/$PtraceScale"] } else { $results["$w|bare"] }
        [pscustomobject]@{
            Workload = $w; Variant = $v; Calls = if ($v -like '*Ptrace*') { [long]($Calls / $PtraceScale) } else { $Calls }
            WallS = [math]::Round((Best $list Wall), 3); WorkS = [math]::Round((Best $list Work), 3)
            'Wall/bare' = [math]::Round((Best $list Wall) / (Best $bare Wall), 2)
            'Work/bare' = [math]::Round((Best $list Work) / (Best $bare Work), 2)
            'ns/call over bare' = [math]::Round(((Best $list Work) - (Best $bare Work)) / $(if ($v -like '*Ptrace*') { $Calls / $PtraceScale } else { $Calls }) * 1e9, 0)
        }
    }
}
$rows | Format-Table -AutoSize | Out-String -Width 220 | Write-Host
$ddBare = Best $results['dd|bare'] Work
'-All while dd runs (dd bare, Measure-Syscall -All in a thread job): dd work {0:N3} s = {1:N2}x bare; dd wall {2:N3} s = {3:N2}x bare; lost {4} (per round: {5}); read+write counted {6} (dd made {7}, other processes theirs)' -f `
    (Best $allRuns Work), ((Best $allRuns Work) / $ddBare), (Best $allRuns Wall), ((Best $allRuns Wall) / (Best $results['dd|bare'] Wall)),
    (($allRuns.Lost | Measure-Object -Maximum).Maximum), ($allRuns.Lost -join ', '), (($allRuns.ReadWrite | Measure-Object -Minimum).Minimum), $Calls | Write-Host
'Goals: Measure-Syscall -Engine Bpf <= 2x bare (work): dd {0:N2}x, getppid {1:N2}x; perf stat: dd {2:N2}x, getppid {3:N2}x; -All: dd <= 5x bare with 0 lost' -f `
    ((Best $results['dd|Measure-Syscall -Engine Bpf'] Work) / $ddBare), ((Best $results['getppid|Measure-Syscall -Engine Bpf'] Work) / (Best $results['getppid|bare'] Work)),
    $(if ($hasPerf) { (Best $results['dd|perf stat -e raw_syscalls:sys_enter'] Work) / $ddBare } else { [double]::NaN }),
    $(if ($hasPerf) { (Best $results['getppid|perf stat -e raw_syscalls:sys_enter'] Work) / (Best $results['getppid|bare'] Work) } else { [double]::NaN }) | Write-Host
