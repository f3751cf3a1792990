#!/usr/bin/env pwsh
<#
.SYNOPSIS
    The BPF engine side by side with libbpf: event throughput of Receive-BpfEvent and the load time of a CO-RE object.
.DESCRIPTION
    Throughput: the module's kd_events program with burst = 100 emits 100 ring-buffer records per getppid(2); perl
    makes -Calls calls (1M records by default), pausing -PauseMicroseconds after each so that the offered rate is one a
    consumer can follow (unpaced, the bursts overrun the 4 MiB ring in microseconds), while
    Receive-BpfEvent -Count | Measure-Object drains them. Prints
    records/s end to end, pwsh's own floor (the same number of objects through Measure-Object with no kernel in the
    way), and the records the full ring buffer had no room for (kd_events counts failed reservations in .bss).
    Load time: Import-BpfObject of BCC's execsnoop.bpf.o (CO-RE, tests/fixtures/bpf/libbpf-tools) against
    bpftool prog loadall (libbpf) of the same file, -Repeat times each, medians and their ratio.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [int] $Calls = 10000,
    [int] $PauseMicroseconds = 200,
    [int] $Repeat = 5
)
$ErrorActionPreference = 'Stop'
Import-Module (Resolve-Path $ModulePath).Path
Write-Host "load average at start: $(Get-Content /proc/loadavg)"
$records = [long]$Calls * 100

# --- throughput ---
$o = Import-BpfObject -BuiltIn kd_events -Constant @{ burst = 100 }
try {
    $o | Start-BpfProgram -Name kd_getppid | Out-Null
    $gen = Start-ThreadJob -ArgumentList $Calls, ($PauseMicroseconds / 1e6) {
        param($n, $pause)
        Start-Sleep -Milliseconds 500
        perl -e "for (1..$n) { getppid(); select(undef, undef, undef, $pause) }"
    }
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $count = (Receive-BpfEvent $o -Map events -Count $records -Duration 00:01:00 | Measure-Object).Count
    $sw.Stop()
    $gen | Wait-Job | Remove-Job
    $bss = ($o.Maps | Where-Object Name -eq .bss | Read-BpfMap).Value
    $data = ($o.Maps | Where-Object Name -eq .data | Read-BpfMap).Value
}
finally { Remove-BpfObject $o }
$floor = Measure-Command { 1..$records | ForEach-Object { [pscustomobject]@{ pid = $_ } } | Measure-Object }
$rate = $count / $sw.Elapsed.TotalSeconds
$floorRate = $records / $floor.TotalSeconds
'{0,-44} {1,12:N0} records in {2,6:N2} s = {3,10:N0} records/s' -f 'Receive-BpfEvent | Measure-Object', $count, $sw.Elapsed.TotalSeconds, $rate
'{0,-44} {1,12:N0} objects in {2,6:N2} s = {3,10:N0} objects/s' -f 'pwsh floor ([pscustomobject] | Measure-Object)', $records, $floor.TotalSeconds, $floorRate
'emitted by the program: {0:N0}; dropped for want of ring buffer room: {1:N0}; engine/floor ratio {2:N2}' -f $data.emitted, $bss.dropped, ($rate / $floorRate)

# --- load time ---
$object = Join-Path $PSScriptRoot '../tests/fixtures/bpf/libbpf-tools/execsnoop.bpf.o'
$ours = foreach ($i in 1..$Repeat) {
    $t = Measure-Command { $x = Import-BpfObject $object }
    Remove-BpfObject $x
    $t.TotalMilliseconds
}
$pin = "/sys/fs/bpf/kerneldebug_bench_$PID"
$theirs = foreach ($i in 1..$Repeat) {
    $t = Measure-Command { & bpftool prog loadall $object $pin 2>$null }
    Remove-Item -Recurse -Force $pin -ErrorAction Ignore
    $t.TotalMilliseconds
}
function Median($v) { $s = @($v | Sort-Object); $s[[int][Math]::Floor($s.Count / 2)] }
'{0,-44} first {1,8:N1} ms, median {2,8:N1} ms' -f 'Import-BpfObject execsnoop.bpf.o', $ours[0], (Median $ours)
'{0,-44} first {1,8:N1} ms, median {2,8:N1} ms' -f 'bpftool prog loadall execsnoop.bpf.o', $theirs[0], (Median $theirs)
'load time ratio (ours/libbpf, medians): {0:N2}' -f ((Median $ours) / (Median $theirs))
