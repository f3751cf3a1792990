# eBPF through bpf() alone, bpftrace output as objects, SystemTap parse errors with their place.
Get-BpfBtf -Name vmlinux | Format-Table | Out-String
$out = Invoke-Bpftrace -Expression 'tracepoint:raw_syscalls:sys_enter { @syscalls[comm] = count(); @ns = hist(nsecs % 100000); }' -Duration 00:00:02
$out | Where-Object { $_ -is [KernelDebug.BpftraceMap] } | ForEach-Object { $_.Entries.GetEnumerator() } | Sort-Object Value -Descending | Select-Object -First 5 | Format-Table @{ n = 'Process'; e = { $_.Key } }, @{ n = 'Syscalls'; e = { $_.Value } } | Out-String
$out | Where-Object { $_ -is [KernelDebug.BpftraceHistogram] } | Out-String
Invoke-SystemTap -Stage 1 -Script 'probe begin { printf("hello\n") exit( }' -ErrorAction SilentlyContinue -ErrorVariable stapErrors | Out-Null
$stapErrors.TargetObject | Format-Table Kind, Message, File, Line, Column | Out-String
