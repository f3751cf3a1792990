# The torture harness: what a session leaves behind (tracefs instances and probes, processes, temp files, open output
# files), a pwsh child run with the module that is sent a signal at a chosen phase, and the torture.jsonl result log.
# Other sessions' kerneldebug_* objects come and go beside a test: leftovers are keyed on the pids and the tag recorded
# for this case, never on "anything new".
# Outcomes (torture.jsonl, the Test task's "Torture:" line): clean = ended with its result or a clean error and left
# nothing; leaked = left an instance, probe, process, temp file or open output file (after SIGKILL: still there after
# the next session's orphan sweep); lost = output missing or unreadable; hung = did not end within its limit;
# crashed = ended any other way (a raw .NET exception, NotSpecified, a wrong diagnosis, a runtime abort).

$script:RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '..')).Path

function Get-TortureTraceFs {
    $line = Get-Content /proc/self/mountinfo | Where-Object { ($_ -split ' - ')[1] -like 'tracefs *' } | Select-Object -First 1
    if ($line) { ($line -split ' ')[4] }
}

function Get-TortureResultPath {
    if ($env:KERNELDEBUG_TORTURE_RESULTS) { return $env:KERNELDEBUG_TORTURE_RESULTS }
    Join-Path $script:RepoRoot 'output/TestResults/torture.jsonl'
}

function Get-TaggedProcess([string] $Tag) {
    # Processes whose environment carries KERNELDEBUG_TORTURE_TAG=<tag>: the child pwsh and whatever it launched, even
    # after they were reparented to init. Returns pid, state (R, S, T, t, Z) and comm.
    if (-not $Tag) { return }
    $needle = [Text.Encoding]::UTF8.GetBytes("KERNELDEBUG_TORTURE_TAG=$Tag`0")
    foreach ($d in [IO.Directory]::GetDirectories('/proc')) {
        $name = [IO.Path]::GetFileName($d)
        if ($name -notmatch '^\d+$' -or [int] $name -eq $PID) { continue }
        try { $env = [IO.File]::ReadAllBytes("$d/environ") } catch { continue }
        if ([Text.Encoding]::UTF8.GetString($env).Contains([Text.Encoding]::UTF8.GetString($needle))) {
            try { $stat = [IO.File]::ReadAllText("$d/stat") } catch { continue }
            $close = $stat.LastIndexOf(')')
            $comm = $stat.Substring($stat.IndexOf('(') + 1, $close - $stat.IndexOf('(') - 1)
            $state = $stat.Substring($close + 2, 1)
            if ($state -eq 'Z') { continue }   # a zombie holds nothing but a pid until its parent reaps it
            [pscustomobject]@{ ProcessId = [int] $name; State = $state; Command = $comm }
        }
    }
}

function Get-OpenFileHolder([string[]] $Path) {
    # Processes (other than this one) with one of the files open, as "pid:comm:path".
    if (-not $Path) { return }
    $full = @($Path | ForEach-Object { [IO.Path]::GetFullPath($_) })
    foreach ($d in [IO.Directory]::GetDirectories('/proc')) {
        $name = [IO.Path]::GetFileName($d)
        if ($name -notmatch '^\d+$' -or [int] $name -eq $PID) { continue }
        try { $fds = [IO.Directory]::GetFiles("$d/fd") } catch { continue }
        foreach ($fd in $fds) {
            try { $target = (Get-Item -LiteralPath $fd -ErrorAction Stop).LinkTarget } catch { continue }
            foreach ($f in $full) {
                if ($target -eq $f -or $target -like "$f.kerneldebug-tmp*" -or $target -eq "$f (deleted)") {
                    "${name}:$(try { ([IO.File]::ReadAllText("$d/comm")).Trim() } catch { '?' }):$target"
                }
            }
        }
    }
}

