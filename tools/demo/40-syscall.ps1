# Syscall tracing (issue 6): strace as objects.
# The failed file calls of cat, each with its errno name (only %file syscalls stop it: seccomp-bpf).
Get-SyscallTrace -Command /bin/cat -ArgumentList /etc/hostname, /nonexistent -Syscall %file -FailedOnly 2>$null | Select-Object -Last 3 | Format-Table -Wrap
# strace -c as objects.
Measure-Syscall -Command /bin/ls -ArgumentList /etc | Select-Object -First 6 | Format-Table
