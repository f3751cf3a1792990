<#
.SYNOPSIS
    Measure-PerfCounter against perf stat on the same command, in one run.
.DESCRIPTION
    Runs a short command -Runs times under perf stat -x, -e <events> and under Measure-PerfCounter -Event <events>,
    interleaved; prints the median wall time of each, the ratio, and the counts side by side.
#>
param(
    [string] $ModulePath = (Get-ChildItem (Join-Path $PSScriptRoot '../output/KernelDebug') -Filter KernelDebug.psd1 -Recurse | Select-Object -First 1 -ExpandProperty FullName),
    [int] $Runs = 10,
    [string[]] $Event = @('task-clock', 'page-faults', 'context-switches', 'syscalls:sys_enter_openat')
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
$perf = @(); $ours = @(); $perfOut = $null; $oursOut = $null
$csv = Join-Path ([IO.Path]::GetTempPath()) "kd-bench-$PID.csv"
try {
    for ($i = 0; $i -lt $Runs; $i++) {
        $perf += (Measure-Command { & perf stat '-x,' -o $csv -e ($Event -join ',') -- /bin/ls /usr/bin > $null }).TotalSeconds
        $ours += (Measure-Command { $script:oursOut = Measure-PerfCounter -Command /bin/ls -ArgumentList /usr/bin -Event $Event }).TotalSeconds
    }
    $perfOut = Get-Content $csv | Where-Object { $_ -match '^[\d.<]' }
}
finally { Remove-Item $csv -ErrorAction Ignore }
function Median($v) { $s = $v | Sort-Object; $s[[int][math]::Floor($s.Count / 2)] }
$p = Median $perf; $o = Median $ours
[pscustomobject]@{ Tool = 'perf stat'; MedianSeconds = [math]::Round($p, 4) }
[pscustomobject]@{ Tool = 'Measure-PerfCounter'; MedianSeconds = [math]::Round($o, 4) }
''
'Ratio perf stat / Measure-PerfCounter: {0:N2}x (> 1 means we are faster)' -f ($p / $o)
''
'Counts of the last run (perf stat, then ours):'
$perfOut
$oursOut | ForEach-Object { if ($_.Unit -eq 'ns') { '{0:F2},msec,{1}' -f ($_.Value / 1e6), $_.Event } else { '{0},,{1}' -f $_.Value, $_.Event } }