function Get-KernelDebugStateSnapshot {
    <#
    .SYNOPSIS
        What the kerneldebug machinery has now: tracefs instances and dynamic events named kerneldebug*, the module's
        temp files, the processes of a tag or below a pid, and the output files (size, who has them open).
    #>
    [CmdletBinding()]
    param(
        [int[]] $ProcessId,
        [string] $Tag,
        [string[]] $OutputPath
    )
    $tfs = Get-TortureTraceFs
    $instances = @()
    $events = @()
    if ($tfs) {
        $instDir = Join-Path $tfs 'instances'
        if ([IO.Directory]::Exists($instDir)) {
            $instances = @([IO.Directory]::GetDirectories($instDir) | ForEach-Object { [IO.Path]::GetFileName($_) } | Where-Object { $_ -like 'kerneldebug*' })
        }
        $files = if ([IO.File]::Exists("$tfs/dynamic_events")) { @('dynamic_events') } else { @('uprobe_events', 'kprobe_events') }
        foreach ($f in $files) {
            try { $text = [IO.File]::ReadAllText("$tfs/$f") } catch { continue }
            $events += @($text -split "`n" | Where-Object { $_ -match '^\w+:kerneldebug' })
        }
    }
    $temp = @()
    foreach ($dir in @([IO.Path]::GetTempPath(), '/dev/shm', '/tmp') | Select-Object -Unique) {
        if (-not [IO.Directory]::Exists($dir)) { continue }
        try { $temp += @([IO.Directory]::GetFileSystemEntries($dir, 'kerneldebug*')) } catch { }
    }
    $outputs = @()
    foreach ($p in $OutputPath) {
        $full = [IO.Path]::GetFullPath($p)
        $dir = [IO.Path]::GetDirectoryName($full)
        $temp += @(if ([IO.Directory]::Exists($dir)) { [IO.Directory]::GetFiles($dir, "$([IO.Path]::GetFileName($full)).kerneldebug-tmp*") })
        $outputs += [pscustomobject]@{
            Path = $full
            Exists = [IO.File]::Exists($full)
            Length = if ([IO.File]::Exists($full)) { ([IO.FileInfo] $full).Length } else { -1 }
        }
    }
    $procs = @(Get-TaggedProcess $Tag)
    foreach ($root in $ProcessId) {
        foreach ($c in Get-ChildProcessId $root) {
            if ($procs.ProcessId -notcontains $c) {
                try { $stat = [IO.File]::ReadAllText("/proc/$c/stat") } catch { continue }
                $close = $stat.LastIndexOf(')')
                $procs += [pscustomobject]@{ ProcessId = $c; State = $stat.Substring($close + 2, 1); Command = $stat.Substring($stat.IndexOf('(') + 1, $close - $stat.IndexOf('(') - 1) }
            }
        }
    }
    [pscustomobject]@{
        PSTypeName = 'KernelDebugTortureSnapshot'
        Taken = [DateTime]::UtcNow
        TraceFs = $tfs
        Instances = $instances
        DynamicEvents = $events
        TempFiles = @($temp | Select-Object -Unique)
        Processes = $procs
        Outputs = $outputs
        OpenOutputs = @(Get-OpenFileHolder $OutputPath)
    }
}

function Get-ChildProcessId([int] $ProcessId) {
    # All descendants of a pid (from /proc/<pid>/task/*/children).
    $queue = [Collections.Generic.Queue[int]]::new(); $queue.Enqueue($ProcessId)
    while ($queue.Count) {
        $p = $queue.Dequeue()
        foreach ($t in @(try { [IO.Directory]::GetDirectories("/proc/$p/task") } catch { })) {
            $text = try { [IO.File]::ReadAllText("$t/children") } catch { '' }
            foreach ($c in $text -split ' ' | Where-Object { $_ -match '^\d+$' }) { [int] $c; $queue.Enqueue([int] $c) }
        }
    }
}

function Test-Owned([string] $Name, [int[]] $OwnerProcessId) {
    # kerneldebug_<pid>[_n] of one of the owners.
    if ($Name -match 'kerneldebug_(\d+)(_|/|$|\s)') { return [int] $Matches[1] -in $OwnerProcessId }
    return $false
}

