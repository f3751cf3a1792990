# ftrace: a private instance, an event with a kernel filter, records decoded from the binary ring buffer.
$i = New-FtraceInstance -Clock mono
try {
    Enable-TraceEvent sched:sched_switch -Filter 'prev_state == 1' -Instance $i      # switches away from sleeping tasks
    Enable-TraceEvent syscalls:sys_enter_openat -Instance $i
    Get-Content /etc/hostname | Out-Null
    Start-Sleep -Milliseconds 200
    Receive-TraceEvent $i -Duration 00:00:00.5 | Select-Object -First 6
    # A bad filter: the kernel's message and caret, and nothing enabled.
    try { Enable-TraceEvent sched:sched_wakeup -Filter 'pid == abc' -Instance $i -ErrorAction Stop } catch { "refused: $($_.Exception.Message)" }
}
finally { Remove-FtraceInstance $i -Confirm:$false }
# The one-liner: a command's own events, in an instance made and removed for the call.
Invoke-Ftrace -Command ls -ArgumentList /etc/hostname -Event syscalls:sys_enter_openat, sched:sched_process_exec | Group-Object Name -NoElement | Format-Table Count, Name
