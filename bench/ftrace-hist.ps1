#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Reading a 64k-bucket hist table: Get-TraceHistogram -Path against `cat hist | awk` (a text parse of the same
    rows) and against a PowerShell regex parse, with ratios.
.DESCRIPTION
    This host has no hist triggers, and filling 65536 buckets in the TCG guest of the debug kernel takes far too long,
    so the file is written here in the kernel's exact print format (trace_events_hist.c, hist_trigger_print_key and
    hist_trigger_entry_print in 6.1): a hist:keys=common_pid.execname,bytes_req:vals=hitcount,bytes_alloc table on
    kmem:kmalloc with -Buckets rows ("{ common_pid: %-16s[%10llu], bytes_req: %10llu } hitcount: %10llu  bytes_alloc:
    %10llu"), then the Totals. Each reader runs -Runs times; the median is printed. All three produce comm, pid,
    bytes_req, hitcount and bytes_alloc per row: ours as typed objects, awk as text, the regex parse as PSObjects.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [int] $Buckets = 65536,
    [int] $Runs = 3
)
$ErrorActionPreference = 'Stop'
Write-Host "load average at start: $(Get-Content /proc/loadavg)"
Import-Module (Resolve-Path $ModulePath).Path
$file = Join-Path ([IO.Path]::GetTempPath()) "kd-bench-hist-$PID.hist"
try {
    $sb = [Text.StringBuilder]::new()
    $null = $sb.Append("# event histogram`n#`n# trigger info: hist:keys=common_pid.execname,bytes_req:vals=hitcount,bytes_alloc:sort=hitcount:size=131072 [active]`n#`n`n")
    $comms = 'kworker/0:1', 'systemd-journal', 'pwsh', 'dotnet', 'sshd', 'bash', 'Xorg', 'firefox'
    $hits = 0L
    for ($i = 0; $i -lt $Buckets; $i++) {
        $hit = 1 + ($i % 97); $hits += $hit
        $req = 8 + ($i -shr 3) * 8
        $null = $sb.AppendFormat([Globalization.CultureInfo]::InvariantCulture, "{{ common_pid: {0,-16}[{1,10}], bytes_req: {2,10} }} hitcount: {3,10}  bytes_alloc: {4,10}`n",
            $comms[$i % 8], 1000 + ($i % 8), $req, $hit, $req * $hit)
    }
    $null = $sb.Append("`nTotals:`n    Hits: $hits`n    Entries: $Buckets`n    Dropped: 0`n")
    [IO.File]::WriteAllText($file, $sb.ToString())
    Write-Host ("hist file: {0:N0} rows, {1:N1} MB" -f $Buckets, ((Get-Item $file).Length / 1MB))

    function Measure-Median([scriptblock] $Script) {
        $times = foreach ($r in 1..$Runs) { $sw = [Diagnostics.Stopwatch]::StartNew(); $n = & $Script; $sw.Stop(); [pscustomobject]@{ Ms = $sw.Elapsed.TotalMilliseconds; Rows = $n } }
        $sorted = @($times | Sort-Object Ms)
        $sorted[[int][Math]::Floor($sorted.Count / 2)]
    }
    $awk = '/^\{/ { gsub(/[\[\],{}]/, " "); print $3, $4, $6, $8, $10 }'
    $ours = Measure-Median { $h = Get-TraceHistogram -Path $file -Event kmem:kmalloc -ErrorAction SilentlyContinue; if (-not $h) { $h = Get-TraceHistogram -Path $file }; $h.Buckets.Count }
    $text = Measure-Median { @(& /bin/sh -c "cat '$file' | awk '$awk'").Count }
    $regex = Measure-Median {
        $rx = [regex] '^\{ common_pid: (?<comm>.{16})\[\s*(?<pid>\d+)\], bytes_req:\s+(?<req>\d+) \} hitcount:\s+(?<hit>\d+)\s+bytes_alloc:\s+(?<alloc>\d+)'
        @(foreach ($l in [IO.File]::ReadLines($file)) { $m = $rx.Match($l); if ($m.Success) { [pscustomobject]@{ Comm = $m.Groups['comm'].Value.Trim(); Pid = [int] $m.Groups['pid'].Value; Req = [ulong] $m.Groups['req'].Value; Hit = [ulong] $m.Groups['hit'].Value; Alloc = [ulong] $m.Groups['alloc'].Value } } }).Count
    }
    foreach ($r in @(@('Get-TraceHistogram -Path', $ours), @('cat | awk (text)', $text), @('PowerShell regex parse', $regex))) {
        Write-Host ("{0,-26} {1,9:N0} ms  {2,7:N0} rows" -f $r[0], $r[1].Ms, $r[1].Rows)
    }
    Write-Host ("ratio Get-TraceHistogram / (cat | awk): {0:N2}" -f ($ours.Ms / $text.Ms))
    Write-Host ("ratio Get-TraceHistogram / regex parse: {0:N2}" -f ($ours.Ms / $regex.Ms))
    if ($ours.Rows -ne $Buckets -or $text.Rows -ne $Buckets) { throw "row counts differ: ours $($ours.Rows), awk $($text.Rows), expected $Buckets" }
}
finally { Remove-Item $file -ErrorAction SilentlyContinue }