function Assert-NoKernelDebugLeftovers {
    <#
    .SYNOPSIS
        What this case left: instances and probes of the owner pids (or, without owners, any kerneldebug one created
        after the snapshot), processes of the tag, temp files created since, output files still open or a
        .kerneldebug-tmp left beside them. Returns one "kind: detail" string per leftover; nothing when clean.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] $Before,
        [string[]] $OutputPath,
        [int[]] $OwnerProcessId,
        [string] $Tag
    )
    $after = Get-KernelDebugStateSnapshot -Tag $Tag -OutputPath $OutputPath
    $mine = { param($n) if ($OwnerProcessId) { Test-Owned $n $OwnerProcessId } else { $true } }
    foreach ($i in $after.Instances) {
        if ($i -notin $Before.Instances -and (& $mine $i)) { "instance: $i" }
    }
    foreach ($e in $after.DynamicEvents) {
        # The persistent group "kerneldebug" has no pid: new ones are counted only without owners.
        if ($e -notin $Before.DynamicEvents -and (& $mine $e)) { "probe: $e" }
    }
    foreach ($f in $after.TempFiles) {
        if ($f -in $Before.TempFiles) { continue }
        $leaf = [IO.Path]::GetFileName($f)
        $ownedByPid = $OwnerProcessId | Where-Object { $leaf -match "(^|\D)$_(\D|$)" }
        if (-not $OwnerProcessId -or $ownedByPid -or $leaf -like '*.kerneldebug-tmp*') { "tempfile: $f" }
    }
    foreach ($p in $after.Processes) { "process: $($p.ProcessId) $($p.Command) state $($p.State)" }
    foreach ($o in $after.OpenOutputs) { "openfile: $o" }
}

function Add-TortureResult {
    <# .SYNOPSIS Appends one case's outcome to output/TestResults/torture.jsonl. #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [string] $Suite,
        [Parameter(Mandatory)] [string] $Case,
        [Parameter(Mandatory)] [ValidateSet('clean', 'leaked', 'lost', 'hung', 'crashed')] [string] $Outcome,
        [string] $Detail = ''
    )
    $path = Get-TortureResultPath
    New-Item -ItemType Directory -Path (Split-Path $path) -Force | Out-Null
    $line = [ordered]@{ time = [DateTime]::UtcNow.ToString('o'); suite = $Suite; case = $Case; outcome = $Outcome; detail = $Detail } |
        ConvertTo-Json -Compress
    [IO.File]::AppendAllText($path, $line + "`n")
}

function Get-TortureSummary {
    <# .SYNOPSIS The figures of torture.jsonl: tried, clean, leaked, lost, hung, crashed (and the line to print). #>
    param([string] $Path = (Get-TortureResultPath))
    $counts = [ordered]@{ tried = 0; clean = 0; leaked = 0; lost = 0; hung = 0; crashed = 0 }
    if (Test-Path $Path) {
        foreach ($l in Get-Content $Path) {
            if (-not $l.Trim()) { continue }
            $r = $l | ConvertFrom-Json
            $counts.tried++
            if ($counts.Contains($r.outcome)) { $counts[$r.outcome]++ }
        }
    }
    [pscustomobject]@{
        Tried = $counts.tried; Clean = $counts.clean; Leaked = $counts.leaked; Lost = $counts.lost; Hung = $counts.hung; Crashed = $counts.crashed
        Line = "Torture: tried $($counts.tried), clean $($counts.clean), leaked $($counts.leaked), lost $($counts.lost), hung $($counts.hung), crashed $($counts.crashed)"
    }
}

function Get-PwshCommandLine {
    $self = [Environment]::ProcessPath
    if ((Split-Path $self -Leaf) -eq 'dotnet') { return @($self, (Join-Path $PSHOME 'pwsh.dll')) }
    return @($self)
}

function Set-TorturePhase {
    <# .SYNOPSIS In the child: tells the harness a phase was reached (appends it to $env:KERNELDEBUG_TORTURE_PHASEFILE). #>
    param([Parameter(Mandatory)] [string] $Phase)
    if ($env:KERNELDEBUG_TORTURE_PHASEFILE) { [IO.File]::AppendAllText($env:KERNELDEBUG_TORTURE_PHASEFILE, "$Phase`n") }
}

