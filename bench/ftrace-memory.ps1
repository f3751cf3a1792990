#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Memory while streaming millions of live trace events: Receive-TraceEvent | Measure-Object in a child pwsh whose
    resident set (VmRSS) this script samples every second.
.DESCRIPTION
    A small C program (built here with gcc) calls getpid() at a steady rate; the child pwsh streams
    syscalls:sys_enter_getpid from a private instance until it has -Events records. Prints the child's RSS at the
    start of the stream, at its peak and at the end, the RSS of each quarter of the run (flat means no quarter grows
    past the first), events/s, and what the kernel dropped because the stream fell behind the generator.
    Without gcc the load is dd (1-byte writes) and the event syscalls:sys_enter_write.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [long] $Events = 10000000,
    # getpid() calls per second the generator aims at: above what one core streams, so the reader never idles.
    [int] $Rate = 1000000,
    [int] $TimeoutSeconds = 600
)
$ErrorActionPreference = 'Stop'
Write-Host "load average at start: $(Get-Content /proc/loadavg)"
$ModulePath = (Resolve-Path $ModulePath).Path
$tmp = Join-Path ([IO.Path]::GetTempPath()) "kd-bench-mem-$PID"
New-Item -ItemType Directory $tmp | Out-Null

function Get-Rss([int] $ProcessId) {
    try {
        foreach ($line in [IO.File]::ReadAllLines("/proc/$ProcessId/status")) {
            if ($line.StartsWith('VmRSS:')) { return [long]($line -replace '\D', '') * 1KB }
        }
    }
    catch { }
    return $null
}

$load = $null; $child = $null
try {
    $event = 'syscalls:sys_enter_getpid'
    if (Get-Command gcc -ErrorAction SilentlyContinue) {
        # Runs until killed or an hour passes; sleeps between bursts to hold the rate.
        Set-Content (Join-Path $tmp 'getpid.c') @'
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    double rate = argc > 1 ? atof(argv[1]) : 1e6, start = now();
    for (long done = 0; now() - start < 3600; ) {
        for (int i = 0; i < 1000; i++) syscall(SYS_getpid);
        done += 1000;
        double ahead = done / rate - (now() - start);
        if (ahead > 0) { struct timespec s = { (time_t)ahead, (long)((ahead - (time_t)ahead) * 1e9) }; nanosleep(&s, 0); }
    }
    return 0;
}
'@
        & gcc -O2 -o (Join-Path $tmp 'getpid') (Join-Path $tmp 'getpid.c')
        if ($LASTEXITCODE -ne 0) { throw 'gcc failed to build the getpid generator.' }
        $load = Start-Process (Join-Path $tmp 'getpid') -ArgumentList "$Rate" -PassThru
    }
    else {
        $event = 'syscalls:sys_enter_write'
        $load = Start-Process dd -ArgumentList 'if=/dev/zero', 'of=/dev/null', 'bs=1', 'count=10000000000' -PassThru
    }

    # The child reports its own RSS just before and after the stream; the samples in between come from here.
    $script = @"
