# perf stat of a command, from its exec and with its children, straight from perf_event_open.
Measure-PerfCounter -Command /bin/sh -ArgumentList '-c', 'ls /usr/bin | wc -l' -Event task-clock, page-faults, context-switches, 'syscalls:sys_enter_openat', cycles | Format-Table
# What this host can count.
Get-PerfEvent -Type Hardware, Software | Format-Table Name, Supported, Reason
# perf record + perf report of a short command, read back without the perf binary.
$data = Join-Path ([IO.Path]::GetTempPath()) "kerneldebug-demo-$PID.data"
$rec = Start-PerfRecord -Command /bin/sh -ArgumentList '-c', 'for i in 1 2 3; do ls -R /usr/share >/dev/null; done' -CallGraph FramePointer -Path $data -Wait
$rec | Format-Table
Get-PerfReport -Recording $rec -Top 5 | Format-Table
Remove-Item $data