function Invoke-TortureChild {
    <#
    .SYNOPSIS
        Runs a script in a child pwsh with the module imported and sends it a signal when it reaches a phase.
    .DESCRIPTION
        The script marks its phases with Set-TorturePhase <name> (this module is imported in the child too). The harness
        waits for -Phase (at most -PhaseTimeout), waits -Delay more, sends -Signal, and waits -ExitTimeout for the
        child to exit. Hung = the child did not exit (it is then SIGKILLed, with everything of its tag). Without
        -Signal the child runs to its end. The child and whatever it launched carry KERNELDEBUG_TORTURE_TAG=<Tag>.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [string] $Script,
        [ValidateSet('INT', 'TERM', 'HUP', 'KILL', 'QUIT', 'USR1')] [string] $Signal,
        [string] $Phase = 'setup',
        [TimeSpan] $Delay = [TimeSpan]::Zero,
        [TimeSpan] $PhaseTimeout = [TimeSpan]::FromSeconds(30),
        [TimeSpan] $ExitTimeout = [TimeSpan]::FromSeconds(20),
        [string] $ModulePath = $env:KERNELDEBUG_MODULE_PATH
    )
    $tag = [guid]::NewGuid().ToString('n').Substring(0, 12)
    $work = Join-Path ([IO.Path]::GetTempPath()) "kd-torture-$PID-$tag"
    New-Item -ItemType Directory -Path $work -Force | Out-Null
    $phaseFile = Join-Path $work 'phases'
    $scriptFile = Join-Path $work 'case.ps1'
    Set-Content -Path $scriptFile -Value @"
