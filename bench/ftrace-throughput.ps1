#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Ftrace decode and streaming throughput against trace-cmd report and the kernel's text rendering, side by side on one run.
.DESCRIPTION
    One workload (dd, 1-byte reads and writes) is recorded into instances with the same events at once:
    A is read by trace-cmd extract + trace-cmd report, B's raw pages are copied and decoded by the engine in memory,
    C is rendered by the kernel (its trace file) and then streamed by Receive-TraceEvent | Measure-Object.
    Prints events/s of each and the ratios, with the load average (the machine may be shared). PowerShell's own
    per-object cost is measured too (the same records, ready-made, written one at a time into Measure-Object):
    no cmdlet can beat that floor. The engine is timed twice: as the cmdlet streams (field values decoded
    on first use, which Measure-Object never makes) and with every field value decoded (what trace-cmd report does).
    Memory while streaming millions of events live: bench/ftrace-memory.ps1.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [int] $Syscalls = 150000
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
$tracefs = '/sys/kernel/tracing'
$events = 'syscalls:sys_enter_read', 'syscalls:sys_exit_read', 'syscalls:sys_enter_write', 'syscalls:sys_exit_write'
$tmp = Join-Path ([IO.Path]::GetTempPath()) "kd-bench-$PID"
New-Item -ItemType Directory $tmp | Out-Null
Write-Host "load average at start: $(Get-Content /proc/loadavg)"
# D (small, overwritten) only warms the cmdlet's code up before C is timed, as the floor's first run warms PowerShell's.
$instances = @(1..3 | ForEach-Object { New-FtraceInstance -BufferSizeKb 65536 }) + @(New-FtraceInstance -BufferSizeKb 2048)
try {
    foreach ($i in $instances) { Enable-TraceEvent $events -Instance $i }
    & dd if=/dev/zero of=/dev/null bs=1 count=$Syscalls 2>$null
    foreach ($i in $instances) { Stop-Ftrace $i }
    $a, $b, $c, $d = $instances

    # trace-cmd report on a trace.dat of A.
    $dat = Join-Path $tmp 'a.dat'
    # -k: without it trace-cmd extract resets the top level as well (tracing_on, events, filters, buffer, tracer).
    $extract = & trace-cmd extract -k -B $a.Name -o $dat 2>&1
    if ($LASTEXITCODE -ne 0 -or -not (Test-Path $dat)) { throw "trace-cmd extract failed ($LASTEXITCODE): $($extract -join "`n")" }
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $tcLines = (& trace-cmd report -i $dat 2>$null | Measure-Object -Line).Lines
    $tcSeconds = $sw.Elapsed.TotalSeconds
    if (-not $tcLines) { throw "trace-cmd report printed nothing: $(& trace-cmd report -i $dat 2>&1 | Select-Object -First 5)" }
    # The count above includes PowerShell's line handling: time trace-cmd alone into a file as well.
    $sw.Restart(); & trace-cmd report -i $dat -o (Join-Path $tmp 'a.txt') 2>$null | Out-Null; $tcAlone = $sw.Elapsed.TotalSeconds
    if (-not (Test-Path (Join-Path $tmp 'a.txt'))) { $sw.Restart(); & sh -c "trace-cmd report -i '$dat' > '$tmp/a.txt' 2>/dev/null"; $tcAlone = $sw.Elapsed.TotalSeconds }

    # Engine decode of B's raw pages, in memory.
    $pages = [System.Collections.Generic.List[object]]::new()
    $cpus = Get-ChildItem "$($b.Path)/per_cpu" -Directory | ForEach-Object { [int]$_.Name.Substring(3) }
    foreach ($cpu in $cpus) {
        $file = Join-Path $tmp "cpu$cpu.raw"
        & dd if="$($b.Path)/per_cpu/cpu$cpu/trace_pipe_raw" of=$file bs=4096 iflag=nonblock 2>$null
        $pages.Add([pscustomobject]@{ Cpu = $cpu; Bytes = [IO.File]::ReadAllBytes($file) })
    }
    $layout = [KernelDebug.Ftrace.RingBufferLayout]::Load($tracefs, $b)
    $decoder = [KernelDebug.Ftrace.TraceRecordDecoder]::new($layout, [KernelDebug.Ftrace.CommCache]::new($tracefs, $true), [KernelDebug.Ftrace.TraceClock]::None, $null)
    $decode = {
        param([bool] $fields)
        $best = [double]::MaxValue; $n = 0
        foreach ($round in 1..5) {
            $counter = [KernelDebug.Ftrace.RecordCounter]::new($fields)
            $sw.Restart()
            foreach ($p in $pages) { $null = $decoder.DecodePages($p.Bytes, $p.Cpu, $counter.Add) }
            $best = [Math]::Min($best, $sw.Elapsed.TotalSeconds); $n = $counter.Count
        }
        $n, $best
    }
    $null = & $decode $true # JIT warm-up (tiered compilation needs a few rounds)
    $decoded, $best = & $decode $false
    $decodedAll, $bestAll = & $decode $true
    $bytes = ($pages | ForEach-Object { $_.Bytes.Length } | Measure-Object -Sum).Sum

    # The kernel's text rendering of C, then the cmdlet end to end on C.
    $sw.Restart(); $textLines = [regex]::Count([IO.File]::ReadAllText("$($c.Path)/trace"), '(?m)^[^#\n]'); $textSeconds = $sw.Elapsed.TotalSeconds
    # PowerShell's own cost per object (WriteObject, then Measure-Object binding its InputObject) bounds any cmdlet:
    # the same number of ready-made objects written one at a time. Run once first so both are timed with warm code.
    $floorType = Add-Type -PassThru -TypeDefinition @'
using System.Management.Automation;
[Cmdlet(VerbsCommunications.Write, "KdBenchObjects")]
public sealed class WriteKdBenchObjects : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0)] public object[] InputObject { get; set; }
    protected override void EndProcessing() { foreach (var o in InputObject) WriteObject(o); }
}
'@
    Import-Module $floorType[0].Assembly
    $list = [System.Collections.Generic.List[KernelDebug.TraceRecord]]::new()
    foreach ($p in $pages) { $null = $decoder.DecodePages($p.Bytes, $p.Cpu, [Action[KernelDebug.TraceRecord]]$list.Add) }
    $ready = [object[]]$list.ToArray()
    $null = Write-KdBenchObjects $ready | Measure-Object
    $sw.Restart(); $floorCount = (Write-KdBenchObjects $ready | Measure-Object).Count; $floorSeconds = $sw.Elapsed.TotalSeconds
    $ready = $null; $list = $null

    $null = Receive-TraceEvent $d -NoWait -WarningAction SilentlyContinue | Measure-Object
    $sw.Restart(); $e2e = (Receive-TraceEvent $c -NoWait | Measure-Object).Count; $e2eSeconds = $sw.Elapsed.TotalSeconds

    $rate = { param($n, $s) [Math]::Round($n / $s) }
    $tc = & $rate $tcLines $tcAlone
    $engine = & $rate $decoded $best
    $engineAll = & $rate $decodedAll $bestAll
    $text = & $rate $textLines $textSeconds
    $cmdlet = & $rate $e2e $e2eSeconds
    $floor = & $rate $floorCount $floorSeconds
    $rows = @(
        [pscustomobject]@{ What = 'trace-cmd report (trace.dat of A, to a file)'; Events = $tcLines; Seconds = [Math]::Round($tcAlone, 3); EventsPerSecond = $tc }
        [pscustomobject]@{ What = 'kernel text rendering (C/trace)'; Events = $textLines; Seconds = [Math]::Round($textSeconds, 3); EventsPerSecond = $text }
        [pscustomobject]@{ What = "engine decode (B raw pages, $([Math]::Round($bytes / 1MB, 1)) MiB, best of 5)"; Events = $decoded; Seconds = [Math]::Round($best, 3); EventsPerSecond = $engine }
        [pscustomobject]@{ What = 'engine decode, every field value too (B)'; Events = $decodedAll; Seconds = [Math]::Round($bestAll, 3); EventsPerSecond = $engineAll }
        [pscustomobject]@{ What = 'pwsh floor: ready records, WriteObject each | Measure-Object'; Events = $floorCount; Seconds = [Math]::Round($floorSeconds, 3); EventsPerSecond = $floor }
        [pscustomobject]@{ What = 'Receive-TraceEvent -NoWait | Measure-Object (C)'; Events = $e2e; Seconds = [Math]::Round($e2eSeconds, 3); EventsPerSecond = $cmdlet }
    )
    $rows | Format-Table -AutoSize | Out-String -Width 200 | Write-Host
    Write-Host ("ratio engine decode / trace-cmd report: {0:N2}x   (goal: engine >= 2M events/s: {1})" -f ($engine / $tc), ($engine -ge 2e6))
    Write-Host ("ratio engine decode with all field values / trace-cmd report: {0:N2}x   (>= 2M events/s: {1})" -f ($engineAll / $tc), ($engineAll -ge 2e6))
    Write-Host ("ratio engine decode / kernel text:      {0:N2}x" -f ($engine / $text))
    Write-Host ("ratio cmdlet end-to-end / pwsh floor:   {0:N2}x" -f ($cmdlet / $floor))
    Write-Host ("ratio cmdlet end-to-end / trace-cmd:    {0:N2}x   (goal: cmdlet >= 0.5M events/s: {1})" -f ($cmdlet / $tc), ($cmdlet -ge 5e5))
    Write-Host "load average at end: $(Get-Content /proc/loadavg)"
}
finally {
    foreach ($i in $instances) { if (Test-Path $i.Path) { Remove-FtraceInstance $i } }
    Remove-Item $tmp -Recurse -Force
}
