# The tracefs leak guard: a snapshot of the whole tracing state, and a comparison of two snapshots.
# Instances (kerneldebug_<pid>_<n>) and probe groups (kerneldebug_<pid>) that belong to another live process are
# left out, so two test runs on one host do not see each other's work; those of this process or of a dead one are in.


function Get-TraceFsRoot {
    $line = Get-Content /proc/self/mountinfo | Where-Object { ($_ -split ' - ')[1] -like 'tracefs *' } | Select-Object -First 1
    if (-not $line) { return $null }
    return ($line -split ' ')[4]
}

function Read-TraceFile([string] $Path) {
    try { return ([System.IO.File]::ReadAllText($Path)).TrimEnd("`n") }
    catch { return "<unreadable: $($_.Exception.InnerException.Message ?? $_.Exception.Message)>" }
}

function Get-TraceDirState([string] $Dir, [string] $Prefix, [System.Collections.Generic.SortedDictionary[string, string]] $State) {
    foreach ($f in 'tracing_on', 'current_tracer', 'trace_clock', 'buffer_size_kb', 'trace_options', 'set_ftrace_filter',
        'set_ftrace_notrace', 'set_ftrace_pid', 'set_ftrace_notrace_pid', 'set_event', 'set_event_pid', 'set_event_notrace_pid',
        'set_graph_function', 'set_graph_notrace', 'tracing_cpumask', 'buffer_percent') {
        $p = Join-Path $Dir $f
        if (Test-Path -LiteralPath $p) { $State["$Prefix$f"] = Read-TraceFile $p }
    }
    $options = Join-Path $Dir 'options'
    if (Test-Path $options) {
        foreach ($o in Get-ChildItem $options -File) { $State["${Prefix}options/$($o.Name)"] = Read-TraceFile $o.FullName }
    }
    $events = Join-Path $Dir 'events'
    if ([System.IO.Directory]::Exists($events)) {
        # Thousands of events: plain .NET calls keep a snapshot well under a second.
        $defaults = @{ enable = '0'; filter = 'none' }
        foreach ($sys in [System.IO.Directory]::GetDirectories($events)) {
            $sysName = [System.IO.Path]::GetFileName($sys)
            # Probe groups of another live session (kerneldebug_<pid>) are that session's business.
            if (Test-OtherSession $sysName) { continue }
            try { $eventDirs = [System.IO.Directory]::GetDirectories($sys) }
            catch [System.IO.DirectoryNotFoundException] { continue }   # removed while we looked
            foreach ($ev in $eventDirs) {
                $base = "${Prefix}events/$sysName/$([System.IO.Path]::GetFileName($ev))/"
                foreach ($f in 'enable', 'filter', 'trigger') {
                    $p = [System.IO.Path]::Combine($ev, $f)
                    if (-not [System.IO.File]::Exists($p)) { continue }
                    $v = Read-TraceFile $p
                    if ($v -like '<unreadable:*' -and -not [System.IO.Directory]::Exists($ev)) { continue }
                    # Only what differs from the kernel's default, to keep the snapshot small.
                    $isDefault = if ($f -eq 'trigger') { $v.StartsWith('# Available triggers:') } else { $v -ceq $defaults[$f] }
                    if (-not $isDefault) { $State["$base$f"] = $v }
                }
            }
        }
    }
}

function Test-OtherSession([string] $Name) {
    # True for kerneldebug_<pid>[_n] names (or a test's kerneldebug_<word>_<pid>) whose pid is another live process.
    if ($Name -notmatch '^kerneldebug_(?:[a-z]+_)*(\d+)(_|$)') { return $false }
    $owner = [int] $Matches[1]
    return $owner -ne $PID -and (Test-Path "/proc/$owner")
}

