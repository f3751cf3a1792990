# Dynamic probes: uprobes on bash's readline and libc's getenv, their hits as typed records, kernel-exact validation.
$g = "kerneldebug_$PID"
$i = New-FtraceInstance
try {
    New-Uprobe -Name readline_ret -Path /bin/bash -Symbol readline -Return -Argument 'line=+0(%ax):string' -Group $g -Instance $i | Out-Null
    New-Uprobe -Name getenv -Path /lib/x86_64-linux-gnu/libc.so.6 -Symbol getenv -Argument 'name=+0(%di):string' -Group $g -Instance $i -Filter 'name == "TZ"' | Out-Null
    Get-Uprobe -Group $g
    "echo hello from readline`nexit`n" | /bin/bash --norc --noprofile -i 2>&1 | Out-Null
    /usr/bin/env TZ=UTC0 /bin/date | Out-Null
    Receive-TraceEvent $i -NoWait | Select-Object Comm, Name, @{ n = 'fetched'; e = { $_.Fields['line'] ?? $_.Fields['name'] } } | Select-Object -First 6 | Format-Table -AutoSize
    # Validated before writing, with the kernel's error kind and caret column:
    try { New-Uprobe -Name bad -Path /bin/bash -Symbol readline -Argument 'x=+0(%ax):u8[65]' -Group $g -ErrorAction Stop } catch { "refused: $($_.Exception.Message)" }
    # Where kprobes are missing, a clear reason and remedy:
    try { New-Kprobe -Name kd_read -Symbol vfs_read -Group $g -ErrorAction Stop } catch { "refused: $($_.Exception.Message) Remedy: $($_.ErrorDetails.RecommendedAction)" }
}
finally {
    Get-Uprobe -Group $g | Remove-Uprobe -Force
    Remove-FtraceInstance $i -Confirm:$false
}
