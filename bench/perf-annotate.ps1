<#
.SYNOPSIS
    Get-PerfAnnotation against perf annotate --stdio, and Compare-PerfReport against perf diff, on recordings perf makes here.
.DESCRIPTION
    Builds tests/fixtures/perf/hotspots.c with gcc -O2 -g, records two runs with perf record (-Frequency Hz; the
    argument moves work from alpha to beta), then times in one run: perf annotate --stdio -s alpha > /dev/null and
    Get-PerfAnnotation -Symbol alpha; perf diff > /dev/null and Compare-PerfReport. Each is run -Repeat times, the
    best wall time kept; prints the seconds and our time over perf's.
.EXAMPLE
    ./bench/perf-annotate.ps1 -Work 2000000000
#>
param(
    [string] $ModulePath = (Get-ChildItem (Join-Path $PSScriptRoot '../output/KernelDebug') -Filter KernelDebug.psd1 -Recurse | Select-Object -First 1 -ExpandProperty FullName),
    [long] $Work = 600000000,
    [int] $Frequency = 4000,
    [int] $Repeat = 3
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
$dir = Join-Path ([IO.Path]::GetTempPath()) "kd-bench-annotate-$PID"
New-Item -ItemType Directory $dir | Out-Null
try {
    $bin = Join-Path $dir 'hot'
    & gcc -O2 -g -o $bin (Join-Path $PSScriptRoot '../tests/fixtures/perf/hotspots.c')
    $a = Join-Path $dir 'a.data'; $b = Join-Path $dir 'b.data'
    & perf record -F $Frequency -o $a -- $bin 80 $Work 2>$null | Out-Null
    & perf record -F $Frequency -o $b -- $bin 20 $Work 2>$null | Out-Null
    $samples = (Get-PerfSample -Path $a | Measure-Object).Count
    function Best([scriptblock] $Script) { (1..$Repeat | ForEach-Object { (Measure-Command $Script).TotalSeconds } | Measure-Object -Minimum).Minimum }
    $rows = @(
        [pscustomobject]@{ Task = 'annotate alpha'; Perf = Best { & perf annotate -i $a --stdio -s alpha > /dev/null 2>&1 }; Ours = Best { Get-PerfAnnotation -Path $a -Symbol alpha | Out-Null } }
        [pscustomobject]@{ Task = 'diff'; Perf = Best { & perf diff $a $b > /dev/null 2>&1 }; Ours = Best { Compare-PerfReport $a $b | Out-Null } }
    )
    "$samples samples in the baseline recording; best of $Repeat"
    $rows | ForEach-Object { [pscustomobject]@{ Task = $_.Task; 'perf s' = [Math]::Round($_.Perf, 3); 'ours s' = [Math]::Round($_.Ours, 3); 'ours/perf' = [Math]::Round($_.Ours / $_.Perf, 2) } } | Format-Table -AutoSize | Out-String
}
finally { Remove-Item $dir -Recurse -Force -ErrorAction Ignore }
