<#
.SYNOPSIS
    Library-call tracing cost per call: bare, raw tracefs uprobes (the floor), Measure-LibraryCall, Get-LibraryCallTrace and ltrace -c.
.DESCRIPTION
    Compiles a program making -Count malloc and -Count free calls (lazy PLT binding, so ltrace sees them) that times its
    own loop (wall clock and its own CPU time, which includes the time the kernel spends in its uprobe traps), so that
    start-up and probe set-up costs stay out. Runs, side by side in one run, in turns, the lowest of -Repeat runs each:
      bare                          no probes
      raw uprobe                    one uprobe per function through tracefs, nobody reading: the floor of any uprobe tracer
      raw uretprobe                 one uretprobe per function (the entry breakpoint that hijacks the return, and the return)
      raw uprobe+uretprobe          both, nobody reading
      raw uprobe+uretprobe, read    both, the buffers drained by cat trace_pipe_raw (the reader's cost)
      raw ... at entry (+0)         both at the first instruction: free's 'test' is single-stepped out of line, not emulated
      Measure-LibraryCall, Get-LibraryCallTrace, ltrace -c
      malloc only: raw uprobe+uretprobe, and bpftrace timing it in the kernel (a BPF map, no ring buffer): whether
                    aggregating in BPF would pay (bpftrace 0.17 places probes only at function entries, so malloc only)
    and prints the cost per call over bare (the program's wall and CPU time) and ltrace's cost over each.
#>
param(
    [string] $ModulePath = (Get-ChildItem (Join-Path $PSScriptRoot '../output/KernelDebug') -Filter KernelDebug.psd1 -Recurse | Select-Object -First 1).FullName,
    [int] $Count = 20000,
    [int] $Repeat = 5
)
Import-Module $ModulePath -Force
Add-Type -Path (Join-Path (Split-Path $ModulePath) 'KernelDebug.Engine.dll')  # the placement engine, for the raw probes
$work = Join-Path ([IO.Path]::GetTempPath()) "kd-bench-libcall-$PID"
New-Item -ItemType Directory -Force $work | Out-Null
$traceFs = '/sys/kernel/tracing'
$group = "kerneldebug_$PID"
$libc = (Get-Content /proc/self/maps | Where-Object { $_ -match '/libc\.so\.6$' } | Select-Object -First 1) -replace '^.* (/\S+)$', '$1'
try {
    $source = Join-Path $work 'alloc.c'
    Set-Content $source @"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static long long ns(clockid_t c) { struct timespec t; clock_gettime(c, &t); return t.tv_sec * 1000000000LL + t.tv_nsec; }
int main(int argc, char **argv) {
    long long w = ns(CLOCK_MONOTONIC), c = ns(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < $Count; i++) { void *volatile p = malloc(32); free(p); }
    w = ns(CLOCK_MONOTONIC) - w; c = ns(CLOCK_PROCESS_CPUTIME_ID) - c;
    FILE *f = fopen(argv[1], "w"); fprintf(f, "%lld %lld\n", w, c); fclose(f);
    return 0;
}
"@
    $program = Join-Path $work 'alloc'
    & gcc -O1 '-Wl,-z,lazy' -o $program $source
    $result = Join-Path $work 'result.txt'
    $calls = 2 * $Count

    # The probe points our cmdlets choose (instructions the kernel emulates), and the plain function entries.
    $elf = [KernelDebug.Probes.ElfSymbolResolver]::Open($libc)
    $functions = [KernelDebug.Syscall.LibraryCalls.LibraryResolver]::MatchFunctions($elf, [string[]] @('malloc', 'free'))
    $points = [KernelDebug.Syscall.LibraryCalls.EntryProbePlacement]::Choose($libc, $functions, $elf.Symbols, [Runtime.InteropServices.RuntimeInformation]::ProcessArchitecture)
    $elf.Dispose()
    $placed = for ($i = 0; $i -lt $functions.Count; $i++) { [pscustomobject]@{ Name = $functions[$i].Name; Entry = $functions[$i].FileOffset; Chosen = $points[$i].FileOffset; Why = "$($points[$i])" } }

    function Invoke-Raw([string[]] $Kinds, [switch] $AtEntry, [switch] $Read, [scriptblock] $Run, [string] $Only) {
        # Probes written straight to uprobe_events, enabled in a private instance: no module code in the way.
        $instance = Join-Path $traceFs "instances/${group}_bench"
        $names = @()
        $readers = @()
        try {
            New-Item -ItemType Directory $instance | Out-Null
            foreach ($p in $placed | Where-Object { -not $Only -or $_.Name -eq $Only }) {
                $offset = if ($AtEntry) { $p.Entry } else { $p.Chosen }
                foreach ($k in $Kinds) {
                    $name = "b_$($p.Name)_$k"
                    [IO.File]::AppendAllText("$traceFs/uprobe_events", "${k}:$group/$name ${libc}:0x$('{0:x}' -f $offset)`n")
                    $names += $name
                    [IO.File]::WriteAllText("$instance/events/$group/$name/enable", '1')
                }
            }
            if ($Read) {
                foreach ($cpu in Get-ChildItem "$instance/per_cpu" -Directory) {
                    $readers += Start-Process cat -ArgumentList "$($cpu.FullName)/trace_pipe_raw" -RedirectStandardOutput /dev/null -PassThru
                }
            }
            $sw = [Diagnostics.Stopwatch]::StartNew()
            & $Run
            # Hits on the entry probes beyond the program's own calls: other processes, which take the breakpoints too.
            if ($Kinds -contains 'p' -and -not $Only) {
                $hits = (Get-Content "$traceFs/uprobe_profile" | Where-Object { $_ -match ' b_\w+_p\s' } | ForEach-Object { [long](($_ -split '\s+')[-1]) } | Measure-Object -Sum).Sum
                $script:OtherHits = [pscustomobject]@{ Hits = $hits - $calls - 4; Seconds = $sw.Elapsed.TotalSeconds }
            }
        }
        finally {
            foreach ($r in $readers) { Stop-Process -Id $r.Id -ErrorAction Ignore; $r.WaitForExit() }
            foreach ($n in $names) { [IO.File]::WriteAllText("$instance/events/$group/$n/enable", '0') }
            if (Test-Path $instance) { [IO.Directory]::Delete($instance) }
            foreach ($n in $names) { [IO.File]::AppendAllText("$traceFs/uprobe_events", "-:$group/$n`n") }
        }
    }

    # The variants run in turns (one run of each, $Repeat times over) so that the host's changing load hits them alike;
    # each keeps its lowest wall and lowest CPU time.
    $variants = [ordered]@{
        'bare'                          = @{ Run = { & $program $result } }
        'raw uprobe'                    = @{ Run = { Invoke-Raw -Kinds p { & $program $result } } }
        'raw uretprobe'                 = @{ Run = { Invoke-Raw -Kinds r { & $program $result } } }
        'raw uprobe+uretprobe'          = @{ Run = { Invoke-Raw -Kinds p, r { & $program $result } } }
        'raw uprobe+uretprobe, read'    = @{ Run = { Invoke-Raw -Kinds p, r -Read { & $program $result } } }
        'raw uprobe+uretprobe at +0'    = @{ Run = { Invoke-Raw -Kinds p, r -AtEntry { & $program $result } } }
        'Measure-LibraryCall'           = @{ Run = { Measure-LibraryCall -Command $program -ArgumentList $result -Function malloc, free } }
        'Get-LibraryCallTrace'          = @{ Run = { Get-LibraryCallTrace -Command $program -ArgumentList $result -Function malloc, free } }
        'ltrace -c'                     = @{ Run = { & ltrace -c -o /dev/null -e malloc+free $program $result }; Times = [math]::Min($Repeat, 2) }
        'raw uprobe+uretprobe, malloc only' = @{ Run = { Invoke-Raw -Kinds p, r -Only malloc { & $program $result } }; Traced = $Count }
    }
    if (Get-Command bpftrace -ErrorAction Ignore) {
        $bt = "uprobe:${libc}:malloc /pid == cpid/ { @start[tid] = nsecs; } uretprobe:${libc}:malloc /pid == cpid/ { @ns = sum(nsecs - @start[tid]); @calls = count(); }"
        $variants['bpftrace in-kernel timing, malloc only'] = @{ Run = { & bpftrace -e $bt -c "$program $result" 2>&1 }; Traced = $Count }
    }
    $rows = [ordered]@{}
    for ($i = 0; $i -lt $Repeat; $i++) {
        foreach ($v in $variants.GetEnumerator()) {
            if ($i -ge ($v.Value.Times ?? $Repeat)) { continue }
            Remove-Item $result -ErrorAction Ignore
            $sw = [Diagnostics.Stopwatch]::StartNew()
            & $v.Value.Run | Out-Null
            $total = $sw.Elapsed.TotalSeconds
            $wall, $cpu = (Get-Content $result) -split ' ' | ForEach-Object { [double] $_ }
            $best = $rows[$v.Key] ??= [pscustomobject]@{ Wall = $wall; Cpu = $cpu; Total = $total; Calls = $v.Value.Traced ?? $calls }
            $best.Wall = [math]::Min($best.Wall, $wall); $best.Cpu = [math]::Min($best.Cpu, $cpu); $best.Total = [math]::Min($best.Total, $total)
        }
    }

    "Kernel $([Environment]::OSVersion.Version), $([Environment]::ProcessorCount) CPUs; $calls calls ($Count malloc + $Count free) timed inside the program, best of $Repeat runs taken in turns; probe points:"
    $placed | ForEach-Object { "  $($_.Name): $($_.Why)" }
    $bare = $rows['bare']
    $ltraceUs = ($rows['ltrace -c'].Wall - $bare.Wall) / 1000 / $calls
    $rows.GetEnumerator() | ForEach-Object {
        $n = $_.Value.Calls
        $us = ($_.Value.Wall - $bare.Wall) / 1000 / $n
        [pscustomobject]@{
            Variant        = $_.Key
            'traced calls' = $n
            'extra us/call' = [math]::Round($us, 2)
            'extra CPU us/call' = [math]::Round(($_.Value.Cpu - $bare.Cpu) / 1000 / $n, 2)
            'ltrace/this'  = if ($us -gt 0) { [math]::Round($ltraceUs / $us, 1) } else { $null }
            'command s'    = [math]::Round($_.Value.Total, 2)
        }
    } | Format-Table -AutoSize | Out-String -Width 200
    $ours = Measure-LibraryCall -Command $program -ArgumentList $result -Function malloc, free
    "Calls seen by Measure-LibraryCall: $(($ours | Measure-Object Calls -Sum).Sum) (expected $calls + 4: fopen's and fclose's malloc and free of the FILE and its buffer)"
    'extra us/call: wall time of the traced loop over bare, per traced call; extra CPU: the same in the program''s own CPU time (its uprobe traps included, time waiting for a CPU not).'
    'ltrace/this: ltrace''s extra wall time per call over this variant''s. The issue''s goal: at most 2 us a call.'
    if ($script:OtherHits) {
        "Other processes hit the raw entry probes $($script:OtherHits.Hits) times in the $([math]::Round($script:OtherHits.Seconds, 2)) s they existed (last run): tracefs uprobes are armed in every process that maps the library, whatever set_event_pid records."
    }
}
finally { Remove-Item -Recurse -Force $work -ErrorAction Ignore }
