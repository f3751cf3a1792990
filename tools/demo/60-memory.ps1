# The kernel log as objects: the last warnings and errors of this boot, and any memory error report in it.
Get-KernelLog -Level warn+ | Select-Object -Last 5 | Format-Table -Wrap
$reports = @(Get-KasanReport)
"KASAN/KFENCE/UBSAN reports since boot: $($reports.Count)"
if ($reports) { $reports | Format-Table }
if (Test-KernelDebugCapability Kmemleak) { "kmemleak suspects: $(@(Get-KmemleakReport).Count)" }
else { "kmemleak: $((Get-KernelDebugCapability -Name Kmemleak).Detail)" }
