# Syscall tracing (issue 6): strace as objects.
# The failed file calls of cat on a missing path, with the errno name (only %file syscalls stop it: seccomp-bpf).
Get-SyscallTrace -Command /bin/cat -ArgumentList /etc/hostname, /nonexistent -Syscall %file -FailedOnly -Path '/nonexist*' 2>$null | Format-Table -Wrap
# strace -c as objects.
Measure-Syscall -Command /usr/bin/du -ArgumentList '-s', /etc | Select-Object -First 6 | Format-Table
# ltrace as objects, through uprobes in libc: the environment lookups of env, with their strings and values.
Get-LibraryCallTrace -Command /usr/bin/env -ArgumentList true -Function getenv, setenv | Select-Object -First 4 | Format-Table -Wrap
# ltrace -c as objects.
Measure-LibraryCall -Command /usr/bin/sort -ArgumentList /etc/hostname -Function malloc, free, 'str*' | Select-Object -First 6 | Format-Table
