#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Get-BpfProgram / Get-BpfMap against bpftool -j prog show / map show, side by side in one run; prints the ratios.
    Holds a bpftrace process while measuring so that there are programs and maps to list.
#>
param([Parameter(Mandatory)] [string] $ModulePath, [int] $Iterations = 20)
Import-Module $ModulePath -Force
$bpftool = (Get-Command bpftool -CommandType Application -ErrorAction Stop | Select-Object -First 1).Source
$bt = $null
if (Get-Command bpftrace -CommandType Application -ErrorAction Ignore) {
    $psi = [System.Diagnostics.ProcessStartInfo]::new((Get-Command bpftrace -CommandType Application | Select-Object -First 1).Source)
    foreach ($a in '-e', 'tracepoint:syscalls:sys_enter_getppid { @[tid] = count(); } interval:s:60 { exit(); }') { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true
    $bt = [System.Diagnostics.Process]::Start($psi)
    Start-Sleep -Seconds 3
}
function Measure-Ms([scriptblock] $Block) {
    & $Block | Out-Null   # warm-up
    $sw = [System.Diagnostics.Stopwatch]::StartNew()
    for ($i = 0; $i -lt $Iterations; $i++) { & $Block | Out-Null }
    $sw.Elapsed.TotalMilliseconds / $Iterations
}
try {
    1..50 | ForEach-Object { $null = & sh -c 'echo $PPID' }   # fill bpftrace's map
    $mapId = (Get-BpfMap | Where-Object Type -like '*hash' | Select-Object -First 1).Id
    $rows = foreach ($pair in @(
            @('prog show', { Get-BpfProgram }, { & $bpftool -j prog show | ConvertFrom-Json }),
            @('map show', { Get-BpfMap }, { & $bpftool -j map show | ConvertFrom-Json }),
            @('link show', { Get-BpfLink }, { & $bpftool -j link show | ConvertFrom-Json }),
            @('prog show + holder pids', { Get-BpfProgram | ForEach-Object ProcessIds }, { & $bpftool -j prog show | ConvertFrom-Json }),
            @('map dump (bpftrace''s map)', { Read-BpfMap -Id $mapId }, { & $bpftool -j map dump id $mapId | ConvertFrom-Json }))) {
        $ours = Measure-Ms $pair[1]
        $theirs = Measure-Ms $pair[2]
        [pscustomobject]@{ What = $pair[0]; KernelDebugMs = [math]::Round($ours, 2); BpftoolMs = [math]::Round($theirs, 2); Ratio = [math]::Round($ours / $theirs, 2) }
    }
    $rows | Format-Table -AutoSize
    'Ratio < 1: the cmdlet (objects ready in the pipeline) is faster than bpftool plus ConvertFrom-Json.'
} finally {
    if ($bt -and -not $bt.HasExited) { $bt.Kill($true); $bt.WaitForExit() }
}