`$ErrorActionPreference = 'Stop'
Import-Module '$($ModulePath -replace "'", "''")'
Import-Module '$((Join-Path $PSScriptRoot 'Torture.psm1') -replace "'", "''")'
Set-TorturePhase started
$Script
Set-TorturePhase done
"@
    # A runner started in the background (nohup, a non-interactive shell's &) ignores SIGHUP or SIGINT, and the child
    # would inherit that (the runtime keeps an inherited SIG_IGN): env resets them, so the signal is the one under test.
    $cmd = @('env', '--default-signal=HUP,INT,QUIT,TERM') + @(Get-PwshCommandLine)
    $psi = [Diagnostics.ProcessStartInfo]::new($cmd[0])
    foreach ($a in @($cmd | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $scriptFile)) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.RedirectStandardInput = $true
    $psi.WorkingDirectory = $work
    $psi.Environment['KERNELDEBUG_TORTURE_TAG'] = $tag
    $psi.Environment['KERNELDEBUG_TORTURE_PHASEFILE'] = $phaseFile
    $psi.Environment['KERNELDEBUG_MODULE_PATH'] = $ModulePath
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $p = [Diagnostics.Process]::Start($psi)
    $out = $p.StandardOutput.ReadToEndAsync()
    $err = $p.StandardError.ReadToEndAsync()
    $reached = $false
    $signalled = $false
    if ($Signal) {
        $deadline = [DateTime]::UtcNow + $PhaseTimeout
        while ([DateTime]::UtcNow -lt $deadline -and -not $p.HasExited) {
            if ((Test-Path $phaseFile) -and ((Get-Content $phaseFile) -contains $Phase)) { $reached = $true; break }
            Start-Sleep -Milliseconds 20
        }
        if ($reached -and $Delay -gt [TimeSpan]::Zero) { Start-Sleep -Milliseconds $Delay.TotalMilliseconds }
        if (-not $p.HasExited) {
            & kill -s $Signal $p.Id
            $signalled = $true
        }
    }
    $exited = $p.WaitForExit([int] $ExitTimeout.TotalMilliseconds + $(if ($Signal) { 0 } else { [int] $PhaseTimeout.TotalMilliseconds }))
    if (-not $exited) {
        # Hung: end it and everything it launched, so the next case starts clean.
        foreach ($q in @(Get-TaggedProcess $tag)) { & kill -s KILL $q.ProcessId 2>$null }
        $null = $p.WaitForExit(5000)
    }
    else { $p.WaitForExit() }
    $phases = if (Test-Path $phaseFile) { @(Get-Content $phaseFile) } else { @() }
    [pscustomobject]@{
        PSTypeName = 'KernelDebugTortureRun'
        ProcessId = $p.Id
        Tag = $tag
        WorkDirectory = $work
        Signal = $Signal
        Phase = $Phase
        PhaseReached = $reached
        Signalled = $signalled
        Phases = $phases
        Exited = $exited
        ExitCode = if ($p.HasExited) { $p.ExitCode } else { $null }
        StandardOutput = if ($out.Wait(2000)) { $out.Result } else { '' }
        StandardError = if ($err.Wait(2000)) { $err.Result } else { '' }
        Elapsed = $sw.Elapsed
    }
}

function New-TortureRunspace {
    <# .SYNOPSIS A runspace with the module imported, for in-process cases run with a time limit (Invoke-TortureTimed). #>
    param([string] $ModulePath = $env:KERNELDEBUG_MODULE_PATH)
    $iss = [Management.Automation.Runspaces.InitialSessionState]::CreateDefault()
    $iss.ImportPSModule($ModulePath)
    $rs = [Management.Automation.Runspaces.RunspaceFactory]::CreateRunspace($iss)
    $rs.Open()
    $rs
}

function Invoke-TortureTimed {
    <#
    .SYNOPSIS
        Runs a script in a torture runspace with a time limit. Returns Output, Errors (ErrorRecords, terminating ones
        included), TimedOut and Elapsed. A case that times out is stopped; if it will not stop, its runspace is
        abandoned and Runspace holds a fresh one (pass it on to the next case).
    #>
    param(
        [Parameter(Mandatory)] $Runspace,
        [Parameter(Mandatory)] [string] $Script,
        [hashtable] $Parameters = @{},
        [TimeSpan] $Timeout = [TimeSpan]::FromSeconds(10)
    )
    $ps = [powershell]::Create()
    $ps.Runspace = $Runspace
    $null = $ps.AddScript($Script)
    foreach ($k in $Parameters.Keys) { $null = $ps.AddParameter($k, $Parameters[$k]) }
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $async = $ps.BeginInvoke()
    $timedOut = -not $async.AsyncWaitHandle.WaitOne($Timeout)
    $errors = [Collections.Generic.List[object]]::new()
    $output = @()
    if ($timedOut) {
        $stop = $ps.BeginStop($null, $null)
        if (-not $stop.AsyncWaitHandle.WaitOne(5000)) {
            # Stuck in a native call that Stop cannot interrupt: leave that runspace to its thread.
            $Runspace = New-TortureRunspace
        }
    }
    else {
        try { $output = @($ps.EndInvoke($async)) }
        catch { $errors.Add(($_.Exception.InnerException.ErrorRecord ?? $_.Exception.InnerException ?? $_)) }
    }
    foreach ($e in $ps.Streams.Error) { $errors.Add($e) }
    $ps.Dispose()
    [pscustomobject]@{ Output = $output; Errors = $errors.ToArray(); TimedOut = $timedOut; Elapsed = $sw.Elapsed; Runspace = $Runspace }
}

function Get-TortureErrorVerdict {
    <#
    .SYNOPSIS
        'crashed' when an error is not a clean one: a programming-error exception type escaped (IndexOutOfRange,
        Overflow, EndOfStream, NullReference, ...), the error id is only an exception type's name (the catch-all of
        CmdletErrors), or the category is NotSpecified. The module's KernelDebugException and its curated ErrorRecords
        (stable ids such as LogFileIsDirectory or PathNotFound) are clean. Returns the verdict and the offending error.
    #>
    param([object[]] $Errors)
    $raw = 'NullReferenceException', 'IndexOutOfRangeException', 'ArgumentOutOfRangeException', 'OverflowException', 'EndOfStreamException',
        'InvalidCastException', 'KeyNotFoundException', 'DivideByZeroException', 'FormatException', 'InvalidOperationException',
        'AccessViolationException', 'OutOfMemoryException', 'NotSupportedException', 'NotImplementedException', 'ArithmeticException',
        'ArrayTypeMismatchException', 'InsufficientExecutionStackException', 'DecoderFallbackException', 'AggregateException'
    foreach ($e in $Errors) {
        $ex = if ($e -is [Management.Automation.ErrorRecord]) { $e.Exception } else { $e }
        $cat = if ($e -is [Management.Automation.ErrorRecord]) { "$($e.CategoryInfo.Category)" } else { 'NotSpecified' }
        $id = if ($e -is [Management.Automation.ErrorRecord]) { ($e.FullyQualifiedErrorId -split ',')[0] } else { '' }
        # A .NET method called from script: what it threw is inside (a KernelDebugException carries its own category).
        while (($ex -is [Management.Automation.MethodInvocationException] -or $ex -is [Management.Automation.RuntimeException] -and
                $ex.GetType() -eq [Management.Automation.RuntimeException]) -and $ex.InnerException) {
            $ex = $ex.InnerException
            if ($ex.PSObject.Properties['Category']) { $cat = "$($ex.Category)"; $id = $ex.ErrorId }
        }
        $name = $ex.GetType().Name
        if ($ex.GetType().FullName -like 'KernelDebug.*' -and $cat -ne 'NotSpecified') { continue }
        if ($name -in $raw -or $id -eq $name -or $cat -eq 'NotSpecified') {
            return [pscustomobject]@{ Verdict = 'crashed'; Detail = "$($ex.GetType().FullName) (id $id, $cat): $($ex.Message.Split("`n")[0])" }
        }
    }
    [pscustomobject]@{ Verdict = 'clean'; Detail = '' }
}

