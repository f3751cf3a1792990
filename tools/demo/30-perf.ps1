# perf stat of a command, from its exec and with its children, straight from perf_event_open.
Measure-PerfCounter -Command /bin/sh -ArgumentList '-c', 'ls /usr/bin | wc -l' -Event task-clock, page-faults, context-switches, 'syscalls:sys_enter_openat', cycles
# What this host can count.
Get-PerfEvent -Type Hardware, Software | Format-Table Name, Supported, Reason
