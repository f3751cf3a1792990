# What is missing here and how to get it.
Get-KernelDebugCapability | Where-Object -Not Available | Select-Object Name, Remedy | Format-Table -Wrap