Import-Module '$ModulePath'
function Rss { [long]((Get-Content /proc/self/status | Where-Object { `$_ -like 'VmRSS:*' }) -replace '\D', '') * 1KB }
`$before = Rss
Set-Content '$tmp/started' `$before
`$sw = [Diagnostics.Stopwatch]::StartNew()
`$n = (Receive-TraceEvent -Event '$event' -Count $Events -WarningVariable lost -WarningAction SilentlyContinue | Measure-Object).Count
`$seconds = `$sw.Elapsed.TotalSeconds
`$after = Rss
`$info = [GC]::GetGCMemoryInfo()
`$heap = `$info.HeapSizeBytes
`$committed = `$info.TotalCommittedBytes
`$gen2 = [GC]::CollectionCount(2)
`$live = [GC]::GetTotalMemory(`$true)
"`$before `$after `$n `$seconds `$heap `$live `$gen2 `$committed"
"`$lost"
"@
    $pwsh = [Environment]::ProcessPath
    $arguments = @('-NoProfile', '-NonInteractive', '-EncodedCommand', [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($script)))
    if ([IO.Path]::GetFileNameWithoutExtension($pwsh) -eq 'dotnet') { $arguments = @([Environment]::GetCommandLineArgs()[0]) + $arguments }
    $out = Join-Path $tmp 'child.out'
    $child = Start-Process $pwsh -ArgumentList $arguments -PassThru -RedirectStandardOutput $out -RedirectStandardError (Join-Path $tmp 'child.err')

    $samples = [System.Collections.Generic.List[long]]::new()
    $timer = [Diagnostics.Stopwatch]::StartNew()
    # Sampled from when the child starts streaming (after pwsh's start-up and Import-Module).
    while (-not $child.HasExited -and -not (Test-Path (Join-Path $tmp 'started')) -and $timer.Elapsed.TotalSeconds -lt $TimeoutSeconds) { Start-Sleep -Milliseconds 50 }
    while (-not $child.HasExited -and $timer.Elapsed.TotalSeconds -lt $TimeoutSeconds) {
        Start-Sleep -Seconds 1
        $rss = Get-Rss $child.Id
        if ($rss) { $samples.Add($rss) }
    }
    if (-not $child.HasExited) { Stop-Process -Id $child.Id; throw "The stream did not end within $TimeoutSeconds s." }
    $lines = Get-Content $out
    if (-not $lines) { throw "The child pwsh printed nothing: $(Get-Content (Join-Path $tmp 'child.err') -Raw)" }
    $before, $after, $n, $seconds, $heap, $live, $gen2, $committed = $lines[0] -split ' '
    $before = [long]$before; $after = [long]$after; $n = [long]$n; $seconds = [double]$seconds
    $peak = ($samples | Measure-Object -Maximum).Maximum
    $quarter = [Math]::Max(1, [Math]::Floor($samples.Count / 4))
    $quarters = 0..3 | ForEach-Object { ($samples | Select-Object -Skip ($_ * $quarter) -First $quarter | Measure-Object -Maximum).Maximum }
    $mib = { param($b) '{0:N0} MiB' -f ($b / 1MB) }
    [pscustomobject]@{
        Event           = $event
        Events          = $n
        Seconds         = [Math]::Round($seconds, 1)
        EventsPerSecond = [Math]::Round($n / $seconds)
        RssStart        = & $mib $before
        RssPeak         = & $mib ([Math]::Max($peak, $after))
        RssEnd          = & $mib $after
        RssPeakByQuarter = ($quarters | ForEach-Object { & $mib $_ }) -join ', '
        Samples         = $samples.Count
        RssEachSecond   = ($samples | ForEach-Object { [Math]::Round($_ / 1MB) }) -join ' '
        ManagedHeapEnd  = "{0} ({1} live after a full collection; {2} committed by the GC; {3} gen2 collections)" -f (& $mib ([long]$heap)), (& $mib ([long]$live)), (& $mib ([long]$committed)), $gen2
    } | Format-List | Out-String | Write-Host
    if ($lines.Count -gt 1 -and $lines[1]) {
        Write-Host "kernel: $($lines[1])"
        # What the generator offered: the records streamed plus those the kernel overwrote before they were read.
        if ($lines[1] -match '(\d+) overwritten') { Write-Host ("offered by the generator: about {0:N0} events/s" -f (($n + [long]$Matches[1]) / $seconds)) }
    }
    Write-Host ("ratio RSS peak / start: {0:N2}x, end / start: {1:N2}x; last quarter / second quarter peak: {2:N2}x (flat: {3})" -f `
        ([Math]::Max($peak, $after) / $before), ($after / $before), ($quarters[3] / $quarters[1]), ($quarters[3] -le $quarters[1] * 1.1))
    Write-Host ("Receive-TraceEvent | Measure-Object: {0:N0} events/s (goal >= 0.5M/s: {1})" -f ($n / $seconds), ($n / $seconds -ge 5e5))
    Write-Host "load average at end: $(Get-Content /proc/loadavg)"
}
finally {
    if ($child -and -not $child.HasExited) {
        Stop-Process -Id $child.Id -ErrorAction SilentlyContinue
        # A killed child cannot remove its private instance.
        Get-Item "/sys/kernel/tracing/instances/kerneldebug_$($child.Id)_*" -ErrorAction SilentlyContinue | ForEach-Object { [IO.Directory]::Delete($_.FullName) }
    }
    if ($load) { Stop-Process -Id $load.Id -ErrorAction SilentlyContinue }
    Remove-Item $tmp -Recurse -Force -ErrorAction SilentlyContinue
}
