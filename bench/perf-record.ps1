<#
.SYNOPSIS
    Start-PerfRecord overhead against perf record -F 999 --no-bpf-event on the same CPU-bound program, in one run.
.DESCRIPTION
    Times the program alone, under perf record (-F 999 -g --no-bpf-event) and under Start-PerfRecord
    (-Frequency 999 -CallGraph FramePointer -Wait), -Runs times each, interleaved, and prints the medians, the
    overhead of each recorder over the bare run, and the ratio of the two.
#>
param(
    [string] $ModulePath = (Get-ChildItem (Join-Path $PSScriptRoot '../output/KernelDebug') -Filter KernelDebug.psd1 -Recurse | Select-Object -First 1 -ExpandProperty FullName),
    [int] $Runs = 3,
    [long] $Spin = 400000000
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
$work = Join-Path ([IO.Path]::GetTempPath()) "kd-bench-$PID"
New-Item -ItemType Directory $work | Out-Null
try {
    $prog = Join-Path $work 'workload'
    & gcc -O1 -fno-omit-frame-pointer -o $prog (Join-Path $PSScriptRoot '../tests/fixtures/perf/workload.c')
    $progArgs = '100', '0', '0', "$Spin"
    $bare = @(); $perf = @(); $ours = @(); $oursSamples = 0; $perfSamples = ''
    for ($i = 0; $i -lt $Runs; $i++) {
        $bare += (Measure-Command { & $prog @progArgs }).TotalSeconds
        $perf += (Measure-Command { $script:perfSamples = & perf record -F 999 -g --no-bpf-event -o (Join-Path $work 'perf.data') -- $prog @progArgs 2>&1 | Out-String }).TotalSeconds
        $ours += (Measure-Command { $script:oursSamples = (Start-PerfRecord -Command $prog -ArgumentList $progArgs -Frequency 999 -CallGraph FramePointer -Path (Join-Path $work 'ours.data') -Wait).Samples }).TotalSeconds
    }
    function Median($v) { $s = $v | Sort-Object; $s[[int][math]::Floor($s.Count / 2)] }
    $b = Median $bare; $p = Median $perf; $o = Median $ours
    [pscustomobject]@{ Run = 'program alone'; Seconds = [math]::Round($b, 3); Overhead = '' }
    [pscustomobject]@{ Run = 'perf record -F 999 -g --no-bpf-event'; Seconds = [math]::Round($p, 3); Overhead = '{0:N3} s' -f ($p - $b) }
    [pscustomobject]@{ Run = 'Start-PerfRecord -Frequency 999 -CallGraph FramePointer -Wait'; Seconds = [math]::Round($o, 3); Overhead = '{0:N3} s' -f ($o - $b) }
    ''
    "samples: Start-PerfRecord $oursSamples; perf record: $(($perfSamples -split "`n" | Select-String 'samples').Line)"
    'Ratio of wall time, perf record / Start-PerfRecord: {0:N2}x (> 1 means we are cheaper)' -f ($p / $o)
    'Ratio of overhead, perf record / Start-PerfRecord: {0:N2}x' -f (($p - $b) / [math]::Max(0.001, $o - $b))
}
finally { Remove-Item -Recurse -Force $work -ErrorAction Ignore }