function New-MutatedBytes {
    <# .SYNOPSIS One mutation of a byte array, drawn from a seeded System.Random: bit flips, boundary values, truncation, insertion, a duplicated chunk. #>
    param([Parameter(Mandatory)] [byte[]] $Bytes, [Parameter(Mandatory)] [Random] $Random)
    $b = [Collections.Generic.List[byte]]::new($Bytes)
    $ops = 1 + $Random.Next(4)
    for ($i = 0; $i -lt $ops -and $b.Count -gt 0; $i++) {
        switch ($Random.Next(6)) {
            0 { $at = $Random.Next($b.Count); $b[$at] = [byte]($b[$at] -bxor (1 -shl $Random.Next(8))) }
            1 { $at = $Random.Next($b.Count); $v = @(0, 0xff, 0x7f, 0x80, 0x01)[$Random.Next(5)]; for ($k = 0; $k -lt 8 -and $at + $k -lt $b.Count; $k++) { $b[$at + $k] = [byte] $v } }
            2 { $at = 1 + $Random.Next($b.Count); if ($at -lt $b.Count) { $b.RemoveRange($at, $b.Count - $at) } }
            3 { $at = $Random.Next($b.Count); $n = 1 + $Random.Next(16); $ins = [byte[]]::new($n); $Random.NextBytes($ins); $b.InsertRange($at, $ins) }
            4 { $at = $Random.Next($b.Count); $len = [Math]::Min(1 + $Random.Next(64), $b.Count - $at); $b.InsertRange($Random.Next($b.Count), $b.GetRange($at, $len)) }
            5 { $at = $Random.Next([Math]::Min($b.Count, 128)); $ins = [byte[]]::new(8); $Random.NextBytes($ins); for ($k = 0; $k -lt 8 -and $at + $k -lt $b.Count; $k++) { $b[$at + $k] = $ins[$k] } }
        }
    }
    $b.ToArray()
}

function Remove-TortureWork($Run) {
    if ($Run -and $Run.WorkDirectory) { Remove-Item $Run.WorkDirectory -Recurse -Force -ErrorAction Ignore }
}

Export-ModuleMember -Function Get-KernelDebugStateSnapshot, Assert-NoKernelDebugLeftovers, Add-TortureResult, Get-TortureSummary,
    Invoke-TortureChild, Set-TorturePhase, Get-TaggedProcess, Remove-TortureWork, Get-TortureResultPath,
    New-TortureRunspace, Invoke-TortureTimed, Get-TortureErrorVerdict, New-MutatedBytes
