# eBPF through bpf() and bpftrace, live on this host.
Get-BpfBtf -Name vmlinux
Get-BpfProgram | Select-Object -First 5
Invoke-Bpftrace -Expression 'tracepoint:raw_syscalls:sys_enter { @[comm] = count(); } interval:ms:500 { @ms = hist(nsecs % 1000000 / 1000); }' -Duration 00:00:02
Invoke-SystemTap -Stage 1 -Script 'probe begin { printf("hello\n") exit( }' -ErrorAction Continue
