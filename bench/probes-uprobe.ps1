#!/usr/bin/env pwsh
# Creating and removing a uprobe on bash's readline (ELF symbol resolution, validation, one write each way):
# New-Uprobe + Remove-Uprobe against perf probe -x (add) + perf probe -d (delete), side by side, as a ratio.
param([Parameter(Mandatory)] [string] $ModulePath, [int] $Iterations = 10)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
if (-not (Get-Command perf -CommandType Application -ErrorAction Ignore)) { Write-Host 'perf is not installed: no anchor, no ratio.'; return }
if (-not (Test-KernelDebugCapability Uprobes)) { Write-Host 'uprobes are not available here.'; return }
$g = "kerneldebug_$PID"

# Warm both up once (JIT, page cache) outside the timing.
New-Uprobe -Name bench -Path /bin/bash -Symbol readline -Group $g | Remove-Uprobe
& perf probe -q -x /bin/bash -a "kdbench$PID=readline" 2>$null; & perf probe -q -d "probe_bash:kdbench$PID" 2>$null

$ours = [Diagnostics.Stopwatch]::StartNew()
for ($n = 0; $n -lt $Iterations; $n++) {
    New-Uprobe -Name bench -Path /bin/bash -Symbol readline -Group $g -Argument 'prompt=+0(%di):string' | Remove-Uprobe
}
$ours.Stop()

$perf = [Diagnostics.Stopwatch]::StartNew()
for ($n = 0; $n -lt $Iterations; $n++) {
    & perf probe -q -x /bin/bash -a "kdbench$PID=readline prompt=+0(%di):string" 2>$null
    if ($LASTEXITCODE -ne 0) { throw 'perf probe -a failed' }
    & perf probe -q -d "probe_bash:kdbench$PID" 2>$null
}
$perf.Stop()

$o = $ours.Elapsed.TotalMilliseconds / $Iterations
$p = $perf.Elapsed.TotalMilliseconds / $Iterations
'create+remove a uprobe on /bin/bash readline, {0} times:' -f $Iterations
'  New-Uprobe | Remove-Uprobe : {0,8:N1} ms each' -f $o
'  perf probe -x -a / -d       : {0,8:N1} ms each' -f $p
'  ratio perf / ours           : {0,8:N2}x' -f ($p / $o)
