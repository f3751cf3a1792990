<#
.SYNOPSIS
    The main job: the host report. The capability table, then a short live demonstration of each part of
    the module that works on this host (each part shows itself only when its cmdlets and capabilities are there).
#>
param([Parameter(Mandatory)] [string] $ModulePath)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force

$width = [Math]::Max(120, $Host.UI.RawUI.BufferSize.Width)
Write-Host "KernelDebug host report: $(hostname), kernel $((Get-Content /proc/sys/kernel/osrelease).Trim()), $([System.Runtime.InteropServices.RuntimeInformation]::ProcessArchitecture)" -ForegroundColor Cyan
$caps = Get-KernelDebugCapability
$caps | Format-Table | Out-String -Width $width | Write-Host
$ok = @($caps | Where-Object Available).Count
Write-Host "$ok of $($caps.Count) capabilities available." -ForegroundColor Cyan

# Live demonstrations: one script per area under tools/demo, run when its cmdlets are exported.
foreach ($demo in Get-ChildItem (Join-Path $PSScriptRoot 'demo') -Filter '*.ps1' -ErrorAction Ignore | Sort-Object Name) {
    Write-Host "`n== $($demo.BaseName)" -ForegroundColor Cyan
    try { & $demo.FullName | Out-String -Width $width | Write-Host }
    catch { Write-Host "  (not shown: $($_.Exception.Message))" -ForegroundColor Yellow }
}