function Get-TraceStateSnapshot {
    [CmdletBinding()]
    param([string] $TraceFs = (Get-TraceFsRoot))
    $state = [System.Collections.Generic.SortedDictionary[string, string]]::new([StringComparer]::Ordinal)
    if (-not $TraceFs) { $state['<tracefs>'] = 'not mounted'; return $state }
    Get-TraceDirState -Dir $TraceFs -Prefix '' -State $state
    foreach ($f in 'kprobe_events', 'uprobe_events', 'dynamic_events') {
        $p = Join-Path $TraceFs $f
        if (-not (Test-Path $p)) { continue }
        # Probe lines in a group kerneldebug_<pid> of another live process belong to that session.
        $lines = (Read-TraceFile $p) -split "`n" | Where-Object {
            -not ($_ -match '^\w+:(kerneldebug_(?:[a-z]+_)*\d+)/' -and (Test-OtherSession $Matches[1]))
        }
        $state[$f] = $lines -join "`n"
    }
    $instances = @()
    $instDir = Join-Path $TraceFs 'instances'
    if (Test-Path $instDir) {
        foreach ($i in Get-ChildItem $instDir -Directory | Sort-Object Name) {
            if (Test-OtherSession $i.Name) { continue }  # another live session's instance
            $instances += $i.Name
            Get-TraceDirState -Dir $i.FullName -Prefix "instances/$($i.Name)/" -State $state
        }
    }
    $state['instances'] = $instances -join ' '
    return $state
}

function Test-DeadOwner([string] $Name) {
    # True for kerneldebug_<pid>[_n] names whose pid is gone (not this process): what the module's orphan sweep removes.
    if ($Name -notmatch '^kerneldebug_(\d+)(_\d+)?$') { return $false }
    $owner = [int] $Matches[1]
    return $owner -ne $PID -and -not (Test-Path "/proc/$owner")
}

function Remove-SweptOrphan($Before, $After) {
    # Objects of dead sessions that were there before and are gone after were swept (OrphanSweep), not lost.
    $kept = [System.Collections.Generic.SortedDictionary[string, string]]::new([StringComparer]::Ordinal)
    foreach ($k in $Before.Keys) {
        $v = $Before[$k]
        $owned = ($k -split '/') | Where-Object { $_ -like 'kerneldebug_*' } | Select-Object -First 1
        if ($owned -and -not $After.ContainsKey($k) -and (Test-DeadOwner $owned)) { continue }
        if ($k -eq 'instances') {
            $now = @(($After[$k] ?? '') -split ' ')
            $v = (@($v -split ' ') | Where-Object { $_ -in $now -or -not (Test-DeadOwner $_) }) -join ' '
        }
        elseif ($k -in 'kprobe_events', 'uprobe_events', 'dynamic_events') {
            $now = @(($After[$k] ?? '') -split "`n")
            $v = (@($v -split "`n") | Where-Object { $_ -in $now -or -not ($_ -match '^\w+:(kerneldebug_\d+)/' -and (Test-DeadOwner $Matches[1])) }) -join "`n"
        }
        $kept[$k] = $v
    }
    $kept
}

function Compare-TraceStateSnapshot {
    # Returns one line per difference: "key: 'before' -> 'after'"; nothing when the two are the same.
    [CmdletBinding()]
    param($Before, $After)
    $Before = Remove-SweptOrphan $Before $After
    $keys = [System.Collections.Generic.SortedSet[string]]::new([StringComparer]::Ordinal)
    foreach ($k in $Before.Keys) { [void] $keys.Add($k) }
    foreach ($k in $After.Keys) { [void] $keys.Add($k) }
    foreach ($k in $keys) {
        $b = if ($Before.ContainsKey($k)) { $Before[$k] } else { '<absent>' }
        $a = if ($After.ContainsKey($k)) { $After[$k] } else { '<absent>' }
        if ($b -cne $a) { "${k}: '$b' -> '$a'" }
    }
}

Export-ModuleMember -Function Get-TraceStateSnapshot, Compare-TraceStateSnapshot, Get-TraceFsRoot
