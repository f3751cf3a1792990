<#
.SYNOPSIS
    Get-SyscallTrace's BPF engine against bare runs, strace -f and its ptrace engine, on dd (1M syscalls) and a
    getppid loop (1M syscalls), side by side in one run.
.DESCRIPTION
    Each workload runs bare, under strace -f -o /dev/null, under Get-SyscallTrace -Engine Ptrace and under
    Get-SyscallTrace -Engine Bpf | Measure-Object. Two times per run: Work, the traced program's own time (dd's
    "copied, N s"; the getppid loop prints its own clock_gettime span the same way), and Wall, the whole pipeline
    (cmdlet start, exec, the workload, the decoder catching up from the ring buffer, every object into Measure-Object).
    strace and the ptrace engine cost tens of microseconds per call: they run -SlowCount calls (default a tenth) and
    their times are scaled up to the full count (shown as "scaled"). Records lost by the BPF engine come from its
    verbose summary. Also printed: the end-to-end rate of objects, and pwsh's own floor (the same number of objects
    made by 1..N | Measure-Object). The goal (issue 17): the BPF engine's Work <= 5x bare with 0 lost.
    Runs -Repeat rounds, variants in turns; keeps the best of each.
#>
param(
    [string] $ModulePath = (Get-ChildItem (Join-Path $PSScriptRoot '../output/KernelDebug') -Filter KernelDebug.psd1 -Recurse | Select-Object -First 1).FullName,
    [int] $Count = 500000,
    [int] $SlowCount = 0,
    [int] $Repeat = 2,
    # Which workloads to run (dd, getppid); both by default.
    [string[]] $Workload = @('dd', 'getppid')
)
Import-Module $ModulePath -Force
if ($SlowCount -le 0) { $SlowCount = [Math]::Max(1000, [int]($Count / 10)) }
$dd = (Get-Command dd -CommandType Application | Select-Object -First 1).Source
$work = Join-Path ([IO.Path]::GetTempPath()) "kerneldebug-bench-bpf-$PID"
New-Item -ItemType Directory -Force $work | Out-Null
$getppid = Join-Path $work 'getppid'
@'
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	clock_gettime(CLOCK_MONOTONIC, &b);
	fprintf(stderr, "%ld calls, copied, %.6f s\n", n, (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
	return 0;
}
'@ | Set-Content "$getppid.c"
& gcc -O2 -o $getppid "$getppid.c"
if ($LASTEXITCODE -ne 0) { throw 'gcc failed' }

Add-Type -Namespace KernelDebugBench -Name BpfFd -MemberDefinition @'
[System.Runtime.InteropServices.DllImport("libc", SetLastError = true)] public static extern int dup(int fd);
[System.Runtime.InteropServices.DllImport("libc", SetLastError = true)] public static extern int dup2(int fd, int to);
[System.Runtime.InteropServices.DllImport("libc", SetLastError = true)] public static extern int close(int fd);
'@
$stderrFile = Join-Path $work 'stderr'

# One run with fd 2 on a file: wall seconds, the program's own seconds, and what the run returned (objects, lost).
function Measure-Run([scriptblock] $Run) {
    $file = [IO.File]::OpenHandle($stderrFile, 'Create', 'Write')
    $saved = [KernelDebugBench.BpfFd]::dup(2)
    [void][KernelDebugBench.BpfFd]::dup2($file.DangerousGetHandle().ToInt32(), 2)
    try {
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $out = & $Run
        $wall = $sw.Elapsed.TotalSeconds
    }
    finally {
        [void][KernelDebugBench.BpfFd]::dup2($saved, 2)
        [void][KernelDebugBench.BpfFd]::close($saved)
        $file.Dispose()
    }
    $m = [regex]::Match((Get-Content -Raw $stderrFile), 'copied, ([0-9.e+-]+) s')
    [pscustomobject]@{ Wall = $wall; Work = if ($m.Success) { [double]$m.Groups[1].Value } else { [double]::NaN }; Out = $out }
}

# The BPF run: objects counted by Measure-Object, lost records from the engine's verbose summary.
function Invoke-Bpf([string] $Program, [string[]] $Arguments) {
    $objects = 0; $lost = -1
    Get-SyscallTrace -Engine Bpf -Command $Program -ArgumentList $Arguments -RedirectStandardOutput /dev/null -RedirectStandardError $stderrFile -Verbose 4>&1 | ForEach-Object {
        if ($_ -is [Management.Automation.VerboseRecord]) {
            if ($_.Message -match 'records received, (\d+) lost') { $lost = [long]$Matches[1] }
        }
        else { $_ }
    } | Measure-Object | ForEach-Object { $objects = $_.Count }
    [pscustomobject]@{ Objects = $objects; Lost = $lost }
}

$workloads = [ordered]@{
    "dd bs=1 count=$Count ($(2 * $Count) calls)" = @{ Program = $dd; Args = { param($n) 'if=/dev/zero', 'of=/dev/null', 'bs=1', "count=$n" }; Calls = 2 * $Count; Slow = [int]($SlowCount / 2) }
    "getppid x $(2 * $Count)"                    = @{ Program = $getppid; Args = { param($n) "$n" }; Calls = 2 * $Count; Slow = $SlowCount }
}

$loadBefore = (Get-Content /proc/loadavg) -replace ' \d+/.*$'
$floorSw = [Diagnostics.Stopwatch]::StartNew()
$null = 1..(2 * $Count) | Measure-Object
$floor = $floorSw.Elapsed.TotalSeconds

$rows = foreach ($name in $workloads.Keys) {
    if (-not ($Workload | Where-Object { $name -like "$_*" })) { continue }
    $w = $workloads[$name]
    $full = @(& $w.Args ([int]($w.Calls / ($name -like 'dd*' ? 2 : 1))))
    $slowArgs = @(& $w.Args $w.Slow)
    $slowCalls = $w.Slow * ($name -like 'dd*' ? 2 : 1)
    $scale = $w.Calls / $slowCalls
    $best = @{}
    # Warm-up: page cache, the cmdlet's JIT, the BPF object's first load.
    $null = Measure-Run { & $w.Program @slowArgs }
    $null = Measure-Run { Invoke-Bpf $w.Program $slowArgs }
    for ($round = 0; $round -lt $Repeat; $round++) {
        $runs = [ordered]@{
            'bare'                                   = { & $w.Program @full }
            'strace -f -o /dev/null (scaled)'        = { & strace -f -o /dev/null $w.Program @slowArgs }
            'Get-SyscallTrace -Engine Ptrace (scaled)' = { Get-SyscallTrace -Engine Ptrace -Command $w.Program -ArgumentList $slowArgs -RedirectStandardOutput /dev/null -RedirectStandardError $stderrFile | Measure-Object | Out-Null }
            'Get-SyscallTrace -Engine Bpf'           = { Invoke-Bpf $w.Program $full }
        }
        foreach ($v in $runs.Keys) {
            $r = Measure-Run $runs[$v]
            if ($v -like '*(scaled)') { $r.Wall *= $scale; $r.Work *= $scale }
            if (-not $best[$v] -or $r.Work -lt $best[$v].Work) { $best[$v] = $r }
        }
    }
    $bare = $best['bare']
    foreach ($v in $best.Keys) {
        $r = $best[$v]
        [pscustomobject]@{
            Workload   = $name
            Variant    = $v
            'Work s'   = [Math]::Round($r.Work, 3)
            'Wall s'   = [Math]::Round($r.Wall, 3)
            'Work/bare' = [Math]::Round($r.Work / $bare.Work, 2)
            'Wall/bare' = [Math]::Round($r.Wall / $bare.Wall, 2)
            Objects    = if ($r.Out) { $r.Out.Objects } else { $null }
            Lost       = if ($r.Out) { $r.Out.Lost } else { $null }
            'Objects/s' = if ($r.Out) { [Math]::Round($r.Out.Objects / $r.Wall) } else { $null }
        }
    }
}
$rows | Sort-Object Workload, { @('bare', 'strace -f -o /dev/null (scaled)', 'Get-SyscallTrace -Engine Ptrace (scaled)', 'Get-SyscallTrace -Engine Bpf').IndexOf($_.Variant) } | Format-Table -AutoSize | Out-String -Width 200 | Write-Host
'pwsh floor: 1..{0} | Measure-Object took {1:N2} s ({2:N0} objects/s)' -f (2 * $Count), $floor, (2 * $Count / $floor) | Write-Host
'Load average before: {0}; after: {1}' -f $loadBefore, ((Get-Content /proc/loadavg) -replace ' \d+/.*$') | Write-Host
'Goal: Get-SyscallTrace -Engine Bpf Work/bare <= 5 with 0 lost (strace -f: 76-109x).' | Write-Host
Remove-Item -Recurse -Force $work -ErrorAction Ignore
