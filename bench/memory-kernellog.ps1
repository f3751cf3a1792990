<#
.SYNOPSIS
    Get-KernelLog against its anchor, dmesg --json: the whole kernel log as objects, side by side, N rounds each.
    Prints the median times and the ratios (below 1: we are faster).
#>
param([Parameter(Mandatory)] [string] $ModulePath, [int] $Rounds = 15)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
if (-not (Get-Command dmesg -CommandType Application -ErrorAction Ignore)) { Write-Host 'memory-kernellog: dmesg is not installed; skipped.'; return }

function Measure-Median([scriptblock] $Block) {
    $null = & $Block   # warm-up
    $t = foreach ($i in 1..$Rounds) { (Measure-Command { $null = & $Block }).TotalMilliseconds }
    ($t | Sort-Object)[[int][Math]::Floor($Rounds / 2)]
}

$records = @(Get-KernelLog).Count
$ours = Measure-Median { Get-KernelLog }
$dmesgText = Measure-Median { & dmesg --json }
$dmesgObjects = Measure-Median { (& dmesg --json | ConvertFrom-Json).dmesg }
$oursWarn = Measure-Median { Get-KernelLog -Level warn+ }
$dmesgWarn = Measure-Median { (& dmesg --json --level emerg,alert,crit,err,warn | ConvertFrom-Json).dmesg }

Write-Host "memory-kernellog: $records records, median of $Rounds rounds"
'{0,-50} {1,9:F1} ms' -f 'Get-KernelLog', $ours | Write-Host
'{0,-50} {1,9:F1} ms' -f 'dmesg --json (text only)', $dmesgText | Write-Host
'{0,-50} {1,9:F1} ms' -f 'dmesg --json | ConvertFrom-Json', $dmesgObjects | Write-Host
'{0,-50} {1,9:F1} ms' -f 'Get-KernelLog -Level warn+', $oursWarn | Write-Host
'{0,-50} {1,9:F1} ms' -f 'dmesg --json --level …warn | ConvertFrom-Json', $dmesgWarn | Write-Host
'ratio Get-KernelLog / (dmesg --json | ConvertFrom-Json): {0:F2}' -f ($ours / $dmesgObjects) | Write-Host
'ratio Get-KernelLog / dmesg --json (text):              {0:F2}' -f ($ours / $dmesgText) | Write-Host
'ratio -Level warn+ / dmesg --level … | ConvertFrom-Json: {0:F2}' -f ($oursWarn / $dmesgWarn) | Write-Host
