<#
.SYNOPSIS
    DWARF unwinding rate: Get-PerfSample and the engine's decoder against perf script on one --call-graph dwarf recording.
.DESCRIPTION
    Builds tests/fixtures/perf/dwarf/deep.c with gcc -O2 -fomit-frame-pointer (a ten-deep noinline chain into libc's
    start-up: only CFI unwinds it), records it with perf record --call-graph dwarf at -Frequency, and times, in one
    run: perf script -F ip,sym (with and without inline frames) > /dev/null, the engine decoder alone (unwinding every
    sample), and Get-PerfSample | Measure-Object. Prints wall and CPU seconds, samples and frames per second, and the ratios.
.EXAMPLE
    ./bench/perf-dwarf.ps1 -Seconds 10
#>
param(
    [string] $ModulePath = (Get-ChildItem (Join-Path $PSScriptRoot '../output/KernelDebug') -Filter KernelDebug.psd1 -Recurse | Select-Object -First 1 -ExpandProperty FullName),
    # How long the program runs (its rounds are scaled to this), and the sampling frequency.
    [double] $Seconds = 8,
    [int] $Frequency = 4000,
    # Reuse (or keep) the recording here instead of a temporary file.
    [string] $DataPath
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
$work = Join-Path ([IO.Path]::GetTempPath()) "kd-bench-dwarf-$PID"
New-Item -ItemType Directory $work | Out-Null
try {
    $data = if ($DataPath) { $DataPath } else { Join-Path $work 'dwarf.data' }
    if (-not (Test-Path $data)) {
        $prog = Join-Path $work 'deep'
        & gcc -O2 -fomit-frame-pointer -g -o $prog (Join-Path $PSScriptRoot '../tests/fixtures/perf/dwarf/deep.c')
        # About 1100 rounds a second on one core here.
        & perf record -q -o $data --call-graph dwarf -F $Frequency -- $prog ([int](1100 * $Seconds)) 2>&1 | Out-Null
        if ($LASTEXITCODE) { throw "perf record failed ($LASTEXITCODE)" }
    }
    function Get-CpuSeconds {
        $f = (Get-Content /proc/self/stat -Raw).Split(')')[-1].Trim().Split(' ')
        ([double]$f[11] + [double]$f[12] + [double]$f[13] + [double]$f[14]) / 100
    }
    $rows = [System.Collections.Generic.List[object]]::new()
    function Measure-Run([string] $Name, [scriptblock] $Block) {
        $cpu = Get-CpuSeconds
        $wall = (Measure-Command $Block).TotalSeconds
        $row = [pscustomobject]@{ Tool = $Name; Seconds = [math]::Round($wall, 3); CpuSeconds = [math]::Round((Get-CpuSeconds) - $cpu, 3) }
        $rows.Add($row)
        $row
    }
    # perf's output goes straight to /dev/null through sh (pwsh would read every line back through its pipeline).
    function Invoke-Quiet([string[]] $Command) { & /bin/sh -c 'exec "$@" > /dev/null 2>&1' sh @Command }
    $script:unwound = 0; $script:frames = 0; $script:decoded = 0
    $decode = {
        $file = [KernelDebug.Perf.PerfDataFile]::Open($data)
        try {
            $decoder = [KernelDebug.Perf.PerfDataDecoder]::new($file, $null)
            $script:decoded = [System.Linq.Enumerable]::Count([System.Collections.Generic.IEnumerable[KernelDebug.PerfSample]]($decoder.Samples([System.Threading.CancellationToken]::None)))
            $script:unwound = $decoder.UnwoundSamples; $script:frames = $decoder.UnwoundFrames
        }
        finally { $file.Dispose() }
    }
    $script = Measure-Run 'perf script -F ip,sym > /dev/null' { Invoke-Quiet perf, script, -F, 'ip,sym', -i, $data }
    $scriptNoInline = Measure-Run 'perf script -F ip,sym --no-inline > /dev/null' { Invoke-Quiet perf, script, -F, 'ip,sym', --no-inline, -i, $data }
    $decoderCold = Measure-Run 'decoder (engine), first in session' $decode
    $decoder = Measure-Run 'decoder (engine), again' $decode
    $cmdlet = Measure-Run 'Get-PerfSample | Measure-Object' { $script:counted = (Get-PerfSample $data | Measure-Object).Count }
    $rows | Format-Table -AutoSize | Out-String | Write-Host
    "{0} samples ({1} unwound, {2} user frames, {3:F1} frames a sample) in {4:N1} MB" -f $decoded, $unwound, $frames, ($frames / [math]::Max(1, $unwound)), ((Get-Item $data).Length / 1MB)
    "decoder (again): {0:N0} samples/s, {1:N0} unwound frames/s (CPU)" -f ($decoded / [math]::Max($decoder.CpuSeconds, 0.001)), ($frames / [math]::Max($decoder.CpuSeconds, 0.001))
    $ratio = { param($name, $anchor, $ours) "{0}: {1:F2}x wall, {2:F2}x CPU (above 1: ours is faster)" -f $name, ($anchor.Seconds / $ours.Seconds), ($anchor.CpuSeconds / [math]::Max($ours.CpuSeconds, 0.001)) }
    & $ratio 'decoder (again) vs perf script --no-inline' $scriptNoInline $decoder
    & $ratio 'decoder (first) vs perf script --no-inline' $scriptNoInline $decoderCold
    & $ratio 'Get-PerfSample | Measure-Object vs perf script --no-inline' $scriptNoInline $cmdlet
    & $ratio 'Get-PerfSample | Measure-Object vs perf script (inline frames)' $script $cmdlet
    if ($counted -ne $decoded) { Write-Warning "Get-PerfSample gave $counted samples, the decoder $decoded" }
}
finally {
    if (-not $DataPath) { Remove-Item -Recurse -Force $work -ErrorAction Ignore }
}
